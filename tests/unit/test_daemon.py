"""Pid files, process liveness, stop's SIGKILL escalation, status codes (no fork here)."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dynamic_dynamodb import daemon
from dynamic_dynamodb.config.run_options import RunOptions

IGNORES_SIGTERM = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()


def ours(processes: list[subprocess.Popen[bytes]], code: str) -> subprocess.Popen[bytes]:
    """A python process whose command line names dynamic-dynamodb, like the real daemon."""
    process = subprocess.Popen([sys.executable, "-c", code, "dynamic-dynamodb"],
                               stdout=subprocess.PIPE)
    processes.append(process)
    assert process.stdout is not None and process.stdout.readline() == b"ready\n"
    return process


def args(tmp_path: Path, mode: str, **extra: Any) -> RunOptions:
    return RunOptions(daemon=mode, pid_file_dir=str(tmp_path), instance="default", **extra)


def test_pid_file_path_is_2_5_1s_and_absolute(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    assert daemon.pid_file_path("/tmp", "default") == "/tmp/dynamic-dynamodb.default.pid"
    monkeypatch.chdir(tmp_path)
    assert daemon.pid_file_path("rel", "x") == str(tmp_path / "rel" / "dynamic-dynamodb.x.pid")
    # Without --pid-file-dir: the runtime directory (systemd's, else /run/... for root).
    monkeypatch.setenv("RUNTIME_DIRECTORY", "/run/dd")
    assert daemon.pid_file_path(None, "x") == "/run/dd/dynamic-dynamodb.x.pid"
    monkeypatch.delenv("RUNTIME_DIRECTORY")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert daemon.pid_file_path(None, "x") == "/run/dynamic-dynamodb/dynamic-dynamodb.x.pid"
    with pytest.raises(ValueError, match="invalid instance name"):
        daemon.pid_file_path("/tmp", "../x")


def test_the_pid_file_is_new_never_through_a_link_and_removed_only_if_ours(
        tmp_path: Path) -> None:
    path = tmp_path / "dynamic-dynamodb.default.pid"
    with daemon.PidFile(str(path)):
        assert path.read_text() == f"{os.getpid()}\n"
        with pytest.raises(FileExistsError), daemon.PidFile(str(path)):
            pass
        assert path.exists()  # the failed second one removed nothing
    assert not path.exists()
    target = tmp_path / "target"
    path.symlink_to(target)  # dangling
    with pytest.raises(FileExistsError), daemon.PidFile(str(path)):
        pass
    assert not target.exists() and path.is_symlink()
    path.unlink()
    with daemon.PidFile(str(path)):
        path.write_text("1\n")  # someone else's now
    assert path.read_text() == "1\n"


def test_a_linked_or_foreign_pid_file_is_refused(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dynamic-dynamodb.default.pid"
    victim = tmp_path / "victim"
    victim.write_text(f"{os.getpid()}\n")
    path.symlink_to(victim)
    assert daemon.inspect(str(path)).state == "unsafe"
    assert daemon.control(args(tmp_path, "status")) == 4
    assert daemon.control(args(tmp_path, "stop")) == 1
    err = capsys.readouterr().err
    assert f"refusing to use the pid file {path}: it is a symbolic link" in err
    assert len(err.splitlines()) == 2  # one line each
    path.unlink()
    path.write_text("1\n")
    os.chown(path, 65534, 65534)
    found = daemon.inspect(str(path))
    assert found.state == "unsafe" and "owned by uid 65534" in found.detail
    path.unlink()
    tmp_path.chmod(0o777)
    try:
        found = daemon.inspect(str(path))
    finally:
        tmp_path.chmod(0o700)
    assert found.state == "unsafe" and "no sticky bit" in found.detail


def test_read_pid(tmp_path: Path) -> None:
    path = tmp_path / "p.pid"
    assert daemon.read_pid(str(path)) is None
    path.write_text("1234\n")
    assert daemon.read_pid(str(path)) == 1234
    for garbage in ("", "abc\n", "-5\n"):
        path.write_text(garbage)
        with pytest.raises(ValueError):
            daemon.read_pid(str(path))
    assert daemon.inspect(str(path)).state == "invalid"


def test_process_state(processes: list[subprocess.Popen[bytes]]) -> None:
    finished = subprocess.Popen(["true"])
    finished.wait()
    assert daemon.process_state(finished.pid) == "gone"

    zombie = subprocess.Popen(["true"])
    processes.append(zombie)
    time.sleep(0.3)  # exited, not reaped yet: a zombie is gone as far as we are concerned
    assert daemon.process_state(zombie.pid) == "gone"

    stranger = subprocess.Popen(["sleep", "60"])
    processes.append(stranger)
    assert daemon.process_state(stranger.pid) == "other"  # a reused pid

    assert daemon.process_state(ours(processes, IGNORES_SIGTERM).pid) == "ours"


def test_stop_process_waits_for_a_clean_exit(processes: list[subprocess.Popen[bytes]]) -> None:
    process = ours(processes, "import time\nprint('ready', flush=True)\ntime.sleep(60)\n")
    assert daemon.stop_process(process.pid, timeout=10) is False
    assert process.wait(timeout=5) == -15


def test_stop_process_escalates_to_sigkill(processes: list[subprocess.Popen[bytes]]) -> None:
    process = ours(processes, IGNORES_SIGTERM)
    assert daemon.stop_process(process.pid, timeout=0.5) is True
    assert process.wait(timeout=5) == -9


def test_stop_reports_the_escalation(tmp_path: Path, processes: list[subprocess.Popen[bytes]],
                                     monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    process = ours(processes, IGNORES_SIGTERM)
    (tmp_path / "dynamic-dynamodb.default.pid").write_text(f"{process.pid}\n")
    monkeypatch.setattr(daemon, "STOP_TIMEOUT", 0.5)
    assert daemon.control(args(tmp_path, "stop")) == 0
    out = capsys.readouterr().out
    assert f"Daemon (pid {process.pid}) did not stop within 0.5 s of SIGTERM; sent SIGKILL" in out
    assert f"Daemon stopped (pid {process.pid})" in out
    assert not (tmp_path / "dynamic-dynamodb.default.pid").exists()


def test_status_codes_follow_lsb(tmp_path: Path, processes: list[subprocess.Popen[bytes]],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    pid_file = tmp_path / "dynamic-dynamodb.default.pid"
    assert daemon.control(args(tmp_path, "status")) == 3
    finished = subprocess.Popen(["true"])
    finished.wait()
    pid_file.write_text(f"{finished.pid}\n")
    assert daemon.control(args(tmp_path, "status")) == 1
    running = ours(processes, IGNORES_SIGTERM)
    pid_file.write_text(f"{running.pid}\n")
    assert daemon.control(args(tmp_path, "status")) == 0
    assert f"is running (pid {running.pid}" in capsys.readouterr().out


def test_run_once_with_any_daemon_mode_is_a_usage_error(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    for mode in ("start", "stop", "restart", "status", "foreground", "fg"):
        assert daemon.control(args(tmp_path, mode, run_once=True)) == 2
    assert "--run-once cannot be combined with --daemon" in capsys.readouterr().err


def test_an_unreadable_pid_file_is_reported_not_removed(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    # A directory where the pid file should be: unreadable as a file, for root too.
    (tmp_path / "dynamic-dynamodb.default.pid").mkdir()
    assert daemon.control(args(tmp_path, "status")) == 4
    assert daemon.control(args(tmp_path, "stop")) == 1
    assert "cannot read pid file" in capsys.readouterr().err
    assert (tmp_path / "dynamic-dynamodb.default.pid").is_dir()


def test_systemd_unit_runs_the_foreground_loop_without_root() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment, method-assign]
    unit.read(Path(__file__).resolve().parents[2] / "contrib" / "dynamic-dynamodb.service")
    service = unit["Service"]
    assert "--daemon foreground" in service["ExecStart"]
    assert service["Restart"] == "on-failure"
    assert service["User"] not in ("root", "0")
    assert service["ExecReload"].endswith("kill -HUP $MAINPID")
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_last_cycle_line_without_a_status_file_says_none_yet(tmp_path: Path) -> None:
    assert daemon.last_cycle(str(tmp_path / "dynamic-dynamodb.default.pid")) == (
        "last cycle: none recorded yet")


def test_last_cycle_line_refuses_a_planted_link(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text('{"time": "x", "result": "ok", "summary": "planted"}')
    os.symlink(target, tmp_path / "dynamic-dynamodb.default.status.json")
    assert daemon.last_cycle(str(tmp_path / "dynamic-dynamodb.default.pid")) == (
        "last cycle: none recorded yet")
