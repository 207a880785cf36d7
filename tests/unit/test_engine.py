"""The engine against in-memory fakes of its ports: pipeline order, error isolation, counters.

No moto, no network: ``tests/fakes.py`` journals every call, so the order of the pipeline
(discover → observe → decide → act → notify) and what happens around a failing call are
checked directly. The decisions themselves are the policy's (tests/unit/policy).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import pytest

from dynamic_dynamodb.breaker import BreakerResult
from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.engine import Engine
from dynamic_dynamodb.policy.counters import Counters
from dynamic_dynamodb.state import State
from tests.fakes import FakeAws

NOON = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
TOPIC = "arn:aws:sns:us-east-1:123456789012:ops"


def config(tmp_path: Path, extra: str = "") -> Config:
    path = tmp_path / "dd.conf"
    path.write_text(
        "[default_options]\n"
        f"sns-topic-arn: {TOPIC}\n"
        "sns-message-types: scale-up, scale-down\n"
        "num-read-checks-before-scale-down: 2\n"
        f"{extra}\n"
        "[table: ^t]\n[gsi: .* table: ^t]\n")
    return load_config(str(path))


def engine(tmp_path: Path, aws: FakeAws, state: State | None = None, *, extra: str = "",
           dry_run: bool = False, breaker_open: bool = False) -> Engine:
    def breaker(*_: object) -> BreakerResult:
        return BreakerResult(not breaker_open, "breaker says so")

    url = "circuit-breaker-url: http://127.0.0.1:9/up\n" if breaker_open else ""
    return Engine(config(tmp_path, extra + url), aws.ports(), state or State(), dry_run=dry_run,
                  clock=lambda: NOON, breaker_check=breaker)


@pytest.fixture
def aws() -> FakeAws:
    fake = FakeAws()
    fake.tables.add("t1", 100, 100, gsis={"g1": (50, 50)})
    fake.tables.add("t2", 100, 100)
    fake.traffic("t1", None, 95, 50)  # reads up
    fake.traffic("t1", "g1", 50, 95)  # GSI writes up
    fake.traffic("t2", None, 95, 50)  # reads up
    return fake


def test_pipeline_order_discover_observe_decide_act_notify(tmp_path: Path, aws: FakeAws) -> None:
    report = engine(tmp_path, aws).run_cycle()
    assert aws.journal.calls == [
        ("ListTables",),
        ("DescribeTable", "t1"),
        ("DescribeTable", "t2"),
        ("GetMetricData",),  # one batch for every resource of the cycle
        ("UpdateTable", "t1"),
        ("Publish", TOPIC),
        ("UpdateTable", "t1:g1"),
        ("Publish", TOPIC),
        ("UpdateTable", "t2"),
        ("Publish", TOPIC),
    ]
    assert (report.tables, report.gsis, report.updates, report.errors) == (2, 1, 3, 0)
    assert report.calls == {"ListTables": 1, "DescribeTable": 2, "GetMetricData": 1,
                            "UpdateTable": 3, "Publish": 3}
    assert aws.tables.capacity("t1") == (150, 100)
    assert aws.tables.capacity("t1", "g1") == (50, 75)


def test_a_failing_describe_skips_only_that_table(tmp_path: Path, aws: FakeAws,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    aws.journal.fail("DescribeTable", "AccessDeniedException", subject="t1")
    with caplog.at_level(logging.ERROR):
        report = engine(tmp_path, aws).run_cycle()
    assert aws.tables.capacity("t2") == (150, 100)
    assert aws.tables.capacity("t1") == (100, 100)
    assert report.errors == 1
    assert "t1 - DescribeTable failed: AccessDeniedException" in caplog.text


def test_a_failing_update_never_stops_the_others(tmp_path: Path, aws: FakeAws,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    aws.journal.fail("UpdateTable", "ValidationException", subject="t1")
    with caplog.at_level(logging.ERROR):
        report = engine(tmp_path, aws).run_cycle()
    assert aws.tables.capacity("t1") == (100, 100)
    assert aws.tables.capacity("t1", "g1") == (50, 75)
    assert aws.tables.capacity("t2") == (150, 100)
    assert (report.updates, report.errors) == (2, 1)
    assert "t1 - UpdateTable failed: ValidationException" in caplog.text
    assert aws.journal.operations().count("Publish") == 2  # no SNS for the failed update


def test_a_metrics_failure_fails_the_cycle_without_any_update(tmp_path: Path,
                                                              aws: FakeAws) -> None:
    aws.journal.fail("GetMetricData", "InternalServiceError")
    report = engine(tmp_path, aws).run_cycle()
    assert "UpdateTable" not in aws.journal.operations()
    assert report.errors == 3  # every resource of the cycle went unchecked


def test_dry_run_sends_nothing(tmp_path: Path, aws: FakeAws) -> None:
    report = engine(tmp_path, aws, dry_run=True).run_cycle()
    assert set(aws.journal.operations()) == {"ListTables", "DescribeTable", "GetMetricData"}
    assert report.updates == 0


def test_counters_count_a_wanted_decrease_and_reset_when_it_is_applied(
    tmp_path: Path, aws: FakeAws,
) -> None:
    aws.traffic("t2", None, 10, 50)
    state = State()
    engine(tmp_path, aws, state).run_cycle()
    assert state.counters("t2") == Counters(1, 0)
    assert aws.tables.capacity("t2") == (100, 100)
    engine(tmp_path, aws, state).run_cycle()
    assert aws.tables.capacity("t2") == (50, 100)
    assert state.counters("t2") == Counters(0, 0)


def test_a_decrease_refused_by_dynamodb_keeps_the_count(tmp_path: Path, aws: FakeAws) -> None:
    aws.traffic("t2", None, 10, 50)
    state = State()
    state.set_counters("t2", Counters(1, 0))
    aws.journal.fail("UpdateTable", "ResourceInUseException", subject="t2")
    engine(tmp_path, aws, state).run_cycle()
    assert aws.tables.capacity("t2") == (100, 100)
    assert state.counters("t2") == Counters(2, 0)  # counted, not reset (D5)


def test_limit_exceeded_on_a_decrease_retries_with_the_increases_only(
    tmp_path: Path, aws: FakeAws,
) -> None:
    aws.traffic("t2", None, 10, 95)  # reads down (check 2/2), writes up
    state = State()
    state.set_counters("t2", Counters(1, 0))
    aws.journal.fail("UpdateTable", "LimitExceededException", subject="t2")
    report = engine(tmp_path, aws, state).run_cycle()
    assert aws.tables.capacity("t2") == (100, 150)
    assert aws.journal.calls.count(("UpdateTable", "t2")) == 2
    assert report.errors == 0
    assert state.own_record("t2", NOON).decrease_refused == NOON
    assert state.counters("t2") == Counters(2, 0)


def test_an_open_breaker_resets_counters_and_skips(tmp_path: Path, aws: FakeAws) -> None:
    state = State()
    state.set_counters("t2", Counters(1, 1))
    report = engine(tmp_path, aws, state, breaker_open=True).run_cycle()
    assert "UpdateTable" not in aws.journal.operations()
    assert state.counters("t2") == Counters(0, 0)
    assert report.skipped == 3


def test_not_active_and_on_demand_tables_are_skipped(tmp_path: Path, aws: FakeAws) -> None:
    aws.tables.add("t3", 100, 100, status="UPDATING")
    aws.tables.add("t4", 0, 0, billing_mode="PAY_PER_REQUEST")
    report = engine(tmp_path, aws).run_cycle()
    assert ("UpdateTable", "t3") not in aws.journal.calls
    assert ("UpdateTable", "t4") not in aws.journal.calls
    assert report.skipped == 2


def test_a_table_deleted_since_the_listing_is_forgotten(tmp_path: Path, aws: FakeAws) -> None:
    state = State()
    state.set_counters("gone", Counters(2, 0))
    engine(tmp_path, aws, state).run_cycle()
    assert "gone" not in state.data["resources"]
