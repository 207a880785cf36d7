"""Helpers (no tests) for the daemon, signal and logging end-to-end tests.

Every test runs the installed ``dynamic-dynamodb`` command against moto_server on 127.0.0.1,
with its own pid directory under tmp_path. Every pid a test learns of (from ``start``'s
output or a pid file) is remembered and SIGKILLed in teardown if it is still alive; nothing
is ever killed by name.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from demo.localaws import moto_env
from dynamic_dynamodb.daemon import process_state
from tests.conftest import CLI, run_cli

STARTED = re.compile(r"Daemon started \(pid (\d+)")


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (init here does not reap)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in (b"Z", b"X")


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll until predicate() is truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def write_config(path: Path, *, check_interval: int = 300, table: str = "^t1$",
                 extra_global: str = "", extra_table: str = "") -> Path:
    path.write_text(
        "[global]\n"
        f"check-interval: {check_interval}\n"
        f"{extra_global}\n"
        "[logging]\n"
        "log-level: debug\n"
        f"[table: {table}]\n"
        "min-provisioned-reads: 1\n"
        "max-provisioned-reads: 1000\n"
        "min-provisioned-writes: 1\n"
        "max-provisioned-writes: 1000\n"
        f"{extra_table}\n",
        encoding="utf-8",
    )
    return path


class Daemons:
    """Runs the CLI for one test and remembers every daemon pid it sees."""

    def __init__(self, tmp_path: Path, endpoint: str):
        self.tmp_path = tmp_path
        self.endpoint = endpoint
        self.pid_dir = tmp_path / "run"
        self.log = tmp_path / "log" / "dynamic-dynamodb.log"
        self.config = write_config(tmp_path / "dynamic-dynamodb.conf")
        self.pids: set[int] = set()
        self.popens: list[subprocess.Popen[str]] = []

    def cli(self, *args: str, timeout: float = 90, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        result = run_cli(list(args), endpoint=self.endpoint, timeout=timeout, **kwargs)
        self.pids.update(int(pid) for pid in STARTED.findall(result.stdout))
        return result

    def daemon(self, mode: str, *extra: str, instance: str = "default", log: bool = True,
               **kwargs: Any) -> subprocess.CompletedProcess[str]:
        args = ["-c", str(self.config), "--daemon", mode, "--pid-file-dir", str(self.pid_dir),
                "--instance", instance, *extra]
        if log:
            args += ["--log-file", str(self.log)]
        return self.cli(*args, **kwargs)

    def pid_file(self, instance: str = "default") -> Path:
        return self.pid_dir / f"dynamic-dynamodb.{instance}.pid"

    def pid(self, instance: str = "default") -> int:
        pid = int(self.pid_file(instance).read_text().split()[0])
        self.pids.add(pid)
        return pid

    def foreground(self, *extra: str, mode: str = "foreground") -> subprocess.Popen[str]:
        """``--daemon foreground`` as systemd runs it (``mode=""``: ``--run-once``).

        Its stdout goes to ``self.stdout``.
        """
        self.stdout = self.tmp_path / "foreground.out"
        how = ["--daemon", mode] if mode else ["--run-once"]
        with open(self.stdout, "w", encoding="utf-8") as out:
            process = subprocess.Popen(
                [CLI, "-c", str(self.config), *how, "--pid-file-dir", str(self.pid_dir),
                 *extra],
                env=moto_env(self.endpoint), stdout=out, stderr=subprocess.STDOUT, text=True,
            )
        self.popens.append(process)
        self.pids.add(process.pid)
        return process

    def stdout_text(self) -> str:
        return self.stdout.read_text(encoding="utf-8")

    def log_text(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""

    def wait_log(self, text: str, count: int = 1, timeout: float = 20) -> str:
        return wait_for(lambda: self.log_text() if self.log_text().count(text) >= count else "",
                        timeout, f"{count}× {text!r} in {self.log}")

    def cleanup(self) -> None:
        for process in self.popens:
            if process.poll() is None:
                process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        children = {process.pid for process in self.popens}
        for pid in self.pids - children:
            # Only a live dynamic-dynamodb: a pid that has been reused is left alone.
            if process_state(pid) == "ours":
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def daemons(tmp_path: Path, moto_endpoint: str) -> Iterator[Daemons]:
    runner = Daemons(tmp_path, moto_endpoint)
    try:
        yield runner
    finally:
        runner.cleanup()
