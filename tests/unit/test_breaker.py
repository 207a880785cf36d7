"""The circuit breaker against a real HTTP server on 127.0.0.1 (D10)."""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from demo.localaws import free_port
from dynamic_dynamodb import breaker
from dynamic_dynamodb.aws.clients import Clients
from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.engine import Engine
from dynamic_dynamodb.state import State

SEEN: list[dict[str, str]] = []


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        SEEN.append({key.lower(): value for key, value in self.headers.items()})
        if self.path.startswith("/slow"):
            time.sleep(1.0)
        if self.path.startswith("/auth"):
            expected = "Basic " + base64.b64encode(b"ops:s3cret").decode()
            status = 200 if self.headers.get("Authorization") == expected else 401
        else:
            status = int(self.path.strip("/").split("/")[-1] or 200)
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(("status", "closed"), [(200, True), (204, True), (299, True),
                                                 (301, False), (404, False), (500, False),
                                                 (503, False)])
def test_only_2xx_means_proceed(server: str, status: int, closed: bool) -> None:
    assert breaker.check(f"{server}/{status}", 2000, "orders").closed is closed


def test_headers_name_the_table_and_the_gsi(server: str) -> None:
    SEEN.clear()
    breaker.check(f"{server}/200", 2000, "orders", "by_user")
    breaker.check(f"{server}/200", 2000, "orders")
    assert SEEN[0]["x-table-name"] == "orders" and SEEN[0]["x-gsi-name"] == "by_user"
    assert SEEN[1]["x-table-name"] == "orders" and "x-gsi-name" not in SEEN[1]


def test_a_timeout_means_open(server: str) -> None:
    result = breaker.check(f"{server}/slow/200", 100, "orders")
    assert not result.closed
    assert result.detail == "Circuit breaker: no answer within 100 ms"


def test_a_refused_connection_means_open() -> None:
    result = breaker.check(f"http://127.0.0.1:{free_port()}/", 1000, "orders")
    assert not result.closed
    assert result.detail.startswith("Circuit breaker: ConnectionError")


def test_credentials_in_the_url_become_basic_auth(server: str) -> None:
    host = server.removeprefix("http://")
    assert breaker.check(f"http://ops:s3cret@{host}/auth", 2000, "orders").closed
    assert not breaker.check(f"http://ops:wrong@{host}/auth", 2000, "orders").closed
    assert not breaker.check(f"{server}/auth", 2000, "orders").closed


def test_split_credentials_keeps_the_rest_of_the_url() -> None:
    assert breaker.split_credentials("https://u:p@example.test:8443/up?x=1") == (
        "https://example.test:8443/up?x=1", ("u", "p"))
    assert breaker.split_credentials("http://example.test/") == ("http://example.test/", None)


def test_open_breaker_skips_the_table_and_never_logs_the_password(
    moto_clients: Clients, tmp_path: Path, server: str, caplog: pytest.LogCaptureFixture
) -> None:
    from demo.seed import Traffic, create_table, put_traffic

    host = server.removeprefix("http://")
    create_table(moto_clients.dynamodb, "orders", 100, 100)
    create_table(moto_clients.dynamodb, "users", 100, 100)
    for name in ("orders", "users"):
        put_traffic(moto_clients.cloudwatch, moto_clients.dynamodb, Traffic(name, None, 95, 50))
    conf = tmp_path / "dd.conf"
    conf.write_text(
        f"[global]\ncircuit-breaker-url: http://ops:s3cret@{host}/auth\n"
        f"[table: ^orders$]\ncircuit-breaker-url: http://ops:s3cret@{host}/503\n"
        "[table: ^users$]\n"
    )
    state = State()
    state.set_counters("orders", state.counters("orders").__class__(3, 3))
    with caplog.at_level(logging.DEBUG, logger="dynamic_dynamodb"):
        report = Engine(load_config(str(conf)), moto_clients.ports(), state).run_cycle()

    # orders has its own breaker (open, 503): skipped and its counters reset (2.5.1 §5.9).
    # users falls back to the global breaker, which accepts the credentials: scaled.
    assert (report.updates, report.skipped) == (1, 1)
    assert state.counters("orders").reads == 0
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "Circuit breaker is OPEN!" in text
    assert "s3cret" not in text


def test_percent_encoded_credentials_are_decoded_for_basic_auth() -> None:
    assert breaker.split_credentials("https://ops%40corp:p%40ss%2Fw0rd@example.test/up") == (
        "https://example.test/up", ("ops@corp", "p@ss/w0rd"))
