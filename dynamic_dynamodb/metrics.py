"""Operator metrics in Prometheus's format: what a cycle did, what AWS answered, where each
table stands (issue 13).

The module takes plain values, a ``CycleFigures`` per cycle, and imports nothing of the engine,
so the runner wires it in and nothing here can form an import cycle. Everything lives in the
``Exporter``'s own ``CollectorRegistry`` (never prometheus_client's global one), so tests and
several runners in one process never collide.

One collector yields every metric from one snapshot taken under a lock: ``record`` (the main
thread) swaps in a cycle's figures at once, and a scrape (the HTTP server's thread) sees the
cycle before or the cycle after, never half of one. Counters accumulate across cycles; the
per-resource gauges are the last cycle's resources only, so a table that disappears (or leaves
the configuration) stops being exported.

Every label value is bounded: table and GSI names, outcome codes, dimension names, API
operation names, AWS error codes and update results, checked against their formats. Free text
(an error message) is refused with ``ValueError`` before anything is recorded.
"""

from __future__ import annotations

import itertools
import math
import re
import threading
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, TypeVar
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, generate_latest, start_http_server, write_to_textfile
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.parser import text_string_to_metric_families

from dynamic_dynamodb.dimensions import DIMENSIONS
from dynamic_dynamodb.policy.outcomes import Outcome

# Cycle durations: a quiet cycle of a few tables takes a fraction of a second, hundreds of
# tables with retries a few minutes; past 5 minutes it overlaps the default check-interval.
DURATION_BUCKETS: Final = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

_BOUNDS: Final = (*DURATION_BUCKETS, math.inf)


def _le(bound: float) -> str:
    """A bucket's ``le`` label as Prometheus writes it: 0.1, 1.0, +Inf."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))


# The update results the runner reports; always exported, at 0 until they happen.
UPDATE_RESULTS: Final = ("ok", "resource-in-use", "limit-exceeded", "error")

_OUTCOMES: Final = frozenset(outcome.value for outcome in Outcome)
_DIMENSIONS: Final = tuple(dimension.name for dimension in DIMENSIONS)

# Label value formats. DynamoDB names tables and indexes with [a-zA-Z0-9_.-]{3,255}.
_RESOURCE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,255}")
_OPERATION = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}")  # DescribeTable, GetMetricData
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")  # ThrottlingException, 500, ok
_RUNNER = re.compile(r"[A-Za-z0-9_.:/-]{1,128}")
_ACCOUNT = re.compile(r"\d{12}|unknown-account")
_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_NAMESPACE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# The constant label naming this exporter's runner. Not "instance": Prometheus sets that one
# to the scrape target and would rename ours to "exported_instance".
RUNNER_LABEL: Final = "runner"
_RESOURCE_LABELS: Final = ("table", "gsi", "dimension")
# With several accounts or regions, the per-table series also carry these: the same table
# name can exist in more than one. Bounded by the configuration's locations.
_LOCATION_LABELS: Final = ("account", "region")
_Key = TypeVar("_Key", bound=Hashable)


@dataclass(frozen=True)
class DimensionStatus:
    """One dimension of one table or GSI as the last cycle left it."""

    table: str
    gsi: str | None  # None for the table itself
    dimension: str  # "reads" / "writes"
    provisioned: int  # capacity units provisioned after the cycle
    consumed_percent: float  # of provisioned, over the lookback window; NaN if unknown
    throttle_events: int  # in the lookback window
    outcome: str  # an Outcome value, e.g. "scaled-up-consumed"
    decreases_today: int  # decreases made today (UTC) on the table or GSI (its quota's count)
    next_decrease: datetime | None = None  # aware UTC; None: possible now, or unknown
    account: str = ""  # with several accounts or regions (Exporter(locations=True)) only
    region: str = ""


@dataclass(frozen=True)
class CycleFigures:
    """What one cycle did, in plain values: the input of ``Exporter.record``."""

    started: datetime  # aware UTC
    duration_seconds: float
    succeeded: bool  # the whole cycle ran; errors in single resources do not make it fail
    tables: int = 0
    gsis: int = 0
    errors: int = 0  # tables or GSIs whose check failed (the others went on)
    updates: int = 0  # UpdateTable requests made (their results are in update_results)
    calls: Mapping[str, int] = field(default_factory=dict)  # API operations in the cycle
    attempts: Mapping[str, int] = field(default_factory=dict)  # HTTP requests, retries incl.
    failures: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (operation, code)
    update_results: Mapping[str, int] = field(default_factory=dict)  # e.g. {"ok": 3}
    metrics_requested: int = 0  # CloudWatch metrics asked (what GetMetricData bills)
    dimensions: tuple[DimensionStatus, ...] = ()


class MetricsServerError(OSError):
    """The metrics HTTP server could not start; ``str()`` is one line naming the address."""

    def __init__(self, address: str, port: int, cause: OSError) -> None:
        host = f"[{address}]" if ":" in address else address
        reason = cause.strerror or str(cause) or type(cause).__name__
        super().__init__(cause.errno, f"cannot serve metrics on {host}:{port}: {reason}")

    def __str__(self) -> str:
        return str(self.strerror)


class MetricsServer:
    """The running metrics HTTP server (a daemon thread); ``stop()`` it when done."""

    def __init__(self, httpd: WSGIServer, thread: threading.Thread, address: str) -> None:
        self.address = address
        self.port: int = httpd.server_port  # the one bound, also when 0 was asked
        self._httpd: WSGIServer | None = httpd
        self._thread: threading.Thread | None = thread
        self._lock = threading.Lock()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and close the socket. Safe to call more than once."""
        with self._lock:
            httpd, thread = self._httpd, self._thread
            self._httpd, self._thread = None, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if thread is not None:
            thread.join(timeout)

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class _Snapshot:
    """Everything exported, as one value. ``record`` builds a new one and swaps it in under
    the lock; a published snapshot is never changed, so a scrape reads it without copying."""

    cycles: dict[str, float]  # result -> count
    resource_errors: float
    decisions: dict[tuple[str, str], float]  # (outcome, dimension) -> count
    update_requests: dict[str, float]
    aws_requests: dict[str, float]
    aws_http_requests: dict[str, float]
    aws_errors: dict[tuple[str, str], float]
    metrics_requested: float
    buckets: list[float]  # per DURATION_BUCKETS bound, not cumulative; the last is +Inf
    duration_sum: float
    last_success: float | None = None
    last_cycle: CycleFigures | None = None

    def copy(self) -> _Snapshot:
        return _Snapshot(
            cycles=dict(self.cycles), resource_errors=self.resource_errors,
            decisions=dict(self.decisions), update_requests=dict(self.update_requests),
            aws_requests=dict(self.aws_requests), aws_http_requests=dict(self.aws_http_requests),
            aws_errors=dict(self.aws_errors), metrics_requested=self.metrics_requested,
            buckets=list(self.buckets), duration_sum=self.duration_sum,
            last_success=self.last_success, last_cycle=self.last_cycle,
        )


