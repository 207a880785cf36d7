"""The engine's ports (aws/ports.py) implemented directly on the capacity model.

``fake_ports(model)`` gives the ``Ports`` bundle the engine runs against in a backtest:
``SimTables`` (ListTables, DescribeTable, UpdateTable, DescribeLimits), ``SimMetrics``
(GetMetricData) and ``SimNotifier`` (SNS Publish). No boto3 request or response dicts are
built or parsed: the engine's typed values go straight to the model and back.

What stays as live:

- Errors are botocore exceptions with DynamoDB's codes and AWS's wording (simulate/model.py
  lists the sources), so the engine's handling of ResourceInUse, LimitExceeded (read by its
  wording) and ValidationException is exercised as it is against AWS. A capacity below 1 is
  refused before any request, as botocore's parameter validation does (ParamValidationError,
  not counted as a call).
- ``Ports.calls`` (and ``Ports.attempts``: the model never fails a request, so one attempt
  each) count AWS operations as the live adapters would make them: ListTables per page of
  100 names, DescribeTable, UpdateTable, DescribeLimits, GetMetricData per 500 queries, SNS
  Publish. ``model.metrics_requested`` counts the metrics requested (every query of every
  GetMetricData call), which is what CloudWatch bills for GetMetricData.
- Metrics: the consumed metrics answer ``Sum`` (capacity units) and ``SampleCount``
  (requests served); the throttle-event metrics (``Read/WriteThrottleEvents`` and the
  cause-specific ``...ProvisionedThroughputThrottleEvents``) answer events, throttled units ÷
  the model's ``request_units``; the key-range (hot key) throttle metrics and any other
  metric have no datapoints (the model has no partitions). Only minutes published by now are
  visible, and a minute with a value of 0 has no datapoint.

Speed: a window sum reads the model's per-minute lists directly; nothing is sorted and no
datetime is made per query. Windows of up to ``DIRECT_SUM_MINUTES`` are summed minute by
minute in time order, exactly as the live adapter sums CloudWatch's datapoints (so the
figures match a live run bit for bit); longer ones use prefix sums, O(1) each.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence
from datetime import datetime

from botocore.exceptions import ClientError, ParamValidationError

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
from dynamic_dynamodb.aws.sns import publish_request
from dynamic_dynamodb.simulate.model import CapacityModel, ModelError, ResourceModel

MAX_QUERIES_PER_CALL = 500  # GetMetricData's limit
LIST_TABLES_PAGE = 100  # ListTables' largest page
DIRECT_SUM_MINUTES = 60

# metric name -> (the model's per-minute record it reads, or None: no datapoints; dimension)
_CONSUMED, _THROTTLED, _NONE = "consumed", "throttled", None
_METRICS: dict[str, tuple[str | None, str]] = {
    "ConsumedReadCapacityUnits": (_CONSUMED, "reads"),
    "ConsumedWriteCapacityUnits": (_CONSUMED, "writes"),
    "ReadThrottleEvents": (_THROTTLED, "reads"),
    "WriteThrottleEvents": (_THROTTLED, "writes"),
    "ReadProvisionedThroughputThrottleEvents": (_THROTTLED, "reads"),
    "WriteProvisionedThroughputThrottleEvents": (_THROTTLED, "writes"),
    "ReadKeyRangeThroughputThrottleEvents": (_NONE, "reads"),
    "WriteKeyRangeThroughputThrottleEvents": (_NONE, "writes"),
}
_STATS = ("Sum", "SampleCount")


def client_error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": 400}}, operation)


def _count(calls: Counter[str], attempts: Counter[str], operation: str, times: int = 1) -> None:
    calls[operation] += times
    attempts[operation] += times


class SimTables:
    """TablesPort over the model: what DynamoDB's control plane would answer now."""

    def __init__(self, model: CapacityModel, calls: Counter[str], attempts: Counter[str]):
        self.model = model
        self.calls, self.attempts = calls, attempts
        self.names = sorted(model.tables)
        self._described: dict[str, TableDescription] = {}
        self._revision = -1  # the model's revision the cached answers are of
        self._day = (0.0, -1.0)  # ... and the UTC day, in the model's seconds [start, end)
        self.requests: list[tuple[str, tuple[CapacityChange, ...]]] = []  # every UpdateTable

    def list_tables(self) -> list[str]:
        _count(self.calls, self.attempts, "ListTables",
               max(1, math.ceil(len(self.names) / LIST_TABLES_PAGE)))
        return list(self.names)

    def _capacity(self, resource: ResourceModel) -> Capacity:
        """What DescribeTable's ProvisionedThroughput says of one table or GSI (the old
        capacity while UPDATING, with DynamoDB's decrease fields)."""
        return Capacity(resource.provisioned["reads"], resource.provisioned["writes"],
                        self.model.decreases_today(resource), resource.last_decrease,
                        resource.last_increase)

    def describe_table(self, name: str) -> TableDescription:
        self.calls["DescribeTable"] += 1
        self.attempts["DescribeTable"] += 1
        model = self.model
        # Answers are cached until the model changes or the UTC day (the decrease count) does.
        if model.revision != self._revision or not self._day[0] <= model.now < self._day[1]:
            self._described.clear()
            self._revision = model.revision
            self._day = model.utc_day_span()
        description = self._described.get(name)
        if description is None:
            description = self._describe(name)
            self._described[name] = description
        return description

    def _describe(self, name: str) -> TableDescription:
        members = self.model.tables.get(name)
        if not members:
            raise client_error("ResourceNotFoundException",
                               f"Requested resource not found: Table: {name} not found",
                               "DescribeTable")
        table = next((m for m in members if m.gsi is None), None)
        return TableDescription(
            name=name,
            status="UPDATING" if table is not None and table.pending is not None else "ACTIVE",
            billing_mode="PROVISIONED",
            capacity=self._capacity(table) if table is not None else Capacity(0, 0),
            gsis=tuple(
                IndexDescription(gsi.gsi, "UPDATING" if gsi.pending is not None else "ACTIVE",
                                 self._capacity(gsi))
                for gsi in members if gsi.gsi is not None
            ),
        )

    def update_table(self, table: str, changes: Sequence[CapacityChange]) -> None:
        changes = tuple(changes)
        problems = []
        gsi_updates = 0  # the position in GlobalSecondaryIndexUpdates, as the adapter sends it
        for change in changes:
            if change.gsi is None:
                where = "ProvisionedThroughput"
            else:
                where = f"GlobalSecondaryIndexUpdates[{gsi_updates}].Update.ProvisionedThroughput"
                gsi_updates += 1
            problems += [f"Invalid value for parameter {where}.{field}, value: {value}, valid "
                         "min value: 1"
                         for field, value in (("ReadCapacityUnits", change.reads),
                                              ("WriteCapacityUnits", change.writes))
                         if value < 1]
        if problems:  # botocore validates before sending: no request, no call counted
            raise ParamValidationError(report="\n".join(problems))
        _count(self.calls, self.attempts, "UpdateTable")
        self.requests.append((table, changes))
        try:
            self.model.update_table(table, changes)
        except ModelError as exc:
            raise client_error(exc.code, exc.message, "UpdateTable") from None

    def describe_limits(self) -> CapacityLimits:
        _count(self.calls, self.attempts, "DescribeLimits")
        return self.model.limits


