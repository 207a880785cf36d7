"""The real ``dynamic-dynamodb`` against the twin: metrics CloudWatch does not answer fully,
and an IAM policy without ``cloudwatch:GetMetricData`` (2.5.1's documented one, D28)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from demo.seed import Traffic, create_table, put_traffic
from dynamic_dynamodb.aws.cloudwatch import MAX_FRUITLESS_PAGES
from tests.conftest import CLI
from tests.twin import Twin
from tests.twin.fixtures import twin

__all__ = ["twin"]

CONFIG = """\
[global]
region: us-east-1

[table: ^orders$]
min-provisioned-reads: 5
min-provisioned-writes: 5
"""


def run(twin: Twin, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    conf = tmp_path / "dd.conf"
    conf.write_text(CONFIG)
    return subprocess.run([CLI, "-c", str(conf), "--state-file", str(tmp_path / "s.json"), *args],
                          env=twin.env(), capture_output=True, text=True, timeout=60,
                          check=False)


def capacity(twin: Twin, table: str = "orders") -> tuple[int, int]:
    """Provisioned (reads, writes) once the table is ACTIVE again (the twin shows the old
    units while UPDATING, as DynamoDB does)."""
    throughput = twin.client("dynamodb").describe_table(TableName=table)["Table"][
        "ProvisionedThroughput"]
    return throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"]


def test_an_incomplete_throttle_metric_holds_the_decrease_and_is_named(twin: Twin,
                                                                     tmp_path: Path) -> None:
    # The engine's part: MetricSums.incomplete holds the decrease of that dimension.
    twin.configure(update_seconds=0)
    ddb, cw = twin.client("dynamodb"), twin.client("cloudwatch")
    create_table(ddb, "orders", 100, 100)  # no GSI
    # Both dimensions idle at 10 %: without the fault, reads and writes would halve.
    put_traffic(cw, ddb, Traffic("orders", None, consumed_read_percent=10,
                                 consumed_write_percent=10))
    # ReadThrottleEvents of orders: InternalError on every page and on the retry.
    twin.metric_status("InternalError", metric_name="ReadThrottleEvents", table="orders",
                       failing_followups=None)

    result = run(twin, tmp_path, "--run-once")

    assert result.returncode == 0, result.stdout + result.stderr
    assert capacity(twin) == (100, 50)  # reads held, writes decreased
    warnings = [line for line in result.stdout.splitlines()
                if " WARNING " in line and "orders - " in line]
    assert any("ReadThrottleEvents" in line for line in warnings), result.stdout
    assert "orders - ReadThrottleEvents: CloudWatch answered InternalError, also after a retry" \
        in result.stdout
    # First the consumed units (one call); then the throttle events, asked because both
    # dimensions want a decrease: that request and its fruitless follow-ups, then one retry of
    # the failing query (and its follow-ups): the paging is bounded.
    assert twin.count("GetMetricData") == 1 + 2 * (1 + MAX_FRUITLESS_PAGES)


def test_denied_get_metric_data_scales_with_get_metric_statistics_and_warns_once(
        twin: Twin, tmp_path: Path) -> None:
    twin.configure(update_seconds=0, new_peak_seconds=0)
    ddb, cw = twin.client("dynamodb"), twin.client("cloudwatch")
    create_table(ddb, "orders", 100, 100)  # no GSI: moto's GetMetricStatistics sums subsets
    put_traffic(cw, ddb, Traffic("orders", None, consumed_read_percent=95,
                                 consumed_write_percent=50))
    twin.deny("GetMetricData")
    log = tmp_path / "dd.log"
    conf = tmp_path / "dd.conf"
    conf.write_text(CONFIG)
    # The loop, one check a second: three cycles in one process.
    process = subprocess.Popen(
        [CLI, "-c", str(conf), "--state-file", str(tmp_path / "s.json"), "--check-interval",
         "1", "--log-file", str(log)], env=twin.env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (
                not log.exists() or log.read_text().count("Cycle done") < 3):
            assert process.poll() is None, process.communicate()
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    text = log.read_text()
    assert text.count("Cycle done") >= 3, text + out + err

    assert capacity(twin) == (150, 100)  # reads at 95 % scaled up, read through GMS
    warnings = [line for line in text.splitlines() if "GetMetricData is denied" in line]
    assert len(warnings) == 1, text
    assert " WARNING " in warnings[0] and 'Add "cloudwatch:GetMetricData"' in warnings[0]
    # Only the first cycle tried GetMetricData; every cycle read its metrics with
    # GetMetricStatistics, one call each: consumed reads and writes (no decrease is wanted and
    # no throttle option is set, so throttle events are not asked).
    assert twin.count("GetMetricData") == 1
    assert twin.count("GetMetricStatistics") >= 2 * 3
