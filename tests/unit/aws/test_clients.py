"""Client construction: credentials precedence, region, retry mode, endpoint variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynamic_dynamodb.aws.clients import error_code, make_clients, resolve_region
from dynamic_dynamodb.config.options import GlobalOptions


def test_explicit_keys_are_used_only_when_both_are_given(monkeypatch: pytest.MonkeyPatch) -> None:
    both = make_clients(GlobalOptions(aws_access_key_id="AKIAEXPLICIT",
                                      aws_secret_access_key="explicit-secret", region="eu-west-1"))
    credentials = both.dynamodb._request_signer._credentials
    assert credentials.access_key == "AKIAEXPLICIT"
    assert both.dynamodb.meta.region_name == "eu-west-1"

    only_id = make_clients(GlobalOptions(aws_access_key_id="AKIAEXPLICIT"))
    # Falls back to the default chain: here the environment set by the test fixture.
    assert only_id.cloudwatch._request_signer._credentials.access_key == "testing"
    assert only_id.sns.meta.region_name == "us-east-1"


def test_standard_retry_mode_and_endpoint_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    clients = make_clients(GlobalOptions())
    assert clients.dynamodb.meta.config.retries["mode"] == "standard"
    assert clients.dynamodb.meta.endpoint_url == "http://127.0.0.1:4566"
    assert clients.cloudwatch.meta.endpoint_url == "http://127.0.0.1:4566"


def test_error_code_reads_the_aws_code_or_names_the_exception() -> None:
    class FakeClientError(Exception):
        def __init__(self) -> None:
            self.response = {"Error": {"Code": "ThrottlingException"}}

    assert error_code(FakeClientError()) == "ThrottlingException"
    assert error_code(ValueError("x")) == "ValueError"


def test_region_comes_from_the_config_then_the_sdk_then_us_east_1(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    # D29: 2.5.1 always used us-east-1, so a host elsewhere silently managed us-east-1.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    assert resolve_region(None) == ("us-east-1", "the default (no region configured or found "
                                                 "by the AWS SDK)")
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    assert resolve_region(None)[0] == "ap-south-1"
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert resolve_region(None)[0] == "eu-west-1"
    assert resolve_region("us-west-2") == ("us-west-2", "configuration")


def test_update_table_has_its_own_tightly_bounded_client() -> None:
    """A leader starts an UpdateTable only if it ends before its lease could expire (lease.py):
    the call goes through a client whose worst case is UPDATE_TABLE_SECONDS, not the 3 × 15 s
    of the others."""
    from dynamic_dynamodb.aws import clients as module

    clients = make_clients(GlobalOptions())
    config = clients.dynamodb_update.meta.config
    assert (config.connect_timeout, config.read_timeout) == (1, 2)
    assert config.retries["total_max_attempts"] == 2
    assert module.UPDATE_TABLE_SECONDS == 2 * (1 + 2) + module.UPDATE_MAX_BACKOFF == 7
    tables = clients.ports().tables
    assert tables.update_client is clients.dynamodb_update  # type: ignore[attr-defined]
    assert tables.client is clients.dynamodb  # type: ignore[attr-defined]
    # Its calls are counted like the others'.
    assert clients.dynamodb_update in clients.all()
