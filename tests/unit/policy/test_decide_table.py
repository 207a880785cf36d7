"""The decision table: one row per behaviour of Appendix A and §5, corrected by the decisions.

Options are typed values built in memory (``typed_options.py``); the loader's own tests check
that the same lines in a ``[table:]`` and a ``[gsi:]`` section give these same values, and
``decide`` has no notion of table or GSI (D7). Baseline, as in Appendix A: upper 90, lower 30,
±50 %, percent units, min 1, max 100000, one check before scale-down, no scale-down at 0 %,
and writes at 100 provisioned and 50 % consumed unless a row says otherwise. Rows assert
targets, counters and outcome codes, never wording (``tests/unit/test_notify.py`` does that).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from dynamic_dynamodb.config.options import ResourceOptions
from dynamic_dynamodb.dimensions import READS, WRITES
from dynamic_dynamodb.policy.budget import DecreaseLedger
from dynamic_dynamodb.policy.counters import Counters
from dynamic_dynamodb.policy.decide import Decision, decide
from dynamic_dynamodb.policy.observation import DimensionObservation, Observation
from dynamic_dynamodb.policy.outcomes import Outcome, Trigger
from tests.unit.policy.typed_options import resource_options

NOON = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)

BASELINE: dict[str, Any] = {
    "min-provisioned-reads": 1,
    "max-provisioned-reads": 100000,
    "min-provisioned-writes": 1,
    "max-provisioned-writes": 100000,
}


def baseline(options: dict[str, Any]) -> ResourceOptions:
    return resource_options({**BASELINE, **options})


def seen(provisioned: int, consumed: float = 50.0, throttles: int = 0, by_provisioned: float = 0.0,
         by_consumed: float = 0.0) -> DimensionObservation:
    return DimensionObservation(provisioned, consumed, throttles, by_provisioned, by_consumed)


@dataclass(frozen=True)
class Row:
    reads: DimensionObservation
    expected: tuple[int, int]  # (reads, writes) targets
    options: dict[str, Any] = field(default_factory=dict)
    writes: DimensionObservation = field(default_factory=lambda: seen(100, 50))
    counters: tuple[int, int] = (0, 0)
    expected_counters: tuple[int, int] = (0, 0)
    now: datetime = NOON
    ledger: DecreaseLedger = field(default_factory=DecreaseLedger)


def row(name: str, *args: Any, **kwargs: Any) -> Any:
    return pytest.param(Row(*args, **kwargs), id=name)


N3 = {"num-read-checks-before-scale-down": 3}
ROWS = [
    # ---- Appendix A, in its order -------------------------------------------------------
    row("up percent", seen(100, 95), (150, 100)),
    row("up consumption-based", seen(100, 150), (225, 100)),  # base 150, +75
    row("up units", seen(100, 95), (107, 100),
        {"increase-reads-unit": "units", "increase-reads-with": 7}),
    row("down", seen(100, 20), (50, 100)),
    row("down at 0 %", seen(100, 0), (100, 100)),
    row("down at 0 % allowed", seen(100, 0), (50, 100),
        {"allow-scaling-down-reads-on-0-percent": True}),
    row("N=3, counter 0", seen(100, 20), (100, 100), N3, expected_counters=(1, 0)),
    row("N=3, counter 2", seen(100, 20), (50, 100), N3, counters=(2, 0)),
    row("between thresholds", seen(100, 50), (100, 100), N3, counters=(2, 0),
        expected_counters=(2, 0)),
    row("reset percent", seen(100, 50), (100, 100),
        {**N3, "num-read-checks-reset-percent": 40}, counters=(2, 0)),
    row("reset percent, exactly", seen(100, 40), (100, 100),
        {**N3, "num-read-checks-reset-percent": 40}, counters=(2, 0)),
    # D3: 2.5.1's consumption guard refused to raise the table to max ("no update").
    row("max cap bug (D3)", seen(10, 150), (12, 100), {"max-provisioned-reads": 12}),
    row("max cap ok", seen(10, 95), (12, 100), {"max-provisioned-reads": 12}),
    row("above max", seen(600, 50), (500, 100), {"max-provisioned-reads": 500}),
    # D3: 2.5.1 left a busy table above max ("no update").
    row("above max, busy (D3)", seen(600, 90), (500, 100), {"max-provisioned-reads": 500}),
    row("below min", seen(5, 50), (10, 100), {"min-provisioned-reads": 10}),
    row("below min, busy", seen(5, 300), (23, 100), {"min-provisioned-reads": 10}),
    row("down blocked by guard (D4)", seen(100, 45), (100, 100),
        {"reads-lower-threshold": 50, "decrease-reads-with": 60}, expected_counters=(1, 0)),
    # "throttle count, table" → 110 and "throttle count, GSI" → 150 in 2.5.1. D7: a GSI
    # behaves exactly like a table, so both give 110.
    row("throttle count, table and GSI (D7)", seen(100, 50, throttles=10), (110, 100),
        {"throttled-reads-upper-threshold": 5, "increase-consumed-reads-with": 10}),
    row("consumed dict", seen(100, 85), (110, 100),
        {"increase-consumed-reads-scale": {0: 0, 80: 10, 95: 50}}),
    row("consumed dict, no key hit", seen(100, 96), (100, 100),
        {"increase-consumed-reads-scale": {97: 10}}),
    row("TP dict", seen(100, 50, by_provisioned=1.0), (120, 100),
        {"increase-throttled-by-provisioned-reads-scale": {0.5: 20, 2: 100}}),
    row("max of candidates", seen(100, 95, by_provisioned=3.0), (200, 100),
        {"increase-throttled-by-provisioned-reads-scale": {0.5: 20, 2: 100}}),
    row("TC dict units", seen(100, 50, by_consumed=10), (103, 100),
        {"increase-throttled-by-consumed-reads-scale": {5: 3},
         "increase-throttled-by-consumed-reads-unit": "units"}),
    row("dict float units", seen(100, 95), (102, 100),
        {"increase-consumed-reads-scale": {90: 2.7}, "increase-consumed-reads-unit": "units"}),
    # 2.5.1 dropped decrease-consumed-* for GSIs; D7 keeps them.
    row("decrease dict (D7)", seen(100, 15), (90, 100),
        {"decrease-consumed-reads-scale": {20: 10, 10: 30, 5: 50}}),
    # "writes throttled at max": table → no update (#319), GSI → (100, 50) in 2.5.1. D8: no
    # decrease while there are throttle events, for every dimension of tables and GSIs alike.
    row("writes throttled at max, table and GSI (D8)", seen(100, 50),
        (100, 100), {"throttled-writes-upper-threshold": 1, "max-provisioned-writes": 100},
        writes=seen(100, 20, throttles=3)),
    row("writes throttled, up-scaling off (D8)", seen(100, 50), (100, 100),
        {"throttled-writes-upper-threshold": 1, "enable-writes-up-scaling": False},
        writes=seen(100, 20, throttles=3)),
    row("percent float artefact up (D1)", seen(100, 95), (107, 100), {"increase-reads-with": 7}),
    row("percent float artefact down (D1)", seen(100, 20), (71, 100), {"decrease-reads-with": 29}),
    # D6: decrease only together with the other dimension; 2.5.1 gave (50, 100). The refused
    # decrease keeps its count (D5).
    row("rw-together, R down W same (D6)", seen(100, 20), (100, 100),
        {"always-decrease-rw-together": True}, expected_counters=(1, 0)),
    row("rw-together, R down W up", seen(100, 20), (100, 150),
        {"always-decrease-rw-together": True}, writes=seen(100, 95), expected_counters=(1, 0)),
    row("rw-together, both down", seen(100, 20), (50, 50),
        {"always-decrease-rw-together": True}, writes=seen(100, 20)),
    row("autoscaling off", seen(5, 50), (5, 100),
        {"enable-reads-autoscaling": False, "min-provisioned-reads": 10}, counters=(3, 3),
        expected_counters=(0, 3)),
    row("up-scaling off, below min", seen(5, 95), (10, 100),
        {"enable-reads-up-scaling": False, "min-provisioned-reads": 10}),
    # "circuit breaker open": the breaker is asked before decide() runs; an open breaker skips
    # the resource and resets its counters in the engine (D5, D10), so it is not a decide() row.
    row("upper float threshold, at", seen(100, 90.0), (100, 100), {"reads-upper-threshold": 90.0}),
    row("upper float threshold, above", seen(100, 90.01), (150, 100),
        {"reads-upper-threshold": 90.0}),
    row("lower exact", seen(100, 30), (100, 100)),
    row("units decrease below 1", seen(3, 10), (1, 100),
        {"decrease-reads-unit": "units", "decrease-reads-with": 5, "min-provisioned-reads": 1}),
    # 2.5.1 got there through its 2 × current min relic; D3 makes min the floor directly.
    row("decrease with min 2x cap", seen(5, 10), (100, 100), {"min-provisioned-reads": 100}),
    row("tiny table, 1", seen(1, 1), (1, 100)),
    row("tiny table, 3", seen(3, 1), (2, 100)),
    row("writes consumption-based", seen(100, 50), (100, 23), writes=seen(10, 150)),
    # "alarm": the targets here; the alarm itself in test_alarm_row below.
    row("alarm", seen(100, 95), (150, 50),
        {"reads-upper-alarm-threshold": 90, "writes-lower-alarm-threshold": 10,
         "sns-topic-arn": "arn:aws:sns:us-east-1:123456789012:t"},
        writes=seen(100, 5)),

    # ---- D3: min and max are hard limits while autoscaling is enabled --------------------
    row("consumption never lifts above max (D3)", seen(100, 300), (120, 100),
        {"max-provisioned-reads": 120}),
    row("above max, wants a decrease further (D3)", seen(600, 20), (300, 100),
        {"max-provisioned-reads": 500}),
    row("above max, decrease not yet due: lowered to max (D3)", seen(600, 20), (500, 100),
        {"max-provisioned-reads": 500, **N3}),
    # §5.5 says a disabled down-scaling also stops the max clamp; D3 wins.
    row("above max, down-scaling off: lowered to max (D3)", seen(600, 20), (500, 100),
        {"max-provisioned-reads": 500, "enable-reads-down-scaling": False}),
    row("above max, autoscaling off: frozen (D3)", seen(600, 20), (600, 100),
        {"max-provisioned-reads": 500, "enable-reads-autoscaling": False}),
    row("below min, autoscaling off: frozen (D3)", seen(5, 95), (5, 100),
        {"min-provisioned-reads": 10, "enable-reads-autoscaling": False}),
    row("decrease stops at min (D3)", seen(100, 5), (80, 100), {"min-provisioned-reads": 80}),
    row("no limits configured (D2)", seen(100000, 95), (150000, 100),
        {"max-provisioned-reads": None, "min-provisioned-reads": None}),

    # ---- D4: the consumption guard only blocks decreases -----------------------------------
    row("guard does not touch increases (D4)", seen(100, 150), (225, 100),
        {"reads-lower-threshold": 50}),
    row("guard: decrease to exactly consumption passes (D4)", seen(100, 40), (40, 100),
        {"reads-lower-threshold": 50, "decrease-reads-with": 60}),
    row("guard: decrease dict below consumption blocked (D4)", seen(100, 15), (100, 100),
        {"decrease-consumed-reads-scale": {20: 90}}, expected_counters=(1, 0)),

    # ---- D8: no decrease while any throttle events, threshold or not -----------------------
    row("reads down with throttles, no threshold (D8)", seen(100, 20, throttles=1), (100, 100)),
    row("writes down with throttles below threshold (D8)", seen(100, 50), (100, 100),
        {"throttled-writes-upper-threshold": 10}, writes=seen(100, 20, throttles=3)),
    row("throttle count over threshold scales up writes", seen(100, 50), (100, 150),
        {"throttled-writes-upper-threshold": 1}, writes=seen(100, 20, throttles=3)),
    row("throttle count in units", seen(100, 50, throttles=10), (105, 100),
        {"throttled-reads-upper-threshold": 5, "increase-reads-unit": "units",
         "increase-reads-with": 5, "increase-consumed-reads-with": 10}),
    row("throttle count exactly at threshold: no up", seen(100, 50, throttles=5), (100, 100),
        {"throttled-reads-upper-threshold": 5}),

    # ---- §5.5 enable flags -----------------------------------------------------------------
    row("up-scaling off", seen(100, 95), (100, 100), {"enable-reads-up-scaling": False}),
    row("down-scaling off", seen(100, 20), (100, 100), {"enable-reads-down-scaling": False}),
    row("down-scaling off keeps the counter", seen(100, 20), (100, 100),
        {"enable-reads-down-scaling": False, **N3}, counters=(2, 0), expected_counters=(2, 0)),
    row("writes flags are the writes' own", seen(100, 95), (150, 100),
        {"enable-writes-up-scaling": False}, writes=seen(100, 95)),

    # ---- D16 dicts replace the thresholds ------------------------------------------------
    row("consumed dict scales up below the upper threshold", seen(100, 85), (110, 100),
        {"increase-consumed-reads-scale": {80: 10}}),
    row("consumed dict value 0 means no scaling", seen(100, 95), (100, 100),
        {"increase-consumed-reads-scale": {0: 0}}),
    row("decrease dict replaces the lower threshold", seen(100, 25), (100, 100),
        {"decrease-consumed-reads-scale": {10: 30}}),
    row("decrease-consumed with and unit", seen(100, 20), (90, 100),
        {"decrease-consumed-reads-with": 10, "decrease-consumed-reads-unit": "units"}),
    row("increase-consumed with and unit", seen(100, 95), (110, 100),
        {"increase-consumed-reads-with": 10, "increase-consumed-reads-unit": "units"}),

    # ---- D5 counters -----------------------------------------------------------------------
    row("counter counts checks that want a decrease", seen(100, 20), (100, 100), N3,
        counters=(1, 0), expected_counters=(2, 0)),
    row("an increase resets the counter", seen(100, 95), (150, 100), N3, counters=(2, 0)),
    row("an applied decrease resets the counter", seen(100, 20), (50, 100), N3, counters=(5, 0)),
    row("reset percent below: counter kept", seen(100, 39), (100, 100),
        {**N3, "num-read-checks-reset-percent": 40}, counters=(2, 0), expected_counters=(2, 0)),
    # Decided: a check that wanted a decrease but saw throttle events neither counts nor
    # resets (D8 vetoes the decrease; D5 lists no reset for it).
    row("throttle veto keeps the counter as is (D5, D8)", seen(100, 20, throttles=2), (100, 100),
        N3, counters=(2, 0), expected_counters=(2, 0)),
    row("writes count separately", seen(100, 50), (100, 100),
        {"num-write-checks-before-scale-down": 2}, writes=seen(100, 20), counters=(4, 0),
        expected_counters=(4, 1)),
]


# What each row's reads and writes did, as codes: the engine, the metrics and the log branch
# on these, never on wording.
OUTCOMES = {
    "up percent": (Outcome.SCALED_UP_CONSUMED, Outcome.UNCHANGED),
    "up consumption-based": (Outcome.SCALED_UP_CONSUMED, Outcome.UNCHANGED),
    "up units": (Outcome.SCALED_UP_CONSUMED, Outcome.UNCHANGED),
    "down": (Outcome.SCALED_DOWN, Outcome.UNCHANGED),
    "down at 0 %": (Outcome.HELD_ZERO_CONSUMED, Outcome.UNCHANGED),
    "down at 0 % allowed": (Outcome.SCALED_DOWN, Outcome.UNCHANGED),
    "N=3, counter 0": (Outcome.HELD_COUNTING, Outcome.UNCHANGED),
    "N=3, counter 2": (Outcome.SCALED_DOWN, Outcome.UNCHANGED),
    "between thresholds": (Outcome.UNCHANGED, Outcome.UNCHANGED),
    "reset percent": (Outcome.UNCHANGED, Outcome.UNCHANGED),
    "reset percent, exactly": (Outcome.UNCHANGED, Outcome.UNCHANGED),
    "max cap bug (D3)": (Outcome.SCALED_UP_CONSUMED, Outcome.UNCHANGED),
    "max cap ok": (Outcome.SCALED_UP_CONSUMED, Outcome.UNCHANGED),
    "above max": (Outcome.CLAMPED_TO_MAX, Outcome.UNCHANGED),
    "above max, busy (D3)": (Outcome.CLAMPED_TO_MAX, Outcome.UNCHANGED),
    "below min": (Outcome.RAISED_TO_MIN, Outcome.UNCHANGED),
    "below min, busy": (Outcome.SCALED_UP_CONSUMED, Outcome.UNCHANGED),
    "down blocked by guard (D4)": (Outcome.HELD_CONSUMPTION, Outcome.UNCHANGED),
    "throttle count, table and GSI (D7)": (Outcome.SCALED_UP_THROTTLED, Outcome.UNCHANGED),
    "consumed dict": (Outcome.SCALED_UP_CONSUMED, Outcome.UNCHANGED),
    "consumed dict, no key hit": (Outcome.UNCHANGED, Outcome.UNCHANGED),
    "TP dict": (Outcome.SCALED_UP_THROTTLED, Outcome.UNCHANGED),
    "max of candidates": (Outcome.SCALED_UP_THROTTLED, Outcome.UNCHANGED),
    "TC dict units": (Outcome.SCALED_UP_THROTTLED, Outcome.UNCHANGED),
    "dict float units": (Outcome.SCALED_UP_CONSUMED, Outcome.UNCHANGED),
    "decrease dict (D7)": (Outcome.SCALED_DOWN, Outcome.UNCHANGED),
    "writes throttled at max, table and GSI (D8)": (Outcome.UNCHANGED, Outcome.HELD_THROTTLED),
    "writes throttled, up-scaling off (D8)": (Outcome.UNCHANGED, Outcome.HELD_THROTTLED),
    "percent float artefact up (D1)": (Outcome.SCALED_UP_CONSUMED, Outcome.UNCHANGED),
    "percent float artefact down (D1)": (Outcome.SCALED_DOWN, Outcome.UNCHANGED),
    "rw-together, R down W same (D6)": (Outcome.HELD_RW_TOGETHER, Outcome.UNCHANGED),
    "rw-together, R down W up": (Outcome.HELD_RW_TOGETHER, Outcome.SCALED_UP_CONSUMED),
    "rw-together, both down": (Outcome.SCALED_DOWN, Outcome.SCALED_DOWN),
    "autoscaling off": (Outcome.FROZEN, Outcome.UNCHANGED),
    "up-scaling off, below min": (Outcome.RAISED_TO_MIN, Outcome.UNCHANGED),
    "upper float threshold, at": (Outcome.UNCHANGED, Outcome.UNCHANGED),
    "upper float threshold, above": (Outcome.SCALED_UP_CONSUMED, Outcome.UNCHANGED),
    "lower exact": (Outcome.UNCHANGED, Outcome.UNCHANGED),
    "units decrease below 1": (Outcome.SCALED_DOWN, Outcome.UNCHANGED),
    "decrease with min 2x cap": (Outcome.RAISED_TO_MIN, Outcome.UNCHANGED),
    "tiny table, 1": (Outcome.UNCHANGED, Outcome.UNCHANGED),
    "tiny table, 3": (Outcome.SCALED_DOWN, Outcome.UNCHANGED),
    "writes consumption-based": (Outcome.UNCHANGED, Outcome.SCALED_UP_CONSUMED),
    "alarm": (Outcome.SCALED_UP_CONSUMED, Outcome.SCALED_DOWN),
    "consumption never lifts above max (D3)": (Outcome.SCALED_UP_CONSUMED, Outcome.UNCHANGED),
    "above max, wants a decrease further (D3)": (Outcome.SCALED_DOWN, Outcome.UNCHANGED),
    "above max, decrease not yet due: lowered to max (D3)": (Outcome.CLAMPED_TO_MAX, Outcome.UNCHANGED),
    "above max, down-scaling off: lowered to max (D3)": (Outcome.CLAMPED_TO_MAX, Outcome.UNCHANGED),
    "above max, autoscaling off: frozen (D3)": (Outcome.FROZEN, Outcome.UNCHANGED),
    "below min, autoscaling off: frozen (D3)": (Outcome.FROZEN, Outcome.UNCHANGED),
    "decrease stops at min (D3)": (Outcome.SCALED_DOWN, Outcome.UNCHANGED),
    "no limits configured (D2)": (Outcome.SCALED_UP_CONSUMED, Outcome.UNCHANGED),
    "guard does not touch increases (D4)": (Outcome.SCALED_UP_CONSUMED, Outcome.UNCHANGED),
    "guard: decrease to exactly consumption passes (D4)": (Outcome.SCALED_DOWN, Outcome.UNCHANGED),
    "guard: decrease dict below consumption blocked (D4)": (Outcome.HELD_CONSUMPTION, Outcome.UNCHANGED),
    "reads down with throttles, no threshold (D8)": (Outcome.HELD_THROTTLED, Outcome.UNCHANGED),
    "writes down with throttles below threshold (D8)": (Outcome.UNCHANGED, Outcome.HELD_THROTTLED),
    "throttle count over threshold scales up writes": (Outcome.UNCHANGED, Outcome.SCALED_UP_THROTTLED),
    "throttle count in units": (Outcome.SCALED_UP_THROTTLED, Outcome.UNCHANGED),
    "throttle count exactly at threshold: no up": (Outcome.UNCHANGED, Outcome.UNCHANGED),
    "up-scaling off": (Outcome.UNCHANGED, Outcome.UNCHANGED),
    "down-scaling off": (Outcome.UNCHANGED, Outcome.UNCHANGED),
    "down-scaling off keeps the counter": (Outcome.UNCHANGED, Outcome.UNCHANGED),
    "writes flags are the writes' own": (Outcome.SCALED_UP_CONSUMED, Outcome.UNCHANGED),
    "consumed dict scales up below the upper threshold": (Outcome.SCALED_UP_CONSUMED, Outcome.UNCHANGED),
    "consumed dict value 0 means no scaling": (Outcome.UNCHANGED, Outcome.UNCHANGED),
    "decrease dict replaces the lower threshold": (Outcome.UNCHANGED, Outcome.UNCHANGED),
    "decrease-consumed with and unit": (Outcome.SCALED_DOWN, Outcome.UNCHANGED),
    "increase-consumed with and unit": (Outcome.SCALED_UP_CONSUMED, Outcome.UNCHANGED),
    "counter counts checks that want a decrease": (Outcome.HELD_COUNTING, Outcome.UNCHANGED),
    "an increase resets the counter": (Outcome.SCALED_UP_CONSUMED, Outcome.UNCHANGED),
    "an applied decrease resets the counter": (Outcome.SCALED_DOWN, Outcome.UNCHANGED),
    "reset percent below: counter kept": (Outcome.UNCHANGED, Outcome.UNCHANGED),
    "throttle veto keeps the counter as is (D5, D8)": (Outcome.HELD_THROTTLED, Outcome.UNCHANGED),
    "writes count separately": (Outcome.UNCHANGED, Outcome.HELD_COUNTING),
}


def observe(spec: Row) -> Observation:
    return Observation(spec.reads, spec.writes, spec.ledger)


def targets(decision: Decision) -> tuple[int, int]:
    return decision.reads.target, decision.writes.target


def test_every_row_has_its_outcomes() -> None:
    assert sorted(OUTCOMES) == sorted(param.id for param in ROWS)


@pytest.mark.parametrize("spec", ROWS)
def test_decision_row(spec: Row, request: pytest.FixtureRequest) -> None:
    options = baseline(spec.options)
    decision = decide(options, observe(spec), Counters(*spec.counters), spec.now)
    assert targets(decision) == spec.expected
    assert decision.counters == Counters(*spec.expected_counters)
    for dim in (READS, WRITES):
        change = decision.dimension(dim)
        assert change.current == observe(spec).dimension(dim).provisioned
        assert change.dimension == dim
        # the outcome says whether capacity moves, and which way
        assert change.outcome.changes == (change.target != change.current)
    row_id = request.node.callspec.id
    assert (decision.reads.outcome, decision.writes.outcome) == OUTCOMES[row_id]


# ---- outcomes say why --------------------------------------------------------------------

@pytest.mark.parametrize(
    ("options", "reads", "trigger", "outcome"),
    [
        ({}, seen(100, 95), Trigger.CONSUMED_ABOVE_THRESHOLD, Outcome.SCALED_UP_CONSUMED),
        ({}, seen(100, 20), Trigger.CONSUMED_BELOW_THRESHOLD, Outcome.SCALED_DOWN),
        ({}, seen(100, 0), Trigger.ZERO_CONSUMED, Outcome.HELD_ZERO_CONSUMED),
        ({}, seen(100, 20, throttles=3), Trigger.CONSUMED_BELOW_THRESHOLD, Outcome.HELD_THROTTLED),
        ({"reads-lower-threshold": 50, "decrease-reads-with": 60}, seen(100, 45),
         Trigger.CONSUMED_BELOW_THRESHOLD, Outcome.HELD_CONSUMPTION),
        ({"throttled-reads-upper-threshold": 5}, seen(100, 50, throttles=9),
         Trigger.THROTTLED_EVENTS, Outcome.SCALED_UP_THROTTLED),
        ({"max-provisioned-reads": 500}, seen(600, 50), Trigger.NONE, Outcome.CLAMPED_TO_MAX),
        ({"min-provisioned-reads": 10}, seen(5, 50), Trigger.NONE, Outcome.RAISED_TO_MIN),
        ({"enable-reads-autoscaling": False}, seen(100, 95), Trigger.DISABLED, Outcome.FROZEN),
        ({"increase-throttled-by-provisioned-reads-scale": {1: 20}}, seen(100, 50, by_provisioned=2),
         Trigger.THROTTLED_BY_PROVISIONED_SCALE, Outcome.SCALED_UP_THROTTLED),
        ({"increase-throttled-by-consumed-reads-scale": {1: 20}}, seen(100, 50, by_consumed=2),
         Trigger.THROTTLED_BY_CONSUMED_SCALE, Outcome.SCALED_UP_THROTTLED),
        ({"increase-consumed-reads-scale": {80: 10}}, seen(100, 85),
         Trigger.CONSUMED_SCALE_UP, Outcome.SCALED_UP_CONSUMED),
        ({"decrease-consumed-reads-scale": {30: 10}}, seen(100, 20),
         Trigger.CONSUMED_SCALE_DOWN, Outcome.SCALED_DOWN),
    ],
)
def test_outcomes_name_the_cause(options: dict[str, Any], reads: DimensionObservation,
                                 trigger: Trigger, outcome: Outcome) -> None:
    change = decide(baseline(options), Observation(reads, seen(100)), Counters(), NOON).reads
    assert (change.trigger, change.outcome) == (trigger, outcome)


# ---- maintenance windows (D9): outside all windows only increases happen ------------------

def utc(clock: str) -> datetime:
    hours, minutes = clock.split(":")
    return NOON.replace(hour=int(hours), minute=int(minutes))


@pytest.mark.parametrize(
    ("windows", "clock", "reads", "writes", "expected", "expected_counters"),
    [
        ("11:00-13:00", "12:00", seen(100, 20), seen(100), (50, 100), (0, 0)),
        ("11:00-13:00", "11:00", seen(100, 20), seen(100), (50, 100), (0, 0)),  # inclusive
        ("11:00-13:00", "13:00", seen(100, 20), seen(100), (50, 100), (0, 0)),
        ("11:00-13:00", "13:01", seen(100, 20), seen(100), (100, 100), (1, 0)),
        ("01:00-02:00", "12:00", seen(100, 20), seen(100), (100, 100), (1, 0)),
        ("01:00-02:00", "12:00", seen(100, 95), seen(100), (150, 100), (0, 0)),  # increases only
        ("01:00-02:00", "12:00", seen(100, 20), seen(100, 95), (100, 150), (1, 0)),
        ("01:00-02:00", "12:00", seen(100, 95), seen(100, 20), (150, 100), (0, 1)),
        ("22:00-02:00", "23:30", seen(100, 20), seen(100), (50, 100), (0, 0)),  # wraps midnight
        ("22:00-02:00", "00:00", seen(100, 20), seen(100), (50, 100), (0, 0)),
        ("22:00-02:00", "02:00", seen(100, 20), seen(100), (50, 100), (0, 0)),
        ("22:00-02:00", "02:01", seen(100, 20), seen(100), (100, 100), (1, 0)),
        ("22:00-02:00", "21:59", seen(100, 20), seen(100), (100, 100), (1, 0)),
        ("22:00-23:59, 0:00-6:00", "03:00", seen(100, 20), seen(100), (50, 100), (0, 0)),
        ("9:00-10:00", "09:30", seen(100, 20), seen(100), (50, 100), (0, 0)),  # one-digit hour
        # Decided (D3 over D9): max is a hard limit, so a table above max is lowered to max
        # even outside the windows; only the part of a decrease below max waits for a window.
        ("01:00-02:00", "12:00", seen(600, 50), seen(100), (500, 100), (0, 0)),
        ("01:00-02:00", "12:00", seen(600, 20), seen(100), (500, 100), (0, 0)),
        # Below min is an increase, never held back.
        ("01:00-02:00", "12:00", seen(5, 20), seen(100), (10, 100), (0, 0)),
    ],
)
def test_maintenance_window_gate(windows: str, clock: str, reads: DimensionObservation,
                                 writes: DimensionObservation, expected: tuple[int, int],
                                 expected_counters: tuple[int, int]) -> None:
    options = {"maintenance-windows": windows, "max-provisioned-reads": 500,
               "min-provisioned-reads": 10}
    resource = baseline(options)
    decision = decide(resource, Observation(reads, writes), Counters(), utc(clock))
    assert targets(decision) == expected
    assert decision.counters == Counters(*expected_counters)
    wanted_down = reads.consumed_percent < 30 and reads.provisioned > 10
    inside = expected[0] == 50
    held = [step.refusal.code for step in decision.reads.refusals]
    assert held == ([Outcome.HELD_WINDOW] if wanted_down and not inside else [])


def test_refused_decrease_keeps_its_count_until_a_window_opens() -> None:
    # D5 (#223): a decrease refused outside the window keeps the count, so the first check
    # inside the window decreases at once instead of starting from zero.
    options = {"maintenance-windows": "01:00-02:00", "num-read-checks-before-scale-down": 3}
    resource = baseline(options)
    counters = Counters()
    low = Observation(seen(100, 20), seen(100))
    history = []
    for clock in ("23:40", "23:50", "00:00", "00:10", "00:20", "01:00"):
        decision = decide(resource, low, counters, utc(clock))
        counters = decision.counters
        history.append((decision.reads.target, counters.reads))
    assert history == [(100, 1), (100, 2), (100, 3), (100, 4), (100, 5), (50, 0)]


# ---- rw-together (D6) -----------------------------------------------------------------------

RW = {"always-decrease-rw-together": True, "min-provisioned-writes": 10,
      "min-provisioned-reads": 10}


@pytest.mark.parametrize(
    ("reads", "writes", "counters", "options", "expected", "expected_counters"),
    [
        (seen(100, 20), seen(100, 50), (0, 0), {}, (100, 100), (1, 0)),
        (seen(100, 50), seen(100, 20), (0, 0), {}, (100, 100), (0, 1)),
        (seen(100, 20), seen(100, 20), (0, 0), {}, (50, 50), (0, 0)),
        (seen(100, 20), seen(100, 95), (0, 0), {}, (100, 150), (1, 0)),
        # the other dimension already at its minimum: the decrease goes ahead
        (seen(100, 20), seen(10, 50), (0, 0), {}, (50, 10), (0, 0)),
        (seen(100, 20), seen(10, 5), (0, 0), {}, (50, 10), (0, 0)),
        # ... but not when that one is being increased from its minimum
        (seen(100, 20), seen(10, 95), (0, 0), {}, (100, 15), (1, 0)),
        # the other wants a decrease but is still counting: wait, keeping the count (D5)
        (seen(100, 20), seen(100, 20), (2, 0), {"num-write-checks-before-scale-down": 3},
         (100, 100), (3, 1)),
        (seen(100, 20), seen(100, 20), (3, 2), {"num-write-checks-before-scale-down": 3},
         (50, 50), (0, 0)),
        # the other cannot decrease (throttled, D8): wait
        (seen(100, 20), seen(100, 20, throttles=1), (0, 0), {}, (100, 100), (1, 0)),
        # Decided: the other dimension can never decrease (frozen, or down-scaling off), so
        # waiting for it would block for ever: the decrease goes ahead alone.
        (seen(100, 20), seen(100, 20), (0, 0), {"enable-writes-autoscaling": False},
         (50, 100), (0, 0)),
        (seen(100, 20), seen(100, 20), (0, 0), {"enable-writes-down-scaling": False},
         (50, 100), (0, 0)),
        (seen(100, 20), seen(100, 50), (0, 0), {"enable-writes-up-scaling": False},
         (100, 100), (1, 0)),
        # increases are never held back by rw-together
        (seen(100, 95), seen(100, 50), (0, 0), {}, (150, 100), (0, 0)),
        # a table above max is lowered to max regardless (D3)
        (seen(600, 50), seen(100, 50), (0, 0), {"max-provisioned-reads": 500},
         (500, 100), (0, 0)),
    ],
)
def test_rw_together_gate(reads: DimensionObservation, writes: DimensionObservation,
                          counters: tuple[int, int], options: dict[str, str],
                          expected: tuple[int, int], expected_counters: tuple[int, int]) -> None:
    resource = baseline({**RW, **options})
    decision = decide(resource, Observation(reads, writes), Counters(*counters), NOON)
    assert targets(decision) == expected
    assert decision.counters == Counters(*expected_counters)


def test_rw_together_off_decreases_alone() -> None:
    resource = baseline({})
    decision = decide(resource, Observation(seen(100, 20), seen(100, 50)), Counters(), NOON)
    assert targets(decision) == (50, 100)


# ---- the decrease budget, where decide() uses it ------------------------------------------

def test_exhausted_budget_defers_decreases_but_not_increases() -> None:
    ledger = DecreaseLedger(decreases_today=27, last_decrease=NOON - timedelta(hours=1))
    resource = baseline({"num-read-checks-before-scale-down": 2})
    decision = decide(resource, Observation(seen(100, 20), seen(100, 95), ledger),
                      Counters(reads=1), NOON)
    assert targets(decision) == (100, 150)
    assert decision.counters == Counters(2, 0)  # the refused decrease keeps its count (D5)
    assert decision.budget_exhausted
    assert decision.reads.outcome is Outcome.DEFERRED_QUOTA
    assert decision.deferred == decision.reads


def test_exhausted_budget_also_holds_a_move_down_to_max() -> None:
    # DynamoDB itself refuses decreases once the day's quota is used, so there is no point in
    # sending one: the table stays above max until the quota allows (D3 cannot beat AWS).
    ledger = DecreaseLedger(decreases_today=27, last_decrease=NOON - timedelta(hours=1))
    resource = baseline({"max-provisioned-reads": 500})
    decision = decide(resource, Observation(seen(600, 50), seen(100), ledger), Counters(), NOON)
    assert targets(decision) == (600, 100)
    assert decision.without_decreases().reads.target == 600


@pytest.mark.parametrize(
    ("reads", "expected"),
    [
        (seen(100, 95), (100, 100)),  # held by the cooldown
        (seen(100, 150), (225, 100)),  # consumption above provisioning: not held
        (seen(5, 50), (10, 100)),  # below min: min is a hard limit (D3)
        (seen(5, 95), (10, 100)),  # the increase waits, the limit does not
    ],
)
def test_increase_cooldown_keeps_the_limits(reads: DimensionObservation, expected: tuple[int, int]) -> None:
    ledger = DecreaseLedger(last_increase=NOON - timedelta(minutes=5))
    options = {"increase-cooldown-minutes": 30, "min-provisioned-reads": 10}
    resource = baseline(options)
    decision = decide(resource, Observation(reads, seen(100), ledger), Counters(reads=2), NOON)
    assert targets(decision) == expected
    # a held increase keeps the count; a change carried out resets it (D5)
    assert decision.reads.counter == (2 if expected[0] == reads.provisioned else 0)


# ---- alarms (§5.7, D18) -----------------------------------------------------------------------

def test_alarm_row() -> None:
    # Appendix A "alarm": reads 95 % ≥ 90 (high), writes 5 % < 10 (low): one high alarm only.
    options = {"reads-upper-alarm-threshold": 90, "writes-lower-alarm-threshold": 10}
    resource = baseline(options)
    decision = decide(resource, Observation(seen(100, 95), seen(100, 5)), Counters(), NOON)
    assert decision.alarm is not None
    assert decision.alarm.kind == "high-throughput-alarm"
    assert [(line.dimension, line.consumed_percent, line.threshold)
            for line in decision.alarm.lines] == [(READS, 95, 90)]


@pytest.mark.parametrize(
    ("options", "reads", "writes", "kind", "lines"),
    [
        ({}, 99, 1, None, []),  # thresholds 0 = off
        ({"reads-upper-alarm-threshold": 90}, 90, 50, "high-throughput-alarm", [READS]),
        ({"reads-upper-alarm-threshold": 90}, 89.99, 50, None, []),
        ({"reads-lower-alarm-threshold": 10}, 9.99, 50, "low-throughput-alarm", [READS]),
        ({"reads-lower-alarm-threshold": 10}, 10, 50, None, []),
        ({"reads-upper-alarm-threshold": 80, "writes-upper-alarm-threshold": 80}, 85, 95,
         "high-throughput-alarm", [READS, WRITES]),
        ({"reads-lower-alarm-threshold": 10, "writes-lower-alarm-threshold": 10}, 5, 5,
         "low-throughput-alarm", [READS, WRITES]),
        # a high alarm suppresses the low one, whichever dimension raises which
        ({"writes-upper-alarm-threshold": 80, "reads-lower-alarm-threshold": 10}, 5, 85,
         "high-throughput-alarm", [WRITES]),
        ({"writes-lower-alarm-threshold": 10}, 50, 0, "low-throughput-alarm", [WRITES]),
        # alarms are evaluated even when autoscaling of that dimension is off (§5.7)
        ({"enable-reads-autoscaling": False, "reads-upper-alarm-threshold": 90}, 95, 50,
         "high-throughput-alarm", [READS]),
    ],
)
def test_alarms(options: dict[str, str], reads: float, writes: float, kind: str | None,
                lines: list) -> None:
    resource = baseline(options)
    decision = decide(resource, Observation(seen(100, reads), seen(100, writes)), Counters(),
                      NOON)
    if kind is None:
        assert decision.alarm is None
    else:
        assert decision.alarm is not None
        assert decision.alarm.kind == kind
        assert [line.dimension for line in decision.alarm.lines] == lines
