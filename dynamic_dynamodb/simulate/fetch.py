"""``--fetch-trace DAYS --trace-out FILE``: a trace from CloudWatch history.

For every table and GSI the configuration matches (exactly as a live run matches them), it
pulls the last DAYS days of one-minute consumed and throttle Sums with batched GetMetricData
(500 queries a call, NextToken followed) and writes one row per resource per minute:
demand = (consumed + throttle events) ÷ 60, counting each throttle event as one capacity
unit. That is an approximation: a throttled request may need more (or fewer) than one unit,
and clients that give up or back off hide demand. The starting capacity comes from
DescribeTable, that is, today's capacity.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta, timezone

from dynamic_dynamodb.aws import cloudwatch, dynamodb
from dynamic_dynamodb.aws.clients import Clients, error_code, make_clients
from dynamic_dynamodb.aws.model import Capacity, MetricRequest
from dynamic_dynamodb.config.loader import match_gsi, match_table
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.dimensions import DIMENSIONS
from dynamic_dynamodb.engine import AWS_ERRORS
from dynamic_dynamodb.errors import DynamicDynamoDBError
from dynamic_dynamodb.simulate.trace import ResourceTrace, Trace, write_trace

logger = logging.getLogger(__name__)
# The newest minutes are not all published yet; a trace that ends with a false drop to 0
# would mislead the backtest.
SETTLE = timedelta(minutes=5)


class FetchError(DynamicDynamoDBError):
    pass


def _targets(config: Config, clients: Clients) -> list[tuple[str, str | None, Capacity]]:
    targets: list[tuple[str, str | None, Capacity]] = []
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


def fetch(config: Config, clients: Clients, days: int, now: datetime | None = None) -> Trace:
    end = (now or datetime.now(timezone.utc)).replace(second=0, microsecond=0) - SETTLE
    start = end - timedelta(days=days)
    minutes = int((end - start) / timedelta(minutes=1))
    targets = _targets(config, clients)
    if not targets:
        raise FetchError("no table or GSI matches a section of the configuration; no trace "
                         "written")
    requests = [
        MetricRequest((table, gsi, dim.name, metric), table, gsi, metric)
        for table, gsi, _ in targets
        for dim in DIMENSIONS
        for metric in (dim.consumed_metric, dim.throttle_metric)
    ]
    series = cloudwatch.fetch_series(clients.cloudwatch, requests, start, end)
    resources = []
    for table, gsi, capacity in targets:
        demand: dict[str, list[float]] = {}
        for dim in DIMENSIONS:
            per_minute = [0.0] * minutes  # no datapoint: DynamoDB saw no traffic that minute
            for metric in (dim.consumed_metric, dim.throttle_metric):
                for stamp, value in series[(table, gsi, dim.name, metric)]:
                    minute = int((stamp.astimezone(timezone.utc) - start) / timedelta(minutes=1))
                    if 0 <= minute < minutes:
                        per_minute[minute] += value
            demand[dim.name] = [total / 60.0 for total in per_minute]
        resources.append(ResourceTrace(
            table, gsi, tuple(demand["reads"]), tuple(demand["writes"]),
            capacity.reads or None, capacity.writes or None))
    return Trace(start=start, minutes=minutes, resources=tuple(resources))


def fetch_trace(config: Config, days: int, out_path: str, clients: Clients | None = None) -> int:
    """``--fetch-trace DAYS --trace-out FILE``: the configured tables' history as a trace."""
    # Fail before spending API calls if the output cannot be written.
    directory = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
        raise FetchError(f"cannot write {out_path}: {directory} is not a writable directory")
    clients = clients or make_clients(config.global_options)
    try:
        trace = fetch(config, clients, days)
    except AWS_ERRORS as exc:
        raise FetchError(f"cannot read the history from AWS: {error_code(exc)} ({exc})") from None
    try:
        write_trace(out_path, trace)
    except OSError as exc:
        raise FetchError(f"cannot write {out_path}: {exc.strerror or exc}") from None
    names = ", ".join(resource.key for resource in trace.resources)
    print(f"Wrote {trace.minutes} minutes from {trace.start:%Y-%m-%d %H:%M} UTC for "
          f"{len(trace.resources)} resource(s) ({names}) to {out_path}; "
          f"{sum(clients.calls.values())} API calls")
    return 0
