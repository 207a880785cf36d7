"""What a request is (service, operation, protocol) and how AWS shapes responses and errors.

The twin sits on the wire, so it has to recognise the protocols botocore 1.44 speaks:

- DynamoDB and Application Auto Scaling: JSON RPC, operation in ``X-Amz-Target``
  (``DynamoDB_20120810.UpdateTable``, ``AnyScaleFrontendService.RegisterScalableTarget``).
- CloudWatch: its service model lists ``smithy-rpc-v2-cbor``, ``json`` and ``query``, and
  botocore picks the first of ITS OWN priority list that the service supports
  (``botocore/utils.py`` ``PRIORITY_ORDERED_SUPPORTED_PROTOCOLS = ('json', 'rest-json',
  'rest-xml', 'smithy-rpc-v2-cbor', 'query')``), i.e. **JSON** (``X-Amz-Target:
  GraniteServiceVersion20100801.GetMetricData``, ``x-amzn-query-mode: true``). Errors for this
  query-compatible JSON carry ``x-amzn-query-error: Code;Sender`` so botocore reports the old
  query error code (``AccessDenied``). CBOR (``/service/<svc>/operation/<op>``) and query
  (form body ``Action=...``) are still recognised for counting and pass-through; the twin only
  edits JSON bodies and says so loudly if a rule would have to edit anything else.
- SNS: query protocol (form body ``Action=Publish``), XML responses.
"""

from __future__ import annotations

import binascii
import gzip
import json
import re
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qs

TARGET_PREFIXES = {
    "DynamoDB_20120810": "dynamodb",
    "GraniteServiceVersion20100801": "cloudwatch",
    "AnyScaleFrontendService": "application-autoscaling",
}
# SigV4 credential scope names that differ from the service names the twin reports.
SCOPE_NAMES = {"monitoring": "cloudwatch"}
JSON_CONTENT_TYPES = {
    "dynamodb": "application/x-amz-json-1.0",
    "cloudwatch": "application/x-amz-json-1.0",
    "application-autoscaling": "application/x-amz-json-1.1",
}
# Services whose JSON errors botocore maps back to query error codes (awsQueryCompatible).
QUERY_COMPATIBLE = {"cloudwatch"}
XML_NAMESPACES = {
    "sns": "http://sns.amazonaws.com/doc/2010-03-31/",
    "cloudwatch": "http://monitoring.amazonaws.com/doc/2010-08-01/",
}
# DynamoDB's __type prefixes, as real responses spell them (botocore keeps what follows "#").
DYNAMODB_ERROR_NAMESPACES = {
    "ValidationException": "com.amazon.coral.validate",
    "AccessDeniedException": "com.amazon.coral.service",
    "ThrottlingException": "com.amazon.coral.availability",
    "UnrecognizedClientException": "com.amazon.coral.service",
}
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "upgrade",
    "content-length",
    "trailer",
}

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
_CBOR_PATH = re.compile(r"^/service/([^/]+)/operation/([^/?]+)")
_ATTEMPT = re.compile(r"attempt=(\d+)")


@dataclass
class Request:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    service: str = "unknown"
    operation: str = "unknown"
    protocol: str = "unknown"  # json | query | cbor | rest
    region: str = "us-east-1"
    attempt: int | None = None
    _json: dict[str, Any] | None = field(default=None, repr=False)

    def header(self, name: str, default: str = "") -> str:
        lower = name.lower()
        for key, value in self.headers:
            if key.lower() == lower:
                return value
        return default

    @property
    def decoded_body(self) -> bytes:
        """The body, gunzipped when botocore compressed it (it gzips PutMetricData > 10 kB)."""
        if self.header("Content-Encoding").lower() == "gzip" and self.body:
            try:
                return gzip.decompress(self.body)
            except OSError:
                return self.body
        return self.body

    def json(self) -> dict[str, Any]:
        if self._json is None:
            try:
                loaded = json.loads(self.decoded_body or b"{}")
            except ValueError:
                loaded = {}
            self._json = loaded if isinstance(loaded, dict) else {}
        return self._json

    @property
    def table(self) -> str | None:
        """TableName of a DynamoDB JSON request, if any (fault and error rules can match it)."""
        if self.protocol != "json" or self.service != "dynamodb":
            return None
        name = self.json().get("TableName")
        return name if isinstance(name, str) else None


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str, default: str = "") -> str:
        lower = name.lower()
        for key, value in self.headers:
            if key.lower() == lower:
                return value
        return default

    def json(self) -> dict[str, Any]:
        loaded = json.loads(self.body or b"{}")
        return loaded if isinstance(loaded, dict) else {}

    @property
    def error_code(self) -> str | None:
        """The error code botocore would report, for the request log."""
        if self.status < 400:
            return None
        query_error = self.header("x-amzn-query-error")
        if query_error and ";" in query_error:
            return query_error.split(";", 1)[0]
        try:
            code = self.json().get("__type")
        except ValueError:
            code = None
        if isinstance(code, str):
            return code.rsplit("#", 1)[-1]
        match = re.search(rb"<Code>([^<]+)</Code>", self.body)
        if match:
            return match.group(1).decode()
        return str(self.status)


