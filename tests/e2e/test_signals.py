"""SIGTERM/SIGINT (during the sleep and during a cycle) and SIGHUP (valid and invalid config)."""

from __future__ import annotations

import http.server
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.seed import Traffic, create_table, put_traffic
from tests.e2e.test_daemon_support import Daemons, alive, daemons, wait_for, write_config

__all__ = ["daemons"]


def reads(clients: object, table: str) -> int:
    description = clients.dynamodb.describe_table(TableName=table)  # type: ignore[attr-defined]
    return int(description["Table"]["ProvisionedThroughput"]["ReadCapacityUnits"])


class SlowBreaker:
    """A circuit-breaker endpoint on 127.0.0.1 that answers 200 after ``delay`` seconds.

    It makes a cycle last long enough to signal the daemon in the middle of a table.
    """

    def __init__(self, delay: float):
        self.tables: list[str] = []
        self.first_request = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.tables.append(self.headers.get("x-table-name", ""))
                outer.first_request.set()
                time.sleep(delay)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow_breaker() -> Iterator[SlowBreaker]:
    breaker = SlowBreaker(delay=2.0)
    try:
        yield breaker
    finally:
        breaker.close()


def test_sigterm_during_the_sleep_stops_the_daemon_at_once(daemons: Daemons) -> None:
    assert daemons.daemon("start").returncode == 0
    pid = daemons.pid()
    daemons.wait_log("seconds until the next check")
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not alive(pid), 10, "the daemon to exit after SIGTERM")
    assert not daemons.pid_file().exists()
    log = daemons.log_text()
    assert "Received SIGTERM; finishing the current table, then exiting" in log
    assert "Daemon stopped" in log


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_foreground_exits_0_on_a_signal_during_the_sleep(daemons: Daemons,
                                                         signum: signal.Signals) -> None:
    process = daemons.foreground("--log-file", str(daemons.log))
    daemons.wait_log("seconds until the next check")
    process.send_signal(signum)
    assert process.wait(timeout=10) == 0
    assert f"Received {signum.name}" in daemons.log_text()


@pytest.mark.parametrize("mode", ["foreground", "start"])
def test_sigterm_during_a_cycle_finishes_the_current_table_and_skips_the_rest(
        daemons: Daemons, server_clients: object, slow_breaker: SlowBreaker, mode: str) -> None:
    for table in ("t1", "t2", "t3"):
        create_table(server_clients.dynamodb, table, 10, 10)  # type: ignore[attr-defined]
        put_traffic(server_clients.cloudwatch, server_clients.dynamodb,  # type: ignore[attr-defined]
                    Traffic(table, consumed_read_percent=95))
    write_config(daemons.config, table="^t", extra_global=f"circuit-breaker-url: {slow_breaker.url}")

    if mode == "foreground":
        process = daemons.foreground("--log-file", str(daemons.log))
        pid = process.pid
    else:
        assert daemons.daemon("start").returncode == 0
        pid = daemons.pid()
    assert slow_breaker.first_request.wait(20), "the cycle never reached the first table"
    os.kill(pid, signal.SIGTERM)  # while t1 waits for its circuit breaker answer

    wait_for(lambda: not alive(pid), 15, "the daemon to exit after SIGTERM")
    if mode == "foreground":
        assert process.wait(timeout=5) == 0
    else:
        assert not daemons.pid_file().exists()
    # t1 was being handled: its check and update were completed, not cut in half.
    assert reads(server_clients, "t1") == 15
    # The rest of the cycle was skipped.
    assert slow_breaker.tables == ["t1"]
    assert reads(server_clients, "t2") == 10 and reads(server_clients, "t3") == 10
    log = daemons.log_text()
    assert "Stop requested; skipping the remaining tables of this cycle" in log
    assert "(interrupted)" in log


def test_sighup_reloads_a_valid_config_and_keeps_the_old_one_on_an_invalid_one(
        daemons: Daemons, server_clients: object) -> None:
    create_table(server_clients.dynamodb, "t1", 10, 10)  # type: ignore[attr-defined]
    put_traffic(server_clients.cloudwatch, server_clients.dynamodb,  # type: ignore[attr-defined]
                Traffic("t1", consumed_read_percent=95))
    write_config(daemons.config, check_interval=1, table="^absent$")
    assert daemons.daemon("start").returncode == 0
    pid = daemons.pid()
    daemons.wait_log("No tables matching the following configured tables found: ^absent$")
    assert reads(server_clients, "t1") == 10

    # A valid new file: used from the next cycle on, and t1 is scaled by it.
    write_config(daemons.config, check_interval=1, table="^t1$")
    os.kill(pid, signal.SIGHUP)
    daemons.wait_log("Configuration reloaded from")
    wait_for(lambda: reads(server_clients, "t1") == 15, 20, "t1 scaled by the new config")

    # An invalid file: the error is logged in full, and the daemon goes on with the old one.
    daemons.config.write_text("[global]\ncheck-interval: 1\n[table: ^t1$]\n"
                              "reads-upper-threshold: lots\n")
    os.kill(pid, signal.SIGHUP)
    log = daemons.wait_log("Configuration reload failed, keeping the previous configuration")
    failure = next(line for line in log.splitlines() if "Configuration reload failed" in line)
    assert str(daemons.config) in failure and "reads-upper-threshold" in failure
    cycles = log.count("Cycle done: 1 tables")
    daemons.wait_log("Cycle done: 1 tables", count=cycles + 2)
    assert alive(pid)
    assert daemons.daemon("stop", log=False).returncode == 0
    assert not alive(pid)


def test_the_daemon_survives_unreachable_aws_and_backs_off(daemons: Daemons,
                                                           tmp_path: Path) -> None:
    # A closed loopback port: every call fails with a connection error.
    result = daemons.daemon("start", "--check-interval", "0",
                            extra_env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert result.returncode == 0, result.stderr
    pid = daemons.pid()
    log = daemons.wait_log("Cycle failed again (2 in a row)", timeout=30)
    assert "backing off, next try in 20 s" in log
    # One error line per failed cycle, not a flood, even with --check-interval 0.
    assert log.count("Cycle failed") == 2
    assert alive(pid)
    assert daemons.daemon("stop", log=False).returncode == 0


def test_sigterm_during_run_once_also_finishes_the_current_table(
        daemons: Daemons, server_clients: object, slow_breaker: SlowBreaker) -> None:
    for table in ("t1", "t2"):
        create_table(server_clients.dynamodb, table, 10, 10)  # type: ignore[attr-defined]
        put_traffic(server_clients.cloudwatch, server_clients.dynamodb,  # type: ignore[attr-defined]
                    Traffic(table, consumed_read_percent=95))
    write_config(daemons.config, table="^t", extra_global=f"circuit-breaker-url: {slow_breaker.url}")
    process = daemons.foreground("--log-file", str(daemons.log), mode="")
    assert slow_breaker.first_request.wait(20)
    process.send_signal(signal.SIGTERM)  # e.g. cron's `timeout`
    assert process.wait(timeout=15) == 0
    assert reads(server_clients, "t1") == 15 and reads(server_clients, "t2") == 10
    assert slow_breaker.tables == ["t1"]
