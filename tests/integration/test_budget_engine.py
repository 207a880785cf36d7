"""The decrease budget inside a real engine cycle, fed by Stubber DescribeTable answers.

DynamoDB's dynamodb client is a botocore Stubber (moto has no decrease quota and drops
NumberOfDecreasesToday after an update); CloudWatch and SNS are in-process moto. Every
UpdateTable the engine sends must match a queued expectation exactly, and
``assert_no_pending_responses`` proves an expected one was sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from dynamic_dynamodb.aws.clients import Clients
from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.engine import CycleReport, Engine
from dynamic_dynamodb.policy.budget import DecreaseLedger, merge_ledger
from dynamic_dynamodb.policy.counters import Counters
from dynamic_dynamodb.state import State
from tests.conftest import TEST_BOTO_CONFIG

UTC = timezone.utc
NOON = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
TABLE, GSI = "orders", "by_user"
TOPIC = f"arn:aws:sns:us-east-1:{DEFAULT_ACCOUNT_ID}:budget"


@pytest.fixture
def aws(moto_clients: Clients) -> Iterator[tuple[Clients, Stubber]]:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1", config=TEST_BOTO_CONFIG)
    stub = Stubber(dynamodb)
    with stub:
        yield Clients(dynamodb, moto_clients.cloudwatch, moto_clients.sns), stub


def ledger(state: State, key: str, now: datetime, *reported: Any) -> DecreaseLedger:
    """What decide() sees: the state's own record merged with DynamoDB's figures."""
    return merge_ledger(state.own_record(key, now), now, *reported)


def make_config(tmp_path: Path, table: str = "", gsi: str | None = None) -> Config:
    text = f"[table: ^{TABLE}$]\n{table}\n"
    if gsi is not None:
        text += f"[gsi: ^{GSI}$ table: ^{TABLE}$]\n{gsi}\n"
    path = tmp_path / "dd.conf"
    path.write_text(text)
    return load_config(str(path))


def throughput(reads: int, writes: int, decreases: int = 0, last_decrease: datetime | None = None,
               last_increase: datetime | None = None) -> dict[str, Any]:
    """A ProvisionedThroughputDescription. 0 decreases is left out: the stub validator rejects it."""
    answer: dict[str, Any] = {"ReadCapacityUnits": reads, "WriteCapacityUnits": writes}
    if decreases:
        answer["NumberOfDecreasesToday"] = decreases
    if last_decrease:
        answer["LastDecreaseDateTime"] = last_decrease
    if last_increase:
        answer["LastIncreaseDateTime"] = last_increase
    return answer


def expect_discovery(stub: Stubber, table: dict[str, Any], gsi: dict[str, Any] | None = None) -> None:
    stub.add_response("list_tables", {"TableNames": [TABLE]}, {})
    description: dict[str, Any] = {"TableName": TABLE, "TableStatus": "ACTIVE",
                                   "ProvisionedThroughput": table}
    if gsi is not None:
        description["GlobalSecondaryIndexes"] = [
            {"IndexName": GSI, "IndexStatus": "ACTIVE", "ProvisionedThroughput": gsi}]
    stub.add_response("describe_table", {"Table": description}, {"TableName": TABLE})


def expect_update(stub: Stubber, reads: int, writes: int,
                  gsi: tuple[int, int] | None = None) -> None:
    """One UpdateTable: the table's new capacity, and its GSI's when ``gsi`` is given (D25)."""
    params: dict[str, Any] = {
        "TableName": TABLE,
        "ProvisionedThroughput": {"ReadCapacityUnits": reads, "WriteCapacityUnits": writes}}
    if gsi is not None:
        params["GlobalSecondaryIndexUpdates"] = [{"Update": {
            "IndexName": GSI,
            "ProvisionedThroughput": {"ReadCapacityUnits": gsi[0], "WriteCapacityUnits": gsi[1]}}}]
    stub.add_response("update_table", {}, params)


def expect_gsi_update(stub: Stubber, reads: int, writes: int) -> None:
    """One UpdateTable changing only the GSI."""
    stub.add_response("update_table", {}, {"TableName": TABLE, "GlobalSecondaryIndexUpdates": [
        {"Update": {"IndexName": GSI, "ProvisionedThroughput": {
            "ReadCapacityUnits": reads, "WriteCapacityUnits": writes}}}]})


def expect_limit_exceeded(stub: Stubber, reads: int, writes: int) -> None:
    stub.add_client_error(
        "update_table", service_error_code="LimitExceededException", http_status_code=400,
        service_message="Subscriber limit exceeded: Provisioned throughput decreases are limited",
        expected_params={"TableName": TABLE,
                         "ProvisionedThroughput": {"ReadCapacityUnits": reads,
                                                   "WriteCapacityUnits": writes}})


def put_load(clients: Clients, now: datetime, read_percent: float, write_percent: float,
             gsi: str | None = None, capacity: tuple[int, int] = (100, 100)) -> None:
    """Constant consumption around the default lookback window of a cycle at ``now``."""
    dimensions = [{"Name": "TableName", "Value": TABLE}]
    if gsi:
        dimensions.append({"Name": "GlobalSecondaryIndexName", "Value": gsi})
    minute = now.replace(second=0, microsecond=0)
    data = [
        {"MetricName": name, "Dimensions": dimensions, "Timestamp": minute - timedelta(minutes=back),
         "Value": percent / 100 * provisioned * 60}
        for name, percent, provisioned in (
            ("ConsumedReadCapacityUnits", read_percent, capacity[0]),
            ("ConsumedWriteCapacityUnits", write_percent, capacity[1]))
        for back in range(11, 16)  # exactly the 5 minutes [now - 15, now - 10)
    ]
    clients.cloudwatch.put_metric_data(Namespace="AWS/DynamoDB", MetricData=data)


def cycle(config: Config, clients: Clients, state: State, now: datetime) -> CycleReport:
    report = Engine(config, clients.ports(), state, clock=lambda: now).run_cycle()
    assert report.errors == 0
    return report


def lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


@pytest.fixture(autouse=True)
def _info_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="dynamic_dynamodb")


def test_a_deferred_decrease_is_not_sent_while_the_increase_is(
    aws: tuple[Clients, Stubber], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clients, stub = aws
    put_load(clients, NOON, read_percent=10, write_percent=95)
    put_load(clients, NOON, read_percent=10, write_percent=50, gsi=GSI)
    # The table has used 4 decreases, the last 20 minutes ago; its GSI has used none.
    expect_discovery(stub, throughput(100, 100, 4, NOON - timedelta(minutes=20)),
                     throughput(100, 100))
    # One request: the table's writes up (its reads left alone), and the GSI's decrease,
    # which its own quota allows.
    expect_update(stub, 100, 150, gsi=(50, 100))
    state = State()
    state.set_counters(TABLE, Counters(2, 0))
    report = cycle(make_config(tmp_path, gsi=""), clients, state, NOON)

    stub.assert_no_pending_responses()
    assert report.updates == 2
    deferred = lines(caplog, "decrease deferred")
    assert len(deferred) == 1
    assert deferred[0].startswith(f"{TABLE} - Reads:")
    assert "decrease deferred: 4/27 used today, next possible at 12:40 UTC" in deferred[0]
    assert state.counters(TABLE).reads == 3  # refused, not reset (D5)
    assert state.counters(f"{TABLE}:{GSI}") == Counters(0, 0)  # applied: reset
    # The increase and the GSI's decrease are in the ledger; the table's decrease is not.
    assert ledger(state, TABLE, NOON).last_increase == NOON
    assert ledger(state, TABLE, NOON).last_decrease is None
    assert ledger(state, f"{TABLE}:{GSI}", NOON).decreases_today == 1


def test_dynamodb_figures_beat_an_empty_state_and_the_state_covers_missing_ones(
    aws: tuple[Clients, Stubber], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clients, stub = aws
    config = make_config(tmp_path, "max-decreases-per-day: 2")
    state = State()
    put_load(clients, NOON, read_percent=10, write_percent=50)
    # First check: DynamoDB says one decrease today, so one more is allowed.
    expect_discovery(stub, throughput(100, 100, 1, NOON - timedelta(hours=3)))
    expect_update(stub, 50, 100)
    cycle(config, clients, state, NOON)
    # Second check: the answer lacks the fields (as moto's does after an update), so the
    # state's own record counts: 1 of 2 used, one more allowed.
    later = NOON + timedelta(minutes=10)
    put_load(clients, later, read_percent=10, write_percent=50, capacity=(50, 100))
    expect_discovery(stub, throughput(50, 100))
    expect_update(stub, 25, 100)
    cycle(config, clients, state, later)
    # Third check: our own record now says 2/2; no UpdateTable is queued.
    last = NOON + timedelta(minutes=20)
    put_load(clients, last, read_percent=10, write_percent=50, capacity=(25, 100))
    expect_discovery(stub, throughput(25, 100))
    cycle(config, clients, state, last)
    stub.assert_no_pending_responses()
    assert lines(caplog, "decrease deferred: 2/2 used today, next possible at 00:00 UTC")


def test_the_reserve_holds_a_decrease_until_its_time(
    aws: tuple[Clients, Stubber], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clients, stub = aws
    config = make_config(tmp_path, "reserved-decreases: 1\nreserved-decreases-after: 22:00")
    state = State()
    spent = throughput(100, 100, 6, datetime(2026, 3, 4, 19, 0, tzinfo=UTC))
    early = datetime(2026, 3, 4, 21, 30, tzinfo=UTC)
    put_load(clients, early, read_percent=10, write_percent=50)
    expect_discovery(stub, spent)
    cycle(config, clients, state, early)  # no update queued: none may be sent
    stub.assert_no_pending_responses()
    assert lines(caplog, "decrease deferred: 6/27 used today, next possible at 22:00 UTC")
    assert state.counters(TABLE).reads == 1

    on_time = datetime(2026, 3, 4, 22, 0, tzinfo=UTC)
    put_load(clients, on_time, read_percent=10, write_percent=50)
    expect_discovery(stub, spent)
    expect_update(stub, 50, 100)
    cycle(config, clients, state, on_time)
    stub.assert_no_pending_responses()
    assert state.counters(TABLE).reads == 0


def test_decrease_cooldown_after_an_increase_dynamodb_reported(
    aws: tuple[Clients, Stubber], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clients, stub = aws
    config = make_config(tmp_path, "decrease-cooldown-minutes: 30")
    state = State()
    raised = throughput(100, 100, last_increase=NOON - timedelta(minutes=10))
    put_load(clients, NOON, read_percent=10, write_percent=50)
    expect_discovery(stub, raised)
    cycle(config, clients, state, NOON)
    stub.assert_no_pending_responses()
    assert lines(caplog, "decrease deferred: 0/27 used today, next possible at 12:20 UTC")

    later = NOON + timedelta(minutes=20)
    put_load(clients, later, read_percent=10, write_percent=50)
    expect_discovery(stub, raised)
    expect_update(stub, 50, 100)
    cycle(config, clients, state, later)
    stub.assert_no_pending_responses()


def test_decrease_cooldown_after_an_increase_this_tool_made(
    aws: tuple[Clients, Stubber], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clients, stub = aws
    config = make_config(tmp_path, "decrease-cooldown-minutes: 30")
    state = State()
    put_load(clients, NOON, read_percent=50, write_percent=95)
    expect_discovery(stub, throughput(100, 100))
    expect_update(stub, 100, 150)
    cycle(config, clients, state, NOON)
    # Five minutes later writes look idle, but the answer carries no LastIncreaseDateTime:
    # the state file's record of our own increase keeps the cooldown.
    later = NOON + timedelta(minutes=5)
    put_load(clients, later, read_percent=50, write_percent=10, capacity=(100, 150))
    expect_discovery(stub, throughput(100, 150))
    cycle(config, clients, state, later)
    stub.assert_no_pending_responses()
    assert lines(caplog, "next possible at 12:30 UTC")


def test_increase_cooldown_unless_consumption_exceeds_provisioning(
    aws: tuple[Clients, Stubber], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clients, stub = aws
    config = make_config(tmp_path, "increase-cooldown-minutes: 30")
    state = State()
    raised = throughput(100, 100, last_increase=NOON - timedelta(minutes=5))
    put_load(clients, NOON, read_percent=50, write_percent=95)
    expect_discovery(stub, raised)
    cycle(config, clients, state, NOON)  # 95 % > 90 % upper threshold, but cooling down
    stub.assert_no_pending_responses()
    assert lines(caplog, "increase-cooldown-minutes runs until 12:25 UTC")

    burst = NOON + timedelta(minutes=10)
    put_load(clients, burst, read_percent=50, write_percent=130)
    expect_discovery(stub, raised)
    expect_update(stub, 100, 195)  # consumption beyond provisioning overrides the cooldown
    cycle(config, clients, state, burst)
    stub.assert_no_pending_responses()


def test_limit_exceeded_is_retried_with_increases_only_and_logged_as_a_model_miss(
    aws: tuple[Clients, Stubber], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clients, stub = aws
    state = State()
    put_load(clients, NOON, read_percent=10, write_percent=95)
    expect_discovery(stub, throughput(100, 100))  # nothing says the quota is used
    expect_limit_exceeded(stub, 50, 150)
    expect_update(stub, 100, 150)
    report = cycle(make_config(tmp_path), clients, state, NOON)
    stub.assert_no_pending_responses()
    assert report.updates == 1
    assert lines(caplog, "decrease budget model missed")
    assert state.counters(TABLE).reads == 1  # refused by DynamoDB: kept (D5)
    assert "decreases" not in state.data["resources"][TABLE]  # no decrease was made


def budget_messages() -> list[str]:
    topic = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].topics[TOPIC]
    return [subject for _, _, subject, *_ in topic.sent_notifications
            if subject.startswith("Decrease budget exhausted")]


def test_the_budget_sns_is_sent_once_per_resource_and_utc_day(
    aws: tuple[Clients, Stubber], tmp_path: Path
) -> None:
    clients, stub = aws
    clients.sns.create_topic(Name="budget")
    sns = f"sns-topic-arn: {TOPIC}\nsns-message-types: decrease-budget-exhausted"
    config = make_config(tmp_path, sns, gsi=sns)
    state = State()
    checks = [NOON, NOON + timedelta(minutes=5), NOON + timedelta(hours=6)]
    for now in checks:
        put_load(clients, now, read_percent=10, write_percent=50)
        put_load(clients, now, read_percent=10, write_percent=50, gsi=GSI)
        expect_discovery(stub, throughput(100, 100, 27, NOON - timedelta(hours=1)),
                         throughput(100, 100, 3, NOON - timedelta(minutes=1)))
        expect_gsi_update(stub, 50, 100)  # the GSI's budget is fine
        cycle(config, clients, state, now)
    stub.assert_no_pending_responses()
    assert budget_messages() == [f"Decrease budget exhausted for table {TABLE}"]

    tomorrow = NOON + timedelta(days=1)
    put_load(clients, tomorrow, read_percent=10, write_percent=50)
    expect_discovery(stub, throughput(100, 100, 27, tomorrow - timedelta(hours=1)))
    cycle(make_config(tmp_path, sns), clients, state, tomorrow)
    stub.assert_no_pending_responses()
    assert len(budget_messages()) == 2


def test_a_budget_message_is_not_sent_for_an_hourly_wait(
    aws: tuple[Clients, Stubber], tmp_path: Path
) -> None:
    clients, stub = aws
    clients.sns.create_topic(Name="budget")
    config = make_config(tmp_path, f"sns-topic-arn: {TOPIC}\n"
                                   "sns-message-types: decrease-budget-exhausted")
    put_load(clients, NOON, read_percent=10, write_percent=50)
    expect_discovery(stub, throughput(100, 100, 5, NOON - timedelta(minutes=30)))
    cycle(config, clients, State(), NOON)
    stub.assert_no_pending_responses()
    assert budget_messages() == []


def test_after_a_limit_exceeded_the_decrease_waits_an_hour_instead_of_failing_every_cycle(
    aws: tuple[Clients, Stubber], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clients, stub = aws
    config = make_config(tmp_path)
    state = State()
    put_load(clients, NOON, read_percent=10, write_percent=50)
    expect_discovery(stub, throughput(100, 100))
    expect_limit_exceeded(stub, 50, 100)
    cycle(config, clients, state, NOON)
    later = NOON + timedelta(minutes=5)
    put_load(clients, later, read_percent=10, write_percent=50)
    expect_discovery(stub, throughput(100, 100))  # DynamoDB reports nothing (like moto)
    cycle(config, clients, state, later)  # nothing queued: no second doomed UpdateTable
    stub.assert_no_pending_responses()
    assert lines(caplog, "decrease deferred: 4/27 used today, next possible at 13:00 UTC")