def _empty_snapshot() -> _Snapshot:
    return _Snapshot(
        cycles={"ok": 0.0, "failed": 0.0},
        resource_errors=0.0,
        decisions={(outcome, dimension): 0.0 for outcome in sorted(_OUTCOMES)
                   for dimension in _DIMENSIONS},
        update_requests=dict.fromkeys(UPDATE_RESULTS, 0.0),
        aws_requests={}, aws_http_requests={}, aws_errors={},
        metrics_requested=0.0,
        buckets=[0.0] * (len(DURATION_BUCKETS) + 1),
        duration_sum=0.0,
    )


def _end_of(figures: CycleFigures) -> float:
    return figures.started.timestamp() + figures.duration_seconds


class Exporter:
    """Operator metrics for one runner, in its own registry.

    ``record`` a ``CycleFigures`` after each cycle; expose them with ``serve`` (HTTP, for a
    Prometheus scrape) or ``write_textfile`` (node_exporter's textfile collector, for
    ``--run-once`` under cron).
    """

    def __init__(self, namespace: str = "dynamic_dynamodb", instance: str = "default",
                 locations: bool = False) -> None:
        """``locations``: the per-table series carry ``account`` and ``region`` labels (for a
        runner of several accounts or regions; fixed for the exporter's life, so a series
        never changes its label set)."""
        if not _NAMESPACE.fullmatch(namespace):
            raise ValueError(f"metrics namespace {namespace!r}: expected [A-Za-z_][A-Za-z0-9_]*")
        if not _RUNNER.fullmatch(instance):
            raise ValueError(f"metrics instance {instance!r}: expected [A-Za-z0-9_.:/-]{{1,128}}")
        self.namespace = namespace
        self.instance = instance
        self.locations = locations
        self._lock = threading.Lock()
        self._state = _empty_snapshot()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    # -- input ------------------------------------------------------------------------------
    def record(self, figures: CycleFigures) -> None:
        """Add one cycle. Raises ``ValueError`` on a malformed figure (a caller's bug), in which
        case nothing of the cycle is recorded."""
        _validate(figures, self.locations)
        with self._lock:
            state = self._state.copy()
            state.cycles["ok" if figures.succeeded else "failed"] += 1
            state.resource_errors += figures.errors
            for status in figures.dimensions:
                key = (status.outcome, status.dimension)
                state.decisions[key] = state.decisions.get(key, 0.0) + 1
            _add(state.update_requests, figures.update_results)
            _add(state.aws_requests, figures.calls)
            _add(state.aws_http_requests, figures.attempts)
            _add(state.aws_errors, figures.failures)
            state.metrics_requested += figures.metrics_requested
            index = next((i for i, bound in enumerate(DURATION_BUCKETS)
                          if figures.duration_seconds <= bound), len(DURATION_BUCKETS))
            state.buckets[index] += 1
            state.duration_sum += figures.duration_seconds
            if figures.succeeded:
                state.last_success = max(_end_of(figures), state.last_success or 0.0)
            state.last_cycle = figures
            self._state = state

    def resume_from_textfile(self, path: str) -> bool:
        """Continue the counters, the duration histogram and the last success time of a
        textfile an earlier run of this runner wrote (``--run-once`` under cron: each run is a
        new process). Call it once, before the first ``record``. Returns False, and changes
        nothing, when the file is missing or unreadable or holds nothing of this runner."""
        try:
            with open(path, encoding="utf-8") as file:
                families = list(text_string_to_metric_families(file.read()))
        except (OSError, UnicodeDecodeError, ValueError):
            return False
        prefix = f"{self.namespace}_"
        resumed = _empty_snapshot()
        found = False
        le_index = {_le(bound): i for i, bound in enumerate(_BOUNDS)}
        cumulative: dict[int, float] = {}
        for family in families:
            for sample in family.samples:
                labels = dict(sample.labels)
                if (not sample.name.startswith(prefix) or labels.pop(RUNNER_LABEL, None)
                        != self.instance or not math.isfinite(sample.value) or sample.value < 0):
                    continue
                found |= _resume_sample(resumed, sample.name[len(prefix):], labels,
                                        sample.value, le_index, cumulative)
        counts = [cumulative.get(i, -1.0) for i in range(len(le_index))]
        per_bucket = [b - a for a, b in itertools.pairwise([0.0, *counts])]
        if min(per_bucket) >= 0:
            resumed.buckets = per_bucket
        else:  # missing or inconsistent buckets: keep no part of the histogram
            resumed.duration_sum = 0.0
        if not found:
            return False
        with self._lock:
            state = self._state.copy()
            _add(state.cycles, resumed.cycles)
            _add(state.decisions, resumed.decisions)
            _add(state.update_requests, resumed.update_requests)
            _add(state.aws_requests, resumed.aws_requests)
            _add(state.aws_http_requests, resumed.aws_http_requests)
            _add(state.aws_errors, resumed.aws_errors)
            state.resource_errors += resumed.resource_errors
            state.metrics_requested += resumed.metrics_requested
            state.buckets = [a + b for a, b in zip(state.buckets, resumed.buckets, strict=True)]
            state.duration_sum += resumed.duration_sum
            if resumed.last_success is not None:
                state.last_success = max(resumed.last_success, state.last_success or 0.0)
            self._state = state
        return True

    # -- output -----------------------------------------------------------------------------
    def serve(self, port: int, address: str = "127.0.0.1") -> MetricsServer:
        """Serve the metrics over HTTP (any path) from a daemon thread. Port 0 picks a free
        port, which ``.port`` tells. Raises ``MetricsServerError`` (an ``OSError``) with a
        one-line message when the address cannot be bound (port in use, no permission, bad
        address)."""
        try:
            httpd, thread = start_http_server(port, addr=address, registry=self.registry)
        except OSError as exc:
            raise MetricsServerError(address, port, exc) from exc
        return MetricsServer(httpd, thread, address)

    def write_textfile(self, path: str) -> None:
        """Write the metrics atomically (a temporary file renamed over ``path``), for
        node_exporter's textfile collector; its file name must end in ``.prom``."""
        write_to_textfile(path, self.registry)

    def text(self) -> str:
        """The exposition text, as a scrape would get it."""
        return generate_latest(self.registry).decode("utf-8")

    # -- the collector ----------------------------------------------------------------------
    def describe(self) -> Iterator[Metric]:
        """Every family this collector yields, without samples (the registry's names)."""
        return _Families(self.namespace, self.instance, self.locations).all()

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            state = self._state  # replaced, never mutated, by record: no copy needed
        families = _Families(self.namespace, self.instance, self.locations)
        families.fill(state)
        return families.all()


