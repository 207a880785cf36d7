"""GetMetricData batching, StatusCode handling and the GetMetricStatistics fallback (D28)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from dynamic_dynamodb.aws import cloudwatch
from dynamic_dynamodb.aws.cloudwatch import (
    METRIC_DATA_ACCESS,
    CloudWatchMetrics,
    MetricDataAccess,
    MetricRequest,
    fetch_metric_series,
    fetch_series,
    fetch_sums,
)

START = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
END = START + timedelta(minutes=5)
READS = "ConsumedReadCapacityUnits"
THROTTLES = "ReadThrottleEvents"


@pytest.fixture(autouse=True)
def _fresh_process_wide_access() -> Iterator[None]:
    METRIC_DATA_ACCESS.reset()
    yield
    METRIC_DATA_ACCESS.reset()


def result(query: dict[str, Any], values: list[float], status: str = "Complete",
           first_minute: int = 0) -> dict[str, Any]:
    return {"Id": query["Id"], "StatusCode": status,
            "Timestamps": [START + timedelta(minutes=first_minute + n) for n in range(len(values))],
            "Values": values}


def metric(query: dict[str, Any]) -> str:
    return str(query["MetricStat"]["Metric"]["MetricName"])


Page = Callable[[dict[str, Any], int, str | None], tuple[list[dict[str, Any]], str | None]]


class ScriptedCloudWatch:
    """``page(kwargs, call_number, next_token)`` returns (results, NextToken)."""

    def __init__(self, page: Page):
        self.page = page
        self.calls: list[dict[str, Any]] = []
        self.statistics: list[dict[str, Any]] = []

    def get_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        assert len(kwargs["MetricDataQueries"]) <= 500
        results, token = self.page(kwargs, len(self.calls), kwargs.get("NextToken"))
        return {"MetricDataResults": results, **({"NextToken": token} if token else {})}


def two_pages(kwargs: dict[str, Any], _: int, token: str | None) -> tuple[list[Any], str | None]:
    """Two datapoints per query, one per page; the value is the number of dimensions."""
    page = 0 if token is None else 1
    return ([result(q, [float(len(q["MetricStat"]["Metric"]["Dimensions"]))], first_minute=page)
             for q in kwargs["MetricDataQueries"] if metric(q) != "Silent"],
            "more" if page == 0 else None)


def test_queries_are_batched_by_500_and_pages_followed() -> None:
    client = ScriptedCloudWatch(two_pages)
    requests = [MetricRequest(("t", n), f"t{n}", None if n % 2 else "gsi", READS)
                for n in range(1200)]
    sums = fetch_sums(client, requests, START, END)

    # 1,200 queries: 3 batches (500, 500, 200), each two pages.
    assert [len(call["MetricDataQueries"]) for call in client.calls] == [500, 500, 500, 500,
                                                                        200, 200]
    assert [call.get("NextToken") for call in client.calls[:2]] == [None, "more"]
    assert client.calls[1]["MetricDataQueries"] == client.calls[0]["MetricDataQueries"]
    assert sums.values[("t", 0)] == 4.0  # two datapoints of 2 dimensions (table + GSI)
    assert sums.values[("t", 1)] == 2.0  # two datapoints of 1 dimension
    assert sums.incomplete == frozenset()
    first = client.calls[0]
    assert first["StartTime"] == START and first["EndTime"] == END
    query = first["MetricDataQueries"][0]["MetricStat"]
    assert query["Period"] == 60 and query["Stat"] == "Sum"
    assert query["Metric"]["Namespace"] == "AWS/DynamoDB"


def test_a_complete_series_without_datapoints_is_none_not_zero() -> None:
    def empty(kwargs: dict[str, Any], *_: Any) -> tuple[list[Any], None]:
        return [result(q, []) for q in kwargs["MetricDataQueries"]], None

    sums = fetch_sums(ScriptedCloudWatch(empty), [MetricRequest("k", "t", None, "Silent")],
                      START, END)
    assert (sums.values, sums.incomplete) == ({"k": None}, frozenset())


def test_the_statistic_is_the_requests() -> None:
    client = ScriptedCloudWatch(two_pages)
    fetch_sums(client, [MetricRequest("n", "t", None, READS, "SampleCount")], START, END)
    assert client.calls[0]["MetricDataQueries"][0]["MetricStat"]["Stat"] == "SampleCount"


def test_partial_data_is_asked_again_once_with_only_the_incomplete_queries() -> None:
    def page(kwargs: dict[str, Any], call: int, _: str | None) -> tuple[list[Any], None]:
        if call == 1:  # reads partial (2 of 5 points), throttles complete
            return [result(q, [10.0, 10.0], "PartialData") if metric(q) == READS
                    else result(q, [1.0]) for q in kwargs["MetricDataQueries"]], None
        return [result(q, [10.0] * 5) for q in kwargs["MetricDataQueries"]], None

    client = ScriptedCloudWatch(page)
    sums = fetch_sums(client, [MetricRequest("r", "orders", None, READS),
                               MetricRequest("t", "orders", None, THROTTLES)], START, END)

    assert len(client.calls) == 2
    retry = client.calls[1]
    assert [metric(q) for q in retry["MetricDataQueries"]] == [READS]
    assert "NextToken" not in retry  # a new request, not a continuation
    assert sums.values == {"r": 50.0, "t": 1.0}  # the retry's full answer replaced the partial
    assert sums.incomplete == frozenset()


def test_internal_error_with_a_next_token_that_completes_needs_no_retry() -> None:
    def page(kwargs: dict[str, Any], call: int, token: str | None) -> tuple[list[Any], Any]:
        if token is None:
            return [result(q, [], "InternalError") for q in kwargs["MetricDataQueries"]], "again"
        return [result(q, [3.0, 4.0]) for q in kwargs["MetricDataQueries"]], None

    client = ScriptedCloudWatch(page)
    sums = fetch_sums(client, [MetricRequest("r", "orders", None, READS)], START, END)
    assert [call.get("NextToken") for call in client.calls] == [None, "again"]
    assert (sums.values, sums.incomplete) == ({"r": 7.0}, frozenset())


def test_a_series_still_failing_after_the_retry_is_incomplete_and_named(
        caplog: pytest.LogCaptureFixture) -> None:
    def page(kwargs: dict[str, Any], call: int, _: str | None) -> tuple[list[Any], None]:
        return [result(q, [2.0], "InternalError") if metric(q) == THROTTLES else result(q, [9.0])
                for q in kwargs["MetricDataQueries"]], None

    client = ScriptedCloudWatch(page)
    with caplog.at_level(logging.INFO, logger="dynamic_dynamodb"):
        sums = fetch_sums(client, [MetricRequest("r", "orders", "by_user", READS),
                                   MetricRequest("t", "orders", "by_user", THROTTLES)],
                          START, END)

    assert len(client.calls) == 2  # the first request, and one retry of the throttle query
    assert sums.incomplete == frozenset({"t"})
    assert sums.values == {"r": 9.0, "t": 2.0}  # partial: the engine must not read it as 2
    assert [record.getMessage() for record in caplog.records] == [
        "orders - GSI: by_user - ReadThrottleEvents: CloudWatch answered InternalError, also "
        "after a retry; its value is unknown this time, not 0"]


def test_a_query_the_answer_never_mentions_is_incomplete() -> None:
    def page(kwargs: dict[str, Any], *_: Any) -> tuple[list[Any], None]:
        return [result(q, [1.0]) for q in kwargs["MetricDataQueries"] if metric(q) == READS], None

    series = fetch_metric_series(ScriptedCloudWatch(page),
                                 [MetricRequest("r", "t", None, READS),
                                  MetricRequest("x", "t", None, THROTTLES)], START, END)
    assert series.incomplete == frozenset({"x"})
    assert series.statuses == {"x": "Missing"}


def test_a_next_token_that_keeps_failing_does_not_loop_for_ever() -> None:
    def page(kwargs: dict[str, Any], call: int, _: str | None) -> tuple[list[Any], str]:
        return [result(q, [], "InternalError") for q in kwargs["MetricDataQueries"]], f"t{call}"

    client = ScriptedCloudWatch(page)
    sums = fetch_sums(client, [MetricRequest("r", "t", None, READS)], START, END)
    # Each request: the first page and MAX_FRUITLESS_PAGES follow-ups; then one retry request.
    assert len(client.calls) == 2 * (1 + cloudwatch.MAX_FRUITLESS_PAGES)
    assert (sums.values, sums.incomplete) == ({"r": None}, frozenset({"r"}))


def test_max_queries_splits_calls() -> None:
    client = ScriptedCloudWatch(lambda kwargs, *_: ([result(q, [1.0])
                                                     for q in kwargs["MetricDataQueries"]], None))
    fetch_metric_series(client, [MetricRequest(n, "t", None, READS) for n in range(150)],
                        START, END, max_queries=70)
    assert [len(call["MetricDataQueries"]) for call in client.calls] == [70, 70, 10]


# -- GetMetricStatistics fallback ----------------------------------------------------------------
def denied(operation: str = "GetMetricData", code: str = "AccessDenied") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "User: x is not authorized to "
                                  f"perform: cloudwatch:{operation}"}}, operation)


class DeniedCloudWatch:
    """GetMetricData denied; GetMetricStatistics answers one datapoint per period with
    Sum = 60 and SampleCount = 20."""

    def __init__(self, code: str = "AccessDenied"):
        self.code = code
        self.data_calls = 0
        self.statistics: list[dict[str, Any]] = []

    def get_metric_data(self, **_: Any) -> dict[str, Any]:
        self.data_calls += 1
        raise denied(code=self.code)

    def get_metric_statistics(self, **kwargs: Any) -> dict[str, Any]:
        self.statistics.append(kwargs)
        periods = int((kwargs["EndTime"] - kwargs["StartTime"]).total_seconds()
                      // kwargs["Period"])
        return {"Datapoints": [
            {"Timestamp": kwargs["StartTime"] + timedelta(seconds=n * kwargs["Period"]),
             **{stat: {"Sum": 60.0, "SampleCount": 20.0}[stat] for stat in kwargs["Statistics"]}}
            for n in range(periods)]}


@pytest.mark.parametrize("code", ["AccessDenied", "AccessDeniedException",
                                  "UnauthorizedOperation"])
def test_denied_get_metric_data_falls_back_to_get_metric_statistics(
        code: str, caplog: pytest.LogCaptureFixture) -> None:
    client = DeniedCloudWatch(code)
    access = MetricDataAccess()
    requests = [MetricRequest("sum", "orders", None, READS),
                MetricRequest("count", "orders", None, READS, "SampleCount"),
                MetricRequest("throttles", "orders", "by_user", THROTTLES)]
    with caplog.at_level(logging.INFO, logger="dynamic_dynamodb"):
        sums = fetch_sums(client, requests, START, END, access=access)

    assert client.data_calls == 1
    # One call per metric, Period = the window, every statistic of the metric in that call.
    assert [(call["MetricName"], call["Period"], call["Statistics"], call["Dimensions"])
            for call in client.statistics] == [
        (READS, 300, ["SampleCount", "Sum"], [{"Name": "TableName", "Value": "orders"}]),
        (THROTTLES, 300, ["Sum"], [{"Name": "TableName", "Value": "orders"},
                                   {"Name": "GlobalSecondaryIndexName", "Value": "by_user"}])]
    assert all((call["StartTime"], call["EndTime"], call["Namespace"]) ==
               (START, END, "AWS/DynamoDB") for call in client.statistics)
    assert (sums.values, sums.incomplete) == ({"sum": 60.0, "count": 20.0, "throttles": 60.0},
                                              frozenset())
    [warning] = caplog.records
    assert warning.levelno == logging.WARNING
    assert f"GetMetricData is denied ({code}: " in warning.getMessage()
    assert 'Add "cloudwatch:GetMetricData" to the IAM policy' in warning.getMessage()


def test_the_denial_is_remembered_warned_once_and_retried_after_a_day(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [1000.0]
    access = MetricDataAccess(clock=lambda: now[0])
    client = DeniedCloudWatch()
    port = CloudWatchMetrics(client, access)
    request = [MetricRequest("r", "orders", None, READS)]
    with caplog.at_level(logging.WARNING, logger="dynamic_dynamodb"):
        for _ in range(3):  # three cycles
            assert port.fetch_sums(request, START, END).values == {"r": 60.0}
            now[0] += 300
        assert client.data_calls == 1  # later cycles go straight to GetMetricStatistics
        assert len(client.statistics) == 3

        now[0] += cloudwatch.RETRY_DENIED_AFTER
        port.fetch_sums(request, START, END)
        assert client.data_calls == 2  # tried again after a day; still denied
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_get_metric_data_allowed_again_after_a_denial_is_used() -> None:
    access = MetricDataAccess(retry_after=0)
    fetch_sums(DeniedCloudWatch(), [MetricRequest("r", "t", None, READS)], START, END,
               access=access)
    assert access.denied_at is not None
    fetch_sums(ScriptedCloudWatch(two_pages), [MetricRequest("r", "t", None, READS)],
               START, END, access=access)
    assert access.denied_at is None and access.warned


def test_other_errors_are_not_a_denial() -> None:
    class Throttled(DeniedCloudWatch):
        def get_metric_data(self, **_: Any) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": "Throttling", "Message": "slow down"}},
                              "GetMetricData")

    access = MetricDataAccess()
    with pytest.raises(ClientError):
        fetch_sums(Throttled(), [MetricRequest("r", "t", None, READS)], START, END, access=access)
    assert access.denied_at is None


def test_series_fallback_uses_the_period_and_at_most_1440_datapoints_a_call() -> None:
    client = DeniedCloudWatch()
    start = START
    end = start + timedelta(days=2, minutes=30)
    series = fetch_series(client, [MetricRequest("r", "t", None, READS)], start, end, 60,
                          access=MetricDataAccess())
    assert [(call["StartTime"], call["EndTime"], call["Period"]) for call in client.statistics] == [
        (start, start + timedelta(days=1), 60),
        (start + timedelta(days=1), start + timedelta(days=2), 60),
        (start + timedelta(days=2), end, 60)]
    assert len(series["r"]) == 2 * 1440 + 30


def test_the_port_shares_the_process_wide_denial() -> None:
    CloudWatchMetrics(DeniedCloudWatch()).fetch_sums([MetricRequest("r", "t", None, READS)],
                                                     START, END)
    client = DeniedCloudWatch()
    CloudWatchMetrics(client).fetch_sums([MetricRequest("r", "t", None, READS)], START, END)
    assert client.data_calls == 0  # a new port (a reload) still knows GetMetricData is denied


def test_with_a_real_botocore_client_and_stubber() -> None:
    client = boto3.client("cloudwatch", region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    stubber = Stubber(client)
    stubber.add_client_error("get_metric_data", service_error_code="AccessDenied",
                             service_message="not authorized to perform: "
                                             "cloudwatch:GetMetricData", http_status_code=403)
    stubber.add_response("get_metric_statistics",
                         {"Datapoints": [{"Timestamp": START, "Sum": 42.0}]},
                         {"Namespace": "AWS/DynamoDB", "MetricName": READS,
                          "Dimensions": [{"Name": "TableName", "Value": "orders"}],
                          "StartTime": START, "EndTime": END, "Period": 300,
                          "Statistics": ["Sum"]})
    stubber.add_response("get_metric_statistics", {"Datapoints": []}, {
        "Namespace": ANY, "MetricName": THROTTLES, "Dimensions": ANY, "StartTime": ANY,
        "EndTime": ANY, "Period": ANY, "Statistics": ANY})
    with stubber:
        sums = fetch_sums(client, [MetricRequest("r", "orders", None, READS),
                                   MetricRequest("t", "orders", None, THROTTLES)], START, END,
                          access=MetricDataAccess())
    stubber.assert_no_pending_responses()
    assert sums.values == {"r": 42.0, "t": None}


def test_a_stubbed_partial_answer_then_a_complete_retry() -> None:
    client = boto3.client("cloudwatch", region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    stubber = Stubber(client)
    stubber.add_response("get_metric_data", {"MetricDataResults": [
        {"Id": "m0", "Timestamps": [START], "Values": [5.0], "StatusCode": "PartialData"}]})
    stubber.add_response("get_metric_data", {"MetricDataResults": [
        {"Id": "m0", "Timestamps": [START, END], "Values": [5.0, 6.0],
         "StatusCode": "Complete"}]})
    with stubber:
        sums = fetch_sums(client, [MetricRequest("r", "orders", None, READS)], START, END,
                          access=MetricDataAccess())
    stubber.assert_no_pending_responses()
    assert (sums.values, sums.incomplete) == ({"r": 11.0}, frozenset())
