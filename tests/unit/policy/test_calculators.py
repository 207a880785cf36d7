"""Capacity arithmetic (behaviour file §6, §10.1, §10.2) with exact percentages (D1)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamic_dynamodb.config.schema import parse_scale
from dynamic_dynamodb.policy import calculators as calc

UNLIMITED = None  # no max-provisioned-*: D2


# 2.5.1's own test_calculators.py (behaviour file §10.1). 2.5.1 had one function per dimension
# (decrease_reads_in_percent, decrease_writes_in_percent, ...); the port has one function for both,
# so the reads and writes rows call the same code. The increase rows are written with the
# 2.5.1 call shape (current, amount, limit) and consumed percent 0, their "intended value".
@pytest.mark.parametrize(
    ("row", "function", "args", "expected"),
    [
        (1, calc.decrease_in_percent, (200, 90, 1), 20),
        (2, calc.decrease_in_percent, (20, 50, 15), 15),
        (3, calc.decrease_in_percent, (20, 120, 1), 1),
        (5, calc.decrease_in_percent, (200, 90, 1), 20),
        (6, calc.decrease_in_percent, (20, 50, 15), 15),
        (7, calc.decrease_in_percent, (20, 120, 1), 1),
        (9, calc.decrease_in_units, (200, 90, 1), 110),
        (10, calc.decrease_in_units, (20, 50, 15), 15),
        (11, calc.decrease_in_units, (20, 120, 1), 1),
        (12, calc.decrease_in_units, (200, 90, 1), 110),
        (13, calc.decrease_in_units, (20, 50, 15), 15),
        (14, calc.increase_in_percent, (200, 50, 400, 0), 300),
        (15, calc.increase_in_percent, (20, 50, 15, 0), 15),
        (16, calc.increase_in_percent, (20, 120, 1, 0), 1),
        (18, calc.increase_in_percent, (200, 50, 400, 0), 300),
        (19, calc.increase_in_percent, (20, 50, 15, 0), 15),
        (20, calc.increase_in_percent, (20, 120, 1, 0), 1),
        (22, calc.increase_in_units, (200, 90, 300, 0), 290),
        (23, calc.increase_in_units, (20, 50, 25, 0), 25),
        (24, calc.increase_in_units, (200, 90, 300, 0), 290),
        (25, calc.increase_in_units, (20, 10, 25, 0), 25),
    ],
)
def test_original_calculator_tests(row: int, function, args: tuple, expected: int) -> None:
    result = function(*args)
    assert result == expected, f"§10.1 row {row}"
    assert type(result) is int  # 2.5.1 sometimes returned floats; the port always returns ints


# §10.1 rows 4, 8, 17 and 21 pass the current capacity as the string '100' and expect a
# TypeError. 2.5.1's rows 17 and 21 passed only by accident (wrong argument count). The point
# that survives: a string is never silently taken for a number.
@pytest.mark.parametrize(
    ("row", "function", "args"),
    [
        (4, calc.decrease_in_percent, ("100", 90, 1)),
        (8, calc.decrease_in_units, ("100", 90, 1)),
        (17, calc.increase_in_percent, ("100", 90, 1, 0)),
        (21, calc.increase_in_units, ("100", 90, 1, 0)),
    ],
)
def test_string_capacity_is_rejected(row: int, function, args: tuple) -> None:
    with pytest.raises(TypeError):
        function(*args)


# ---- §6.1 decrease --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("current", "percent", "minimum", "expected"),
    [
        (200, 90, 1, 20),
        (20, 50, 15, 15),
        (20, 120, 1, 1),
        (3, 50, None, 2),  # 3 - floor(1.5)
        (1, 50, None, 1),  # never below 1 without a min (D2)
        (100, 29, None, 71),  # D1: 2.5.1 gave 72 (int(28.999999999999996))
        (100, 100, None, 1),
        (100, 0, None, 100),
    ],
)
def test_decrease_in_percent(current: int, percent: float, minimum: int | None,
                             expected: int) -> None:
    assert calc.decrease_in_percent(current, percent, minimum) == expected
    assert calc.decrease("percent", current, percent, minimum) == expected


@pytest.mark.parametrize(
    ("current", "units", "minimum", "expected"),
    [(200, 90, 1, 110), (20, 50, 15, 15), (20, 120, 1, 1), (3, 5, 1, 1), (3, 5, None, 1),
     (10, 2.9, None, 8)],  # a fractional amount from a scale dict is truncated, like increases
)
def test_decrease_in_units(current: int, units: float, minimum: int | None, expected: int) -> None:
    assert calc.decrease_in_units(current, units, minimum) == expected
    assert calc.decrease("units", current, units, minimum) == expected


def test_min_is_a_hard_floor_without_the_2x_relic() -> None:
    # 2.5.1's effective_min capped min at 2 × current, so decrease_in_percent(5, 50, 100)
    # returned 10, a "decrease" above current that the min clamp lifted later. With D3 the
    # configured min is the floor, full stop; the caller sees a value that is not a decrease.
    assert calc.decrease_in_percent(5, 50, 100) == 100
    assert calc.decrease_in_units(5, 1, 100) == 100


# ---- §6.2 increase --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("current", "percent", "maximum", "consumed", "expected"),
    [
        (200, 50, 400, 0, 300),
        (20, 50, 15, 0, 15),
        (20, 120, 1, 0, 1),
        (10, 50, UNLIMITED, 150, 23),  # base ceil(15) = 15, + ceil(7.5) = 8
        (10, 50, UNLIMITED, 95, 15),  # consumption below provisioning: base stays 10
        (3, 50, UNLIMITED, 0, 5),  # 3 + ceil(1.5)
        (100, 7, UNLIMITED, 0, 107),  # D1: 2.5.1 gave 108 (7.000000000000001)
        (100, 7, UNLIMITED, 95, 107),
        (1000, 0.1, UNLIMITED, 0, 1001),  # float would give 1000 × 0.001 = 1.0000000000000002 → 2
        (100, 50, 120, 300, 120),  # consumption never lifts above max (D3)
    ],
)
def test_increase_in_percent(current: int, percent: float, maximum: int | None, consumed: float,
                             expected: int) -> None:
    assert calc.increase_in_percent(current, percent, maximum, consumed) == expected
    assert calc.increase("percent", current, percent, maximum, consumed) == expected


@pytest.mark.parametrize(
    ("current", "units", "maximum", "consumed", "expected"),
    [
        (200, 90, 300, 0, 290),
        (20, 50, 25, 0, 25),
        (10, 5, UNLIMITED, 150, 20),  # from the consumed 15, not the provisioned 10
        (100, 2.7, UNLIMITED, 95, 102),  # scale-dict amount truncated, as in 2.5.1
        (100, 7, UNLIMITED, 95, 107),
    ],
)
def test_increase_in_units(current: int, units: float, maximum: int | None, consumed: float,
                           expected: int) -> None:
    assert calc.increase_in_units(current, units, maximum, consumed) == expected
    assert calc.increase("units", current, units, maximum, consumed) == expected


# ---- §6.4 the consumption guard's measure --------------------------------------------------

@pytest.mark.parametrize(
    ("current", "consumed", "units", "over_5"),
    [(10, 150, 15, True), (10, 40, 4, False), (10, 51, 6, True), (10, 50, 5, False)],
)
def test_consumed_units(current: int, consumed: float, units: int, over_5: bool) -> None:
    # 2.5.1's is_consumed_over_proposed(cur, proposed, C%) is ceil(cur × C% / 100) > proposed.
    assert calc.consumed_units(current, consumed) == units
    assert (calc.consumed_units(current, consumed) > 5) is over_5


def test_consumed_units_is_exact() -> None:
    assert calc.consumed_units(100, 29) == 29  # float: 100 × 0.29 = 28.999999999999996
    assert calc.consumed_units(100, 90.01) == 91
    assert calc.consumed_units(100, 90.0) == 90
    assert calc.increase_base(100, 150) == 150
    assert calc.increase_base(100, 20) == 100


@settings(max_examples=200, deadline=None)
@given(current=st.integers(1, 10**6), percent=st.integers(0, 500))
def test_integer_percentages_match_integer_arithmetic(current: int, percent: int) -> None:
    # D1: increase = ceil(base × pct / 100), decrease = floor(cur × pct / 100), exactly.
    assert calc.increase_in_percent(current, percent, None, 0) == current + -(-current * percent // 100)
    assert calc.decrease_in_percent(current, percent, None) == max(current - current * percent // 100, 1)


@settings(max_examples=200, deadline=None)
@given(current=st.integers(1, 10**6),
       percent=st.decimals(min_value=0, max_value=500, places=2, allow_nan=False))
def test_decimal_percentages_are_exact(current: int, percent) -> None:
    as_float = float(percent)  # what the config parser produces
    exact = Fraction(current) * Fraction(str(as_float)) / 100
    assert calc.increase_in_percent(current, as_float, None, 0) == current + math.ceil(exact)
    assert calc.decrease_in_percent(current, as_float, None) == max(current - math.floor(exact), 1)


def _old_ceil(value: int, percent: float) -> int:
    """The arithmetic before the float fast path: always through Fractions."""
    return math.ceil(calc.percent_of(value, percent))


def _old_floor(value: int, percent: float) -> int:
    return math.floor(calc.percent_of(value, percent))


@st.composite
def _near_whole(draw: st.DrawFn) -> tuple[int, float]:
    """A value and a percentage whose product is a whole number give or take a few ulps: the
    only place where the float fast path could round differently from the Fractions."""
    value = draw(st.integers(1, 10**7))
    whole = draw(st.integers(0, 10**7))
    percent = whole * 100 / value
    for _ in range(draw(st.integers(0, 4))):
        percent = math.nextafter(percent, math.inf if draw(st.booleans()) else -math.inf)
    return value, percent


_PERCENTS = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.decimals(min_value=0, max_value=1000, places=3, allow_nan=False).map(float),
    st.integers(0, 1000).map(float),
    st.floats(min_value=0, max_value=1e-9),  # tiny and subnormal products
)


@settings(max_examples=3000, deadline=None)
@given(value=st.one_of(st.integers(0, 10**7), st.integers(-(2**60), 2**60)), percent=_PERCENTS)
def test_float_fast_path_rounds_as_the_fractions(value: int, percent: float) -> None:
    assert calc.ceil_percent_of(value, percent) == _old_ceil(value, percent)
    assert calc.floor_percent_of(value, percent) == _old_floor(value, percent)


@settings(max_examples=3000, deadline=None)
@given(case=_near_whole())
def test_float_fast_path_rounds_as_the_fractions_near_whole_numbers(
        case: tuple[int, float]) -> None:
    value, percent = case
    assert calc.ceil_percent_of(value, percent) == _old_ceil(value, percent)
    assert calc.floor_percent_of(value, percent) == _old_floor(value, percent)


@pytest.mark.parametrize(("value", "percent"), [
    (100, 29.0), (100, 0.1), (3, 33.333333333333336), (10, 70.0), (7, 100 / 7), (1, 1e-320),
    (2**53 + 1, 50.0), (10, 1e308),
])
def test_float_fast_path_known_traps(value: int, percent: float) -> None:
    assert calc.ceil_percent_of(value, percent) == _old_ceil(value, percent)
    assert calc.floor_percent_of(value, percent) == _old_floor(value, percent)


# ---- §6.3 scale-dict lookups (D16) ---------------------------------------------------------

UP = parse_scale("{0: 0, 0.25: 5, 0.5: 10, 1: 20, 2: 50, 5: 100}")
DOWN = parse_scale("{20: 10, 10: 30, 5: 50}")


@pytest.mark.parametrize(
    ("metric", "amount"),
    [(0, 0), (0.1, 0), (0.25, 5), (0.3, 5), (0.49, 5), (0.5, 10), (1, 20), (1.01, 20),
     (1.99, 20), (2, 50), (5, 100), (7, 100), (-1, 0)],
)
def test_scale_up_lookup_takes_the_largest_key_at_or_below(metric: float, amount: float) -> None:
    assert calc.scale_up_lookup(UP, metric) == amount


@pytest.mark.parametrize(
    ("metric", "amount"),
    [(0, 50), (3, 50), (5, 50), (5.5, 30), (10, 30), (10.01, 10), (15, 10), (20, 10),
     (20.5, 0), (100, 0)],
)
def test_scale_down_lookup_takes_the_smallest_key_at_or_above(metric: float, amount: float) -> None:
    assert calc.scale_down_lookup(DOWN, metric) == amount


@pytest.mark.parametrize("scale", [None, ()])
def test_no_scale_means_no_scaling(scale) -> None:
    assert calc.scale_up_lookup(scale, 50) == 0
    assert calc.scale_down_lookup(scale, 50) == 0


def test_scale_up_below_every_key_is_no_scaling() -> None:
    assert calc.scale_up_lookup(parse_scale("{97: 10}"), 96) == 0
    assert calc.scale_up_lookup(parse_scale("{97: 10}"), 97) == 10


# §10.2: 2.5.1's stale test_scaling_metrics.py expected scale_reader(d, 1) == 10 (exclusive
# keys) and scale_reader({}, 5, 80) == 80 (a "default scale" argument that no longer existed).
# Decided: keys are inclusive lower bounds, as docs/granular_scaling.rst ("1% or above but
# below 2% → 20%") and 2.5.1's code agree, and an empty dict means no scaling (there is no
# default scale).
def test_section_10_2_decided_keys_are_inclusive() -> None:
    assert calc.scale_up_lookup(UP, 1) == 20  # not 10
    assert calc.scale_up_lookup(UP, 1.01) == 20
    assert calc.scale_up_lookup(UP, 0) == 0
    assert calc.scale_up_lookup(UP, 0.1) == 0
    assert calc.scale_up_lookup(UP, 7) == 100


def test_section_10_2_decided_empty_scale_has_no_default() -> None:
    assert calc.scale_up_lookup((), 5) == 0  # not 80


def test_lookups_do_not_depend_on_written_key_order() -> None:
    shuffled = parse_scale("{5: 100, 0.25: 5, 2: 50, 0: 0, 1: 20, 0.5: 10}")
    assert shuffled == UP
    reordered = parse_scale("{5: 50, 20: 10, 10: 30}")
    assert [calc.scale_down_lookup(reordered, m) for m in (4, 7, 12, 25)] == [50, 30, 10, 0]
