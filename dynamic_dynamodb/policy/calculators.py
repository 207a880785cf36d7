"""Capacity arithmetic. Exact (D1): no binary-float artefacts, always integer results."""

from __future__ import annotations

import math
from fractions import Fraction

Scale = tuple[tuple[float, float], ...]


def _exact(number: float) -> Fraction:
    # str() gives the shortest decimal that round-trips, so 7.0 → 7 and 0.1 → 1/10 exactly.
    return Fraction(str(number))


def percent_of(value: int, percent: float) -> Fraction:
    return Fraction(value) * _exact(percent) / 100


# The float product value × percent ÷ 100 is within a relative 4e-16 of the exact one
# (percent is the double nearest its shortest decimal, then two correctly rounded
# operations). Farther than _NEAR_WHOLE from a whole number, the float rounds up or down to
# the same integer as the exact Fraction; nearer, only the Fraction can tell.
_NEAR_WHOLE = 1e-12  # relative to the product (absolute below 1)
_EXACT_INT = 2 ** 53  # larger integers are not all floats


def _float_percent_of(value: int, percent: float) -> float | None:
    """``value × percent ÷ 100`` in floats when its ceil and floor are those of
    ``percent_of`` (the exact Fraction); None when it is too near a whole number to tell."""
    if not -_EXACT_INT < value < _EXACT_INT:
        return None
    product = value * percent / 100
    if math.isfinite(product) and abs(product - round(product)) > _NEAR_WHOLE * max(
            1.0, abs(product)):
        return product
    return None


def ceil_percent_of(value: int, percent: float) -> int:
    """``ceil(percent_of(value, percent))``, without Fractions unless they are needed."""
    product = _float_percent_of(value, percent)
    return math.ceil(percent_of(value, percent) if product is None else product)


def floor_percent_of(value: int, percent: float) -> int:
    """``floor(percent_of(value, percent))``, without Fractions unless they are needed."""
    product = _float_percent_of(value, percent)
    return math.floor(percent_of(value, percent) if product is None else product)


def consumed_units(current: int, consumed_percent: float) -> int:
    """Capacity that the observed consumption needs: ``ceil(cur × consumed% / 100)``."""
    return ceil_percent_of(current, consumed_percent)


def increase_base(current: int, consumed_percent: float) -> int:
    """Increases start from what is consumed when that is more than provisioned (D1)."""
    return max(current, consumed_units(current, consumed_percent))


def _cap(value: int, maximum: int | None) -> int:
    return value if maximum is None else min(value, maximum)


def increase_in_percent(
    current: int, percent: float, maximum: int | None, consumed_percent: float
) -> int:
    base = increase_base(current, consumed_percent)
    return _cap(base + ceil_percent_of(base, percent), maximum)


def increase_in_units(
    current: int, units: float, maximum: int | None, consumed_percent: float
) -> int:
    # A fractional amount from a scale dict is truncated, as in 2.5.1 ({90: 2.7} adds 2).
    return _cap(increase_base(current, consumed_percent) + int(units), maximum)


def decrease_in_percent(current: int, percent: float, minimum: int | None) -> int:
    return max(current - floor_percent_of(current, percent), minimum or 1)


def decrease_in_units(current: int, units: float, minimum: int | None) -> int:
    return max(current - int(units), minimum or 1)


def increase(
    unit: str, current: int, amount: float, maximum: int | None, consumed_percent: float
) -> int:
    if unit == "percent":
        return increase_in_percent(current, amount, maximum, consumed_percent)
    return increase_in_units(current, amount, maximum, consumed_percent)


def decrease(unit: str, current: int, amount: float, minimum: int | None) -> int:
    if unit == "percent":
        return decrease_in_percent(current, amount, minimum)
    return decrease_in_units(current, amount, minimum)


def scale_up_lookup(scale: Scale | None, metric: float) -> float:
    """Value of the largest key ≤ metric; 0 (no scaling) below every key (D16)."""
    amount: float = 0
    for key, value in scale or ():
        if key <= metric:
            amount = value
    return amount


def scale_down_lookup(scale: Scale | None, metric: float) -> float:
    """Value of the smallest key ≥ metric; 0 (no scaling) above every key (D16)."""
    for key, value in scale or ():
        if key >= metric:
            return value
    return 0
