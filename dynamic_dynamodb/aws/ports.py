"""The narrow, typed ports through which the engine reaches AWS.

The engine depends only on these Protocols. ``aws/dynamodb.py``, ``aws/cloudwatch.py`` and
``aws/sns.py`` implement them over injected boto3 clients; tests implement them with small
in-memory fakes, and the simulator with its capacity model. Errors are botocore's
``ClientError``/``BotoCoreError``, so the AWS error code survives to the log.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from dynamic_dynamodb.aws.model import (
    CapacityChange,
    CapacityLimits,
    MetricRequest,
    MetricSums,
    TableDescription,
)

if TYPE_CHECKING:
    from dynamic_dynamodb.aws.cloudwatch import MetricSeries


class TablesPort(Protocol):
    def list_tables(self) -> list[str]:
        """Every table name, following pagination to the end."""

    def describe_table(self, name: str) -> TableDescription:
        """A table with its GSIs, their status and capacity."""

    def update_table(self, table: str, changes: Sequence[CapacityChange]) -> None:
        """One UpdateTable carrying the table's and its GSIs' new capacities (D25)."""

    def describe_limits(self) -> CapacityLimits:
        """The per-table and account capacity caps."""


class MetricsPort(Protocol):
    def fetch_sums(self, requests: list[MetricRequest], start: datetime,
                   end: datetime) -> MetricSums:
        """Sum of every datapoint in [start, end) per request key, and which are incomplete."""

    def fetch_series(self, requests: list[MetricRequest], start: datetime, end: datetime,
                     period: int = 60) -> dict[Hashable, list[tuple[datetime, float]]]:
        """Datapoints (timestamp, Sum) per request key, sorted by time."""

    def fetch_metric_series(self, requests: list[MetricRequest], start: datetime,
                            end: datetime, period: int = 60) -> MetricSeries:
        """``fetch_series`` with the keys CloudWatch did not answer completely."""


class NotifierPort(Protocol):
    def publish(self, topic_arn: str, subject: str, message: str) -> str:
        """Publish to an SNS topic; returns the message id."""


class ScalingTargetsPort(Protocol):
    def autoscaled(self) -> frozenset[str]:
        """Resource ids with an Application Auto Scaling scalable target: ``table/NAME`` and
        ``table/NAME/index/GSI``."""


class NoScalingTargets:
    """For endpoints without Application Auto Scaling (the simulator): nothing is managed."""

    def autoscaled(self) -> frozenset[str]:
        return frozenset()


@dataclass
class Ports:
    """Everything the engine needs of AWS, and the count of API operations made through it."""

    tables: TablesPort
    metrics: MetricsPort
    notifier: NotifierPort
    calls: Counter[str] = field(default_factory=Counter)  # API operations
    scaling: ScalingTargetsPort = field(default_factory=NoScalingTargets)
    attempts: Counter[str] = field(default_factory=Counter)  # HTTP requests, retries included
