"""GetMetricData batching: at most 500 queries a call, NextToken followed, sums per series."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from dynamic_dynamodb.aws.cloudwatch import MetricRequest, fetch_sums

START = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
END = START + timedelta(minutes=5)


class FakeCloudWatch:
    """Returns two datapoints per query, split over two pages to exercise NextToken."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def get_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        queries = kwargs["MetricDataQueries"]
        assert len(queries) <= 500
        page = 0 if "NextToken" not in kwargs else 1
        results = [
            {"Id": query["Id"], "Timestamps": [START + timedelta(minutes=page)],
             "Values": [float(len(query["MetricStat"]["Metric"]["Dimensions"]))]}
            for query in queries
            if query["MetricStat"]["Metric"]["MetricName"] != "Silent"
        ]
        return {"MetricDataResults": results, **({"NextToken": "more"} if page == 0 else {})}


def test_queries_are_batched_by_500_and_pages_followed() -> None:
    client = FakeCloudWatch()
    requests = [MetricRequest(("t", n), f"t{n}", None if n % 2 else "gsi", "ConsumedReadCapacityUnits")
                for n in range(1200)]
    sums = fetch_sums(client, requests, START, END)

    # 1,200 queries: 3 batches (500, 500, 200), each two pages.
    assert [len(call["MetricDataQueries"]) for call in client.calls] == [500, 500, 500, 500,
                                                                        200, 200]
    assert sums[("t", 0)] == 4.0  # two datapoints of 2 dimensions (table + GSI)
    assert sums[("t", 1)] == 2.0  # two datapoints of 1 dimension
    first = client.calls[0]
    assert first["StartTime"] == START and first["EndTime"] == END
    query = first["MetricDataQueries"][0]["MetricStat"]
    assert query["Period"] == 60 and query["Stat"] == "Sum"
    assert query["Metric"]["Namespace"] == "AWS/DynamoDB"


def test_a_series_without_datapoints_is_none_not_zero() -> None:
    sums = fetch_sums(FakeCloudWatch(), [MetricRequest("k", "t", None, "Silent")], START, END)
    assert sums == {"k": None}
