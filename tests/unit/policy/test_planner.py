"""The decrease planner (decrease-planner-percent): properties and its log line."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dynamic_dynamodb.notify import reason
from dynamic_dynamodb.policy.budget import (
    FREE_DECREASES,
    HOUR,
    BudgetRules,
    DecreaseLedger,
    decrease_verdict,
    used_today,
)
from dynamic_dynamodb.policy.counters import Counters, LowDemand
from dynamic_dynamodb.policy.decide import decide
from dynamic_dynamodb.policy.observation import DimensionObservation, Observation
from dynamic_dynamodb.policy.outcomes import Outcome
from dynamic_dynamodb.policy.planner import hold_minutes, weigh
from tests.unit.policy.typed_options import resource_options

PROPERTY = settings(max_examples=60, deadline=None)
MIDNIGHT = datetime(2026, 11, 23, tzinfo=timezone.utc)
PLANNED = {"target-reads-utilisation": 100.0, "target-reads-scale-down-minutes": 0,
           "target-writes-utilisation": 100.0, "decrease-planner-percent": 30.0}
# Target mode starts a stretch of low demand only beyond 10 % below the capacity.
NOISE = 0.1


def observation(reads_provisioned: int, reads_demand: float,
                ledger: DecreaseLedger | None = None) -> Observation:
    """Reads at ``reads_demand`` CU/s (target 100 %: that is what a scale-in goes to);
    writes at their target, wanting nothing."""
    return Observation(
        DimensionObservation(reads_provisioned, reads_demand * 100 / reads_provisioned),
        DimensionObservation(100, 100.0), ledger or DecreaseLedger())


moments = st.integers(0, 1439).map(lambda minute: MIDNIGHT + timedelta(minutes=minute))


@st.composite
def day_states(draw: st.DrawFn) -> tuple[datetime, DecreaseLedger]:
    """A moment of a UTC day and a ledger the quota allows a decrease with."""
    now = draw(moments)
    used = draw(st.integers(0, 26))
    if used == 0:
        return now, DecreaseLedger()
    minutes_since = draw(st.integers(0, (now - MIDNIGHT).seconds // 60))
    ledger = DecreaseLedger(used, now - timedelta(minutes=minutes_since))
    assume(decrease_verdict(ledger, now, BudgetRules()).allowed)
    return now, ledger


UNPLANNED = {key: value for key, value in PLANNED.items() if key != "decrease-planner-percent"}


def run_day(options: dict[str, float], demands: list[float], step: int,
            check: bool = False) -> tuple[list[datetime], list[Outcome]]:
    """A UTC day of checks every ``step`` minutes at ``demands``: when each decrease was made,
    and every check's outcome for reads. ``check``: every deferral by the planner is a
    decrease the same check makes with the planner off."""
    typed, unplanned = resource_options(options), resource_options(UNPLANNED)
    provisioned, ledger, counters = 1000, DecreaseLedger(), Counters()
    made, outcomes = [], []
    for index, demand in enumerate(demands):
        now = MIDNIGHT + timedelta(minutes=index * step)
        if now.date() != MIDNIGHT.date():
            break
        seen = observation(provisioned, demand, ledger)
        decision = decide(typed, seen, counters, now)
        outcomes.append(decision.reads.outcome)
        if check and decision.reads.outcome is Outcome.DEFERRED_PLANNER:
            assert decide(unplanned, seen, counters, now).reads.is_decrease
        if decision.reads.is_decrease:
            assert decrease_verdict(ledger, now, BudgetRules()).allowed
            made.append(now)
            ledger = DecreaseLedger(used_today(ledger, now) + 1, now, ledger.last_increase)
        elif decision.reads.is_increase:
            ledger = replace(ledger, last_increase=now)
        provisioned = decision.reads.target
        counters = decision.counters_after(carried_out=True)
    return made, outcomes


@PROPERTY
@given(st.lists(st.floats(1, 1000, allow_nan=False), min_size=60, max_size=300),
       st.integers(1, 20))
def test_never_spends_beyond_the_quota(demands: list[float], step: int) -> None:
    """A day of checks with any demand: every decrease made is one the quota allowed, no
    more than 27 (4 at any time, then one an hour) are made in the UTC day, and the planner
    only ever holds back a decrease that would otherwise be made."""
    made, _ = run_day(PLANNED, demands, step, check=True)
    assert len(made) <= 27
    for earlier, later in zip(made[FREE_DECREASES - 1:], made[FREE_DECREASES:], strict=False):
        assert later - earlier >= HOUR


def test_a_slow_slide_spends_fewer_decreases_with_the_planner() -> None:
    """Demand sliding 2 % every 10 minutes: without the planner each small drop costs a
    decrease; with it, small drops wait and are made together."""
    demands = [1000.0 * 0.98 ** (index + 1) for index in range(144)]
    planned, outcomes = run_day(PLANNED, demands, 10, check=True)
    unplanned, _ = run_day(UNPLANNED, demands, 10)
    assert Outcome.DEFERRED_PLANNER in outcomes
    assert len(planned) < len(unplanned)


@PROPERTY
@given(day_states(), st.integers(100, 5000), st.floats(0.01, 0.99))
def test_a_bigger_drop_is_never_deferred_when_a_smaller_one_is_taken(
        state: tuple[datetime, DecreaseLedger], current: int, fraction: float) -> None:
    now, ledger = state
    small = max(1, int(current * (1 - fraction)))
    options = resource_options(PLANNED)
    taken = decide(options, observation(current, small, ledger), Counters(), now)
    if taken.reads.is_decrease:
        bigger = decide(options, observation(current, small * 0.5, ledger), Counters(), now)
        assert bigger.reads.is_decrease


@PROPERTY
@given(day_states(), st.integers(100, 5000))
def test_small_drops_wait_while_big_ones_are_taken(
        state: tuple[datetime, DecreaseLedger], current: int) -> None:
    """A drop worth less than the decrease's price waits; one worth more is made now."""
    now, ledger = state
    options = resource_options(PLANNED)
    hold = hold_minutes(ledger, now, BudgetRules())
    # p % of the capacity for `hold` minutes, per hour; never more than half the capacity
    needed_drop = current * min(0.30 * hold / 60, 0.5)
    small = current - max(1, int(needed_drop * 0.5))
    big = min(current - int(needed_drop) - 1, int(current * (1 - NOISE)) - 1)
    deferred = decide(options, observation(current, small, ledger), Counters(), now)
    if small < current * (1 - NOISE):
        assert deferred.reads.outcome is Outcome.DEFERRED_PLANNER
        assert deferred.reads.target == current
        refusal = deferred.reads.refusals[-1].refusal
        assert refusal.until is not None and refusal.until > now
        assert refusal.plans and refusal.plans[0].freed == current - small
    if big >= 1:
        taken = decide(options, observation(current, big, ledger), Counters(), now)
        assert taken.reads.outcome is Outcome.SCALED_DOWN


