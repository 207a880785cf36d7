"""Small in-memory fakes of the engine's AWS ports (dynamic_dynamodb/aws/ports.py).

They keep a journal of every call in order, so tests can check the pipeline order
(discover → observe → decide → act → notify), and can be told to fail a call with a real
botocore ClientError, so error isolation is tested without moto or the network.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from botocore.exceptions import ClientError

from dynamic_dynamodb.aws.cloudwatch import MetricSeries
from dynamic_dynamodb.aws.model import (
    Capacity,
    CapacityChange,
    CapacityLimits,
    IndexDescription,
    MetricRequest,
    MetricSums,
    TableDescription,
)
from dynamic_dynamodb.aws.ports import Ports


def client_error(code: str, operation: str, message: str = "injected") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)


@dataclass
class Journal:
    """Every call made through the fakes, in order, and failures queued per operation."""

    calls: list[tuple[str, ...]] = field(default_factory=list)
    failures: dict[tuple[str, str], list[ClientError]] = field(default_factory=dict)
    counter: Counter[str] = field(default_factory=Counter)

    def record(self, operation: str, subject: str = "") -> None:
        self.calls.append((operation, subject) if subject else (operation,))
        self.counter[operation] += 1
        queued = self.failures.get((operation, subject)) or self.failures.get((operation, ""))
        if queued:
            raise queued.pop(0)

    def fail(self, operation: str, code: str, subject: str = "", times: int = 1,
             message: str = "injected") -> None:
        """The next ``times`` calls of ``operation`` (for ``subject``, or any) raise ``code``."""
        self.failures.setdefault((operation, subject), []).extend(
            client_error(code, operation, message) for _ in range(times))

    def operations(self) -> list[str]:
        return [call[0] for call in self.calls]


class FakeTables:
    """Tables with GSIs, their capacities and statuses; updates change them at once."""

    def __init__(self, journal: Journal):
        self.journal = journal
        self.tables: dict[str, TableDescription] = {}
        self.requests: list[tuple[str, tuple[CapacityChange, ...]]] = []
        self.limits = CapacityLimits(40000, 40000, 80000, 80000)

    def add(self, name: str, reads: int, writes: int, *, status: str = "ACTIVE",
            billing_mode: str = "PROVISIONED",
            gsis: dict[str, tuple[int, int]] | None = None,
            replicas: tuple[str, ...] = ()) -> None:
        self.tables[name] = TableDescription(
            name, status, billing_mode, Capacity(reads, writes),
            tuple(IndexDescription(gsi, "ACTIVE", Capacity(*capacity))
                  for gsi, capacity in (gsis or {}).items()),
            replicas)

    def capacity(self, table: str, gsi: str | None = None) -> tuple[int, int]:
        description = self.tables[table]
        capacity = description.capacity if gsi is None else next(
            index.capacity for index in description.gsis if index.name == gsi)
        return capacity.reads, capacity.writes

    def list_tables(self) -> list[str]:
        self.journal.record("ListTables")
        return list(self.tables)

    def describe_table(self, name: str) -> TableDescription:
        self.journal.record("DescribeTable", name)
        if name not in self.tables:
            raise client_error("ResourceNotFoundException", "DescribeTable")
        return self.tables[name]

    def update_table(self, table: str, changes: Sequence[CapacityChange]) -> None:
        subject = ",".join(table if change.gsi is None else f"{table}:{change.gsi}"
                           for change in changes)
        self.journal.record("UpdateTable", subject)
        self.requests.append((table, tuple(changes)))
        description = self.tables[table]
        for change in changes:
            capacity = Capacity(change.reads, change.writes)
            if change.gsi is None:
                description = replace(description, capacity=capacity)
            else:
                description = replace(description, gsis=tuple(
                    replace(index, capacity=capacity) if index.name == change.gsi else index
                    for index in description.gsis))
        self.tables[table] = description

    def describe_limits(self) -> CapacityLimits:
        self.journal.record("DescribeLimits")
        return self.limits

    @staticmethod
    def ports() -> Ports:
        """Ports over empty fakes: for tests that never reach AWS."""
        journal = Journal()
        return Ports(FakeTables(journal), FakeMetrics(journal), FakeNotifier(journal),
                     journal.counter)


class FakeMetrics:
    """Window sums per (table, gsi, metric); anything not set has no datapoints."""

    def __init__(self, journal: Journal):
        self.journal = journal
        self.sums: dict[tuple[str, str | None, str, str], float] = {}
        self.incomplete: set[tuple[str, str | None, str]] = set()  # StatusCode not Complete

    def set(self, table: str, gsi: str | None, metric: str, value: float,
            stat: str = "Sum") -> None:
        self.sums[(table, gsi, metric, stat)] = value

    def fetch_sums(self, requests: list[MetricRequest], start: datetime,
                   end: datetime) -> MetricSums:
        self.journal.record("GetMetricData")
        return MetricSums({request.key: self.sums.get((request.table, request.gsi,
                                                       request.metric, request.stat))
                           for request in requests},
                          frozenset(request.key for request in requests
                                    if (request.table, request.gsi, request.metric)
                                    in self.incomplete))

    def fetch_series(self, requests: list[MetricRequest], start: datetime, end: datetime,
                     period: int = 60) -> dict[Hashable, list[tuple[datetime, float]]]:
        self.journal.record("GetMetricData")
        return {request.key: [] for request in requests}

    def fetch_metric_series(self, requests: list[MetricRequest], start: datetime,
                            end: datetime, period: int = 60) -> MetricSeries:
        return MetricSeries(self.fetch_series(requests, start, end, period))


class FakeNotifier:
    def __init__(self, journal: Journal):
        self.journal = journal
        self.published: list[tuple[str, str, str]] = []

    def publish(self, topic_arn: str, subject: str, message: str) -> str:
        self.journal.record("Publish", topic_arn)
        self.published.append((topic_arn, subject, message))
        return f"message-{len(self.published)}"


class FakeScaling:
    """Application Auto Scaling: the resource ids it manages; can be told to fail."""

    def __init__(self, journal: Journal):
        self.journal = journal
        self.targets: set[str] = set()

    def autoscaled(self) -> frozenset[str]:
        self.journal.record("DescribeScalableTargets")
        return frozenset(self.targets)


@dataclass
class FakeAws:
    """The three fakes over one journal, and the Ports value the engine takes."""

    journal: Journal = field(default_factory=Journal)

    def __post_init__(self) -> None:
        self.tables = FakeTables(self.journal)
        self.metrics = FakeMetrics(self.journal)
        self.notifier = FakeNotifier(self.journal)
        self.scaling = FakeScaling(self.journal)

    def ports(self) -> Ports:
        return Ports(self.tables, self.metrics, self.notifier, self.journal.counter,
                     scaling=self.scaling)

    def traffic(self, table: str, gsi: str | None, read_percent: float, write_percent: float,
                seconds: int = 300) -> None:
        """Consumption as percentages of the current capacity over a window of ``seconds``."""
        reads, writes = self.tables.capacity(table, gsi)
        self.metrics.set(table, gsi, "ConsumedReadCapacityUnits",
                         reads * seconds * read_percent / 100)
        self.metrics.set(table, gsi, "ConsumedWriteCapacityUnits",
                         writes * seconds * write_percent / 100)
