"""Plain values the AWS adapters return and take: no boto3 types cross the ports."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Capacity:
    """Provisioned capacity of a table or GSI, with DynamoDB's decrease bookkeeping if present."""

    reads: int
    writes: int
    decreases_today: int | None = None
    last_decrease: datetime | None = None
    last_increase: datetime | None = None


@dataclass(frozen=True)
class IndexDescription:
    name: str
    status: str
    capacity: Capacity


@dataclass(frozen=True)
class TableDescription:
    name: str
    status: str
    billing_mode: str
    capacity: Capacity
    gsis: tuple[IndexDescription, ...] = ()

    @property
    def on_demand(self) -> bool:
        return self.billing_mode == "PAY_PER_REQUEST"


@dataclass(frozen=True)
class MetricRequest:
    key: Hashable  # the caller's name for this series
    table: str
    gsi: str | None
    metric: str  # e.g. ConsumedReadCapacityUnits
