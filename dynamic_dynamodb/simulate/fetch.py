"""``--fetch-trace DAYS --trace-out FILE``: a trace from CloudWatch history.

For every table and GSI the configuration matches (exactly as a live run matches them), it
reads the last DAYS days of one-minute datapoints and writes one row per resource per minute.

Within CloudWatch's rules (reference/aws-behaviour.md, CloudWatch):

* One-minute periods exist only for data younger than 15 days: the trace never starts more
  than ``RETENTION_MARGIN`` (14 days 23 hours) before now, so even a slow fetch never asks for
  older minutes; ``--fetch-trace 15`` therefore covers a little less than 15 days (logged).
* One GetMetricData call covers one day (the last one may be shorter) and at most
  ``SERIES_PER_CALL`` (70) queries: 70 × 1,440 one-minute datapoints = 100,800, the most a
  call may return. With GetMetricData denied, the GetMetricStatistics fallback
  (aws/cloudwatch.py) reads a metric's day (1,440 datapoints, its limit) per call.
* A series CloudWatch does not answer Complete (after the retry aws/cloudwatch.py makes) is
  an error naming the resource, the metric and the day: a trace never holds a partial day
  that would read as idle minutes.
* A resource without a single datapoint in the whole range is an error naming it (a wrong
  region or account, a table without traffic): never a trace of zeros. ``--advise`` alone
  (``keep_silent``) keeps it, idle throughout, and advises it on-demand ($0).

Demand per minute, in capacity units per second: (consumed units + throttled units) ÷ 60.
Throttle metrics count events, not units, so throttled units = throttle events × the average
units per request: consumed Sum ÷ consumed SampleCount of that minute; of the day (the
call's window) when the minute has no consumption; 1 when the day has none at all. That is
still an estimate: the throttled requests may have been larger or smaller than the admitted
ones, and clients that give up or back off hide demand. A minute without any datapoint saw no
traffic (DynamoDB publishes nothing for idle minutes). The starting capacity comes from
DescribeTable, that is, today's capacity.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Hashable
from datetime import datetime, timedelta, timezone

from dynamic_dynamodb.aws import cloudwatch, dynamodb
from dynamic_dynamodb.aws.clients import Clients, error_code, make_clients
from dynamic_dynamodb.aws.model import Capacity, MetricRequest
from dynamic_dynamodb.config.loader import match_gsi, match_table
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.demand import demand_per_second
from dynamic_dynamodb.dimensions import DIMENSIONS
from dynamic_dynamodb.engine import AWS_ERRORS
from dynamic_dynamodb.errors import DynamicDynamoDBError
from dynamic_dynamodb.simulate.trace import ResourceTrace, Trace, write_trace

logger = logging.getLogger(__name__)
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
# The newest minutes are not all published yet; a trace that ends with a false drop to 0
# would mislead the backtest.
SETTLE = timedelta(minutes=5)
# CloudWatch keeps one-minute datapoints 15 days; an hour of margin for the fetch itself.
RETENTION_MARGIN = timedelta(days=14, hours=23)
MAX_DATAPOINTS_PER_CALL = 100_800  # GetMetricData's limit
SERIES_PER_CALL = MAX_DATAPOINTS_PER_CALL // int(DAY / MINUTE)  # 70 one-day series

# What is read per resource and dimension.
CONSUMED, REQUESTS, THROTTLED = "consumed", "requests", "throttled"

Target = tuple[str, str | None, Capacity]


class FetchError(DynamicDynamoDBError):
    pass


def _name(table: str, gsi: str | None) -> str:
    return table if gsi is None else f"{table}:{gsi}"


def _targets(config: Config, clients: Clients) -> list[Target]:
    targets: list[Target] = []
    for name in sorted(dynamodb.list_tables(clients.dynamodb)):
        section, _ = match_table(config, name)
        if section is None:
            continue
        description = dynamodb.describe_table(clients.dynamodb, name)
        targets.append((name, None, description.capacity))
        for index in sorted(description.gsis, key=lambda gsi: gsi.name):
            if match_gsi(section, index.name) is not None:
                targets.append((name, index.name, index.capacity))
    return targets


def _requests(targets: list[Target]) -> list[MetricRequest]:
    requests = []
    for table, gsi, _ in targets:
        for dim in DIMENSIONS:
            requests += [
                MetricRequest((table, gsi, dim.name, CONSUMED), table, gsi, dim.consumed_metric),
                MetricRequest((table, gsi, dim.name, REQUESTS), table, gsi, dim.consumed_metric,
                              "SampleCount"),
                MetricRequest((table, gsi, dim.name, THROTTLED), table, gsi, dim.throttle_metric),
            ]
    return requests


def _days(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """[start, end) in consecutive windows of one day; the last may be shorter."""
    days = []
    while start < end:
        days.append((start, min(end, start + DAY)))
        start += DAY
    return days


def _per_minute(points: list[tuple[datetime, float]], start: datetime,
                minutes: int) -> list[float]:
    values = [0.0] * minutes
    for stamp, value in points:
        minute = int((stamp.astimezone(timezone.utc) - start) / MINUTE)
        if 0 <= minute < minutes:
            values[minute] += value
    return values


def _demand(consumed: list[float], requests: list[float], throttled: list[float]) -> list[float]:
    """Capacity units per second a minute: consumed plus throttle events × units per request."""
    return demand_per_second(consumed, requests, throttled, 60.0)


def _incomplete_error(series: cloudwatch.MetricSeries, requests: list[MetricRequest],
                      start: datetime, end: datetime) -> FetchError:
    failed: dict[str, list[str]] = {}
    for request in requests:
        if request.key in series.incomplete:
            stat = "" if request.stat == "Sum" else f" {request.stat}"
            failed.setdefault(_name(request.table, request.gsi), []).append(
                f"{request.metric}{stat}: {series.statuses[request.key]}")
    named = ", ".join(f"{name} ({'; '.join(metrics)})" for name, metrics in failed.items())
    return FetchError(
        f"CloudWatch did not answer completely for {named} for the day from "
        f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC, also after a retry; a trace "
        "with a partial day would show idle minutes that were not: no trace written, try "
        "again later")


def fetch(config: Config, clients: Clients, days: int, now: datetime | None = None, *,
          keep_silent: bool = False) -> Trace:
    """The configured resources' last ``days`` days as a trace. A resource without a single
    datapoint is a ``FetchError``, unless ``keep_silent`` (--advise): then it stays in the
    trace, idle throughout."""
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    end = moment.replace(second=0, microsecond=0) - SETTLE
    earliest = (moment - RETENTION_MARGIN).replace(second=0, microsecond=0) + MINUTE
    start = end - timedelta(days=days)
    if start < earliest:
        logger.warning("The trace starts at %s UTC, not %d days ago: CloudWatch keeps "
                       "one-minute datapoints 15 days, and the fetch keeps an hour's margin",
                       f"{earliest:%Y-%m-%d %H:%M}", days)
        start = earliest
    minutes = int((end - start) / MINUTE)
    targets = _targets(config, clients)
    if not targets:
        raise FetchError("no table or GSI matches a section of the configuration; no trace "
                         "written")
    requests = _requests(targets)
    values: dict[Hashable, list[float]] = {}
    seen: set[tuple[str, str | None]] = set()  # resources with at least one datapoint
    for day_start, day_end in _days(start, end):
        series = cloudwatch.fetch_metric_series(clients.cloudwatch, requests, day_start,
                                                day_end, 60, max_queries=SERIES_PER_CALL)
        if series.incomplete:
            raise _incomplete_error(series, requests, day_start, day_end)
        day_minutes = int((day_end - day_start) / MINUTE)
        seen.update((request.table, request.gsi) for request in requests
                    if series.points[request.key])
        for table, gsi, _ in targets:
            for dim in DIMENSIONS:
                key = (table, gsi, dim.name)
                per_minute = {kind: _per_minute(series.points[(table, gsi, dim.name, kind)],
                                                day_start, day_minutes)
                              for kind in (CONSUMED, REQUESTS, THROTTLED)}
                values.setdefault(key, []).extend(
                    _demand(per_minute[CONSUMED], per_minute[REQUESTS], per_minute[THROTTLED]))
    silent = [_name(table, gsi) for table, gsi, _ in targets if (table, gsi) not in seen]
    if silent and keep_silent:
        logger.info("No CloudWatch datapoint at all for %s: kept as idle", ", ".join(silent))
    elif silent:
        raise FetchError(
            f"no CloudWatch datapoint at all for {', '.join(silent)} between "
            f"{start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC (no traffic, another region "
            "or account, or metrics not published?); a trace of zeros would mislead the "
            "backtest: no trace written. Narrow the configuration's sections to exclude "
            f"{'it' if len(silent) == 1 else 'them'}")
    resources = []
    for table, gsi, capacity in targets:
        demand = {dim.name: tuple(values[(table, gsi, dim.name)]) for dim in DIMENSIONS}
        resources.append(ResourceTrace(
            table, gsi, demand["reads"], demand["writes"],
            capacity.reads or None, capacity.writes or None))
    return Trace(start=start, minutes=minutes, resources=tuple(resources))


def fetch_history(config: Config, days: int, clients: Clients | None = None, *,
                  keep_silent: bool = False) -> Trace:
    """``fetch`` with its AWS failures as one ``FetchError`` line (--fetch-trace, --tune with
    --fetch-trace, --advise; only --advise keeps silent resources)."""
    try:
        return fetch(config, clients or make_clients(config.global_options), days,
                     keep_silent=keep_silent)
    except AWS_ERRORS as exc:
        raise FetchError(f"cannot read the history from AWS: {error_code(exc)} ({exc})") from None


def fetch_trace(config: Config, days: int, out_path: str, clients: Clients | None = None) -> int:
    """``--fetch-trace DAYS --trace-out FILE``: the configured tables' history as a trace."""
    # Fail before spending API calls if the output cannot be written.
    directory = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
        raise FetchError(f"cannot write {out_path}: {directory} is not a writable directory")
    clients = clients or make_clients(config.global_options)
    trace = fetch_history(config, days, clients)
    try:
        write_trace(out_path, trace)
    except OSError as exc:
        raise FetchError(f"cannot write {out_path}: {exc.strerror or exc}") from None
    names = ", ".join(resource.key for resource in trace.resources)
    print(f"Wrote {trace.minutes} minutes from {trace.start:%Y-%m-%d %H:%M} UTC for "
          f"{len(trace.resources)} resource(s) ({names}) to {out_path}; "
          f"{sum(clients.calls.values())} API calls")
    return 0
