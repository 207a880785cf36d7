"""The engine's ports over the capacity model: what DynamoDB, CloudWatch and SNS answer, the
errors as botocore raises them, and the calls counted as AWS operations."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from dynamic_dynamodb.aws.clients import error_code, error_message
from dynamic_dynamodb.aws.dynamodb import LimitCause, classify_limit_exceeded
from dynamic_dynamodb.aws.model import CapacityChange, CapacityLimits, MetricRequest
from dynamic_dynamodb.aws.ports import Ports
from dynamic_dynamodb.simulate.fakes import (
    SimMetrics,
    SimNotifier,
    SimTables,
    fake_ports,
)
from dynamic_dynamodb.simulate.model import CapacityModel
from dynamic_dynamodb.simulate.trace import ResourceTrace, Trace
from tests.unit.simulate.helpers import START, config, one_table


def table_and_gsi(minutes: int = 30, *, start: datetime = START, **options: Any) -> CapacityModel:
    trace = Trace(start=start, minutes=minutes, resources=(
        ResourceTrace("orders", None, (1.0,) * minutes, (1.0,) * minutes, 100, 100),
        ResourceTrace("orders", "by_user", (1.0,) * minutes, (1.0,) * minutes, 50, 50),
        ResourceTrace("audit", None, (1.0,) * minutes, (1.0,) * minutes, 5, 5),
    ))
    options.setdefault("update_delay", 60.0)
    options.setdefault("new_peak_delay", options["update_delay"])
    return CapacityModel(trace, {"orders": {"reads": 100, "writes": 100},
                                 "orders:by_user": {"reads": 50, "writes": 50},
                                 "audit": {"reads": 5, "writes": 5}}, **options)


def test_fake_ports_are_the_engines_ports_over_the_model() -> None:
    model = table_and_gsi()
    ports = fake_ports(model)
    assert isinstance(ports, Ports)
    assert isinstance(ports.tables, SimTables)
    assert isinstance(ports.metrics, SimMetrics)
    assert isinstance(ports.notifier, SimNotifier)
    assert ports.tables.list_tables() == ["audit", "orders"]
    described = ports.tables.describe_table("orders")
    assert (described.name, described.status, described.billing_mode) == (
        "orders", "ACTIVE", "PROVISIONED")
    assert (described.capacity.reads, described.capacity.writes) == (100, 100)
    assert described.capacity.decreases_today == 0
    assert [(i.name, i.status, i.capacity.reads) for i in described.gsis] == [
        ("by_user", "ACTIVE", 50)]
    assert described.updating == ()


def test_calls_are_counted_as_aws_operations() -> None:
    model = table_and_gsi()
    ports = fake_ports(model)
    ports.tables.list_tables()
    ports.tables.describe_table("orders")
    ports.tables.describe_table("orders")
    ports.tables.describe_limits()
    ports.tables.update_table("orders", [CapacityChange(None, 120, 100),
                                         CapacityChange("by_user", 60, 50)])
    with pytest.raises(ClientError):
        ports.tables.update_table("orders", [CapacityChange(None, 130, 100)])  # in use
    requests = [MetricRequest(n, "orders", None, "ConsumedReadCapacityUnits")
                for n in range(501)]
    ports.metrics.fetch_sums(requests, START, START + timedelta(minutes=5))
    ports.metrics.fetch_sums([], START, START + timedelta(minutes=5))
    ports.metrics.fetch_series(requests[:3], START, START + timedelta(minutes=5))
    ports.notifier.publish("arn:aws:sns:us-east-1:123456789012:t", "subject", "body")
    expected = {"ListTables": 1, "DescribeTable": 2, "DescribeLimits": 1, "UpdateTable": 2,
                "GetMetricData": 3, "Publish": 1}
    assert ports.calls == expected
    assert ports.attempts == expected  # never retried: one HTTP request per call


def test_every_query_counts_as_one_metric_requested() -> None:
    # CloudWatch bills GetMetricData per metric requested: every query of every call, the
    # same series asked again (another statistic, another window) included.
    model = table_and_gsi()
    ports = fake_ports(model)
    assert model.metrics_requested == 0
    consumed = [MetricRequest(n, "orders", None, "ConsumedReadCapacityUnits")
                for n in range(501)]
    ports.metrics.fetch_sums(consumed, START, START + timedelta(minutes=5))
    assert model.metrics_requested == 501
    assert ports.calls["GetMetricData"] == 2
    ports.metrics.fetch_sums([], START, START + timedelta(minutes=5))
    assert model.metrics_requested == 501
    ports.metrics.fetch_sums([MetricRequest("n", "orders", None, "ConsumedReadCapacityUnits",
                                            "SampleCount"),
                              MetricRequest("k", "audit", None, "ReadThrottleEvents")],
                             START + timedelta(minutes=10), START + timedelta(minutes=15))
    ports.metrics.fetch_series(consumed[:3], START, START + timedelta(minutes=5))
    assert model.metrics_requested == 501 + 2 + 3


def test_update_table_errors_are_client_errors_with_dynamodbs_codes_and_wording() -> None:
    model = table_and_gsi()
    tables = fake_ports(model).tables
    assert isinstance(tables, SimTables)
    tables.update_table("orders", [CapacityChange("by_user", 40, 50)])
    with pytest.raises(ClientError) as refused:
        tables.update_table("orders", [CapacityChange(None, 200, 100)])
    assert error_code(refused.value) == "ResourceInUseException"
    assert refused.value.operation_name == "UpdateTable"
    assert error_message(refused.value) == (
        "Attempt to change a resource which is still in use: Table is being updated: orders")
    with pytest.raises(ClientError) as refused:
        tables.describe_table("missing")
    assert error_code(refused.value) == "ResourceNotFoundException"
    assert tables.requests == [("orders", (CapacityChange("by_user", 40, 50),)),
                               ("orders", (CapacityChange(None, 200, 100),))]


def test_a_capacity_below_one_is_refused_before_any_request_as_botocore_does() -> None:
    model = table_and_gsi()
    ports = fake_ports(model)
    with pytest.raises(ParamValidationError) as refused:
        ports.tables.update_table("orders", [CapacityChange(None, 10, 10),
                                             CapacityChange("by_user", 0, 5)])
    assert ("GlobalSecondaryIndexUpdates[0].Update.ProvisionedThroughput.ReadCapacityUnits, "
            "value: 0, valid min value: 1") in str(refused.value)
    assert ports.calls["UpdateTable"] == 0
    assert model.resources["orders"].provisioned["reads"] == 100


def test_describe_table_shows_gsi_only_updating_and_the_old_capacity_meanwhile() -> None:
    model = table_and_gsi()
    tables = fake_ports(model).tables
    tables.update_table("orders", [CapacityChange("by_user", 40, 50)])
    described = tables.describe_table("orders")
    assert described.status == "ACTIVE"
    assert [(i.name, i.status, i.capacity.reads) for i in described.gsis] == [
        ("by_user", "UPDATING", 50)]
    assert described.updating == ("GSI by_user",)
    model.advance_to(60)
    described = tables.describe_table("orders")
    assert described.updating == ()
    gsi = described.gsis[0].capacity
    assert (gsi.reads, gsi.decreases_today, gsi.last_decrease) == (40, 1, START)
    tables.update_table("orders", [CapacityChange(None, 100, 150)])
    described = tables.describe_table("orders")
    assert (described.status, described.gsis[0].status) == ("UPDATING", "ACTIVE")
    assert described.updating == ("table",)
    assert described.capacity.last_increase == START + timedelta(minutes=1)


def test_the_decrease_count_shown_restarts_at_utc_midnight() -> None:
    start = datetime(2024, 1, 1, 23, 50, tzinfo=timezone.utc)
    model = table_and_gsi(start=start, update_delay=0.0)
    tables = fake_ports(model).tables
    model.advance_to(300)
    tables.update_table("audit", [CapacityChange(None, 4, 5)])
    assert tables.describe_table("audit").capacity.decreases_today == 1
    model.advance_to(599)
    assert tables.describe_table("audit").capacity.decreases_today == 1
    model.advance_to(600)  # 00:00 UTC
    capacity = tables.describe_table("audit").capacity
    assert (capacity.decreases_today, capacity.last_decrease) == (
        0, start + timedelta(minutes=5))


def test_a_refused_decrease_reads_back_as_the_quota_with_its_next_time() -> None:
    model = table_and_gsi(minutes=120, update_delay=0.0)
    tables = fake_ports(model).tables
    for minute in range(4):
        model.advance_to(minute * 60)
        tables.update_table("orders", [CapacityChange("by_user", 49 - minute, 50)])
    model.advance_to(10 * 60)
    with pytest.raises(ClientError) as refused:
        tables.update_table("orders", [CapacityChange(None, 90, 100),
                                       CapacityChange("by_user", 40, 50)])
    assert error_code(refused.value) == "LimitExceededException"
    verdict = classify_limit_exceeded(error_message(refused.value))
    assert verdict.cause is LimitCause.DECREASE_QUOTA
    assert verdict.next_decrease == START + timedelta(minutes=63)
    assert model.resources["orders"].provisioned["reads"] == 100


def test_describe_limits_answers_the_defaults_or_what_the_model_is_given() -> None:
    assert fake_ports(table_and_gsi()).tables.describe_limits() == CapacityLimits(
        40000, 40000, 80000, 80000)
    limits = CapacityLimits(1000, 2000, 3000, 4000)
    assert fake_ports(table_and_gsi(limits=limits)).tables.describe_limits() == limits


# -- CloudWatch ---------------------------------------------------------------------------------
def throttling_model(**options: Any) -> CapacityModel:
    # 20 CU/s on 10 RCU: the 3,000 CU bucket lasts 5 minutes; minute 5 throttles 600 CU.
    trace = one_table([20.0] * 6 + [0.0] * 4, [1.0] * 10, initial=(10, 10))
    model = CapacityModel(trace, {"my_table": {"reads": 10, "writes": 10}}, **options)
    model.advance_to(model.end)
    model.metric_delay = 0.0
    return model


def sums(model: CapacityModel, requests: list[MetricRequest], first: int, last: int
         ) -> dict[Any, float | None]:
    answer = fake_ports(model).metrics.fetch_sums(
        requests, START + timedelta(minutes=first), START + timedelta(minutes=last))
    assert answer.incomplete == frozenset()
    return dict(answer.values)


def req(metric: str, stat: str = "Sum", gsi: str | None = None) -> MetricRequest:
    return MetricRequest((metric, stat), "my_table", gsi, metric, stat)


def test_one_throttle_event_per_unit_by_default() -> None:
    model = throttling_model()
    got = sums(model, [req("ReadThrottleEvents"), req("ConsumedReadCapacityUnits"),
                       req("ConsumedReadCapacityUnits", "SampleCount")], 5, 6)
    assert got == {("ReadThrottleEvents", "Sum"): pytest.approx(600),
                   ("ConsumedReadCapacityUnits", "Sum"): pytest.approx(600),
                   ("ConsumedReadCapacityUnits", "SampleCount"): pytest.approx(600)}


def test_throttle_events_and_sample_count_are_per_request_of_request_units() -> None:
    model = throttling_model(request_units={"reads": 2.0, "writes": 0.5})
    resource = model.resources["my_table"]
    assert resource.throttled["reads"][5] == pytest.approx(600)  # the record stays in units
    got = sums(model, [
        req("ReadThrottleEvents"),
        req("ReadProvisionedThroughputThrottleEvents"),
        req("ConsumedReadCapacityUnits"),
        req("ConsumedReadCapacityUnits", "SampleCount"),
        req("ConsumedWriteCapacityUnits", "SampleCount"),
        req("ReadKeyRangeThroughputThrottleEvents"),
        req("SomethingElse"),
    ], 0, 6)
    assert got == {
        ("ReadThrottleEvents", "Sum"): pytest.approx(300),  # 600 CU ÷ 2 CU per request
        ("ReadProvisionedThroughputThrottleEvents", "Sum"): pytest.approx(300),
        ("ConsumedReadCapacityUnits", "Sum"): pytest.approx(5 * 1200 + 600),
        ("ConsumedReadCapacityUnits", "SampleCount"): pytest.approx((5 * 1200 + 600) / 2),
        ("ConsumedWriteCapacityUnits", "SampleCount"): pytest.approx(6 * 60 / 0.5),
        ("ReadKeyRangeThroughputThrottleEvents", "Sum"): None,  # no hot keys in the model
        ("SomethingElse", "Sum"): None,
    }
    # Sum ÷ SampleCount is the average request size, as the engine computes it.
    consumed = got[("ConsumedReadCapacityUnits", "Sum")]
    requests = got[("ConsumedReadCapacityUnits", "SampleCount")]
    assert consumed is not None and requests is not None
    assert consumed / requests == pytest.approx(2.0)


def test_only_published_minutes_with_a_value_have_datapoints() -> None:
    trace = one_table([0.0, 5.0, 5.0, 0.0, 5.0, 0.0], [1.0] * 6, initial=(10, 10))
    model = CapacityModel(trace, {"my_table": {"reads": 10, "writes": 10}}, metric_delay=60)
    metrics = fake_ports(model).metrics
    consumed = [req("ConsumedReadCapacityUnits")]
    model.advance_to(150)  # minute 0 is published at 120 s; minute 1 at 180 s

    def window(first: int, last: int) -> float | None:
        return metrics.fetch_sums(consumed, START + timedelta(minutes=first),
                                  START + timedelta(minutes=last)).values[consumed[0].key]

    assert window(0, 1) is None  # published, but idle: no datapoint
    assert window(1, 2) is None  # not published yet
    model.advance_to(model.end)
    assert window(1, 2) == pytest.approx(300)
    assert window(3, 4) is None
    assert window(0, 5) == pytest.approx(900)
    # Windows that do not start on a minute take the minutes that start inside them.
    assert metrics.fetch_sums(consumed, START + timedelta(seconds=30),
                              START + timedelta(minutes=2, seconds=30)).values[
        consumed[0].key] == pytest.approx(600)
    assert window(-10, 100) == pytest.approx(900)  # beyond the trace: what there is


def test_a_long_window_uses_prefix_sums_and_agrees_with_adding_the_minutes() -> None:
    minutes = 3 * 24 * 60
    reads = [0.0 if m % 7 == 0 else 1.0 + (m % 13) / 7 for m in range(minutes)]
    trace = one_table(reads, [1.0] * minutes, initial=(100, 10))
    model = CapacityModel(trace, {"my_table": {"reads": 100, "writes": 10}})
    model.advance_to(model.end)
    metrics = fake_ports(model).metrics
    series = model.resources["my_table"].consumed["reads"]
    request = req("ConsumedReadCapacityUnits")
    for first, last in ((0, 61), (100, 2000), (5, minutes - 1), (70, 71 + 120)):
        got = metrics.fetch_sums([request], START + timedelta(minutes=first),
                                 START + timedelta(minutes=last)).values[request.key]
        assert got == pytest.approx(sum(series[first:last]), rel=1e-12)
    throttles = req("ReadThrottleEvents")
    assert metrics.fetch_sums([throttles], START, START + timedelta(days=2)).values[
        throttles.key] is None  # 100 RCU never throttles: no datapoint in any minute


def test_fetch_series_gives_the_datapoints_in_time_order() -> None:
    trace = one_table([0.0, 5.0, 5.0, 0.0, 5.0, 1.0], [1.0] * 6, initial=(10, 10))
    model = CapacityModel(trace, {"my_table": {"reads": 10, "writes": 10}}, metric_delay=0)
    model.advance_to(model.end)
    metrics = fake_ports(model).metrics
    request = req("ConsumedReadCapacityUnits")
    end = START + timedelta(minutes=6)
    assert metrics.fetch_series([request], START, end)[request.key] == [
        (START + timedelta(minutes=m), pytest.approx(value))
        for m, value in ((1, 300), (2, 300), (4, 300), (5, 60))]
    assert metrics.fetch_series([request], START, end, period=120)[request.key] == [
        (START, pytest.approx(300)), (START + timedelta(minutes=2), pytest.approx(300)),
        (START + timedelta(minutes=4), pytest.approx(360))]
    with pytest.raises(ValueError):
        metrics.fetch_series([request], START, end, period=90)
    with pytest.raises(ValueError):
        metrics.fetch_sums([req("ConsumedReadCapacityUnits", "Maximum")], START, end)


# -- SNS ----------------------------------------------------------------------------------------
def test_publish_is_shaped_as_the_live_adapter_sends_it() -> None:
    model = table_and_gsi()
    ports = fake_ports(model)
    notifier = ports.notifier
    assert isinstance(notifier, SimNotifier)
    assert notifier.publish("arn:aws:sns:us-east-1:123456789012:t", "a\nsubject " + "x" * 200,
                            "body") == "sim-1"
    sent = notifier.published[0]
    assert sent["TopicArn"] == "arn:aws:sns:us-east-1:123456789012:t"
    assert "\n" not in sent["Subject"] and len(sent["Subject"]) < 100
    assert sent["Message"] == "body"
    notifier.publish("arn:aws:sns:us-east-1:123456789012:t.fifo", "s", "m")
    assert notifier.published[1]["MessageGroupId"]
    assert ports.calls["Publish"] == 2


def test_the_engine_turns_events_back_into_units_with_sample_count(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the real Engine: 2 CU per request halves the events, and consumed Sum ÷
    SampleCount brings the throttled demand back to the units the model refused."""
    import dynamic_dynamodb.engine as engine_module
    from dynamic_dynamodb.policy.decide import decide
    from dynamic_dynamodb.simulate import runner

    seen: list[Any] = []

    def recording(options: Any, observation: Any, counters: Any, now: Any) -> Any:
        seen.append(observation)
        return decide(options, observation, counters, now)

    monkeypatch.setattr(engine_module, "decide", recording)
    cfg = config(tmp_path, "[global]\ncheck-interval: 60\n[default_options]\n"
                 "lookback-window-start: 2\nlookback-period: 1\n[table: ^my_table$]\n"
                 "reads-upper-threshold: 1000\nthrottled-reads-upper-threshold: 1000000\n")
    # (a throttle threshold never reached: the engine asks the throttle events, as they could
    # trigger an increase, and never scales)
    # 20 CU/s on 10 RCU: the bucket lasts 5 minutes; minute 5 throttles 600 CU.
    trace = one_table([20.0] * 8, [1.0] * 8, initial=(10, 10))
    model = runner.run_dynamic_dynamodb(cfg, trace, {"my_table": {"reads": 10, "writes": 10}},
                                        ["my_table"], runner.Settings(request_units=2.0))
    throttled = [observation.reads for observation in seen if observation.reads.throttle_events]
    assert throttled, "no check saw the throttled minute"
    refused = model.resources["my_table"].throttled["reads"]
    assert throttled[0].throttle_events == int(refused[5] / 2)  # events: requests of 2 CU
    assert throttled[0].throttled_units == pytest.approx(int(refused[5] / 2) * 2.0)
