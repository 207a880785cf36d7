"""DynamoDB adapter: ListTables, DescribeTable and UpdateTable, returning plain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Capacity:
    """Provisioned capacity of a table or GSI, with DynamoDB's decrease bookkeeping if present."""

    reads: int
    writes: int
    decreases_today: int | None = None
    last_decrease: datetime | None = None
    last_increase: datetime | None = None


@dataclass(frozen=True)
class IndexDescription:
    name: str
    status: str
    capacity: Capacity


@dataclass(frozen=True)
class TableDescription:
    name: str
    status: str
    billing_mode: str
    capacity: Capacity
    gsis: tuple[IndexDescription, ...] = ()

    @property
    def on_demand(self) -> bool:
        return self.billing_mode == "PAY_PER_REQUEST"


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
