"""Several accounts and regions: the location options, their grouping, and a runner checking
each location on its own (issue 14, part 3)."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dynamic_dynamodb import fleet, logs
from dynamic_dynamodb.aws.clients import AssumedRole
from dynamic_dynamodb.aws.ports import Ports
from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.config.options import LoggingOptions
from dynamic_dynamodb.config.run_options import RunOptions
from dynamic_dynamodb.errors import ConfigError
from dynamic_dynamodb.fleet import Location
from dynamic_dynamodb.log_format import formatter
from dynamic_dynamodb.runner import EXIT_FAILURES, Runner, StopNow
from dynamic_dynamodb.state import StateWriteError
from tests.fakes import FakeAws

OWN = "111111111111"
OTHER = "222222222222"
ROLE = f"arn:aws:iam::{OTHER}:role/dynamic-dynamodb"


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "dd.conf"
    path.write_text(text)
    return load_config(str(path))


# ---- options and grouping -----------------------------------------------------------------

def test_sections_group_into_locations_default_first_then_in_file_order(tmp_path: Path) -> None:
    config = load(tmp_path, f"""\
[default_options]
role-session-name: dd-prod
[table: ^a]
region: eu-west-1
[table: ^b]
[table: ^c]
region: us-east-1
[table: ^d]
region: eu-west-1
role-arn: {ROLE}
external-id: shared-secret
[table: ^e]
region: eu-west-1
""")

    places = fleet.locations(config, "us-east-1")

    role = AssumedRole(ROLE, "shared-secret", "dd-prod")
    assert places == (Location("us-east-1"), Location("eu-west-1"),
                      Location("eu-west-1", role))
    assert role.account == OTHER
    # A location's engine sees only its sections, in file order (first match wins among them).
    assert [s.regex for s in fleet.restricted(config, places[0], "us-east-1").tables] == [
        "^b", "^c"]
    assert [s.regex for s in fleet.restricted(config, places[1], "us-east-1").tables] == [
        "^a", "^e"]
    assert [s.regex for s in fleet.restricted(config, places[2], "us-east-1").tables] == ["^d"]


def test_default_options_set_the_location_of_every_section(tmp_path: Path) -> None:
    config = load(tmp_path, f"""\
[default_options]
region: ap-south-1
role-arn: {ROLE}
[table: ^a]
[table: ^b]
region: us-east-1
""")

    places = fleet.locations(config, "us-east-1")

    assert places == (Location("ap-south-1", AssumedRole(ROLE)),
                      Location("us-east-1", AssumedRole(ROLE)))


def test_one_section_without_location_options_is_one_default_location(tmp_path: Path) -> None:
    config = load(tmp_path, "[global]\nregion: eu-west-1\n[table: ^a]\n[table: ^b]\n")
    assert fleet.locations(config, "eu-west-1") == (Location("eu-west-1"),)


@pytest.mark.parametrize(("text", "expected"), [
    ("[table: ^a]\nrole-arn: arn:aws:iam::1234:role/x\n",
     "dd.conf: [table: ^a]: role-arn: expected an IAM role ARN such as "
     "arn:aws:iam::123456789012:role/dynamic-dynamodb (12-digit account id), got "
     "'arn:aws:iam::1234:role/x'"),
    ("[table: ^a]\nrole-arn: arn:aws:iam::123456789012:user/x\n",
     "dd.conf: [table: ^a]: role-arn: expected an IAM role ARN"),
    ("[table: ^a]\nexternal-id: abc\n",
     "dd.conf: [table: ^a]: external-id: is set but the section has no role-arn"),
    ("[default_options]\nexternal-id: abc\n[table: ^a]\nrole-arn: " + ROLE + "\n[table: ^b]\n",
     "dd.conf: [table: ^b]: external-id: is set (from [default_options]) but the section has "
     "no role-arn"),
    ("[table: ^a]\nrole-arn: " + ROLE + "\nrole-session-name: has space\n",
     "dd.conf: [table: ^a]: role-session-name: expected 2 to 64 characters"),
    ("[table: ^a]\n[gsi: ^g table: ^a]\nrole-arn: " + ROLE + "\n",
     "dd.conf: [gsi: ^g table: ^a]: role-arn: cannot be set for a GSI: a GSI is where its "
     "table is; set it in [table: ^a]"),
    ("[default_options]\nregion: not a region\n[table: ^a]\n",
     "dd.conf: [default_options]: region: expected an AWS region name"),
])
def test_bad_location_options_name_file_section_and_option(
        tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text)
    assert str(raised.value).startswith(f"{tmp_path}/{expected}")


def test_the_cli_reports_a_bad_role_arn_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dynamic_dynamodb.cli import main

    path = tmp_path / "dd.conf"
    path.write_text("[table: ^a]\nrole-arn: arn:aws:iam::42:role/x\n")

    assert main(["-c", str(path), "--run-once"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "[table: ^a]: role-arn: expected an IAM role ARN" in err


# ---- the runner over several locations ----------------------------------------------------

CONFIG = f"""\
[global]
region: us-east-1
error-after-failed-cycles: 2
metrics-textfile: {{textfile}}

