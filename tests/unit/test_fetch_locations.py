"""The offline readers of CloudWatch history (--fetch-trace, --advise, --tune on fetched
history) over several accounts and regions: each location read with its own clients and
its own sections, merged into one trace without colliding names, and a location that
cannot be read named in one line. In-process moto for the regions, a fake for the failure."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from demo.seed import create_table
from dynamic_dynamodb.aws.clients import Clients
from dynamic_dynamodb.aws.cloudwatch import METRIC_DATA_ACCESS
from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.fleet import Location
from dynamic_dynamodb.simulate import advise, fetch
from dynamic_dynamodb.simulate.runner import Settings
from dynamic_dynamodb.simulate.trace import ResourceTrace, Trace
from tests.conftest import TEST_BOTO_CONFIG
from tests.integration.test_fetch_trace import put

ROLE = "arn:aws:iam::222222222222:role/dd"
CONF = f"""\
[global]
region: us-east-1

[table: ^orders$]

[table: ^events$]
region: eu-west-1

[table: ^orders]
region: eu-west-1
role-arn: {ROLE}
"""
NOW = datetime.now(timezone.utc).replace(second=0, microsecond=0)


@pytest.fixture(autouse=True)
def _fresh_process_wide_access() -> Iterator[None]:
    METRIC_DATA_ACCESS.reset()
    yield
    METRIC_DATA_ACCESS.reset()


@pytest.fixture(scope="module")
def _moto() -> Iterator[Any]:
    """One in-process moto for the module (started once: it takes a while), reset per test."""
    from moto import mock_aws

    mock = mock_aws()
    with mock:
        yield mock


@pytest.fixture
def regions(_moto: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Clients]]:
    """In-process moto: our account's clients in us-east-1 and eu-west-1."""
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    _moto.reset()
    found = {}
    for region in ("us-east-1", "eu-west-1"):
        kwargs = {"region_name": region, "config": TEST_BOTO_CONFIG}
        found[region] = Clients(dynamodb=boto3.client("dynamodb", **kwargs),
                                cloudwatch=boto3.client("cloudwatch", **kwargs),
                                sns=None, sts=boto3.client("sts", **kwargs))
        found[region].count_calls()
    yield found


class Denied:
    """A client whose every call fails as one of a role that cannot be assumed."""

    def __getattr__(self, name: str) -> Any:
        def call(*_: Any, **__: Any) -> Any:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not allowed"}},
                              "AssumeRole")
        return call


def denied() -> Clients:
    return Clients(dynamodb=Denied(), cloudwatch=Denied(), sns=None, sts=Denied())


def load(tmp_path: Path, text: str = CONF) -> Config:
    path = tmp_path / "dd.conf"
    path.write_text(text, encoding="utf-8")
    return load_config(str(path))


def seed(clients: Clients, table: str, units: float) -> None:
    create_table(clients.dynamodb, table, 10, 10)
    put(clients.cloudwatch, "ConsumedReadCapacityUnits", table, None,
        NOW - timedelta(hours=2), units, requests=units)


def test_each_location_is_read_with_its_own_clients_and_sections(
        tmp_path: Path, regions: dict[str, Clients]) -> None:
    seed(regions["us-east-1"], "orders", 600)  # 10 CU/s that minute
    seed(regions["us-east-1"], "events", 60)  # events of us-east-1: no section there
    seed(regions["eu-west-1"], "events", 120)
    # The role's account (eu-west-1): its own "orders"; moto keeps it apart by region only,
    # so it gets clients of a region of its own here.
    asked: list[Location] = []

    def clients_for(location: Location) -> Clients:
        asked.append(location)
        if location.role is not None:
            return other
        return regions[location.region]

    with_role = boto3.client("dynamodb", region_name="ap-south-1", config=TEST_BOTO_CONFIG)
    other = Clients(dynamodb=with_role, sns=None, cloudwatch=boto3.client(
        "cloudwatch", region_name="ap-south-1", config=TEST_BOTO_CONFIG))
    other.count_calls()
    seed(other, "orders", 1800)

    history = fetch.fetch_locations(load(tmp_path), 1, clients_for=clients_for)

    assert [(location.region, location.role is not None) for location in asked] == [
        ("us-east-1", False), ("eu-west-1", False), ("eu-west-1", True)]
    assert [part.name for part in history.parts] == [
        "123456789012/us-east-1", "123456789012/eu-west-1", "222222222222/eu-west-1"]
    assert history.several and history.failures == []
    assert history.calls > 0
    trace = history.trace()
    # "orders" is in two locations: qualified in both; "events" only in one: as it is.
    peaks = {resource.key: max(resource.reads) for resource in trace.resources}
    assert peaks == {"orders.123456789012.us-east-1": 10.0, "events": 2.0,
                     "orders.222222222222.eu-west-1": 30.0}
    assert trace.minutes == 24 * 60


def test_a_location_that_cannot_be_read_fails_the_fetch_naming_it(
        tmp_path: Path, regions: dict[str, Clients]) -> None:
    seed(regions["us-east-1"], "orders", 600)
    seed(regions["eu-west-1"], "events", 120)

    def clients_for(location: Location) -> Clients:
        return denied() if location.role is not None else regions[location.region]

    with pytest.raises(fetch.FetchError) as caught:
        fetch.fetch_locations(load(tmp_path), 1, clients_for=clients_for)
    assert str(caught.value) == (
        f"222222222222/eu-west-1 (region eu-west-1, role {ROLE}): cannot read the history "
        "from AWS: AccessDenied (An error occurred (AccessDenied) when calling the AssumeRole "
        "operation: not allowed)")

    skipped = fetch.fetch_locations(load(tmp_path), 1, clients_for=clients_for,
                                    skip_failed=True)
    assert [part.name for part in skipped.parts] == [
        "123456789012/us-east-1", "123456789012/eu-west-1"]
    assert skipped.failures == [str(caught.value)]
    assert [resource.key for resource in skipped.trace().resources] == ["orders", "events"]


