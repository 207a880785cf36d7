"""boto3-like DynamoDB, CloudWatch and SNS clients backed by the capacity model.

They answer exactly the calls the engine's adapters make (ListTables through a paginator,
DescribeTable, UpdateTable, GetMetricData, Publish), so ``Engine.run_cycle`` runs unchanged
against simulated time. Errors are real botocore ClientErrors with DynamoDB's codes, so the
engine's D14 retry and ResourceInUse handling are exercised exactly as live.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from dynamic_dynamodb.aws.clients import Clients
from dynamic_dynamodb.simulate.model import CapacityModel, ModelError, ResourceModel

_METRICS = {
    "ConsumedReadCapacityUnits": ("consumed", "reads"),
    "ConsumedWriteCapacityUnits": ("consumed", "writes"),
    "ReadThrottleEvents": ("throttled", "reads"),
    "WriteThrottleEvents": ("throttled", "writes"),
}


class _Paginator:
    def __init__(self, names: list[str]):
        self.names = names

    def paginate(self, **_: Any) -> list[dict[str, Any]]:
        return [{"TableNames": list(self.names)}]


class FakeDynamoDB:
    def __init__(self, model: CapacityModel, calls: Counter[str]):
        self.model = model
        self.calls = calls
        self.names = sorted(model.tables)

    def get_paginator(self, operation: str) -> _Paginator:
        assert operation == "list_tables", operation
        self.calls["ListTables"] += 1
        return _Paginator(self.names)

    def _throughput(self, resource: ResourceModel) -> dict[str, Any]:
        throughput: dict[str, Any] = {
            "ReadCapacityUnits": resource.provisioned["reads"],
            "WriteCapacityUnits": resource.provisioned["writes"],
            "NumberOfDecreasesToday": self.model.decreases_today(resource),
        }
        if resource.last_decrease is not None:
            throughput["LastDecreaseDateTime"] = resource.last_decrease
        if resource.last_increase is not None:
            throughput["LastIncreaseDateTime"] = resource.last_increase
        return throughput

    def describe_table(self, TableName: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.calls["DescribeTable"] += 1
        members = self.model.tables.get(TableName)
        if not members:
            raise _error("ResourceNotFoundException", f"Requested resource not found: {TableName}",
                         "DescribeTable")
        table = next((m for m in members if m.gsi is None), None)
        updating = self.model.table_updating(TableName)
        description: dict[str, Any] = {
            "TableName": TableName,
            "TableStatus": "UPDATING" if updating else "ACTIVE",
            "ProvisionedThroughput": self._throughput(table) if table else {},
        }
        gsis = [m for m in members if m.gsi is not None]
        if gsis:
            description["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": gsi.gsi,
                    "IndexStatus": "UPDATING" if gsi.pending is not None else "ACTIVE",
                    "ProvisionedThroughput": self._throughput(gsi),
                }
                for gsi in gsis
            ]
        return {"Table": description}

    def update_table(self, TableName: str, ProvisionedThroughput: dict[str, int] | None = None,  # noqa: N803
                     GlobalSecondaryIndexUpdates: list[dict[str, Any]] | None = None,  # noqa: N803
                     **_: Any) -> dict[str, Any]:
        self.calls["UpdateTable"] += 1
        if GlobalSecondaryIndexUpdates:
            update = GlobalSecondaryIndexUpdates[0]["Update"]
            key = f"{TableName}:{update['IndexName']}"
            throughput = update["ProvisionedThroughput"]
        else:
            key = TableName
            throughput = ProvisionedThroughput or {}
        try:
            self.model.update(key, int(throughput["ReadCapacityUnits"]),
                              int(throughput["WriteCapacityUnits"]))
        except ModelError as exc:
            raise _error(exc.code, exc.message, "UpdateTable") from None
        return {"TableDescription": {"TableName": TableName, "TableStatus": "UPDATING"}}


class FakeCloudWatch:
    """GetMetricData over the model's per-minute records, as published by now.

    Like DynamoDB's real metrics, a minute with nothing consumed (or nothing throttled) has no
    datapoint at all.
    """

    def __init__(self, model: CapacityModel, calls: Counter[str]):
        self.model = model
        self.calls = calls

    def get_metric_data(self, MetricDataQueries: list[dict[str, Any]], StartTime: datetime,  # noqa: N803
                        EndTime: datetime, **_: Any) -> dict[str, Any]:  # noqa: N803
        self.calls["GetMetricData"] += 1
        model = self.model
        first = max(0, _minute_index(model, StartTime, ceil=True))
        last = min(model.published_minutes(), _minute_index(model, EndTime, ceil=True))
        results = []
        for query in MetricDataQueries:
            metric = query["MetricStat"]["Metric"]
            names = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
            key = names["TableName"]
            if "GlobalSecondaryIndexName" in names:
                key = f"{key}:{names['GlobalSecondaryIndexName']}"
            timestamps: list[datetime] = []
            values: list[float] = []
            resource = model.resources.get(key)
            if resource is not None and first < last:
                kind, dim = _METRICS[metric["MetricName"]]
                series = resource.consumed[dim] if kind == "consumed" else resource.throttled[dim]
                for minute in range(first, last):
                    value = series[minute]
                    if value > 0:
                        timestamps.append(model.minute_start(minute))
                        values.append(value)
            results.append({"Id": query["Id"], "Label": metric["MetricName"],
                            "Timestamps": timestamps, "Values": values, "StatusCode": "Complete"})
        return {"MetricDataResults": results}


class FakeSNS:
    def __init__(self, calls: Counter[str]):
        self.calls = calls
        self.published: list[dict[str, Any]] = []

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        self.calls["Publish"] += 1
        self.published.append(kwargs)
        return {"MessageId": f"sim-{len(self.published)}"}


def _minute_index(model: CapacityModel, moment: datetime, *, ceil: bool) -> int:
    seconds = (moment - model.start).total_seconds()
    whole = int(seconds // 60)
    return whole + 1 if ceil and seconds > whole * 60 else whole


def _error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def fake_clients(model: CapacityModel) -> Clients:
    calls: Counter[str] = Counter()
    clients = Clients(dynamodb=FakeDynamoDB(model, calls), cloudwatch=FakeCloudWatch(model, calls),
                      sns=FakeSNS(calls))
    clients.calls = calls
    return clients
