"""Shared fixtures: fake AWS credentials, in-process moto, a moto server, and the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from demo.localaws import moto_env, moto_server, reset  # noqa: E402
from dynamic_dynamodb.aws.clients import Clients  # noqa: E402

# Tests never reach AWS: no retries, fake credentials, one region.
TEST_BOTO_CONFIG = BotoConfig(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=10)
CLI = str(Path(sys.executable).with_name("dynamic-dynamodb"))


@pytest.fixture(autouse=True)
def _fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # Anything that escapes the mocks hits a closed loopback port, never a real endpoint.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")


@pytest.fixture(autouse=True)
def _private_default_directories(monkeypatch: pytest.MonkeyPatch,
                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    """A run without --pid-file-dir or --state-file (the real command too) keeps its files
    in a directory of this test, never in /run or /var/lib of the machine (paths.py)."""
    base = tmp_path_factory.mktemp("default-dirs")
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(base / "run"))
    monkeypatch.setenv("STATE_DIRECTORY", str(base / "state"))


def make_test_clients(endpoint: str | None = None) -> Clients:
    kwargs = {"region_name": "us-east-1", "config": TEST_BOTO_CONFIG}
    if endpoint:
        kwargs["endpoint_url"] = endpoint
    clients = Clients(
        dynamodb=boto3.client("dynamodb", **kwargs),
        cloudwatch=boto3.client("cloudwatch", **kwargs),
        sns=boto3.client("sns", **kwargs),
    )
    clients.count_calls()
    return clients


@pytest.fixture
def moto_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clients]:
    """In-process moto (mock_aws) with injected clients created inside the mock."""
    from moto import mock_aws

    monkeypatch.delenv("AWS_ENDPOINT_URL")
    with mock_aws():
        yield make_test_clients()


@pytest.fixture(scope="session")
def moto_server_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    with moto_server(str(log)) as endpoint:
        yield endpoint


@pytest.fixture
def moto_endpoint(moto_server_session: str) -> str:
    """A moto_server on 127.0.0.1, reset before each test."""
    reset(moto_server_session)
    return moto_server_session


@pytest.fixture
def server_clients(moto_endpoint: str) -> Clients:
    return make_test_clients(moto_endpoint)


def run_cli(
    args: list[str], endpoint: str | None = None, timeout: float = 60, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``dynamic-dynamodb`` command as a user would."""
    env = moto_env(endpoint) if endpoint else {**os.environ}
    env.update(kwargs.pop("extra_env", {}) or {})  # type: ignore[arg-type]
    return subprocess.run(
        [CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False,
        **kwargs,  # type: ignore[arg-type]
    )


def capacity(clients: Clients, table: str, gsi: str | None = None) -> tuple[int, int]:
    """Provisioned (reads, writes) of a table or GSI, as DynamoDB reports it."""
    return table_capacity(clients.dynamodb, table, gsi)


def table_capacity(dynamodb: Any, table: str, gsi: str | None = None) -> tuple[int, int]:
    """The same, asked through a bare boto3 DynamoDB client."""
    description = dynamodb.describe_table(TableName=table)["Table"]
    throughput = description["ProvisionedThroughput"]
    if gsi is not None:
        throughput = next(index["ProvisionedThroughput"]
                          for index in description["GlobalSecondaryIndexes"]
                          if index["IndexName"] == gsi)
    return throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"]