class _Families:
    """The metric families with their HELP; ``fill`` adds one snapshot's samples."""

    def __init__(self, namespace: str, instance: str, locations: bool = False) -> None:
        self.instance = instance
        self.locations = locations
        runner = [RUNNER_LABEL]
        where = list(_LOCATION_LABELS) if locations else []
        resource = [*_RESOURCE_LABELS, *where, RUNNER_LABEL]
        quota = ["table", "gsi", *where, RUNNER_LABEL]

        def name(short: str) -> str:
            return f"{namespace}_{short}"

        self.last_duration = GaugeMetricFamily(
            name("last_cycle_duration_seconds"),
            "How long the last check cycle took, in seconds. Near check-interval means cycles "
            "run back to back.", labels=runner)
        self.duration = HistogramMetricFamily(
            name("cycle_duration_seconds"),
            "How long check cycles take, in seconds: for percentiles and slow-cycle trends.",
            labels=runner)
        self.last_cycle = GaugeMetricFamily(
            name("last_cycle_timestamp_seconds"),
            "When the last check cycle ended, successful or not (Unix time).", labels=runner)
        self.last_success = GaugeMetricFamily(
            name("last_success_timestamp_seconds"),
            "When the last check cycle that ran to its end ended (Unix time). Errors in single "
            "tables do not count as failure. Alert on time() minus this: nothing is scaled "
            "while it grows.", labels=runner)
        self.cycles = CounterMetricFamily(
            name("cycles"),
            "Check cycles by result: ok (ran to its end, perhaps with errors in single tables) "
            "or failed (stopped early: AWS unreachable, listing failed, state file error).",
            labels=["result", *runner])
        self.resources = GaugeMetricFamily(
            name("resources_checked"),
            "Tables (kind=table) and GSIs (kind=gsi) the last cycle checked: a drop to 0 means "
            "the configuration's regexes match nothing.", labels=["kind", *runner])
        self.resource_errors = CounterMetricFamily(
            name("resource_errors"),
            "Tables or GSIs whose check failed (the others went on). The log names them.",
            labels=runner)
        self.decisions = CounterMetricFamily(
            name("decisions"),
            "Decisions per capacity dimension by outcome code (as in --log-format json): "
            "scaled, held and why, deferred by the decrease quota, refused by AWS.",
            labels=["outcome", "dimension", *runner])
        self.update_requests = CounterMetricFamily(
            name("update_requests"),
            "UpdateTable requests by result: ok, resource-in-use (table busy, retried next "
            "cycle), limit-exceeded (decrease quota or capacity limit), error.",
            labels=["result", *runner])
        self.aws_requests = CounterMetricFamily(
            name("aws_requests"),
            "AWS API operations made, by operation, retries not counted.",
            labels=["operation", *runner])
        self.aws_http_requests = CounterMetricFamily(
            name("aws_http_requests"),
            "HTTP requests sent to AWS, by operation, retries included: more than "
            "aws_requests_total means AWS throttled or failed and botocore retried.",
            labels=["operation", *runner])
        self.aws_errors = CounterMetricFamily(
            name("aws_errors"),
            "AWS API operations that failed after retries, by operation and AWS error code.",
            labels=["operation", "code", *runner])
        self.metrics_requested = CounterMetricFamily(
            name("cloudwatch_metrics_requested"),
            "CloudWatch metrics requested with GetMetricData: what CloudWatch bills, "
            "USD 0.01 per 1,000 metrics.", labels=runner)
        self.provisioned = GaugeMetricFamily(
            name("provisioned_capacity_units"),
            "Provisioned capacity units after the last cycle, per table or GSI (gsi=\"\" for "
            "the table) and dimension.", labels=resource)
        self.consumed = GaugeMetricFamily(
            name("consumed_ratio"),
            "Consumed capacity over provisioned in the last cycle's lookback window (1 = all "
            "of it; above 1 is burst capacity). Absent when CloudWatch had no complete answer.",
            labels=resource)
        self.throttles = GaugeMetricFamily(
            name("throttle_events"),
            "Throttle events in the last cycle's lookback window (requests DynamoDB refused "
            "for lack of capacity).", labels=resource)
        self.decreases = GaugeMetricFamily(
            name("decreases_used_today"),
            "Capacity decreases made today (UTC) on this table or GSI (gsi=\"\" for the table), "
            "as DynamoDB and our own record count them: DynamoDB allows 4, then one an hour, "
            "at most max-decreases-per-day.", labels=quota)
        self.next_decrease = GaugeMetricFamily(
            name("next_decrease_timestamp_seconds"),
            "When the decrease quota or a cooldown next allows a decrease of this table or GSI "
            "(Unix time). Absent when a decrease is possible now, or unknown.", labels=quota)

    def all(self) -> Iterator[Metric]:
        return iter([
            self.last_duration, self.duration, self.last_cycle, self.last_success, self.cycles,
            self.resources, self.resource_errors, self.decisions, self.update_requests,
            self.aws_requests, self.aws_http_requests, self.aws_errors, self.metrics_requested,
            self.provisioned, self.consumed, self.throttles, self.decreases,
            self.next_decrease,
        ])

    def fill(self, state: _Snapshot) -> None:
        runner = [self.instance]
        for result, count in sorted(state.cycles.items()):
            self.cycles.add_metric([result, *runner], count)
        self.resource_errors.add_metric(runner, state.resource_errors)
        for (outcome, dimension), count in sorted(state.decisions.items()):
            self.decisions.add_metric([outcome, dimension, *runner], count)
        for result, count in sorted(state.update_requests.items()):
            self.update_requests.add_metric([result, *runner], count)
        for operation, count in sorted(state.aws_requests.items()):
            self.aws_requests.add_metric([operation, *runner], count)
        for operation, count in sorted(state.aws_http_requests.items()):
            self.aws_http_requests.add_metric([operation, *runner], count)
        for (operation, code), count in sorted(state.aws_errors.items()):
            self.aws_errors.add_metric([operation, code, *runner], count)
        self.metrics_requested.add_metric(runner, state.metrics_requested)
        cumulative, total = [], 0.0
        for bound, count in zip(_BOUNDS, state.buckets, strict=True):
            total += count
            cumulative.append((_le(bound), total))
        self.duration.add_metric(runner, cumulative, state.duration_sum)
        if state.last_success is not None:
            self.last_success.add_metric(runner, state.last_success)
        figures = state.last_cycle
        if figures is None:
            return
        self.last_duration.add_metric(runner, figures.duration_seconds)
        self.last_cycle.add_metric(runner, _end_of(figures))
        self.resources.add_metric(["table", *runner], figures.tables)
        self.resources.add_metric(["gsi", *runner], figures.gsis)
        quota: dict[tuple[str, ...], tuple[int, datetime | None]] = {}
        for status in sorted(figures.dimensions,
                             key=lambda s: (s.account, s.region, s.table, s.gsi or "",
                                            s.dimension)):
            where = [status.account, status.region] if self.locations else []
            labels = [status.table, status.gsi or "", status.dimension, *where, *runner]
            self.provisioned.add_metric(labels, status.provisioned)
            if math.isfinite(status.consumed_percent):
                self.consumed.add_metric(labels, status.consumed_percent / 100)
            self.throttles.add_metric(labels, status.throttle_events)
            # DynamoDB's decrease quota is per table and per GSI, not per dimension: one
            # series per resource, so that a sum() does not count it twice.
            resource = (status.table, status.gsi or "", *where)
            used, until = quota.get(resource, (0, None))
            if status.next_decrease is not None and (until is None or status.next_decrease > until):
                until = status.next_decrease
            quota[resource] = (max(used, status.decreases_today), until)
        for resource, (used, until) in quota.items():
            self.decreases.add_metric([*resource, *runner], used)
            if until is not None:
                self.next_decrease.add_metric([*resource, *runner], until.timestamp())

