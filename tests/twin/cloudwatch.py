"""CloudWatch GetMetricData StatusCode rules.

aws-behaviour.md:60-62: "GetMetricData results carry a StatusCode: Complete | PartialData |
InternalError | Forbidden; InternalError indicates that an error occurred. Retry your request
using NextToken". A missing value is not a zero. moto always answers Complete.

A rule picks queries by metric name and/or TableName / GlobalSecondaryIndexName dimension; the
twin forwards the request to moto, then keeps only the first ``keep`` values of each matched
result (moto returns them newest first), sets the StatusCode, and, when ``paginate``, adds a
NextToken under which the dropped values wait. Following the token (same queries + NextToken,
as botocore callers do) is answered by the twin itself: the held-back values with StatusCode
Complete, or, while ``failing_followups`` lasts, the same status again with a fresh token.
Queries the rule did not match come back Complete and empty on follow-up pages.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from tests.twin.wire import Request, Response, error_response, json_response, with_json_body

STATUSES = ("PartialData", "InternalError", "Forbidden")
DIMENSIONED = ("PutMetricData", "GetMetricData", "GetMetricStatistics")


def _sorted_dimensions(request: Request) -> Request:
    """The request with every Dimensions list sorted by Name.

    Real CloudWatch ignores dimension order; moto matches [TableName, GlobalSecondaryIndexName]
    against data put as [GlobalSecondaryIndexName, TableName] only by accident of sorting
    (ecosystem-notes.md, addendum). Sorting both sides on the way in removes that moto bug.
    """
    payload = request.json()

    def visit(node: Any) -> Any:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "Dimensions" and isinstance(value, list):
                    node[key] = sorted(value, key=lambda d: str(d.get("Name")) if isinstance(d, dict) else "")
                else:
                    visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)
        return node

    body = json.dumps(visit(payload)).encode()
    # The new body is plain JSON: drop a Content-Encoding the original (gzipped) body had.
    headers = [(key, value) for key, value in request.headers
               if key.lower() != "content-encoding"]
    return replace(request, body=body, headers=headers, _json=None)


@dataclass
class MetricRule:
    status: str
    metric_name: str | None = None
    table: str | None = None
    index: str | None = None  # None: any; "": only queries WITHOUT a GSI dimension
    keep: int = 0
    paginate: bool = True
    failing_followups: int | None = 0  # follow-ups that still fail; None: never recovers
    times: int | None = None  # matching GetMetricData requests to affect; None: all

    def matches(self, query: dict[str, Any]) -> bool:
        metric = ((query.get("MetricStat") or {}).get("Metric")) or {}
        if not metric:
            return False  # metric-math expressions are left alone
        if self.metric_name is not None and metric.get("MetricName") != self.metric_name:
            return False
        dimensions = {d.get("Name"): d.get("Value") for d in metric.get("Dimensions") or []}
        if self.table is not None and dimensions.get("TableName") != self.table:
            return False
        index = dimensions.get("GlobalSecondaryIndexName")
        if self.index == "":
            return index is None
        return self.index is None or index == self.index


@dataclass
class _Held:
    label: str
    timestamps: list[Any]
    values: list[Any]
    rule: MetricRule
    failures_left: int | None = field(default=None)


class CloudWatch:
    def __init__(self, forward: Callable[[Request], Response]):
        self._forward = forward
        self._rules: list[MetricRule] = []
        self._tokens: dict[str, dict[str, _Held]] = {}
        self._lock = threading.Lock()

    def add_rule(self, rule: MetricRule) -> None:
        if rule.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {rule.status!r}")
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._tokens.clear()

    def handle(self, request: Request) -> Response:
        if request.protocol == "json" and request.operation in DIMENSIONED:
            request = _sorted_dimensions(request)
        if request.operation != "GetMetricData":
            return self._forward(request)
        with self._lock:
            busy = bool(self._rules or self._tokens)
        if not busy:
            return self._forward(request)
        if request.protocol != "json":
            return error_response(
                request,
                "TwinUnsupported",
                f"twin: GetMetricData rules need the JSON protocol, got {request.protocol}",
                500,
            )
        payload = request.json()
        token = payload.get("NextToken")
        with self._lock:
            held = self._tokens.pop(token, None) if isinstance(token, str) else None
        if held is not None:
            return self._follow(request, payload, held)
        return self._first_page(request, payload)

    def _claim(self, queries: list[dict[str, Any]]) -> dict[str, MetricRule]:
        """The rule for each matched query id; spends one ``times`` per rule used."""
        matched: dict[str, MetricRule] = {}
        with self._lock:
            used: list[MetricRule] = []
            for query in queries:
                for rule in self._rules:
                    if rule.matches(query):
                        matched[str(query.get("Id"))] = rule
                        if rule not in used:
                            used.append(rule)
                        break
            for rule in used:
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self._rules.remove(rule)
        return matched

    def _first_page(self, request: Request, payload: dict[str, Any]) -> Response:
        queries = [q for q in payload.get("MetricDataQueries") or [] if isinstance(q, dict)]
        matched = self._claim(queries)
        response = self._forward(request)
        if not matched or response.status != 200:
            return response
        data = response.json()
        held: dict[str, _Held] = {}
        for result in data.get("MetricDataResults") or []:
            rule = matched.get(str(result.get("Id")))
            if rule is None:
                continue
            timestamps, values = list(result.get("Timestamps") or []), list(result.get("Values") or [])
            keep = 0 if rule.status == "Forbidden" else max(rule.keep, 0)
            result["Timestamps"], result["Values"] = timestamps[:keep], values[:keep]
            result["StatusCode"] = rule.status
            if rule.paginate and rule.status != "Forbidden":
                held[str(result["Id"])] = _Held(
                    str(result.get("Label", "")),
                    timestamps[keep:],
                    values[keep:],
                    rule,
                    rule.failing_followups,
                )
        if held:
            data["NextToken"] = self._hold(held)
        return with_json_body(request, response, data)

    def _hold(self, held: dict[str, _Held]) -> str:
        token = f"twin-{uuid.uuid4().hex}"
        with self._lock:
            self._tokens[token] = held
        return token

    def _follow(self, request: Request, payload: dict[str, Any], held: dict[str, _Held]) -> Response:
        results = []
        still: dict[str, _Held] = {}
        for query in payload.get("MetricDataQueries") or []:
            query_id = str(query.get("Id"))
            entry = held.get(query_id)
            if entry is None:
                results.append(
                    {
                        "Id": query_id,
                        "Label": query.get("Label", ""),
                        "Timestamps": [],
                        "Values": [],
                        "StatusCode": "Complete",
                    }
                )
                continue
            failing = entry.failures_left is None or entry.failures_left > 0
            if failing:
                if entry.failures_left is not None:
                    entry.failures_left -= 1
                still[query_id] = entry
                results.append(
                    {
                        "Id": query_id,
                        "Label": entry.label,
                        "Timestamps": [],
                        "Values": [],
                        "StatusCode": entry.rule.status,
                    }
                )
            else:
                results.append(
                    {
                        "Id": query_id,
                        "Label": entry.label,
                        "Timestamps": entry.timestamps,
                        "Values": entry.values,
                        "StatusCode": "Complete",
                    }
                )
        data: dict[str, Any] = {"MetricDataResults": results, "Messages": []}
        if still:
            data["NextToken"] = self._hold(still)
        return json_response(request, data)
