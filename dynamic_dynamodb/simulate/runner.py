"""``--simulate``: replay a trace through the real engine and the baselines, then report.

dynamic-dynamodb is not re-implemented here: the daemon's own ``Engine`` runs one
``run_cycle()`` every check-interval of simulated time, against fake DynamoDB/CloudWatch/SNS
clients backed by the capacity model. Discovery, section matching, observation, ``decide``,
the D14 retry, ResourceInUse handling, counters and the decrease ledger are the live code.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from dynamic_dynamodb.breaker import BreakerResult
from dynamic_dynamodb.config.loader import match_gsi, match_table
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.engine import Engine
from dynamic_dynamodb.errors import DynamicDynamoDBError
from dynamic_dynamodb.simulate import baselines, report
from dynamic_dynamodb.simulate.baselines import Limits
from dynamic_dynamodb.simulate.fakes import fake_clients
from dynamic_dynamodb.simulate.model import DIMENSION_NAMES, CapacityModel
from dynamic_dynamodb.simulate.trace import Trace, read_trace
from dynamic_dynamodb.state import State

INITIAL_UTILISATION = 0.7  # without initial_* columns a resource starts at demand ÷ 0.7


class SimulationError(DynamicDynamoDBError):
    pass


@dataclass(frozen=True)
class Settings:
    tt_target: float = 70.0
    update_delay: float = 60.0  # seconds
    metric_delay: float = 60.0  # seconds
    prices: report.Prices = field(default_factory=report.Prices)


@dataclass(frozen=True)
class Managed:
    """The trace's resources that the configuration manages, with their options."""

    options: dict[str, Any]  # key -> ResourceOptions
    skipped: tuple[str, ...]


def managed_resources(config: Config, trace: Trace) -> Managed:
    """Match the trace's tables and GSIs to sections exactly as a live run does (D22, D7)."""
    options: dict[str, Any] = {}
    skipped: list[str] = []
    for resource in trace.resources:
        section, _ = match_table(config, resource.table)
        if section is None:
            skipped.append(resource.key)
            continue
        if resource.gsi is None:
            options[resource.key] = section.options
            continue
        gsi_section = match_gsi(section, resource.gsi)
        if gsi_section is None:
            skipped.append(resource.key)
            continue
        options[resource.key] = gsi_section.options
    return Managed(options, tuple(skipped))


def limits_of(options: Any) -> dict[str, Limits]:
    return {dim: Limits(getattr(options, dim).min_provisioned or 1,
                        getattr(options, dim).max_provisioned)
            for dim in DIMENSION_NAMES}


def window_warnings(managed: Managed, settings: Settings) -> list[str]:
    """Windows whose newest minutes CloudWatch has not published yet when the check runs.

    The engine sums what is there and divides by the whole window (D15), so such a window
    reads low, or reads 0 % when it is entirely unpublished."""
    delay = settings.metric_delay / 60.0
    warnings = []
    seen: set[tuple[int, int]] = set()
    for key, options in managed.options.items():
        start, period = options.lookback_window_start, options.lookback_period
        if start < period + delay and (start, period) not in seen:
            seen.add((start, period))
            missing = min(period, math.ceil(period + delay - start))
            warnings.append(
                f"{key}: lookback-window-start {start} with lookback-period {period} and a "
                f"{delay:g}-minute metric delay: the newest {missing} of {period} minute(s) of "
                "every window are not published at check time, so consumption reads low"
                + (" (always 0 %: nothing will ever scale)" if missing >= period else ""))
    return warnings


def initial_capacity(trace: Trace, managed: Managed) -> dict[str, dict[str, int]]:
    initial: dict[str, dict[str, int]] = {}
    for resource in trace.resources:
        if resource.key not in managed.options:
            continue
        limits = limits_of(managed.options[resource.key])
        given = {"reads": resource.initial_reads, "writes": resource.initial_writes}
        initial[resource.key] = {}
        for dim in DIMENSION_NAMES:
            value = given[dim]
            if value is None:
                first = resource.demand(dim)[0]
                value = limits[dim].clamp(math.ceil(first / INITIAL_UTILISATION - 1e-9))
            initial[resource.key][dim] = value
    return initial


