"""How fast is --simulate? A 14-day trace of 10 resources through all five policies.

The target (issue 6): about 200k resource-minutes in under 30 s on a 2-core machine. It times
``run_simulation``, exactly what ``dynamic-dynamodb --simulate`` runs (dynamic-dynamodb
replayed in worker processes while the baselines run and write their timeline rows here,
then report.json, timeline.csv and report.png), then parts of it, then each policy alone:
dynamic-dynamodb in one process, and with its tables split among one process per CPU (as
--simulate replays it; issue 12's figure: at most 3 s for ``--check-interval 60 --lookback
2,1``). ``--tune-like N`` also times N candidate configurations (other thresholds) replayed
in a pool of one process per CPU, as a tune does (issue 12: 30 in at most 60 s). Prints the
figures (wall time, and CPU time of this process for the one-process replay); asserts
nothing.

    .venv/bin/python bench/simulate_speed.py [--days 14] [--resources 10] [--check-interval 300]
        [--lookback 15,5] [--repeat 1] [--tune-like 0] [--replay-only]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dynamic_dynamodb.cli import build_parser
from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.simulate import baselines, report, runner
from dynamic_dynamodb.simulate.trace import Trace, read_trace, write_trace
from dynamic_dynamodb.simulate.traces import generate

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


# The trace shapes, fixed and in this order. Not ``sorted(SHAPES)``: every shape added to
# simulate/traces.py (flash-sale, near-idle-bursty, ...) would change which shape each of the
# resources gets, so the bench would time a different trace mix and its figures could not be
# compared with earlier ones. These are the original six shapes.
BENCH_SHAPES = ("burst", "diurnal", "nightly-batch", "outage", "spike", "step")


def bench_trace(days: float, count: int) -> Trace:
    shapes = BENCH_SHAPES
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


# What the forked workers of the tune-like pool inherit.
_TUNE: dict[str, Any] = {}


def tune_candidates(count: int, interval: int, window_start: int, period: int) -> list[str]:
    """``count`` configurations around CONFIG: upper and lower thresholds and step sizes."""
    texts = []
    for index in range(count):
        upper, lower = 70 + 5 * (index % 5), 20 + 5 * (index // 5 % 4)
        step = (30, 50, 80)[index % 3]
        texts.append(CONFIG.format(interval=interval, window_start=window_start, period=period)
                     .replace("reads-upper-threshold: 80", f"reads-upper-threshold: {upper}")
                     .replace("writes-upper-threshold: 80", f"writes-upper-threshold: {upper}")
                     .replace("reads-lower-threshold: 40", f"reads-lower-threshold: {lower}")
                     .replace("writes-lower-threshold: 40", f"writes-lower-threshold: {lower}")
                     .replace("increase-reads-with: 50", f"increase-reads-with: {step}")
                     .replace("increase-writes-with: 50", f"increase-writes-with: {step}"))
    return texts


def _tune_one(index: int) -> float:
    config, trace = _TUNE["configs"][index], _TUNE["trace"]
    managed = runner.managed_resources(config, trace)
    model = runner.run_dynamic_dynamodb(config, trace, runner.initial_capacity(trace, managed),
                                        list(managed.options), runner.Settings())
    return float(model.metrics_requested)


def time_tune_like(directory: str, trace: Trace, count: int, interval: int, window_start: int,
                   period: int) -> float:
    configs = []
    for index, text in enumerate(tune_candidates(count, interval, window_start, period)):
        path = os.path.join(directory, f"candidate-{index}.conf")
        Path(path).write_text(text, encoding="utf-8")
        configs.append(load_config(path))
    _TUNE.update(configs=configs, trace=trace)
    began = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        list(pool.imap_unordered(_tune_one, range(count)))
    return time.perf_counter() - began


def replay_figures(config: Any, trace: Trace, repeat: int) -> list[tuple[str, float]]:
    """dynamic-dynamodb alone: one process (wall and CPU), then split among the CPUs; the
    median of ``repeat`` runs each."""
    managed = runner.managed_resources(config, trace)
    keys = list(managed.options)
    initial = runner.initial_capacity(trace, managed)
    settings = runner.Settings()
    walls, cpus, splits = [], [], []
    for _ in range(repeat):
        began, cpu = time.perf_counter(), time.process_time()
        runner.run_dynamic_dynamodb(config, trace, initial, keys, settings)
        walls.append(time.perf_counter() - began)
        cpus.append(time.process_time() - cpu)
    processes = runner.replay_processes()
    for _ in range(repeat):
        began = time.perf_counter()
        runner.run_dynamic_dynamodb(config, trace, initial, keys, settings, processes=processes)
        splits.append(time.perf_counter() - began)
    return [("dynamic-dynamodb (real engine), 1 process", statistics.median(walls)),
            ("  of which CPU time", statistics.median(cpus)),
            (f"dynamic-dynamodb, tables in {processes} processes", statistics.median(splits))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=float, default=14)
    parser.add_argument("--resources", type=int, default=10)
    parser.add_argument("--check-interval", type=int, default=300)
    parser.add_argument("--lookback", default="15,5",
                        help="lookback-window-start,lookback-period (default: 15,5)")
    parser.add_argument("--no-breakdown", action="store_true")
    parser.add_argument("--replay-only", action="store_true",
                        help="time dynamic-dynamodb's replay alone (and --tune-like), not "
                        "the whole --simulate")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each dynamic-dynamodb replay; the median is printed")
    parser.add_argument("--tune-like", type=int, default=0, metavar="N",
                        help="also time N candidate configurations in a process pool")
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
        if args.replay_only:
            trace = read_trace(trace_path)
            return print_replay(args, trace, replay_figures(config, trace, args.repeat),
                                directory, window_start, period)
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
            processes = runner.replay_processes()
            timed(f"dynamic-dynamodb, tables in {processes} processes", breakdown,
                  runner.run_dynamic_dynamodb, config, trace, initial, keys, settings,
                  processes=processes)
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
        print("each policy alone, one process (unless said):")
        for label, seconds in breakdown.items():
            print(f"  {label:<42} {seconds:7.2f} s")
    if args.tune_like:
        with tempfile.TemporaryDirectory() as directory:
            seconds = time_tune_like(directory, trace, args.tune_like, args.check_interval,
                                     window_start, period)
        print(f"tune-like: {args.tune_like} candidate configurations in {os.cpu_count()} "
              f"processes {seconds:7.2f} s (issue 12: 30 in at most 60 s)")
    return 0


def print_replay(args: argparse.Namespace, trace: Trace, figures: list[tuple[str, float]],
                 directory: str, window_start: int, period: int) -> int:
    print(f"trace: {len(trace.resources)} resources x {trace.minutes} minutes; check-interval "
          f"{args.check_interval} s ({int(trace.minutes * 60 / args.check_interval):,} engine "
          f"cycles), lookback {window_start}/{period} min, {os.cpu_count()} CPUs, median of "
          f"{args.repeat}")
    for label, seconds in figures:
        print(f"  {label:<42} {seconds:7.2f} s")
    print("  (issue 12: at most 3 s on 2 cores, through the real engine and decide)")
    if args.tune_like:
        seconds = time_tune_like(directory, trace, args.tune_like, args.check_interval,
                                 window_start, period)
        print(f"  tune-like: {args.tune_like} candidates in {os.cpu_count()} processes "
              f"{seconds:7.2f} s (issue 12: 30 in at most 60 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