def test_a_small_drop_is_made_once_waiting_has_cost_its_worth() -> None:
    """Ski rental: 20 % of 1,000 waits; after (price - worth) / freed more minutes it goes."""
    now = MIDNIGHT + timedelta(hours=12)
    ledger = DecreaseLedger(10, now - timedelta(hours=2))  # hourly regime: holds 60 minutes
    options = resource_options(PLANNED)
    seen = observation(1000, 800, ledger)
    first = decide(options, seen, Counters(), now)
    assert first.reads.outcome is Outcome.DEFERRED_PLANNER
    until = first.reads.refusals[-1].refusal.until
    assert until == now + timedelta(minutes=30)  # price 18,000; worth 200 × 60 = 12,000
    low = LowDemand(now, 800, now)
    assert decide(options, seen, Counters(reads_low=low), until - timedelta(minutes=1)) \
        .reads.outcome is Outcome.DEFERRED_PLANNER
    assert decide(options, seen, Counters(reads_low=low), until).reads.target == 800


def test_the_last_early_decreases_are_not_burned_on_noise() -> None:
    """The same 35 % drop: made in the hourly regime, deferred when it would be the day's last
    decrease at 06:00 (it would hold the quota until midnight)."""
    options = resource_options(PLANNED)
    hourly = MIDNIGHT + timedelta(hours=12)
    regular = decide(options, observation(1000, 650, DecreaseLedger(
        10, hourly - timedelta(hours=2))), Counters(), hourly)
    assert regular.reads.outcome is Outcome.SCALED_DOWN
    early = MIDNIGHT + timedelta(hours=6)
    last = decide(options, observation(1000, 650, DecreaseLedger(
        26, early - timedelta(hours=2))), Counters(), early)
    assert last.reads.outcome is Outcome.DEFERRED_PLANNER
    plan = last.reads.refusals[-1].refusal.plans[0]
    assert plan.hold_minutes == 18 * 60


def test_a_decrease_that_rides_along_costs_nothing() -> None:
    """Writes' big drop is worth the decrease; reads' small one goes in the same update."""
    now = MIDNIGHT + timedelta(hours=12)
    ledger = DecreaseLedger(10, now - timedelta(hours=2))
    options = resource_options({**PLANNED, "target-writes-scale-down-minutes": 0})
    seen = Observation(DimensionObservation(1000, 85.0), DimensionObservation(100, 50.0), ledger)
    decision = decide(options, seen, Counters(), now)
    assert decision.writes.target == 50
    assert decision.reads.target == 850


def test_off_by_default_and_for_threshold_mode() -> None:
    now = MIDNIGHT + timedelta(hours=12)
    ledger = DecreaseLedger(10, now - timedelta(hours=2))
    target_only = resource_options({"target-reads-utilisation": 100.0,
                                    "target-reads-scale-down-minutes": 0,
                                    "target-writes-utilisation": 100.0})
    assert decide(target_only, observation(1000, 850, ledger), Counters(), now).reads.target == 850
    threshold = resource_options({"decrease-planner-percent": 50.0})
    seen = Observation(DimensionObservation(100, 20.0), DimensionObservation(100, 50.0), ledger)
    assert decide(threshold, seen, Counters(), now).reads.target == 50


def test_the_log_says_why_and_until_when() -> None:
    now = MIDNIGHT + timedelta(hours=12)
    ledger = DecreaseLedger(10, now - timedelta(hours=2))
    decision = decide(resource_options(PLANNED), observation(1000, 800, ledger), Counters(), now)
    line = reason(decision.reads)
    assert "decrease deferred by the planner until 12:30 UTC" in line
    assert "frees 200 of 1000 units for 60 minutes of the quota" in line
    assert "worth waiting for a drop of at least 300 units" in line


def test_weigh_counts_the_minutes_already_waited() -> None:
    now = MIDNIGHT + timedelta(hours=12)
    plan = weigh(1000, 950, DecreaseLedger(10, now - timedelta(hours=2)), now, BudgetRules(),
                 10.0, now - timedelta(minutes=30))
    assert plan.waited_minutes == 30
    assert plan.worth == 50 * 90
    assert plan.price == 100 * 60
    assert not plan.worth_taking and plan.wait_minutes == 30
