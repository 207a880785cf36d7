"""State.own_record parses the stored figures through a cache; what it returns must follow every
change of the record at once (record_update, record_decrease_refused, a replaced record, a
new UTC day), and the ledger merged from it (policy/budget.py merge_ledger) with it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from dynamic_dynamodb.policy.budget import DecreaseLedger, OwnRecord, merge_ledger
from dynamic_dynamodb.state import State

UTC = timezone.utc
NOON = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def test_own_record_follows_record_update_at_once() -> None:
    state = State()
    assert state.own_record("t1", NOON) == OwnRecord()
    state.record_update("t1", NOON, increased=True, decreased=False)
    assert state.own_record("t1", NOON) == OwnRecord(last_increase=NOON)
    state.record_update("t1", NOON + MINUTE, increased=False, decreased=True)
    assert state.own_record("t1", NOON + MINUTE) == OwnRecord(
        decreases_today=1, last_decrease=NOON + MINUTE, last_increase=NOON)
    state.record_update("t1", NOON + 2 * MINUTE, increased=False, decreased=True)
    assert state.own_record("t1", NOON + 2 * MINUTE) == OwnRecord(
        decreases_today=2, last_decrease=NOON + 2 * MINUTE, last_increase=NOON)
    # The ledger merged from it says the same at once.
    assert merge_ledger(state.own_record("t1", NOON + 3 * MINUTE), NOON + 3 * MINUTE) == \
        DecreaseLedger(2, NOON + 2 * MINUTE, NOON)
    # Other keys are their own.
    assert state.own_record("t1:g1", NOON) == OwnRecord()


def test_the_count_of_decreases_is_the_one_of_nows_utc_day() -> None:
    state = State()
    state.record_update("t1", NOON, increased=False, decreased=True)
    assert state.own_record("t1", NOON).decreases_today == 1
    tomorrow = NOON + timedelta(days=1)
    assert state.own_record("t1", tomorrow).decreases_today == 0
    assert state.own_record("t1", NOON).decreases_today == 1  # asked again for today
    state.record_update("t1", tomorrow, increased=False, decreased=True)
    assert state.own_record("t1", tomorrow) == OwnRecord(decreases_today=1,
                                                         last_decrease=tomorrow)


def test_own_record_follows_record_decrease_refused_at_once() -> None:
    state = State()
    state.record_update("t1", NOON, increased=False, decreased=True)
    next_at = NOON + timedelta(minutes=30)
    state.record_decrease_refused("t1", NOON + MINUTE, next_at)
    own = state.own_record("t1", NOON + MINUTE)
    assert own == OwnRecord(1, NOON, None, NOON + MINUTE, next_at)
    assert merge_ledger(own, NOON + 2 * MINUTE).blocked_until == next_at
    # Refused again, this time without a time that could be read.
    state.record_decrease_refused("t1", NOON + 2 * MINUTE)
    own = state.own_record("t1", NOON + 2 * MINUTE)
    assert own == OwnRecord(1, NOON, None, NOON + 2 * MINUTE, None)
    ledger = merge_ledger(own, NOON + 3 * MINUTE)
    assert ledger.blocked_until is None
    assert ledger.decreases_today == 4  # the free decreases count as gone
    assert ledger.last_decrease == NOON + 2 * MINUTE
    # And with a time again.
    state.record_decrease_refused("t1", NOON + 3 * MINUTE, next_at)
    assert state.own_record("t1", NOON + 3 * MINUTE).next_decrease == next_at


def test_own_record_reads_a_replaced_or_forgotten_record() -> None:
    state = State()
    state.record_update("t1", NOON, increased=True, decreased=True)
    assert state.own_record("t1", NOON).last_increase == NOON
    # Another writer's record merged in.
    later = NOON + timedelta(hours=1)
    state.data["resources"]["t1"] = {"last_increase": later.isoformat(),
                                     "decreases": {"2026-11-22": 3}}
    assert state.own_record("t1", NOON) == OwnRecord(3, None, later)
    # Forgotten (prune), or a new document.
    state.prune(set(), {}, {"t1"}, NOON)
    assert state.own_record("t1", NOON) == OwnRecord()
    state.data = {"resources": {"t1": {"last_decrease": later.isoformat()}}}
    assert state.own_record("t1", NOON) == OwnRecord(last_decrease=later)


def test_stored_times_in_other_zones_or_unreadable_are_read_as_before() -> None:
    state = State({"resources": {
        "t1": {"last_decrease": "2026-11-22T14:00:00+02:00", "next_decrease": "not a time"},
        "t2": {"last_increase": "2026-11-22T12:00:00"},  # no zone: UTC
        "t3": {"last_increase": ["not", "hashable"]},  # load() refuses it; never a crash
    }})
    t1 = state.own_record("t1", NOON)
    assert t1 == OwnRecord(last_decrease=NOON)
    assert t1.next_decrease is None
    assert state.own_record("t2", NOON) == OwnRecord(last_increase=NOON)
    assert state.own_record("t3", NOON) == OwnRecord()
