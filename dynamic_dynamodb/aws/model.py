"""Plain values the AWS adapters return and take: no boto3 types cross the ports."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime

from botocore.exceptions import BotoCoreError


class NotAnAwsAnswerError(BotoCoreError):
    """A 2xx answer without what AWS always sends (an HTML page from a proxy, an empty body):
    an error, never an empty result such as "no tables"."""

    fmt = "{operation}: the answer is not {service}'s ({detail}); check the endpoint and proxy"


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
    replicas: tuple[str, ...] = ()  # regions of a global table's replicas, from Replicas

    @property
    def on_demand(self) -> bool:
        return self.billing_mode == "PAY_PER_REQUEST"

    @property
    def updating(self) -> tuple[str, ...]:
        """What is not ACTIVE: the table and/or its indexes, as ``table`` or ``GSI NAME``."""
        busy = [] if self.status == "ACTIVE" else ["table"]
        busy += [f"GSI {index.name}" for index in self.gsis if index.status != "ACTIVE"]
        return tuple(busy)


@dataclass(frozen=True)
class CapacityChange:
    """New provisioned capacity of the table (``gsi`` None) or one of its GSIs."""

    gsi: str | None
    reads: int
    writes: int


@dataclass(frozen=True)
class CapacityLimits:
    """DescribeLimits: the most a table (or GSI) and the whole account may provision."""

    table_max_reads: int
    table_max_writes: int
    account_max_reads: int
    account_max_writes: int


@dataclass(frozen=True)
class MetricRequest:
    key: Hashable  # the caller's name for this series
    table: str
    gsi: str | None
    metric: str  # e.g. ConsumedReadCapacityUnits
    stat: str = "Sum"  # or "SampleCount"


@dataclass(frozen=True)
class MetricSums:
    """Window sums per request key (None: no datapoints), and the keys CloudWatch did not
    answer completely (a StatusCode other than Complete even after a retry): unknown, not 0."""

    values: dict[Hashable, float | None]
    incomplete: frozenset[Hashable] = frozenset()
