"""DescribeTable parsing and UpdateTable requests, through botocore's Stubber."""

from __future__ import annotations

from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import Stubber

from dynamic_dynamodb.aws import dynamodb
from tests.conftest import TEST_BOTO_CONFIG


@pytest.fixture
def client():
    return boto3.client("dynamodb", region_name="us-east-1", config=TEST_BOTO_CONFIG)


def test_describe_reads_capacity_gsis_billing_and_decrease_fields(client) -> None:
    when = datetime(2026, 1, 1, 3, 0, tzinfo=timezone.utc)
    with Stubber(client) as stub:
        stub.add_response("describe_table", {"Table": {
            "TableName": "orders", "TableStatus": "ACTIVE",
            "ProvisionedThroughput": {"ReadCapacityUnits": 10, "WriteCapacityUnits": 5,
                                      "NumberOfDecreasesToday": 3,
                                      "LastDecreaseDateTime": when},
            "GlobalSecondaryIndexes": [{"IndexName": "by_user", "IndexStatus": "UPDATING",
                                        "ProvisionedThroughput": {"ReadCapacityUnits": 7,
                                                                  "WriteCapacityUnits": 2}}],
        }}, {"TableName": "orders"})
        description = dynamodb.describe_table(client, "orders")
    assert description.capacity == dynamodb.Capacity(10, 5, 3, when, None)
    assert not description.on_demand
    assert description.gsis == (dynamodb.IndexDescription(
        "by_user", "UPDATING", dynamodb.Capacity(7, 2)),)


def test_on_demand_tables_are_recognised(client) -> None:
    with Stubber(client) as stub:
        stub.add_response("describe_table", {"Table": {
            "TableName": "payg", "TableStatus": "ACTIVE",
            "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        }}, {"TableName": "payg"})
        assert dynamodb.describe_table(client, "payg").on_demand


def test_list_tables_follows_pagination(client) -> None:
    with Stubber(client) as stub:
        stub.add_response("list_tables", {"TableNames": ["aaa", "bbb"],
                                          "LastEvaluatedTableName": "bbb"}, {})
        stub.add_response("list_tables", {"TableNames": ["ccc"]},
                          {"ExclusiveStartTableName": "bbb"})
        assert dynamodb.list_tables(client) == ["aaa", "bbb", "ccc"]


def test_updates_send_integers_for_tables_and_gsis(client) -> None:
    with Stubber(client) as stub:
        stub.add_response("update_table", {}, {
            "TableName": "orders",
            "ProvisionedThroughput": {"ReadCapacityUnits": 15, "WriteCapacityUnits": 5}})
        stub.add_response("update_table", {}, {
            "TableName": "orders",
            "GlobalSecondaryIndexUpdates": [{"Update": {
                "IndexName": "by_user",
                "ProvisionedThroughput": {"ReadCapacityUnits": 3, "WriteCapacityUnits": 4}}}]})
        dynamodb.update_capacity(client, "orders", None, 15.0, 5)  # type: ignore[arg-type]
        dynamodb.update_capacity(client, "orders", "by_user", 3, 4)