class _Series:
    """One (resource, record, dimension) as a metric: its per-minute values and, for long
    windows, prefix sums."""

    __slots__ = ("dim", "divisor", "prefix", "present", "records")

    def __init__(self, records: dict[str, list[float]], dim: str, divisor: float):
        self.records, self.dim, self.divisor = records, dim, divisor
        self.prefix = [0.0]  # prefix[i]: the sum of minutes [0, i)
        self.present = [0]  # present[i]: how many of minutes [0, i) have a datapoint

    def window(self, first: int, last: int) -> float | None:
        """The Sum over minutes [first, last) (all published, so final); None: no datapoint."""
        data = self.records[self.dim]
        if last - first <= DIRECT_SUM_MINUTES:
            total = sum(data[first:last])  # in time order, as the live adapter adds them up
            if total > 0:
                return total if self.divisor == 1.0 else total / self.divisor
            return None
        prefix, present = self.prefix, self.present
        for minute in range(len(prefix) - 1, last):
            value = data[minute]
            prefix.append(prefix[-1] + value)
            present.append(present[-1] + (value > 0))
        if present[last] == present[first]:
            return None
        return max(0.0, prefix[last] - prefix[first]) / self.divisor


_UNKNOWN = _Series({}, "", 1.0)  # a cache miss (None is a cached "no such series")


