"""``--daemon start|stop|restart|status|foreground``, run as a user would, against moto_server."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
from pathlib import Path

import pytest

from demo.localaws import moto_env
from demo.seed import create_table
from tests.conftest import CLI
from tests.e2e.test_daemon_support import (
    STARTED,
    Daemons,
    alive,
    daemons,
    wait_for,
    write_config,
)

__all__ = ["daemons"]  # the fixture, imported for this module


def test_start_status_second_start_refused_then_stop(daemons: Daemons) -> None:
    started = daemons.daemon("start")
    assert started.returncode == 0, started.stderr
    pid = daemons.pid()
    # Success is reported only once the daemon holds its pid file, so both are true now.
    assert f"Daemon started (pid {pid}" in started.stdout
    assert alive(pid)
    daemons.wait_log("Cycle done")

    status = daemons.daemon("status", log=False)
    assert status.returncode == 0
    assert f"is running (pid {pid}" in status.stdout

    again = daemons.daemon("start")
    assert again.returncode == 1
    assert "already exist. Daemon already running?" in again.stderr
    assert f"pid {pid} is running" in again.stderr
    assert daemons.pid() == pid and alive(pid)

    stopped = daemons.daemon("stop", log=False)
    assert stopped.returncode == 0, stopped.stderr
    assert f"Daemon stopped (pid {pid})" in stopped.stdout
    # stop returns only once the process is gone, not merely its pid file.
    assert not alive(pid)
    assert not daemons.pid_file().exists()
    assert "Daemon stopped" in daemons.log_text()

    status = daemons.daemon("status", log=False)
    assert status.returncode == 3
    assert "is not running" in status.stdout


def test_two_simultaneous_starts_give_one_daemon_and_one_refusal(daemons: Daemons) -> None:
    # Both see no pid file; only the daemon that takes it reports success (python-daemon's
    # own parent would have said "started" for both).
    command = [CLI, "-c", str(daemons.config), "--daemon", "start", "--pid-file-dir",
               str(daemons.pid_dir), "--log-file", str(daemons.log)]
    racers = [subprocess.Popen(command, env=moto_env(daemons.endpoint), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(racer.wait(timeout=60), *racer.communicate()) for racer in racers]
    for _, out, _ in results:
        daemons.pids.update(int(pid) for pid in STARTED.findall(out))
    assert sorted(code for code, _, _ in results) == [0, 1]
    winner = next(out for code, out, _ in results if code == 0)
    loser = next(err for code, _, err in results if code == 1)
    assert f"Daemon started (pid {daemons.pid()}" in winner
    assert "already" in loser
    assert daemons.daemon("stop", log=False).returncode == 0


def test_starts_of_one_instance_are_serialised(daemons: Daemons) -> None:
    # Two starts that both found a stale pid file could otherwise both remove it and both
    # start a daemon. While another start holds the lock, a start does nothing at all.
    dead = subprocess.Popen(["true"])
    dead.wait()
    daemons.pid_dir.mkdir()
    daemons.pid_file().write_text(f"{dead.pid}\n")
    guard = os.open(f"{daemons.pid_file()}.starting", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(guard, fcntl.LOCK_EX)
    command = [CLI, "-c", str(daemons.config), "--daemon", "start", "--pid-file-dir",
               str(daemons.pid_dir), "--log-file", str(daemons.log)]
    waiting = subprocess.Popen(command, env=moto_env(daemons.endpoint), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            waiting.wait(timeout=2)
        assert daemons.pid_file().read_text() == f"{dead.pid}\n"  # untouched while waiting
    finally:
        os.close(guard)
    code = waiting.wait(timeout=60)
    out, err = waiting.communicate()
    daemons.pids.update(int(pid) for pid in STARTED.findall(out))
    assert code == 0, err
    assert alive(daemons.pid())
    assert daemons.daemon("stop", log=False).returncode == 0


def test_stop_when_nothing_runs_exits_0_with_a_message(daemons: Daemons) -> None:
    result = daemons.daemon("stop", log=False)
    assert result.returncode == 0
    assert "does not exist. Daemon not running?" in result.stderr


def test_stale_pid_file_of_a_dead_process_is_replaced(daemons: Daemons) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    daemons.pid_dir.mkdir()
    daemons.pid_file().write_text(f"{dead.pid}\n")

    status = daemons.daemon("status", log=False)
    assert status.returncode == 1
    assert f"stale pid file {daemons.pid_file()}: pid {dead.pid} is not running" in status.stdout

    started = daemons.daemon("start")
    assert started.returncode == 0, started.stderr
    assert f"Removed stale pid file {daemons.pid_file()}" in started.stdout
    pid = daemons.pid()
    assert pid != dead.pid and alive(pid)
    assert daemons.daemon("stop", log=False).returncode == 0
    assert not alive(pid)


def test_pid_file_naming_an_unrelated_live_process_is_stale_and_that_process_survives(
        daemons: Daemons) -> None:
    # The pid was reused by something that is not dynamic-dynamodb: never refuse because of
    # it, and never signal it.
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        daemons.pid_dir.mkdir()
        daemons.pid_file().write_text(f"{bystander.pid}\n")
        stopped = daemons.daemon("stop", log=False)
        assert stopped.returncode == 0
        assert "removed stale pid file" in stopped.stdout
        assert alive(bystander.pid)

        daemons.pid_file().write_text(f"{bystander.pid}\n")
        started = daemons.daemon("start")
        assert started.returncode == 0, started.stderr
        pid = daemons.pid()
        assert pid != bystander.pid
        assert daemons.daemon("stop", log=False).returncode == 0
        assert alive(bystander.pid)
    finally:
        bystander.kill()
        bystander.wait()


def test_restart_replaces_the_daemon_and_keeps_the_options_given(daemons: Daemons) -> None:
    started = daemons.daemon("start", "--check-interval", "1")
    assert started.returncode == 0, started.stderr
    old = daemons.pid()
    daemons.wait_log("Cycle done")

    restarted = daemons.daemon("restart", "--check-interval", "1")
    assert restarted.returncode == 0, restarted.stderr
    assert f"Daemon stopped (pid {old})" in restarted.stdout
    new = daemons.pid()
    assert new != old and alive(new) and not alive(old)
    # --check-interval 1 still holds after the restart (2.5.1 lost it): cycles keep coming.
    before = daemons.log_text().count("Cycle done")
    daemons.wait_log("Cycle done", count=before + 2, timeout=20)
    assert f"Daemon started (pid {new}" in daemons.log_text()
    assert daemons.daemon("stop", log=False).returncode == 0


def test_restart_when_not_running_just_starts(daemons: Daemons) -> None:
    result = daemons.daemon("restart")
    assert result.returncode == 0, result.stderr
    assert "Daemon not running?" in result.stderr
    assert alive(daemons.pid())
    assert daemons.daemon("stop", log=False).returncode == 0


def test_unwritable_pid_dir_fails_in_the_foreground(daemons: Daemons, tmp_path: Path) -> None:
    # Tests run as root, which can write to any chmod'ed directory; a directory below a
    # regular file cannot exist for anyone.
    (tmp_path / "afile").write_text("not a directory\n")
    result = daemons.cli("-c", str(daemons.config), "--daemon", "start", "--pid-file-dir",
                         str(tmp_path / "afile" / "piddir"), "--log-file", str(daemons.log),
                         timeout=30)
    assert result.returncode == 1
    assert "cannot write the pid file in" in result.stderr
    assert "Daemon not started" in result.stderr
    assert "Daemon started" not in result.stdout
    assert daemons.log_text() == ""  # it never got as far as running


def test_unwritable_log_dir_fails_in_the_foreground(daemons: Daemons, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a directory\n")
    result = daemons.cli("-c", str(daemons.config), "--daemon", "start", "--pid-file-dir",
                         str(daemons.pid_dir), "--log-file",
                         str(tmp_path / "afile" / "logs" / "d.log"), timeout=30)
    assert result.returncode == 1
    assert "log-file: cannot open" in result.stderr
    assert not daemons.pid_file().exists()


def test_invalid_config_fails_before_detaching(daemons: Daemons) -> None:
    daemons.config.write_text("[global]\ncheck-interval: often\n")
    result = daemons.daemon("start", timeout=30)
    assert result.returncode == 1
    assert "check-interval" in result.stderr
    assert not daemons.pid_file().exists()


def test_invalid_log_config_file_fails_before_detaching(daemons: Daemons, tmp_path: Path) -> None:
    bad = tmp_path / "logging.conf"
    bad.write_text("[loggers]\nkeys=root\n")
    result = daemons.daemon("start", "--log-config-file", str(bad), log=False, timeout=30)
    assert result.returncode == 1
    assert "log-config-file" in result.stderr and "invalid logging configuration" in result.stderr
    assert not daemons.pid_file().exists()


def test_relative_paths_are_resolved_where_the_command_was_started(daemons: Daemons,
                                                                    tmp_path: Path) -> None:
    write_config(tmp_path / "relative.conf")
    started = daemons.cli("-c", "relative.conf", "--daemon", "start", "--pid-file-dir", "rel",
                          "--log-file", "logs/relative.log", cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    pid_file = tmp_path / "rel" / "dynamic-dynamodb.default.pid"
    assert pid_file.exists()
    daemons.pids.add(int(pid_file.read_text()))
    log = tmp_path / "logs" / "relative.log"
    wait_for(lambda: "Cycle done" in log.read_text(), 20, "a cycle in the relative log file")
    # The state file lands next to the pid file, not in "/" where the daemon runs.
    assert (tmp_path / "rel" / "dynamic-dynamodb.default.state.json").exists()
    stopped = daemons.cli("--daemon", "stop", "--pid-file-dir", "rel", cwd=tmp_path)
    assert stopped.returncode == 0
    assert not pid_file.exists()


def test_run_once_with_daemon_is_refused(daemons: Daemons) -> None:
    for mode in ("start", "foreground", "stop"):
        result = daemons.daemon(mode, "--run-once", timeout=30)
        assert result.returncode == 2, mode
        assert "--run-once cannot be combined with --daemon" in result.stderr
    assert not daemons.pid_file().exists()


def test_two_instances_run_side_by_side(daemons: Daemons, server_clients: object) -> None:
    for instance in ("a", "b"):
        result = daemons.daemon("start", instance=instance)
        assert result.returncode == 0, result.stderr
    a, b = daemons.pid("a"), daemons.pid("b")
    assert a != b and alive(a) and alive(b)
    assert daemons.daemon("stop", instance="a", log=False).returncode == 0
    assert not alive(a) and alive(b)
    assert daemons.daemon("status", instance="b", log=False).returncode == 0
    assert daemons.daemon("stop", instance="b", log=False).returncode == 0
    assert not alive(b)


def test_detached_without_a_log_file_warns_that_logs_go_nowhere(daemons: Daemons) -> None:
    result = daemons.daemon("start", log=False)
    assert result.returncode == 0, result.stderr
    assert "logs go nowhere" in result.stderr
    assert daemons.daemon("stop", log=False).returncode == 0


def test_foreground_runs_in_this_process_without_pid_file(daemons: Daemons,
                                                          server_clients: object) -> None:
    create_table(server_clients.dynamodb, "t1", 10, 10)  # type: ignore[attr-defined]
    for mode in ("foreground", "fg"):
        process = daemons.foreground("--check-interval", "1", mode=mode)
        wait_for(lambda: daemons.stdout_text().count("Cycle done") >= 2, 20,
                 "two cycles on stdout")
        output = daemons.stdout_text()
        assert f"Daemon started in foreground (pid {process.pid})" in output
        assert "Cycle done: 1 tables" in output
        assert not daemons.pid_dir.exists() or not any(daemons.pid_dir.glob("*.pid"))
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0


def test_status_and_stop_need_no_config(daemons: Daemons) -> None:
    result = daemons.cli("--daemon", "status", "--pid-file-dir", str(daemons.pid_dir))
    assert result.returncode == 3
    result = daemons.cli("--daemon", "stop", "--pid-file-dir", str(daemons.pid_dir))
    assert result.returncode == 0


def test_the_daemon_is_detached(daemons: Daemons) -> None:
    """Its own session (no controlling terminal), and not a child of the start command."""
    started = daemons.daemon("start")
    assert started.returncode == 0, started.stderr
    pid = daemons.pid()
    assert os.getsid(pid) != os.getsid(0)
    with open(f"/proc/{pid}/stat", "rb") as handle:
        ppid = int(handle.read().rsplit(b")", 1)[1].split()[1])
    assert ppid != os.getpid()
    assert os.readlink(f"/proc/{pid}/cwd") == "/"
    assert daemons.daemon("stop", log=False).returncode == 0
