"""Files only where the operator put them, and only theirs; state never thrown away on a guess.

The real ``dynamic-dynamodb`` command against moto_server (D30). Tests run as root, so
"another user" is uid 65534 (``os.chown``), and "unreadable" is a directory at the state
path (permissions do not stop root).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import boto3
import pytest

from demo.seed import Traffic, create_table, put_traffic
from dynamic_dynamodb.aws.clients import Clients
from dynamic_dynamodb.paths import INSTANCE_RULE
from tests.conftest import run_cli
from tests.e2e.test_daemon_support import Daemons, alive, daemons

__all__ = ["daemons"]  # the fixture, imported for this module

OTHER_UID = 65534
PRECIOUS = "precious\n"
CONFIG = "[table: ^orders$]\nnum-read-checks-before-scale-down: 3\n"


class Planted:
    """A run directory for the daemon's files, and an outside directory that a planted link
    points at: nothing may ever be created or changed there."""

    def __init__(self, tmp_path: Path):
        self.run = tmp_path / "run"
        self.outside = tmp_path / "outside"
        self.outside.mkdir()
        (self.outside / "existing").write_text(PRECIOUS)

    def fresh_run_dir(self) -> Path:
        shutil.rmtree(self.run, ignore_errors=True)
        self.run.mkdir(mode=0o700)
        return self.run

    def link(self, name: str, kind: str) -> Path:
        """A link at run/<name> to an existing outside file, or to one that does not exist."""
        path = self.fresh_run_dir() / name
        path.symlink_to(self.outside / ("existing" if kind == "existing" else "created"))
        return path

    def untouched(self) -> bool:
        return (sorted(p.name for p in self.outside.iterdir()) == ["existing"]
                and (self.outside / "existing").read_text() == PRECIOUS)


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "error" in line.lower()]


def setup_orders(clients: Clients, tmp_path: Path) -> Path:
    create_table(clients.dynamodb, "orders", 100, 100)
    put_traffic(clients.cloudwatch, clients.dynamodb,
                Traffic("orders", None, consumed_read_percent=10, consumed_write_percent=50))
    config = tmp_path / "dd.conf"
    config.write_text(CONFIG)
    return config


def accounts(state_file: Path) -> dict:
    saved = json.loads(state_file.read_text())
    assert saved["version"] == 2
    return saved["accounts"]


# ---- links ------------------------------------------------------------------------------------

PID = "dynamic-dynamodb.default.pid"
STATE = "dynamic-dynamodb.default.state.json"
DAEMON_PATHS = [(PID, "the pid file"), (f"{PID}.starting", "the start lock"),
                (STATE, "the state file"), (f"{STATE}.lock", "the state lock")]


def test_links_at_the_pid_lock_and_state_paths_are_refused_and_followed_nowhere(
        daemons: Daemons, tmp_path: Path) -> None:
    planted = Planted(tmp_path)
    for name, what in DAEMON_PATHS:
        for kind in ("dangling", "existing"):
            path = planted.link(name, kind)
            result = daemons.cli("-c", str(daemons.config), "--daemon", "start",
                                 "--pid-file-dir", str(planted.run), timeout=30)
            assert result.returncode == 1, (name, kind, result.stdout, result.stderr)
            assert result.stderr == (f"dynamic-dynamodb: error: refusing to use {what} {path}: "
                                     "it is a symbolic link (remove it; links are not followed "
                                     "here). Daemon not started\n"), (name, kind)
            assert "Daemon started" not in result.stdout
            assert planted.untouched(), (name, kind)
            assert path.is_symlink()
    # --run-once (cron) refuses the state file and its lock the same way, before any AWS call
    # (O_NOFOLLOW: a dangling and an existing target fail alike, so one of each).
    for (name, what), kind in zip(DAEMON_PATHS[2:], ("existing", "dangling"), strict=True):
        path = planted.link(name, kind)
        result = daemons.cli("-c", str(daemons.config), "--run-once", "--pid-file-dir",
                             str(planted.run), timeout=30)
        assert result.returncode == 1, (name, kind, result.stdout, result.stderr)
        errors = error_lines(result.stdout + result.stderr)
        assert len(errors) == 1 and errors[0].endswith(
            f"ERROR - refusing to use {what} {path}: it is a symbolic link (remove it; "
            "links are not followed here)"), errors
        assert "Cycle done" not in result.stdout
        assert planted.untouched(), (name, kind)


# ---- other users' files, open directories -----------------------------------------------------

def test_files_and_directories_of_another_user_or_open_to_all_are_refused(
        daemons: Daemons, tmp_path: Path) -> None:
    planted = Planted(tmp_path)

    def start(pid_dir: Path) -> str:
        result = daemons.cli("-c", str(daemons.config), "--daemon", "start", "--pid-file-dir",
                             str(pid_dir), timeout=30)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Daemon started" not in result.stdout
        assert len(result.stderr.splitlines()) == 1, result.stderr
        return result.stderr

    for name, what in [(PID, "the pid file"), (STATE, "the state file")]:
        path = planted.fresh_run_dir() / name
        path.write_text("1\n" if name == PID else '{"version": 2, "accounts": {}}')
        os.chown(path, OTHER_UID, OTHER_UID)
        before = path.read_text()
        assert start(planted.run) == (
            f"dynamic-dynamodb: error: refusing to use {what} {path}: it is owned by uid "
            f"{OTHER_UID}, not by uid 0 that runs dynamic-dynamodb (nor root). Daemon not "
            "started\n")
        assert path.read_text() == before and path.stat().st_uid == OTHER_UID
        # Nothing else made, but the start lock of the run directory itself.
        assert {p.name for p in planted.run.iterdir()} <= {name, f"{PID}.starting"}

    foreign = planted.fresh_run_dir()
    os.chown(foreign, OTHER_UID, OTHER_UID)
    assert (f"refusing to use the pid file directory {foreign}: it is owned by uid {OTHER_UID}"
            in start(foreign))
    assert list(foreign.iterdir()) == []

    open_dir = planted.fresh_run_dir()
    open_dir.chmod(0o777)
    assert start(open_dir) == (
        f"dynamic-dynamodb: error: refusing to use the pid file directory {open_dir}: others "
        "can write to it and it has no sticky bit (mode 0777). Daemon not started\n")
    # --run-once with a state file in such a directory: refused before any AWS call.
    result = daemons.cli("-c", str(daemons.config), "--run-once", "--state-file",
                         str(open_dir / "s.json"), timeout=30)
    assert result.returncode == 1, result.stdout + result.stderr
    errors = error_lines(result.stdout + result.stderr)
    assert len(errors) == 1 and errors[0].endswith(
        f"ERROR - refusing to use the state directory {open_dir}: others can write to it and it "
        "has no sticky bit (mode 0777)")
    assert list(open_dir.iterdir()) == []
    assert planted.untouched()


# ---- instance names and default directories ---------------------------------------------------

def test_instance_names_are_names(tmp_path: Path) -> None:
    for bad in (".hidden", "../../etc/cron.d/x", "a b"):
        result = run_cli(["--daemon", "status", "--instance", bad])
        assert result.returncode == 2, bad
        assert result.stderr.splitlines()[-1] == (
            f"dynamic-dynamodb: error: argument --instance: invalid instance name {bad!r}: "
            f"{INSTANCE_RULE}")
    shown = run_cli(["-t", "^orders$", "--show-config", "--instance", "eu-west-1.prod"],
                    extra_env={"STATE_DIRECTORY": ""})
    assert shown.returncode == 0, shown.stderr
    # Root without systemd's STATE_DIRECTORY: /var/lib/dynamic-dynamodb, no longer /tmp.
    assert json.loads(shown.stdout)["global"]["state-file"] == (
        "/var/lib/dynamic-dynamodb/dynamic-dynamodb.eu-west-1.prod.state.json (default)")


def test_default_directories_are_made_private(daemons: Daemons, server_clients: Clients,
                                              tmp_path: Path) -> None:
    # conftest points RUNTIME_DIRECTORY and STATE_DIRECTORY (systemd's) at this test's dirs.
    runtime, state = Path(os.environ["RUNTIME_DIRECTORY"]), Path(os.environ["STATE_DIRECTORY"])
    create_table(server_clients.dynamodb, "t1", 10, 10)
    started = daemons.cli("-c", str(daemons.config), "--daemon", "start", "--log-file",
                          str(daemons.log))
    assert started.returncode == 0, started.stderr
    assert f"pid file {runtime}/{PID}" in started.stdout
    pid = int((runtime / PID).read_text())
    daemons.pids.add(pid)
    daemons.wait_log("Cycle done")
    assert (state / STATE).exists() and not (runtime / STATE).exists()
    for directory in (runtime, state):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / STATE).stat().st_mode) == 0o600
    assert daemons.cli("--daemon", "status").returncode == 0
    assert daemons.cli("--daemon", "stop").returncode == 0
    assert not alive(pid) and not (runtime / PID).exists()


# ---- state is never thrown away on a guess ----------------------------------------------------

def test_another_region_and_another_account_leave_the_first_ones_state_intact(
        server_clients: Clients, moto_endpoint: str, tmp_path: Path) -> None:
    config = setup_orders(server_clients, tmp_path)
    state_file = tmp_path / "s.json"
    args = ["-c", str(config), "--run-once", "--state-file", str(state_file)]

    def run(*extra: str, **env: str) -> None:
        result = run_cli([*args, *extra], endpoint=moto_endpoint, extra_env=env)
        assert result.returncode == 0, result.stdout + result.stderr

    run()
    (home, entry), = accounts(state_file).items()
    assert home == f"123456789012/us-east-1@{moto_endpoint}"
    assert entry["resources"]["orders"]["counters"]["reads"] == 1
    # us-west-2 has no table "orders": that run must neither forget nor mark it.
    run("--region", "us-west-2")
    saved = accounts(state_file)
    assert saved[home] == entry
    assert saved[f"123456789012/us-west-2@{moto_endpoint}"]["resources"] == {}
    # Another account (moto keeps accounts apart by their keys): its own entry too.
    sts = boto3.client("sts", endpoint_url=moto_endpoint, region_name="us-east-1")
    keys = sts.assume_role(RoleArn="arn:aws:iam::111122223333:role/scaler",
                           RoleSessionName="test")["Credentials"]
    run(AWS_ACCESS_KEY_ID=keys["AccessKeyId"], AWS_SECRET_ACCESS_KEY=keys["SecretAccessKey"],
        AWS_SESSION_TOKEN=keys["SessionToken"])
    saved = accounts(state_file)
    assert saved[home] == entry
    assert saved[f"111122223333/us-east-1@{moto_endpoint}"]["resources"] == {}
    # Back home: the counter goes on from where it was.
    run()
    assert accounts(state_file)[home]["resources"]["orders"]["counters"]["reads"] == 2


def test_a_version_1_state_file_is_migrated_without_losing_anything(
        server_clients: Clients, moto_endpoint: str, tmp_path: Path) -> None:
    config = setup_orders(server_clients, tmp_path)
    state_file = tmp_path / "s.json"
    state_file.write_text(json.dumps({"version": 1, "last_cycle": "2026-03-04T12:00:00+00:00",
                                      "resources": {"orders": {"counters": {"reads": 2,
                                                                            "writes": 0}},
                                                    "old_table": {"counters": {"reads": 1}}}}))
    result = run_cli(["-c", str(config), "--run-once", "--state-file", str(state_file)],
                     endpoint=moto_endpoint)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "version 1 format; its entries now belong to 123456789012/us-east-1@" in result.stdout
    (entry,) = accounts(state_file).values()
    # The third check in a row: scaled down, and the counter reset.
    assert entry["resources"]["orders"]["counters"]["reads"] == 0
    assert server_clients.dynamodb.describe_table(TableName="orders")["Table"][
        "ProvisionedThroughput"]["ReadCapacityUnits"] == 50
    # A table missing from one listing is kept (with the time it went missing).
    assert entry["resources"]["old_table"]["counters"] == {"reads": 1}
    assert "missing_since" in entry["resources"]["old_table"]


def test_an_unreadable_state_file_stops_the_run_and_is_not_moved(
        daemons: Daemons, server_clients: Clients, tmp_path: Path) -> None:
    config = setup_orders(server_clients, tmp_path)
    state_file = tmp_path / "s.json"
    state_file.mkdir()  # unreadable as a file, for root too
    (state_file / "inside").write_text("kept")
    result = daemons.cli("-c", str(config), "--run-once", "--state-file", str(state_file))
    assert result.returncode == 1, result.stdout + result.stderr
    errors = error_lines(result.stdout + result.stderr)
    assert len(errors) == 1 and errors[0].endswith(
        f"ERROR - cannot read the state file {state_file} (it is a directory); it is left as it "
        "is: make it readable or remove it (its counters and decrease record are then lost)")
    assert "Cycle done" not in result.stdout
    started = daemons.cli("-c", str(config), "--daemon", "start", "--state-file",
                          str(state_file), "--pid-file-dir", str(daemons.pid_dir))
    assert started.returncode == 1
    assert started.stderr.startswith(f"dynamic-dynamodb: error: cannot read the state file "
                                     f"{state_file} (it is a directory)")
    assert started.stderr.endswith(". Daemon not started\n")
    assert (state_file / "inside").read_text() == "kept"
    assert not Path(f"{state_file}.corrupt").exists()
    assert server_clients.dynamodb.describe_table(TableName="orders")["Table"][
        "ProvisionedThroughput"]["ReadCapacityUnits"] == 100


@pytest.mark.parametrize("mode", ["foreground", ""])
def test_the_foreground_loop_refuses_an_unsafe_state_file_at_once(
        daemons: Daemons, tmp_path: Path, mode: str) -> None:
    state_file = tmp_path / "s.json"
    state_file.symlink_to(tmp_path / "elsewhere")
    args = ["-c", str(daemons.config), "--state-file", str(state_file)]
    if mode:
        args += ["--daemon", mode]
    result = daemons.cli(*args, timeout=30)
    assert result.returncode == 1
    assert result.stderr == (f"dynamic-dynamodb: error: refusing to use the state file "
                             f"{state_file}: it is a symbolic link (remove it; links are not "
                             "followed here)\n")
    assert not (tmp_path / "elsewhere").exists()
