"""The Lambda handler against in-process moto: the configuration from S3 or SSM, the state in
the state table, one cycle per invocation, counters carried from one invocation to the next,
a duplicate invocation that does nothing, and one-line errors for what cannot work."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from demo.seed import Traffic, create_table, put_traffic
from dynamic_dynamodb import logs
from dynamic_dynamodb.aws.clients import Clients
from dynamic_dynamodb.lambda_handler import CONFIG_ENV, HandlerError, handler
from dynamic_dynamodb.state import create_state_table

STATE_TABLE = "dd-state"
CONFIG = f"""\
[global]
state-table: {STATE_TABLE}
check-interval: 60
[table: ^orders$]
num-read-checks-before-scale-down: 3
reads-lower-threshold: 30
decrease-reads-unit: units
decrease-reads-with: 10
"""


@pytest.fixture
def aws(moto_clients: Clients, monkeypatch: pytest.MonkeyPatch) -> Clients:
    """The state table, and "orders" at 10 % of its 100 read units."""
    create_state_table(moto_clients.dynamodb, STATE_TABLE, wait_delay=0.01)
    create_table(moto_clients.dynamodb, "orders", 100, 100)
    put_traffic(moto_clients.cloudwatch, moto_clients.dynamodb, Traffic("orders", None, 10, 50))
    return moto_clients


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The handler sets logging up as the Lambda needs it (stdout, no propagation); leave the
    logging tree as it was, for the caplog of other tests."""
    package = logging.getLogger(logs.ROOT)
    saved = (list(package.handlers), package.level, package.propagate)
    yield
    for installed in list(package.handlers):
        if installed not in saved[0]:
            installed.close()
    package.handlers[:] = saved[0]
    package.setLevel(saved[1])
    package.propagate = saved[2]


def in_s3(text: str = CONFIG) -> str:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="dd-config")
    s3.put_object(Bucket="dd-config", Key="dd/dynamic-dynamodb.conf", Body=text.encode())
    return "s3://dd-config/dd/dynamic-dynamodb.conf"


def in_ssm(text: str = CONFIG) -> str:
    boto3.client("ssm").put_parameter(Name="/dd/config", Value=text, Type="SecureString")
    return "ssm:/dd/config"


def reads(clients: Clients) -> int:
    table = clients.dynamodb.describe_table(TableName="orders")["Table"]
    return int(table["ProvisionedThroughput"]["ReadCapacityUnits"])


def a_minute_later(clients: Clients) -> None:
    """EventBridge's next invocation: the previous one's run-once claim has expired."""
    clients.dynamodb.update_item(
        TableName=STATE_TABLE, Key={"pk": {"S": "lease#default"}, "sk": {"S": "lease"}},
        UpdateExpression="SET expires_at = :past", ExpressionAttributeValues={":past": {"N": "1"}})


@pytest.mark.parametrize("place", [in_s3, in_ssm], ids=["s3", "ssm"])
def test_each_invocation_runs_one_cycle_and_the_next_continues_the_counters(
        aws: Clients, monkeypatch: pytest.MonkeyPatch, place: Any) -> None:
    monkeypatch.setenv(CONFIG_ENV, place())
    first = handler({}, None)
    assert first == {"instance": "default", "config": first["config"], "exit_code": 0,
                     "leader": True, "lease_holder": first["lease_holder"], "tables": 1,
                     "gsis": 0, "updates": 0, "errors": 0, "skipped": 0}
    a_minute_later(aws)
    assert handler({}, None)["updates"] == 0  # the second of three low checks
    assert reads(aws) == 100
    a_minute_later(aws)
    third = handler({}, None)
    assert (third["leader"], third["updates"]) == (True, 1)  # the third: the counter says go
    assert reads(aws) == 90


def test_a_duplicate_invocation_at_the_same_moment_does_nothing(
        aws: Clients, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, in_s3(CONFIG.replace("num-read-checks-before-scale-down: 3",
                                                        "num-read-checks-before-scale-down: 1")))
    assert handler({}, None)["updates"] == 1
    duplicate = handler({}, None)
    assert (duplicate["leader"], duplicate["exit_code"]) == (False, 0)
    assert "updates" not in duplicate  # no cycle ran: nothing to report
    assert reads(aws) == 90


def test_the_handler_writes_no_file_beside_its_temporary_status(
        aws: Clients, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv(CONFIG_ENV, in_s3())
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)  # let gettempdir() see TMPDIR
    handler({}, None)
    assert [path.name for path in tmp_path.iterdir()] == [
        "dynamic-dynamodb.default.run-once.status.json"]


