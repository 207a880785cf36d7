"""Sample tables and synthetic CloudWatch traffic for the demo and the end-to-end tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any


@dataclass(frozen=True)
class Traffic:
    """Per-minute CloudWatch Sums to put on a table or GSI."""

    table: str
    gsi: str | None = None
    consumed_read_percent: float = 0.0
    consumed_write_percent: float = 0.0
    read_throttles: float = 0.0
    write_throttles: float = 0.0


def create_table(client: Any, name: str, reads: int, writes: int,
                 gsis: dict[str, tuple[int, int]] | None = None, on_demand: bool = False) -> None:
    attributes = [{"AttributeName": "pk", "AttributeType": "S"}]
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": attributes,
    }
    if on_demand:
        kwargs["BillingMode"] = "PAY_PER_REQUEST"
    else:
        kwargs["ProvisionedThroughput"] = {"ReadCapacityUnits": reads, "WriteCapacityUnits": writes}
    if gsis:
        attributes.append({"AttributeName": "gk", "AttributeType": "S"})
        kwargs["GlobalSecondaryIndexes"] = [
            {
                "IndexName": gsi,
                "KeySchema": [{"AttributeName": "gk", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
                "ProvisionedThroughput": {"ReadCapacityUnits": r, "WriteCapacityUnits": w},
            }
            for gsi, (r, w) in gsis.items()
        ]
    client.create_table(**kwargs)


def put_traffic(cloudwatch: Any, dynamodb: Any, traffic: Traffic,
                now: datetime | None = None, minutes: range = range(5, 26)) -> None:
    """Put constant per-minute Sums for minutes now-25 … now-5, so any lookback window sees them.

    Consumed percentages are relative to the capacity provisioned when this is called.
    """
    now = now or datetime.now(timezone.utc)
    table = dynamodb.describe_table(TableName=traffic.table)["Table"]
    throughput = table["ProvisionedThroughput"]
    if traffic.gsi is not None:
        throughput = next(index["ProvisionedThroughput"] for index in
                          table.get("GlobalSecondaryIndexes", [])
                          if index["IndexName"] == traffic.gsi)
    dimensions = [{"Name": "TableName", "Value": traffic.table}]
    if traffic.gsi is not None:
        dimensions.append({"Name": "GlobalSecondaryIndexName", "Value": traffic.gsi})
    per_minute = {
        "ConsumedReadCapacityUnits":
            traffic.consumed_read_percent / 100 * throughput["ReadCapacityUnits"] * 60,
        "ConsumedWriteCapacityUnits":
            traffic.consumed_write_percent / 100 * throughput["WriteCapacityUnits"] * 60,
        "ReadThrottleEvents": traffic.read_throttles,
        "WriteThrottleEvents": traffic.write_throttles,
    }
    minute = now.replace(second=0, microsecond=0)
    data = [
        {"MetricName": name, "Dimensions": dimensions, "Value": value,
         "Timestamp": minute - timedelta(minutes=back)}
        for name, value in per_minute.items() if value
        for back in minutes
    ]
    for start in range(0, len(data), 500):
        cloudwatch.put_metric_data(Namespace="AWS/DynamoDB", MetricData=data[start:start + 500])
