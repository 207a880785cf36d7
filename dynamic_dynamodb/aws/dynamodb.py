"""DynamoDB adapter: ListTables, DescribeTable and UpdateTable, returning plain values."""

from __future__ import annotations

from typing import Any

from dynamic_dynamodb.aws.model import Capacity, IndexDescription, TableDescription


def list_tables(client: Any) -> list[str]:
    """Every table name, following pagination to the end."""
    names: list[str] = []
    for page in client.get_paginator("list_tables").paginate():
        names.extend(page.get("TableNames", []))
    return names


def _capacity(throughput: dict[str, Any] | None) -> Capacity:
    throughput = throughput or {}
    return Capacity(
        reads=int(throughput.get("ReadCapacityUnits") or 0),
        writes=int(throughput.get("WriteCapacityUnits") or 0),
        decreases_today=throughput.get("NumberOfDecreasesToday"),
        last_decrease=throughput.get("LastDecreaseDateTime"),
        last_increase=throughput.get("LastIncreaseDateTime"),
    )


def describe_table(client: Any, name: str) -> TableDescription:
    table = client.describe_table(TableName=name)["Table"]
    billing = (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    gsis = tuple(
        IndexDescription(
            name=index["IndexName"],
            status=index.get("IndexStatus", "ACTIVE"),
            capacity=_capacity(index.get("ProvisionedThroughput")),
        )
        for index in table.get("GlobalSecondaryIndexes", [])
    )
    return TableDescription(
        name=name,
        status=table.get("TableStatus", "ACTIVE"),
        billing_mode=billing,
        capacity=_capacity(table.get("ProvisionedThroughput")),
        gsis=gsis,
    )


def update_capacity(client: Any, table: str, gsi: str | None, reads: int, writes: int) -> None:
    """Set a table's or a GSI's provisioned capacity. Both values are always integers."""
    throughput = {"ReadCapacityUnits": int(reads), "WriteCapacityUnits": int(writes)}
    if gsi is None:
        client.update_table(TableName=table, ProvisionedThroughput=throughput)
    else:
        client.update_table(
            TableName=table,
            GlobalSecondaryIndexUpdates=[
                {"Update": {"IndexName": gsi, "ProvisionedThroughput": throughput}}
            ],
        )


class DynamoDBTables:
    """The TablesPort over a boto3 DynamoDB client."""

    def __init__(self, client: Any):
        self.client = client

    def list_tables(self) -> list[str]:
        return list_tables(self.client)

    def describe_table(self, name: str) -> TableDescription:
        return describe_table(self.client, name)

    def update_capacity(self, table: str, gsi: str | None, reads: int, writes: int) -> None:
        update_capacity(self.client, table, gsi, reads, writes)
