"""Health: --daemon status also says when the last cycle ran and how it went."""

from __future__ import annotations

from tests.e2e.test_daemon_support import Daemons, daemons

__all__ = ["daemons"]


def test_status_prints_the_time_and_result_of_the_last_cycle(daemons: Daemons) -> None:
    assert daemons.daemon("start").returncode == 0
    daemons.wait_log("Cycle done")
    status = daemons.daemon("status", log=False)
    assert status.returncode == 0
    lines = status.stdout.splitlines()
    assert lines[0].startswith("dynamic-dynamodb instance default is running")
    assert lines[1].startswith("last cycle: 20")
    assert ", ok (Cycle done: " in lines[1]
    assert daemons.daemon("stop", log=False).returncode == 0
