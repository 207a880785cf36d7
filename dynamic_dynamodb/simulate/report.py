"""The backtest's figures: the terminal table, report.json, timeline.csv and report.png."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from dynamic_dynamodb.simulate.model import DIMENSION_NAMES, CapacityModel

REPORT_FILES = ("report.json", "timeline.csv", "report.png", "decisions.log")
POLICY_NAMES = ("dynamic-dynamodb", "aws-target-tracking", "static-peak", "on-demand", "oracle")
PLOT_POINTS = 3000
ALARMS_PER_DIMENSION = 4  # AWS target tracking: AlarmHigh, AlarmLow, ProvisionedCapacityHigh/Low
MONTH_MINUTES = 30 * 24 * 60  # an alarm-month and a table-month are 30 days here
THROTTLE_EPSILON = 1e-6  # CU; float dust from burst arithmetic is not a throttle


@dataclass(frozen=True)
class Prices:
    """USD, us-east-1, from https://aws.amazon.com/dynamodb/pricing/ (provisioned capacity and
    on-demand request units, the latter as cut on 2024-11-01) and
    https://aws.amazon.com/cloudwatch/pricing/. Each has a --price-* flag."""

    rcu_hour: float = 0.00013
    wcu_hour: float = 0.00065
    read_million: float = 0.125
    write_million: float = 0.625
    metrics_thousand: float = 0.01  # GetMetricData: per 1,000 metrics requested, never free
    alarm_month: float = 0.10  # per standard CloudWatch alarm-month (free tier not counted)

    def capacity_hour(self, dim: str) -> float:
        return self.rcu_hour if dim == "reads" else self.wcu_hour

    def per_unit(self, dim: str) -> float:
        return (self.read_million if dim == "reads" else self.write_million) / 1e6


@dataclass(frozen=True)
class PolicySummary:
    throttled_cu: float
    throttled_fraction: float
    throttled_minutes: int
    capacity_cost_usd: float
    cloudwatch_cost_usd: float
    total_cost_usd: float
    wasted_fraction: float
    decreases: int
    limit_exceeded: int
    updates: int
    demand_cu: float
    served_cu: float
    cloudwatch_metrics_requested: int = 0
    cloudwatch_alarms: int = 0


def alarm_months(alarms: int, minutes: int) -> float:
    """Alarms kept for ``minutes`` (the trace's length), in alarm-months of 30 days."""
    return alarms * minutes / MONTH_MINUTES


def cloudwatch_use(policy: str, model: CapacityModel) -> tuple[int, int]:
    """(metrics requested, alarms) a policy costs in CloudWatch over the replay.

    dynamic-dynamodb: every metric its replay asked the simulated CloudWatch for.
    aws-target-tracking: the 4 alarms it creates per scalable dimension, reads and writes of
    every table and GSI. static-peak, on-demand and the oracle use no CloudWatch."""
    if policy == "dynamic-dynamodb":
        return model.metrics_requested, 0
    if policy == "aws-target-tracking":
        return 0, ALARMS_PER_DIMENSION * len(DIMENSION_NAMES) * len(model.resources)
    return 0, 0


def cloudwatch_cost(prices: Prices, metrics_requested: int, alarms: int, minutes: int) -> float:
    return (metrics_requested / 1000.0 * prices.metrics_thousand
            + alarm_months(alarms, minutes) * prices.alarm_month)


def per_table_month(summary: PolicySummary, prices: Prices, resources: int,
                    minutes: int) -> float:
    """A policy's CloudWatch cost as USD per table-month, reads + writes: a GSI counts as a
    table (it has its own metrics and alarms); 30-day months."""
    if resources <= 0 or minutes <= 0:
        return 0.0
    cost = cloudwatch_cost(prices, summary.cloudwatch_metrics_requested,
                           summary.cloudwatch_alarms, minutes)  # unrounded
    return cost / resources * MONTH_MINUTES / minutes