def _breaker_closed(*_: Any, **__: Any) -> BreakerResult:
    return BreakerResult(True, "Circuit breaker counts as closed in a simulation")


@contextlib.contextmanager
def quiet_engine(level: int = logging.ERROR) -> Iterator[None]:
    """The engine logs every decision at INFO; a two-week replay would drown in it."""
    root = logging.getLogger("dynamic_dynamodb")
    before = root.level
    root.setLevel(level)
    try:
        yield
    finally:
        root.setLevel(before)


def check_interval_seconds(config: Config) -> float:
    interval = float(config.global_options.check_interval or 0)
    # check-interval 0 means "back to back" live; a replay checks once a simulated minute.
    return interval if interval > 0 else 60.0


def run_dynamic_dynamodb(config: Config, trace: Trace, initial: dict[str, dict[str, int]],
                         keys: list[str], settings: Settings) -> CapacityModel:
    model = CapacityModel(trace, initial, update_delay=settings.update_delay,
                          metric_delay=settings.metric_delay, keys=keys)
    engine = Engine(config, fake_clients(model).ports(), State(), clock=model.now_datetime,
                    breaker_check=_breaker_closed)
    interval = check_interval_seconds(config)
    check = 0
    with quiet_engine():
        while check * interval < model.end:
            model.advance_to(check * interval)
            engine.run_cycle()
            check += 1
        model.advance_to(model.end)
    return model


_FORKED_JOB: tuple[Any, ...] | None = None


def _forked_dynamic_dynamodb() -> CapacityModel:
    assert _FORKED_JOB is not None
    return run_dynamic_dynamodb(*_FORKED_JOB)


def simulate(config: Config, trace: Trace, settings: Settings, *, parallel: bool = False,
             meanwhile: Callable[[dict[str, CapacityModel]], None] | None = None,
             ) -> tuple[dict[str, CapacityModel], Managed]:
    """Every policy on the trace. ``parallel`` replays dynamic-dynamodb (the slow one: the
    whole engine runs every check) in a second process while this one runs the baselines,
    then ``meanwhile(baselines)``."""
    managed = managed_resources(config, trace)
    if not managed.options:
        names = ", ".join(resource.key for resource in trace.resources)
        raise SimulationError(f"no table or GSI of the trace ({names}) matches a section of the "
                              "configuration; nothing to simulate")
    keys = list(managed.options)
    initial = initial_capacity(trace, managed)
    limits = {key: limits_of(options) for key, options in managed.options.items()}
    global _FORKED_JOB
    pool = None
    if parallel and "fork" in multiprocessing.get_all_start_methods():
        # The configuration's generated dataclasses do not pickle; a forked child inherits it.
        _FORKED_JOB = (config, trace, initial, keys, settings)
        pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))
    try:
        ours = pool.submit(_forked_dynamic_dynamodb) if pool else None
        others = {
            "aws-target-tracking": baselines.run_target_tracking(
                trace, initial, limits, target=settings.tt_target,
                update_delay=settings.update_delay, metric_delay=settings.metric_delay),
            "static-peak": baselines.run_static_peak(trace, keys),
            "on-demand": baselines.run_on_demand(trace, keys),
            "oracle": baselines.run_oracle(
                trace, initial, keys, weights={"reads": settings.prices.rcu_hour,
                                               "writes": settings.prices.wcu_hour}),
        }
        if meanwhile is not None:
            meanwhile(others)
        first = (ours.result() if ours is not None
                 else run_dynamic_dynamodb(config, trace, initial, keys, settings))
    finally:
        _FORKED_JOB = None
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return {"dynamic-dynamodb": first, **others}, managed


def parallel_possible() -> bool:
    return (os.cpu_count() or 1) > 1


def summaries_of(models: dict[str, CapacityModel], prices: report.Prices
                 ) -> dict[str, report.PolicySummary]:
    return {name: report.summarise(model, prices, on_demand=name == "on-demand")
            for name, model in models.items()}


