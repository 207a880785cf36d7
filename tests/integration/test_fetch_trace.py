"""--fetch-trace against moto: history put in the past becomes a trace --simulate can replay."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from demo.localaws import free_port
from demo.seed import create_table
from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.simulate.fetch import fetch_trace
from dynamic_dynamodb.simulate.trace import read_trace
from tests.conftest import run_cli

CONF = """
[table: ^orders$]
[gsi: ^by_customer$ table: ^orders$]
"""


def put(cloudwatch: Any, name: str, table: str, gsi: str | None, at: datetime,
        value: float) -> None:
    dimensions = [{"Name": "TableName", "Value": table}]
    if gsi:
        dimensions.append({"Name": "GlobalSecondaryIndexName", "Value": gsi})
    cloudwatch.put_metric_data(Namespace="AWS/DynamoDB", MetricData=[
        {"MetricName": name, "Dimensions": dimensions, "Timestamp": at, "Value": value}])


def test_fetch_trace_writes_demand_as_consumed_plus_throttled(
        tmp_path: Path, moto_clients: Any) -> None:
    conf = tmp_path / "fetch.conf"
    conf.write_text(CONF, encoding="utf-8")
    config = load_config(str(conf))
    create_table(moto_clients.dynamodb, "orders", 40, 12, gsis={"by_customer": (7, 3)})
    create_table(moto_clients.dynamodb, "unmanaged", 5, 5)
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    first = now - timedelta(minutes=30)
    # Minute `first`: 600 read units consumed and 120 throttled -> (600 + 120) / 60 = 12 CU/s.
    put(moto_clients.cloudwatch, "ConsumedReadCapacityUnits", "orders", None, first, 600)
    put(moto_clients.cloudwatch, "ReadThrottleEvents", "orders", None, first, 120)
    put(moto_clients.cloudwatch, "ConsumedWriteCapacityUnits", "orders", None,
        first + timedelta(minutes=1), 90)
    put(moto_clients.cloudwatch, "ConsumedReadCapacityUnits", "orders", "by_customer", first, 30)
    put(moto_clients.cloudwatch, "ConsumedReadCapacityUnits", "unmanaged", None, first, 999)

    out = tmp_path / "history.csv"
    assert fetch_trace(config, 1, str(out), moto_clients) == 0

    trace = read_trace(str(out))
    assert trace.minutes == 24 * 60
    assert [resource.key for resource in trace.resources] == ["orders", "orders:by_customer"]
    orders, gsi = trace.resources
    index = int((first - trace.start) / timedelta(minutes=1))
    assert orders.reads[index] == 12.0
    assert orders.writes[index + 1] == 1.5
    assert orders.reads[index - 1] == 0.0  # no datapoint: no traffic
    assert sum(orders.reads) == 12.0
    assert gsi.reads[index] == 0.5
    assert (orders.initial_reads, orders.initial_writes) == (40, 12)
    assert (gsi.initial_reads, gsi.initial_writes) == (7, 3)
    # One GetMetricData call carries all 8 queries.
    assert moto_clients.calls["GetMetricData"] == 1


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
