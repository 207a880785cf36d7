"""AWS error paths that moto cannot produce, fed through botocore's Stubber (D12, D13, D14)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from demo.seed import Traffic, create_table, put_traffic
from dynamic_dynamodb.aws.clients import Clients
from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.engine import Engine
from dynamic_dynamodb.state import State
from tests.conftest import make_test_clients

CONFIG = """\
[table: .*]
min-provisioned-reads: 5
max-provisioned-reads: 1000
min-provisioned-writes: 5
max-provisioned-writes: 1000
[gsi: .* table: .*]
"""


def table(name: str, reads: int, writes: int, status: str = "ACTIVE",
          gsis: tuple[tuple[str, int, int, str], ...] = ()) -> dict[str, Any]:
    description: dict[str, Any] = {
        "TableName": name,
        "TableStatus": status,
        "ProvisionedThroughput": {"ReadCapacityUnits": reads, "WriteCapacityUnits": writes},
    }
    if gsis:
        description["GlobalSecondaryIndexes"] = [
            {"IndexName": gsi, "IndexStatus": gsi_status,
             "ProvisionedThroughput": {"ReadCapacityUnits": r, "WriteCapacityUnits": w}}
            for gsi, r, w, gsi_status in gsis
        ]
    return {"Table": description}


def throughput(reads: int, writes: int) -> dict[str, int]:
    return {"ReadCapacityUnits": reads, "WriteCapacityUnits": writes}


@pytest.fixture
def world(moto_clients: Clients, tmp_path: Path) -> Iterator[tuple[Clients, Stubber, Engine]]:
    """CloudWatch traffic in moto; the engine's DynamoDB client answers from a Stubber."""
    seeding = make_test_clients()
    traffic = {
        "orders": (95, 10),  # reads up to 150, writes down to 50
        "users": (95, 50),  # reads up to 150
        "idle": (10, 50),  # reads down to 50
    }
    for name, (reads, writes) in traffic.items():
        create_table(seeding.dynamodb, name, 100, 100, gsis={"by_x": (200, 200)})
        put_traffic(seeding.cloudwatch, seeding.dynamodb, Traffic(name, None, reads, writes))
    # The GSI of "users" reads 10 % of 200: its reads go down to 100.
    put_traffic(seeding.cloudwatch, seeding.dynamodb, Traffic("users", "by_x", 10, 50))
    path = tmp_path / "dd.conf"
    path.write_text(CONFIG)
    stubber = Stubber(moto_clients.dynamodb)
    engine = Engine(load_config(str(path)), moto_clients.ports(), State())
    with stubber:
        yield moto_clients, stubber, engine
    stubber.assert_no_pending_responses()


def expect_update(stubber: Stubber, name: str, reads: int, writes: int,
                  error: str | None = None) -> None:
    params = {"TableName": name, "ProvisionedThroughput": throughput(reads, writes)}
    if error is None:
        stubber.add_response("update_table", {}, params)
    else:
        stubber.add_client_error("update_table", service_error_code=error, service_message=error,
                                 http_status_code=400, expected_params=params)


def test_limit_exceeded_retries_once_with_increases_only(
    world: tuple[Clients, Stubber, Engine], caplog: pytest.LogCaptureFixture
) -> None:
    _, stubber, engine = world
    stubber.add_response("list_tables", {"TableNames": ["orders"]})
    stubber.add_response("describe_table", table("orders", 100, 100), {"TableName": "orders"})
    expect_update(stubber, "orders", 150, 50, error="LimitExceededException")
    expect_update(stubber, "orders", 150, 100)

    with caplog.at_level(logging.WARNING, logger="dynamic_dynamodb"):
        report = engine.run_cycle()

    assert (report.updates, report.errors) == (1, 0)
    assert any("budget model missed" in r.getMessage() and r.getMessage().startswith("orders - ")
               for r in caplog.records)
    # D5: the refused write decrease keeps its count; the read increase reset the read counter.
    assert engine.state.counters("orders").reads == 0
    assert engine.state.counters("orders").writes == 1


def test_limit_exceeded_on_a_decrease_only_is_not_retried(
    world: tuple[Clients, Stubber, Engine],
) -> None:
    _, stubber, engine = world
    stubber.add_response("list_tables", {"TableNames": ["idle"]})
    stubber.add_response("describe_table", table("idle", 100, 100), {"TableName": "idle"})
    expect_update(stubber, "idle", 50, 100, error="LimitExceededException")

    report = engine.run_cycle()

    assert (report.updates, report.errors) == (0, 0)
    assert engine.state.counters("idle").reads == 1  # refused: the count is kept (D5)


def test_resource_in_use_skips_until_next_cycle(
    world: tuple[Clients, Stubber, Engine],
) -> None:
    _, stubber, engine = world
    stubber.add_response("list_tables", {"TableNames": ["users"]})
    stubber.add_response("describe_table", table("users", 100, 100), {"TableName": "users"})
    expect_update(stubber, "users", 150, 100, error="ResourceInUseException")
    stubber.add_response("list_tables", {"TableNames": ["users"]})
    stubber.add_response("describe_table", table("users", 100, 100), {"TableName": "users"})
    expect_update(stubber, "users", 150, 100)

    first = engine.run_cycle()
    second = engine.run_cycle()

    assert (first.updates, first.skipped, first.errors) == (0, 1, 0)
    assert (second.updates, second.errors) == (1, 0)