[default_options]
sns-topic-arn: arn:aws:sns:us-east-1:{OWN}:ops
sns-message-types: scale-up, error

[table: ^orders$]

[table: ^orders]
region: eu-west-1
role-arn: {ROLE}
"""


@pytest.fixture(autouse=True)
def _propagate(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(logging.getLogger("dynamic_dynamodb"), "propagate", True)
    yield


@pytest.fixture
def two(tmp_path: Path) -> tuple[Config, FakeAws, FakeAws]:
    """orders in our account (us-east-1) and in the role's account (eu-west-1), both read at
    95 % of their capacity."""
    config = load(tmp_path, CONFIG.format(textfile=tmp_path / "dd.prom"))
    own, other = FakeAws(), FakeAws()
    for aws in (own, other):
        aws.tables.add("orders", 100, 100)
        aws.traffic("orders", None, 95, 50)
    return config, own, other


def runner_for(tmp_path: Path, config: Config, own: FakeAws, other: FakeAws) -> Runner:
    def ports_for(location: Location) -> Ports:
        assert location == Location("eu-west-1", AssumedRole(ROLE))
        return other.ports()

    return Runner(config, RunOptions(pid_file_dir=str(tmp_path), instance="test"),
                  ports=own.ports(), ports_for=ports_for, account=OWN,
                  state_file=str(tmp_path / "dd.state.json"))


def messages(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno == level]


def test_each_location_is_checked_and_named(
        tmp_path: Path, two: tuple[Config, FakeAws, FakeAws],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="dynamic_dynamodb")
    config, own, other = two
    runner = runner_for(tmp_path, config, own, other)

    report = runner.cycle()

    assert (report.tables, report.updates, report.errors) == (2, 2, 0)
    assert own.tables.capacity("orders") == (150, 100)
    assert other.tables.capacity("orders") == (150, 100)
    lines = messages(caplog)
    for where in (f"{OWN}/us-east-1", f"{OTHER}/eu-west-1"):
        assert f"{where} - orders - Reads: 95.00% consumed > 90% upper threshold, scaling up " \
            "from 100 to 150" in lines
    # SNS names the location too (the same table name is in both).
    (_, subject, body), = own.notifier.published
    assert subject == f"[{OWN}/us-east-1] Updated provisioning for table orders"
    assert body.startswith(f"AWS account {OWN}, region us-east-1.\n\n")
    assert other.notifier.published[0][1].startswith(f"[{OTHER}/eu-west-1] ")
    # Each location has its own state scope.
    state = json.loads((tmp_path / "dd.state.json").read_text())
    assert sorted(state["accounts"]) == [f"{OWN}/us-east-1", f"{OTHER}/eu-west-1"]
    # The per-table metrics carry account and region: no collision between the two orders.
    text = (tmp_path / "dd.prom").read_text()
    for account, region in ((OWN, "us-east-1"), (OTHER, "eu-west-1")):
        assert (f'dynamic_dynamodb_provisioned_capacity_units{{account="{account}",'
                f'dimension="reads",gsi="",region="{region}",runner="test",table="orders"}} '
                "150.0") in text


def test_a_denied_assume_role_fails_only_its_location(
        tmp_path: Path, two: tuple[Config, FakeAws, FakeAws],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="dynamic_dynamodb")
    config, own, other = two
    # What botocore raises from the first call that needs the role's credentials.
    other.journal.fail("ListTables", "AccessDenied", times=4,
                       message="User is not authorized to perform: sts:AssumeRole")
    runner = runner_for(tmp_path, config, own, other)

    reports = [runner.cycle() for _ in range(3)]

    assert [(r.tables, r.updates, r.errors) for r in reports] == [(1, 1, 1), (1, 0, 1), (1, 0, 1)]
    assert own.tables.capacity("orders") == (150, 100)
    failed = [line for line in messages(caplog, logging.ERROR)
              if line.startswith(f"{OTHER}/eu-west-1 - Cycle failed for this account and region: "
                                 "AccessDenied")]
    assert len(failed) == 3  # one line per cycle
    # After error-after-failed-cycles (2) in a row: once, an error SNS to its sections' topic.
    errors = [(subject, body) for _, subject, body in other.notifier.published
              if "error" in subject]
    assert errors == [(f"[{OTHER}/eu-west-1] dynamic-dynamodb error: no successful cycle",
                       f"AWS account {OTHER}, region eu-west-1.\n\nNo check cycle has succeeded "
                       f"for 2 cycles in a row in AWS account {OTHER}, region eu-west-1; its "
                       "tables are not being scaled. Last failure: AccessDenied (An error "
                       "occurred (AccessDenied) when calling the ListTables operation: User is "
                       "not authorized to perform: sts:AssumeRole)\n")]
    assert runner.run_once() == EXIT_FAILURES  # a failed location is an error of the run


def test_the_whole_cycle_fails_only_when_every_location_fails(
        tmp_path: Path, two: tuple[Config, FakeAws, FakeAws]) -> None:
    config, own, other = two
    own.journal.fail("ListTables", "AccessDenied")
    other.journal.fail("ListTables", "AccessDenied")
    runner = runner_for(tmp_path, config, own, other)

    assert runner._guarded_cycle() == ("2 errors and no table or GSI could be checked", None)
    assert runner._guarded_cycle() is None


def test_json_logs_carry_the_account_and_region() -> None:
    record_of: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            record_of.append(record)

    log = logging.getLogger("dynamic_dynamodb.test_fleet")
    handler = Keep()
    log.addHandler(handler)
    try:
        with logs.location(f"{OTHER}/eu-west-1"):
            log.warning("orders - %s", "something")
        log.warning("no location")
    finally:
        log.removeHandler(handler)

    shown = formatter(LoggingOptions(log_format="json"), dry_run=False)
    first, second = (json.loads(shown.format(record)) for record in record_of)
    assert first["message"] == f"{OTHER}/eu-west-1 - orders - something"
    assert (first["account"], first["region"]) == (OTHER, "eu-west-1")
    assert second["message"] == "no location" and "account" not in second


def test_one_location_logs_and_exports_as_before(
        tmp_path: Path, two: tuple[Config, FakeAws, FakeAws],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="dynamic_dynamodb")
    _, own, _ = two
    config = load(tmp_path, CONFIG.format(textfile=tmp_path / "dd.prom").split(
        "[table: ^orders]")[0])
    runner = Runner(config, RunOptions(pid_file_dir=str(tmp_path), instance="test"),
                    ports=own.ports(), account=OWN, state_file=str(tmp_path / "s.json"))

    runner.cycle()

    assert "orders - Reads: 95.00% consumed > 90% upper threshold, scaling up from 100 to 150" \
        in messages(caplog)
    assert not any(line.startswith(f"{OWN}/") for line in messages(caplog))
    assert own.notifier.published[0][1] == "Updated provisioning for table orders"
    assert ('dynamic_dynamodb_provisioned_capacity_units{dimension="reads",gsi="",'
            'runner="test",table="orders"} 150.0') in (tmp_path / "dd.prom").read_text()


def test_a_reload_adds_a_location_and_keeps_the_running_one(
        tmp_path: Path, two: tuple[Config, FakeAws, FakeAws]) -> None:
    config, own, other = two
    single = load(tmp_path, CONFIG.format(textfile=tmp_path / "dd.prom").split(
        "[table: ^orders]")[0])
    runner = runner_for(tmp_path, single, own, other)
    runner.reload_config = lambda: config
    first = runner.engine

    runner._reload()

    assert [lane.location for lane in runner.lanes] == [
        Location("us-east-1"), Location("eu-west-1", AssumedRole(ROLE))]
    assert runner.engine is first
    assert [s.regex for s in runner.engine.config.tables] == ["^orders$"]
    assert runner.cycle().updates == 2


def test_one_locations_failed_save_does_not_stop_the_others(
        tmp_path: Path, two: tuple[Config, FakeAws, FakeAws],
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    config, own, other = two
    runner = runner_for(tmp_path, config, own, other)
    saved: list[str] = []
    real_save = runner.store.save

    def save(state: Any) -> None:
        if state.scope.startswith(OWN):
            raise StateWriteError("cannot write the state file: disk full")
        saved.append(state.scope)
        real_save(state)

    monkeypatch.setattr(runner.store, "save", save)
    report = runner.cycle()
    assert saved == [f"{OTHER}/eu-west-1"]
    assert report.errors == 1
    assert runner.save_failed == "cannot write the state file: disk full"
    stored = json.loads((tmp_path / "dd.state.json").read_text())
    assert list(stored["accounts"]) == [f"{OTHER}/eu-west-1"]


def test_a_forced_stop_saves_no_location_still_running_and_keeps_the_lease(
        tmp_path: Path, two: tuple[Config, FakeAws, FakeAws],
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """StopNow (a call still hanging after the stop grace time) while a location's thread is
    busy: that thread may still change its state and send an UpdateTable, so its state is not
    serialised under it, and the lease is left to expire rather than handed over."""
    config, own, other = two
    monkeypatch.setattr(fleet, "MAX_PARALLEL_LOCATIONS", 1)  # own first, then other: in order
    runner = runner_for(tmp_path, config, own, other)
    release = threading.Event()
    hung = runner.lanes[1].engine.ports.tables
    real_list = hung.list_tables

    def hanging_list() -> list[str]:
        os.kill(os.getpid(), signal.SIGALRM)  # the stop alarm, as after STOP_GRACE_SECONDS
        release.wait(30)
        return real_list()

    def stop_now(*_: Any) -> None:
        raise StopNow

    monkeypatch.setattr(hung, "list_tables", hanging_list)
    previous = signal.signal(signal.SIGALRM, stop_now)
    try:
        with pytest.raises(StopNow):
            runner.cycle()
    finally:
        signal.signal(signal.SIGALRM, previous)
        release.set()
    stored = json.loads((tmp_path / "dd.state.json").read_text())
    # The finished location is saved; the hung one not (its scope as it was loaded: empty).
    assert stored["accounts"][f"{OWN}/us-east-1"]["resources"]
    assert not stored["accounts"].get(f"{OTHER}/eu-west-1", {}).get("resources")
    assert "last_cycle" not in stored["accounts"].get(f"{OTHER}/eu-west-1", {})
    assert runner.lanes_running

    released: list[bool] = []

    class Held:
        def release(self) -> bool:
            released.append(True)
            return True

    runner.lease = Held()  # type: ignore[assignment]
    runner.release_lease()
    assert released == []
    assert "not releasing the lease: a location's thread may still be updating" in caplog.text
