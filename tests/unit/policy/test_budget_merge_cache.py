"""merge_ledger is cached on the UTC day of ``now`` and on whether DynamoDB's "next decrease at"
is still ahead: the same OwnRecord merged at different times must still give what the time
says, on both sides of UTC midnight and of ``next_decrease``, in whatever order it is asked.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from dynamic_dynamodb.policy.budget import FREE_DECREASES, DecreaseLedger, OwnRecord, merge_ledger

UTC = timezone.utc
PLUS_TWO = timezone(timedelta(hours=2))
MIDNIGHT = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
BEFORE = MIDNIGHT - timedelta(microseconds=1)  # 23:59:59.999999 on the 22nd
SECOND = timedelta(seconds=1)


def test_dynamodbs_count_of_the_day_stops_counting_at_utc_midnight() -> None:
    own = OwnRecord(decreases_today=1)
    last = MIDNIGHT - timedelta(hours=1)  # DynamoDB's last decrease: 23:00 the day before
    # Asked on both sides of midnight, several times, in alternating order.
    for _ in range(2):
        assert merge_ledger(own, BEFORE, 3, last).decreases_today == 3
        assert merge_ledger(own, MIDNIGHT, 3, last).decreases_today == 1
        assert merge_ledger(own, MIDNIGHT + timedelta(hours=5), 3, last).decreases_today == 1
        assert merge_ledger(own, BEFORE - timedelta(hours=5), 3, last).decreases_today == 3


def test_midnight_is_utcs_whatever_the_zone_of_now() -> None:
    own = OwnRecord()
    last = MIDNIGHT - timedelta(minutes=30)
    # 01:30 at UTC+2 is 23:30 UTC: still the day of the last decrease.
    assert merge_ledger(own, datetime(2026, 11, 23, 1, 30, tzinfo=PLUS_TWO), 2,
                        last).decreases_today == 2
    # 02:30 at UTC+2 is 00:30 UTC: a new day, DynamoDB's count is yesterday's.
    assert merge_ledger(own, datetime(2026, 11, 23, 2, 30, tzinfo=PLUS_TWO), 2,
                        last).decreases_today == 0


def test_a_refusal_without_a_time_counts_only_on_its_own_utc_day() -> None:
    refused = MIDNIGHT - timedelta(hours=2)
    own = OwnRecord(decreases_today=1, decrease_refused=refused)
    for _ in range(2):
        same_day = merge_ledger(own, BEFORE)
        assert same_day.decreases_today == FREE_DECREASES
        assert same_day.last_decrease == refused
        next_day = merge_ledger(own, MIDNIGHT)
        assert next_day == DecreaseLedger(decreases_today=1)


def test_next_decrease_blocks_until_it_passes_with_the_same_record() -> None:
    at = datetime(2026, 11, 22, 12, 30, tzinfo=UTC)
    own = OwnRecord(decreases_today=4, last_decrease=at - timedelta(hours=1),
                    decrease_refused=at - timedelta(minutes=10), next_decrease=at)
    for _ in range(2):
        assert merge_ledger(own, at - SECOND).blocked_until == at
        assert merge_ledger(own, at - timedelta(microseconds=1)).blocked_until == at
        assert merge_ledger(own, at).blocked_until is None  # "at" itself: may decrease now
        assert merge_ledger(own, at + SECOND).blocked_until is None
        assert merge_ledger(own, at - timedelta(minutes=5)).blocked_until == at
    # Once passed, the refusal with a time is not turned into "the free ones are gone".
    assert merge_ledger(own, at + SECOND) == DecreaseLedger(
        decreases_today=4, last_decrease=at - timedelta(hours=1))


def test_next_decrease_ahead_across_midnight() -> None:
    at = MIDNIGHT + timedelta(minutes=20)
    own = OwnRecord(decreases_today=5, next_decrease=at,
                    decrease_refused=MIDNIGHT - timedelta(minutes=40))
    assert merge_ledger(own, BEFORE).blocked_until == at
    assert merge_ledger(own, MIDNIGHT + timedelta(minutes=19)).blocked_until == at
    assert merge_ledger(own, MIDNIGHT + timedelta(minutes=21)).blocked_until is None


def test_times_come_back_in_utc_whatever_zone_an_equal_record_was_merged_in_first() -> None:
    # Equal records (the same moments in other zones) must give the same ledger, in UTC.
    at = datetime(2026, 11, 22, 14, 30, tzinfo=PLUS_TWO)  # 12:30 UTC
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    zoned = OwnRecord(1, at - timedelta(hours=2), at - timedelta(hours=3), None, at)
    utc = OwnRecord(1, (at - timedelta(hours=2)).astimezone(UTC),
                    (at - timedelta(hours=3)).astimezone(UTC), None, at.astimezone(UTC))
    assert zoned == utc
    for own in (zoned, utc, zoned):
        ledger = merge_ledger(own, now)
        assert ledger.blocked_until == at
        for moment in (ledger.last_decrease, ledger.last_increase, ledger.blocked_until):
            assert moment is not None
            assert moment.utcoffset() == timedelta(0)


def test_reported_figures_are_part_of_the_answer() -> None:
    own = OwnRecord(decreases_today=2, last_increase=MIDNIGHT + timedelta(hours=1))
    now = MIDNIGHT + timedelta(hours=3)
    late = MIDNIGHT + timedelta(hours=2)
    assert merge_ledger(own, now).decreases_today == 2
    assert merge_ledger(own, now, 6, late).decreases_today == 6
    assert merge_ledger(own, now, 6, late).last_decrease == late
    assert merge_ledger(own, now, None, None, late).last_increase == late
    assert merge_ledger(own, now).last_increase == MIDNIGHT + timedelta(hours=1)