def summarise_policy(policy: str, model: CapacityModel, prices: Prices) -> PolicySummary:
    """``summarise`` with what the policy's name implies: on-demand pays per request, and each
    policy's CloudWatch use (``cloudwatch_use``)."""
    metrics, alarms = cloudwatch_use(policy, model)
    return summarise(model, prices, on_demand=policy == "on-demand", metrics_requested=metrics,
                     alarms=alarms)


def summarise_resource(policy: str, model: CapacityModel, key: str,
                       prices: Prices) -> PolicySummary:
    """``summarise_policy`` for one table or GSI (``key``, e.g. ``orders:by_customer``).

    Its CloudWatch share: target tracking's alarms are per resource (8 each); the metrics
    dynamic-dynamodb requested are counted per replay, not per resource, so each resource is
    charged an equal share of them."""
    metrics, alarms = cloudwatch_use(policy, model)
    count = max(1, len(model.resources))
    return summarise(model, prices, on_demand=policy == "on-demand",
                     metrics_requested=round(metrics / count), alarms=round(alarms / count),
                     keys=(key,))


def summarise(model: CapacityModel, prices: Prices, *, on_demand: bool = False,
              metrics_requested: int = 0, alarms: int = 0,
              keys: Iterable[str] | None = None) -> PolicySummary:
    """The figures of ``model``'s replay, over every resource or only those in ``keys``."""
    demand = served = throttled = capacity = cost = 0.0
    throttled_at: set[int] = set()
    decreases = limit_exceeded = updates = 0
    resources = (model.resources.values() if keys is None
                 else [model.resources[key] for key in keys])
    for resource in resources:
        decreases += resource.decreases
        limit_exceeded += resource.limit_exceeded
        updates += resource.updates
        for dim in DIMENSION_NAMES:
            demand += sum(resource.demand[dim]) * 60.0
            dim_served = sum(resource.consumed[dim])
            served += dim_served
            throttled += sum(resource.throttled[dim])
            throttled_at.update(minute for minute, value in enumerate(resource.throttled[dim])
                                if value > THROTTLE_EPSILON)
            dim_capacity = sum(resource.capacity_seconds[dim])
            capacity += dim_capacity
            if on_demand:
                cost += dim_served * prices.per_unit(dim)
            else:
                cost += dim_capacity / 3600.0 * prices.capacity_hour(dim)
    wasted = 0.0 if on_demand or capacity <= 0 else max(0.0, capacity - served) / capacity
    watch = cloudwatch_cost(prices, metrics_requested, alarms, model.minutes)
    return PolicySummary(
        throttled_cu=round(throttled, 3),
        throttled_fraction=throttled / demand if demand > 0 else 0.0,
        throttled_minutes=len(throttled_at),
        capacity_cost_usd=round(cost, 6),
        cloudwatch_cost_usd=round(watch, 6),
        total_cost_usd=round(cost + watch, 6),
        wasted_fraction=wasted,
        decreases=decreases,
        limit_exceeded=limit_exceeded,
        updates=updates,
        demand_cu=round(demand, 3),
        served_cu=round(served, 3),
        cloudwatch_metrics_requested=metrics_requested,
        cloudwatch_alarms=alarms,
    )


def report_json(summaries: dict[str, PolicySummary], extra: dict[str, Any]) -> dict[str, Any]:
    return {"policies": {name: asdict(summary) for name, summary in summaries.items()}, **extra}


def table_lines(summaries: dict[str, PolicySummary]) -> list[str]:
    header = (f"{'policy':<20} {'throttled CU':>14} {'% demand':>9} {'thr. min':>8} "
              f"{'capacity $':>10} {'CloudWatch $':>12} {'total $':>10} {'wasted %':>8} "
              f"{'decr.':>6} {'LimitExc':>8} {'updates':>7}")
    lines = [header, "-" * len(header)]
    for name, s in summaries.items():
        lines.append(
            f"{name:<20} {s.throttled_cu:>14,.0f} {s.throttled_fraction * 100:>8.3f}% "
            f"{s.throttled_minutes:>8d} {s.capacity_cost_usd:>10.2f} "
            f"{s.cloudwatch_cost_usd:>12.2f} {s.total_cost_usd:>10.2f} "
            f"{s.wasted_fraction * 100:>7.1f}% "
            f"{s.decreases:>6d} {s.limit_exceeded:>8d} {s.updates:>7d}")
    return lines


