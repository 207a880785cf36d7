"""Decision quality: every shipped trace, with the example configuration and the recommended one.

For each trace and configuration it replays the trace through dynamic-dynamodb (the real
engine), the emulated AWS target tracking, static peak, on-demand and the oracle, and prints
the backtest's figures: capacity cost, CloudWatch cost (dynamic-dynamodb's GetMetricData
metrics, target tracking's alarms) and their total. The goal check is recommended.conf's goal:
on every trace, less throttled demand than aws-target-tracking at equal or lower total cost,
and no LimitExceeded. Then dynamic-dynamodb's CloudWatch cost per table-month (a GSI counts
as a table, 30-day months) on each trace, and the on-demand advice for every table and GSI of
each trace and configuration (simulate/advice.py). Prints the figures; asserts nothing.

    .venv/bin/python bench/decision_quality.py [--traces examples/traces] [--jobs 2]
        [--metric-delay 1] [--also NAME=CONF ...] [--config example|recommended]
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dynamic_dynamodb.config.loader import load_config  # noqa: E402
from dynamic_dynamodb.simulate import advice, runner  # noqa: E402
from dynamic_dynamodb.simulate.report import PolicySummary, Prices, per_table_month  # noqa: E402
from dynamic_dynamodb.simulate.trace import read_trace  # noqa: E402

CONFIGS = {
    "example": str(ROOT / "example-dynamic-dynamodb.conf"),
    "recommended": str(ROOT / "examples" / "recommended.conf"),
}


@dataclass(frozen=True)
class Result:
    config_name: str
    trace_path: str
    summaries: dict[str, PolicySummary]
    prices: Prices
    resources: int  # tables and GSIs replayed
    minutes: int
    check_interval: float  # seconds
    advice: list[advice.Advice]


def run_one(job: tuple[str, str, str, float]) -> Result:
    config_name, config_path, trace_path, metric_delay = job
    config = load_config(config_path)
    settings = runner.Settings(metric_delay=metric_delay * 60.0)
    trace = read_trace(trace_path)
    models, _ = runner.simulate(config, trace, settings)
    return Result(config_name, trace_path, runner.summaries_of(models, settings.prices),
                  settings.prices, len(models["dynamic-dynamodb"].resources), trace.minutes,
                  runner.check_interval_seconds(config), advice.advise(models, settings.prices))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--traces", default=str(ROOT / "examples" / "traces"))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--config", choices=sorted(CONFIGS), action="append",
                        help="only this configuration (repeatable)")
    parser.add_argument("--also", metavar="NAME=PATH", action="append", default=[],
                        help="also run this configuration file (repeatable)")
    parser.add_argument("--metric-delay", type=float, default=1.0,
                        help="minutes before a CloudWatch datapoint is visible (default: 1)")
    args = parser.parse_args()
    traces = sorted(glob.glob(os.path.join(args.traces, "*.csv*")))
    configs = {name: CONFIGS[name] for name in args.config or CONFIGS}
    configs.update(dict(item.split("=", 1) for item in args.also))
    names = list(configs)
    jobs = [(name, configs[name], path, args.metric_delay) for name in names for path in traces]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(run_one, jobs))

    print(f"metric delay {args.metric_delay:g} min, traces from {args.traces}")
    print("costs in USD over the trace: capacity, CloudWatch (dynamic-dynamodb: GetMetricData "
          "metrics requested; aws-target-tracking: 4 alarms per table or GSI dimension, "
          "prorated, 30-day months) and their total")
    header = (f"| {'config':<11} | {'trace':<16} | {'policy':<19} | {'throttled %':>11} | "
              f"{'thr. min':>8} | {'capacity $':>10} | {'CloudWatch $':>12} | {'total $':>8} | "
              f"{'wasted %':>8} | {'decr.':>5} | {'LimitExc':>8} | {'updates':>7} |")
    print(header)
    print("|" + "|".join("-" * (len(cell) + 0) for cell in header.split("|")[1:-1]) + "|")
    verdicts = []
    for result in results:
        config_name, summaries = result.config_name, result.summaries
        trace = Path(result.trace_path).name.split(".")[0]
        for policy, s in summaries.items():
            if policy in ("static-peak", "on-demand") and config_name != names[0]:
                continue  # they do not depend on the configuration
            print(f"| {config_name:<11} | {trace:<16} | {policy:<19} | "
                  f"{s.throttled_fraction * 100:>10.3f}% | {s.throttled_minutes:>8d} | "
                  f"{s.capacity_cost_usd:>10.2f} | {s.cloudwatch_cost_usd:>12.2f} | "
                  f"{s.total_cost_usd:>8.2f} | {s.wasted_fraction * 100:>7.1f}% | "
                  f"{s.decreases:>5d} | {s.limit_exceeded:>8d} | {s.updates:>7d} |")
        ours, aws = summaries["dynamic-dynamodb"], summaries["aws-target-tracking"]
        goal = (ours.throttled_cu < aws.throttled_cu or ours.throttled_cu == aws.throttled_cu == 0) \
            and ours.total_cost_usd <= aws.total_cost_usd and ours.limit_exceeded == 0
        verdicts.append((config_name, trace, ours, aws, goal))

    print()
    print("Goal: less throttled demand than aws-target-tracking at equal or lower total cost "
          "(capacity + CloudWatch), no LimitExceeded")
    for config_name, trace, ours, aws, goal in verdicts:
        print(f"  {config_name:<11} {trace:<16} throttled {ours.throttled_fraction * 100:7.3f}% vs "
              f"{aws.throttled_fraction * 100:7.3f}%, total cost ${ours.total_cost_usd:7.2f} vs "
              f"${aws.total_cost_usd:7.2f} (capacity ${ours.capacity_cost_usd:.2f} vs "
              f"${aws.capacity_cost_usd:.2f}), LimitExceeded {ours.limit_exceeded}: "
              f"{'met' if goal else 'NOT met'}")

    print()
    print("CloudWatch cost of dynamic-dynamodb per table-month (a GSI counts as a table; "
          "30-day months); the issue's goal: <= $0.80 at a 60 s check interval")
    for result in results:
        ours, aws = (result.summaries["dynamic-dynamodb"],
                     result.summaries["aws-target-tracking"])
        trace = Path(result.trace_path).name.split(".")[0]
        print(f"  {result.config_name:<11} {trace:<16} "
              f"${per_table_month(ours, result.prices, result.resources, result.minutes):.2f} "
              f"per table-month, reads + writes ({ours.cloudwatch_metrics_requested:,} metrics "
              f"requested, check-interval {result.check_interval:g} s, {result.resources} "
              f"table(s) and GSI(s)); aws-target-tracking's alarms: "
              f"${per_table_month(aws, result.prices, result.resources, result.minutes):.2f}")

    print()
    print("On-demand or provisioned, per table and GSI (costs per 30-day month, CloudWatch "
          "included; provisioned = the best provisioned policy of the run)")
    for result in results:
        trace = Path(result.trace_path).name.split(".")[0]
        for item in result.advice:
            print(f"  {result.config_name:<11} {trace:<16} {item.key:<16} "
                  f"{item.recommendation:<11} {item.reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