def _add(totals: dict[_Key, float], counts: Mapping[_Key, float]) -> None:
    for key, count in counts.items():
        totals[key] = totals.get(key, 0.0) + count


def _resume_sample(state: _Snapshot, name: str, labels: dict[str, str], value: float,
                   le_index: dict[str, int], cumulative: dict[int, float]) -> bool:
    """Put one sample of an earlier run's textfile into ``state``; False if it is not ours."""
    keys = set(labels)
    if name == "cycles_total" and keys == {"result"} and labels["result"] in state.cycles:
        state.cycles[labels["result"]] = value
    elif name == "resource_errors_total" and not keys:
        state.resource_errors = value
    elif (name == "decisions_total" and keys == {"outcome", "dimension"}
          and (labels["outcome"], labels["dimension"]) in state.decisions):
        state.decisions[labels["outcome"], labels["dimension"]] = value
    elif (name == "update_requests_total" and keys == {"result"}
          and _CODE.fullmatch(labels["result"])):
        state.update_requests[labels["result"]] = value
    elif (name in ("aws_requests_total", "aws_http_requests_total") and keys == {"operation"}
          and _OPERATION.fullmatch(labels["operation"])):
        target = state.aws_requests if name == "aws_requests_total" else state.aws_http_requests
        target[labels["operation"]] = value
    elif (name == "aws_errors_total" and keys == {"operation", "code"}
          and _OPERATION.fullmatch(labels["operation"]) and _CODE.fullmatch(labels["code"])):
        state.aws_errors[labels["operation"], labels["code"]] = value
    elif name == "cloudwatch_metrics_requested_total" and not keys:
        state.metrics_requested = value
    elif name == "cycle_duration_seconds_bucket" and keys == {"le"} and labels["le"] in le_index:
        cumulative[le_index[labels["le"]]] = value
    elif name == "cycle_duration_seconds_sum" and not keys:
        state.duration_sum = value
    elif name == "last_success_timestamp_seconds" and not keys:
        state.last_success = value
    else:
        return False
    return True


