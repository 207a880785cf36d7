"""The real ``dynamic-dynamodb --fetch-trace`` against the twin: a day per GetMetricData call,
an error instead of a trace of zeros or of a partial day."""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from demo.seed import create_table
from dynamic_dynamodb.simulate.trace import read_trace
from tests.conftest import CLI
from tests.twin import Twin
from tests.twin.fixtures import twin

__all__ = ["twin"]


def put(cw: Any, table: str, at: datetime, units: float, requests: float) -> None:
    cw.put_metric_data(Namespace="AWS/DynamoDB", MetricData=[{
        "MetricName": "ConsumedReadCapacityUnits",
        "Dimensions": [{"Name": "TableName", "Value": table}], "Timestamp": at,
        "StatisticValues": {"SampleCount": requests, "Sum": units, "Minimum": 0,
                            "Maximum": units}}])


def fetch(twin: Twin, tmp_path: Path, sections: str, days: int,
          out: Path) -> subprocess.CompletedProcess[str]:
    conf = tmp_path / "dd.conf"
    conf.write_text(f"[global]\nregion: us-east-1\n\n{sections}")
    return subprocess.run([CLI, "-c", str(conf), "--fetch-trace", str(days), "--trace-out",
                           str(out)], env=twin.env(), capture_output=True, text=True,
                          timeout=60, check=False)


def test_each_day_is_one_get_metric_data_call(twin: Twin, tmp_path: Path) -> None:
    ddb, cw = twin.client("dynamodb"), twin.client("cloudwatch")
    create_table(ddb, "orders", 20, 10)
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    put(cw, "orders", now - timedelta(days=1, hours=3), 1200, 600)  # 20 CU/s that minute
    out = tmp_path / "orders.csv"

    result = fetch(twin, tmp_path, "[table: ^orders$]\n", 3, out)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Wrote 4320 minutes" in result.stdout and "(orders)" in result.stdout
    assert twin.count("GetMetricData") == 3  # one per day: 6 series x 1,440 minutes each
    (orders,) = read_trace(str(out)).resources
    assert max(orders.reads) == 20.0 and sum(orders.reads) == 20.0


def test_a_table_without_any_datapoint_is_an_error_naming_it(twin: Twin, tmp_path: Path) -> None:
    ddb, cw = twin.client("dynamodb"), twin.client("cloudwatch")
    create_table(ddb, "orders", 20, 10)
    create_table(ddb, "quiet", 5, 5)
    put(cw, "orders", datetime.now(timezone.utc) - timedelta(hours=1), 60, 60)
    out = tmp_path / "trace.csv"

    result = fetch(twin, tmp_path, "[table: ^orders$]\n[table: ^quiet$]\n", 1, out)

    assert result.returncode == 1
    assert result.stderr.startswith(
        "dynamic-dynamodb: error: no CloudWatch datapoint at all for quiet between "), \
        result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_a_day_cloudwatch_answers_only_partly_is_an_error_naming_it(twin: Twin,
                                                                   tmp_path: Path) -> None:
    ddb, cw = twin.client("dynamodb"), twin.client("cloudwatch")
    create_table(ddb, "orders", 20, 10)
    put(cw, "orders", datetime.now(timezone.utc) - timedelta(hours=1), 60, 60)
    twin.metric_status("PartialData", metric_name="ConsumedReadCapacityUnits", table="orders")
    out = tmp_path / "trace.csv"

    result = fetch(twin, tmp_path, "[table: ^orders$]\n", 1, out)

    assert result.returncode == 1
    assert "CloudWatch did not answer completely for orders (ConsumedReadCapacityUnits: " \
           "PartialData; ConsumedReadCapacityUnits SampleCount: PartialData) for the day from " \
           in result.stderr, result.stderr
    assert "no trace written" in result.stderr
    assert twin.count("GetMetricData") == 2  # the request and one retry of the 2 failing series
    assert not out.exists()
