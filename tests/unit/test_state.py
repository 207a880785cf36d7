"""The state file: counters and ledger, atomic 0600 writes, corrupt files, the lock, pruning."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from dynamic_dynamodb.errors import StateError
from dynamic_dynamodb.policy.budget import DecreaseLedger, merge_ledger
from dynamic_dynamodb.policy.counters import Counters
from dynamic_dynamodb.state import State, StateStore, default_state_path

UTC = timezone.utc
NOON = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def ledger(state: State, key: str, now: datetime, *reported: Any) -> DecreaseLedger:
    """What decide() sees: the state's own record merged with DynamoDB's figures."""
    return merge_ledger(state.own_record(key, now), now, *reported)


def warnings_about(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING and text in r.getMessage()]


def test_default_path_is_per_instance_in_the_pid_file_dir(tmp_path: Path) -> None:
    assert default_state_path(str(tmp_path), "prod") == str(
        tmp_path / "dynamic-dynamodb.prod.state.json")
    assert default_state_path("/tmp", "a") != default_state_path("/tmp", "b")


def test_a_missing_file_is_a_fresh_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = StateStore(str(tmp_path / "new" / "s.json")).load()
    assert state.counters("orders") == Counters(0, 0)
    assert not warnings_about(caplog, "")


def test_counters_and_ledger_survive_a_save_and_load(tmp_path: Path) -> None:
    store = StateStore(str(tmp_path / "s.json"))
    state = State()
    state.set_counters("orders", Counters(2, 1))
    state.set_counters("orders:by_user", Counters(0, 3))
    state.record_update("orders", NOON, increased=True, decreased=False)
    state.record_update("orders", NOON + timedelta(minutes=5), increased=False, decreased=True)
    state.mark_budget_notified("orders", NOON)
    state.finish_cycle(NOON)
    store.save(state)

    again = StateStore(str(tmp_path / "s.json")).load()
    assert again.counters("orders") == Counters(2, 1)
    assert again.counters("orders:by_user") == Counters(0, 3)
    seen = ledger(again, "orders", NOON + timedelta(minutes=6))
    assert seen.decreases_today == 1
    assert seen.last_decrease == NOON + timedelta(minutes=5)
    assert seen.last_increase == NOON
    assert again.budget_notified_today("orders", NOON + timedelta(hours=3))
    assert again.data["last_cycle"] == NOON.isoformat()


def test_writes_are_atomic_and_private(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    store = StateStore(str(path))
    path.write_text('{"resources": {}}')
    path.chmod(0o644)
    state = State()
    state.set_counters("orders", Counters(1, 0))
    store.save(state)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]  # no temp file left
    assert json.loads(path.read_text())["resources"]["orders"]["counters"] == {"reads": 1,
                                                                             "writes": 0}


def test_a_failed_write_leaves_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "s.json"
    store = StateStore(str(path))
    old = State()
    old.set_counters("orders", Counters(2, 0))
    store.save(old)

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    new = State()
    new.set_counters("orders", Counters(5, 5))
    store.save(new)  # logged, never raised
    assert warnings_about(caplog, "Cannot write state file")
    assert StateStore(str(path)).load().counters("orders") == Counters(2, 0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]


@pytest.mark.parametrize("content", [
    "{not json",
    "",
    "[1, 2]",
    '{"version": 1, "resources": {"orders": {"counters": {"reads": "two"}}}}',
    '{"version": 1, "resources": {"orders": {"counters": {"reads": -1}}}}',
    '{"version": 1, "resources": {"orders": "x"}}',
    '{"version": 1, "resources": {"orders": {"decreases": {"2026-03-04": true}}}}',
    '{"version": 1, "resources": {"orders": {"last_decrease": 5}}}',
    '{"version": 99, "resources": {}}',
    b"\xff\xfe\x00garbage",
])
def test_a_corrupt_file_is_moved_aside_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str | bytes
) -> None:
    path = tmp_path / "s.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    store = StateStore(str(path))
    state = store.load()
    assert state.counters("orders") == Counters(0, 0)
    assert len(warnings_about(caplog, "corrupt")) == 1
    aside = tmp_path / "s.json.corrupt"
    assert aside.exists() and not path.exists()
    assert aside.read_bytes() == (content if isinstance(content, bytes) else content.encode())
    # The next load is an ordinary fresh start: no second warning.
    store.load()
    assert len(warnings_about(caplog, "")) == 1


def test_a_directory_in_the_way_is_not_moved_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.json"
    path.mkdir()
    store = StateStore(str(path))
    assert store.load().counters("t") == Counters()
    store.save(State())
    assert path.is_dir()
    assert warnings_about(caplog, "Cannot read state file")
    assert warnings_about(caplog, "Cannot write state file")


def test_an_unwritable_directory_never_raises_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Tests run as root, so permissions prove nothing: put the file under a regular file.
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    store = StateStore(str(blocker / "s.json"))
    for _ in range(3):  # three cycles of a daemon
        with store.locked():
            state = store.load()
            state.set_counters("orders", Counters(1, 0))
        store.save(state)
    assert len(warnings_about(caplog, "Cannot create the state lock")) == 1
    assert len(warnings_about(caplog, "Cannot write state file")) == 1
    assert len(warnings_about(caplog, "Cannot read state file")) == 1


def test_the_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    store = StateStore(str(tmp_path / "s.json"))
    other = os.open(store.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(StateError, match="another dynamic-dynamodb process holds"), \
                store.locked():
            pytest.fail("the body must not run while another process holds the lock")
        fcntl.flock(other, fcntl.LOCK_UN)
        with store.locked(), pytest.raises(BlockingIOError):  # while we hold it, nobody else
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released again
    finally:
        os.close(other)
    assert stat.S_IMODE(os.stat(store.lock_path).st_mode) == 0o600


def test_ledger_prefers_dynamodb_and_falls_back_to_the_own_record() -> None:
    state = State()
    state.record_update("t1", NOON - timedelta(hours=2), increased=False, decreased=True)
    state.record_update("t1", NOON - timedelta(hours=1), increased=True, decreased=True)
    # Fields missing (moto): the tool's own record.
    own = ledger(state, "t1", NOON)
    assert own.decreases_today == 2
    assert own.last_decrease == NOON - timedelta(hours=1)
    assert own.last_increase == NOON - timedelta(hours=1)
    # DynamoDB counts decreases made by others too: its larger count and later time win.
    aws = ledger(state, "t1", NOON, 6, NOON - timedelta(minutes=10), NOON - timedelta(hours=5))
    assert aws.decreases_today == 6
    assert aws.last_decrease == NOON - timedelta(minutes=10)
    assert aws.last_increase == NOON - timedelta(hours=1)
    # A lagging DescribeTable never lowers what the tool knows it did itself.
    lagging = ledger(state, "t1", NOON, 1, NOON - timedelta(hours=2))
    assert lagging.decreases_today == 2
    # Yesterday's count from DynamoDB is not today's.
    stale = ledger(State(), "t2", NOON, 9, NOON - timedelta(days=1))
    assert stale.decreases_today == 0


def test_the_own_decrease_count_is_per_utc_day() -> None:
    state = State()
    late = datetime(2026, 3, 4, 23, 50, tzinfo=UTC)
    for minute in range(3):
        state.record_update("t", late + timedelta(minutes=minute), increased=False, decreased=True)
    assert ledger(state, "t", late + timedelta(minutes=5)).decreases_today == 3
    next_day = late + timedelta(minutes=15)
    assert ledger(state, "t", next_day).decreases_today == 0
    state.record_update("t", next_day, increased=False, decreased=True)
    assert ledger(state, "t", next_day).decreases_today == 1
    assert list(state.data["resources"]["t"]["decreases"]) == ["2026-03-05"]  # old days dropped


def test_an_increase_does_not_count_as_a_decrease() -> None:
    state = State()
    state.record_update("t", NOON, increased=True, decreased=False)
    assert ledger(state, "t", NOON).decreases_today == 0
    assert ledger(state, "t", NOON).last_decrease is None


def test_budget_notification_is_remembered_per_resource_and_utc_day() -> None:
    state = State()
    state.mark_budget_notified("t", NOON)
    assert state.budget_notified_today("t", NOON + timedelta(hours=11))
    assert not state.budget_notified_today("t", NOON + timedelta(hours=12))  # next UTC day
    assert not state.budget_notified_today("t:gsi", NOON)


def test_prune_forgets_only_what_no_longer_exists() -> None:
    state = State()
    for key in ("kept", "kept:gsi", "gone", "gone:gsi"):
        state.set_counters(key, Counters(1, 1))
    assert sorted(state.prune({"kept", "kept:gsi"})) == ["gone", "gone:gsi"]
    assert state.counters("kept") == Counters(1, 1)
    assert "gone" not in state.data["resources"]


def test_a_dry_run_gets_its_own_default_state_file(tmp_path: Path) -> None:
    real = default_state_path(str(tmp_path), "prod")
    preview = default_state_path(str(tmp_path), "prod", dry_run=True)
    assert preview == str(tmp_path / "dynamic-dynamodb.prod.dry-run.state.json")
    assert preview != real


def test_a_decrease_dynamodb_refused_holds_decreases_for_an_hour() -> None:
    from dynamic_dynamodb.policy.budget import BudgetRules, decrease_verdict

    state = State()
    state.record_decrease_refused("t", NOON)
    seen = ledger(state, "t", NOON + timedelta(minutes=5))  # DynamoDB reported nothing
    assert seen.decreases_today == 4
    assert seen.last_decrease == NOON
    verdict = decrease_verdict(seen, NOON + timedelta(minutes=5), BudgetRules())
    assert not verdict.allowed
    assert verdict.next_possible == NOON + timedelta(hours=1)
    assert decrease_verdict(ledger(state, "t", NOON + timedelta(hours=1)),
                            NOON + timedelta(hours=1), BudgetRules()).allowed
    # A refusal of yesterday is forgotten.
    assert ledger(state, "t", NOON + timedelta(days=1)).decreases_today == 0
    # It survives a save and load like everything else.
    assert ledger(State(json.loads(json.dumps(state.data))), "t", NOON).decreases_today == 4
