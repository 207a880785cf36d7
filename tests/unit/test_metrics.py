"""Operator metrics (issue 13): what the exposition says after cycles, over HTTP and in a textfile."""

from __future__ import annotations

import dataclasses
import threading
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dynamic_dynamodb.metrics import (
    CycleFigures,
    DimensionStatus,
    Exporter,
    MetricsServerError,
)
from dynamic_dynamodb.policy.outcomes import Outcome

T0 = datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc)
R = 'runner="default"'


def status(table: str, dimension: str = "reads", *, gsi: str | None = None,
           provisioned: int = 100, consumed: float = 50.0, throttles: int = 0,
           outcome: Outcome = Outcome.UNCHANGED, decreases: int = 0,
           next_decrease: datetime | None = None) -> DimensionStatus:
    return DimensionStatus(table=table, gsi=gsi, dimension=dimension, provisioned=provisioned,
                           consumed_percent=consumed, throttle_events=throttles,
                           outcome=outcome.value, decreases_today=decreases,
                           next_decrease=next_decrease)


FIRST = CycleFigures(
    started=T0, duration_seconds=0.4, succeeded=True, tables=2, gsis=1, errors=0, updates=2,
    calls={"ListTables": 1, "DescribeTable": 2, "GetMetricData": 1, "UpdateTable": 2},
    attempts={"ListTables": 1, "DescribeTable": 3, "GetMetricData": 1, "UpdateTable": 2},
    failures={("UpdateTable", "LimitExceededException"): 1},
    update_results={"ok": 1, "limit-exceeded": 1},
    metrics_requested=12,
    dimensions=(
        status("orders", "reads", provisioned=150, consumed=95.0, outcome=Outcome.SCALED_UP_CONSUMED,
               decreases=2),
        status("orders", "writes", provisioned=40, consumed=12.5, throttles=3,
               outcome=Outcome.DEFERRED_QUOTA, decreases=2,
               next_decrease=T0 + timedelta(hours=1)),
        status("orders", "reads", gsi="by_user", provisioned=10, consumed=20.0,
               outcome=Outcome.HELD_COUNTING),
        status("orders", "writes", gsi="by_user", provisioned=10, consumed=0.0),
        status("legacy", "reads", provisioned=5, consumed=float("nan"),
               outcome=Outcome.HELD_INCOMPLETE_METRICS),
        status("legacy", "writes", provisioned=5, consumed=0.0),
    ),
)

# Five minutes later: "legacy" was deleted; one retry more; a failed cycle after it.
SECOND = CycleFigures(
    started=T0 + timedelta(minutes=5), duration_seconds=1.5, succeeded=True, tables=1, gsis=1,
    errors=1, updates=1,
    calls={"ListTables": 1, "DescribeTable": 1, "GetMetricData": 1, "UpdateTable": 1},
    attempts={"ListTables": 2, "DescribeTable": 1, "GetMetricData": 1, "UpdateTable": 1},
    failures={("DescribeTable", "ThrottlingException"): 1},
    update_results={"ok": 1},
    metrics_requested=8,
    dimensions=(
        status("orders", "reads", provisioned=150, consumed=60.0, decreases=2),
        status("orders", "writes", provisioned=40, consumed=10.0, decreases=2),
        status("orders", "reads", gsi="by_user", provisioned=10, consumed=20.0,
               outcome=Outcome.HELD_COUNTING),
        status("orders", "writes", gsi="by_user", provisioned=10, consumed=0.0),
    ),
)

FAILED = CycleFigures(started=T0 + timedelta(minutes=10), duration_seconds=30.0, succeeded=False,
                      calls={"ListTables": 1}, attempts={"ListTables": 3},
                      failures={("ListTables", "EndpointConnectionError"): 1})


