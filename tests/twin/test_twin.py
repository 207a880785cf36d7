"""Self-tests of the twin: each AWS behaviour it claims, driven through plain boto3.

Clients make one attempt (``twin.client(..., attempts=1)``) except where botocore's retries are
the point. Time moves with the twin's clock, never with sleep, except for the fault tests
(hang/latency), which measure real time on purpose.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from tests.twin import Twin
from tests.twin.dynamodb import aws_date

UTC = timezone.utc
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # the frozen_twin's start (fixtures.FROZEN_START)
LIMITS_TAIL = (
    "Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits."
)


def make_table(
    ddb: Any,
    name: str = "t1",
    read: int = 10,
    write: int = 10,
    gsi: tuple[int, int] | None = (10, 10),
    billing: str = "PROVISIONED",
) -> None:
    attributes = [{"AttributeName": "pk", "AttributeType": "S"}]
    kwargs: dict[str, Any] = {"TableName": name, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}
    if billing == "PAY_PER_REQUEST":
        kwargs["BillingMode"] = billing
    else:
        kwargs["ProvisionedThroughput"] = {"ReadCapacityUnits": read, "WriteCapacityUnits": write}
    if gsi is not None:
        attributes.append({"AttributeName": "g", "AttributeType": "S"})
        index: dict[str, Any] = {
            "IndexName": "gsi1",
            "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }
        if billing != "PAY_PER_REQUEST":
            index["ProvisionedThroughput"] = {"ReadCapacityUnits": gsi[0], "WriteCapacityUnits": gsi[1]}
        kwargs["GlobalSecondaryIndexes"] = [index]
    ddb.create_table(AttributeDefinitions=attributes, **kwargs)


def pt(read: int, write: int) -> dict[str, int]:
    return {"ReadCapacityUnits": read, "WriteCapacityUnits": write}


def gsi_update(read: int, write: int, name: str = "gsi1") -> list[dict[str, Any]]:
    return [{"Update": {"IndexName": name, "ProvisionedThroughput": pt(read, write)}}]


def describe(ddb: Any, table: str = "t1") -> dict[str, Any]:
    return ddb.describe_table(TableName=table)["Table"]


def gsi_of(description: dict[str, Any], name: str = "gsi1") -> dict[str, Any]:
    return next(index for index in description["GlobalSecondaryIndexes"] if index["IndexName"] == name)


def units(throughput: dict[str, Any]) -> tuple[int, int]:
    return throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"]


def refused(call: Any, **kwargs: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as excinfo:
        call(**kwargs)
    error = excinfo.value.response
    return error["Error"]["Code"], error["Error"]["Message"], error["ResponseMetadata"]["HTTPStatusCode"]


def quota_message(count: int, last: datetime, next_at: datetime) -> str:
    return (
        "Subscriber limit exceeded: Provisioned throughput decreases are limited within a given UTC day. "
        "After the first 4 decreases, each subsequent decrease in the same UTC day can be performed at most "
        f"once every 3600 seconds. Number of decreases today: {count}. Last decrease at {aws_date(last)}. "
        f"Next decrease can be made at {aws_date(next_at)}"
    )


def control(twin: Twin, name: str, **kwargs: Any) -> Any:
    request = urllib.request.Request(
        f"{twin.endpoint}/_twin/{name}",
        data=json.dumps(kwargs).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.loads(answer.read())["result"]


# -- pass-through and counting ------------------------------------------------------------------


def test_requests_pass_through_to_moto_and_every_operation_is_counted(twin: Twin) -> None:
    ddb, sns = twin.client("dynamodb"), twin.client("sns")
    make_table(ddb)
    assert describe(ddb)["TableStatus"] == "ACTIVE"
    assert ddb.list_tables()["TableNames"] == ["t1"]
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    sns.publish(TopicArn=topic, Subject="s", Message="m")

    assert twin.calls == {
        "CreateTable": 1,
        "DescribeTable": 1,
        "ListTables": 1,
        "CreateTopic": 1,
        "Publish": 1,
    }
    assert twin.count("Publish", service="sns") == 1
    assert twin.count("Publish", service="dynamodb") == 0
    assert [(r.service, r.operation, r.attempt, r.status) for r in twin.records[:2]] == [
        ("dynamodb", "CreateTable", 1, 200),
        ("dynamodb", "DescribeTable", 1, 200),
    ]
    twin.reset_counts()
    assert twin.calls == {}


def test_describe_table_reports_the_decrease_bookkeeping_moto_drops(frozen_twin: Twin) -> None:
    twin, ddb = frozen_twin, frozen_twin.client("dynamodb")
    twin.configure(update_seconds=2)
    make_table(ddb)
    # A fresh table: a counter of 0 and no Last*DateTime, on the table and on each GSI
    # (aws-behaviour.md:26-28; probe notes DDB-TABLE-184). moto has no counter on GSIs.
    fresh = describe(ddb)
    assert fresh["ProvisionedThroughput"] == {**pt(10, 10), "NumberOfDecreasesToday": 0}
    assert gsi_of(fresh)["ProvisionedThroughput"] == {**pt(10, 10), "NumberOfDecreasesToday": 0}

    ddb.update_table(TableName="t1", ProvisionedThroughput=pt(20, 10))
    twin.clock.advance(300)
    response = ddb.update_table(TableName="t1", ProvisionedThroughput=pt(5, 10))["TableDescription"]
    # The UpdateTable response echoes the OLD units and OLD counter with the NEW timestamp.
    assert response["TableStatus"] == "UPDATING"
    assert response["ProvisionedThroughput"] == {
        **pt(20, 10),
        "NumberOfDecreasesToday": 0,
        "LastIncreaseDateTime": T0,
        "LastDecreaseDateTime": T0 + timedelta(seconds=300),
    }
    twin.clock.advance(2)
    table = describe(ddb)
    assert table["TableStatus"] == "ACTIVE"
    assert table["ProvisionedThroughput"] == {
        **pt(5, 10),
        "NumberOfDecreasesToday": 1,
        "LastIncreaseDateTime": T0,
        "LastDecreaseDateTime": T0 + timedelta(seconds=300),
    }

    ddb.update_table(TableName="t1", GlobalSecondaryIndexUpdates=gsi_update(10, 4))
    twin.clock.advance(2)
    index = gsi_of(describe(ddb))
    assert index["ProvisionedThroughput"] == {
        **pt(10, 4),
        "NumberOfDecreasesToday": 1,
        "LastDecreaseDateTime": T0 + timedelta(seconds=302),
    }
    assert twin.ledger("t1")["indexes"]["gsi1"]["NumberOfDecreasesToday"] == 1


# -- UPDATING windows ---------------------------------------------------------------------------


def test_an_update_holds_the_table_updating_and_refuses_another_update(frozen_twin: Twin) -> None:
    twin, ddb = frozen_twin, frozen_twin.client("dynamodb")
    twin.configure(update_seconds=2, new_peak_seconds=60)
    make_table(ddb)

    response = ddb.update_table(TableName="t1", ProvisionedThroughput=pt(5, 5))["TableDescription"]
    assert response["TableStatus"] == "UPDATING"
    assert units(response["ProvisionedThroughput"]) == (10, 10)  # old units until ACTIVE
    during = describe(ddb)
    assert (during["TableStatus"], units(during["ProvisionedThroughput"])) == ("UPDATING", (10, 10))
    assert gsi_of(during)["IndexStatus"] == "ACTIVE"

    code, message, status = refused(ddb.update_table, TableName="t1", ProvisionedThroughput=pt(6, 6))
    assert (code, status) == ("ResourceInUseException", 400)
    assert message == "Attempt to change a resource which is still in use: Table is being updated: t1"

    twin.clock.advance(1.999)
    assert describe(ddb)["TableStatus"] == "UPDATING"
    twin.clock.advance(0.001)
    after = describe(ddb)
    assert (after["TableStatus"], units(after["ProvisionedThroughput"])) == ("ACTIVE", (5, 5))
    ddb.update_table(TableName="t1", ProvisionedThroughput=pt(6, 6))
    assert twin.count("UpdateTable") == 3


def test_raising_a_table_to_a_new_peak_takes_longer(frozen_twin: Twin) -> None:
    twin, ddb = frozen_twin, frozen_twin.client("dynamodb")
    twin.configure(update_seconds=2, new_peak_seconds=60)
    make_table(ddb)
    ddb.update_table(TableName="t1", ProvisionedThroughput=pt(40, 10))  # above the peak of 10
    twin.clock.advance(2)
    assert describe(ddb)["TableStatus"] == "UPDATING"
    twin.clock.advance(58)
    assert describe(ddb)["TableStatus"] == "ACTIVE"
    ddb.update_table(TableName="t1", ProvisionedThroughput=pt(5, 10))
    twin.clock.advance(2)
    ddb.update_table(TableName="t1", ProvisionedThroughput=pt(30, 10))  # back up, but below the peak of 40
    twin.clock.advance(2)
    assert describe(ddb)["TableStatus"] == "ACTIVE"


def test_a_gsi_only_change_puts_only_the_index_in_updating(frozen_twin: Twin) -> None:
    twin, ddb = frozen_twin, frozen_twin.client("dynamodb")
    twin.configure(update_seconds=2)
    make_table(ddb, gsi=(10, 10))
    response = ddb.update_table(TableName="t1", GlobalSecondaryIndexUpdates=gsi_update(5, 5))[
        "TableDescription"
    ]
    assert response["TableStatus"] == "ACTIVE"
    assert (gsi_of(response)["IndexStatus"], units(gsi_of(response)["ProvisionedThroughput"])) == (
        "UPDATING",
        (10, 10),
    )
    during = describe(ddb)
    assert during["TableStatus"] == "ACTIVE" and gsi_of(during)["IndexStatus"] == "UPDATING"

    code, message, _ = refused(ddb.update_table, TableName="t1", ProvisionedThroughput=pt(20, 20))
    assert code == "ResourceInUseException" and message.endswith("Table is being updated: t1")
    code, _, _ = refused(ddb.delete_table, TableName="t1")
    assert code == "ResourceInUseException"

    twin.clock.advance(2)
    index = gsi_of(describe(ddb))
    assert (index["IndexStatus"], units(index["ProvisionedThroughput"])) == ("ACTIVE", (5, 5))


def test_delete_table_is_refused_while_the_table_is_updating(frozen_twin: Twin) -> None:
    ddb = frozen_twin.client("dynamodb")
    make_table(ddb, gsi=None)
    ddb.update_table(TableName="t1", ProvisionedThroughput=pt(5, 5))
    code, message, _ = refused(ddb.delete_table, TableName="t1")
    assert (code, message) == (
        "ResourceInUseException",
        "Attempt to change a resource which is still in use: Table: t1 is in the process of being updated.",
    )
    frozen_twin.clock.advance(frozen_twin.settings.update_seconds)
    ddb.delete_table(TableName="t1")
    assert ddb.list_tables()["TableNames"] == []


# -- the decrease quota -------------------------------------------------------------------------


def test_four_decreases_then_one_an_hour_after_the_last_one(frozen_twin: Twin) -> None:
    twin, ddb = frozen_twin, frozen_twin.client("dynamodb")
    twin.configure(update_seconds=0)
    make_table(ddb, read=100, write=100, gsi=None)
    for minute, read in enumerate((90, 80, 70, 60)):
        twin.clock.set(T0 + timedelta(minutes=minute))
        ddb.update_table(TableName="t1", ProvisionedThroughput=pt(read, 100))
    last = T0 + timedelta(minutes=3)

    twin.clock.set(T0 + timedelta(minutes=4))
    code, message, status = refused(ddb.update_table, TableName="t1", ProvisionedThroughput=pt(50, 100))
    assert (code, status) == ("LimitExceededException", 400)
    assert message == quota_message(4, last, last + timedelta(hours=1))
    assert message.endswith(
        "Next decrease can be made at Monday, March 2, 2026 at 11:03:00 AM Coordinated Universal Time"
    )
    # A mixed change (reads down, writes up) is a decrease too; refusals move nothing.
    code, _, _ = refused(ddb.update_table, TableName="t1", ProvisionedThroughput=pt(50, 200))
    assert code == "LimitExceededException"
    table = describe(ddb)["ProvisionedThroughput"]
    assert (units(table), table["NumberOfDecreasesToday"], table["LastDecreaseDateTime"]) == (
        (60, 100),
        4,
        last,
    )
    ddb.update_table(TableName="t1", ProvisionedThroughput=pt(60, 200))  # increases are never limited

    twin.clock.set(last + timedelta(seconds=3599))
    assert (
        refused(ddb.update_table, TableName="t1", ProvisionedThroughput=pt(50, 200))[0]
        == "LimitExceededException"
    )
    twin.clock.set(last + timedelta(seconds=3600))
    ddb.update_table(TableName="t1", ProvisionedThroughput=pt(50, 200))
    assert describe(ddb)["ProvisionedThroughput"]["NumberOfDecreasesToday"] == 5
    _, message, _ = refused(ddb.update_table, TableName="t1", ProvisionedThroughput=pt(40, 200))
    assert message == quota_message(5, last + timedelta(hours=1), last + timedelta(hours=2))
    assert twin.count("UpdateTable") == 10  # one attempt per call: nothing retried


def test_the_count_resets_at_midnight_utc_and_the_message_names_midnight(frozen_twin: Twin) -> None:
    twin, ddb = frozen_twin, frozen_twin.client("dynamodb")
    twin.configure(update_seconds=0)
    make_table(ddb, gsi=None)
    last = datetime(2026, 3, 2, 23, 20, 48, tzinfo=UTC)
    twin.set_decreases("t1", 4, last=last)
    twin.clock.set(datetime(2026, 3, 2, 23, 30, tzinfo=UTC))
    _, message, _ = refused(ddb.update_table, TableName="t1", ProvisionedThroughput=pt(5, 5))
    midnight = datetime(2026, 3, 3, tzinfo=UTC)
    assert message == quota_message(4, last, midnight)
    assert (
        "Next decrease can be made at Tuesday, March 3, 2026 at 12:00:00 AM Coordinated Universal Time"
        in message
    )

    twin.clock.set(midnight - timedelta(seconds=1))
    assert describe(ddb)["ProvisionedThroughput"]["NumberOfDecreasesToday"] == 4
    twin.clock.set(midnight)
    table = describe(ddb)["ProvisionedThroughput"]
    assert (table["NumberOfDecreasesToday"], table["LastDecreaseDateTime"]) == (0, last)  # reset, date kept
    for read in (9, 8, 7, 6):
        ddb.update_table(TableName="t1", ProvisionedThroughput=pt(read, 10))
    assert (
        refused(ddb.update_table, TableName="t1", ProvisionedThroughput=pt(5, 5))[0]
        == "LimitExceededException"
    )


def test_no_more_than_27_decreases_a_day(frozen_twin: Twin) -> None:
    twin, ddb = frozen_twin, frozen_twin.client("dynamodb")
    make_table(ddb, gsi=None)
    twin.set_decreases("t1", 27, last=T0 - timedelta(hours=3))
    _, message, _ = refused(ddb.update_table, TableName="t1", ProvisionedThroughput=pt(5, 5))
    assert message == quota_message(27, T0 - timedelta(hours=3), datetime(2026, 3, 3, tzinfo=UTC))
    twin.configure(max_decreases_per_day=28)
    ddb.update_table(TableName="t1", ProvisionedThroughput=pt(5, 5))


def test_table_and_gsi_quotas_are_separate_and_a_request_is_all_or_nothing(frozen_twin: Twin) -> None:
    twin, ddb = frozen_twin, frozen_twin.client("dynamodb")
    twin.configure(update_seconds=0)
    make_table(ddb, read=50, write=50, gsi=(50, 50))
    twin.set_decreases("t1", 4, last=T0)
    code, message, _ = refused(
        ddb.update_table,
        TableName="t1",
        ProvisionedThroughput=pt(5, 5),
        GlobalSecondaryIndexUpdates=gsi_update(40, 40),
    )
    assert code == "LimitExceededException" and "Number of decreases today: 4." in message
    index = gsi_of(describe(ddb))  # the GSI was not touched by the refused request
    assert (
        units(index["ProvisionedThroughput"]),
        index["ProvisionedThroughput"]["NumberOfDecreasesToday"],
    ) == ((50, 50), 0)

    ddb.update_table(TableName="t1", GlobalSecondaryIndexUpdates=gsi_update(40, 40))  # its own budget
    table = describe(ddb)
    assert table["ProvisionedThroughput"]["NumberOfDecreasesToday"] == 4
    assert gsi_of(table)["ProvisionedThroughput"]["NumberOfDecreasesToday"] == 1

    twin.set_decreases("t1", 4, index="gsi1", last=T0)
    code, _, _ = refused(ddb.update_table, TableName="t1", GlobalSecondaryIndexUpdates=gsi_update(30, 30))
    assert code == "LimitExceededException"


def test_botocore_standard_mode_retries_a_quota_refusal_four_times(frozen_twin: Twin) -> None:
    # aws-behaviour.md:42-45: why the product must configure retries for LimitExceededException.
    twin = frozen_twin
    ddb = twin.client("dynamodb", attempts=None)  # botocore's own standard mode: 4 attempts for DynamoDB
    make_table(ddb, gsi=None)
    twin.set_decreases("t1", 4)
    with pytest.raises(ClientError) as excinfo:
        ddb.update_table(TableName="t1", ProvisionedThroughput=pt(5, 5))
    assert excinfo.value.response["Error"]["Code"] == "LimitExceededException"
    assert "(reached max retries: 3)" in str(excinfo.value)
    assert twin.count("UpdateTable") == 4
    assert [r.attempt for r in twin.records if r.operation == "UpdateTable"] == [1, 2, 3, 4]


# -- other refusals -----------------------------------------------------------------------------


def test_an_unchanged_throughput_is_a_validation_exception(frozen_twin: Twin) -> None:
    ddb = frozen_twin.client("dynamodb")
    make_table(ddb, read=7, write=3, gsi=(2, 2))
    code, message, status = refused(ddb.update_table, TableName="t1", ProvisionedThroughput=pt(7, 3))
    assert (code, status) == ("ValidationException", 400)
    assert message == (
        "The provisioned throughput for the table will not change. The requested value equals the "
        "current value. Current ReadCapacityUnits provisioned for the table: 7. Requested "
        "ReadCapacityUnits: 7. Current WriteCapacityUnits provisioned for the table: 3. Requested "
        f"WriteCapacityUnits: 3. {LIMITS_TAIL}"
    )
    code, message, _ = refused(ddb.update_table, TableName="t1", GlobalSecondaryIndexUpdates=gsi_update(2, 2))
    assert code == "ValidationException"
    assert message.startswith(
        "The provisioned throughput for the index gsi1 will not change. The requested value "
        "equals the current value. Current ReadCapacityUnits provisioned for index gsi1: 2."
    )
    ddb.update_table(TableName="t1", ProvisionedThroughput=pt(7, 4))  # one dimension changing is enough


def test_a_pay_per_request_table_refuses_provisioned_throughput(frozen_twin: Twin) -> None:
    ddb = frozen_twin.client("dynamodb")
    make_table(ddb, billing="PAY_PER_REQUEST")
    code, message, _ = refused(ddb.update_table, TableName="t1", ProvisionedThroughput=pt(5, 5))
    assert (code, message) == (
        "ValidationException",
        "One or more parameter values were invalid: Neither ReadCapacityUnits nor "
        "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
    )
    code, _, _ = refused(ddb.update_table, TableName="t1", GlobalSecondaryIndexUpdates=gsi_update(5, 5))
    assert code == "ValidationException"
    # Switching to PROVISIONED with throughput in the same call is allowed.
    ddb.update_table(
        TableName="t1",
        BillingMode="PROVISIONED",
        ProvisionedThroughput=pt(5, 5),
        GlobalSecondaryIndexUpdates=gsi_update(5, 5),
    )


def test_an_unknown_gsi_is_a_client_error_not_motos_http_500(frozen_twin: Twin) -> None:
    ddb = frozen_twin.client("dynamodb")
    make_table(ddb)
    code, _, status = refused(
        ddb.update_table, TableName="t1", GlobalSecondaryIndexUpdates=gsi_update(5, 5, "nope")
    )
    assert (code, status) == ("ResourceNotFoundException", 400)
    code, _, _ = refused(ddb.update_table, TableName="missing", ProvisionedThroughput=pt(5, 5))
    assert code == "ResourceNotFoundException"  # moto's own answer, passed through


def test_the_simultaneous_operations_limit_fails_the_next_updates(frozen_twin: Twin) -> None:
    twin, ddb = frozen_twin, frozen_twin.client("dynamodb")
    twin.configure(update_seconds=0)
    make_table(ddb, gsi=None)
    twin.fail_concurrent_updates(times=2)
    for _ in range(2):
        code, message, _ = refused(ddb.update_table, TableName="t1", ProvisionedThroughput=pt(20, 20))
        assert (code, message) == (
            "LimitExceededException",
            "Subscriber limit exceeded: Only 10 tables can be created, updated, or deleted simultaneously",
        )
    ddb.update_table(TableName="t1", ProvisionedThroughput=pt(20, 20))
    assert twin.count("UpdateTable") == 3
    assert [r.fault for r in twin.records if r.operation == "UpdateTable"] == ["error", "error", None]


def test_capacity_caps_per_table_per_index_and_per_account(frozen_twin: Twin) -> None:
    twin, ddb = frozen_twin, frozen_twin.client("dynamodb")
    twin.configure(update_seconds=0)
    assert {k: v for k, v in ddb.describe_limits().items() if k != "ResponseMetadata"} == {
        "AccountMaxReadCapacityUnits": 80000,
        "AccountMaxWriteCapacityUnits": 80000,
        "TableMaxReadCapacityUnits": 40000,
        "TableMaxWriteCapacityUnits": 40000,
    }
    make_table(ddb)
    code, message, _ = refused(ddb.update_table, TableName="t1", ProvisionedThroughput=pt(40001, 10))
    assert (code, message) == (
        "LimitExceededException",
        "The requested ReadCapacityUnits, 40001, is above the per table maximum for the "
        f"account in us-east-1. Per table maximum: 40000. {LIMITS_TAIL}",
    )
    _, message, _ = refused(
        ddb.update_table, TableName="t1", GlobalSecondaryIndexUpdates=gsi_update(10, 40001)
    )
    assert message.startswith(
        "The requested WriteCapacityUnits for index gsi1, 40001, is above the per index maximum"
    )
    ddb.update_table(TableName="t1", ProvisionedThroughput=pt(40000, 10))  # the cap itself is allowed

    twin.configure(account_max_read=40100)
    make_table(ddb, "t2", read=50, write=10, gsi=None)  # reserved now: 40000 + 10 (gsi1) + 50 = 40060
    code, message, _ = refused(ddb.update_table, TableName="t2", ProvisionedThroughput=pt(100, 10))
    assert (code, message) == (
        "LimitExceededException",
        "This request would have caused the ReadCapacityUnits limit to be exceeded for the "
        "account in us-east-1. Current ReadCapacityUnits reserved by the account: 40060. "
        "Limit: 40100. Requested: 100",
    )
    ddb.update_table(TableName="t2", ProvisionedThroughput=pt(90, 10))


# -- global tables and AWS's own autoscaling ----------------------------------------------------


def test_a_global_table_lists_its_replicas(frozen_twin: Twin) -> None:
    twin, ddb = frozen_twin, frozen_twin.client("dynamodb")
    make_table(ddb)
    assert "Replicas" not in describe(ddb)
    twin.set_global_table("t1", ["us-east-1", "eu-west-1"])
    table = describe(ddb)
    assert table["Replicas"] == [
        {"RegionName": "us-east-1", "ReplicaStatus": "ACTIVE"},
        {"RegionName": "eu-west-1", "ReplicaStatus": "ACTIVE"},
    ]
    assert table["TableStatus"] == "ACTIVE"


def test_application_auto_scaling_passes_through_to_moto(twin: Twin) -> None:
    ddb, aas = twin.client("dynamodb"), twin.client("application-autoscaling")
    make_table(ddb)
    aas.register_scalable_target(
        ServiceNamespace="dynamodb",
        ResourceId="table/t1/index/gsi1",
        ScalableDimension="dynamodb:index:ReadCapacityUnits",
        MinCapacity=1,
        MaxCapacity=50,
    )
    targets = aas.describe_scalable_targets(ServiceNamespace="dynamodb")["ScalableTargets"]
    assert [(t["ResourceId"], t["ScalableDimension"]) for t in targets] == [
        ("table/t1/index/gsi1", "dynamodb:index:ReadCapacityUnits")
    ]
    assert twin.count("RegisterScalableTarget", service="application-autoscaling") == 1


# -- CloudWatch ---------------------------------------------------------------------------------


def put_points(cloudwatch: Any, metric: str, dimensions: dict[str, str], values: list[float]) -> datetime:
    # Real time: moto stores datapoints by their own timestamps, the twin clock is not involved.
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    cloudwatch.put_metric_data(
        Namespace="AWS/DynamoDB",
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                "Timestamp": now - timedelta(minutes=len(values) - i),
                "Value": value,
                "Unit": "Count",
            }
            for i, value in enumerate(values)
        ],
    )
    return now


def query(query_id: str, metric: str, dimensions: dict[str, str]) -> dict[str, Any]:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/DynamoDB",
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
            },
            "Period": 60,
            "Stat": "Sum",
        },
    }


def test_get_metric_data_partial_data_and_internal_error_with_next_token(twin: Twin) -> None:
    cw = twin.client("cloudwatch")
    table, index = {"TableName": "t1"}, {"TableName": "t1", "GlobalSecondaryIndexName": "gsi1"}
    now = put_points(cw, "ConsumedReadCapacityUnits", table, [1, 2, 3, 4, 5])
    put_points(cw, "ConsumedReadCapacityUnits", index, [10, 20, 30])
    put_points(cw, "ConsumedWriteCapacityUnits", table, [7, 7, 7])
    queries = [
        query("r", "ConsumedReadCapacityUnits", table),
        query("g", "ConsumedReadCapacityUnits", index),
        query("w", "ConsumedWriteCapacityUnits", table),
    ]
    window = {
        "MetricDataQueries": queries,
        "StartTime": now - timedelta(minutes=10),
        "EndTime": now + timedelta(minutes=1),
    }

    twin.metric_status(
        "PartialData", metric_name="ConsumedReadCapacityUnits", table="t1", index="", keep=2, times=1
    )
    twin.metric_status("InternalError", table="t1", index="gsi1", times=1)
    first = cw.get_metric_data(**window)
    by_id = {r["Id"]: r for r in first["MetricDataResults"]}
    assert (by_id["r"]["StatusCode"], len(by_id["r"]["Values"])) == ("PartialData", 2)
    assert (by_id["g"]["StatusCode"], by_id["g"]["Values"]) == ("InternalError", [])
    assert (by_id["w"]["StatusCode"], by_id["w"]["Values"]) == ("Complete", [7.0, 7.0, 7.0])

    follow = cw.get_metric_data(**window, NextToken=first["NextToken"])
    by_id = {r["Id"]: r for r in follow["MetricDataResults"]}
    assert (by_id["g"]["StatusCode"], sorted(by_id["g"]["Values"])) == ("Complete", [10.0, 20.0, 30.0])
    assert by_id["r"]["Values"] == [] and by_id["r"]["StatusCode"] == "Complete"
    assert "NextToken" not in follow
    assert twin.count("GetMetricData") == 2

    # Both rules were for one request only: now everything is Complete again.
    again = {r["Id"]: r["StatusCode"] for r in cw.get_metric_data(**window)["MetricDataResults"]}
    assert again == {"r": "Complete", "g": "Complete", "w": "Complete"}


def test_get_metric_data_internal_error_can_keep_failing(twin: Twin) -> None:
    cw = twin.client("cloudwatch")
    now = put_points(cw, "ConsumedWriteCapacityUnits", {"TableName": "t1"}, [4, 4])
    window = {
        "MetricDataQueries": [query("w", "ConsumedWriteCapacityUnits", {"TableName": "t1"})],
        "StartTime": now - timedelta(minutes=10),
        "EndTime": now + timedelta(minutes=1),
    }
    twin.metric_status("InternalError", metric_name="ConsumedWriteCapacityUnits", failing_followups=None)
    token = cw.get_metric_data(**window)["NextToken"]
    for _ in range(3):
        page = cw.get_metric_data(**window, NextToken=token)
        assert page["MetricDataResults"][0]["StatusCode"] == "InternalError"
        token = page["NextToken"]
    twin.clear_rules()
    assert cw.get_metric_data(**window)["MetricDataResults"][0]["Values"] == [4.0, 4.0]


def test_dimension_order_does_not_matter_as_in_real_cloudwatch(twin: Twin) -> None:
    # moto alone returns nothing here (ecosystem-notes.md, addendum); the twin sorts dimensions.
    cw = twin.client("cloudwatch")
    now = put_points(
        cw, "ConsumedReadCapacityUnits", {"GlobalSecondaryIndexName": "gsi1", "TableName": "t1"}, [6]
    )
    result = cw.get_metric_data(
        MetricDataQueries=[
            query("g", "ConsumedReadCapacityUnits", {"TableName": "t1", "GlobalSecondaryIndexName": "gsi1"})
        ],
        StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=1),
    )["MetricDataResults"][0]
    assert result["Values"] == [6.0]


def test_access_denied_for_get_metric_data_leaves_get_metric_statistics_working(twin: Twin) -> None:
    cw = twin.client("cloudwatch")
    now = put_points(cw, "ConsumedReadCapacityUnits", {"TableName": "t1"}, [3, 4])
    twin.deny("GetMetricData")
    code, message, status = refused(
        cw.get_metric_data,
        MetricDataQueries=[query("r", "ConsumedReadCapacityUnits", {"TableName": "t1"})],
        StartTime=now - timedelta(minutes=10),
        EndTime=now,
    )
    assert (code, status) == ("AccessDenied", 403)
    assert "not authorized to perform: cloudwatch:GetMetricData" in message
    points = cw.get_metric_statistics(
        Namespace="AWS/DynamoDB",
        MetricName="ConsumedReadCapacityUnits",
        Dimensions=[{"Name": "TableName", "Value": "t1"}],
        Period=60,
        StartTime=now - timedelta(minutes=10),
        EndTime=now + timedelta(minutes=1),
        Statistics=["Sum"],
    )["Datapoints"]
    assert sorted(p["Sum"] for p in points) == [3.0, 4.0]


# -- faults -------------------------------------------------------------------------------------


def test_a_dropped_connection_is_retried_by_botocore(twin: Twin) -> None:
    make_table(twin.client("dynamodb"), gsi=None)
    twin.drop("DescribeTable", times=1)
    with pytest.raises(ConnectionClosedError):
        twin.client("dynamodb").describe_table(TableName="t1")
    twin.drop("DescribeTable", times=1)
    assert twin.client("dynamodb", attempts=2).describe_table(TableName="t1")["Table"]["TableName"] == "t1"
    assert [r.fault for r in twin.records if r.operation == "DescribeTable"] == ["drop", "drop", None]


def test_a_hung_request_times_out_and_a_slow_one_answers_late(twin: Twin) -> None:
    make_table(twin.client("dynamodb"), gsi=None)
    impatient = twin.client(
        "dynamodb", config=Config(retries={"total_max_attempts": 1}, read_timeout=0.3, connect_timeout=1)
    )
    twin.hang("DescribeTable")  # until released
    started = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        impatient.describe_table(TableName="t1")
    assert 0.3 <= time.monotonic() - started < 2
    twin.release_hangs()

    twin.hang("ListTables", seconds=0.2)
    started = time.monotonic()
    assert twin.client("dynamodb").list_tables()["TableNames"] == ["t1"]
    assert time.monotonic() - started >= 0.2


def test_latency_is_added_to_every_request_and_requests_are_served_concurrently(twin: Twin) -> None:
    ddb = twin.client("dynamodb", config=Config(retries={"total_max_attempts": 1}, max_pool_connections=10))
    make_table(ddb, gsi=None)
    twin.latency = 0.25
    durations: list[float] = []

    def one() -> None:
        started = time.monotonic()
        ddb.describe_table(TableName="t1")
        durations.append(time.monotonic() - started)

    started = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    assert len(durations) == 8 and min(durations) >= 0.25
    assert wall < 8 * 0.25 / 2  # served side by side, not one after another


# -- out-of-process use -------------------------------------------------------------------------


def test_a_child_process_reaches_the_twin_through_its_env_and_the_control_endpoint(frozen_twin: Twin) -> None:
    twin = frozen_twin
    make_table(twin.client("dynamodb"), gsi=None)
    assert control(twin, "configure", update_seconds=5, new_peak_seconds=5)["update_seconds"] == 5
    control(twin, "fail_concurrent_updates", times=1)
    script = (
        "import boto3, botocore.config as c\n"
        "ddb = boto3.client('dynamodb', config=c.Config(retries={'total_max_attempts': 1}))\n"
        "for _ in range(2):\n"
        "    try:\n"
        "        print(ddb.update_table(TableName='t1', ProvisionedThroughput={'ReadCapacityUnits': 20,"
        " 'WriteCapacityUnits': 20})['TableDescription']['TableStatus'])\n"
        "    except Exception as e:\n"
        "        print(e.response['Error']['Code'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=twin.env(), capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["LimitExceededException", "UPDATING"]
    assert control(twin, "advance_clock", seconds=5).startswith("2026-03-02T10:00:05")
    with urllib.request.urlopen(f"{twin.endpoint}/_twin/calls", timeout=5) as answer:
        assert json.loads(answer.read())["result"] == {"CreateTable": 1, "UpdateTable": 2}
    assert describe(twin.client("dynamodb"))["TableStatus"] == "ACTIVE"
