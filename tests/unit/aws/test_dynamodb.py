"""DescribeTable parsing and UpdateTable requests, through botocore's Stubber."""

from __future__ import annotations

from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import Stubber

from dynamic_dynamodb.aws import dynamodb
from dynamic_dynamodb.aws.model import CapacityChange
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


def test_one_request_carries_the_table_and_its_gsis_as_integers(client) -> None:
    tables = dynamodb.DynamoDBTables(client)
    with Stubber(client) as stub:
        stub.add_response("update_table", {}, {
            "TableName": "orders",
            "ProvisionedThroughput": {"ReadCapacityUnits": 15, "WriteCapacityUnits": 5},
            "GlobalSecondaryIndexUpdates": [
                {"Update": {"IndexName": "by_user",
                            "ProvisionedThroughput": {"ReadCapacityUnits": 3,
                                                      "WriteCapacityUnits": 4}}},
                {"Update": {"IndexName": "by_date",
                            "ProvisionedThroughput": {"ReadCapacityUnits": 7,
                                                      "WriteCapacityUnits": 8}}}]})
        stub.add_response("update_table", {}, {
            "TableName": "orders",
            "GlobalSecondaryIndexUpdates": [{"Update": {
                "IndexName": "by_user",
                "ProvisionedThroughput": {"ReadCapacityUnits": 3, "WriteCapacityUnits": 4}}}]})
        tables.update_table("orders", [CapacityChange(None, 15.0, 5),  # type: ignore[arg-type]
                                       CapacityChange("by_user", 3, 4),
                                       CapacityChange("by_date", 7, 8)])
        tables.update_table("orders", [CapacityChange("by_user", 3, 4)])
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(("message", "cause", "next_decrease"), [
    ("Subscriber limit exceeded: Provisioned throughput decreases are limited within a given UTC "
     "day. After the first 4 decreases, each subsequent decrease in the same UTC day can be "
     "performed at most once every 3600 seconds. Number of decreases today: 4. Last decrease at "
     "Friday, October 9, 2026 at 1:21:34 AM Coordinated Universal Time. Next decrease can be made "
     "at Friday, October 9, 2026 at 2:21:34 AM Coordinated Universal Time",
     dynamodb.LimitCause.DECREASE_QUOTA, datetime(2026, 10, 9, 2, 21, 34, tzinfo=timezone.utc)),
    ("Subscriber limit exceeded: Provisioned throughput decreases are limited within a given UTC "
     "day. ... Number of decreases today: 27. Last decrease at Wednesday, July 25, 2018 8:48:14 PM "
     "UTC. Next decrease can be made at Thursday, July 26, 2018 12:00:00 AM UTC",
     dynamodb.LimitCause.DECREASE_QUOTA, datetime(2018, 7, 26, 0, 0, tzinfo=timezone.utc)),
    ("Subscriber limit exceeded: Provisioned throughput decreases are limited within a given UTC "
     "day. Next decrease can be made at some time we cannot read",
     dynamodb.LimitCause.DECREASE_QUOTA, None),
    ("Subscriber limit exceeded: Only 10 tables can be created, updated, or deleted "
     "simultaneously", dynamodb.LimitCause.CONCURRENT_OPERATIONS, None),
    ("The requested ReadCapacityUnits, 50000, is above the per table maximum for the account in "
     "us-east-1. Per table maximum: 40000.", dynamodb.LimitCause.CAPACITY_CAP, None),
    ("This request would have caused the ReadCapacityUnits limit to be exceeded for the account "
     "in us-east-1. Current ReadCapacityUnits reserved by the account: 79000. Limit: 80000.",
     dynamodb.LimitCause.CAPACITY_CAP, None),
    ("Something new", dynamodb.LimitCause.UNKNOWN, None),
])
def test_limit_exceeded_is_read_by_its_wording(message: str, cause: dynamodb.LimitCause,
                                               next_decrease: datetime | None) -> None:
    limit = dynamodb.classify_limit_exceeded(message)
    assert (limit.cause, limit.next_decrease) == (cause, next_decrease)


def test_replicas_are_read_from_describe_table(client) -> None:
    with Stubber(client) as stub:
        stub.add_response("describe_table", {"Table": {
            "TableName": "orders", "TableStatus": "ACTIVE",
            "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
            "Replicas": [{"RegionName": "eu-west-1"}, {"RegionName": "us-east-1"}]}})
        described = dynamodb.describe_table(client, "orders")
    assert described.replicas == ("eu-west-1", "us-east-1")
