"""How fast is --simulate? A 14-day trace of 10 resources through all five policies.

The target (issue 6): about 200k resource-minutes in under 30 s on a 2-core machine.
Prints the figures; it asserts nothing.

    .venv/bin/python bench/simulate_speed.py [--days 14] [--resources 10] [--check-interval 300]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.simulate import baselines, report, runner
from dynamic_dynamodb.simulate.trace import Trace, read_trace, write_trace
from dynamic_dynamodb.simulate.traces import SHAPES, generate

CONFIG = """
[global]
check-interval: {interval}

[table: ^bench_]
reads-upper-threshold: 80
reads-lower-threshold: 40
increase-reads-with: 50
decrease-reads-with: 30
writes-upper-threshold: 80
writes-lower-threshold: 40
increase-writes-with: 50
decrease-writes-with: 30
num-read-checks-before-scale-down: 3
num-write-checks-before-scale-down: 3
throttled-reads-upper-threshold: 0
increase-throttled-by-consumed-reads-scale: {{1: 50, 10: 100}}
increase-throttled-by-consumed-writes-scale: {{1: 50, 10: 100}}
"""


def bench_trace(days: float, count: int) -> Trace:
    shapes = sorted(SHAPES)
    resources = []
    for index in range(count):
        trace = generate(shapes[index % len(shapes)], days, seed=index, table=f"bench_{index}")
        resources.append(trace.resources[0])  # the table; GSIs would make it more than count
    return Trace(start=trace.start, minutes=trace.minutes, resources=tuple(resources))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=float, default=14)
    parser.add_argument("--resources", type=int, default=10)
    parser.add_argument("--check-interval", type=int, default=300)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        conf = os.path.join(directory, "bench.conf")
        Path(conf).write_text(CONFIG.format(interval=args.check_interval), encoding="utf-8")
        config = load_config(conf)
        trace_path = os.path.join(directory, "bench.csv.gz")
        write_trace(trace_path, bench_trace(args.days, args.resources))

        started = time.perf_counter()
        trace = read_trace(trace_path)
        read_seconds = time.perf_counter() - started
        resource_minutes = trace.minutes * len(trace.resources)
        settings = runner.Settings()
        managed = runner.managed_resources(config, trace)
        keys = list(managed.options)
        initial = runner.initial_capacity(trace, managed)
        limits = {key: runner.limits_of(options) for key, options in managed.options.items()}

        timings: dict[str, float] = {}
        models = {}
        steps = {
            "dynamic-dynamodb": lambda: runner.run_dynamic_dynamodb(config, trace, initial, keys,
                                                                    settings),
            "aws-target-tracking": lambda: baselines.run_target_tracking(trace, initial, limits),
            "static-peak": lambda: baselines.run_static_peak(trace, keys),
            "on-demand": lambda: baselines.run_on_demand(trace, keys),
            "oracle": lambda: baselines.run_oracle(trace, initial, keys),
        }
        for name, step in steps.items():
            began = time.perf_counter()
            models[name] = step()
            timings[name] = time.perf_counter() - began

        began = time.perf_counter()
        summaries = runner.summaries_of(models, settings.prices)
        report.write_json(os.path.join(directory, "report.json"),
                          report.report_json(summaries, {}))
        report.write_timeline(os.path.join(directory, "timeline.csv"), models)
        timings["report.json + timeline.csv"] = time.perf_counter() - began
        with open(os.path.join(directory, "timeline.csv"), encoding="utf-8") as handle:
            rows = sum(1 for _ in handle) - 1

    total = read_seconds + sum(timings.values())
    print(f"trace: {len(trace.resources)} resources x {trace.minutes} minutes = "
          f"{resource_minutes:,} resource-minutes; check-interval {args.check_interval} s "
          f"({int(trace.minutes * 60 / args.check_interval):,} engine cycles)")
    print(f"{'read trace':<28} {read_seconds:7.2f} s")
    for name, seconds in timings.items():
        print(f"{name:<28} {seconds:7.2f} s")
    print(f"{'total (no report.png)':<28} {total:7.2f} s   target < 30 s on 2 cores")
    print(f"timeline.csv rows: {rows:,}")
    print(f"throughput: {resource_minutes * 5 / total:,.0f} policy-resource-minutes/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
