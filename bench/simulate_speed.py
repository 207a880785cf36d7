"""How fast is --simulate? A 14-day trace of 10 resources through all five policies.

The target (issue 6): about 200k resource-minutes in under 30 s on a 2-core machine. It times
``run_simulation``, exactly what ``dynamic-dynamodb --simulate`` runs (dynamic-dynamodb
replayed in a second process while the baselines run and write their timeline rows here,
then report.json, timeline.csv and report.png), then parts of it, then each policy alone.
Prints the figures; asserts nothing.

    .venv/bin/python bench/simulate_speed.py [--days 14] [--resources 10] [--check-interval 300]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dynamic_dynamodb.cli import build_parser
from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.simulate import baselines, report, runner
from dynamic_dynamodb.simulate.trace import Trace, read_trace, write_trace
from dynamic_dynamodb.simulate.traces import SHAPES, generate

CONFIG = """
[global]
check-interval: {interval}

[default_options]
lookback-window-start: {window_start}
lookback-period: {period}

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


def timed(label: str, timings: dict[str, float], function, *args, **kwargs):
    began = time.perf_counter()
    result = function(*args, **kwargs)
    timings[label] = time.perf_counter() - began
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=float, default=14)
    parser.add_argument("--resources", type=int, default=10)
    parser.add_argument("--check-interval", type=int, default=300)
    parser.add_argument("--lookback", default="15,5",
                        help="lookback-window-start,lookback-period (default: 15,5)")
    parser.add_argument("--no-breakdown", action="store_true")
    args = parser.parse_args()
    window_start, period = (int(part) for part in args.lookback.split(","))

    with tempfile.TemporaryDirectory() as directory:
        conf = os.path.join(directory, "bench.conf")
        Path(conf).write_text(CONFIG.format(interval=args.check_interval,
                                            window_start=window_start, period=period),
                              encoding="utf-8")
        config = load_config(conf)
        trace_path = os.path.join(directory, "bench.csv.gz")
        write_trace(trace_path, bench_trace(args.days, args.resources))
        settings = runner.Settings()
        report_dir = os.path.join(directory, "report")
        argv = ["-c", conf, "--simulate", trace_path, "--report-dir", report_dir]
        cli_args = build_parser().parse_args(argv)

        timings: dict[str, float] = {}
        with contextlib.redirect_stdout(io.StringIO()):
            timed("dynamic-dynamodb --simulate, end to end", timings, runner.run_simulation,
                  config, cli_args)
        with open(os.path.join(report_dir, "timeline.csv"), encoding="utf-8") as handle:
            rows = sum(1 for _ in handle) - 1
        trace = timed("  of which: read trace", timings, read_trace, trace_path)
        models, _ = timed("  of which: 5 policies (2 processes)", timings, runner.simulate,
                          config, trace, settings, parallel=runner.parallel_possible())
        timed("  of which: report.png", timings, report.write_plot,
              os.path.join(directory, "again.png"), models)

        breakdown: dict[str, float] = {}
        if not args.no_breakdown:
            managed = runner.managed_resources(config, trace)
            keys = list(managed.options)
            initial = runner.initial_capacity(trace, managed)
            limits = {key: runner.limits_of(options) for key, options in managed.options.items()}
            timed("dynamic-dynamodb (real engine)", breakdown, runner.run_dynamic_dynamodb,
                  config, trace, initial, keys, settings)
            timed("aws-target-tracking", breakdown, baselines.run_target_tracking, trace,
                  initial, limits)
            timed("static-peak", breakdown, baselines.run_static_peak, trace, keys)
            timed("on-demand", breakdown, baselines.run_on_demand, trace, keys)
            timed("oracle", breakdown, baselines.run_oracle, trace, initial, keys)

    resource_minutes = trace.minutes * len(trace.resources)
    print(f"trace: {len(trace.resources)} resources x {trace.minutes} minutes = "
          f"{resource_minutes:,} resource-minutes; check-interval {args.check_interval} s "
          f"({int(trace.minutes * 60 / args.check_interval):,} engine cycles), lookback "
          f"{window_start}/{period} min, {os.cpu_count()} CPUs")
    for label, seconds in timings.items():
        print(f"  {label:<42} {seconds:7.2f} s")
    print("  (target: under 30 s on 2 cores, end to end)")
    print(f"  timeline.csv rows: {rows:,}")
    if breakdown:
        print("each policy alone, one process:")
        for label, seconds in breakdown.items():
            print(f"  {label:<42} {seconds:7.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
