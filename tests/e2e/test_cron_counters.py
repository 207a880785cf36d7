"""Cron-style ``--run-once`` processes against moto_server: counters and the state file.

Every run is the real ``dynamic-dynamodb`` command in a new process, so anything kept only in
memory is lost between runs, exactly as under cron.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
from pathlib import Path

from demo.seed import Traffic, create_table, put_traffic
from dynamic_dynamodb.aws.clients import Clients
from tests.conftest import run_cli

CONFIG = """\
[table: ^orders$]
num-read-checks-before-scale-down: 3

[gsi: ^by_user$ table: ^orders$]
num-read-checks-before-scale-down: 3
"""


def setup_orders(clients: Clients, tmp_path: Path) -> Path:
    """orders (100/100) with GSI by_user (50/50); reads idle at 10 %, writes busy at 50 %."""
    create_table(clients.dynamodb, "orders", 100, 100, gsis={"by_user": (50, 50)})
    for gsi in (None, "by_user"):
        put_traffic(clients.cloudwatch, clients.dynamodb,
                    Traffic("orders", gsi, consumed_read_percent=10, consumed_write_percent=50))
    config = tmp_path / "dd.conf"
    config.write_text(CONFIG)
    return config


def only_scope(state_file: Path) -> dict:
    """The one account/region entry of a state file (moto's account, us-east-1, its endpoint)."""
    saved = json.loads(state_file.read_text())
    assert saved["version"] == 2
    (scope, entry), = saved["accounts"].items()
    assert scope.startswith("123456789012/us-east-1@http://127.0.0.1:"), scope
    return entry


def capacities(clients: Clients) -> tuple[int, int]:
    """Read capacity of the table and of its GSI."""
    table = clients.dynamodb.describe_table(TableName="orders")["Table"]
    gsi = table["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]
    return table["ProvisionedThroughput"]["ReadCapacityUnits"], gsi["ReadCapacityUnits"]


def test_the_third_cron_run_scales_down_not_the_first_or_second(
    server_clients: Clients, moto_endpoint: str, tmp_path: Path
) -> None:
    config = setup_orders(server_clients, tmp_path)
    # No --state-file: the per-instance default next to the pid file.
    state_file = tmp_path / "dynamic-dynamodb.cron.state.json"
    seen = []
    for _ in range(3):
        result = run_cli(["-c", str(config), "--run-once", "--pid-file-dir", str(tmp_path),
                          "--instance", "cron"], endpoint=moto_endpoint)
        assert result.returncode == 0, result.stdout + result.stderr
        counters = only_scope(state_file)["resources"]
        seen.append((capacities(server_clients), counters["orders"]["counters"]["reads"],
                     counters["orders:by_user"]["counters"]["reads"]))
    assert seen == [((100, 50), 1, 1), ((100, 50), 2, 2), ((50, 25), 0, 0)]
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    saved = only_scope(state_file)
    assert "last_cycle" in saved
    # moto forgets NumberOfDecreasesToday after an update; the state file remembers ours.
    assert list(saved["resources"]["orders"]["decreases"].values()) == [1]
    assert list(saved["resources"]["orders:by_user"]["decreases"].values()) == [1]


def test_a_held_lock_gives_a_clear_message_exit_4_and_no_aws_call(
    server_clients: Clients, moto_endpoint: str, tmp_path: Path
) -> None:
    config = setup_orders(server_clients, tmp_path)
    (tmp_path / "dd.conf").write_text(CONFIG.replace(": 3", ": 1"))  # would scale down at once
    state_file = tmp_path / "dd.state.json"
    holder = os.open(f"{state_file}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)  # "another cron run is still going"
        result = run_cli(["-c", str(config), "--run-once", "--state-file", str(state_file)],
                         endpoint=moto_endpoint)
    finally:
        os.close(holder)
    output = result.stdout + result.stderr
    assert result.returncode == 4, output
    assert "another dynamic-dynamodb process holds the state lock" in output
    assert f"{state_file}.lock" in output
    assert "Cycle done" not in output  # no cycle started
    assert capacities(server_clients) == (100, 50)
    assert not state_file.exists()
    # Once the lock is free, the next run proceeds.
    again = run_cli(["-c", str(config), "--run-once", "--state-file", str(state_file)],
                    endpoint=moto_endpoint)
    assert again.returncode == 0, again.stdout + again.stderr
    assert capacities(server_clients) == (50, 25)


def test_a_corrupt_state_file_is_moved_aside_with_one_warning(
    server_clients: Clients, moto_endpoint: str, tmp_path: Path
) -> None:
    config = setup_orders(server_clients, tmp_path)
    state_file = tmp_path / "dd.state.json"
    state_file.write_text("{truncated by a full disk")
    result = run_cli(["-c", str(config), "--run-once", "--state-file", str(state_file)],
                     endpoint=moto_endpoint)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert output.count("is corrupt (") == 1
    assert Path(f"{state_file}.corrupt").read_text() == "{truncated by a full disk"
    assert only_scope(state_file)["resources"]["orders"]["counters"]["reads"] == 1
    second = run_cli(["-c", str(config), "--run-once", "--state-file", str(state_file)],
                     endpoint=moto_endpoint)
    assert second.returncode == 0
    assert "corrupt" not in second.stdout + second.stderr
    assert only_scope(state_file)["resources"]["orders"]["counters"]["reads"] == 2


def test_a_state_file_in_an_unwritable_directory_never_blocks_scaling_but_exits_3(
    server_clients: Clients, moto_endpoint: str, tmp_path: Path
) -> None:
    config = setup_orders(server_clients, tmp_path)
    blocker = tmp_path / "plain-file"
    blocker.write_text("")  # tests run as root: only a path under a regular file is unwritable
    (tmp_path / "dd.conf").write_text(
        f"[global]\nstate-file: {blocker}/dd.state.json\n" + CONFIG.replace(": 3", ": 1"))
    result = run_cli(["-c", str(config), "--run-once"], endpoint=moto_endpoint)
    output = result.stdout + result.stderr
    assert result.returncode == 3, output  # "something failed": the counters were not saved
    assert "Traceback" not in output
    assert (f"ERROR - cannot write the state file {blocker}/dd.state.json (Not a directory)"
            in output)
    assert "running without a lock" in output
    assert "1 errors" in output  # in the cycle's summary
    assert capacities(server_clients) == (50, 25)  # scaling went on


def test_show_config_documents_the_budget_options(tmp_path: Path) -> None:
    config = tmp_path / "dd.conf"
    config.write_text("[global]\nstate-file: /var/lib/dd/state.json\n[table: ^orders$]\n"
                      "max-decreases-per-day: 20\nreserved-decreases: 1\n"
                      "reserved-decreases-after: 22:00\n")
    result = run_cli(["-c", str(config), "--show-config"])
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["global"]["state-file"] == "/var/lib/dd/state.json"
    table = shown["tables"]["^orders$"]
    assert table["max-decreases-per-day"] == 20
    assert table["reserved-decreases"] == 1
    assert table["reserved-decreases-after"] == "22:00"
    assert table["decrease-cooldown-minutes"] == 0
    assert table["increase-cooldown-minutes"] == 0