def test_fetch_trace_writes_no_file_when_a_location_fails(
        tmp_path: Path, regions: dict[str, Clients], monkeypatch: pytest.MonkeyPatch) -> None:
    seed(regions["us-east-1"], "orders", 600)
    seed(regions["eu-west-1"], "events", 120)
    monkeypatch.setattr(fetch.fleet, "clients_for", lambda _config, location, _default: (
        denied() if location.role is not None else regions[location.region]))
    out = tmp_path / "trace.csv"

    with pytest.raises(fetch.FetchError, match=r"^222222222222/eu-west-1 \(region eu-west-1"):
        fetch.fetch_trace(load(tmp_path), 1, str(out))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["dd.conf"]


def test_one_location_keeps_its_names_and_messages(
        tmp_path: Path, regions: dict[str, Clients], monkeypatch: pytest.MonkeyPatch) -> None:
    # Every section in eu-west-1: one location, but not the default region.
    seed(regions["eu-west-1"], "events", 120)
    monkeypatch.setattr(fetch.fleet, "clients_for",
                        lambda _config, location, _default: regions[location.region])
    config = load(tmp_path, "[global]\nregion: us-east-1\n\n[table: ^events$]\n"
                            "region: eu-west-1\n")
    out = tmp_path / "trace.csv"

    assert fetch.fetch_trace(config, 1, str(out)) == 0
    assert "events,," in out.read_text(encoding="utf-8")

    monkeypatch.setattr(fetch.fleet, "clients_for", lambda *_: denied())
    with pytest.raises(fetch.FetchError, match=r"^cannot read the history from AWS: AccessDenied"):
        fetch.fetch_history(config, 1)


def test_a_location_without_matching_tables_is_skipped(
        tmp_path: Path, regions: dict[str, Clients]) -> None:
    seed(regions["us-east-1"], "orders", 600)
    config = load(tmp_path, CONF.split("[table: ^orders]")[0])  # eu-west-1 has no events

    history = fetch.fetch_locations(config, 1, clients_for=lambda where: regions[where.region])

    assert [part.name for part in history.parts] == ["123456789012/us-east-1"]
    assert [resource.key for resource in history.trace().resources] == ["orders"]


def test_merge_qualifies_only_the_names_found_in_several_locations() -> None:
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)

    def part(name: str, *tables: str) -> fetch.LocationHistory:
        resources = tuple(ResourceTrace(table, gsi, (1.0,), (2.0,))
                          for table in tables for gsi in (None, "by_day"))
        return fetch.LocationHistory(Location(name.split("/")[1]), name, None,  # type: ignore[arg-type]
                                     Trace(start, 1, resources))

    merged = fetch.merge([part("1/us-east-1", "orders", "users"),
                          part("2/us-east-1", "orders", "carts")])

    keys = [resource.key for resource in merged.resources]
    assert keys == ["orders.1.us-east-1", "orders.1.us-east-1:by_day", "users", "users:by_day",
                    "orders.2.us-east-1", "orders.2.us-east-1:by_day", "carts", "carts:by_day"]
    assert len(set(keys)) == len(keys)
    assert Counter(resource.gsi for resource in merged.resources)["by_day"] == 4


def test_advise_names_each_location_and_goes_on_without_a_failing_one(
        tmp_path: Path, regions: dict[str, Clients], capsys: pytest.CaptureFixture[str]) -> None:
    seed(regions["us-east-1"], "orders", 600)
    seed(regions["eu-west-1"], "events", 120)
    out = io.StringIO()

    code = advise.run_advise(
        load(tmp_path), Settings(), days=1, stream=out,
        clients_for=lambda where: denied() if where.role else regions[where.region])

    assert code == advise.EXIT_PARTIAL
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"dynamic-dynamodb: error: 222222222222/eu-west-1 (region eu-west-1, role {ROLE}): "
        "cannot read the history from AWS: AccessDenied (An error occurred (AccessDenied) when "
        "calling the AssumeRole operation: not allowed); no advice for it")
    lines = out.getvalue().splitlines()
    assert " 2 table(s) and GSI(s) in 2 accounts and regions;" in lines[0]
    assert [line.split()[0] for line in lines[4:]] == [
        "123456789012/us-east-1/orders", "123456789012/eu-west-1/events"]


def test_advise_with_no_location_read_is_exit_1(
        tmp_path: Path, regions: dict[str, Clients], capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()

    code = advise.run_advise(load(tmp_path), Settings(), days=1, stream=out,
                             clients_for=lambda _: denied())

    assert code == 1 and out.getvalue() == ""
    errors = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in errors if "error" in line] == [
        "dynamic-dynamodb: error: unknown-account/us-east-1",
        "dynamic-dynamodb: error: unknown-account/eu-west-1",
        "dynamic-dynamodb: error: 222222222222/eu-west-1"]
    assert all(line.endswith("; no advice") for line in errors if "error" in line)
