"""Operator metrics through the real command: scraped over HTTP from a running daemon, and
written for node_exporter by --run-once (issue: metrics an operator can scrape)."""

from __future__ import annotations

import signal
import socket
import urllib.error
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from demo.localaws import free_port
from demo.seed import Traffic, create_table, put_traffic
from tests.conftest import make_test_clients
from tests.e2e.test_daemon_support import Daemons, daemons, wait_for

__all__ = ["daemons"]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "runner"))
            found[(sample.name, labels)] = sample.value
    return found


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            return str(answer.read().decode())
    except (urllib.error.URLError, ConnectionError):
        return ""


def seed(daemons: Daemons) -> None:
    clients = make_test_clients(daemons.endpoint)
    create_table(clients.dynamodb, "t1", 100, 100)
    put_traffic(clients.cloudwatch, clients.dynamodb, Traffic("t1", None, 95, 50))


def test_a_running_daemon_serves_its_metrics(daemons: Daemons) -> None:
    seed(daemons)
    port = free_port()
    process = daemons.foreground("--metrics-port", str(port), "--check-interval", "1")

    def two_cycles() -> str:
        body = scrape(port)
        ok = samples(body).get(("dynamic_dynamodb_cycles_total", (("result", "ok"),)), 0) if body \
            else 0
        return body if ok >= 2 else ""

    text = wait_for(two_cycles, 30, "two scraped cycles")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    found = samples(text)
    assert found[("dynamic_dynamodb_cycles_total", (("result", "ok"),))] >= 2
    assert found[("dynamic_dynamodb_resources_checked", (("kind", "table"),))] == 1
    assert found[("dynamic_dynamodb_provisioned_capacity_units",
                  (("dimension", "reads"), ("gsi", ""), ("table", "t1")))] >= 150
    assert found[("dynamic_dynamodb_decisions_total",
                  (("dimension", "reads"), ("outcome", "scaled-up-consumed")))] >= 1
    assert found[("dynamic_dynamodb_update_requests_total", (("result", "ok"),))] >= 1
    assert found[("dynamic_dynamodb_aws_requests_total", (("operation", "DescribeTable"),))] >= 2
    # consumed reads and writes each cycle (no decrease wanted, no throttle option)
    assert found[("dynamic_dynamodb_cloudwatch_metrics_requested_total", ())] >= 2 * 2
    assert ("dynamic_dynamodb_last_success_timestamp_seconds", ()) in found
    assert "Serving metrics on http://127.0.0.1:" in daemons.stdout_text()
    # Stopped: the port is closed again.
    assert scrape(port) == ""


def test_a_port_in_use_is_a_one_line_start_up_error(daemons: Daemons) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        process = daemons.foreground("--metrics-port", str(port))
        assert process.wait(timeout=30) == 1
    output = daemons.stdout_text()
    assert f"metrics-port: cannot serve metrics on 127.0.0.1:{port}" in output
    assert "Traceback" not in output


def test_run_once_writes_the_metrics_for_node_exporter_and_continues_them(
    daemons: Daemons, tmp_path: Path,
) -> None:
    seed(daemons)
    textfile = tmp_path / "textfile" / "dynamic_dynamodb.prom"
    textfile.parent.mkdir()
    for _ in range(2):
        process = daemons.foreground("--metrics-textfile", str(textfile), mode="")
        assert process.wait(timeout=60) == 0, daemons.stdout_text()
    found = samples(textfile.read_text())
    assert found[("dynamic_dynamodb_cycles_total", (("result", "ok"),))] == 2  # continued
    assert ("dynamic_dynamodb_last_success_timestamp_seconds", ()) in found
