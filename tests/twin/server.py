"""The Twin: moto_server behind a small HTTP proxy that behaves like AWS where moto does not.

botocore talks HTTP to the proxy exactly as it would to AWS, so its own retry, timeout and
parsing code runs; the proxy forwards to a ``moto.server.ThreadedMotoServer`` in this process
and rewrites or refuses requests where AWS would (see dynamodb.py and cloudwatch.py).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import socket
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.twin.clock import TwinClock
from tests.twin.cloudwatch import CloudWatch, MetricRule
from tests.twin.dynamodb import DynamoDB
from tests.twin.settings import TwinSettings
from tests.twin.wire import HOP_BY_HOP, Request, Response, error_response, parse_request

FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
CONCURRENT_OPERATIONS_MESSAGE = (
    # aws-behaviour.md:36-38 (older accounts; today's limit is 500 simultaneous operations).
    "Subscriber limit exceeded: Only 10 tables can be created, updated, or deleted simultaneously"
)
IAM_PREFIXES = {
    "cloudwatch": "cloudwatch",
    "dynamodb": "dynamodb",
    "sns": "sns",
    "application-autoscaling": "application-autoscaling",
}
# Query-protocol services (and CloudWatch's query-compatible JSON) call it AccessDenied.
ACCESS_DENIED_CODES = {"cloudwatch": "AccessDenied", "sns": "AuthorizationError"}


class _Drop:
    """Sentinel: close the connection without sending a response."""


DROP = _Drop()


@dataclass
class RequestRecord:
    """One HTTP request the twin received (retried attempts are separate records)."""

    service: str
    operation: str
    table: str | None
    attempt: int | None  # from botocore's amz-sdk-request header ("attempt=2; max=4")
    at: datetime  # twin clock
    status: int | None = None
    error: str | None = None
    fault: str | None = None  # "hang", "drop", "error" (an injected error)
    sender: str | None = None  # the access key id that signed the request (who sent it)


@dataclass
class _Rule:
    """An injected behaviour for the next ``times`` requests matching operation/service/table."""

    kind: str  # "error" | "hang" | "drop"
    operation: str | None
    service: str | None = None
    table: str | None = None
    times: int | None = 1  # None: every matching request
    code: str = ""
    message: str = ""
    status: int = 400
    seconds: float | None = None

    def matches(self, request: Request) -> bool:
        return (
            (self.operation is None or self.operation == request.operation)
            and (self.service is None or self.service == request.service)
            and (self.table is None or self.table == request.table)
        )


@dataclass
class _Rules:
    rules: list[_Rule] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, rule: _Rule) -> None:
        with self.lock:
            self.rules.append(rule)

    def take(self, request: Request, kinds: Iterable[str]) -> _Rule | None:
        kinds = set(kinds)
        with self.lock:
            for rule in self.rules:
                if rule.kind in kinds and rule.matches(request):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self.rules.remove(rule)
                    return rule
        return None

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a scale benchmark opens many connections at once
    twin: Twin


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's urllib3 pool expects
    server: _ProxyServer

    def setup(self) -> None:
        super().setup()
        # Without TCP_NODELAY, small writes wait on the peer's delayed ACK (~40 ms per request).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.twin._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.twin._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _dispatch(self) -> None:
        body = self._read_body()
        result = self.server.twin._handle(self.command, self.path, list(self.headers.items()), body)
        if isinstance(result, _Drop):
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._write(result)

    def _write(self, response: Response) -> None:
        try:
            reason = HTTPStatus(response.status).phrase
        except ValueError:
            reason = ""
        lines = [f"HTTP/1.1 {response.status} {reason}"]
        lines += [f"{k}: {v}" for k, v in response.headers if k.lower() not in HOP_BY_HOP]
        lines.append(f"Content-Length: {len(response.body)}")
        lines.append("Connection: close" if self.close_connection else "Connection: keep-alive")
        # Headers and body in one write: one segment on the wire, no Nagle/delayed-ACK stall.
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (
            b"" if self.command == "HEAD" else response.body
        )
        try:
            self.wfile.write(data)
        except OSError:
            self.close_connection = True  # the client gave up (e.g. its read timeout during a hang)

    # http.server's hook names; every method goes through the same dispatch.
    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()


class Twin:
    """A stricter AWS double: see the package docstring for the API and what it reproduces."""

    def __init__(
        self,
        *,
        clock: TwinClock | Callable[[], datetime] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        quiet: bool = True,
        reset_backend: bool = True,
        settings: TwinSettings | None = None,
        **overrides: Any,
    ):
        if isinstance(clock, TwinClock):
            self.clock = clock
        else:
            self.clock = TwinClock(clock)
        self.settings = settings or TwinSettings()
        self.settings.update(**overrides)
        self._host, self._port = host, port
        self._quiet = quiet
        self._reset_backend = reset_backend
        self._lock = threading.Lock()
        self._calls: Counter[tuple[str, str]] = Counter()
        self._records: list[RequestRecord] = []
        self._rules = _Rules()
        self._hang_gate = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._proxy: _ProxyServer | None = None
        self._proxy_thread: threading.Thread | None = None
        self._moto: Any = None
        self._backend_address = ("127.0.0.1", 0)
        self.dynamodb = DynamoDB(self.settings, self.clock, self._forward, self._backend_call)
        self.cloudwatch = CloudWatch(self._forward)

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The URL to give boto3 (endpoint_url) or a child process (AWS_ENDPOINT_URL)."""
        if self._proxy is None:
            raise RuntimeError("the twin is not started")
        host, port = self._proxy.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def backend_endpoint(self) -> str:
        """moto itself, bypassing every twin rule (e.g. to seed data without counting it)."""
        return f"http://{self._backend_address[0]}:{self._backend_address[1]}"

    def start(self) -> Twin:
        from moto.server import ThreadedMotoServer

        if self._quiet:
            # ThreadedMotoServer logs every request through werkzeug even with verbose=False.
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        self._backend_address = self._moto.get_host_and_port()
        try:
            if self._reset_backend:
                # moto's backends are process-global: clear whatever an earlier twin or mock left.
                self._moto_reset()
            self._proxy = _ProxyServer((self._host, self._port), _Handler)
        except BaseException:
            self.stop()
            raise
        self._proxy.twin = self
        self._proxy_thread = threading.Thread(
            target=self._proxy.serve_forever, kwargs={"poll_interval": 0.1}, name="twin-proxy", daemon=True
        )
        self._proxy_thread.start()
        return self

    def stop(self) -> None:
        self.release_hangs()
        if self._proxy is not None:
            self._proxy.shutdown()
            with self._lock:
                sockets = list(self._sockets)
            for sock in sockets:
                # Idle keep-alive connections park a handler thread in recv(); wake it up.
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._proxy.server_close()
            if self._proxy_thread is not None:
                self._proxy_thread.join(timeout=5)
        if self._moto is not None:
            self._stop_moto()
        self._proxy = None
        self._moto = None

    def _stop_moto(self) -> None:
        """ThreadedMotoServer.stop(), without waiting out werkzeug's 0.5 s poll interval.

        socketserver only notices the shutdown flag when select() returns, so a throwaway TCP
        connection wakes it at once: a fixture per test then costs milliseconds, not 0.5 s.
        """
        stopper = threading.Thread(target=self._moto.stop, name="twin-moto-stop", daemon=True)
        stopper.start()
        deadline = time.monotonic() + 5
        while stopper.is_alive() and time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(self._backend_address, timeout=0.2):
                pass
            stopper.join(0.02)

    def __enter__(self) -> Twin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Empty moto, forget every ledger, rule and count (settings and clock are kept)."""
        self._moto_reset()
        self.dynamodb.clear()
        self.clear_rules()
        self.reset_counts()

    def _moto_reset(self) -> None:
        request = urllib.request.Request(f"{self.backend_endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def _track(self, sock: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._sockets.add(sock)
            else:
                self._sockets.discard(sock)

    # -- configuration ------------------------------------------------------------------------

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change settings (TwinSettings field names), e.g. ``configure(update_seconds=0)``."""
        self.settings.update(**changes)
        return self.settings.as_dict()

    @property
    def latency(self) -> float:
        return self.settings.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self.settings.latency = seconds

    def advance_clock(self, seconds: float) -> datetime:
        return self.clock.advance(seconds)

    def set_clock(self, when: datetime | str, *, frozen: bool = True) -> datetime:
        return self.clock.set(when, frozen=frozen)

    # -- clients for tests --------------------------------------------------------------------

    def env(self, base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
        """Environment for a child process (e.g. the real CLI) that must talk to the twin only."""
        env = dict(os.environ if base is None else base)
        for name in list(env):
            if name.startswith("AWS_"):
                del env[name]
        env.update(FAKE_CREDENTIALS)
        env["AWS_DEFAULT_REGION"] = self.settings.region
        env["AWS_ENDPOINT_URL"] = self.endpoint
        env["AWS_EC2_METADATA_DISABLED"] = "true"
        env.update(extra)
        return env

    def client(self, service: str, *, attempts: int | None = 1, config: Any = None, **kwargs: Any) -> Any:
        """A boto3 client for the twin; ``attempts=None`` keeps botocore's standard retries."""
        import boto3
        from botocore.config import Config

        if config is None:
            retries: dict[str, Any] = {"mode": "standard"}
            if attempts is not None:
                retries["total_max_attempts"] = attempts
            config = Config(retries=retries, connect_timeout=2, read_timeout=10)
        kwargs.setdefault("region_name", self.settings.region)
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=config,
            **kwargs,
        )

    # -- counters -----------------------------------------------------------------------------

    @property
    def calls(self) -> Counter[str]:
        """Requests received per operation name, every HTTP attempt counted (a snapshot)."""
        with self._lock:
            counts: Counter[str] = Counter()
            for (_, operation), n in self._calls.items():
                counts[operation] += n
            return counts

    @property
    def calls_by_service(self) -> Counter[tuple[str, str]]:
        with self._lock:
            return Counter(self._calls)

    def count(self, operation: str, service: str | None = None) -> int:
        with self._lock:
            return sum(
                n
                for (svc, op), n in self._calls.items()
                if op == operation and (service is None or svc == service)
            )

    @property
    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def reset_counts(self) -> None:
        with self._lock:
            self._calls.clear()
            self._records.clear()

    # -- behaviours ---------------------------------------------------------------------------

    def fail(
        self,
        operation: str | None,
        code: str,
        message: str = "",
        *,
        status: int = 400,
        times: int | None = 1,
        service: str | None = None,
        table: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with this AWS error, in their protocol."""
        self._rules.add(
            _Rule("error", operation, service, table, times, code=code, message=message, status=status)
        )

    def deny(
        self, operation: str = "GetMetricData", *, service: str | None = None, times: int | None = None
    ) -> None:
        """IAM says no (HTTP 403): AccessDenied for CloudWatch, AccessDeniedException for DynamoDB."""
        service = service or (
            "cloudwatch" if operation in ("GetMetricData", "GetMetricStatistics") else "dynamodb"
        )
        code = ACCESS_DENIED_CODES.get(service, "AccessDeniedException")
        action = f"{IAM_PREFIXES.get(service, service)}:{operation}"
        message = (
            f"User: arn:aws:iam::123456789012:user/testing is not authorized to perform: {action} "
            f"because no identity-based policy allows the {action} action"
        )
        self.fail(operation, code, message, status=403, times=times, service=service)

    def fail_concurrent_updates(self, times: int = 1, operations: Iterable[str] = ("UpdateTable",)) -> None:
        """The next ``times`` calls of each operation hit the simultaneous-operations limit."""
        for operation in operations:
            self.fail(
                operation,
                "LimitExceededException",
                CONCURRENT_OPERATIONS_MESSAGE,
                times=times,
                service="dynamodb",
            )

    def hang(
        self,
        operation: str | None,
        *,
        seconds: float | None = None,
        times: int | None = 1,
        service: str | None = None,
        table: str | None = None,
    ) -> None:
        """Accept matching requests and say nothing for ``seconds`` (then answer late), or, with
        ``seconds=None``, until ``release_hangs()``/``stop()`` (then close without answering)."""
        self._rules.add(_Rule("hang", operation, service, table, times, seconds=seconds))

    def drop(
        self,
        operation: str | None,
        *,
        times: int | None = 1,
        service: str | None = None,
        table: str | None = None,
    ) -> None:
        """Close the connection of matching requests without any response."""
        self._rules.add(_Rule("drop", operation, service, table, times))

    def release_hangs(self) -> None:
        with self._lock:
            gate, self._hang_gate = self._hang_gate, threading.Event()
        gate.set()

    def metric_status(
        self,
        status: str,
        *,
        metric_name: str | None = None,
        table: str | None = None,
        index: str | None = None,
        keep: int = 0,
        paginate: bool | None = None,
        failing_followups: int | None = 0,
        times: int | None = None,
    ) -> None:
        """Make matching GetMetricData queries come back PartialData / InternalError / Forbidden.

        ``index=""`` matches only table-level queries (no GSI dimension). ``paginate`` defaults
        to True for InternalError ("Retry your request using NextToken") and False otherwise.
        """
        if paginate is None:
            paginate = status == "InternalError"
        self.cloudwatch.add_rule(
            MetricRule(status, metric_name, table, index, keep, paginate, failing_followups, times)
        )

    def set_global_table(
        self, table: str, regions: Iterable[str] = ("us-east-1", "eu-west-1"), *, region: str | None = None
    ) -> None:
        """DescribeTable of ``table`` lists these Replicas (ACTIVE); ``regions=()`` undoes it."""
        regions = list(regions)
        ledger = self.dynamodb.ledger(region or self.settings.region, table)
        with ledger.lock:
            ledger.replicas = regions or None

    def set_decreases(
        self,
        table: str,
        count: int,
        *,
        index: str | None = None,
        last: datetime | str | None = None,
        region: str | None = None,
    ) -> None:
        """Start a test with ``count`` decreases already spent today, the last at ``last``."""
        when = self.clock.now() if last is None else _to_datetime(last)
        self.dynamodb.set_decreases(region or self.settings.region, table, count, index=index, last=when)

    def ledger(self, table: str, *, region: str | None = None) -> dict[str, Any]:
        """The twin's view of a table: decreases today, last changes, UPDATING, peaks, replicas."""
        return self.dynamodb.snapshot(region or self.settings.region, table)

    def clear_rules(self) -> None:
        """Forget injected errors, faults and metric rules (the DynamoDB ledger stays)."""
        self._rules.clear()
        self.cloudwatch.clear()
        self.release_hangs()

    # -- the proxy ----------------------------------------------------------------------------

    def _handle(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> Response | _Drop:
        if path.startswith("/_twin/"):
            return self._control(method, path, body)
        request = parse_request(method, path, headers, body)
        if path.startswith("/moto-api"):
            return self._forward(request)
        record = RequestRecord(
            request.service, request.operation, request.table, request.attempt, self.clock.now(),
            sender=_access_key(headers),
        )
        with self._lock:
            self._calls[(request.service, request.operation)] += 1
            self._records.append(record)
        result = self._serve(request, record)
        if isinstance(result, Response):
            record.status, record.error = result.status, result.error_code
        return result

    def _serve(self, request: Request, record: RequestRecord) -> Response | _Drop:
        if self.settings.latency > 0:
            time.sleep(self.settings.latency)
        fault = self._rules.take(request, ("hang", "drop"))
        if fault is not None:
            record.fault = fault.kind
            if fault.kind == "drop":
                return DROP
            with self._lock:
                gate = self._hang_gate
            if gate.wait(fault.seconds):
                return DROP  # released (or the twin stops): the client never gets an answer
        error = self._rules.take(request, ("error",))
        if error is not None:
            record.fault = record.fault or "error"
            return error_response(request, error.code, error.message, error.status)
        if request.service == "dynamodb":
            return self.dynamodb.handle(request)
        if request.service == "cloudwatch":
            return self.cloudwatch.handle(request)
        return self._forward(request)

    def _forward(self, request: Request) -> Response:
        host, port = self._backend_address
        headers = {k: v for k, v in request.headers if k.lower() not in HOP_BY_HOP}
        # moto's werkzeug answers "Connection: close", so there is no connection to reuse.
        connection = http.client.HTTPConnection(host, port, timeout=60)
        try:
            connection.request(request.method, request.path, body=request.body, headers=headers)
            answer = connection.getresponse()
            body = answer.read()
            return Response(
                answer.status, [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP], body
            )
        except OSError as exc:
            return error_response(request, "InternalFailure", f"twin: moto unreachable: {exc}", 500)
        finally:
            connection.close()

    def _backend_call(self, request: Request, operation: str, payload: dict[str, Any]) -> Response:
        """A DynamoDB call of the twin's own, straight to moto (not counted, no rules)."""
        authorization = request.header("Authorization") or (
            f"AWS4-HMAC-SHA256 Credential=testing/20200101/{request.region}/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=0"
        )
        internal = Request(
            "POST",
            "/",
            [
                ("Content-Type", "application/x-amz-json-1.0"),
                ("X-Amz-Target", f"DynamoDB_20120810.{operation}"),
                ("Authorization", authorization),
            ],
            json.dumps(payload).encode(),
            service="dynamodb",
            operation=operation,
            protocol="json",
            region=request.region,
        )
        return self._forward(internal)

    # -- control endpoint ---------------------------------------------------------------------

    CONTROL = frozenset(
        {
            "configure",
            "fail",
            "deny",
            "fail_concurrent_updates",
            "hang",
            "drop",
            "release_hangs",
            "metric_status",
            "set_global_table",
            "set_decreases",
            "ledger",
            "clear_rules",
            "reset",
            "reset_counts",
            "advance_clock",
            "set_clock",
            "calls",
            "records",
            "settings",
        }
    )

    def _control(self, method: str, path: str, body: bytes) -> Response:
        """``POST /_twin/<method>`` with JSON keyword arguments; ``GET /_twin/calls`` etc."""
        name = path[len("/_twin/") :].split("?", 1)[0].strip("/")
        if name not in self.CONTROL:
            return _json(404, {"error": f"unknown control {name!r}", "known": sorted(self.CONTROL)})
        try:
            kwargs = json.loads(body or b"{}") if method == "POST" else {}
            if name == "calls":
                result: Any = dict(self.calls)
            elif name == "records":
                result = [asdict(record) for record in self.records]
            elif name == "settings":
                result = self.settings.as_dict()
            else:
                result = getattr(self, name)(**kwargs)
        except (TypeError, ValueError) as exc:
            return _json(400, {"error": str(exc)})
        return _json(200, {"result": _jsonable(result)})


def _to_datetime(value: datetime | str) -> datetime:
    return TwinClock(start=value).now()


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _json(status: int, payload: dict[str, Any]) -> Response:
    body = json.dumps(payload).encode()
    return Response(status, [("Content-Type", "application/json")], body)


def _access_key(headers: list[tuple[str, str]]) -> str | None:
    """The access key id of a SigV4 ``Authorization`` header ("... Credential=AKID/date/...")."""
    for name, value in headers:
        if name.lower() == "authorization" and "Credential=" in value:
            return value.split("Credential=", 1)[1].split("/", 1)[0]
    return None
