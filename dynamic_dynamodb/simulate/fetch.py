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

Several accounts and regions (``fleet.py``): each location's tables are read with that
location's own clients (its region; for a role, STS AssumeRole credentials), matched
against that location's sections only, over the same minutes, and merged into one trace. A
table name found in more than one location is written, in every one of them, as
``<table>.<account>.<region>`` (``qualified``; the trace format's names allow no ``/``);
every other name stays as it is, so that ``--simulate`` and ``--tune`` match it against the
sections as before (regexes match at the start of a name: ``^orders`` also matches the
qualified names, ``^orders$`` does not). A location that cannot be read (AssumeRole denied,
an unreachable region) is one error line naming it: ``--fetch-trace`` (and ``--tune`` on
fetched history) then stops, exit 1, no file written; ``--advise`` advises the others
(``History.failures``). A location none of whose tables match its sections is skipped with
a warning.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import secrets
import signal
import sys
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from dynamic_dynamodb import fleet
from dynamic_dynamodb.aws import cloudwatch, dynamodb
from dynamic_dynamodb.aws.clients import Clients, error_code, resolve_region
from dynamic_dynamodb.aws.model import Capacity, MetricRequest
from dynamic_dynamodb.config.loader import match_gsi, match_table
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.demand import demand_per_second
from dynamic_dynamodb.dimensions import DIMENSIONS
from dynamic_dynamodb.engine import AWS_ERRORS
from dynamic_dynamodb.errors import DynamicDynamoDBError
from dynamic_dynamodb.fleet import Location
from dynamic_dynamodb.simulate.runner import Interrupted, interruptible
from dynamic_dynamodb.simulate.trace import NAME, ResourceTrace, Trace, write_trace

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


class NoMatchError(FetchError):
    """No table or GSI of a location matches its sections."""


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
        raise NoMatchError("no table or GSI matches a section of the configuration; no "
                             "trace written")
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


def _fetch_one(config: Config, clients: Clients, days: int, now: datetime | None, *,
               keep_silent: bool) -> Trace:
    """``fetch`` with its AWS failures as one ``FetchError`` line (an error page that an
    endpoint answered with, HTML say, is put on that line too)."""
    try:
        return fetch(config, clients, days, now, keep_silent=keep_silent)
    except AWS_ERRORS as exc:
        text = " ".join(str(exc).split())
        raise FetchError(f"cannot read the history from AWS: {error_code(exc)} ({text})") from None


ClientsFor = Callable[[Location], Clients]


@dataclass(frozen=True)
class LocationHistory:
    """One location's part of a fetch: its name (``<account>/<region>``), the sections that
    apply there (``fleet.restricted``; the whole configuration with one location), and its
    trace, table names as they are."""

    location: Location
    name: str
    config: Config
    trace: Trace


@dataclass
class History:
    """What a fetch over every location read, and which locations it could not read."""

    parts: list[LocationHistory]
    several: bool  # more than one location configured: names carry their location
    failures: list[str] = field(default_factory=list)  # one line each, naming the location
    calls: int = 0  # AWS API calls, every location's

    def trace(self) -> Trace:
        """One trace of every location read; see ``qualified`` for colliding names."""
        return merge(self.parts)


def qualified(table: str, location_name: str) -> str:
    """A table's name in a merged trace when the same name exists in several locations:
    ``orders`` of ``210987654321/eu-west-1`` is ``orders.210987654321.eu-west-1``."""
    return f"{table}.{location_name.replace('/', '.')}"


def merge(parts: list[LocationHistory]) -> Trace:
    """The locations' traces as one, over the minutes they all cover (each location's fetch
    ends when it was made). A table name found in more than one location is ``qualified``
    in each; every other name stays as it is. A name the trace format cannot hold, or two
    locations of the same account and region (two roles, say) both having a table of that
    name, is a ``FetchError``: no trace."""
    if not parts:
        raise FetchError("no account or region could be read; no trace")
    if len(parts) == 1:
        return parts[0].trace
    start = max(part.trace.start for part in parts)
    end = min(part.trace.start + part.trace.minutes * MINUTE for part in parts)
    if end <= start:
        raise FetchError("the accounts' and regions' histories have no minute in common")
    if any(part.trace.start != start or part.trace.minutes * MINUTE != end - start
           for part in parts):
        logger.warning("The trace covers %s to %s UTC, the minutes every account and region "
                       "was read for", f"{start:%Y-%m-%d %H:%M}", f"{end:%Y-%m-%d %H:%M}")
    minutes = int((end - start) / MINUTE)
    found = Counter(table for part in parts
                    for table in {resource.table for resource in part.trace.resources})
    resources: list[ResourceTrace] = []
    keys: dict[str, str] = {}
    for part in parts:
        first = int((start - part.trace.start) / MINUTE)
        for resource in part.trace.resources:
            table = (qualified(resource.table, part.name) if found[resource.table] > 1
                     else resource.table)
            if not NAME.fullmatch(table):
                raise FetchError(f"{part.name}: table {resource.table} is named {table!r} in "
                                 "the trace, which is not a trace name (letters, digits, "
                                 "'_', '-' and '.', at most 255); no trace written")
            key = table if resource.gsi is None else f"{table}:{resource.gsi}"
            if key in keys:
                raise FetchError(f"{key} is in two locations of the same account and region "
                                 f"({keys[key]}, and {part.location.describe()}); a trace "
                                 "cannot tell them apart: no trace written")
            keys[key] = part.location.describe()
            resources.append(dataclasses.replace(
                resource, table=table, reads=resource.reads[first:first + minutes],
                writes=resource.writes[first:first + minutes]))
    return Trace(start=start, minutes=minutes, resources=tuple(resources))


def fetch_locations(config: Config, days: int, *, clients_for: ClientsFor | None = None,
                    keep_silent: bool = False, skip_failed: bool = False,
                    now: datetime | None = None) -> History:
    """Every location's tables (``fleet.locations``), each with its own clients
    (``clients_for``, default ``fleet.clients_for``) and its own sections, over the same
    minutes. A location that cannot be read is a ``FetchError`` naming it (with several
    locations), unless ``skip_failed``: then it is one line of ``History.failures`` and the
    others are read. A location without a matching table is skipped with a warning (with
    several locations; with one, it is the ``FetchError`` it always was)."""
    default_region = resolve_region(config.global_options.region)[0]
    places = fleet.locations(config, default_region)
    several = len(places) > 1
    if clients_for is None:
        def clients_for(location: Location) -> Clients:
            return fleet.clients_for(config, location, default_region)
    history = History([], several)
    for location in places:
        clients = clients_for(location)
        sections = fleet.restricted(config, location, default_region) if several else config
        name = fleet.name_of(fleet.account_of(location, clients.sts) if several else None,
                             location.region)
        try:
            # Each location's own "now" (unless given): CloudWatch's retention counts from
            # when its requests are made, and a fetch of many tables takes a while; merge
            # keeps the minutes every location has.
            trace = _fetch_one(sections, clients, days, now, keep_silent=keep_silent)
        except NoMatchError:
            if not several:
                raise
            logger.warning("%s (%s): no table or GSI there matches its sections; nothing "
                           "read there", name, location.describe())
            continue
        except FetchError as exc:
            if not several:
                raise
            line = f"{name} ({location.describe()}): {exc}"
            if not skip_failed:
                raise FetchError(line) from None
            history.failures.append(line)
            continue
        finally:
            history.calls += sum(clients.calls.values())
        history.parts.append(LocationHistory(location, name, sections, trace))
    if not history.parts and not history.failures:
        raise FetchError(f"no table or GSI matches a section of the configuration in any of "
                         f"the {len(places)} accounts and regions; no trace written")
    return history


def fetch_history(config: Config, days: int, clients: Clients | None = None, *,
                  keep_silent: bool = False) -> Trace:
    """Every location's history as one trace (``fetch_locations``, ``merge``); a location
    that cannot be read is a ``FetchError`` (--fetch-trace, --tune with --fetch-trace).
    ``clients``: read only the default location, with these (tests)."""
    if clients is not None:
        return _fetch_one(config, clients, days, None, keep_silent=keep_silent)
    return fetch_locations(config, days, keep_silent=keep_silent).trace()


def fetch_trace(config: Config, days: int, out_path: str, clients: Clients | None = None) -> int:
    """``--fetch-trace DAYS --trace-out FILE``: the configured tables' history as a trace,
    every account's and region's; 0 when written, 130/143 after SIGINT/SIGTERM. Any location
    that cannot be read: a ``FetchError`` and no file (not even a partial one: the file is
    written under another name, then renamed)."""
    # Fail before spending API calls if the output cannot be written.
    directory = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
        raise FetchError(f"cannot write {out_path}: {directory} is not a writable directory")
    where = ""
    try:
        with interruptible():  # SIGINT/SIGTERM unwind: no temporary file is left behind
            if clients is not None:
                trace = fetch_history(config, days, clients)
                calls = sum(clients.calls.values())
            else:
                history = fetch_locations(config, days)
                trace, calls = history.trace(), history.calls
                if history.several:
                    where = f" in {len(history.parts)} accounts and regions"
            _write_whole(out_path, trace)
    except Interrupted as stop:
        print(f"dynamic-dynamodb: interrupted by {signal.Signals(stop.signum).name}; "
              f"{out_path} not written", file=sys.stderr)
        return 128 + stop.signum
    names = ", ".join(resource.key for resource in trace.resources)
    print(f"Wrote {trace.minutes} minutes from {trace.start:%Y-%m-%d %H:%M} UTC for "
          f"{len(trace.resources)} resource(s) ({names}){where} to {out_path}; "
          f"{calls} API calls")
    return 0


def _write_whole(out_path: str, trace: Trace) -> None:
    """``write_trace`` into a new file beside ``out_path``, renamed over it when complete: a
    failed or interrupted write leaves no partial trace (the new file is removed; SIGINT
    and SIGTERM unwind through here, see ``fetch_trace``). The new file is created
    exclusively, never through a symlink, with the umask's permissions; a symlink at
    ``out_path`` is replaced, not written through."""
    directory, base = os.path.split(os.path.abspath(out_path))
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_CLOEXEC", 0))
    temporary: str | None = None
    try:
        for _ in range(100):
            candidate = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.partial")
            try:
                handle = os.open(candidate, flags, 0o666)
            except FileExistsError:
                continue
            temporary = candidate
            break
        else:
            raise FetchError(f"cannot write {out_path}: no free temporary name in {directory}")
        with os.fdopen(handle, "wb") as stream:
            write_trace(out_path, trace, into=stream)
        os.replace(temporary, out_path)
        temporary = None
    except OSError as exc:
        raise FetchError(f"cannot write {out_path}: {exc.strerror or exc}") from None
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.remove(temporary)
