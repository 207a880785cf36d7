"""The real command against the twin: what real DynamoDB does that moto does not (D25-D27).

Each test runs ``dynamic-dynamodb --run-once`` as a subprocess against ``tests/twin`` (moto
behind an AWS-like HTTP layer), so botocore's own retries and timeouts run too, and counts
what reached the twin.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from demo.seed import Traffic, create_table, put_traffic
from tests.conftest import CLI, table_capacity
from tests.twin import Twin, TwinClock

MORNING = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
CONFIG = """\
[default_options]
min-provisioned-reads: 5
min-provisioned-writes: 5
[table: ^orders$]
[gsi: .* table: ^orders$]
[table: ^users$]
"""


@pytest.fixture
def twin() -> Iterator[Twin]:
    with Twin(clock=TwinClock(start=MORNING.isoformat())) as started:
        yield started


class Run:
    def __init__(self, twin: Twin, tmp_path: Path):
        self.twin = twin
        self.config = tmp_path / "dd.conf"
        self.config.write_text(CONFIG)
        self.state = tmp_path / "state.json"
        self.ddb = twin.client("dynamodb")
        self.cloudwatch = twin.client("cloudwatch")

    def traffic(self, table: str, gsi: str | None, reads: float, writes: float) -> None:
        put_traffic(self.cloudwatch, self.ddb, Traffic(table, gsi, reads, writes))

    def once(self, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, "-c", str(self.config), "--run-once", "--state-file", str(self.state), *extra],
            env=env or self.twin.env(), capture_output=True, text=True, timeout=120, check=False)

    def capacity(self, table: str, gsi: str | None = None) -> tuple[int, int]:
        """Capacity once any update has landed: like AWS, the twin shows the old units while
        a table is UPDATING, so its clock is moved past the update window first."""
        self.twin.clock.advance(60)
        return table_capacity(self.ddb, table, gsi)

    def saved(self) -> dict[str, Any]:
        """The state file's one account/region entry (state.py, version 2)."""
        (entry,) = json.loads(self.state.read_text())["accounts"].values()
        return entry


@pytest.fixture
def run(twin: Twin, tmp_path: Path) -> Run:
    return Run(twin, tmp_path)


def test_a_table_and_three_gsis_are_scaled_in_one_request(run: Run) -> None:
    gsis = {"by_a": (100, 100), "by_b": (100, 100), "by_c": (100, 100)}
    create_table(run.ddb, "orders", 100, 100, gsis=gsis)
    run.traffic("orders", None, 95, 50)
    for gsi in gsis:
        run.traffic("orders", gsi, 95, 50)
    run.twin.reset_counts()
    result = run.once()
    assert result.returncode == 0, result.stdout + result.stderr
    assert run.twin.count("UpdateTable") == 1  # D25: one request, no ResourceInUse
    assert run.capacity("orders") == (150, 100)
    assert all(run.capacity("orders", gsi) == (150, 100) for gsi in gsis)


def test_a_quota_refusal_is_read_and_only_the_increase_is_sent_again(tmp_path: Path) -> None:
    # The command decides on the real clock, so this twin's clock is real time too.
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    if now.hour == 23 and now.minute >= 45:
        pytest.skip("the decrease quota starts again at 00:00 UTC, too close to now")
    # An account whose quota is stricter than the documented one (2 free decreases, not 4):
    # the budget model lets the decrease go, and DynamoDB's refusal must be read right.
    with Twin(free_decreases_per_day=2) as twin:
        run = Run(twin, tmp_path)
        create_table(run.ddb, "orders", 100, 100)
        twin.set_decreases("orders", 2, last=now - timedelta(minutes=10))
        run.traffic("orders", None, 10, 95)  # reads down, writes up
        twin.reset_counts()
        result = run.once()
        assert result.returncode == 0, result.stdout + result.stderr
        # Not retried by botocore (it is not a throttle): 1, then 1 with the increase only.
        assert twin.count("UpdateTable") == 2, result.stdout
        next_at = now + timedelta(minutes=50)
        assert f"DynamoDB says the next decrease can be made at {next_at:%Y-%m-%d %H:%M} UTC" \
            in result.stdout
        assert run.saved()["resources"]["orders"]["next_decrease"].startswith(
            f"{next_at:%Y-%m-%dT%H:%M}")
        assert run.capacity("orders") == (100, 150)

        # Until then no decrease is even tried: no more refused requests.
        again = run.once()
        assert again.returncode == 0, again.stdout + again.stderr
        assert "LimitExceededException" not in again.stdout
        assert run.capacity("orders")[0] == 100
        assert (f"next possible at {next_at:%H:%M} UTC (DynamoDB said the next decrease can be "
                f"made at {next_at:%H:%M} UTC)") in again.stdout


