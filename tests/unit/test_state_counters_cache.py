"""State.counters / State.set_counters keep a cache; it must never change what is read or saved.

The cache is keyed on the identity of the stored counters dict: a read is reused while that
very dict is in the record, a write is skipped while the dict the same value wrote is still
there. These tests replace the dict the way a load or a merge from another writer does, drop
the record (prune), and compare the saved document with one built without any cache.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from dynamic_dynamodb.policy.counters import Counters, LowDemand
from dynamic_dynamodb.state import State, StateStore

UTC = timezone.utc
NOON = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
FRACTIONAL = NOON + timedelta(seconds=30, microseconds=750_000)  # 12:00:30.75
WHOLE = NOON + timedelta(seconds=30)  # what the state keeps of it


def low(since: datetime, peak: int = 40, bucket: datetime | None = None,
        previous: int = 0) -> LowDemand:
    return LowDemand(since, peak, bucket, previous)


def stored_form(counters: Counters) -> Counters:
    """What a state that has never seen ``counters`` reads back after they are stored:
    a fresh State over a JSON copy of a fresh State's document (no cache anywhere)."""
    fresh = State()
    fresh.set_counters("k", counters)
    return State(json.loads(json.dumps(fresh.data))).counters("k")


def test_counters_read_back_the_whole_second_form_not_the_object_written() -> None:
    state = State()
    written = Counters(2, 1, low(FRACTIONAL), None)
    state.set_counters("t1", written)
    read = state.counters("t1")
    assert read != written
    assert read == Counters(2, 1, LowDemand(WHOLE, 40, WHOLE, 0), None)
    assert read == stored_form(written)
    # Written again (unchanged: the write is skipped): still the stored form.
    state.set_counters("t1", written)
    assert state.counters("t1") == stored_form(written)
    assert state.counters("t1").reads_low is not None
    assert state.counters("t1").reads_low.since == WHOLE


def test_the_stored_form_of_an_explicit_bucket_is_whole_seconds_too() -> None:
    state = State()
    bucket = FRACTIONAL + timedelta(minutes=5, microseconds=100)
    written = Counters(0, 3, None, low(FRACTIONAL, 7, bucket, 9))
    state.set_counters("t1", written)
    state.set_counters("t1", written)
    assert state.counters("t1") == Counters(
        0, 3, None, LowDemand(WHOLE, 7, WHOLE + timedelta(minutes=5), 9))
    assert state.data["resources"]["t1"]["counters"] == {
        "reads": 0, "writes": 3, "writes_low_since": int(WHOLE.timestamp()),
        "writes_low_peak": 7, "writes_low_bucket": int((WHOLE + timedelta(minutes=5)).timestamp()),
        "writes_low_previous_peak": 9}


def test_a_counters_dict_replaced_by_a_load_or_merge_is_seen_by_the_next_read() -> None:
    state = State()
    state.set_counters("t1", Counters(2, 1))
    assert state.counters("t1") == Counters(2, 1)  # read (and cached) once
    # Another writer's record, merged in: a different dict in the same place.
    state.data["resources"]["t1"]["counters"] = {"reads": 5, "writes": 0}
    assert state.counters("t1") == Counters(5, 0)
    # The whole record replaced, as a merge of records does.
    state.data["resources"]["t1"] = {"counters": {"reads": 0, "writes": 4,
                                                  "writes_low_since": int(WHOLE.timestamp()),
                                                  "writes_low_peak": 12}}
    assert state.counters("t1") == Counters(0, 4, None, LowDemand(WHOLE, 12, WHOLE, 0))
    # An equal dict (a JSON round trip) reads the same; an emptied record reads as none.
    state.data["resources"]["t1"]["counters"] = json.loads(
        json.dumps(state.data["resources"]["t1"]["counters"]))
    assert state.counters("t1") == Counters(0, 4, None, LowDemand(WHOLE, 12, WHOLE, 0))
    state.data["resources"]["t1"]["counters"] = {}
    assert state.counters("t1") == Counters()
    del state.data["resources"]["t1"]
    assert state.counters("t1") == Counters()


def test_a_replaced_data_document_is_read_not_the_cache() -> None:
    state = State()
    state.set_counters("t1", Counters(3, 3))
    assert state.counters("t1") == Counters(3, 3)
    state.data = {"resources": {"t1": {"counters": {"reads": 1, "writes": 0}}}}
    assert state.counters("t1") == Counters(1, 0)


def test_an_equal_value_is_written_again_once_its_dict_was_replaced() -> None:
    state = State()
    value = Counters(2, 1, low(FRACTIONAL))
    state.set_counters("t1", value)
    # Another writer's counters are merged in; this process then decides the same value
    # as before: it must be written, not skipped because it was written once.
    state.data["resources"]["t1"]["counters"] = {"reads": 9, "writes": 9}
    state.set_counters("t1", value)
    assert state.counters("t1") == stored_form(value)
    assert state.data["resources"]["t1"]["counters"]["reads"] == 2


