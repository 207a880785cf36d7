"""CloudWatch in the backtest's cost: the metrics dynamic-dynamodb's replay requests, the alarms
AWS target tracking keeps, prorated over the trace, and the totals in the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynamic_dynamodb.cli import build_parser
from dynamic_dynamodb.simulate import report
from dynamic_dynamodb.simulate.report import (
    MONTH_MINUTES,
    Prices,
    cloudwatch_use,
    per_table_month,
    summarise,
    summarise_policy,
    table_lines,
)
from dynamic_dynamodb.simulate.runner import (
    Settings,
    SimulationError,
    check_count,
    settings_from_args,
    simulate,
    summaries_of,
)
from dynamic_dynamodb.simulate.trace import ResourceTrace, Trace
from tests.unit.simulate.helpers import START, config

QUIET = 5.0  # CU/s on 10 provisioned: 50 %, inside every band: no throttle, no update
# Throttle events can trigger an increase: the engine asks them on every check, so a quiet
# check asks 4 metrics per table or GSI (consumed and throttle events, reads and writes).
THROTTLE_OPTIONS = "throttled-reads-upper-threshold: 1\nthrottled-writes-upper-threshold: 1\n"


def quiet_trace(minutes: int, *, gsi: bool = False) -> Trace:
    resources = [ResourceTrace("t", None, (QUIET,) * minutes, (QUIET,) * minutes, 10, 10)]
    if gsi:
        resources.append(ResourceTrace("t", "g", (QUIET,) * minutes, (QUIET,) * minutes, 10, 10))
    return Trace(start=START, minutes=minutes, resources=tuple(resources))


@pytest.mark.parametrize(("interval", "gsi"), [(60, False), (300, False), (60, True)])
def test_the_replay_requests_4_metrics_per_resource_and_check_without_throttles(
        tmp_path: Path, interval: int, gsi: bool) -> None:
    conf = config(tmp_path, f"[global]\ncheck-interval: {interval}\n[default_options]\n"
                            f"{THROTTLE_OPTIONS}[table: ^t$]\n[gsi: ^g$ table: ^t$]\n")
    trace = quiet_trace(60, gsi=gsi)
    models, _ = simulate(conf, trace, Settings())
    checks = check_count(conf, trace)
    assert checks == 60 * 60 // interval
    resources = 2 if gsi else 1
    ours = models["dynamic-dynamodb"]
    assert ours.metrics_requested == checks * 4 * resources
    assert sum(r.throttled[d][m] for r in ours.resources.values() for d in ("reads", "writes")
               for m in range(60)) == 0
    summaries = summaries_of(models, Prices())
    mine = summaries["dynamic-dynamodb"]
    assert mine.cloudwatch_metrics_requested == checks * 4 * resources
    assert mine.cloudwatch_cost_usd == pytest.approx(checks * 4 * resources * 0.01 / 1000)
    assert mine.cloudwatch_alarms == 0
    # Target tracking: 4 alarms x (reads, writes) per table or GSI, for one hour of a month.
    aws = summaries["aws-target-tracking"]
    assert (aws.cloudwatch_metrics_requested, aws.cloudwatch_alarms) == (0, 8 * resources)
    assert aws.cloudwatch_cost_usd == pytest.approx(round(8 * resources * 0.10 / 720, 6))
    for name in ("static-peak", "on-demand", "oracle"):
        s = summaries[name]
        assert (s.cloudwatch_cost_usd, s.cloudwatch_metrics_requested, s.cloudwatch_alarms) == (
            0, 0, 0)
        assert s.total_cost_usd == s.capacity_cost_usd
    for s in summaries.values():
        assert s.total_cost_usd == pytest.approx(s.capacity_cost_usd + s.cloudwatch_cost_usd,
                                                 abs=2e-6)
    # Per table-month: at 60 s, 43,200 checks x 4 metrics x $0.01/1,000 = $1.728 a resource;
    # at 300 s a fifth of it. Target tracking's 8 alarms: $0.80.
    assert per_table_month(mine, Prices(), resources, 60) == pytest.approx(
        1.728 * 60 / interval)
    assert per_table_month(aws, Prices(), resources, 60) == pytest.approx(0.80)


def test_throttled_dimensions_ask_two_more_metrics(tmp_path: Path) -> None:
    # Reads throttle from the first minute (50 CU/s on 10, and 10 is the max): each check asks
    # the 4 metrics, then SampleCount and the key-range throttles of the throttled reads.
    conf = config(tmp_path, "[global]\ncheck-interval: 60\n[table: ^t$]\n"
                            f"{THROTTLE_OPTIONS}max-provisioned-reads: 10\n")
    trace = Trace(START, 20, (ResourceTrace("t", None, (50.0,) * 20, (QUIET,) * 20, 10, 10),))
    models, _ = simulate(conf, trace, Settings())
    ours = models["dynamic-dynamodb"]
    checks = check_count(conf, trace)
    extra = ours.metrics_requested - checks * 4
    assert extra > 0 and extra % 2 == 0
    assert extra <= checks * 2


@pytest.mark.parametrize("text", ["[table: ^t$]\n", f"[table: ^t$]\n{THROTTLE_OPTIONS}"])
def test_the_count_is_every_query_the_engine_sent(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   text: str) -> None:
    # Whatever the engine chooses to ask (it may skip metrics no decision needs), the model
    # counts exactly the queries that reached the simulated CloudWatch.
    from dynamic_dynamodb.simulate.fakes import SimMetrics

    sent: list[int] = []
    original = SimMetrics.fetch_sums

    def spy(self: SimMetrics, requests: list, start: object, end: object) -> object:
        sent.append(len(requests))
        return original(self, requests, start, end)  # type: ignore[arg-type]

    monkeypatch.setattr(SimMetrics, "fetch_sums", spy)
    demand = (QUIET,) * 30 + (40.0,) * 10 + (1.0,) * 20  # quiet, throttled, then low
    trace = Trace(START, 60, (ResourceTrace("t", None, demand, demand, 10, 10),))
    models, _ = simulate(config(tmp_path, "[global]\ncheck-interval: 60\n" + text), trace,
                         Settings())
    ours = models["dynamic-dynamodb"]
    assert sent and ours.metrics_requested == sum(sent)
    summary = summaries_of(models, Prices())["dynamic-dynamodb"]
    assert summary.cloudwatch_metrics_requested == sum(sent)
    assert summary.cloudwatch_cost_usd == pytest.approx(sum(sent) * 0.01 / 1000, abs=1e-6)


def test_target_tracking_alarms_are_prorated_over_the_trace() -> None:
    prices = Prices()
    trace = quiet_trace(3 * 24 * 60, gsi=True)  # 3 days: a tenth of a 30-day month
    from dynamic_dynamodb.simulate.baselines import run_static_peak

    model = run_static_peak(trace, ["t", "t:g"])
    assert cloudwatch_use("aws-target-tracking", model) == (0, 16)
    summary = summarise_policy("aws-target-tracking", model, prices)
    assert summary.cloudwatch_cost_usd == pytest.approx(16 * 0.10 / 10)
    assert summary.total_cost_usd == pytest.approx(summary.capacity_cost_usd + 0.16)
    # The price is the flag's; a whole month of 30 days is 16 alarm-months.
    month = summarise(model, Prices(alarm_month=0.30), alarms=16)
    assert month.cloudwatch_cost_usd == pytest.approx(16 * 0.30 * trace.minutes / MONTH_MINUTES)
    assert MONTH_MINUTES == 30 * 24 * 60
    assert per_table_month(summary, prices, 2, trace.minutes) == pytest.approx(0.80)
    # Policies that use no CloudWatch.
    for name in ("static-peak", "on-demand", "oracle"):
        assert cloudwatch_use(name, model) == (0, 0)
        assert summarise_policy(name, model, prices).cloudwatch_cost_usd == 0


def test_metrics_are_priced_per_thousand() -> None:
    trace = quiet_trace(10)
    from dynamic_dynamodb.simulate.baselines import run_static_peak

    model = run_static_peak(trace, ["t"])
    model.metrics_requested = 250_000
    assert summarise_policy("dynamic-dynamodb", model, Prices()).cloudwatch_cost_usd == (
        pytest.approx(2.50))
    priced = summarise_policy("dynamic-dynamodb", model, Prices(metrics_thousand=0.02))
    assert priced.cloudwatch_cost_usd == pytest.approx(5.0)
    assert priced.total_cost_usd == pytest.approx(priced.capacity_cost_usd + 5.0)


def test_the_terminal_table_has_capacity_cloudwatch_and_total_columns() -> None:
    trace = quiet_trace(10)
    from dynamic_dynamodb.simulate.baselines import run_static_peak

    model = run_static_peak(trace, ["t"])
    model.metrics_requested = 123_456
    summaries = {"dynamic-dynamodb": summarise_policy("dynamic-dynamodb", model, Prices())}
    header, rule, row = table_lines(summaries)
    for column in ("capacity $", "CloudWatch $", "total $"):
        assert column in header
    cells = row.split()
    assert cells[0] == "dynamic-dynamodb"
    # capacity, CloudWatch and total, in that order, right under their headings.
    for column, value in (("capacity $", summaries["dynamic-dynamodb"].capacity_cost_usd),
                          ("CloudWatch $", 1.23), ("total $",
                                                   summaries["dynamic-dynamodb"].total_cost_usd)):
        end = header.index(column) + len(column)
        assert row[:end].split()[-1] == f"{value:.2f}"
    assert len(rule) == len(header)
    lines = report.cloudwatch_lines(summaries, Prices(), 1, trace.minutes)
    assert lines[0].startswith("CloudWatch: dynamic-dynamodb requested 123,456 metrics "
                               "($0.01 per 1,000): $")
    assert lines[0].endswith(" per table-month, reads + writes")
    assert "30 days" in lines[-1]


def test_the_price_flags_reach_the_settings(tmp_path: Path) -> None:
    parser = build_parser()
    args = parser.parse_args(["--simulate", "t.csv"])
    prices = settings_from_args(args).prices
    assert (prices.metrics_thousand, prices.alarm_month) == (0.01, 0.10)
    args = parser.parse_args(["--simulate", "t.csv", "--price-metrics-thousand", "0.02",
                              "--price-alarm-month", "0.3"])
    prices = settings_from_args(args).prices
    assert (prices.metrics_thousand, prices.alarm_month) == (0.02, 0.3)
    args = parser.parse_args(["--simulate", "t.csv", "--price-alarm-month", "-1"])
    with pytest.raises(SimulationError, match="--price-alarm-month must be a finite number >= 0"):
        settings_from_args(args)
