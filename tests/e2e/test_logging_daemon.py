"""The daemon's log file: its mode, and rotation (forced by an old file, through the real handler)."""

from __future__ import annotations

import os
import signal
import stat
import time
from datetime import datetime

from demo.seed import create_table
from tests.e2e.test_daemon_support import Daemons, daemons, write_config

__all__ = ["daemons"]


def mode(path: os.PathLike[str] | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_log_file_is_0640_even_with_umask_0(daemons: Daemons) -> None:
    result = daemons.daemon("start", umask=0)
    assert result.returncode == 0, result.stderr
    daemons.wait_log("Cycle done")
    assert mode(daemons.log) == 0o640
    assert daemons.daemon("stop", log=False).returncode == 0


def test_existing_world_readable_log_file_is_tightened(daemons: Daemons) -> None:
    daemons.log.parent.mkdir(parents=True)
    daemons.log.write_text("")
    os.chmod(daemons.log, 0o666)
    assert daemons.daemon("start").returncode == 0
    daemons.wait_log("Cycle done")
    assert mode(daemons.log) == 0o640
    assert daemons.daemon("stop", log=False).returncode == 0


def test_log_rotates_at_midnight_keeping_5_backups(daemons: Daemons) -> None:
    # TimedRotatingFileHandler computes the next rollover from the file's mtime: a file last
    # written two days ago is rotated by the first record the daemon logs, exactly as at
    # midnight, without touching the clock of the daemon.
    daemons.log.parent.mkdir(parents=True)
    daemons.log.write_text("a line from the day before yesterday\n")
    os.chmod(daemons.log, 0o640)
    two_days_ago = time.time() - 2 * 86400
    os.utime(daemons.log, (two_days_ago, two_days_ago))
    old_backups = [daemons.log.with_name(f"{daemons.log.name}.2020-01-0{day}")
                   for day in range(1, 7)]
    for backup in old_backups:
        backup.write_text("old\n")

    result = daemons.daemon("start", umask=0)
    assert result.returncode == 0, result.stderr
    daemons.wait_log("Cycle done")
    assert daemons.daemon("stop", log=False).returncode == 0

    rotated = daemons.log.with_name(
        f"{daemons.log.name}.{datetime.fromtimestamp(two_days_ago).strftime('%Y-%m-%d')}")
    assert rotated.read_text() == "a line from the day before yesterday\n"
    fresh = daemons.log.read_text()
    assert "Daemon started" in fresh and "day before yesterday" not in fresh
    assert mode(daemons.log) == 0o640
    backups = sorted(p.name for p in daemons.log.parent.iterdir() if p != daemons.log)
    assert len(backups) == 5  # backupCount 5, as 2.5.1: the two oldest were deleted
    assert rotated.name in backups
    assert not old_backups[0].exists() and not old_backups[1].exists()


def test_secrets_never_reach_the_log(daemons: Daemons, server_clients: object) -> None:
    create_table(server_clients.dynamodb, "t1", 10, 10)  # type: ignore[attr-defined]
    secrets = ("AKIDSOAKSECRET42", "S3cr3tValueNeverLogged", "Pa55wordNeverLogged")
    write_config(daemons.config, check_interval=1, extra_global=(
        f"aws-access-key-id: {secrets[0]}\n"
        f"aws-secret-access-key-id: {secrets[1]}\n"
        # A closed port: the breaker is "open" and its URL is logged, masked.
        f"circuit-breaker-url: http://user:{secrets[2]}@127.0.0.1:9/\n"))
    assert daemons.daemon("start").returncode == 0
    pid = daemons.pid()
    daemons.wait_log("Circuit breaker is OPEN!")
    # A reload that fails on a malformed URL holding the password: the error is logged
    # in full, but masked.
    daemons.config.write_text(f"[global]\ncircuit-breaker-url: http://user:{secrets[2]}@h:port/\n")
    os.kill(pid, signal.SIGHUP)
    daemons.wait_log("Configuration reload failed")
    assert daemons.daemon("stop", log=False).returncode == 0
    log = daemons.log_text()
    assert "circuit-breaker-url" in log
    for secret in secrets:
        assert secret not in log