def values(text: str) -> dict[str, float]:
    """Each sample line of an exposition, "name{labels}" -> value."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            found[series] = float(value)
    return found


def decisions(dimension: str, outcome: str) -> str:
    return f'dynamic_dynamodb_decisions_total{{dimension="{dimension}",outcome="{outcome}",{R}}}'


def resource(table: str, gsi: str, dimension: str) -> str:
    return f'dimension="{dimension}",gsi="{gsi}",{R},table="{table}"'


def test_before_any_cycle_counters_are_zero_and_last_cycle_gauges_absent() -> None:
    got = values(Exporter().text())
    assert got[f'dynamic_dynamodb_cycles_total{{result="ok",{R}}}'] == 0
    assert got[f'dynamic_dynamodb_cycles_total{{result="failed",{R}}}'] == 0
    assert got[f'dynamic_dynamodb_decisions_total{{dimension="reads",outcome="scaled-down",{R}}}'] == 0
    assert got[f'dynamic_dynamodb_update_requests_total{{result="resource-in-use",{R}}}'] == 0
    assert got[f"dynamic_dynamodb_cycle_duration_seconds_count{{{R}}}"] == 0
    assert not any("last_" in series or "provisioned" in series for series in got)


def test_one_cycle() -> None:
    exporter = Exporter()
    exporter.record(FIRST)
    got = values(exporter.text())
    end = T0.timestamp() + 0.4
    assert got[f"dynamic_dynamodb_last_cycle_duration_seconds{{{R}}}"] == 0.4
    assert got[f"dynamic_dynamodb_last_cycle_timestamp_seconds{{{R}}}"] == pytest.approx(end)
    assert got[f"dynamic_dynamodb_last_success_timestamp_seconds{{{R}}}"] == pytest.approx(end)
    assert got[f'dynamic_dynamodb_cycles_total{{result="ok",{R}}}'] == 1
    assert got[f'dynamic_dynamodb_resources_checked{{kind="table",{R}}}'] == 2
    assert got[f'dynamic_dynamodb_resources_checked{{kind="gsi",{R}}}'] == 1
    assert got[f'dynamic_dynamodb_cycle_duration_seconds_bucket{{le="0.25",{R}}}'] == 0
    assert got[f'dynamic_dynamodb_cycle_duration_seconds_bucket{{le="0.5",{R}}}'] == 1
    assert got[f'dynamic_dynamodb_cycle_duration_seconds_bucket{{le="+Inf",{R}}}'] == 1
    assert got[decisions("reads", "scaled-up-consumed")] == 1
    assert got[decisions("writes", "deferred-decrease-quota")] == 1
    assert got[decisions("writes", "unchanged")] == 2
    assert got[f'dynamic_dynamodb_update_requests_total{{result="limit-exceeded",{R}}}'] == 1
    assert got[f'dynamic_dynamodb_aws_requests_total{{operation="DescribeTable",{R}}}'] == 2
    assert got[f'dynamic_dynamodb_aws_http_requests_total{{operation="DescribeTable",{R}}}'] == 3
    assert got['dynamic_dynamodb_aws_errors_total{code="LimitExceededException",'
               f'operation="UpdateTable",{R}}}'] == 1
    assert got[f"dynamic_dynamodb_cloudwatch_metrics_requested_total{{{R}}}"] == 12
    # per resource: gsi="" for the table itself, ratios instead of percents
    assert got[f'dynamic_dynamodb_provisioned_capacity_units{{{resource("orders", "", "reads")}}}'] == 150
    assert got[f'dynamic_dynamodb_consumed_ratio{{{resource("orders", "", "reads")}}}'] == 0.95
    assert got[f'dynamic_dynamodb_consumed_ratio{{{resource("orders", "", "writes")}}}'] == 0.125
    assert got[f'dynamic_dynamodb_consumed_ratio{{{resource("orders", "by_user", "reads")}}}'] == 0.2
    assert got[f'dynamic_dynamodb_throttle_events{{{resource("orders", "", "writes")}}}'] == 3
    # an unknown consumption (NaN) is no series, not a 0
    assert f'dynamic_dynamodb_consumed_ratio{{{resource("legacy", "", "reads")}}}' not in got
    assert got[f'dynamic_dynamodb_provisioned_capacity_units{{{resource("legacy", "", "reads")}}}'] == 5
    # the decrease quota is per table and per GSI: no dimension label
    assert got[f'dynamic_dynamodb_decreases_used_today{{gsi="",{R},table="orders"}}'] == 2
    assert got[f'dynamic_dynamodb_decreases_used_today{{gsi="by_user",{R},table="orders"}}'] == 0
    next_decrease = [s for s in got if s.startswith("dynamic_dynamodb_next_decrease_timestamp")]
    assert next_decrease == [f'dynamic_dynamodb_next_decrease_timestamp_seconds{{gsi="",{R},table="orders"}}']
    assert got[next_decrease[0]] == (T0 + timedelta(hours=1)).timestamp()


def test_counters_accumulate_and_a_vanished_table_is_no_longer_exported() -> None:
    exporter = Exporter()
    exporter.record(FIRST)
    exporter.record(SECOND)
    text = exporter.text()
    got = values(text)
    assert got[f'dynamic_dynamodb_cycles_total{{result="ok",{R}}}'] == 2
    assert got[f"dynamic_dynamodb_cycle_duration_seconds_count{{{R}}}"] == 2
    assert got[f"dynamic_dynamodb_cycle_duration_seconds_sum{{{R}}}"] == pytest.approx(1.9)
    assert got[f'dynamic_dynamodb_cycle_duration_seconds_bucket{{le="1.0",{R}}}'] == 1
    assert got[f'dynamic_dynamodb_cycle_duration_seconds_bucket{{le="2.5",{R}}}'] == 2
    assert got[f"dynamic_dynamodb_last_cycle_duration_seconds{{{R}}}"] == 1.5
    assert got[f"dynamic_dynamodb_resource_errors_total{{{R}}}"] == 1
    assert got[f'dynamic_dynamodb_update_requests_total{{result="ok",{R}}}'] == 2
    assert got[f'dynamic_dynamodb_aws_requests_total{{operation="DescribeTable",{R}}}'] == 3
    assert got[f'dynamic_dynamodb_aws_http_requests_total{{operation="ListTables",{R}}}'] == 3
    assert got['dynamic_dynamodb_aws_errors_total{code="ThrottlingException",'
               f'operation="DescribeTable",{R}}}'] == 1
    assert got['dynamic_dynamodb_aws_errors_total{code="LimitExceededException",'
               f'operation="UpdateTable",{R}}}'] == 1
    assert got[f"dynamic_dynamodb_cloudwatch_metrics_requested_total{{{R}}}"] == 20
    assert got[decisions("reads", "held-counting")] == 2
    assert got[decisions("reads", "held-incomplete-metrics")] == 1  # counters keep it
    assert got[f'dynamic_dynamodb_resources_checked{{kind="table",{R}}}'] == 1
    assert 'table="legacy"' not in text
    assert got[f'dynamic_dynamodb_consumed_ratio{{{resource("orders", "", "reads")}}}'] == 0.6
    # the quota no longer holds the decrease back: the series is gone
    assert "dynamic_dynamodb_next_decrease_timestamp_seconds{" not in text


def test_a_failed_cycle_does_not_move_the_last_success() -> None:
    exporter = Exporter()
    exporter.record(FIRST)
    exporter.record(FAILED)
    got = values(exporter.text())
    assert got[f'dynamic_dynamodb_cycles_total{{result="ok",{R}}}'] == 1
    assert got[f'dynamic_dynamodb_cycles_total{{result="failed",{R}}}'] == 1
    assert got[f"dynamic_dynamodb_last_success_timestamp_seconds{{{R}}}"] == pytest.approx(
        T0.timestamp() + 0.4)
    assert got[f"dynamic_dynamodb_last_cycle_timestamp_seconds{{{R}}}"] == pytest.approx(
        FAILED.started.timestamp() + 30.0)
    assert got['dynamic_dynamodb_aws_errors_total{code="EndpointConnectionError",'
               f'operation="ListTables",{R}}}'] == 1
    # what a failed cycle did not see is not exported as if it were known
    assert got[f'dynamic_dynamodb_resources_checked{{kind="table",{R}}}'] == 0
    assert "dynamic_dynamodb_provisioned_capacity_units{" not in exporter.text()


def test_help_types_namespace_and_instance() -> None:
    exporter = Exporter(namespace="ddb", instance="eu-west-1")
    exporter.record(FIRST)
    families = {family.name: family for family in text_string_to_metric_families(exporter.text())}
    assert families["ddb_cycles"].type == "counter"
    assert families["ddb_cycle_duration_seconds"].type == "histogram"
    assert families["ddb_consumed_ratio"].type == "gauge"
    assert all(family.documentation for family in families.values())
    samples = [sample for family in families.values() for sample in family.samples]
    assert samples and all(sample.labels["runner"] == "eu-west-1" for sample in samples)
    # two exporters, two registries: no collision, no global state
    assert "ddb_" not in Exporter().text()


@pytest.mark.parametrize("change, field", [
    ({"calls": {"Describe table failed: boom": 1}}, "calls"),
    ({"failures": {("UpdateTable", "An error occurred (X) when calling"): 1}}, "failures code"),
    ({"update_results": {"ok": -1}}, "update_results[ok]"),
    ({"dimensions": (status("orders", outcome=Outcome.UNCHANGED),) * 2}, "appears twice"),
    ({"dimensions": (status("my table"),)}, "table"),
    ({"dimensions": (DimensionStatus("t1", None, "reads", 1, 1.0, 0, "scaled up", 0, None),)},
     "outcome"),
    ({"dimensions": (status("t1", "Reads"),)}, "dimension"),
    ({"started": datetime(2026, 1, 1)}, "started"),  # naive, on purpose
    ({"duration_seconds": float("nan")}, "duration_seconds"),
])
def test_malformed_figures_are_refused_and_nothing_is_recorded(change: dict[str, Any],
                                                               field: str) -> None:
    exporter = Exporter()
    before = exporter.text()
    figures = dataclasses.replace(FIRST, **change)
    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
        exporter.record(figures)
    assert exporter.text() == before


def scrape(port: int) -> tuple[int, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        return answer.status, answer.read().decode()


def test_serve_over_http_then_stop() -> None:
    exporter = Exporter()
    exporter.record(FIRST)
    server = exporter.serve(0)
    try:
        assert server.port > 0
        code, body = scrape(server.port)
        assert code == 200
        assert f'dynamic_dynamodb_cycles_total{{result="ok",{R}}} 1.0' in body.splitlines()
        exporter.record(SECOND)  # a scrape sees the latest cycle
        assert 'table="legacy"' not in scrape(server.port)[1]
    finally:
        server.stop()
    server.stop()  # twice is harmless
    with pytest.raises(OSError):
        scrape(server.port)


def test_a_port_in_use_is_a_one_line_error() -> None:
    first = Exporter().serve(0)
    try:
        with pytest.raises(MetricsServerError) as raised:
            Exporter().serve(first.port)
    finally:
        first.stop()
    assert isinstance(raised.value, OSError)
    message = str(raised.value)
    assert message.startswith(f"cannot serve metrics on 127.0.0.1:{first.port}: ")
    assert "in use" in message and "\n" not in message


def test_scrapes_during_records_see_whole_cycles() -> None:
    exporter = Exporter()
    stop = threading.Event()
    seen: list[tuple[float, float]] = []

    def scraper() -> None:
        while not stop.is_set():
            got = values(exporter.text())
            ok = got[f'dynamic_dynamodb_cycles_total{{result="ok",{R}}}']
            seen.append((ok, got[f"dynamic_dynamodb_cloudwatch_metrics_requested_total{{{R}}}"]))

    thread = threading.Thread(target=scraper)
    thread.start()
    try:
        for _ in range(200):
            exporter.record(FIRST)
    finally:
        stop.set()
        thread.join()
    assert seen and all(requested == 12 * ok for ok, requested in seen)


def test_textfile_is_read_back_by_the_parser(tmp_path: Path) -> None:
    exporter = Exporter()
    exporter.record(FIRST)
    path = tmp_path / "dynamic_dynamodb.prom"
    exporter.write_textfile(str(path))
    assert [p.name for p in tmp_path.iterdir()] == ["dynamic_dynamodb.prom"]  # no temp file left
    samples = {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
               for family in text_string_to_metric_families(path.read_text())
               for sample in family.samples}
    assert samples[("dynamic_dynamodb_cycles_total",
                    (("result", "ok"), ("runner", "default")))] == 1
    assert samples[("dynamic_dynamodb_consumed_ratio",
                    (("dimension", "reads"), ("gsi", "by_user"), ("runner", "default"),
                     ("table", "orders")))] == 0.2


def test_run_once_resumes_the_counters_and_last_success_of_the_previous_run(tmp_path: Path) -> None:
    path = str(tmp_path / "dynamic_dynamodb.prom")
    assert not Exporter().resume_from_textfile(path)  # no file yet
    first_run = Exporter()
    first_run.record(FIRST)
    first_run.write_textfile(path)

    second_run = Exporter()  # the next cron run, a new process; its cycle fails
    assert second_run.resume_from_textfile(path)
    second_run.record(FAILED)
    got = values(second_run.text())
    assert got[f'dynamic_dynamodb_cycles_total{{result="ok",{R}}}'] == 1
    assert got[f'dynamic_dynamodb_cycles_total{{result="failed",{R}}}'] == 1
    assert got[f'dynamic_dynamodb_aws_http_requests_total{{operation="ListTables",{R}}}'] == 4
    assert got[f"dynamic_dynamodb_cloudwatch_metrics_requested_total{{{R}}}"] == 12
    assert got[f"dynamic_dynamodb_cycle_duration_seconds_count{{{R}}}"] == 2
    assert got[f'dynamic_dynamodb_cycle_duration_seconds_bucket{{le="0.5",{R}}}'] == 1
    assert got[f"dynamic_dynamodb_cycle_duration_seconds_sum{{{R}}}"] == pytest.approx(30.4)
    # the alert still sees when the last success was, across the failed run
    assert got[f"dynamic_dynamodb_last_success_timestamp_seconds{{{R}}}"] == pytest.approx(
        T0.timestamp() + 0.4)
    # another runner's file, or garbage, resumes nothing
    assert not Exporter(instance="other").resume_from_textfile(path)
    Path(path).write_text("not { a metrics file\n")
    assert not Exporter().resume_from_textfile(path)


def test_an_address_not_of_this_host_is_the_same_clear_error() -> None:
    with pytest.raises(MetricsServerError, match=r"^cannot serve metrics on 203\.0\.113\.1:0: "):
        Exporter().serve(0, address="203.0.113.1")  # TEST-NET-3: no interface has it
