"""The real ``dynamic-dynamodb --advise`` against moto_server: 14 days of CloudWatch history in
one batched pass, the backtest on it, and one line of advice per table; one error line when
AWS cannot be reached."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from demo.localaws import free_port
from demo.seed import create_table
from tests.conftest import run_cli
from tests.integration.test_fetch_trace import put

CONF = """\
[global]
region: us-east-1
check-interval: 300

[table: ^sessions$]
"""


def test_advise_prints_on_demand_for_a_near_idle_table_with_short_bursts(
        tmp_path: Path, moto_endpoint: str, server_clients: Any) -> None:
    conf = tmp_path / "advise.conf"
    conf.write_text(CONF, encoding="utf-8")
    create_table(server_clients.dynamodb, "sessions", 5, 5)
    create_table(server_clients.dynamodb, "unmanaged", 5, 5)
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    # Three 3-minute bursts of 300 RCU/s (18,000 units a minute) over the two weeks, idle
    # otherwise.
    for days_back in (2, 6, 11):
        for minute in range(3):
            put(server_clients.cloudwatch, "ConsumedReadCapacityUnits", "sessions", None,
                now - timedelta(days=days_back, minutes=minute), 18_000, requests=18_000)

    result = run_cli(["-c", str(conf), "--advise"], endpoint=moto_endpoint, timeout=300)

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Advice from 20160 minutes of CloudWatch history from ")
    assert lines[1].startswith("On-demand or provisioned")
    assert len(lines) == 5  # the header, the table's heading and rule, one table
    name, recommendation, provisioned, on_demand = lines[4].split()[:4]
    assert (name, recommendation) == ("sessions", "on-demand")
    # 162,000 read units at $0.125 per million over 14 days, per 30-day month.
    assert float(on_demand) == round(162_000 * 0.125 / 1e6 * 30 / 14, 2)
    assert float(provisioned) > float(on_demand)
    assert "on-demand costs $0.04/month" in lines[4]


def test_advise_keeps_a_table_without_traffic_and_advises_it_on_demand(
        tmp_path: Path, moto_endpoint: str, server_clients: Any) -> None:
    conf = tmp_path / "advise.conf"
    conf.write_text(CONF.replace("^sessions$", "^(sessions|quiet)$"), encoding="utf-8")
    create_table(server_clients.dynamodb, "sessions", 5, 5)
    create_table(server_clients.dynamodb, "quiet", 5, 5)
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    for minute in range(3):
        put(server_clients.cloudwatch, "ConsumedReadCapacityUnits", "sessions", None,
            now - timedelta(days=2, minutes=minute), 18_000, requests=18_000)

    result = run_cli(["-c", str(conf), "--advise"], endpoint=moto_endpoint, timeout=300)

    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[4:]}
    assert set(rows) == {"quiet", "sessions"}
    _, recommendation, _, on_demand = rows["quiet"].split()[:4]
    assert (recommendation, float(on_demand)) == ("on-demand", 0.0)
    assert rows["quiet"].endswith("no traffic in 14 days")


def test_advise_without_aws_is_one_error_line(tmp_path: Path) -> None:
    conf = tmp_path / "advise.conf"
    conf.write_text(CONF, encoding="utf-8")

    endpoint = f"http://127.0.0.1:{free_port()}"
    result = run_cli(["-c", str(conf), "--advise"], endpoint=endpoint)

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "dynamic-dynamodb: error: cannot read the history from AWS: EndpointConnectionError "
        f'(Could not connect to the endpoint URL: "{endpoint}/")']


def test_tune_on_fetched_history_keeps_the_trace_and_writes_the_configuration(
        tmp_path: Path, moto_endpoint: str, server_clients: Any) -> None:
    conf = tmp_path / "advise.conf"
    conf.write_text(CONF, encoding="utf-8")
    create_table(server_clients.dynamodb, "sessions", 5, 5)
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    for back in range(30, 90):
        put(server_clients.cloudwatch, "ConsumedReadCapacityUnits", "sessions", None,
            now - timedelta(minutes=back), 600, requests=600)
    history, out = tmp_path / "history.csv.gz", tmp_path / "tuned.conf"

    result = run_cli(["-c", str(conf), "--fetch-trace", "1", "--tune", "--trace-out",
                      str(history), "--tune-out", str(out), "--max-throttled", "100%"],
                     endpoint=moto_endpoint, timeout=300)

    assert result.returncode == 0, result.stderr
    assert "Wrote 1440 minutes" in result.stdout and f"to {history}" in result.stdout
    assert "Tuning on the last 1 day(s) of history: 1 resource(s), 1440 minutes" in result.stdout
    assert result.stdout.splitlines()[-1] == f"Wrote {out}"
    assert "target-reads-utilisation: " in out.read_text(encoding="utf-8")
