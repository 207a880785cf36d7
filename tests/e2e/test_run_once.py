"""The real ``dynamic-dynamodb --run-once`` against moto_server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

from demo.localaws import free_port
from demo.seed import Traffic, create_table, put_traffic
from dynamic_dynamodb.aws.clients import Clients
from tests.conftest import capacity, run_cli

CONFIG = """\
[global]
region: us-east-1

[default_options]
min-provisioned-reads: 5
max-provisioned-reads: 1000
min-provisioned-writes: 5
max-provisioned-writes: 1000

[table: ^orders$]
[gsi: ^by_user$ table: ^orders$]
[table: ^payg$]
"""


def seed(clients: Clients) -> None:
    create_table(clients.dynamodb, "orders", 100, 100, gsis={"by_user": (200, 200)})
    create_table(clients.dynamodb, "payg", 0, 0, on_demand=True)
    put_traffic(clients.cloudwatch, clients.dynamodb, Traffic("orders", None, 95, 10))
    put_traffic(clients.cloudwatch, clients.dynamodb, Traffic("orders", "by_user", 50, 97))


def test_run_once_scales_tables_and_gsis(
    moto_endpoint: str, server_clients: Clients, tmp_path: Path
) -> None:
    seed(server_clients)
    conf = tmp_path / "dd.conf"
    conf.write_text(CONFIG)

    result = run_cli(["-c", str(conf), "--run-once", "--state-file", str(tmp_path / "s.json")],
                     endpoint=moto_endpoint)

    assert result.returncode == 0, result.stdout + result.stderr
    assert capacity(server_clients, "orders") == (150, 50)
    assert capacity(server_clients, "orders", "by_user") == (200, 300)
    assert "orders - Reads: 95.00% consumed > 90% upper threshold, scaling up from 100 to 150" \
        in result.stdout
    assert "orders - GSI: by_user - Writes: 97.00% consumed > 90% upper threshold, scaling up " \
        "from 200 to 300" in result.stdout
    assert "payg - Table is PAY_PER_REQUEST (on-demand); not scaling it" in result.stdout
    assert "Cycle done: 1 tables and 1 GSIs checked, 2 updates, 1 skipped, 0 errors" \
        in result.stdout
    assert result.stderr == ""


def test_dry_run_changes_nothing_and_tags_the_log(
    moto_endpoint: str, server_clients: Clients, tmp_path: Path
) -> None:
    seed(server_clients)
    conf = tmp_path / "dd.conf"
    conf.write_text(CONFIG)

    result = run_cli(["-c", str(conf), "--run-once", "--dry-run",
                      "--state-file", str(tmp_path / "s.json")], endpoint=moto_endpoint)

    assert result.returncode == 0
    assert capacity(server_clients, "orders") == (100, 100)
    assert capacity(server_clients, "orders", "by_user") == (200, 200)
    assert "dryrun - orders - Dry run: would update reads 100 -> 150 and writes 100 -> 50" \
        in result.stdout


def test_table_name_mode_needs_no_config_file(
    moto_endpoint: str, server_clients: Clients, tmp_path: Path
) -> None:
    seed(server_clients)
    result = run_cli(["-t", "^orders$", "--run-once", "--reads-upper-threshold", "80",
                      "--increase-reads-with", "20", "--state-file", str(tmp_path / "s.json")],
                     endpoint=moto_endpoint)

    assert result.returncode == 0, result.stdout + result.stderr
    # Writes at 10 % with no min: 100 → 50. Reads 95 % > 80 %: +20 %.
    assert capacity(server_clients, "orders") == (120, 50)


def test_unreachable_aws_exits_non_zero_without_traceback(tmp_path: Path) -> None:
    conf = tmp_path / "dd.conf"
    conf.write_text(CONFIG)
    dead = f"http://127.0.0.1:{free_port()}"

    result = run_cli(["-c", str(conf), "--run-once", "--state-file", str(tmp_path / "s.json")],
                     endpoint=dead, timeout=120)

    assert result.returncode == 3
    assert "Cycle failed: EndpointConnectionError" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