def parse_request(method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> Request:
    request = Request(method=method, path=path, headers=headers, body=body)
    scope = _SCOPE.search(request.header("Authorization"))
    if scope:
        request.region = scope.group(1)
        request.service = SCOPE_NAMES.get(scope.group(2), scope.group(2))
    attempt = _ATTEMPT.search(request.header("amz-sdk-request"))
    if attempt:
        request.attempt = int(attempt.group(1))
    target = request.header("X-Amz-Target")
    cbor = _CBOR_PATH.match(path)
    content_type = request.header("Content-Type")
    if target and "." in target:
        prefix, request.operation = target.rsplit(".", 1)
        request.service = TARGET_PREFIXES.get(prefix, request.service)
        request.protocol = "json"
    elif cbor:
        request.protocol = "cbor"
        request.operation = cbor.group(2)
        request.service = TARGET_PREFIXES.get(cbor.group(1), request.service)
    elif content_type.startswith("application/x-www-form-urlencoded"):
        request.protocol = "query"
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", ["unknown"])
        request.operation = action[0]
    else:
        request.protocol = "rest"
        request.operation = f"{method} {path.split('?', 1)[0]}"
    return request


def crc32(body: bytes) -> str:
    return str(binascii.crc32(body) & 0xFFFFFFFF)


def _base_headers(request: Request, content_type: str, body: bytes) -> list[tuple[str, str]]:
    headers = [
        ("Content-Type", content_type),
        ("x-amzn-RequestId", uuid.uuid4().hex.upper()),
        ("Date", formatdate(usegmt=True)),
    ]
    if request.service == "dynamodb":
        # botocore checks x-amz-crc32 on DynamoDB responses when present; always send a right one.
        headers.append(("x-amz-crc32", crc32(body)))
    return headers


def json_response(request: Request, payload: dict[str, Any], status: int = 200) -> Response:
    body = json.dumps(payload).encode()
    content_type = JSON_CONTENT_TYPES.get(request.service, "application/x-amz-json-1.0")
    return Response(status, _base_headers(request, content_type, body), body)


def with_json_body(request: Request, response: Response, payload: dict[str, Any]) -> Response:
    """``response`` with its JSON body replaced (checksum recomputed, length set on write)."""
    body = json.dumps(payload).encode()
    headers = [(k, v) for k, v in response.headers if k.lower() != "x-amz-crc32"]
    if request.service == "dynamodb":
        headers.append(("x-amz-crc32", crc32(body)))
    return Response(response.status, headers, body)


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def error_response(request: Request, code: str, message: str, status: int = 400) -> Response:
    """An AWS error in the request's own protocol, so botocore parses it as it would AWS's."""
    fault = "Sender" if status < 500 else "Receiver"
    if request.protocol == "json":
        if request.service == "dynamodb":
            namespace = DYNAMODB_ERROR_NAMESPACES.get(code, "com.amazonaws.dynamodb.v20120810")
            type_name = f"{namespace}#{code}"
        else:
            type_name = code
        response = json_response(request, {"__type": type_name, "message": message}, status)
        if request.service in QUERY_COMPATIBLE:
            response.headers.append(("x-amzn-query-error", f"{code};{fault}"))
        return response
    if request.protocol == "query":
        xmlns = XML_NAMESPACES.get(request.service)
        opening = f'<ErrorResponse xmlns="{xmlns}">' if xmlns else "<ErrorResponse>"
        body = (
            f"{opening}<Error><Type>{fault}</Type><Code>{_xml_escape(code)}</Code>"
            f"<Message>{_xml_escape(message)}</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        ).encode()
        return Response(status, _base_headers(request, "text/xml", body), body)
    # CBOR would need a CBOR encoder; botocore 1.44 never picks CBOR for the services the
    # product uses (see the module docstring), so fail loudly instead of guessing.
    body = f"twin: cannot encode an AWS error for protocol {request.protocol!r} ({code})".encode()
    return Response(500, _base_headers(request, "text/plain", body), body)
