"""The lease's timing and the three-way merge of a resource record: pure functions, no AWS."""

from __future__ import annotations

import pytest

from dynamic_dynamodb.aws.clients import UPDATE_TABLE_SECONDS
from dynamic_dynamodb.lease import (
    MAX_SKEW_MARGIN,
    MIN_LEASE_SECONDS,
    LeaseView,
    lease_terms,
    view_of,
)
from dynamic_dynamodb.state import merge_record


@pytest.mark.parametrize("interval", [0, 1, 2, 10, 60, 300, 3600])
def test_a_daemon_takes_over_within_two_intervals_and_never_lapses_between_renewals(
        interval: int) -> None:
    terms = lease_terms(interval)
    # Renewed every interval: a live leader's lease lasts past its next renewal.
    assert terms.duration > interval
    # A follower looks again when the lease expires: a crashed leader's lease (renewed at
    # most 0 s before the crash) is taken within two intervals (or the minimum lease).
    assert terms.duration <= max(2 * interval, MIN_LEASE_SECONDS)
    # The leader starts no UpdateTable that could still run a margin for clock skew before
    # the lease expires: the call is bounded (its own client), and that bound is kept free.
    assert 0 < terms.margin <= MAX_SKEW_MARGIN
    assert terms.update_bound == UPDATE_TABLE_SECONDS
    assert terms.acting_time == terms.duration - terms.margin - UPDATE_TABLE_SECONDS
    assert terms.acting_time > interval / 2


def test_a_run_once_claim_is_over_before_the_next_run_one_interval_later() -> None:
    for interval in (60, 300):
        terms = lease_terms(interval, run_once=True)
        assert terms.duration == interval / 2
        assert terms.margin == min(MAX_SKEW_MARGIN, interval / 12)
    assert lease_terms(0, run_once=True).duration == MIN_LEASE_SECONDS


def test_a_lease_is_free_when_released_or_past_its_expiry_by_the_readers_clock() -> None:
    held = LeaseView(holder="a:1:x", expires_at=1000.0)
    assert not held.expired(999.9)
    assert held.expired(1000.0)
    assert LeaseView(holder=None, expires_at=5000.0).expired(0)


def test_an_item_is_read_as_a_view_and_a_released_or_malformed_one_is_free() -> None:
    item = {"holder": {"S": "host:7:abc"}, "expires_at": {"N": "1234.5"}, "term": {"N": "3"},
            "mode": {"S": "daemon"}, "renewed_at": {"N": "1230"}}
    view = view_of(item)
    assert (view.holder, view.expires_at, view.term, view.mode) == ("host:7:abc", 1234.5, 3,
                                                                    "daemon")
    assert view.expires_text() == "1970-01-01T00:20:34+00:00"
    released = view_of({**item, "expires_at": {"N": "0"}})
    assert released.holder is None and released.expired(0.0)
    assert view_of({"holder": {"S": "x"}, "expires_at": {"S": "soon"}}).expired(0.0)


def test_merge_keeps_what_each_writer_changed() -> None:
    base = {"counters": {"reads": 1, "writes": 0}, "last_increase": "2026-03-04T10:00:00+00:00"}
    ours = {**base, "counters": {"reads": 2, "writes": 0}}
    theirs = {**base, "budget_notified": "2026-03-04"}
    assert merge_record(base, ours, theirs) == {
        "counters": {"reads": 2, "writes": 0},
        "last_increase": "2026-03-04T10:00:00+00:00",
        "budget_notified": "2026-03-04",
    }


def test_merge_adds_up_both_writers_decreases_and_keeps_the_later_time() -> None:
    base = {"decreases": {"2026-03-04": 1}, "last_decrease": "2026-03-04T09:00:00+00:00"}
    ours = {"decreases": {"2026-03-04": 2}, "last_decrease": "2026-03-04T11:00:00+00:00"}
    theirs = {"decreases": {"2026-03-04": 3}, "last_decrease": "2026-03-04T12:00:00+00:00"}
    merged = merge_record(base, ours, theirs)
    assert merged["decreases"] == {"2026-03-04": 4}  # 1 + their 2 + our 1
    assert merged["last_decrease"] == "2026-03-04T12:00:00+00:00"


def test_merge_of_a_new_day_keeps_only_that_day() -> None:
    ours = {"decreases": {"2026-03-05": 1}}
    theirs = {"decreases": {"2026-03-04": 6}}
    assert merge_record(None, ours, theirs)["decreases"] == {"2026-03-05": 1}


def test_merge_honours_a_field_we_removed() -> None:
    base = {"missing_since": "2026-03-04T00:00:00+00:00", "counters": {"reads": 0, "writes": 0}}
    ours = {"counters": {"reads": 0, "writes": 0}}
    theirs = {**base, "counters": {"reads": 3, "writes": 0}}
    assert merge_record(base, ours, theirs) == {"counters": {"reads": 3, "writes": 0}}
