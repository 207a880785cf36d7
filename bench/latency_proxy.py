"""A latency-adding loopback proxy in front of moto_server, for scale benchmarks.

Every request waits ``latency`` seconds, then is answered; requests are served concurrently
(one thread per connection, TCP_NODELAY, each answer written in one piece, so the proxy adds
no stalls of its own). moto itself answers about 120 DescribeTable requests a second (it is
one Python process), which would cap any client however parallel; so answers to the
read-only calls that do not change during a quiet cycle (DescribeTable, ListTables,
DescribeLimits, DescribeScalableTargets) are fetched from moto once and then replayed from
memory: running the workload once fills the cache. moto's GetMetricData also spends about
0.2 s of its own CPU per 500 queries; for these idle tables the proxy answers it itself, as
CloudWatch does for a table without traffic: every query Complete, no datapoints. Everything
else goes to moto.
"""

from __future__ import annotations

import http.client
import http.server
import json
import socket
import threading
import time
from urllib.parse import urlsplit

CACHEABLE = ("DescribeTable", "ListTables", "DescribeLimits", "DescribeScalableTargets",
             "GetCallerIdentity")


class LatencyProxy:
    def __init__(self, backend: str, latency: float, idle_metrics: bool = True):
        self.backend = urlsplit(backend)
        self.latency = latency
        self.idle_metrics = idle_metrics
        self.cache: dict[tuple[str, bytes], tuple[int, list[tuple[str, str]], bytes]] = {}
        self.lock = threading.Lock()
        self.requests = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.upstream: http.client.HTTPConnection | None = None

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(proxy.latency)
                status, headers, answer = proxy.answer(self, body)
                head = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers
                                                     if k.lower() not in ("content-length",
                                                                          "connection",
                                                                          "transfer-encoding")]
                head.append(f"Content-Length: {len(answer)}")
                self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + answer)

            do_GET = do_POST  # noqa: N815 - http.server's name

            def log_message(self, *_: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, handler: http.server.BaseHTTPRequestHandler,
               body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        with self.lock:
            self.requests += 1
        target = handler.headers.get("X-Amz-Target", "")
        operation = target.rsplit(".", 1)[-1] if target else ""
        if not operation and b"Action=GetCallerIdentity" in body:
            operation = "GetCallerIdentity"
        if operation == "GetMetricData" and self.idle_metrics:
            queries = json.loads(body).get("MetricDataQueries", [])
            answer = {"MetricDataResults": [
                {"Id": query["Id"], "Label": "", "Timestamps": [], "Values": [],
                 "StatusCode": "Complete"} for query in queries], "Messages": []}
            return 200, [("Content-Type", "application/x-amz-json-1.0")], json.dumps(
                answer).encode()
        key = (operation, body)
        if operation in CACHEABLE:
            with self.lock:
                cached = self.cache.get(key)
            if cached is not None:
                return cached
        upstream = getattr(handler, "upstream", None)
        if upstream is None:
            upstream = http.client.HTTPConnection(self.backend.hostname, self.backend.port)
            handler.upstream = upstream  # type: ignore[attr-defined]
        headers = {k: v for k, v in handler.headers.items() if k.lower() != "host"}
        upstream.request(handler.command, handler.path, body=body, headers=headers)
        response = upstream.getresponse()
        result = (response.status, list(response.getheaders()), response.read())
        if operation in CACHEABLE and response.status == 200:
            with self.lock:
                self.cache[key] = result
        return result

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
