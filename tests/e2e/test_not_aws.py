"""An endpoint that answers 200 with something that is not AWS's (a captive portal, a broken
proxy) is an error with a non-zero exit, never "no tables"."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli


def serve(body: bytes) -> tuple[http.server.ThreadingHTTPServer, str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(params=[b"<html><body>Please log in</body></html>", b"", b"{}"],
                ids=["html", "empty", "empty-json"])
def endpoint(request: pytest.FixtureRequest) -> Iterator[str]:
    server, url = serve(request.param)
    yield url
    server.shutdown()


def test_a_non_aws_answer_fails_the_run(endpoint: str, tmp_path: Path) -> None:
    conf = tmp_path / "dd.conf"
    conf.write_text("[table: .*]\n")
    result = run_cli(["-c", str(conf), "--run-once", "--state-file", str(tmp_path / "s.json")],
                     endpoint=endpoint)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "ListTables: the answer is not DynamoDB's" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