def cloudwatch_lines(summaries: dict[str, PolicySummary], prices: Prices, resources: int,
                     minutes: int) -> list[str]:
    """What the CloudWatch column is made of, and the same per table-month."""
    lines = []
    ours = summaries.get("dynamic-dynamodb")
    if ours is not None:
        lines.append(
            f"CloudWatch: dynamic-dynamodb requested {ours.cloudwatch_metrics_requested:,} "
            f"metrics (${prices.metrics_thousand:g} per 1,000): "
            f"${per_table_month(ours, prices, resources, minutes):.2f} per table-month, "
            "reads + writes")
    aws = summaries.get("aws-target-tracking")
    if aws is not None:
        lines.append(
            f"CloudWatch: aws-target-tracking keeps {aws.cloudwatch_alarms:,} alarms "
            f"({ALARMS_PER_DIMENSION} per table or GSI dimension, ${prices.alarm_month:.2f} per "
            f"alarm-month, prorated over the trace): "
            f"${per_table_month(aws, prices, resources, minutes):.2f} per table-month")
    if lines:
        lines.append("(a month is 30 days; a GSI counts as a table; CloudWatch's free tier is "
                     "not counted)")
    return lines


TIMELINE_COLUMNS = ("policy", "timestamp", "table", "gsi", "dimension", "demand", "provisioned",
                    "served", "throttled")


def _rounded(value: float) -> str:
    if value == int(value):  # most values: whole capacities, zero throttles
        return str(int(value))
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def write_timeline(path: str, models: dict[str, CapacityModel], *, append: str | None = None
                   ) -> None:
    """One row per policy, resource, dimension and minute; values in CU/s averaged over the
    minute, timestamps at the minute's start. ``append``: a file of rows written earlier by
    ``write_timeline_rows`` (for other policies), copied after these."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(TIMELINE_COLUMNS) + "\n")
        write_timeline_rows(handle, models)
        if append is not None:
            with open(append, encoding="utf-8", newline="") as rest:
                shutil.copyfileobj(rest, handle, 1 << 20)


def write_timeline_rows(handle: TextIO, models: dict[str, CapacityModel]) -> None:
    texts: dict[float, str] = {}  # capacities and demands repeat a lot: format each once

    def column(values: Iterable[float]) -> list[str]:
        out = []
        for value in values:
            text = texts.get(value)
            if text is None:
                text = texts[value] = _rounded(value)
            out.append(text)
        return out

    for name, model in models.items():
        stamps = [model.minute_start(m).strftime("%Y-%m-%dT%H:%M:%SZ")
                  for m in range(model.minutes)]
        for resource in model.resources.values():
            for dim in DIMENSION_NAMES:
                prefix = f"{name},"
                middle = f",{_csv_cell(resource.table)},{_csv_cell(resource.gsi or '')},{dim},"
                demand = column(resource.demand[dim])
                capacity = column(value / 60.0 for value in resource.capacity_seconds[dim])
                served = column(value / 60.0 for value in resource.consumed[dim])
                throttled = column(value / 60.0 for value in resource.throttled[dim])
                handle.writelines(
                    f"{prefix}{stamp}{middle}{d},{c},{s},{t}\n"
                    for stamp, d, c, s, t in zip(stamps, demand, capacity, served, throttled,
                                                  strict=True))
        if len(texts) > 1_000_000:
            texts.clear()


def _csv_cell(text: str) -> str:
    if any(char in text for char in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def write_json(path: str, data: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")


def write_plot(path: str, models: dict[str, CapacityModel]) -> str | None:
    """report.png; returns a message instead when matplotlib (the ``plot`` extra) is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ("matplotlib is not installed (pip install 'dynamic-dynamodb[plot]'); "
                "skipping report.png")
    first = next(iter(models.values()))
    panels = [(key, dim) for key in first.resources for dim in DIMENSION_NAMES]
    figure, axes = plt.subplots(len(panels), 1, figsize=(14, 3.2 * len(panels)), squeeze=False,
                                sharex=True)
    # Two weeks are 20,160 minutes: plot at most ~3,000 points a line, keeping each bucket's
    # maximum so no peak and no throttled minute disappears.
    step = max(1, math.ceil(first.minutes / PLOT_POINTS))
    hours = [m / 60.0 for m in range(0, first.minutes, step)]
    colours = {"dynamic-dynamodb": "tab:blue", "aws-target-tracking": "tab:orange",
               "static-peak": "tab:gray", "oracle": "tab:green"}
    for axis, (key, dim) in zip(axes[:, 0], panels, strict=True):
        resource = first.resources[key]
        axis.plot(hours, _bucket_max(resource.demand[dim], step), color="black", linewidth=0.8,
                  label="demand")
        for offset, (name, model) in enumerate(models.items()):
            if name == "on-demand":
                continue
            series = model.resources[key]
            colour = colours.get(name)
            axis.plot(hours, [c / 60.0 for c in _bucket_max(series.capacity_seconds[dim], step)],
                      linewidth=0.9, label=f"{name} provisioned", color=colour,
                      drawstyle="steps-post")
            marks = [h for h, t in zip(hours, _bucket_max(series.throttled[dim], step),
                                       strict=True) if t > THROTTLE_EPSILON]
            if marks:
                axis.plot(marks, [0] * len(marks), linestyle="none", marker="|",
                          markersize=10 + 4 * offset, color=colour,
                          label=f"{name} throttled minutes")
        axis.set_title(f"{key} {dim}")
        axis.set_ylabel("CU/s")
        axis.legend(loc="upper right", fontsize="x-small", ncol=2)
    axes[-1, 0].set_xlabel(f"hours since {first.start:%Y-%m-%d %H:%M} UTC")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return None