def _validate(figures: CycleFigures, locations: bool = False) -> None:
    """Refuse what would make an unbounded label, a decreasing counter or a wrong time."""
    _aware("started", figures.started)
    if not math.isfinite(figures.duration_seconds) or figures.duration_seconds < 0:
        raise ValueError(f"duration_seconds: expected a finite number >= 0, "
                         f"got {figures.duration_seconds!r}")
    for what, count in (("tables", figures.tables), ("gsis", figures.gsis),
                        ("errors", figures.errors), ("updates", figures.updates),
                        ("metrics_requested", figures.metrics_requested)):
        _count(what, count)
    for what, counts in (("calls", figures.calls), ("attempts", figures.attempts)):
        for operation, count in counts.items():
            _label(what, operation, _OPERATION)
            _count(f"{what}[{operation}]", count)
    for (operation, code), count in figures.failures.items():
        _label("failures operation", operation, _OPERATION)
        _label("failures code", code, _CODE)
        _count(f"failures[{operation}, {code}]", count)
    for result, count in figures.update_results.items():
        _label("update_results", result, _CODE)
        _count(f"update_results[{result}]", count)
    seen: set[tuple[str, ...]] = set()
    for status in figures.dimensions:
        _label("table", status.table, _RESOURCE_NAME)
        if locations:
            _label("account", status.account, _ACCOUNT)
            _label("region", status.region, _REGION)
        if status.gsi is not None:
            _label("gsi", status.gsi, _RESOURCE_NAME)
        if status.dimension not in _DIMENSIONS:
            raise ValueError(f"dimension: expected one of {_DIMENSIONS}, got {status.dimension!r}")
        if status.outcome not in _OUTCOMES:
            raise ValueError(f"outcome: expected an Outcome value, got {status.outcome!r}")
        key = (status.table, status.gsi or "", status.dimension,
               *((status.account, status.region) if locations else ()))
        if key in seen:
            raise ValueError(f"dimensions: {key} appears twice")
        seen.add(key)
        _count("provisioned", status.provisioned)
        _count("throttle_events", status.throttle_events)
        _count("decreases_today", status.decreases_today)
        if math.isinf(status.consumed_percent) or status.consumed_percent < 0:
            raise ValueError(f"consumed_percent: expected a number >= 0 or NaN, "
                             f"got {status.consumed_percent!r}")
        if status.next_decrease is not None:
            _aware("next_decrease", status.next_decrease)


def _label(what: str, value: object, pattern: re.Pattern[str]) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"{what}: {value!r} is not a valid label value "
                         f"(expected {pattern.pattern})")


def _count(what: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what}: expected an integer >= 0, got {value!r}")


def _aware(what: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what}: expected an aware datetime (UTC), got naive {value!r}")
