"""The loaded configuration: sections in file order, each with its typed, frozen options."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dynamic_dynamodb.config.options import (
    GlobalOptions,
    LocationOptions,
    LoggingOptions,
    ResourceOptions,
)


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
    location: LocationOptions = field(default_factory=LocationOptions)  # region, account


@dataclass(frozen=True)
class Config:
    path: str | None
    global_options: GlobalOptions
    logging: LoggingOptions
    tables: tuple[TableSection, ...]
    warnings: tuple[str, ...] = ()