def settings_from_args(args: argparse.Namespace) -> Settings:
    for flag in ("update_delay", "metric_delay", "price_rcu_hour", "price_wcu_hour",
                 "price_read_million", "price_write_million"):
        if getattr(args, flag) < 0:
            raise SimulationError(f"--{flag.replace('_', '-')} must not be negative")
    if not 0 < args.tt_target <= 100:
        raise SimulationError("--tt-target must be a percentage in (0, 100]")
    return Settings(
        tt_target=args.tt_target,
        update_delay=args.update_delay * 60.0,
        metric_delay=args.metric_delay * 60.0,
        prices=report.Prices(args.price_rcu_hour, args.price_wcu_hour, args.price_read_million,
                             args.price_write_million),
    )


def run_simulation(config: Config, args: argparse.Namespace) -> int:
    try:
        return _run_simulation(config, args)
    except OSError as exc:
        raise SimulationError(f"cannot write the report in {args.report_dir}: "
                              f"{exc.strerror or exc}") from None


def _run_simulation(config: Config, args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    trace = read_trace(args.simulate)
    directory = args.report_dir
    part = os.path.join(directory, ".timeline.baselines.part")

    def write_baselines(others: dict[str, CapacityModel]) -> None:
        # Written while dynamic-dynamodb is still replaying in the other process.
        report.ensure_dir(directory)
        with open(part, "w", encoding="utf-8", newline="") as handle:
            report.write_timeline_rows(handle, others)

    try:
        models, managed = simulate(config, trace, settings, parallel=parallel_possible(),
                                   meanwhile=write_baselines)
        for key in managed.skipped:
            print(f"dynamic-dynamodb: warning: {key} matches no section of the configuration; "
                  "left out of the backtest", file=sys.stderr)
        for warning in window_warnings(managed, settings):
            print(f"dynamic-dynamodb: warning: {warning}", file=sys.stderr)
        summaries = summaries_of(models, settings.prices)
        first = next(iter(models.values()))
        print(f"Backtest of {args.simulate}: {len(first.resources)} resource(s), "
              f"{trace.minutes} minutes from {trace.start:%Y-%m-%d %H:%M} UTC, check-interval "
              f"{check_interval_seconds(config):g} s")
        for line in report.table_lines(summaries):
            print(line)
        oracle = summaries["oracle"]
        for name, summary in summaries.items():
            if (name not in ("oracle", "on-demand") and summary.throttled_cu == 0
                    and summary.capacity_cost_usd < oracle.capacity_cost_usd):
                print(f"note: {name} costs less than the oracle without throttling: it rides "
                      "the burst bucket, which the oracle does not")

        extra = {
            "trace": os.path.abspath(args.simulate),
            "start": trace.start.isoformat(),
            "minutes": trace.minutes,
            "resources": list(first.resources),
            "skipped": list(managed.skipped),
            "settings": {
                "check_interval_seconds": check_interval_seconds(config),
                "tt_target": settings.tt_target,
                "update_delay_minutes": settings.update_delay / 60.0,
                "metric_delay_minutes": settings.metric_delay / 60.0,
                "prices": {"rcu_hour": settings.prices.rcu_hour,
                           "wcu_hour": settings.prices.wcu_hour,
                           "read_million": settings.prices.read_million,
                           "write_million": settings.prices.write_million},
            },
        }
        report.write_json(os.path.join(directory, "report.json"),
                          report.report_json(summaries, extra))
        report.write_timeline(os.path.join(directory, "timeline.csv"),
                              {"dynamic-dynamodb": models["dynamic-dynamodb"]}, append=part)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(part)
    message = report.write_plot(os.path.join(directory, "report.png"), models)
    if message:
        print(f"dynamic-dynamodb: {message}", file=sys.stderr)
        print(f"Wrote report.json and timeline.csv to {directory}")
    else:
        print(f"Wrote report.json, timeline.csv and report.png to {directory}")
    return 0
