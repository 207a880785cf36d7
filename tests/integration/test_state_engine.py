"""Counters and the decrease ledger across separate runs: one Runner per simulated process.

Each ``--run-once`` is a new Runner on the same state file, against in-process moto, with a
frozen engine clock and CloudWatch data placed exactly in that run's lookback window. The
Runners get their ports injected, so they are told the account (SCOPE is their part of the
file).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from demo.seed import Traffic, create_table, put_traffic
from dynamic_dynamodb.aws.clients import Clients
from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.config.run_options import RunOptions
from dynamic_dynamodb.runner import Runner

UTC = timezone.utc
T0 = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
SCOPE = f"{ACCOUNT}/us-east-1"


def make_config(tmp_path: Path, table: str, state_file: Path | None = None,
                extra: str = "") -> Config:
    state_file = state_file or tmp_path / "state" / "dd.state.json"
    path = tmp_path / "dd.conf"
    path.write_text(f"[global]\nstate-file: {state_file}\n[table: ^orders$]\n{table}\n{extra}")
    return load_config(str(path))


def run_once(config: Config, clients: Clients, tmp_path: Path, now: datetime) -> int:
    """One cron run: a fresh Runner (a new process), loading and saving the state file."""
    args = RunOptions(pid_file_dir=str(tmp_path), instance="test", dry_run=False)
    runner = Runner(config, args, ports=clients.ports(), account=ACCOUNT)
    runner.engine.clock = lambda: now
    return runner.run_once()


def load(clients: Clients, now: datetime, reads: float, writes: float = 50,
         table: str = "orders", gsi: str | None = None) -> None:
    """Consumption as % of the current capacity, in exactly the 5 minutes the run at ``now`` reads."""
    put_traffic(clients.cloudwatch, clients.dynamodb,
                Traffic(table, gsi, consumed_read_percent=reads, consumed_write_percent=writes),
                now=now, minutes=range(11, 16))


def reads_of(clients: Clients, table: str = "orders") -> int:
    return clients.dynamodb.describe_table(TableName=table)["Table"]["ProvisionedThroughput"][
        "ReadCapacityUnits"]


def saved(config: Config) -> dict:
    """This account and region's part of the state file."""
    with open(config.global_options.state_file, encoding="utf-8") as handle:
        return json.load(handle)["accounts"][SCOPE]


def idle_orders(clients: Clients, tmp_path: Path) -> tuple[Config, Path]:
    """The table "orders" at 10 % reads, and a config whose state directory exists."""
    create_table(clients.dynamodb, "orders", 100, 100)
    load(clients, T0, reads=10)
    config = make_config(tmp_path, "")
    state_file = Path(config.global_options.state_file)
    state_file.parent.mkdir(parents=True)
    return config, state_file


@pytest.mark.parametrize("reset_percent", [40, 0])
def test_reset_percent_rule_across_runs(moto_clients: Clients, tmp_path: Path,
                                        reset_percent: int) -> None:
    create_table(moto_clients.dynamodb, "orders", 100, 100)
    config = make_config(tmp_path, "num-read-checks-before-scale-down: 2\n"
                                   f"num-read-checks-reset-percent: {reset_percent}")
    history = []
    for run, reads in enumerate([10, 50, 10, 10]):
        now = T0 + timedelta(minutes=10 * run)
        load(moto_clients, now, reads)
        assert run_once(config, moto_clients, tmp_path, now) == 0
        history.append((saved(config)["resources"]["orders"]["counters"]["reads"],
                        reads_of(moto_clients)))
    if reset_percent:
        # 50 % ≥ 40 % resets the count, so the third run is only check 1 of 2.
        assert history == [(1, 100), (0, 100), (1, 100), (0, 50)]
    else:
        # Without the rule the count is cumulative since the last reset (2.5.1 semantics).
        assert history[:3] == [(1, 100), (1, 100), (0, 50)]


