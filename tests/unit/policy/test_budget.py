"""DynamoDB's decrease quota, the cooldowns and the reserve, as pure functions of a frozen clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamic_dynamodb.config.options import DimensionOptions, ResourceOptions
from dynamic_dynamodb.notify import verdict_text
from dynamic_dynamodb.policy.budget import (
    BlockCode,
    BudgetRules,
    DecreaseLedger,
    Verdict,
    decrease_verdict,
    increase_cooling_down,
    merge_ledger,
    used_today,
)
from dynamic_dynamodb.policy.counters import Counters
from dynamic_dynamodb.policy.decide import decide
from dynamic_dynamodb.policy.observation import DimensionObservation, Observation
from dynamic_dynamodb.policy.outcomes import Outcome
from dynamic_dynamodb.state import State
from dynamic_dynamodb.windows import ClockTime

UTC = timezone.utc
NOON = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
DEFAULT = BudgetRules()


def at(hh_mm: str, day: int = 4) -> datetime:
    hours, minutes = map(int, hh_mm.split(":"))
    return datetime(2026, 3, day, hours, minutes, tzinfo=UTC)


def ledger(used: int, last: str | None = None, increase: str | None = None) -> DecreaseLedger:
    return DecreaseLedger(used, at(last) if last else None, at(increase) if increase else None)


# -- DynamoDB's rule ------------------------------------------------------------------------

@pytest.mark.parametrize("used", [0, 1, 2, 3])
def test_the_first_four_decreases_of_the_day_are_allowed_back_to_back(used: int) -> None:
    # The previous decrease was a minute ago: the hourly rule does not apply yet.
    verdict = decrease_verdict(ledger(used, "11:59" if used else None), NOON, DEFAULT)
    assert verdict.allowed
    assert verdict.used == used


def test_the_fifth_decrease_waits_until_the_last_one_is_an_hour_old() -> None:
    verdict = decrease_verdict(ledger(4, "11:40"), NOON, DEFAULT)
    assert not verdict.allowed
    assert verdict.next_possible == at("12:40")
    assert not verdict.exhausted
    assert verdict_text(verdict) == "decrease deferred: 4/27 used today, next possible at 12:40 UTC"


@pytest.mark.parametrize(("last", "allowed"), [("11:01", False), ("11:00", True), ("09:00", True)])
def test_after_four_one_decrease_per_hour(last: str, allowed: bool) -> None:
    assert decrease_verdict(ledger(10, last), NOON, DEFAULT).allowed is allowed


def test_the_daily_cap_defers_until_utc_midnight_and_is_exhausted() -> None:
    verdict = decrease_verdict(ledger(27, "09:00"), NOON, DEFAULT)
    assert not verdict.allowed
    assert verdict.exhausted
    assert verdict.next_possible == at("00:00", day=5)
    assert verdict_text(verdict) == "decrease deferred: 27/27 used today, next possible at 00:00 UTC"


def test_max_decreases_per_day_is_configurable() -> None:
    low = BudgetRules(max_decreases_per_day=2)
    assert decrease_verdict(ledger(1, "11:59"), NOON, low).allowed
    refused = decrease_verdict(ledger(2, "11:59"), NOON, low)
    assert (refused.allowed, refused.exhausted, refused.cap) == (False, True, 2)
    # A raised quota (the AWS quota is adjustable) still keeps the hourly rule.
    high = BudgetRules(max_decreases_per_day=40)
    assert decrease_verdict(ledger(27, "10:00"), NOON, high).allowed
    assert not decrease_verdict(ledger(27, "11:30"), NOON, high).allowed


def test_the_count_starts_again_at_utc_midnight() -> None:
    spent = ledger(27, "23:50", increase=None)
    assert not decrease_verdict(spent, at("23:55"), DEFAULT).allowed
    after = decrease_verdict(spent, at("00:05", day=5), DEFAULT)
    assert after.allowed
    assert after.used == 0
    assert used_today(spent, at("00:00", day=5)) == 0


def test_an_hourly_wait_that_crosses_midnight_ends_at_midnight_and_exhausts_the_day() -> None:
    verdict = decrease_verdict(ledger(10, "23:30"), at("23:45"), DEFAULT)
    assert not verdict.allowed
    assert verdict.next_possible == at("00:00", day=5)  # not 00:30: the count starts again
    assert verdict.exhausted


def test_a_count_without_a_time_counts_but_the_hourly_rule_cannot_be_checked() -> None:
    # An endpoint that gives NumberOfDecreasesToday but no LastDecreaseDateTime.
    assert decrease_verdict(DecreaseLedger(10), NOON, DEFAULT).allowed
    assert not decrease_verdict(DecreaseLedger(27), NOON, DEFAULT).allowed


def test_table_and_gsi_are_counted_apart() -> None:
    state = State()
    for _ in range(4):
        state.record_update("orders", at("11:30"), increased=False, decreased=True)
    state.record_update("orders:by_user", at("11:30"), increased=False, decreased=True)
    table = decrease_verdict(merge_ledger(state.own_record("orders", NOON), NOON), NOON, DEFAULT)
    gsi = decrease_verdict(merge_ledger(state.own_record("orders:by_user", NOON), NOON), NOON,
                           DEFAULT)
    assert (table.allowed, table.used) == (False, 4)
    assert (gsi.allowed, gsi.used) == (True, 1)


# -- cooldowns --------------------------------------------------------------------------------

def test_decrease_cooldown_counts_from_the_last_increase_or_decrease() -> None:
    rules = BudgetRules(decrease_cooldown_minutes=30)
    after_increase = decrease_verdict(ledger(0, increase="11:45"), NOON, rules)
    assert not after_increase.allowed
    assert after_increase.next_possible == at("12:15")
    assert not after_increase.exhausted
    assert codes(after_increase) == [BlockCode.DECREASE_COOLDOWN]
    after_decrease = decrease_verdict(ledger(1, "11:50", increase="08:00"), NOON, rules)
    assert after_decrease.next_possible == at("12:20")
    assert decrease_verdict(ledger(1, "11:30", increase="11:00"), NOON, rules).allowed
    assert decrease_verdict(ledger(0, increase="11:45"), NOON, DEFAULT).allowed  # off by default


def test_next_possible_is_the_latest_of_all_rules_that_bind() -> None:
    rules = BudgetRules(decrease_cooldown_minutes=90)
    verdict = decrease_verdict(ledger(5, "11:30"), NOON, rules)
    assert verdict.next_possible == at("13:00")  # cooldown (13:00) beats the hourly rule (12:30)
    assert codes(verdict) == [BlockCode.DECREASE_COOLDOWN, BlockCode.HOURLY]


def codes(verdict: Verdict) -> list[BlockCode]:
    return sorted((block.code for block in verdict.blocks), key=lambda code: code.value)


def test_increase_cooldown() -> None:
    recent = ledger(0, increase="11:50")
    assert increase_cooling_down(recent, NOON, 20) == at("12:10")
    assert increase_cooling_down(recent, at("12:10"), 20) is None
    assert increase_cooling_down(recent, NOON, 0) is None
    assert increase_cooling_down(ledger(0), NOON, 20) is None


# -- the reserve ------------------------------------------------------------------------------

NIGHTLY = BudgetRules(reserved_decreases=1, reserved_after_minute=22 * 60)


def test_the_reserve_keeps_a_decrease_for_after_the_reserve_time() -> None:
    # Spending one more now still leaves a free decrease at 22:00.
    assert decrease_verdict(ledger(2, "11:00"), NOON, NIGHTLY).allowed
    # The fourth free decrease now is fine too: at 22:00 the last is ten hours old.
    assert decrease_verdict(ledger(3, "11:00"), NOON, NIGHTLY).allowed
    # After four, an hourly decrease at 21:30 would make 22:00 too early for the next one.
    late = decrease_verdict(ledger(6, "19:00"), at("21:30"), NIGHTLY)
    assert not late.allowed
    assert late.next_possible == at("22:00")
    assert not late.exhausted
    assert codes(late) == [BlockCode.RESERVED]
    assert late.blocks[0].until == at("22:00")
    assert decrease_verdict(ledger(6, "19:00"), at("20:59"), NIGHTLY).allowed
    # From 22:00 the reserve may be spent.
    assert decrease_verdict(ledger(6, "19:00"), at("22:00"), NIGHTLY).allowed


def test_a_reserve_of_two_keeps_two_free_decreases() -> None:
    rules = BudgetRules(reserved_decreases=2, reserved_after_minute=22 * 60)
    assert decrease_verdict(ledger(1, "08:00"), NOON, rules).allowed
    refused = decrease_verdict(ledger(2, "08:00"), NOON, rules)
    assert not refused.allowed
    assert refused.next_possible == at("22:00")
    assert decrease_verdict(ledger(2, "08:00"), at("22:01"), rules).allowed


def test_the_reserve_never_lends_from_the_cap() -> None:
    rules = BudgetRules(max_decreases_per_day=6, reserved_decreases=1, reserved_after_minute=1200)
    assert not decrease_verdict(ledger(5, "08:00"), NOON, rules).allowed
    assert decrease_verdict(ledger(4, "08:00"), NOON, rules).allowed


def test_waiting_for_one_rule_can_run_into_the_reserve() -> None:
    # The hourly rule alone would allow 21:40, but then nothing is left for 22:00.
    verdict = decrease_verdict(ledger(6, "20:40"), at("21:00"), NIGHTLY)
    assert verdict.next_possible == at("22:00")


# -- inside decide(): a deferred decrease is a refused decrease (D5) ---------------------------

def options(**resource: object) -> ResourceOptions:
    reads = DimensionOptions(num_checks_before_scale_down=2)
    return ResourceOptions(reads=reads, writes=DimensionOptions(), **resource)


def observation(read_percent: float, write_percent: float, seen: DecreaseLedger) -> Observation:
    return Observation(DimensionObservation(100, read_percent), DimensionObservation(100, write_percent),
                       ledger=seen)


def test_decide_defers_the_decrease_keeps_the_counter_and_still_increases() -> None:
    decision = decide(options(), observation(10, 95, ledger(4, "11:40")), Counters(1, 0), NOON)
    assert decision.reads.target == 100
    assert decision.reads.counter == 2  # counted, not reset: a refused decrease (D5)
    assert decision.reads.outcome is Outcome.DEFERRED_QUOTA
    verdict = decision.reads.refusals[-1].refusal.verdict
    assert verdict is not None and (verdict.used, verdict.next_possible) == (4, at("12:40"))
    assert decision.writes.target == 150  # the increase of the same check still goes
    assert not decision.budget_exhausted
    assert decision.changed


def test_decide_flags_an_exhausted_budget_only_when_a_decrease_is_wanted() -> None:
    spent = ledger(27, "11:00")
    assert decide(options(), observation(10, 50, spent), Counters(1, 0), NOON).budget_exhausted
    assert not decide(options(), observation(50, 50, spent), Counters(1, 0), NOON).budget_exhausted
    # A decrease that is not due yet (check 1/2) does not touch the budget.
    assert not decide(options(), observation(10, 50, spent), Counters(0, 0), NOON).budget_exhausted


def test_decide_applies_the_decrease_when_the_budget_allows() -> None:
    decision = decide(options(), observation(10, 50, ledger(4, "10:00")), Counters(1, 0), NOON)
    assert (decision.reads.target, decision.reads.counter) == (50, 0)


def test_decide_increase_cooldown_unless_consumption_exceeds_provisioning() -> None:
    cooling = options(increase_cooldown_minutes=30)
    recent = ledger(0, increase="11:45")
    held = decide(cooling, observation(50, 95, recent), Counters(), NOON)
    assert held.writes.target == 100
    assert held.writes.outcome is Outcome.HELD_INCREASE_COOLDOWN
    assert held.writes.refusals[-1].refusal.until == at("12:15")
    over = decide(cooling, observation(50, 120, recent), Counters(), NOON)
    assert over.writes.target > 100
    assert decide(cooling, observation(50, 95, ledger(0, increase="11:00")), Counters(),
                  NOON).writes.target == 150
    assert decide(options(), observation(50, 95, recent), Counters(), NOON).writes.target == 150


def test_decide_reserve_option_is_read_as_hh_mm() -> None:
    reserving = options(reserved_decreases=1, reserved_decreases_after=ClockTime.parse("22:00"))
    late = decide(reserving, observation(10, 50, ledger(6, "19:00")), Counters(1, 0), at("21:30"))
    assert late.reads.target == 100
    assert late.reads.outcome is Outcome.DEFERRED_QUOTA
    assert late.reads.refusals[-1].refusal.verdict.next_possible == at("22:00")
    assert decide(reserving, observation(10, 50, ledger(6, "19:00")), Counters(1, 0),
                  at("22:00")).reads.target == 50



def test_an_increase_held_by_the_cooldown_still_honours_the_reset_percent_rule() -> None:
    reads = DimensionOptions(num_checks_before_scale_down=3, num_checks_reset_percent=80)
    cooling = ResourceOptions(reads=reads, writes=DimensionOptions(), increase_cooldown_minutes=30)
    held = decide(cooling, observation(95, 50, ledger(0, increase="11:50")), Counters(2, 0), NOON)
    assert held.reads.target == 100  # the increase waits
    assert held.reads.counter == 0  # 95 % ≥ 80 %: the count is reset all the same (D5)


# -- properties ----------------------------------------------------------------------------

def dynamodb_allows(seen: DecreaseLedger, now: datetime, cap: int) -> bool:
    """DynamoDB's own rule (reference/landscape.md §3), written independently."""
    used = used_today(seen, now)
    return used < cap and (used < 4 or seen.last_decrease is None
                           or now - seen.last_decrease >= timedelta(hours=1))