@pytest.mark.parametrize(("location", "message"), [
    ("", f"{CONFIG_ENV} is not set: give the configuration's location, s3://BUCKET/KEY or "
         "ssm:/PARAMETER/NAME"),
    ("file:///etc/dd.conf", f"{CONFIG_ENV}='file:///etc/dd.conf': expected s3://BUCKET/KEY or "
                            "ssm:/PARAMETER/NAME"),
    ("s3://dd-config/missing.conf", "cannot read the configuration s3://dd-config/missing.conf: "
                                 "NoSuchKey (The specified key does not exist.)"),
    ("ssm:/dd/missing", "cannot read the configuration ssm:/dd/missing: ParameterNotFound"),
])
def test_a_configuration_that_cannot_be_read_is_one_line(
        aws: Clients, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        location: str, message: str) -> None:
    in_s3()
    monkeypatch.setenv(CONFIG_ENV, location)
    with pytest.raises(HandlerError) as raised:
        handler({}, None)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_a_bad_option_names_the_location_section_and_option(
        aws: Clients, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, in_s3(CONFIG.replace("check-interval: 60",
                                                        "check-interval: soon")))
    with pytest.raises(HandlerError, match=r"^s3://dd-config/dd/dynamic-dynamodb.conf: \[global\]: "
                                           r"check-interval: "):
        handler({}, None)


def test_without_a_state_table_nothing_runs(aws: Clients, monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv(CONFIG_ENV, in_s3(CONFIG.replace(f"state-table: {STATE_TABLE}\n", "")))
    with pytest.raises(HandlerError, match=r"\[global\]: state-table: is required in AWS Lambda"):
        handler({}, None)
    assert reads(aws) == 100


def test_a_missing_state_table_is_one_line(aws: Clients, monkeypatch: pytest.MonkeyPatch,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    monkeypatch.setenv(CONFIG_ENV, in_s3(CONFIG.replace(STATE_TABLE, "nope")))
    with pytest.raises(HandlerError, match=r"\[global\] state-table: the table nope does not "
                                           r"exist \(create it with --create-state-table\)$"):
        handler({}, None)


class Context:
    """What the handler uses of Lambda's context object."""

    def __init__(self, remaining_ms: int):
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


ONE_CHECK = CONFIG.replace("num-read-checks-before-scale-down: 3",
                           "num-read-checks-before-scale-down: 1")


def test_a_cycle_that_fails_with_exit_1_is_a_failed_invocation(
        aws: Clients, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lease (or the state table, or AccessDenied on it) cannot be used: --run-once exits
    1, and the invocation must count in Lambda's Errors metric, not return as a success."""
    from dynamic_dynamodb.lease import Lease, LeaseError

    def unreadable(self: Lease) -> Any:
        raise LeaseError("cannot read the lease of instance default in the state table "
                         "dd-state: AccessDeniedException (not allowed)")

    monkeypatch.setattr(Lease, "claim", unreadable)
    monkeypatch.setenv(CONFIG_ENV, in_s3(ONE_CHECK))
    with pytest.raises(HandlerError, match=r"^the cycle failed \(exit 1\): cannot read the lease "
                                           r"of instance default .*AccessDeniedException"):
        handler({}, Context(55_000))
    assert reads(aws) == 100


def test_no_update_is_started_that_could_outlast_the_invocation(
        aws: Clients, monkeypatch: pytest.MonkeyPatch) -> None:
    """4 s left of the invocation: less than the 5 s kept to save the state, so the leader
    sends no UpdateTable (Lambda would kill it between the update and the save)."""
    monkeypatch.setenv(CONFIG_ENV, in_s3(ONE_CHECK))
    short = handler({}, Context(4_000))
    assert (short["leader"], short["updates"]) == (True, 0)
    assert reads(aws) == 100
    a_minute_later(aws)
    assert handler({}, Context(55_000))["updates"] == 1  # time enough: the same decision acts
    assert reads(aws) == 90


@pytest.mark.parametrize(("schedule", "claim"), [("rate(1 minute)", 30), ("rate(2 minutes)", 60),
                                                  ("cron(0/2 * * * ? *)", 150)])
def test_the_schedule_sets_the_cadence(aws: Clients, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str], schedule: str,
                                       claim: int) -> None:
    """check-interval 300 under a 1-minute schedule would make the run-once claim last 150 s,
    so two of three invocations would do nothing: the schedule's period is used instead, with
    a warning. A cron expression's period cannot be told: only the warning."""
    from dynamic_dynamodb.lambda_handler import SCHEDULE_ENV

    monkeypatch.setenv(SCHEDULE_ENV, schedule)
    monkeypatch.setenv(CONFIG_ENV, in_s3(CONFIG.replace("check-interval: 60",
                                                        "check-interval: 300")))
    handler({}, Context(55_000))
    lease = aws.dynamodb.get_item(TableName=STATE_TABLE, Key={"pk": {"S": "lease#default"},
                                                              "sk": {"S": "lease"}})["Item"]
    held = float(lease["expires_at"]["N"]) - float(lease["renewed_at"]["N"])
    assert held == pytest.approx(claim)
    logged = capsys.readouterr().out  # the handler logs to stdout (CloudWatch Logs)
    warning = ("Cannot tell the period of the schedule" if schedule.startswith("cron")
               else f"check-interval is 300 s but the schedule is {schedule}: using {2 * claim} s")
    assert warning in logged
