"""The real ``dynamic-dynamodb --fetch-trace`` over two regions, one of them in a second account
reached with STS AssumeRole, against moto_server on 127.0.0.1: one trace, the table name both
locations have qualified with its location. A location that cannot be read, and --advise
over several locations: tests/unit/test_fetch_locations.py, with fakes (each run of the
command here costs seconds)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3

from demo.seed import create_table
from dynamic_dynamodb.simulate.trace import read_trace
from tests.conftest import TEST_BOTO_CONFIG, run_cli
from tests.e2e.test_accounts_regions import OTHER_ACCOUNT, OWN_ACCOUNT, ROLE, assumed
from tests.integration.test_fetch_trace import put

CONFIG = f"""\
[global]
region: us-east-1

[table: ^orders$]

[table: ^orders]
region: us-west-2
role-arn: {ROLE}
external-id: e2e-external-id
"""


def seed(endpoint: str, region: str, units: float,
         credentials: dict[str, str] | None = None) -> None:
    session = boto3.session.Session(region_name=region, **(credentials or {}))
    dynamodb = session.client("dynamodb", endpoint_url=endpoint, config=TEST_BOTO_CONFIG)
    cloudwatch = session.client("cloudwatch", endpoint_url=endpoint, config=TEST_BOTO_CONFIG)
    create_table(dynamodb, "orders", 100, 100)
    put(cloudwatch, "ConsumedReadCapacityUnits", "orders", None,
        datetime.now(timezone.utc) - timedelta(hours=1), units, requests=units)


def test_fetch_trace_reads_every_region_and_account_into_one_trace(
        moto_endpoint: str, tmp_path: Path) -> None:
    seed(moto_endpoint, "us-east-1", 600)  # 10 CU/s that minute
    seed(moto_endpoint, "us-west-2", 1800, assumed(moto_endpoint))  # 30 CU/s
    conf = tmp_path / "dd.conf"
    conf.write_text(CONFIG)
    out = tmp_path / "trace.csv"

    result = run_cli(["-c", str(conf), "--fetch-trace", "1", "--trace-out", str(out)],
                     endpoint=moto_endpoint)

    assert result.returncode == 0, result.stdout + result.stderr
    first = f"orders.{OWN_ACCOUNT}.us-east-1"
    second = f"orders.{OTHER_ACCOUNT}.us-west-2"
    assert f"for 2 resource(s) ({first}, {second}) in 2 accounts and regions to {out}" \
        in result.stdout
    peaks = {resource.key: max(resource.reads) for resource in read_trace(str(out)).resources}
    assert peaks == {first: 10.0, second: 30.0}

