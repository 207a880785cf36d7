"""CloudWatch adapter: sums of DynamoDB metrics, many resources per GetMetricData call."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from datetime import datetime
from typing import Any

from dynamic_dynamodb.aws.model import MetricRequest

MAX_QUERIES_PER_CALL = 500  # GetMetricData's limit


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
            "Stat": "Sum",
        },
        "ReturnData": True,
    }


def _chunks(items: list[MetricRequest], size: int) -> Iterable[list[MetricRequest]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def fetch_series(
    client: Any,
    requests: list[MetricRequest],
    start: datetime,
    end: datetime,
    period: int = 60,
) -> dict[Hashable, list[tuple[datetime, float]]]:
    """Datapoints (timestamp, Sum) per request key, sorted by time; [] when there were none.

    Up to 500 queries go in one GetMetricData call; NextToken is followed to the end.
    """
    series: dict[Hashable, list[tuple[datetime, float]]] = {r.key: [] for r in requests}
    for chunk in _chunks(requests, MAX_QUERIES_PER_CALL):
        by_id = {f"m{index}": request for index, request in enumerate(chunk)}
        queries = [_query(query_id, request, period) for query_id, request in by_id.items()]
        kwargs: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        while True:
            response = client.get_metric_data(**kwargs)
            for result in response.get("MetricDataResults", []):
                request = by_id.get(result.get("Id", ""))
                if request is None:
                    continue
                pairs = zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
                series[request.key].extend((stamp, float(value)) for stamp, value in pairs)
            token = response.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
    for points in series.values():
        points.sort(key=lambda point: point[0])
    return series


def fetch_sums(
    client: Any, requests: list[MetricRequest], start: datetime, end: datetime
) -> dict[Hashable, float | None]:
    """Sum of every datapoint in [start, end) per request key (D15); None when there were none."""
    series = fetch_series(client, requests, start, end)
    return {
        key: (sum(value for _, value in points) if points else None)
        for key, points in series.items()
    }


class CloudWatchMetrics:
    """The MetricsPort over a boto3 CloudWatch client."""

    def __init__(self, client: Any):
        self.client = client

    def fetch_sums(self, requests: list[MetricRequest], start: datetime,
                   end: datetime) -> dict[Hashable, float | None]:
        return fetch_sums(self.client, requests, start, end)

    def fetch_series(self, requests: list[MetricRequest], start: datetime, end: datetime,
                     period: int = 60) -> dict[Hashable, list[tuple[datetime, float]]]:
        return fetch_series(self.client, requests, start, end, period)