def test_an_equal_value_is_written_again_after_prune_forgot_the_record() -> None:
    state = State()
    value = Counters(1, 0)
    state.set_counters("t1:g1", value)
    state.set_counters("t2", value)
    # The GSI went away: prune forgets its record.
    forgotten = state.prune({"t1", "t2"}, {"t1": set(), "t2": set()}, set(), NOON)
    assert [key for key, _ in forgotten] == ["t1:g1"]
    assert "t1:g1" not in state.data["resources"]
    assert state.counters("t1:g1") == Counters()
    # It came back, with the same counters as before: written again.
    state.set_counters("t1:g1", value)
    assert state.data["resources"]["t1:g1"]["counters"] == {"reads": 1, "writes": 0}
    assert state.counters("t1:g1") == value


def test_an_equal_value_is_written_again_into_replaced_data() -> None:
    state = State()
    value = Counters(0, 2)
    state.set_counters("t1", value)
    state.data = {"resources": {}}  # a new document (a load into the same object)
    state.set_counters("t1", value)
    assert state.data == {"resources": {"t1": {"counters": {"reads": 0, "writes": 2}}}}
    # And when only the record was dropped (its other fields with it).
    state.data["resources"]["t1"] = {"last_increase": NOON.isoformat()}
    state.set_counters("t1", value)
    assert state.data["resources"]["t1"] == {"last_increase": NOON.isoformat(),
                                             "counters": {"reads": 0, "writes": 2}}


def test_a_skipped_write_leaves_the_record_exactly_as_a_real_write_would() -> None:
    state = State()
    value = Counters(2, 0, low(FRACTIONAL, 10, FRACTIONAL + timedelta(seconds=1.5), 3))
    state.set_counters("t1", value)
    before = json.dumps(state.data, sort_keys=True)
    state.set_counters("t1", value)  # skipped
    uncached = State(json.loads(before))  # a real write over the same document
    uncached.set_counters("t1", value)
    assert json.dumps(state.data, sort_keys=True) == before
    assert json.dumps(uncached.data, sort_keys=True) == before


# -- the saved document, cached or not ---------------------------------------------------------
def _values(rng: random.Random) -> list[Counters]:
    moments = [FRACTIONAL, WHOLE, FRACTIONAL + timedelta(minutes=3, microseconds=1)]
    return [
        Counters(),
        Counters(1, 0),
        Counters(2, 1),
        Counters(0, 0, low(rng.choice(moments))),
        Counters(1, 1, low(FRACTIONAL, 5), low(WHOLE, 7, moments[2], 4)),
        Counters(1, 1, low(WHOLE, 5, WHOLE, 0), low(WHOLE, 7, moments[2], 4)),
    ]


def _apply(state: State, step: tuple[Any, ...]) -> Any:
    """One call of the sequence; returns what it read, if anything."""
    op = step[0]
    if op == "set":
        state.set_counters(step[1], step[2])
    elif op == "read":
        return state.counters(step[1])
    elif op == "replace":
        state.data["resources"].setdefault(step[1], {})["counters"] = dict(step[2])
    elif op == "prune":
        state.prune(step[1], {}, set(), NOON)
    elif op == "drop":
        state.data["resources"].pop(step[1], None)
    elif op == "update":
        state.record_update(step[1], NOON, increased=True, decreased=False)
    return None


def _sequence(seed: int, length: int = 300) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    keys = ["t1", "t1:g1", "t2"]
    values = _values(rng)
    steps: list[tuple[Any, ...]] = []
    for _ in range(length):
        key = rng.choice(keys)
        roll = rng.random()
        if roll < 0.45:
            steps.append(("set", key, rng.choice(values)))
        elif roll < 0.7:
            steps.append(("read", key))
        elif roll < 0.8:
            steps.append(("replace", key, {"reads": rng.randint(0, 3),
                                           "writes": rng.randint(0, 3)}))
        elif roll < 0.87:
            # Listings without some tables: prune starts their missing_since (no removal yet).
            steps.append(("prune", set(rng.sample(["t1", "t2"], rng.randint(0, 2)))))
        elif roll < 0.94:
            steps.append(("drop", key))
        else:
            steps.append(("update", key))
    return steps


def test_the_saved_document_is_the_one_built_without_any_cache(tmp_path: Path) -> None:
    for seed in range(5):
        cached = State()
        reference: dict[str, Any] = {"resources": {}}
        for step in _sequence(seed):
            got = _apply(cached, step)
            # Without a cache: a new State (empty caches) over the same document every call.
            expected = _apply(State(reference), step)
            assert got == expected, (seed, step)
            assert cached.data == reference, (seed, step)
        # Saved through the state file: byte for byte the same file.
        StateStore(str(tmp_path / f"cached-{seed}.json")).save(cached)
        StateStore(str(tmp_path / f"reference-{seed}.json")).save(State(reference))
        assert ((tmp_path / f"cached-{seed}.json").read_bytes()
                == (tmp_path / f"reference-{seed}.json").read_bytes())
        # And a load of it reads the same counters as the process that wrote it.
        loaded = StateStore(str(tmp_path / f"cached-{seed}.json")).load()
        for key in ("t1", "t1:g1", "t2"):
            assert loaded.counters(key) == cached.counters(key)