@pytest.mark.parametrize(
    "code", ["ValidationException", "AccessDeniedException", "ResourceNotFoundException",
             "ThrottlingException", "InternalServerError"],
)
def test_update_errors_are_logged_with_name_and_code_and_others_go_on(
    world: tuple[Clients, Stubber, Engine], caplog: pytest.LogCaptureFixture, code: str
) -> None:
    _, stubber, engine = world
    stubber.add_response("list_tables", {"TableNames": ["orders", "users"]})
    stubber.add_response("describe_table", table("orders", 100, 100), {"TableName": "orders"})
    stubber.add_response("describe_table", table("users", 100, 100), {"TableName": "users"})
    expect_update(stubber, "orders", 150, 50, error=code)
    expect_update(stubber, "users", 150, 100)

    with caplog.at_level(logging.ERROR, logger="dynamic_dynamodb"):
        report = engine.run_cycle()

    assert (report.updates, report.errors) == (1, 1)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith(f"orders - UpdateTable failed: {code} ")


def test_table_deleted_mid_cycle_does_not_block_the_others(
    world: tuple[Clients, Stubber, Engine], caplog: pytest.LogCaptureFixture
) -> None:
    _, stubber, engine = world
    stubber.add_response("list_tables", {"TableNames": ["orders", "users"]})
    stubber.add_client_error("describe_table", service_error_code="ResourceNotFoundException",
                             http_status_code=400, expected_params={"TableName": "orders"})
    stubber.add_response("describe_table", table("users", 100, 100), {"TableName": "users"})
    expect_update(stubber, "users", 150, 100)

    with caplog.at_level(logging.ERROR, logger="dynamic_dynamodb"):
        report = engine.run_cycle()

    assert (report.tables, report.updates, report.errors) == (1, 1, 1)
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "orders - DescribeTable failed: ResourceNotFoundException"]


def test_a_table_is_left_alone_while_it_or_any_index_is_not_active(
    world: tuple[Clients, Stubber, Engine], caplog: pytest.LogCaptureFixture
) -> None:
    # D25: DynamoDB refuses any UpdateTable while the table or an index is busy, and one
    # request carries the table and all its GSIs: nothing is sent for such a table.
    _, stubber, engine = world
    stubber.add_response("list_tables", {"TableNames": ["idle", "orders", "users"]})
    stubber.add_response("describe_table", table("idle", 100, 100, status="UPDATING"),
                         {"TableName": "idle"})
    stubber.add_response("describe_table",
                         table("orders", 100, 100, gsis=(("by_x", 5, 5, "UPDATING"),)),
                         {"TableName": "orders"})
    stubber.add_response("describe_table",
                         table("users", 100, 100, gsis=(("by_x", 200, 200, "ACTIVE"),)),
                         {"TableName": "users"})
    stubber.add_response("update_table", {}, {
        "TableName": "users", "ProvisionedThroughput": throughput(150, 100),
        "GlobalSecondaryIndexUpdates": [
            {"Update": {"IndexName": "by_x", "ProvisionedThroughput": throughput(100, 200)}}]})

    with caplog.at_level(logging.INFO, logger="dynamic_dynamodb"):
        report = engine.run_cycle()

    messages = [r.getMessage() for r in caplog.records]
    assert ("idle - Table is UPDATING, not ACTIVE; skipping it and its GSIs this cycle, trying "
            "again next cycle") in messages
    assert ("orders - Table is busy (GSI by_x), not ACTIVE; skipping it and its GSIs this "
            "cycle, trying again next cycle") in messages
    assert (report.tables, report.gsis, report.skipped, report.updates) == (1, 1, 2, 2)


def test_a_table_and_its_gsi_change_in_one_request(
    world: tuple[Clients, Stubber, Engine],
) -> None:
    _, stubber, engine = world
    stubber.add_response("list_tables", {"TableNames": ["users"]})
    stubber.add_response("describe_table",
                         table("users", 100, 100, gsis=(("by_x", 200, 200, "ACTIVE"),)),
                         {"TableName": "users"})
    stubber.add_response("update_table", {}, {
        "TableName": "users",
        "ProvisionedThroughput": throughput(150, 100),
        "GlobalSecondaryIndexUpdates": [
            {"Update": {"IndexName": "by_x", "ProvisionedThroughput": throughput(100, 200)}}],
    })

    report = engine.run_cycle()

    assert (report.tables, report.gsis, report.updates, report.errors) == (1, 1, 2, 0)


def test_network_errors_and_metric_failures_never_escape(
    moto_clients: Clients, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    create_table(moto_clients.dynamodb, "orders", 100, 100)
    path = tmp_path / "dd.conf"
    path.write_text(CONFIG)
    engine = Engine(load_config(str(path)), moto_clients.ports(), State())
    stubber = Stubber(moto_clients.cloudwatch)
    stubber.add_client_error("get_metric_data", service_error_code="Throttling",
                             http_status_code=400)
    with stubber, caplog.at_level(logging.ERROR, logger="dynamic_dynamodb"):
        report = engine.run_cycle()
    assert report.errors == 1
    assert caplog.records[0].getMessage().startswith("GetMetricData failed: Throttling")

    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")

    moto_clients.dynamodb.update_table = unreachable  # type: ignore[method-assign]
    put_traffic(moto_clients.cloudwatch, moto_clients.dynamodb, Traffic("orders", None, 95, 50))
    report = engine.run_cycle()
    assert (report.updates, report.errors) == (0, 1)