minutes_of_day = st.integers(min_value=0, max_value=24 * 60 - 1)


@st.composite
def situations(draw: st.DrawFn) -> tuple[DecreaseLedger, datetime, BudgetRules]:
    now = datetime(2026, 3, 4, tzinfo=UTC) + timedelta(minutes=draw(minutes_of_day))
    used = draw(st.integers(min_value=0, max_value=30))
    last = now - timedelta(minutes=draw(st.integers(min_value=0, max_value=30 * 60)))
    increase = draw(st.none() | st.integers(min_value=0, max_value=300))
    seen = DecreaseLedger(used, last if used else None,
                          None if increase is None else now - timedelta(minutes=increase))
    rules = BudgetRules(
        max_decreases_per_day=draw(st.integers(min_value=1, max_value=40)),
        reserved_decreases=draw(st.integers(min_value=0, max_value=3)),
        reserved_after_minute=draw(st.none() | minutes_of_day),
        decrease_cooldown_minutes=draw(st.sampled_from([0, 0, 15, 60, 240])),
    )
    return seen, now, rules


@settings(max_examples=400, deadline=None)
@given(situations())
def test_a_decrease_allowed_by_the_budget_is_one_dynamodb_accepts(
    situation: tuple[DecreaseLedger, datetime, BudgetRules],
) -> None:
    seen, now, rules = situation
    verdict = decrease_verdict(seen, now, rules)
    if verdict.allowed:
        assert dynamodb_allows(seen, now, rules.max_decreases_per_day)
    else:
        assert verdict.next_possible is not None and verdict.next_possible > now
        assert verdict.cap == rules.max_decreases_per_day and verdict.blocks


@settings(max_examples=400, deadline=None)
@given(situations())
def test_next_possible_is_the_earliest_moment_a_decrease_is_allowed(
    situation: tuple[DecreaseLedger, datetime, BudgetRules],
) -> None:
    seen, now, rules = situation
    verdict = decrease_verdict(seen, now, rules)
    if verdict.allowed:
        return
    assert verdict.next_possible is not None
    assert decrease_verdict(seen, verdict.next_possible, rules).allowed
    just_before = verdict.next_possible - timedelta(seconds=1)
    if just_before > now:
        assert not decrease_verdict(seen, just_before, rules).allowed
    # Never later than the next UTC midnight unless a cooldown or the next day's reserve
    # holds it; and "exhausted" means nothing is possible before midnight.
    midnight = datetime(2026, 3, 5, tzinfo=UTC)
    if verdict.exhausted:
        assert verdict.next_possible >= midnight
