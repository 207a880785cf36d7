"""Typed options built in memory for policy tests: no INI file, no loader.

Keys are the options' INI names (as users know them); values are already typed: ints,
floats, booleans, ``None`` for unset, a dict for a scale, a ``Windows``/``ClockTime`` or its
``HH:MM`` text for windows and clock times, ``HH:MM-HH:MM=N`` text for scheduled floors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from dynamic_dynamodb.config.options import DIMENSION_OPTIONS, RESOURCE_OPTIONS, ResourceOptions
from dynamic_dynamodb.config.schema import Kind, Option
from dynamic_dynamodb.dimensions import DIMENSIONS
from dynamic_dynamodb.windows import ClockTime, ScheduledFloors, Windows

_RESOURCE = {option.key: option for option in RESOURCE_OPTIONS}
_DIMENSION = {
    option.key_for(dimension.name): (dimension, option)
    for dimension in DIMENSIONS
    for option in DIMENSION_OPTIONS
}


def _typed(option: Option, value: Any) -> Any:
    if value is None:
        return None
    if option.kind is Kind.SCALE and isinstance(value, dict):
        return tuple(sorted((float(key), float(amount)) for key, amount in value.items()))
    if option.kind is Kind.WINDOWS and isinstance(value, str):
        return Windows.parse(value)
    if option.kind is Kind.CLOCK and isinstance(value, str):
        return ClockTime.parse(value)
    if option.kind is Kind.FLOORS and isinstance(value, str):
        return ScheduledFloors.parse(value)
    return value


def resource_options(values: Mapping[str, Any] | None = None) -> ResourceOptions:
    """ResourceOptions with the built-in defaults, overridden by ``values``."""
    resource: dict[str, Any] = {}
    per_dimension: dict[str, dict[str, Any]] = {dimension.name: {} for dimension in DIMENSIONS}
    for key, value in (values or {}).items():
        if key in _RESOURCE:
            resource[_RESOURCE[key].field] = _typed(_RESOURCE[key], value)
        else:
            dimension, option = _DIMENSION[key]  # KeyError: not an option name
            per_dimension[dimension.name][option.field] = _typed(option, value)
    options = ResourceOptions(**resource)
    return replace(
        options,
        reads=replace(options.reads, **per_dimension["reads"]),
        writes=replace(options.writes, **per_dimension["writes"]),
    )
