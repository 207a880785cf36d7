"""``--log-format json``: one JSON object per log record, decisions as data (the real command)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from demo.seed import Traffic, create_table, put_traffic
from dynamic_dynamodb.aws.clients import Clients
from tests.conftest import make_test_clients, run_cli
from tests.e2e.test_daemon_support import Daemons, daemons
from tests.e2e.test_run_once import seed  # orders with a GSI, and an on-demand table

__all__ = ["daemons"]

CONFIG = """\
[table: ^orders$]
min-provisioned-reads: 5
min-provisioned-writes: 5
[gsi: ^by_user$ table: ^orders$]
"""


def records(text: str) -> list[dict[str, Any]]:
    """Every line must be one JSON object."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def decisions(lines: list[dict[str, Any]]) -> dict[tuple[str, str | None, str], dict[str, Any]]:
    found = {}
    for line in lines:
        if "decision" in line:
            decision = line["decision"]
            found[(decision["table"], decision["gsi"], decision["dimension"])] = decision
    return found


def test_run_once_logs_one_json_object_per_line_with_decisions(
    moto_endpoint: str, server_clients: Clients, tmp_path: Path
) -> None:
    seed(server_clients)
    conf = tmp_path / "dd.conf"
    conf.write_text(CONFIG)
    result = run_cli(["-c", str(conf), "--run-once", "--log-format", "json",
                      "--state-file", str(tmp_path / "s.json")], endpoint=moto_endpoint)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = records(result.stdout)
    assert {line["logger"].split(".")[0] for line in lines} == {"dynamic_dynamodb"}
    assert all(line["dry_run"] is False and line["time"].endswith("+00:00") for line in lines)
    found = decisions(lines)
    reads = found[("orders", None, "reads")]
    assert (reads["outcome"], reads["trigger"]) == ("scaled-up-consumed",
                                                    "consumed-above-upper-threshold")
    assert (reads["current"], reads["target"]) == (100, 150)
    assert reads["observation"]["provisioned"] == 100
    assert reads["observation"]["consumed_percent"] == 95.0
    writes = found[("orders", None, "writes")]
    assert writes["outcome"] == "scaled-down" and writes["target"] == 50
    gsi_writes = found[("orders", "by_user", "writes")]
    assert (gsi_writes["outcome"], gsi_writes["target"]) == ("scaled-up-consumed", 300)
    # the message is the same sentence the text format prints
    assert any(line["message"] == "orders - Reads: 95.00% consumed > 90% upper threshold, "
               "scaling up from 100 to 150" for line in lines)


def test_dry_run_json_is_tagged_and_changes_nothing(
    moto_endpoint: str, server_clients: Clients, tmp_path: Path
) -> None:
    seed(server_clients)
    conf = tmp_path / "dd.conf"
    conf.write_text(CONFIG + "\n[logging]\nlog-format: json\n")
    result = run_cli(["-c", str(conf), "--run-once", "--dry-run",
                      "--state-file", str(tmp_path / "s.json")], endpoint=moto_endpoint)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = records(result.stdout)
    assert lines and all(line["dry_run"] is True for line in lines)
    assert decisions(lines)[("orders", None, "reads")]["target"] == 150
    table = server_clients.dynamodb.describe_table(TableName="orders")["Table"]
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 100


def test_a_detached_daemon_writes_json_to_its_log_file(daemons: Daemons) -> None:
    clients = make_test_clients(daemons.endpoint)
    create_table(clients.dynamodb, "t1", 100, 100)
    put_traffic(clients.cloudwatch, clients.dynamodb, Traffic("t1", None, 95, 50))
    result = daemons.daemon("start", "--log-format", "json")
    assert result.returncode == 0, result.stderr
    daemons.wait_log("Cycle done")
    assert daemons.daemon("stop", log=False).returncode == 0
    lines = records(daemons.log_text())
    messages = [line["message"] for line in lines]
    assert any(message.startswith("Daemon started") for message in messages)
    assert any(message.startswith("Cycle done") for message in messages)
    assert decisions(lines)[("t1", None, "reads")]["outcome"] == "scaled-up-consumed"
