"""--fetch-trace against moto: history put in the past becomes a trace --simulate can replay."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from demo.localaws import free_port
from demo.seed import create_table
from dynamic_dynamodb.aws.cloudwatch import METRIC_DATA_ACCESS
from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.simulate.fetch import (
    RETENTION_MARGIN,
    SERIES_PER_CALL,
    FetchError,
    fetch,
    fetch_trace,
)
from dynamic_dynamodb.simulate.trace import read_trace
from tests.conftest import run_cli

CONF = """
[table: ^orders$]
[gsi: ^by_customer$ table: ^orders$]
"""


@pytest.fixture(autouse=True)
def _fresh_process_wide_access() -> Iterator[None]:
    METRIC_DATA_ACCESS.reset()
    yield
    METRIC_DATA_ACCESS.reset()


def put(cloudwatch: Any, name: str, table: str, gsi: str | None, at: datetime,
        value: float, requests: float | None = None) -> None:
    """One datapoint; ``requests``: the SampleCount behind a consumed Sum (moto counts 1 for a
    bare value, as if one request had used all the units)."""
    dimensions = [{"Name": "TableName", "Value": table}]
    if gsi:
        dimensions.append({"Name": "GlobalSecondaryIndexName", "Value": gsi})
    datum: dict[str, Any] = {"MetricName": name, "Dimensions": dimensions, "Timestamp": at}
    if requests is None:
        datum["Value"] = value
    else:
        datum["StatisticValues"] = {"SampleCount": requests, "Sum": value, "Minimum": 0,
                                    "Maximum": value}
    cloudwatch.put_metric_data(Namespace="AWS/DynamoDB", MetricData=[datum])


def config(tmp_path: Path, text: str = CONF) -> Config:
    conf = tmp_path / "fetch.conf"
    conf.write_text(text, encoding="utf-8")
    return load_config(str(conf))


def test_fetch_trace_writes_demand_as_consumed_plus_throttled_units(
        tmp_path: Path, moto_clients: Any) -> None:
    create_table(moto_clients.dynamodb, "orders", 40, 12, gsis={"by_customer": (7, 3)})
    create_table(moto_clients.dynamodb, "unmanaged", 5, 5)
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    first = now - timedelta(minutes=30)
    cw = moto_clients.cloudwatch
    # Minute `first`: 600 read units in 300 requests (2 units each), 120 throttle events
    # -> (600 + 120 × 2) / 60 = 14 CU/s.
    put(cw, "ConsumedReadCapacityUnits", "orders", None, first, 600, requests=300)
    put(cw, "ReadThrottleEvents", "orders", None, first, 120)
    # Minute first+2: 30 throttle events and no consumption that minute: the day's average
    # (600 + 90 units in 300 + 90 requests) -> 30 × 690/390 / 60 units per second.
    put(cw, "ConsumedReadCapacityUnits", "orders", None, first + timedelta(minutes=5), 90,
        requests=90)
    put(cw, "ReadThrottleEvents", "orders", None, first + timedelta(minutes=2), 30)
    put(cw, "ConsumedWriteCapacityUnits", "orders", None, first + timedelta(minutes=1), 90,
        requests=90)
    # The GSI consumed nothing all day: each throttle event counts one unit.
    put(cw, "WriteThrottleEvents", "orders", "by_customer", first, 60)
    put(cw, "ConsumedReadCapacityUnits", "unmanaged", None, first, 999, requests=1)

    out = tmp_path / "history.csv"
    assert fetch_trace(config(tmp_path), 1, str(out), moto_clients) == 0

    trace = read_trace(str(out))
    assert trace.minutes == 24 * 60
    assert [resource.key for resource in trace.resources] == ["orders", "orders:by_customer"]
    orders, gsi = trace.resources
    index = int((first - trace.start) / timedelta(minutes=1))
    assert orders.reads[index] == 14.0
    assert orders.reads[index + 2] == pytest.approx(round(30 * 690 / 390 / 60, 3))
    assert orders.reads[index + 5] == 1.5
    assert orders.writes[index + 1] == 1.5
    assert orders.reads[index - 1] == 0.0  # no datapoint: no traffic
    assert gsi.writes[index] == 1.0
    assert (orders.initial_reads, orders.initial_writes) == (40, 12)
    assert (gsi.initial_reads, gsi.initial_writes) == (7, 3)
    # One GetMetricData call carries all 12 queries (2 resources x 2 dimensions x consumed
    # Sum, consumed SampleCount, throttle events) of the one day.
    assert moto_clients.calls["GetMetricData"] == 1


def test_one_call_per_day_and_at_most_70_series_a_call(tmp_path: Path, moto_clients: Any) -> None:
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    names = [f"t{n:02d}" for n in range(12)]  # 12 tables x 6 series = 72 > 70
    for name in names:
        create_table(moto_clients.dynamodb, name, 5, 5)
        put(moto_clients.cloudwatch, "ConsumedReadCapacityUnits", name, None,
            now - timedelta(days=2, hours=1), 60, requests=60)
    seen: list[dict[str, Any]] = []
    moto_clients.cloudwatch.meta.events.register(
        "provide-client-params.cloudwatch.GetMetricData",
        lambda params, **_: seen.append(params))

    trace = fetch(config(tmp_path, "[table: ^t]\n"), moto_clients, 3, now)

    assert trace.minutes == 3 * 24 * 60
    assert moto_clients.calls["GetMetricData"] == 3 * 2  # 3 days, 72 series in 70 + 2
    assert sorted(len(call["MetricDataQueries"]) for call in seen) == [2, 2, 2, 70, 70, 70]
    assert SERIES_PER_CALL * 24 * 60 <= 100_800
    spans = sorted({(call["StartTime"], call["EndTime"]) for call in seen})
    assert [end - start for start, end in spans] == [timedelta(days=1)] * 3
    assert spans[0][0] == trace.start
    assert all(call["MetricDataQueries"][0]["MetricStat"]["Period"] == 60 for call in seen)


def test_fifteen_days_stay_inside_the_one_minute_retention(tmp_path: Path,
                                                           moto_clients: Any) -> None:
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    create_table(moto_clients.dynamodb, "orders", 5, 5)
    put(moto_clients.cloudwatch, "ConsumedReadCapacityUnits", "orders", None,
        now - timedelta(hours=2), 60, requests=60)
    seen: list[dict[str, Any]] = []
    moto_clients.cloudwatch.meta.events.register(
        "provide-client-params.cloudwatch.GetMetricData",
        lambda params, **_: seen.append(params))

    trace = fetch(config(tmp_path, "[table: ^orders$]\n"), moto_clients, 15, now)

    assert min(call["StartTime"] for call in seen) == trace.start
    assert now - RETENTION_MARGIN <= trace.start < now - timedelta(days=14, hours=22)
    assert len(seen) == 15  # 14 whole days and the rest


def test_a_resource_without_any_datapoint_is_an_error_naming_it(tmp_path: Path,
                                                               moto_clients: Any) -> None:
    create_table(moto_clients.dynamodb, "orders", 40, 12, gsis={"by_customer": (7, 3)})
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    put(moto_clients.cloudwatch, "ConsumedReadCapacityUnits", "orders", None,
        now - timedelta(hours=1), 60, requests=60)
    out = tmp_path / "history.csv"

    with pytest.raises(FetchError) as error:
        fetch_trace(config(tmp_path), 1, str(out), moto_clients)

    message = str(error.value)
    assert message.startswith("no CloudWatch datapoint at all for orders:by_customer between ")
    assert "no trace written" in message
    assert not out.exists()


def test_an_incomplete_day_is_an_error_naming_the_resource_and_the_day(
        tmp_path: Path, moto_clients: Any) -> None:
    create_table(moto_clients.dynamodb, "orders", 40, 12)
    now = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
    real = moto_clients.cloudwatch.get_metric_data

    def partial(**kwargs: Any) -> dict[str, Any]:
        answer = real(**kwargs)
        throttles = {query["Id"] for query in kwargs["MetricDataQueries"]
                     if query["MetricStat"]["Metric"]["MetricName"] == "ReadThrottleEvents"}
        for result in answer["MetricDataResults"]:
            if result["Id"] in throttles:
                result["StatusCode"] = "PartialData"
        return answer

    moto_clients.cloudwatch.get_metric_data = partial
    with pytest.raises(FetchError) as error:
        fetch(config(tmp_path, "[table: ^orders$]\n"), moto_clients, 2, now)
    assert str(error.value).startswith(
        "CloudWatch did not answer completely for orders (ReadThrottleEvents: PartialData) for "
        "the day from 2026-02-28 09:55 to 2026-03-01 09:55 UTC, also after a retry")


def test_denied_get_metric_data_reads_the_history_with_get_metric_statistics(
        tmp_path: Path, moto_clients: Any, caplog: pytest.LogCaptureFixture) -> None:
    create_table(moto_clients.dynamodb, "orders", 40, 12)  # no GSI: moto's GMS sums subsets
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    first = now - timedelta(minutes=30)
    put(moto_clients.cloudwatch, "ConsumedReadCapacityUnits", "orders", None, first, 600,
        requests=300)
    put(moto_clients.cloudwatch, "ReadThrottleEvents", "orders", None, first, 120)

    def denied(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetMetricData")

    moto_clients.cloudwatch.get_metric_data = denied
    trace = fetch(config(tmp_path, "[table: ^orders$]\n"), moto_clients, 2, now)

    (orders,) = trace.resources
    assert orders.reads[int((first - trace.start) / timedelta(minutes=1))] == 14.0
    # Per day: one call per metric (consumed Sum and SampleCount together), 4 metrics.
    assert moto_clients.calls["GetMetricStatistics"] == 2 * 4
    assert 'Add "cloudwatch:GetMetricData" to the IAM policy' in caplog.text


def test_fetch_then_simulate_through_the_cli(tmp_path: Path, moto_endpoint: str,
                                             server_clients: Any) -> None:
    conf = tmp_path / "fetch.conf"
    conf.write_text(CONF, encoding="utf-8")
    create_table(server_clients.dynamodb, "orders", 20, 10)
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    for back in range(10, 70):
        put(server_clients.cloudwatch, "ConsumedReadCapacityUnits", "orders", None,
            now - timedelta(minutes=back), 900)
    out = tmp_path / "history.csv.gz"
    fetched = run_cli(["-c", str(conf), "--fetch-trace", "1", "--trace-out", str(out)],
                      endpoint=moto_endpoint)
    assert fetched.returncode == 0, fetched.stderr
    assert "1 resource(s) (orders)" in fetched.stdout

    report_dir = tmp_path / "report"
    simulated = run_cli(["-c", str(conf), "--simulate", str(out), "--report-dir",
                         str(report_dir)])
    assert simulated.returncode == 0, simulated.stderr
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    # 60 minutes at 15 CU/s of reads; on-demand pays for exactly that.
    assert report["policies"]["on-demand"]["demand_cu"] == 60 * 900
    assert report["policies"]["on-demand"]["capacity_cost_usd"] == round(54000 * 0.125 / 1e6, 6)


def test_an_unwritable_trace_out_fails_before_any_aws_call(tmp_path: Path) -> None:
    conf = tmp_path / "dd.conf"
    conf.write_text("[table: .*]\n")
    regular = tmp_path / "afile"
    regular.write_text("")

    result = run_cli(["-c", str(conf), "--fetch-trace", "1", "--trace-out",
                      str(regular / "trace.csv")], endpoint=f"http://127.0.0.1:{free_port()}")

    assert result.returncode == 1
    assert result.stderr.startswith("dynamic-dynamodb: error: cannot write ")
    assert "Traceback" not in result.stderr