class SimMetrics:
    """MetricsPort over the model: CloudWatch's one-minute DynamoDB datapoints as of now."""

    def __init__(self, model: CapacityModel, calls: Counter[str], attempts: Counter[str]):
        self.model = model
        self.calls, self.attempts = calls, attempts
        self._series: dict[tuple[str, str | None, str, str], _Series | None] = {}
        self._indices: dict[datetime, int] = {}

    def _count(self, requests: list[MetricRequest]) -> None:
        # Billed per metric requested: every query of every GetMetricData call counts, the
        # same series asked again (another window, Sum and SampleCount) included.
        self.model.metrics_requested += len(requests)
        calls = math.ceil(len(requests) / MAX_QUERIES_PER_CALL)
        if calls:
            _count(self.calls, self.attempts, "GetMetricData", calls)

    def _index(self, moment: datetime) -> int:
        """The first minute starting at or after ``moment`` (CloudWatch rounds StartTime and
        EndTime to the period)."""
        index = self._indices.get(moment)
        if index is None:
            if len(self._indices) > 256:
                self._indices.clear()
            seconds = (moment - self.model.start).total_seconds()
            whole = int(seconds // 60)
            index = whole + 1 if seconds > whole * 60 else whole
            self._indices[moment] = index
        return index

    def _lookup(self, request: MetricRequest) -> _Series | None:
        if request.stat not in _STATS:
            raise ValueError(f"the simulator answers only {' and '.join(_STATS)}, not "
                             f"{request.stat!r} ({request.metric})")
        record, dim = _METRICS.get(request.metric, (_NONE, ""))
        resource = self.model.resources.get(
            request.table if request.gsi is None else f"{request.table}:{request.gsi}")
        series = None
        if resource is not None and record is not None:
            # Sum of a consumed metric is capacity units; everything else counts requests.
            counts_units = record == _CONSUMED and request.stat == "Sum"
            divisor = 1.0 if counts_units else self.model.request_units[dim]
            records = resource.consumed if record == _CONSUMED else resource.throttled
            series = _Series(records, dim, divisor)
        self._series[(request.table, request.gsi, request.metric, request.stat)] = series
        return series

    def _span(self, start: datetime, end: datetime) -> tuple[int, int]:
        return (max(0, self._index(start)),
                min(self.model.published_minutes(), self._index(end)))

    def fetch_sums(self, requests: list[MetricRequest], start: datetime,
                   end: datetime) -> MetricSums:
        self._count(requests)
        first, last = self._span(start, end)
        values: dict[Hashable, float | None] = {}
        if first >= last:
            for request in requests:
                values[request.key] = None
            return MetricSums(values)
        # The replay's hottest path: one cached lookup and one list read per query.
        cache, lookup = self._series, self._lookup
        single = last - first == 1
        for request in requests:
            series = cache.get((request.table, request.gsi, request.metric, request.stat),
                               _UNKNOWN)
            if series is _UNKNOWN:
                series = lookup(request)
            if series is None:
                values[request.key] = None
            elif single:  # sum() of one value is that value: the same figure
                total = series.records[series.dim][first]
                values[request.key] = ((total if series.divisor == 1.0
                                        else total / series.divisor) if total > 0 else None)
            else:
                values[request.key] = series.window(first, last)
        return MetricSums(values)

    def fetch_series(self, requests: list[MetricRequest], start: datetime, end: datetime,
                     period: int = 60) -> dict[Hashable, list[tuple[datetime, float]]]:
        """Datapoints (period start, value) per request key, in time order; periods of whole
        minutes from ``start``; a period with nothing in it has no datapoint."""
        self._count(requests)
        if period < 60 or period % 60:
            raise ValueError(f"the simulator's periods are whole minutes, not {period} s")
        step = period // 60
        first, last = self._span(start, end)
        model = self.model
        out: dict[Hashable, list[tuple[datetime, float]]] = {}
        for request in requests:
            series = self._series.get(
                (request.table, request.gsi, request.metric, request.stat), _UNKNOWN)
            if series is _UNKNOWN:
                series = self._lookup(request)
            points: list[tuple[datetime, float]] = []
            if series is not None:
                data = series.records[series.dim]
                for bucket in range(first, last, step):
                    values = data[bucket:min(bucket + step, last)]
                    total = sum(values)
                    if total > 0:
                        points.append((model.minute_start(bucket), total / series.divisor))
            out[request.key] = points
        return out

    def fetch_metric_series(self, requests: list[MetricRequest], start: datetime,
                            end: datetime, period: int = 60) -> MetricSeries:
        """``fetch_series``: the simulator always answers completely."""
        return MetricSeries(self.fetch_series(requests, start, end, period))


class SimNotifier:
    """NotifierPort: SNS Publish, shaped by the live adapter's rules (subject cleaned and cut,
    FIFO ids) and kept in ``published``."""

    def __init__(self, model: CapacityModel, calls: Counter[str], attempts: Counter[str]):
        self.model = model
        self.calls, self.attempts = calls, attempts
        self.published: list[dict[str, str]] = []

    def publish(self, topic_arn: str, subject: str, message: str) -> str:
        _count(self.calls, self.attempts, "Publish")
        self.published.append(publish_request(topic_arn, subject, message,
                                              self.model.now_datetime()))
        return f"sim-{len(self.published)}"


def fake_ports(model: CapacityModel) -> Ports:
    """The engine's ports over ``model``, with their call counters."""
    calls: Counter[str] = Counter()
    attempts: Counter[str] = Counter()
    return Ports(SimTables(model, calls, attempts), SimMetrics(model, calls, attempts),
                 SimNotifier(model, calls, attempts), calls, attempts=attempts)
