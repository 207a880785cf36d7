"""How fast is --tune? 30 target-mode candidates on a 14-day trace of 10 tables at 60 s checks.

The goal (issue 12): at most 60 s on the 2-core machine. It runs the real command,
``dynamic-dynamodb -c CONF --tune TRACE``, as a user would (a pool of os.cpu_count() worker
processes, one replay of the engine per candidate, plus the configuration as it is and
aws-target-tracking once), and prints the wall time and the command's own output. Prints the
figures; asserts nothing.

    .venv/bin/python bench/tune_speed.py [--days 14] [--resources 10] [--check-interval 60]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dynamic_dynamodb.simulate.trace import Trace, write_trace  # noqa: E402
from dynamic_dynamodb.simulate.traces import generate  # noqa: E402

# A fixed list, so that new shapes do not change this bench's trace.
SHAPES = ("burst", "diurnal", "nightly-batch", "outage", "spike", "step")
CONFIG = """
[global]
check-interval: {interval}

[default_options]
lookback-window-start: 4
lookback-period: 1
increase-cooldown-minutes: 3

[table: ^bench_]
"""


def bench_trace(days: float, count: int) -> Trace:
    resources = [generate(SHAPES[index % len(SHAPES)], days, seed=index,
                          table=f"bench_{index}").resources[0] for index in range(count)]
    first = generate(SHAPES[0], days)
    return Trace(start=first.start, minutes=first.minutes, resources=tuple(resources))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=float, default=14)
    parser.add_argument("--resources", type=int, default=10)
    parser.add_argument("--check-interval", type=int, default=60)
    args = parser.parse_args()
    cli = str(Path(sys.executable).with_name("dynamic-dynamodb"))
    with tempfile.TemporaryDirectory() as scratch:
        conf, trace, out = (os.path.join(scratch, name)
                            for name in ("bench.conf", "bench.csv.gz", "tuned.conf"))
        with open(conf, "w", encoding="utf-8") as handle:
            handle.write(CONFIG.format(interval=args.check_interval))
        write_trace(trace, bench_trace(args.days, args.resources))
        command = [cli, "-c", conf, "--tune", trace, "--tune-out", out]
        started = time.monotonic()
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        took = time.monotonic() - started
    print(f"--tune: {args.resources} resources x {args.days:g} days "
          f"({args.resources * int(args.days * 1440):,} resource-minutes), check-interval "
          f"{args.check_interval} s, {os.cpu_count()} cores: {took:.1f} s wall "
          f"(exit {result.returncode}); the goal is <= 60 s")
    print(result.stdout, end="")
    print(result.stderr, end="", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