def test_a_decrease_refused_by_a_maintenance_window_keeps_the_count(
    moto_clients: Clients, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dynamic_dynamodb")
    create_table(moto_clients.dynamodb, "orders", 100, 100)
    config = make_config(tmp_path, "num-read-checks-before-scale-down: 2\n"
                                   "maintenance-windows: 02:00-03:00")
    night = datetime(2026, 3, 4, 1, 40, tzinfo=UTC)
    counters = []
    for run in range(3):  # 01:40, 01:50 (outside the window), 02:00 (inside)
        now = night + timedelta(minutes=10 * run)
        load(moto_clients, now, reads=10)
        assert run_once(config, moto_clients, tmp_path, now) == 0
        counters.append((saved(config)["resources"]["orders"]["counters"]["reads"],
                         reads_of(moto_clients)))
    assert counters == [(1, 100), (2, 100), (0, 50)]
    assert any("outside the maintenance windows" in r.getMessage() for r in caplog.records)


def test_the_state_files_own_ledger_enforces_the_quota_where_moto_reports_nothing(
    moto_clients: Clients, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dynamic_dynamodb")
    create_table(moto_clients.dynamodb, "orders", 100, 100)
    config = make_config(tmp_path, "max-decreases-per-day: 1")
    load(moto_clients, T0, reads=10)
    assert run_once(config, moto_clients, tmp_path, T0) == 0
    assert reads_of(moto_clients) == 50
    # moto drops NumberOfDecreasesToday after the update; only the state file knows.
    assert "NumberOfDecreasesToday" not in moto_clients.dynamodb.describe_table(
        TableName="orders")["Table"]["ProvisionedThroughput"]
    later = T0 + timedelta(minutes=10)
    load(moto_clients, later, reads=10)
    assert run_once(config, moto_clients, tmp_path, later) == 0
    assert reads_of(moto_clients) == 50
    assert any("decrease deferred: 1/1 used today, next possible at 00:00 UTC" in r.getMessage()
               for r in caplog.records)
    record = saved(config)["resources"]["orders"]
    assert record["decreases"] == {"2026-03-04": 1}
    assert record["counters"]["reads"] == 1  # deferred = refused: kept (D5)
    # The next UTC day the quota is fresh again.
    tomorrow = T0 + timedelta(days=1)
    load(moto_clients, tomorrow, reads=10)
    assert run_once(config, moto_clients, tmp_path, tomorrow) == 0
    assert reads_of(moto_clients) == 25


def test_tables_and_gsis_that_no_longer_exist_are_pruned(
    moto_clients: Clients, tmp_path: Path
) -> None:
    create_table(moto_clients.dynamodb, "orders", 100, 100, gsis={"by_user": (100, 100),
                                                                  "by_day": (100, 100)})
    create_table(moto_clients.dynamodb, "orders_old", 100, 100)
    config = make_config(tmp_path, "num-read-checks-before-scale-down: 5",
                         extra="[gsi: ^by_ table: ^orders$]\nnum-read-checks-before-scale-down: 5\n"
                               "[table: ^orders_old$]\nnum-read-checks-before-scale-down: 5\n")
    for table, gsi in (("orders", None), ("orders", "by_user"), ("orders", "by_day"),
                       ("orders_old", None)):
        load(moto_clients, T0, reads=10, table=table, gsi=gsi)
    assert run_once(config, moto_clients, tmp_path, T0) == 0
    assert sorted(saved(config)["resources"]) == ["orders", "orders:by_day", "orders:by_user",
                                                  "orders_old"]
    moto_clients.dynamodb.delete_table(TableName="orders_old")
    moto_clients.dynamodb.update_table(
        TableName="orders", GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by_day"}}])
    later = T0 + timedelta(minutes=10)
    load(moto_clients, later, reads=10)
    load(moto_clients, later, reads=10, gsi="by_user")
    assert run_once(config, moto_clients, tmp_path, later) == 0
    resources = saved(config)["resources"]
    # DescribeTable of orders says by_day is gone: forgotten. orders_old is only missing from
    # one listing: kept, with the time it went missing.
    assert sorted(resources) == ["orders", "orders:by_user", "orders_old"]
    assert resources["orders_old"]["missing_since"] == later.isoformat()
    assert resources["orders_old"]["counters"]["reads"] == 1
    assert resources["orders"]["counters"]["reads"] == 2  # the survivors kept counting
    a_day_later = later + timedelta(days=1)
    load(moto_clients, a_day_later, reads=10)
    load(moto_clients, a_day_later, reads=10, gsi="by_user")
    assert run_once(config, moto_clients, tmp_path, a_day_later) == 0
    assert sorted(saved(config)["resources"]) == ["orders", "orders:by_user"]


def test_a_held_lock_stops_the_run_before_any_aws_call(
    moto_clients: Clients, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config, state_file = idle_orders(moto_clients, tmp_path)
    holder = os.open(f"{state_file}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        before = dict(moto_clients.calls)
        assert run_once(config, moto_clients, tmp_path, T0) == 4
        assert dict(moto_clients.calls) == before  # not a single API call
    finally:
        os.close(holder)
    assert reads_of(moto_clients) == 100
    assert not state_file.exists()
    assert any("another dynamic-dynamodb process holds the state lock" in r.getMessage()
               and r.levelno == logging.ERROR for r in caplog.records)
    # Once the other process is gone, the next run works.
    assert run_once(config, moto_clients, tmp_path, T0) == 0
    assert reads_of(moto_clients) == 50


def test_a_state_file_in_an_unwritable_place_does_not_block_scaling_but_fails_the_run(
    moto_clients: Clients, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dynamic_dynamodb")
    create_table(moto_clients.dynamodb, "orders", 100, 100)
    load(moto_clients, T0, reads=10)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    config = make_config(tmp_path, "", state_file=blocker / "dd.state.json")
    assert run_once(config, moto_clients, tmp_path, T0) == 3  # "something failed"
    assert reads_of(moto_clients) == 50
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(m.startswith(f"cannot write the state file {blocker}/dd.state.json (Not a "
                            "directory)") for m in errors)
    assert any("running without a lock" in m for m in errors)
    summary = next(r.getMessage() for r in caplog.records if "Cycle done" in r.getMessage())
    assert "1 errors" in summary  # the failed save is one of the cycle's errors


def test_a_corrupt_state_file_is_set_aside_and_the_run_goes_on(
    moto_clients: Clients, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config, state_file = idle_orders(moto_clients, tmp_path)
    state_file.write_text('{"resources": {"orders": {"counters": {"reads": 1')
    assert run_once(config, moto_clients, tmp_path, T0) == 0
    assert reads_of(moto_clients) == 50
    corrupt = [r for r in caplog.records if "is corrupt" in r.getMessage()]
    assert len(corrupt) == 1 and corrupt[0].levelno == logging.WARNING
    assert Path(f"{state_file}.corrupt").read_text().startswith('{"resources"')
    assert saved(config)["resources"]["orders"]["decreases"] == {"2026-03-04": 1}


def test_a_run_that_finds_the_lock_held_does_not_touch_the_state_file(
    moto_clients: Clients, tmp_path: Path
) -> None:
    config = make_config(tmp_path, "")
    state_file = Path(config.global_options.state_file)
    state_file.parent.mkdir(parents=True)
    state_file.write_text("{half written by the other process")
    holder = os.open(f"{state_file}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert run_once(config, moto_clients, tmp_path, T0) == 4
    finally:
        os.close(holder)
    assert state_file.read_text() == "{half written by the other process"
    assert not Path(f"{state_file}.corrupt").exists()


def test_a_dry_run_uses_its_own_default_state_file(moto_clients: Clients, tmp_path: Path) -> None:
    config_file = tmp_path / "dd.conf"
    config_file.write_text("[table: ^orders$]\n")
    config = load_config(str(config_file))
    real = Runner(config, RunOptions(pid_file_dir=str(tmp_path), instance="i",
                                     dry_run=False), ports=moto_clients.ports())
    preview = Runner(config, RunOptions(pid_file_dir=str(tmp_path), instance="i",
                                        dry_run=True), ports=moto_clients.ports())
    assert real.store.path == str(tmp_path / "dynamic-dynamodb.i.state.json")
    assert preview.store.path == str(tmp_path / "dynamic-dynamodb.i.dry-run.state.json")


def test_a_dry_run_never_moves_the_counters_of_a_configured_state_file(
    moto_clients: Clients, tmp_path: Path
) -> None:
    create_table(moto_clients.dynamodb, "orders", 100, 100)
    config = make_config(tmp_path, "num-read-checks-before-scale-down: 3")

    def run(now: datetime, dry_run: bool) -> None:
        load(moto_clients, now, reads=10)
        args = RunOptions(pid_file_dir=str(tmp_path), instance="test", dry_run=dry_run)
        runner = Runner(config, args, ports=moto_clients.ports(), account=ACCOUNT)
        runner.engine.clock = lambda: now
        assert runner.run_once() == 0

    run(T0, dry_run=False)
    run(T0 + timedelta(minutes=10), dry_run=False)
    # A preview in between decreases (check 3/3) and resets the counter, but in its own file.
    run(T0 + timedelta(minutes=20), dry_run=True)
    assert saved(config)["resources"]["orders"]["counters"]["reads"] == 2
    assert reads_of(moto_clients) == 100
    run(T0 + timedelta(minutes=30), dry_run=False)
    assert reads_of(moto_clients) == 50  # the real third check scales down
    # The preview started from the real counters (2), so it previewed the real decrease.
    preview = json.loads((tmp_path / "state" / "dd.state.dry-run.json").read_text())
    preview = preview["accounts"][SCOPE]
    assert preview["resources"]["orders"]["counters"]["reads"] == 0
    assert preview["resources"]["orders"].get("decreases") is None  # nothing was sent


def test_an_unreadable_state_file_stops_the_run_before_aws_and_is_left_alone(
    moto_clients: Clients, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config, state_file = idle_orders(moto_clients, tmp_path)
    state_file.mkdir()  # unreadable as a file, for root too
    before = dict(moto_clients.calls)
    assert run_once(config, moto_clients, tmp_path, T0) == 1
    assert dict(moto_clients.calls) == before  # not a single API call
    assert reads_of(moto_clients) == 100
    assert state_file.is_dir() and not Path(f"{state_file}.corrupt").exists()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [f"cannot read the state file {state_file} (it is a directory); it is left "
                      "as it is: make it readable or remove it (its counters and decrease "
                      "record are then lost)"]


def test_a_failed_save_is_an_error_of_every_cycle_until_it_works(
    moto_clients: Clients, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dynamic_dynamodb")
    create_table(moto_clients.dynamodb, "orders", 100, 100)
    blocker = tmp_path / "state"
    blocker.write_text("not a directory")
    config = make_config(tmp_path, "num-read-checks-before-scale-down: 5",
                         state_file=blocker / "dd.state.json")
    runner = Runner(config, RunOptions(pid_file_dir=str(tmp_path), instance="test"),
                    ports=moto_clients.ports(), account=ACCOUNT)
    runner.engine.clock = lambda: T0
    load(moto_clients, T0, reads=10)
    for _ in range(3):  # three cycles of a daemon
        assert runner.cycle().errors == 1
        assert runner.save_failed is not None and "Not a directory" in runner.save_failed
    failed = [r for r in caplog.records
              if r.getMessage().startswith("cannot write the state file")]
    assert len(failed) == 3 and {r.levelno for r in failed} == {logging.ERROR}
    summaries = [r.getMessage() for r in caplog.records if "Cycle done" in r.getMessage()]
    assert len(summaries) == 3 and all("1 tables" in s and "1 errors" in s for s in summaries)
    blocker.unlink()
    assert runner.cycle().errors == 0
    assert runner.save_failed is None
    assert "saved again" in caplog.text
    assert saved(config)["resources"]["orders"]["counters"]["reads"] == 4  # kept in memory


class FailingSts:
    def __init__(self) -> None:
        self.calls = 0

    def get_caller_identity(self) -> dict:
        from tests.fakes import client_error

        self.calls += 1
        raise client_error("ExpiredToken", "GetCallerIdentity")


def test_the_account_comes_from_sts_once_per_process(
    moto_clients: Clients, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    import boto3

    from dynamic_dynamodb import fleet as fleet_module

    config, state_file = idle_orders(moto_clients, tmp_path)
    moto_clients.sts = boto3.client("sts", region_name="us-east-1")
    asked = []
    moto_clients.sts.meta.events.register("before-call.sts.GetCallerIdentity",
                                          lambda **_: asked.append(1))
    monkeypatch.setattr(fleet_module, "make_clients", lambda _options: moto_clients)
    runner = Runner(config, RunOptions(pid_file_dir=str(tmp_path), instance="test"))
    runner.engine.clock = lambda: T0
    for _ in range(2):
        runner.cycle()
    assert len(asked) == 1
    assert list(json.loads(state_file.read_text())["accounts"]) == [SCOPE]

    # STS fails: "unknown-account" with one warning, asked again only an hour later.
    failing = FailingSts()
    moto_clients.sts = failing
    other = Runner(config, RunOptions(pid_file_dir=str(tmp_path), instance="test"))
    other.engine.clock = lambda: T0
    for _ in range(3):
        other.cycle()
    assert failing.calls == 1
    warnings = warnings_of(caplog, "Cannot tell the AWS account")
    assert len(warnings) == 1 and "ExpiredToken" in warnings[0]
    assert sorted(json.loads(state_file.read_text())["accounts"]) == [
        SCOPE, "unknown-account/us-east-1"]


def warnings_of(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and text in r.getMessage()]
