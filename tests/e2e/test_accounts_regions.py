"""The real ``dynamic-dynamodb --run-once`` over two regions and a second account reached with
STS AssumeRole, against moto_server on 127.0.0.1 (moto keeps accounts apart by access key:
credentials from AssumeRole belong to the account in the role ARN)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from demo.seed import Traffic, create_table, put_traffic
from tests.conftest import TEST_BOTO_CONFIG, run_cli, table_capacity

OWN_ACCOUNT = "123456789012"  # moto's account for the default test credentials
OTHER_ACCOUNT = "222222222222"
ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/dynamic-dynamodb"

CONFIG = f"""\
[global]
region: us-east-1

[default_options]
min-provisioned-reads: 5
max-provisioned-reads: 1000
min-provisioned-writes: 5
max-provisioned-writes: 1000

[table: ^orders$]

[table: ^events$]
region: eu-west-1

# The same table name in the other account: a section of its own (another header).
[table: ^orders]
region: us-west-2
role-arn: {ROLE}
external-id: e2e-external-id
role-session-name: dd-e2e
"""

BROKEN = """
# A region moto_server cannot serve: every call of this location fails.
[table: ^lost$]
region: zz-nowhere-9
role-arn: arn:aws:iam::333333333333:role/dynamic-dynamodb
"""


def clients(endpoint: str, region: str, credentials: dict[str, str] | None = None) -> Any:
    session = boto3.session.Session(region_name=region, **(credentials or {}))
    return (session.client("dynamodb", endpoint_url=endpoint, config=TEST_BOTO_CONFIG),
            session.client("cloudwatch", endpoint_url=endpoint, config=TEST_BOTO_CONFIG))


def assumed(endpoint: str) -> dict[str, str]:
    sts = boto3.client("sts", region_name="us-west-2", endpoint_url=endpoint,
                       config=TEST_BOTO_CONFIG)
    answer = sts.assume_role(RoleArn=ROLE, RoleSessionName="seed")["Credentials"]
    return {"aws_access_key_id": answer["AccessKeyId"],
            "aws_secret_access_key": answer["SecretAccessKey"],
            "aws_session_token": answer["SessionToken"]}


@pytest.fixture
def places(moto_endpoint: str) -> dict[str, Any]:
    """orders in us-east-1 and events in eu-west-1 (our account), orders in us-west-2 of the
    other account; each read at 95 % of its capacity."""
    found = {
        "own/us-east-1": clients(moto_endpoint, "us-east-1"),
        "own/eu-west-1": clients(moto_endpoint, "eu-west-1"),
        "other/us-west-2": clients(moto_endpoint, "us-west-2", assumed(moto_endpoint)),
    }
    for (dynamodb, cloudwatch), table in zip(found.values(), ("orders", "events", "orders"),
                                             strict=True):
        create_table(dynamodb, table, 100, 100)
        put_traffic(cloudwatch, dynamodb, Traffic(table, None, 95, 50))
    return found


def reads(place: tuple[Any, Any], table: str) -> int:
    return table_capacity(place[0], table)[0]


def test_one_run_scales_every_region_and_account(
    moto_endpoint: str, places: dict[str, Any], tmp_path: Path
) -> None:
    conf = tmp_path / "dd.conf"
    conf.write_text(CONFIG)
    state = tmp_path / "s.json"

    result = run_cli(["-c", str(conf), "--run-once", "--state-file", str(state)],
                     endpoint=moto_endpoint)

    assert result.returncode == 0, result.stdout + result.stderr
    assert reads(places["own/us-east-1"], "orders") == 150
    assert reads(places["own/eu-west-1"], "events") == 150
    assert reads(places["other/us-west-2"], "orders") == 150
    # Nothing leaked across: our account has no table in us-west-2, the other none elsewhere.
    assert clients(moto_endpoint, "us-west-2")[0].list_tables()["TableNames"] == []
    out = result.stdout
    for where, table in ((f"{OWN_ACCOUNT}/us-east-1", "orders"),
                         (f"{OWN_ACCOUNT}/eu-west-1", "events"),
                         (f"{OTHER_ACCOUNT}/us-west-2", "orders")):
        assert f"{where} - {table} - Reads: 95.00% consumed > 90% upper threshold, scaling " \
            "up from 100 to 150" in out
        assert f"{where} - Cycle done: 1 tables and 0 GSIs checked, 1 updates" in out
    assert "All 3 accounts and regions: Cycle done: 3 tables and 0 GSIs checked, 3 updates, " \
        "0 skipped, 0 errors" in out
    # The state is kept per account and region.
    assert sorted(json.loads(state.read_text())["accounts"]) == [
        f"{OWN_ACCOUNT}/eu-west-1@{moto_endpoint}", f"{OWN_ACCOUNT}/us-east-1@{moto_endpoint}",
        f"{OTHER_ACCOUNT}/us-west-2@{moto_endpoint}"]
    assert result.stderr == ""


def test_a_failing_location_does_not_stop_the_others(
    moto_endpoint: str, places: dict[str, Any], tmp_path: Path
) -> None:
    conf = tmp_path / "dd.conf"
    conf.write_text(CONFIG + BROKEN)

    result = run_cli(["-c", str(conf), "--run-once", "--state-file", str(tmp_path / "s.json")],
                     endpoint=moto_endpoint, timeout=120)

    assert result.returncode == 3, result.stdout + result.stderr  # some errors
    assert reads(places["own/us-east-1"], "orders") == 150
    assert reads(places["own/eu-west-1"], "events") == 150
    assert reads(places["other/us-west-2"], "orders") == 150
    failed = [line for line in result.stdout.splitlines()
              if "333333333333/zz-nowhere-9 - Cycle failed for this account and region" in line]
    assert len(failed) == 1 and " - ERROR - " in failed[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_show_config_resolves_tables_per_account_and_region(
    moto_endpoint: str, places: dict[str, Any], tmp_path: Path
) -> None:
    conf = tmp_path / "dd.conf"
    conf.write_text(CONFIG)

    result = run_cli(["-c", str(conf), "--show-config"], endpoint=moto_endpoint)

    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["tables"]["^orders"]["role-arn"] == ROLE
    assert shown["tables"]["^orders"]["region"] == "us-west-2"
    resolution = shown["resolution"]
    assert resolution[f"{OWN_ACCOUNT}/us-east-1"]["tables"] == {"orders": "[table: ^orders$]"}
    assert resolution[f"{OWN_ACCOUNT}/eu-west-1"]["tables"] == {"events": "[table: ^events$]"}
    other = resolution[f"{OTHER_ACCOUNT}/us-west-2"]
    assert other["tables"] == {"orders": "[table: ^orders]"}
    assert other["reached with"] == f"region us-west-2, role {ROLE}, with an ExternalId"
