"""``--daemon status`` says who leads, from what the daemon last saw of the lease."""

from __future__ import annotations

import json
from pathlib import Path

from dynamic_dynamodb.daemon import leader_line
from dynamic_dynamodb.lease import Leadership


def write_status(tmp_path: Path, leadership: Leadership | None, me: str = "b:2:y") -> str:
    status = {"time": "2026-03-04T12:00:00+00:00", "result": "ok", "summary": "…"}
    if leadership is not None:
        status["lease"] = leadership.as_status(me)  # type: ignore[assignment]
    (tmp_path / "dynamic-dynamodb.default.status.json").write_text(json.dumps(status))
    return str(tmp_path / "dynamic-dynamodb.default.pid")


def test_the_leader_says_so(tmp_path: Path) -> None:
    pid = write_status(tmp_path, Leadership(True, "b:2:y", 1_772_625_630.0, 4), me="b:2:y")
    assert leader_line(pid) == "leader: this daemon (b:2:y), lease until 2026-03-04T12:00:30+00:00"


def test_a_follower_names_the_leader(tmp_path: Path) -> None:
    pid = write_status(tmp_path, Leadership(False, "a:1:x", 1_772_625_630.0, 4))
    assert leader_line(pid) == ("leader: a:1:x, lease until 2026-03-04T12:00:30+00:00; this "
                                "daemon (b:2:y) stands by")


def test_no_line_without_a_state_table(tmp_path: Path) -> None:
    assert leader_line(write_status(tmp_path, None)) is None
    assert leader_line(str(tmp_path / "nothing.pid")) is None


def test_a_run_once_status_is_shown_apart_from_the_daemons(tmp_path: Path) -> None:
    """A --run-once with the daemon's pid file directory writes its own status file: the
    daemon's "last cycle" stays the daemon's, and the run shows as "last --run-once"."""
    from dynamic_dynamodb.daemon import last_cycle, last_run_once
    from dynamic_dynamodb.paths import run_once_status_file, status_file

    pid = write_status(tmp_path, Leadership(True, "b:2:y", 1_772_625_630.0, 4), me="b:2:y")
    assert last_run_once(pid) is None
    assert run_once_status_file(str(tmp_path), "default") != status_file(str(tmp_path), "default")
    Path(run_once_status_file(str(tmp_path), "default")).write_text(json.dumps(
        {"time": "2026-03-04T12:01:00+00:00", "result": "standing by",
         "summary": "not the leader"}))
    assert last_cycle(pid) == "last cycle: 2026-03-04T12:00:00+00:00, ok (…)"
    assert last_run_once(pid) == ("last --run-once: 2026-03-04T12:01:00+00:00, standing by "
                                  "(not the leader)")
    assert leader_line(pid) == "leader: this daemon (b:2:y), lease until 2026-03-04T12:00:30+00:00"
