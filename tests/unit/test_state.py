"""The state file: counters and ledger, atomic 0600 writes, corrupt and unreadable files, the
lock, scopes per account and region, migration, pruning; default paths and refusals (D30)."""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from dynamic_dynamodb import paths
from dynamic_dynamodb.errors import StateError
from dynamic_dynamodb.paths import UnsafeFileError
from dynamic_dynamodb.policy.budget import DecreaseLedger, merge_ledger
from dynamic_dynamodb.policy.counters import Counters
from dynamic_dynamodb.state import (
    DEFAULT_SCOPE,
    State,
    StateStore,
    StateUnreadableError,
    StateWriteError,
    default_state_path,
    scope_key,
)

UTC = timezone.utc
NOON = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)


def ledger(state: State, key: str, now: datetime, *reported: Any) -> DecreaseLedger:
    """What decide() sees: the state's own record merged with DynamoDB's figures."""
    return merge_ledger(state.own_record(key, now), now, *reported)


def warnings_about(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING and text in r.getMessage()]


def resources(path: Path, scope: str = DEFAULT_SCOPE) -> dict[str, Any]:
    return json.loads(path.read_text())["accounts"][scope]["resources"]


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
    assert resources(path)["orders"]["counters"] == {"reads": 1, "writes": 0}


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
    with pytest.raises(StateWriteError, match=f"cannot write the state file {path} "
                                              r"\(No space left on device\)"):
        store.save(new)
    monkeypatch.undo()
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
    '{"version": 2, "accounts": {"1/us-east-1": {"resources": {"t": {"missing_since": 1}}}}}',
    '{"version": 2, "accounts": []}',
    '{"version": true, "resources": {}}',
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


def test_an_unreadable_file_is_reported_and_left_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A directory at the state path: unreadable as a file, for root too.
    path = tmp_path / "s.json"
    path.mkdir()
    store = StateStore(str(path))
    with pytest.raises(StateUnreadableError, match=f"cannot read the state file {path} "
                                                   r"\(it is a directory\); it is left"):
        store.load()
    with pytest.raises(StateUnreadableError):
        store.preflight()
    assert path.is_dir() and not (tmp_path / "s.json.corrupt").exists()
    with pytest.raises(StateWriteError, match="Is a directory"):
        store.save(State())
    # A dry run reading it as the real instance's state starts fresh instead, with a warning.
    assert store.load(read_only=True).counters("t") == Counters()
    assert warnings_about(caplog, "the dry run starts fresh")


def test_a_read_error_is_not_corruption(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"version": 2, "accounts": {}}')

    def broken_read(fd: int, size: int) -> bytes:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "read", broken_read)
    with pytest.raises(StateUnreadableError, match=r"\(Input/output error\)"):
        StateStore(str(path)).load()
    monkeypatch.undo()
    assert path.read_text() == '{"version": 2, "accounts": {}}'
    assert not (tmp_path / "s.json.corrupt").exists()


