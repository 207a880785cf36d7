"""DynamoDB adapter: ListTables, DescribeTable and UpdateTable, returning plain values."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from dynamic_dynamodb.aws.model import (
    Capacity,
    CapacityChange,
    CapacityLimits,
    IndexDescription,
    NotAnAwsAnswerError,
    TableDescription,
)


def list_tables(client: Any) -> list[str]:
    """Every table name, following pagination to the end."""
    names: list[str] = []
    for page in client.get_paginator("list_tables").paginate():
        found = page.get("TableNames")
        if not isinstance(found, list):
            raise NotAnAwsAnswerError(operation="ListTables", service="DynamoDB",
                                 detail="no TableNames in it")
        names.extend(found)
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
    table = client.describe_table(TableName=name).get("Table")
    if not isinstance(table, dict):
        raise NotAnAwsAnswerError(operation="DescribeTable", service="DynamoDB",
                             detail="no Table in it")
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
        replicas=tuple(str(replica.get("RegionName", "?"))
                       for replica in table.get("Replicas") or ()),
    )


def update_request(table: str, changes: Sequence[CapacityChange]) -> dict[str, Any]:
    """UpdateTable's parameters for a table's and its GSIs' new capacities, in one request.

    AWS: "In a single call, you can increase the provisioned throughput for a table, for any
    global secondary indexes on that table, or for any combination of these" (D25).
    """
    request: dict[str, Any] = {"TableName": table}
    updates = []
    for change in changes:
        throughput = {"ReadCapacityUnits": int(change.reads),
                      "WriteCapacityUnits": int(change.writes)}
        if change.gsi is None:
            request["ProvisionedThroughput"] = throughput
        else:
            updates.append({"Update": {"IndexName": change.gsi,
                                       "ProvisionedThroughput": throughput}})
    if updates:
        request["GlobalSecondaryIndexUpdates"] = updates
    return request


def describe_limits(client: Any) -> CapacityLimits:
    answer = client.describe_limits()
    return CapacityLimits(
        table_max_reads=int(answer["TableMaxReadCapacityUnits"]),
        table_max_writes=int(answer["TableMaxWriteCapacityUnits"]),
        account_max_reads=int(answer["AccountMaxReadCapacityUnits"]),
        account_max_writes=int(answer["AccountMaxWriteCapacityUnits"]),
    )


class LimitCause(Enum):
    """What a LimitExceededException means: one code, three causes (D26)."""

    DECREASE_QUOTA = "decrease-quota"  # "Provisioned throughput decreases are limited ..."
    CONCURRENT_OPERATIONS = "concurrent-operations"  # "... simultaneously"
    CAPACITY_CAP = "capacity-cap"  # above the per-table/index or account maximum
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class LimitExceeded:
    cause: LimitCause
    next_decrease: datetime | None = None  # from "Next decrease can be made at ..."


_NEXT_DECREASE = re.compile(r"Next decrease can be made at (?P<when>[^.]+?\d{4}[^.]*?(?:AM|PM)"
                            r"[^.]*?)(?:\.|$)")
_WEEKDAY = re.compile(r"^\s*[A-Za-z]+day,\s*")


def parse_aws_time(text: str) -> datetime | None:
    """DynamoDB's wording of a moment, e.g. "Friday, October 9, 2026 at 1:21:34 AM
    Coordinated Universal Time" or "Wednesday, July 25, 2018 8:48:14 PM UTC"; None if not."""
    cleaned = _WEEKDAY.sub("", text.strip()).replace(" at ", " ")
    cleaned = re.sub(r"\s*(Coordinated Universal Time|UTC|GMT)\s*$", "", cleaned)
    try:
        moment = datetime.strptime(cleaned.strip(), "%B %d, %Y %I:%M:%S %p")
    except ValueError:
        return None
    return moment.replace(tzinfo=timezone.utc)


def classify_limit_exceeded(message: str) -> LimitExceeded:
    """Read a LimitExceededException by its wording (reference/aws-behaviour.md)."""
    lowered = message.lower()
    if "decreases are limited" in lowered or "next decrease" in lowered:
        match = _NEXT_DECREASE.search(message)
        return LimitExceeded(LimitCause.DECREASE_QUOTA,
                             parse_aws_time(match.group("when")) if match else None)
    if "simultaneous" in lowered or "concurrent" in lowered:
        return LimitExceeded(LimitCause.CONCURRENT_OPERATIONS)
    if "maximum" in lowered or "limit to be exceeded" in lowered:
        return LimitExceeded(LimitCause.CAPACITY_CAP)
    return LimitExceeded(LimitCause.UNKNOWN)


class DynamoDBTables:
    """The TablesPort over a boto3 DynamoDB client."""

    def __init__(self, client: Any, update_client: Any = None):
        self.client = client
        # UpdateTable's own, tighter bounded client (aws/clients.py); else the same one.
        self.update_client = update_client if update_client is not None else client

    def list_tables(self) -> list[str]:
        return list_tables(self.client)

    def describe_table(self, name: str) -> TableDescription:
        return describe_table(self.client, name)

    def update_table(self, table: str, changes: Sequence[CapacityChange]) -> None:
        self.update_client.update_table(**update_request(table, changes))

    def describe_limits(self) -> CapacityLimits:
        return describe_limits(self.client)