def test_too_many_table_operations_wait_a_cycle_without_a_quota_penalty(run: Run) -> None:
    create_table(run.ddb, "users", 100, 100)
    run.traffic("users", None, 10, 50)
    run.twin.fail_concurrent_updates(1)
    run.twin.reset_counts()
    result = run.once()
    assert result.returncode == 0, result.stdout + result.stderr
    assert run.twin.count("UpdateTable") == 1
    assert "too many table operations at once" in result.stdout
    assert "next_decrease" not in run.saved()["resources"]["users"]
    assert run.once().returncode == 0
    assert run.capacity("users") == (50, 100)


def test_increases_are_clamped_to_dynamodbs_limits(run: Run) -> None:
    run.twin.configure(table_max_read=120)
    create_table(run.ddb, "users", 100, 100)
    run.traffic("users", None, 95, 50)
    result = run.once()
    assert result.returncode == 0, result.stdout + result.stderr
    assert run.capacity("users") == (120, 100)
    assert "increase capped at 120 by DynamoDB's capacity limit" in result.stdout
    assert run.twin.count("DescribeLimits") == 1


def test_nothing_is_sent_while_an_index_is_updating(run: Run) -> None:
    create_table(run.ddb, "orders", 100, 100, gsis={"by_a": (100, 100)})
    run.traffic("orders", "by_a", 95, 50)
    assert run.once().returncode == 0
    run.traffic("orders", None, 95, 50)
    run.twin.reset_counts()
    busy = run.once()
    assert busy.returncode == 0, busy.stdout + busy.stderr
    assert run.twin.count("UpdateTable") == 0  # never met ResourceInUse
    assert "orders - Table is busy (GSI by_a), not ACTIVE; skipping it and its GSIs" in busy.stdout
    assert run.capacity("orders", "by_a") == (150, 100)  # (the clock moves past the window)
    assert run.once().returncode == 0
    assert run.capacity("orders") == (150, 100)


def test_global_tables_and_aws_autoscaled_tables_are_not_touched(run: Run) -> None:
    create_table(run.ddb, "orders", 100, 100)
    create_table(run.ddb, "users", 100, 100)
    run.twin.set_global_table("orders", ["us-east-1", "eu-west-1"])
    run.twin.client("application-autoscaling").register_scalable_target(
        ServiceNamespace="dynamodb", ResourceId="table/users",
        ScalableDimension="dynamodb:table:ReadCapacityUnits", MinCapacity=5, MaxCapacity=500)
    run.traffic("orders", None, 95, 50)
    run.traffic("users", None, 95, 50)
    result = run.once()
    assert result.returncode == 0, result.stdout + result.stderr
    assert run.capacity("orders") == (100, 100)
    assert run.capacity("users") == (100, 100)
    assert "orders - Table is a global table (replicas in us-east-1, eu-west-1)" in result.stdout
    assert "users - Has an Application Auto Scaling scalable target" in result.stdout
    assert run.twin.count("UpdateTable") == 0


def test_a_throttled_update_is_retried_by_botocore_and_counted(run: Run) -> None:
    create_table(run.ddb, "users", 100, 100)
    run.traffic("users", None, 95, 50)
    run.twin.fail("UpdateTable", "ThrottlingException", "Rate exceeded", times=1)
    run.twin.reset_counts()
    result = run.once()
    assert result.returncode == 0, result.stdout + result.stderr
    assert run.twin.count("UpdateTable") == 2
    assert run.capacity("users") == (150, 100)
    summary = next(line for line in result.stdout.splitlines() if "Cycle done" in line)
    assert "UpdateTable 1" in summary and "HTTP requests" in summary


def test_the_region_comes_from_aws_region_when_none_is_configured(run: Run) -> None:
    result = run.once(env=run.twin.env(AWS_REGION="us-east-1"))
    assert "Region us-east-1 (from AWS_REGION)" in result.stdout


def test_sigterm_during_a_hung_call_exits_within_ten_seconds(run: Run) -> None:
    create_table(run.ddb, "users", 100, 100)
    run.twin.hang("DescribeTable", seconds=None, times=None)
    process = subprocess.Popen(
        [CLI, "-c", str(run.config), "--run-once", "--state-file", str(run.state)],
        env=run.twin.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while run.twin.count("DescribeTable") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert run.twin.count("DescribeTable") >= 1, "the call never reached the twin"
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
        elapsed = time.monotonic() - started
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        run.twin.release_hangs()
    assert elapsed < 10, output
    assert process.returncode == 3
    assert "did not return within 8 s of the stop request" in output