def test_a_fifo_at_the_state_path_neither_hangs_nor_is_moved(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    os.mkfifo(path)
    with pytest.raises(StateUnreadableError, match="it is not a regular file"):
        StateStore(str(path)).load()
    assert stat.S_ISFIFO(path.lstat().st_mode)


def test_an_unwritable_directory_never_raises_from_the_lock_and_fails_each_save(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Tests run as root, so permissions prove nothing: put the file under a regular file.
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    store = StateStore(str(blocker / "s.json"))
    for _ in range(3):  # three cycles of a daemon
        with store.locked():
            state = store.load()  # nothing there, nor could there be: a fresh start
            state.set_counters("orders", Counters(1, 0))
        with pytest.raises(StateWriteError, match="Not a directory"):
            store.save(state)
    assert len(warnings_about(caplog, "Cannot create the state lock")) == 1


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


def test_prune_forgets_only_what_dynamodb_says_is_gone_or_a_day_unlisted() -> None:
    state = State()
    for key in ("kept", "kept:gsi", "kept:dropped", "deleted", "deleted:gsi", "unlisted",
                "unlisted:gsi", "unmatched:gsi"):
        state.set_counters(key, Counters(1, 1))
    listed = {"kept", "deleted", "unmatched"}
    described = {"kept": {"gsi"}}  # "unmatched" is listed but not described (another config)
    forgotten = state.prune(listed, described, {"deleted"}, NOON)
    assert sorted(forgotten) == [
        ("deleted", "DynamoDB says the table does not exist"),
        ("deleted:gsi", "DynamoDB says the table does not exist"),
        ("kept:dropped", "DynamoDB says the table has no such GSI"),
    ]
    # One listing without "unlisted" only starts the clock.
    assert state.counters("unlisted") == Counters(1, 1)
    assert state.data["resources"]["unlisted"]["missing_since"] == NOON.isoformat()
    assert state.prune(listed, described, set(), NOON + timedelta(hours=23)) == []
    # Seen again: the clock stops.
    assert state.prune(listed | {"unlisted"}, described, set(), NOON + timedelta(hours=23)) == []
    assert "missing_since" not in state.data["resources"]["unlisted"]
    state.prune(listed, described, set(), NOON + timedelta(days=1))
    assert state.prune(listed, described, set(), NOON + timedelta(days=2)) == [
        ("unlisted", f"the table has not been listed since {(NOON + timedelta(days=1)).isoformat()}"),
        ("unlisted:gsi",
         f"the table has not been listed since {(NOON + timedelta(days=1)).isoformat()}"),
    ]
    assert sorted(state.data["resources"]) == ["kept", "kept:gsi", "unmatched:gsi"]


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


# ---- one file, several accounts and regions --------------------------------------------------

def test_scopes_of_one_file_never_touch_each_other(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    east, west = scope_key("111122223333", "us-east-1"), scope_key("111122223333", "us-west-2")
    first = StateStore(str(path))
    state = first.load(east)
    state.set_counters("orders", Counters(2, 0))
    first.save(state)
    second = StateStore(str(path))
    other = second.load(west)
    assert other.counters("orders") == Counters()  # same table name, another region
    other.set_counters("orders", Counters(0, 3))
    other.prune(set(), {}, {"orders"}, NOON)  # DynamoDB in us-west-2 says it does not exist
    second.save(other)
    assert StateStore(str(path)).load(east).counters("orders") == Counters(2, 0)
    saved = json.loads(path.read_text())
    assert saved["version"] == 2 and sorted(saved["accounts"]) == [east, west]


def test_a_save_without_a_load_keeps_the_other_scopes(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    store = StateStore(str(path))
    state = store.load("a/us-east-1")
    state.set_counters("t", Counters(1, 1))
    store.save(state)
    other = State(scope="b/us-east-1")
    other.set_counters("t", Counters(2, 2))
    StateStore(str(path)).save(other)
    assert resources(path, "a/us-east-1")["t"]["counters"] == {"reads": 1, "writes": 1}
    assert resources(path, "b/us-east-1")["t"]["counters"] == {"reads": 2, "writes": 2}


def test_scope_keys_name_the_endpoint_only_when_it_is_not_aws() -> None:
    assert scope_key("1", "eu-west-1") == "1/eu-west-1"
    assert scope_key("1", "eu-west-1", "https://dynamodb.eu-west-1.amazonaws.com") == "1/eu-west-1"
    assert scope_key("1", "cn-north-1", "https://dynamodb.cn-north-1.amazonaws.com.cn/") == (
        "1/cn-north-1")
    assert scope_key("1", "us-east-1", "http://user:secret@127.0.0.1:8000/") == (
        "1/us-east-1@http://127.0.0.1:8000")


def test_a_version_1_file_moves_under_the_first_scope_that_loads_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "dynamic_dynamodb")
    path = tmp_path / "s.json"
    old = {"version": 1, "last_cycle": NOON.isoformat(), "resources": {
        "orders": {"counters": {"reads": 2, "writes": 1}, "decreases": {"2026-03-04": 3},
                   "last_decrease": NOON.isoformat(), "budget_notified": "2026-03-04"},
        "orders:by_user": {"counters": {"reads": 1, "writes": 0}}}}
    path.write_text(json.dumps(old))
    store = StateStore(str(path))
    state = store.load("123456789012/eu-west-1")
    assert state.counters("orders") == Counters(2, 1)
    assert ledger(state, "orders", NOON).decreases_today == 3
    assert "version 1 format; its entries now belong to 123456789012/eu-west-1" in caplog.text
    store.save(state)
    saved = json.loads(path.read_text())
    assert saved["version"] == 2
    assert saved["accounts"]["123456789012/eu-west-1"]["resources"] == old["resources"]
    assert saved["accounts"]["123456789012/eu-west-1"]["last_cycle"] == NOON.isoformat()
    # Another region finds its own empty part, not the migrated one.
    assert StateStore(str(path)).load("123456789012/us-east-1").counters("orders") == Counters()


def test_a_dry_run_reading_a_version_1_file_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"resources": {"t": {"counters": {"reads": 4, "writes": 0}}}}')
    assert StateStore(str(path)).load("1/r", read_only=True).counters("t") == Counters(4, 0)
    assert json.loads(path.read_text()) == {"resources": {"t": {"counters": {"reads": 4,
                                                                             "writes": 0}}}}


# ---- default paths and instance names (D30) -----------------------------------------------------

def test_default_directories(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("RUNTIME_DIRECTORY", "STATE_DIRECTORY", "XDG_RUNTIME_DIR", "XDG_STATE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert (paths.runtime_dir(), paths.state_dir()) == ("/run/dynamic-dynamodb",
                                                        "/var/lib/dynamic-dynamodb")
    assert default_state_path(None, "prod") == (
        "/var/lib/dynamic-dynamodb/dynamic-dynamodb.prod.state.json")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    home_state = str(tmp_path / ".local" / "state" / "dynamic-dynamodb")
    assert (paths.runtime_dir(), paths.state_dir()) == (home_state, home_state)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    monkeypatch.setenv("XDG_STATE_HOME", "/srv/state")
    assert (paths.runtime_dir(), paths.state_dir()) == ("/run/user/1000/dynamic-dynamodb",
                                                        "/srv/state/dynamic-dynamodb")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "relative")  # not absolute: ignored (XDG spec)
    assert paths.runtime_dir() == "/srv/state/dynamic-dynamodb"
    # systemd's RuntimeDirectory= and StateDirectory= win, for root too.
    monkeypatch.setenv("RUNTIME_DIRECTORY", "/run/dd:/run/other")
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/dd")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert (paths.runtime_dir(), paths.state_dir()) == ("/run/dd", "/var/lib/dd")
    # --pid-file-dir given: the state file goes beside the pid file, as before.
    assert default_state_path(str(tmp_path), "prod") == str(
        tmp_path / "dynamic-dynamodb.prod.state.json")


@pytest.mark.parametrize("name", ["default", "orders", "eu-west-1.prod", "a_b", "_x", "-x", "9"])
def test_good_instance_names(name: str) -> None:
    assert paths.check_instance(name) == name


@pytest.mark.parametrize("name", ["", ".hidden", "..", "a/b", "../../etc/x", "a b", "é",
                                  "x" * 101, "a\nb"])
def test_bad_instance_names(name: str) -> None:
    with pytest.raises(ValueError, match=re.escape(paths.INSTANCE_RULE)):
        paths.check_instance(name)


def test_directories_the_tool_makes_are_private(tmp_path: Path) -> None:
    store = StateStore(str(tmp_path / "a" / "b" / "s.json"))
    with store.locked():
        state = store.load()
    store.save(state)
    for directory in (tmp_path / "a", tmp_path / "a" / "b"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a" / "b" / "s.json.lock").stat().st_mode) == 0o600


# ---- refusals: links, other users' files, open directories (D30) --------------------------------

OTHER_UID = 65534  # nobody


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file outside the state directory that a planted link points at."""
    target = tmp_path / "elsewhere" / "victim"
    target.parent.mkdir()
    target.write_text("precious\n")
    return target


def test_a_link_at_the_state_path_is_refused_and_never_written_through(
    tmp_path: Path, victim: Path
) -> None:
    directory = tmp_path / "state"
    directory.mkdir()
    path = directory / "s.json"
    path.symlink_to(victim)
    store = StateStore(str(path))
    with pytest.raises(UnsafeFileError, match=f"refusing to use the state file {path}: it is "
                                              "a symbolic link"):
        store.load()
    with pytest.raises(StateWriteError, match="it is a symbolic link"):
        store.save(State())
    assert victim.read_text() == "precious\n" and path.is_symlink()


@pytest.mark.parametrize("planted", ["dangling", "existing"])
def test_a_link_at_the_lock_path_is_refused_and_nothing_is_created(
    tmp_path: Path, victim: Path, planted: str
) -> None:
    path = tmp_path / "s.json"
    target = victim if planted == "existing" else tmp_path / "elsewhere" / "created"
    Path(f"{path}.lock").symlink_to(target)
    store = StateStore(str(path))
    with pytest.raises(UnsafeFileError, match=r"the state lock .* symbolic link"), store.locked():
        pytest.fail("the cycle must not run")
    with pytest.raises(UnsafeFileError):
        store.preflight()
    assert sorted(p.name for p in target.parent.iterdir()) == ["victim"]
    assert victim.read_text() == "precious\n"


def test_another_users_state_file_and_lock_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"version": 2, "accounts": {}}')
    os.chown(path, OTHER_UID, OTHER_UID)
    store = StateStore(str(path))
    with pytest.raises(UnsafeFileError, match=f"refusing to use the state file {path}: it is "
                                              f"owned by uid {OTHER_UID}, not by uid 0"):
        store.load()
    with pytest.raises(StateWriteError, match=f"owned by uid {OTHER_UID}"):
        store.save(State())
    assert path.read_text() == '{"version": 2, "accounts": {}}'
    path.unlink()
    lock = Path(f"{path}.lock")
    lock.write_text("")
    os.chown(lock, OTHER_UID, OTHER_UID)
    with pytest.raises(UnsafeFileError, match="the state lock"), store.locked():
        pytest.fail("the cycle must not run")


def test_a_directory_of_another_user_or_open_to_all_is_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    os.chown(foreign, OTHER_UID, OTHER_UID)
    with pytest.raises(UnsafeFileError, match=f"refusing to use the state directory {foreign}: "
                                              f"it is owned by uid {OTHER_UID}"):
        StateStore(str(foreign / "s.json")).preflight()
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    with pytest.raises(UnsafeFileError, match="others can write to it and it has no sticky bit "
                                              r"\(mode 0777\)"), \
            StateStore(str(open_dir / "s.json")).locked():
        pytest.fail("the cycle must not run")
    assert list(foreign.iterdir()) == [] and list(open_dir.iterdir()) == []
    # World-writable with the sticky bit (like /tmp): others cannot replace our files there.
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    store = StateStore(str(sticky / "s.json"))
    with store.locked():
        state = store.load()
    store.save(state)
    assert (sticky / "s.json").exists()


def test_refusals_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.symlink_to(tmp_path / "nowhere")
    with pytest.raises(UnsafeFileError) as caught:
        StateStore(str(path)).load()
    assert "\n" not in str(caught.value)


def test_failure_streaks_survive_a_save_and_are_forgotten_when_they_end(tmp_path: Path) -> None:
    store = StateStore(str(tmp_path / "s.json"))
    state = store.load()
    state.set_failure_streaks({("orders", "DescribeTable", "AccessDeniedException"): 2,
                               ("orders:by_user", "UpdateTable", "ValidationException"): 1})
    store.save(state)
    again = store.load()
    assert again.failure_streaks() == {
        ("orders", "DescribeTable", "AccessDeniedException"): 2,
        ("orders:by_user", "UpdateTable", "ValidationException"): 1}
    again.set_failure_streaks({("orders", "DescribeTable", "AccessDeniedException"): 3})
    store.save(again)
    assert store.load().failure_streaks() == {
        ("orders", "DescribeTable", "AccessDeniedException"): 3}
