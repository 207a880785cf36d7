"""CloudWatch adapter: DynamoDB metrics, many resources per GetMetricData call.

What real CloudWatch does (reference/aws-behaviour.md) and how this module answers it:

* **Batching.** Up to 500 queries go in one GetMetricData request (fewer when the caller asks,
  e.g. the trace fetch keeps a call under 100,800 datapoints); NextToken pages are followed.
  A NextToken continues the *same* request, so a follow-up repeats the same queries.
* **StatusCode.** Every result carries one: Complete, PartialData, InternalError or Forbidden.
  A series is trusted only when its last page says Complete. Otherwise, once the pages run
  out, the still-incomplete queries are asked ONCE more in a new request (no NextToken: it
  is a different request); a series still not Complete after that is *incomplete*: its value
  is unknown, not 0 (``MetricSums.incomplete``, ``MetricSeries.incomplete``), and an info
  line names the table, GSI, metric and StatusCode (the caller warns about the consequence).
  A query the answer never mentions counts as incomplete too. Follow-ups that bring nothing
  (no datapoint, no Complete) end the paging after ``MAX_FRUITLESS_PAGES`` in a row, so a
  token that keeps failing cannot loop for ever.
* **GetMetricStatistics fallback (D28).** 2.5.1's documented IAM policy grants only
  ``cloudwatch:GetMetricStatistics``. When GetMetricData is denied (AccessDenied,
  AccessDeniedException, UnauthorizedOperation) the same numbers are read with
  GetMetricStatistics, one call per metric and window piece (all the statistics of one
  metric share the call): Period = the window for sums, the given period for series, at most
  1,440 datapoints a call. A warning naming the permission to add is logged once per process;
  the denial is remembered process-wide (``METRIC_DATA_ACCESS``) and GetMetricData is tried
  again only after ``RETRY_DENIED_AFTER`` (a day). GetMetricStatistics has no StatusCode: its
  answers count as complete.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from dynamic_dynamodb.aws.errors import error_code, error_message
from dynamic_dynamodb.aws.model import MetricRequest, MetricSums

logger = logging.getLogger(__name__)

MAX_QUERIES_PER_CALL = 500  # GetMetricData's limit
MAX_STATISTICS_DATAPOINTS = 1440  # GetMetricStatistics' limit per call
MAX_FRUITLESS_PAGES = 2  # follow-ups in a row without a datapoint or a Complete
MAX_PAGES = 100  # a hard stop for one request's pages
COMPLETE = "Complete"
MISSING = "Missing"  # our word: the answer did not mention the query at all
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
RETRY_DENIED_AFTER = 24 * 3600.0  # seconds before GetMetricData is tried again once denied
PERMISSION = "cloudwatch:GetMetricData"

Points = list[tuple[datetime, float]]


@dataclass(frozen=True)
class MetricSeries:
    """Datapoints (timestamp, value) per request key, sorted by time ([] when none), and the
    keys CloudWatch did not answer completely even after a retry, with their last StatusCode."""

    points: dict[Hashable, Points]
    incomplete: frozenset[Hashable] = frozenset()
    statuses: dict[Hashable, str] = field(default_factory=dict)  # of the incomplete keys only


@dataclass
class MetricDataAccess:
    """Whether GetMetricData may be used. One per process (``METRIC_DATA_ACCESS``): the denial
    outlives a cycle and a configuration reload, and its warning is logged once (D28)."""

    retry_after: float = RETRY_DENIED_AFTER
    clock: Callable[[], float] = time.monotonic
    denied_at: float | None = None
    warned: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def use_metric_data(self) -> bool:
        with self._lock:
            return self.denied_at is None or self.clock() - self.denied_at >= self.retry_after

    def denied(self, exc: BaseException) -> None:
        with self._lock:
            self.denied_at = self.clock()
            warn, self.warned = not self.warned, True
        if warn:
            logger.warning(
                "CloudWatch GetMetricData is denied (%s: %s); reading metrics with "
                "GetMetricStatistics instead, one call per metric. Add \"%s\" to the IAM policy "
                "to batch them; GetMetricData is tried again in %d hours", error_code(exc),
                error_message(exc), PERMISSION, round(self.retry_after / 3600))
        else:
            logger.info("CloudWatch GetMetricData is still denied (%s); using "
                        "GetMetricStatistics", error_code(exc))

    def allowed(self) -> None:
        with self._lock:
            was_denied, self.denied_at = self.denied_at is not None, None
        if was_denied:
            logger.info("CloudWatch GetMetricData is allowed again; using it")

    def reset(self) -> None:
        with self._lock:
            self.denied_at, self.warned = None, False


METRIC_DATA_ACCESS = MetricDataAccess()


def _dimensions(table: str, gsi: str | None) -> list[dict[str, str]]:
    dimensions = [{"Name": "TableName", "Value": table}]
    if gsi is not None:
        dimensions.append({"Name": "GlobalSecondaryIndexName", "Value": gsi})
    return dimensions


def _query(query_id: str, request: MetricRequest, period: int) -> dict[str, Any]:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/DynamoDB",
                "MetricName": request.metric,
                "Dimensions": _dimensions(request.table, request.gsi),
            },
            "Period": period,
            "Stat": request.stat,
        },
        "ReturnData": True,
    }


def _chunks(items: list[MetricRequest], size: int) -> Iterable[list[MetricRequest]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def describe_request(request: MetricRequest) -> str:
    """``orders - ReadThrottleEvents`` or ``orders - GSI: by_user - ReadThrottleEvents``:
    2.5.1's log prefix, which operators grep for, then the metric (and a statistic other than
    Sum)."""
    where = f"{request.table} - " if request.gsi is None else \
        f"{request.table} - GSI: {request.gsi} - "
    stat = "" if request.stat == "Sum" else f" ({request.stat})"
    return f"{where}{request.metric}{stat}"


# -- GetMetricData -----------------------------------------------------------------------------
def _one_request(client: Any, requests: list[MetricRequest], start: datetime, end: datetime,
                 period: int) -> tuple[dict[Hashable, Points], dict[Hashable, str]]:
    """One GetMetricData request and its NextToken pages: points and last StatusCode per key."""
    by_id = {f"m{index}": request for index, request in enumerate(requests)}
    points: dict[Hashable, Points] = {request.key: [] for request in requests}
    statuses: dict[Hashable, str] = {request.key: MISSING for request in requests}
    kwargs: dict[str, Any] = {
        "MetricDataQueries": [_query(query_id, request, period)
                              for query_id, request in by_id.items()],
        "StartTime": start,
        "EndTime": end,
        "ScanBy": "TimestampAscending",
    }
    fruitless = 0
    for page in range(MAX_PAGES):
        response = client.get_metric_data(**kwargs)
        progress = False
        for result in response.get("MetricDataResults", []):
            request = by_id.get(result.get("Id", ""))
            if request is None:
                continue
            pairs = list(zip(result.get("Timestamps", []), result.get("Values", []),
                             strict=False))
            points[request.key].extend((stamp, float(value)) for stamp, value in pairs)
            # moto and small fakes may leave StatusCode out; real CloudWatch always sends it.
            status = str(result.get("StatusCode") or COMPLETE)
            progress = progress or bool(pairs) or (
                status == COMPLETE and statuses[request.key] != COMPLETE)
            statuses[request.key] = status
        token = response.get("NextToken")
        if not token:
            break
        fruitless = 0 if progress or page == 0 else fruitless + 1
        if fruitless >= MAX_FRUITLESS_PAGES:
            logger.debug("GetMetricData: %d follow-up pages in a row brought nothing; stopping",
                         fruitless)
            break
        kwargs["NextToken"] = token
    return points, statuses


def _with_metric_data(client: Any, requests: list[MetricRequest], start: datetime,
                      end: datetime, period: int, max_queries: int) -> MetricSeries:
    points: dict[Hashable, Points] = {}
    statuses: dict[Hashable, str] = {}
    for chunk in _chunks(requests, max_queries):
        got, status = _one_request(client, chunk, start, end, period)
        points.update(got)
        statuses.update(status)
    retry = [request for request in requests if statuses[request.key] != COMPLETE]
    for chunk in _chunks(retry, max_queries):
        got, status = _one_request(client, chunk, start, end, period)
        for request in chunk:
            key = request.key
            # A new request answers the whole window again: its points replace the first
            # ones, unless it is still incomplete and holds fewer.
            if status[key] == COMPLETE or len(got[key]) >= len(points[key]):
                points[key] = got[key]
            statuses[key] = status[key]
    incomplete = {request.key: statuses[request.key] for request in retry
                  if statuses[request.key] != COMPLETE}
    for request in retry:
        if request.key in incomplete:
            logger.info("%s: CloudWatch answered %s, also after a retry; its value is "
                           "unknown this time, not 0", describe_request(request),
                           incomplete[request.key])
    return MetricSeries(points, frozenset(incomplete), incomplete)


# -- GetMetricStatistics -------------------------------------------------------------------------
def _with_statistics(client: Any, requests: list[MetricRequest], start: datetime,
                     end: datetime, period: int) -> MetricSeries:
    """One GetMetricStatistics call per metric (all its statistics at once) and per window
    piece of at most 1,440 periods."""
    groups: dict[tuple[str, str | None, str], list[MetricRequest]] = {}
    for request in requests:
        groups.setdefault((request.table, request.gsi, request.metric), []).append(request)
    points: dict[Hashable, Points] = {request.key: [] for request in requests}
    piece = timedelta(seconds=period * MAX_STATISTICS_DATAPOINTS)
    for (table, gsi, metric), members in groups.items():
        statistics = sorted({request.stat for request in members})
        since = start
        while since < end:
            until = min(end, since + piece)
            response = client.get_metric_statistics(
                Namespace="AWS/DynamoDB", MetricName=metric,
                Dimensions=_dimensions(table, gsi), StartTime=since, EndTime=until,
                Period=period, Statistics=statistics)
            for datapoint in response.get("Datapoints", []):
                for request in members:
                    if request.stat in datapoint:
                        points[request.key].append(
                            (datapoint["Timestamp"], float(datapoint[request.stat])))
            since = until
    return MetricSeries(points)


# -- both --------------------------------------------------------------------------------------
def fetch_metric_series(client: Any, requests: list[MetricRequest], start: datetime,
                        end: datetime, period: int = 60, *,
                        max_queries: int = MAX_QUERIES_PER_CALL,
                        statistics_period: int | None = None,
                        access: MetricDataAccess | None = None) -> MetricSeries:
    """Datapoints per request key, sorted by time, and which keys are incomplete.

    GetMetricData with at most ``max_queries`` queries a call; GetMetricStatistics (with
    ``statistics_period``, default ``period``) once GetMetricData is denied.
    """
    access = access or METRIC_DATA_ACCESS
    series: MetricSeries | None = None
    if access.use_metric_data():
        try:
            series = _with_metric_data(client, requests, start, end, period,
                                       max(1, min(max_queries, MAX_QUERIES_PER_CALL)))
        except ClientError as exc:
            if error_code(exc) not in DENIED_CODES:
                raise
            access.denied(exc)
        else:
            access.allowed()
    if series is None:
        series = _with_statistics(client, requests, start, end, statistics_period or period)
    for values in series.points.values():
        values.sort(key=lambda point: point[0])
    return series


def fetch_series(
    client: Any,
    requests: list[MetricRequest],
    start: datetime,
    end: datetime,
    period: int = 60,
    *,
    access: MetricDataAccess | None = None,
) -> dict[Hashable, Points]:
    """Datapoints (timestamp, value) per request key, sorted by time; [] when there were none.

    Incomplete series are logged (see ``fetch_metric_series``) but not marked: callers that
    must not use a partial series call ``fetch_metric_series`` instead.
    """
    return fetch_metric_series(client, requests, start, end, period, access=access).points


def fetch_sums(client: Any, requests: list[MetricRequest], start: datetime, end: datetime, *,
               access: MetricDataAccess | None = None) -> MetricSums:
    """Sum of every datapoint in [start, end) per request key (D15); None when there were
    none; ``incomplete``: the keys whose sum is unknown (a partial sum may be in ``values``).

    GetMetricData sums one-minute datapoints; the GetMetricStatistics fallback asks for one
    datapoint covering the whole window (whole minutes: Period is a multiple of 60).
    """
    window = max(60, math.ceil((end - start).total_seconds() / 60) * 60)
    series = fetch_metric_series(client, requests, start, end, 60, statistics_period=window,
                                 access=access)
    return MetricSums(
        {key: (sum(value for _, value in points) if points else None)
         for key, points in series.points.items()},
        series.incomplete,
    )


class CloudWatchMetrics:
    """The MetricsPort over a boto3 CloudWatch client."""

    def __init__(self, client: Any, access: MetricDataAccess | None = None):
        self.client = client
        self.access = access  # None: the process-wide METRIC_DATA_ACCESS

    def fetch_sums(self, requests: list[MetricRequest], start: datetime,
                   end: datetime) -> MetricSums:
        return fetch_sums(self.client, requests, start, end, access=self.access)

    def fetch_series(self, requests: list[MetricRequest], start: datetime, end: datetime,
                     period: int = 60) -> dict[Hashable, Points]:
        return fetch_series(self.client, requests, start, end, period, access=self.access)

    def fetch_metric_series(self, requests: list[MetricRequest], start: datetime,
                            end: datetime, period: int = 60) -> MetricSeries:
        """``fetch_series`` with the incomplete keys."""
        return fetch_metric_series(self.client, requests, start, end, period,
                                   access=self.access)
