"""Invariants of decide(), checked with hypothesis over generated options and observations."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from dynamic_dynamodb.config.options import DimensionOptions, ResourceOptions
from dynamic_dynamodb.config.schema import parse_scale
from dynamic_dynamodb.dimensions import DIMENSIONS, READS, WRITES
from dynamic_dynamodb.policy import calculators as calc
from dynamic_dynamodb.policy.budget import DecreaseLedger
from dynamic_dynamodb.policy.counters import Counters
from dynamic_dynamodb.policy.decide import Decision, decide, decide_dimension, may_want_decrease
from dynamic_dynamodb.policy.observation import DimensionObservation, Observation
from dynamic_dynamodb.windows import Windows

# Modest example counts: data generation dominates, and the whole file should take seconds.
PROPERTY = settings(max_examples=80, deadline=None)

percent = st.floats(min_value=0, max_value=400, allow_nan=False, allow_infinity=False)
small_percent = st.floats(min_value=0, max_value=30, allow_nan=False, allow_infinity=False)
units = st.sampled_from(["percent", "units"])


def scales(*texts: str) -> st.SearchStrategy[tuple | None]:
    return st.sampled_from([None, *(parse_scale(text) for text in texts)])


UP_SCALES = scales("{0: 0, 80: 10, 95: 50}", "{97: 10}", "{0: 5, 120: 100}", "{90: 2.7}")
THROTTLE_SCALES = scales("{0.5: 20, 2: 100}", "{5: 3}", "{0: 0, 1: 150}")
DOWN_SCALES = scales("{20: 10, 10: 30, 5: 50}", "{20: 90}", "{50: 60}")


@st.composite
def dimension_options(draw: st.DrawFn, autoscaling: bool | None = None,
                      down_scaling: bool | None = None) -> DimensionOptions:
    minimum = draw(st.none() | st.integers(1, 500))
    maximum = draw(st.none() | st.integers(minimum or 1, 3000))
    return DimensionOptions(
        enable_autoscaling=draw(st.booleans()) if autoscaling is None else autoscaling,
        enable_up_scaling=draw(st.booleans()),
        enable_down_scaling=draw(st.booleans()) if down_scaling is None else down_scaling,
        upper_threshold=draw(st.floats(1, 150)),
        throttled_upper_threshold=draw(st.integers(0, 10)),
        lower_threshold=draw(st.integers(1, 80)),
        increase_with=draw(st.integers(1, 200)),
        decrease_with=draw(st.integers(1, 120)),
        increase_unit=draw(units),
        decrease_unit=draw(units),
        min_provisioned=minimum,
        max_provisioned=maximum,
        num_checks_before_scale_down=draw(st.integers(1, 4)),
        num_checks_reset_percent=draw(st.sampled_from([0, 0, 40, 80])),
        allow_scaling_down_on_0_percent=draw(st.booleans()),
        upper_alarm_threshold=draw(st.sampled_from([0, 80, 95])),
        lower_alarm_threshold=draw(st.sampled_from([0, 5, 20])),
        increase_consumed_unit=draw(st.none() | units),
        increase_consumed_with=draw(st.none() | st.integers(0, 100)),
        increase_consumed_scale=draw(UP_SCALES),
        increase_throttled_by_provisioned_unit=draw(st.none() | units),
        increase_throttled_by_provisioned_scale=draw(THROTTLE_SCALES),
        increase_throttled_by_consumed_unit=draw(st.none() | units),
        increase_throttled_by_consumed_scale=draw(THROTTLE_SCALES),
        decrease_consumed_unit=draw(st.none() | units),
        decrease_consumed_with=draw(st.none() | st.integers(0, 90)),
        decrease_consumed_scale=draw(DOWN_SCALES),
    )


windows = st.none() | st.sampled_from([Windows.parse(text) for text in (
    "01:00-02:00", "22:00-02:00", "00:00-23:59", "9:00-17:00, 20:00-21:00", "12:00-12:00")])


@st.composite
def resource_options(draw: st.DrawFn, autoscaling: bool | None = None) -> ResourceOptions:
    return ResourceOptions(
        reads=draw(dimension_options(autoscaling)),
        writes=draw(dimension_options(autoscaling)),
        always_decrease_rw_together=draw(st.booleans()),
        maintenance_windows=draw(windows),
    )


@st.composite
def dimension_observations(draw: st.DrawFn) -> DimensionObservation:
    throttled = draw(st.booleans())
    return DimensionObservation(
        provisioned=draw(st.integers(1, 4000)),
        consumed_percent=draw(st.sampled_from([0.0, 30.0, 90.0]) | percent),
        throttle_events=draw(st.integers(1, 40)) if throttled else 0,
        throttled_by_provisioned_percent=draw(small_percent) if throttled else 0.0,
        throttled_by_consumed_percent=draw(small_percent) if throttled else 0.0,
    )


# The budget and the clocks: no ledger, a recent increase, or today's quota used up.
ledgers = st.sampled_from([
    DecreaseLedger(),
    DecreaseLedger(decreases_today=27, last_decrease=datetime(2026, 11, 22, 0, 5,
                                                              tzinfo=timezone.utc)),
])
moments = st.integers(0, 24 * 60 - 1).map(
    lambda minute: datetime(2026, 11, 22, tzinfo=timezone.utc) + timedelta(minutes=minute))
counters = st.builds(Counters, st.integers(0, 5), st.integers(0, 5))



@st.composite
def wants_decrease(draw: st.DrawFn, throttled: bool, plain: bool = False) -> tuple:
    """Options, observation and counters where both dimensions want to go down: consumption
    under the lower threshold, down-scaling on, the checks already counted. ``plain``: no
    limits and no gates, so that nothing but the rule under test can stop a decrease."""
    options = ResourceOptions(
        reads=draw(dimension_options(autoscaling=True, down_scaling=True)),
        writes=draw(dimension_options(autoscaling=True, down_scaling=True)),
        always_decrease_rw_together=draw(st.booleans()),
        maintenance_windows=draw(windows),
    )
    if plain:
        options = replace(
            options, always_decrease_rw_together=False, maintenance_windows=None,
            **{dim.name: replace(options.dimension(dim), min_provisioned=None,
                                 max_provisioned=None) for dim in DIMENSIONS},
        )
    observed = []
    for dim in DIMENSIONS:
        lower = options.dimension(dim).lower_threshold
        observed.append(DimensionObservation(
            provisioned=draw(st.integers(2, 4000)),
            consumed_percent=draw(st.floats(0.01, lower - 0.01) | st.floats(0.01, 60)),
            throttle_events=draw(st.integers(1, 40)) if throttled else 0,
        ))
    return options, Observation(*observed), Counters(5, 5)


def bounds(options: DimensionOptions) -> tuple[int, float]:
    return (options.min_provisioned or 1,
            float("inf") if options.max_provisioned is None else options.max_provisioned)


@PROPERTY
@given(resource_options(autoscaling=True), dimension_observations(), dimension_observations(),
       counters, moments)
def test_result_is_within_min_and_max(options: ResourceOptions, reads: DimensionObservation,
                                      writes: DimensionObservation, before: Counters,
                                      now: datetime) -> None:
    # D3: hard limits, whatever the gates (windows, rw-together) say. The decrease quota is
    # left open here: when it is used up DynamoDB itself refuses any decrease.
    decision = decide(options, Observation(reads, writes), before, now)
    for dim in DIMENSIONS:
        low, high = bounds(options.dimension(dim))
        assert low <= decision.dimension(dim).target <= high


@PROPERTY
@given(resource_options(), dimension_observations(), dimension_observations(), counters, moments,
       ledgers)
def test_autoscaling_off_freezes_the_dimension(options: ResourceOptions,
                                               reads: DimensionObservation,
                                               writes: DimensionObservation, before: Counters,
                                               now: datetime, ledger: DecreaseLedger) -> None:
    decision = decide(options, Observation(reads, writes, ledger), before, now)
    for dim in DIMENSIONS:
        if not options.dimension(dim).enable_autoscaling:
            change = decision.dimension(dim)
            assert change.target == change.current
            assert change.counter == 0


@PROPERTY
@given(wants_decrease(throttled=True) | wants_decrease(throttled=True, plain=True), moments)
def test_no_decrease_while_throttled(case: tuple, now: datetime) -> None:
    # D8; the only way down with throttle events is a table above max going to max (D3).
    options, observation, before = case
    decision = decide(options, observation, before, now)
    for dim in DIMENSIONS:
        change = decision.dimension(dim)
        if change.is_decrease:
            assert change.target == options.dimension(dim).max_provisioned


@PROPERTY
@given(resource_options(), dimension_observations(), dimension_observations(), counters, moments,
       ledgers)
def test_no_decrease_while_throttled_anywhere(options: ResourceOptions,
                                              reads: DimensionObservation,
                                              writes: DimensionObservation, before: Counters,
                                              now: datetime, ledger: DecreaseLedger) -> None:
    decision = decide(options, Observation(reads, writes, ledger), before, now)
    for dim, seen in ((READS, reads), (WRITES, writes)):
        change = decision.dimension(dim)
        if seen.throttle_events and change.is_decrease:
            assert change.target == options.dimension(dim).max_provisioned


@PROPERTY
@given(wants_decrease(throttled=False) | wants_decrease(throttled=False, plain=True), moments)
def test_no_decrease_below_consumption(case: tuple, now: datetime) -> None:
    # D4: never below ceil(cur × consumed% / 100), except down to max (D3).
    options, observation, before = case
    decision = decide(options, observation, before, now)
    for dim, seen in ((READS, observation.reads), (WRITES, observation.writes)):
        change = decision.dimension(dim)
        if change.is_decrease:
            needed = calc.consumed_units(seen.provisioned, seen.consumed_percent)
            assert (change.target >= needed
                    or change.target == options.dimension(dim).max_provisioned)


@PROPERTY
@given(resource_options(), dimension_observations(), dimension_observations(), counters, moments,
       ledgers)
def test_an_increase_is_never_blocked_by_a_decrease_gate(
    options: ResourceOptions, reads: DimensionObservation, writes: DimensionObservation,
    before: Counters, now: datetime, ledger: DecreaseLedger,
) -> None:
    # rw-together, maintenance windows and the decrease budget may hold back decreases,
    # never an increase: each dimension's wish to go up is carried out as it is.
    decision = decide(options, Observation(reads, writes, ledger), before, now)
    for dim, seen in ((READS, reads), (WRITES, writes)):
        wish = decide_dimension(dim, options.dimension(dim), seen, before.dimension(dim))
        final = decision.dimension(dim)
        if wish.is_increase:
            assert final.target == wish.target
            assert final.counter == 0  # an increase resets the counter (D5)
        else:
            # gates only ever hold a decrease back: to where it is, or to the max (D3)
            assert final.target in {wish.target, wish.current, wish.bounded}
            assert final.target <= wish.current


@PROPERTY
@given(resource_options(), dimension_observations(), dimension_observations(), counters, moments,
       ledgers)
def test_counters_follow_d5(options: ResourceOptions, reads: DimensionObservation,
                            writes: DimensionObservation, before: Counters, now: datetime,
                            ledger: DecreaseLedger) -> None:
    decision = decide(options, Observation(reads, writes, ledger), before, now)
    for dim in DIMENSIONS:
        change = decision.dimension(dim)
        if change.target != change.current:
            assert change.counter == 0  # a change carried out resets it
        else:
            # no change: the count goes up by at most one, or is reset (reset percent, frozen)
            assert change.counter in {0, before.dimension(dim), before.dimension(dim) + 1}


def swap(decision: Decision) -> tuple:
    alarm = None
    if decision.alarm is not None:
        alarm = (decision.alarm.kind, sorted(
            (line.dimension.name, line.consumed_percent, line.threshold)
            for line in decision.alarm.lines))
    return (
        [(d.current, d.target, d.counter, d.counter_if_refused)
         for d in (decision.reads, decision.writes)],
        alarm,
    )


def mirrored(decision: Decision) -> tuple:
    changes, alarm = swap(decision)
    if alarm is not None:
        other = {"reads": "writes", "writes": "reads"}
        alarm = (alarm[0], sorted((other[name], *rest) for name, *rest in alarm[1]))
    return changes[::-1], alarm


@PROPERTY
@given(resource_options(), dimension_observations(), dimension_observations(), counters, moments,
       ledgers)
def test_reads_and_writes_are_symmetric(options: ResourceOptions, reads: DimensionObservation,
                                        writes: DimensionObservation, before: Counters,
                                        now: datetime, ledger: DecreaseLedger) -> None:
    decision = decide(options, Observation(reads, writes, ledger), before, now)
    swapped_options = replace(options, reads=options.writes, writes=options.reads)
    swapped = decide(swapped_options, Observation(writes, reads, ledger),
                     Counters(before.writes, before.reads), now)
    assert swap(swapped) == mirrored(decision)
    assert swapped.budget_exhausted == decision.budget_exhausted


@PROPERTY
@given(resource_options(), dimension_observations(), counters)
def test_throttles_are_asked_whenever_a_decrease_could_be_wanted(
    options: ResourceOptions, seen: DimensionObservation, counter_pair: Counters,
) -> None:
    # The engine asks for throttle events only where may_want_decrease says so; it must say so
    # whenever the dimension's own rules want a decrease, or the D8 veto would go blind.
    for dim in DIMENSIONS:
        change = decide_dimension(dim, options.dimension(dim), seen, counter_pair.dimension(dim))
        if change.proposed is not None:
            assert may_want_decrease(options.dimension(dim), seen)
