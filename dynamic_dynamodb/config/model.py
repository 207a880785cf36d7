"""Frozen configuration values. Their fields are generated from the option schema."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, make_dataclass
from typing import Any

from dynamic_dynamodb.config.options import (
    DIMENSION_OPTIONS,
    GLOBAL_OPTIONS,
    LOGGING_OPTIONS,
    RESOURCE_OPTIONS,
    Dimension,
    Option,
)


def _value_class(name: str, options: tuple[Option, ...], extra: tuple = ()) -> type:
    fields = [(option.field, Any, field(default=option.default)) for option in options]
    return make_dataclass(name, [*extra, *fields], frozen=True)


GlobalOptions = _value_class("GlobalOptions", GLOBAL_OPTIONS)
LoggingOptions = _value_class("LoggingOptions", LOGGING_OPTIONS)
DimensionOptions = _value_class("DimensionOptions", DIMENSION_OPTIONS)
_ResourceBase = _value_class(
    "_ResourceBase",
    RESOURCE_OPTIONS,
    extra=(
        ("reads", Any, field(default_factory=DimensionOptions)),
        ("writes", Any, field(default_factory=DimensionOptions)),
    ),
)


class ResourceOptions(_ResourceBase):  # type: ignore[misc, valid-type]
    """All options of one table or GSI: resource-wide ones plus one DimensionOptions each."""

    def dimension(self, dimension: Dimension) -> Any:
        return getattr(self, dimension.name)


@dataclass(frozen=True)
class GsiSection:
    header: str
    regex: str
    table_regex: str
    pattern: re.Pattern[str]
    options: ResourceOptions


@dataclass(frozen=True)
class TableSection:
    header: str
    regex: str
    pattern: re.Pattern[str]
    options: ResourceOptions
    gsis: tuple[GsiSection, ...] = ()


@dataclass(frozen=True)
class Config:
    path: str | None
    global_options: Any  # GlobalOptions
    logging: Any  # LoggingOptions
    tables: tuple[TableSection, ...]
    warnings: tuple[str, ...] = ()