def _bucket_max(values: list[float], step: int) -> list[float]:
    if step == 1:
        return list(values)
    return [max(values[start:start + step]) for start in range(0, len(values), step)]


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait (pending) until the block is done."""
    if not hasattr(signal, "pthread_sigmask"):  # not POSIX
        yield
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, (signal.SIGINT, signal.SIGTERM))
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


class StagedReport:
    """A report directory that holds the previous complete report or the new one, never a
    mix and never a half-written file.

    The files are written in a hidden directory inside it (``.backtest-*``, on the same file
    system) and ``commit`` moves them over the old ones with SIGINT and SIGTERM held off, so
    an interrupted run leaves the previous report (or no directory, if it made it). Only a
    SIGKILL or a crash in the middle of the commit could leave a mix."""

    def __init__(self, directory: str):
        self.directory = directory
        self.staging: str | None = None
        self.made_directory = False
        self.committed = False

    def path(self, name: str) -> str:
        """Where to write the file ``name`` of the new report."""
        if self.staging is None:
            with signals_held():  # no untracked directory if interrupted right here
                if not os.path.isdir(self.directory):
                    os.makedirs(self.directory)
                    self.made_directory = True
                self.staging = tempfile.mkdtemp(prefix=".backtest-", dir=self.directory)
        return os.path.join(self.staging, name)

    def commit(self) -> None:
        """Replace the previous report with the staged files; a report file this run did not
        write (report.png without matplotlib) is removed rather than left from an older run."""
        with signals_held():
            for name in REPORT_FILES:
                staged, target = self.path(name), os.path.join(self.directory, name)
                if os.path.exists(staged):
                    os.replace(staged, target)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(target)
            self.committed = True
        self.discard()

    def discard(self) -> None:
        """Remove what is staged (everything, unless committed), and the directory if this run
        made it and has committed nothing to it."""
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
        if self.made_directory and not self.committed:
            with contextlib.suppress(OSError):
                os.rmdir(self.directory)  # only if empty
