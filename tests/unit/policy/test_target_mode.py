"""Target mode (target-*-utilisation) and scheduled floors, as a decision table.

Demand is consumed plus throttled capacity units per second over the lookback window; the
capacity a target needs is demand ÷ target. Observations here cover one minute (60 s), so
``throttled_units`` 600 is 10 CU/s. Rows assert targets, outcome codes and the stretch of low
demand kept in the counters, never wording (``test_notify.py`` and ``test_planner.py`` do).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamic_dynamodb.policy.budget import DecreaseLedger
from dynamic_dynamodb.policy.counters import Counters, LowDemand
from dynamic_dynamodb.policy.decide import decide
from dynamic_dynamodb.policy.forecast import Forecast
from dynamic_dynamodb.policy.observation import DimensionObservation, Observation
from dynamic_dynamodb.policy.outcomes import Outcome, Trigger
from tests.unit.policy.typed_options import resource_options

NOON = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
TARGET = {"target-reads-utilisation": 80.0, "target-reads-scale-down-minutes": 15}


def minutes_ago(minutes: float) -> datetime:
    return NOON - timedelta(minutes=minutes)


def seen(provisioned: int, demand_percent: float, throttled_units: float = 0.0,
         throttles: int = 0, complete: bool = True,
         forecast: Forecast | None = None) -> DimensionObservation:
    """``demand_percent``: consumed units as % of provisioned, over one minute."""
    return DimensionObservation(provisioned, demand_percent, throttles,
                                throttled_units=throttled_units, complete=complete,
                                window_seconds=60, forecast=forecast)


@dataclass(frozen=True)
class Row:
    reads: DimensionObservation
    expected: int  # reads target
    outcome: Outcome
    options: dict[str, Any] = field(default_factory=dict)
    low: LowDemand | None = None
    now: datetime = NOON
    expected_low: LowDemand | None = None
    check_low: bool = False


def row(name: str, *args: Any, **kwargs: Any) -> Any:
    return pytest.param(Row(*args, **kwargs), id=name)


LOW_20 = LowDemand(minutes_ago(20), 60, minutes_ago(20))  # low for 20 minutes, needed 60
LOW_5 = LowDemand(minutes_ago(5), 60, minutes_ago(5))

ROWS = [
    # ---- out: one check, straight to demand ÷ target ---------------------------------
    row("out on one check", seen(100, 120), 150, Outcome.SCALED_UP_CONSUMED),  # 120 / 0.8
    row("out counts throttled units", seen(100, 100, throttled_units=600, throttles=600),
        138, Outcome.SCALED_UP_THROTTLED),  # (100 + 10) / 0.8 = 137.5
    row("at the target: unchanged", seen(100, 80), 100, Outcome.UNCHANGED),
    row("out capped by max", seen(100, 200), 180, Outcome.SCALED_UP_CONSUMED,
        {"max-provisioned-reads": 180}),
    row("out disabled", seen(100, 200), 100, Outcome.UNCHANGED,
        {"enable-reads-up-scaling": False}),
    row("out ends a low stretch", seen(100, 120), 150, Outcome.SCALED_UP_CONSUMED,
        low=LOW_5, check_low=True, expected_low=None),
    # ---- in: only after N minutes low, straight to what the target needed ---------------
    row("low: a stretch starts", seen(100, 40), 100, Outcome.HELD_LOW_DEMAND,
        check_low=True, expected_low=LowDemand(NOON, 50, NOON)),
    row("low for 5 of 15 minutes", seen(100, 40), 100, Outcome.HELD_LOW_DEMAND, low=LOW_5),
    row("low for 20 minutes: in to the most needed", seen(100, 40), 60, Outcome.SCALED_DOWN,
        low=LOW_20),
    row("low for 15 minutes: in to what is needed now", seen(100, 40), 50,
        Outcome.SCALED_DOWN, low=LowDemand(minutes_ago(15), 45, minutes_ago(15))),
    row("scale-down minutes 0: in at once", seen(100, 40), 50, Outcome.SCALED_DOWN,
        {"target-reads-scale-down-minutes": 0}),
    row("within noise of the target: no stretch", seen(100, 75), 100, Outcome.UNCHANGED,
        check_low=True, expected_low=None),
    row("in never below min", seen(100, 8), 40, Outcome.RAISED_TO_MIN,
        {"min-provisioned-reads": 40}, low=LowDemand(minutes_ago(20), 10, minutes_ago(20))),
    row("above max: clamped", seen(300, 200), 250, Outcome.CLAMPED_TO_MAX,
        {"max-provisioned-reads": 250}),
    row("throttled: held, the stretch ends", seen(100, 40, throttled_units=60, throttles=60),
        100, Outcome.HELD_THROTTLED, low=LOW_20, check_low=True, expected_low=None),
    row("incomplete metrics: held, stretch kept", seen(100, 40, complete=False), 100,
        Outcome.HELD_INCOMPLETE_METRICS, low=LOW_20, check_low=True, expected_low=LOW_20),
    row("0 % consumed: held", seen(100, 0), 100, Outcome.HELD_ZERO_CONSUMED, low=LOW_20),
    row("0 % consumed allowed", seen(100, 0), 60, Outcome.SCALED_DOWN,
        {"allow-scaling-down-reads-on-0-percent": True}, low=LOW_20),
    row("down-scaling disabled", seen(100, 40), 100, Outcome.UNCHANGED,
        {"enable-reads-down-scaling": False}, low=LOW_20),
    row("maintenance window holds the decrease", seen(100, 40), 100, Outcome.HELD_WINDOW,
        {"maintenance-windows": "01:00-02:00"}, low=LOW_20, check_low=True,
        expected_low=LowDemand(LOW_20.since, 50, NOON, 60)),
    row("inside the maintenance window", seen(100, 40), 60, Outcome.SCALED_DOWN,
        {"maintenance-windows": "11:00-13:00"}, low=LOW_20),
    # ---- a stretch keeps the most needed over the last one to two scale-down times ------
    row("the level the stretch began at is forgotten",
        seen(100, 40), 60, Outcome.SCALED_DOWN,
        low=LowDemand(minutes_ago(40), 60, minutes_ago(20), 95)),
    # ---- predictive-scaling -----------------------------------------------------------
    # The forecast is a peak: it is met at 100 %, the target scales out further if needed.
    row("forecast ramp: out ahead of it", seen(100, 50, forecast=Forecast(200, 200)), 200,
        Outcome.SCALED_UP_CONSUMED, {"predictive-scaling": True}),
    row("forecast ignored without predictive-scaling",
        seen(100, 50, forecast=Forecast(200, 200)), 100, Outcome.HELD_LOW_DEMAND),
    row("never in below the near future's forecast",
        seen(100, 40, forecast=Forecast(40, 64)), 64, Outcome.SCALED_DOWN,
        {"predictive-scaling": True, "target-reads-scale-down-minutes": 0}),
    # ---- scheduled floors --------------------------------------------------------------
    row("scheduled floor raises min inside its window", seen(100, 40), 500,
        Outcome.RAISED_TO_MIN, {"scheduled-min-provisioned-reads": "11:55-13:00=500"}),
    row("scheduled floor off outside its window", seen(100, 40), 60, Outcome.SCALED_DOWN,
        {"scheduled-min-provisioned-reads": "13:00-14:00=500"}, low=LOW_20),
    row("scheduled floor wrapping midnight", seen(100, 40), 300, Outcome.RAISED_TO_MIN,
        {"scheduled-min-provisioned-reads": "23:00-00:30=300"},
        now=datetime(2026, 11, 23, 0, 15, tzinfo=timezone.utc)),
    row("scheduled floor: highest overlapping window", seen(100, 40), 400,
        Outcome.RAISED_TO_MIN,
        {"scheduled-min-provisioned-reads": "11:00-13:00=200, 12:00-12:30=400"}),
    row("scheduled floor below min-provisioned: min wins", seen(100, 40), 150,
        Outcome.RAISED_TO_MIN,
        {"scheduled-min-provisioned-reads": "11:00-13:00=120", "min-provisioned-reads": 150}),
]


@pytest.mark.parametrize("case", ROWS)
def test_target_mode_row(case: Row) -> None:
    options = resource_options({**TARGET, **case.options})
    observation = Observation(case.reads, DimensionObservation(100, 50.0))
    decision = decide(options, observation, Counters(reads_low=case.low), case.now)
    assert (decision.reads.target, decision.reads.outcome) == (case.expected, case.outcome)
    if case.check_low:
        assert decision.counters_after(carried_out=False).reads_low == case.expected_low


def test_scheduled_floor_applies_in_threshold_mode_too() -> None:
    options = resource_options({"scheduled-min-provisioned-writes": "11:00-13:00=300"})
    observation = Observation(DimensionObservation(100, 50.0), DimensionObservation(100, 50.0))
    decision = decide(options, observation, Counters(), NOON)
    assert decision.writes.target == 300
    assert decision.writes.outcome is Outcome.RAISED_TO_MIN
    assert decision.writes.scheduled_floor == 300
    assert decide(options, observation, Counters(), NOON + timedelta(hours=2)).writes.target == 100


def test_a_scheduled_floor_never_asks_for_more_than_dynamodb_allows() -> None:
    options = resource_options({**TARGET, "scheduled-min-provisioned-reads": "11:00-13:00=500"})
    capped = DimensionObservation(50, 40.0, 0, complete=True, window_seconds=60, ceiling=200)
    decision = decide(options, Observation(capped, DimensionObservation(100, 50.0)),
                      Counters(), NOON)
    assert decision.reads.target == 200
    assert decision.reads.scheduled_floor == 200


def test_a_scale_in_carried_out_ends_the_stretch_a_refused_one_keeps_it() -> None:
    options = resource_options(TARGET)
    observation = Observation(seen(100, 40), DimensionObservation(100, 50.0))
    decision = decide(options, observation, Counters(reads_low=LOW_20), NOON)
    assert decision.reads.outcome is Outcome.SCALED_DOWN
    assert decision.counters_after(carried_out=True).reads_low is None
    assert decision.counters_after(carried_out=False).reads_low is not None


def test_the_decrease_quota_keeps_the_stretch() -> None:
    options = resource_options(TARGET)
    ledger = DecreaseLedger(decreases_today=27, last_decrease=NOON - timedelta(hours=1))
    observation = Observation(seen(100, 40), DimensionObservation(100, 50.0), ledger)
    decision = decide(options, observation, Counters(reads_low=LOW_20), NOON)
    assert decision.reads.outcome is Outcome.DEFERRED_QUOTA
    assert decision.reads.target == 100
    assert decision.counters.reads_low is not None
    assert decision.counters.reads_low.since == LOW_20.since


def test_the_stretch_of_a_check_that_keeps_counting_is_carried_over_checks() -> None:
    """Fifteen one-minute checks at 40 % of 100 with an 80 % target: the 16th scales in."""
    options = resource_options(TARGET)
    observation = Observation(seen(100, 40), DimensionObservation(100, 50.0))
    counters = Counters()
    outcomes = []
    for minute in range(16):
        decision = decide(options, observation, counters, NOON + timedelta(minutes=minute))
        outcomes.append(decision.reads.outcome)
        counters = decision.counters_after(carried_out=False)
    assert outcomes[:15] == [Outcome.HELD_LOW_DEMAND] * 15
    assert outcomes[15] is Outcome.SCALED_DOWN
    assert decision.reads.target == 50


def test_scale_down_minutes_0_scales_in_to_what_this_check_needs_after_refusals() -> None:
    """0 minutes: every low check wants what it needs itself. Checks refused by the
    maintenance window keep the stretch (for since when it lasts), not the most the checks
    before needed: the wish follows the falling demand, and the first check the window
    allows goes to what that check needs. (The peak used to stop rotating at 0 minutes: the
    wishes stayed at 75, and the scale-in went to 75, what 11:55 needed.)"""
    options = resource_options({**TARGET, "target-reads-scale-down-minutes": 0,
                                "maintenance-windows": "12:00-13:00"})
    counters = Counters()
    wishes = []
    for minute, percent in zip(range(-5, 0), (60, 56, 52, 48, 44), strict=True):
        decision = decide(options, Observation(seen(100, percent), DimensionObservation(100, 50.0)),
                          counters, NOON + timedelta(minutes=minute))
        assert decision.reads.outcome is Outcome.HELD_WINDOW
        wishes.append(decision.reads.wish)
        counters = decision.counters_after(carried_out=False)
    assert wishes == [75, 70, 65, 60, 55]  # each check's demand ÷ 80 %
    assert counters.reads_low is not None and counters.reads_low.since == minutes_ago(5)
    decision = decide(options, Observation(seen(100, 40), DimensionObservation(100, 50.0)),
                      counters, NOON)
    assert (decision.reads.outcome, decision.reads.target) == (Outcome.SCALED_DOWN, 50)
    assert decision.reads.low_minutes == 5  # the stretch still says since when it lasts


def test_scale_down_minutes_0_never_holds_a_low_check() -> None:
    """A stretch kept from a bigger capacity (changed since by someone else) needed more than
    there is now: at 0 minutes the peak used to stay there for as long as the demand stayed
    low, holding every check. Now the first low check scales in to what it needs."""
    options = resource_options({**TARGET, "target-reads-scale-down-minutes": 0})
    counters = Counters(reads_low=LowDemand(minutes_ago(30), 75, minutes_ago(30)))
    outcomes = []
    for minute in range(3):
        decision = decide(options, Observation(seen(70, 40), DimensionObservation(100, 50.0)),
                          counters, NOON + timedelta(minutes=minute))
        outcomes.append((decision.reads.outcome, decision.reads.target))
        counters = decision.counters_after(carried_out=False)  # e.g. refused by DynamoDB
    assert outcomes == [(Outcome.SCALED_DOWN, 35)] * 3  # 70 × 40 % = 28 CU/s ÷ 80 %


def test_trigger_codes() -> None:
    options = resource_options({**TARGET, "predictive-scaling": True})
    up = decide(options, Observation(seen(100, 120), DimensionObservation(100, 50.0)),
                Counters(), NOON)
    assert up.reads.trigger is Trigger.TARGET_UTILISATION
    assert up.reads.needed == 150
    ahead = decide(options, Observation(seen(100, 50, forecast=Forecast(160, 160)),
                                        DimensionObservation(100, 50.0)), Counters(), NOON)
    assert ahead.reads.trigger is Trigger.FORECAST
    assert ahead.reads.target == 160


@settings(max_examples=120, deadline=None)
@given(
    st.floats(1, 100), st.integers(0, 30), st.none() | st.integers(1, 300),
    st.none() | st.integers(300, 3000), st.integers(1, 3000), st.floats(0, 400),
    st.integers(0, 5), st.floats(0, 5000), st.none() | st.integers(0, 60),
    st.integers(0, 3000), st.booleans(),
)
def test_target_mode_invariants(target: float, minutes: int, minimum: int | None,
                                maximum: int | None, provisioned: int, consumed: float,
                                throttles: int, throttled_units: float, low_for: int | None,
                                low_peak: int, complete: bool) -> None:
    """Within [min, max]; never below what is consumed; never down while throttled or on an
    incomplete window; a scale-in only after the scale-down minutes."""
    options = resource_options({"target-reads-utilisation": target,
                                "target-reads-scale-down-minutes": minutes,
                                "min-provisioned-reads": minimum,
                                "max-provisioned-reads": maximum})
    reads = seen(provisioned, consumed, throttled_units if throttles else 0.0, throttles,
                 complete)
    low = None if low_for is None else LowDemand(minutes_ago(low_for), low_peak,
                                                 minutes_ago(low_for))
    decision = decide(options, Observation(reads, DimensionObservation(100, 50.0)),
                      Counters(reads_low=low), NOON).reads
    floor = minimum or 1
    assert floor <= decision.target or (maximum is not None and maximum < floor)
    if maximum is not None and maximum >= floor:
        assert decision.target <= maximum
    if decision.is_decrease and decision.limit is not Outcome.CLAMPED_TO_MAX:
        assert throttles == 0 and complete
        assert decision.target >= min(provisioned, math.ceil(consumed * provisioned / 100))
        assert low is not None or minutes == 0
        if low is not None:
            assert low_for >= minutes or minutes == 0
