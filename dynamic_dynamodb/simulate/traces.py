"""Synthetic traces of the workloads users reported (landscape §7.3).

    python -m dynamic_dynamodb.simulate.traces SHAPE [--days 14] [--out FILE] [--seed N]
    python -m dynamic_dynamodb.simulate.traces --all examples/traces

Shapes: diurnal, spike (#306), step (#227), nightly-batch (#300), outage (#25), burst (#315),
flash-sale (predictable daily peaks) and near-idle-bursty (the on-demand case).
Every shape is deterministic for a seed, has ±3 % minute-to-minute noise, and is rounded to
0.1 CU/s so two weeks at one-minute resolution stay small.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

from dynamic_dynamodb.simulate.trace import ResourceTrace, Trace, write_trace

START = datetime(2024, 1, 1, tzinfo=timezone.utc)  # a Monday
DAY = 1440


def _noise(rng: random.Random, value: float, amount: float = 0.03) -> float:
    return max(0.0, round(value * (1 + rng.uniform(-amount, amount)), 1))


def _diurnal_level(minute: int, low: float, high: float, peak_hour: float = 15.0) -> float:
    """A smooth day curve: ``low`` at night, ``high`` at ``peak_hour`` UTC."""
    phase = 2 * math.pi * ((minute % DAY) / 60.0 - peak_hour) / 24.0
    return low + (high - low) * (1 + math.cos(phase)) / 2


def diurnal(minutes: int, rng: random.Random) -> dict[str | None, tuple[list[float], list[float]]]:
    """150 → 1,200 RCU day/night (AWS's ProductCatalog example), writes alongside; a GSI too."""
    reads, writes, gsi_reads, gsi_writes = [], [], [], []
    for minute in range(minutes):
        weekend = (minute // DAY) % 7 >= 5
        scale = 0.6 if weekend else 1.0
        level = _diurnal_level(minute, 150, 1200 * scale)
        reads.append(_noise(rng, level))
        writes.append(_noise(rng, level / 6))
        gsi_reads.append(_noise(rng, level / 4))
        gsi_writes.append(_noise(rng, level / 6))
    return {None: (reads, writes), "my_gsi": (gsi_reads, gsi_writes)}


def spike(minutes: int, rng: random.Random) -> dict[str | None, tuple[list[float], list[float]]]:
    """500 WCU base; 2,000–2,500 WCU for 30 minutes every 3–4 hours (#306, #311)."""
    writes = [500.0] * minutes
    minute = rng.randrange(60, 180)
    while minute < minutes:
        height = rng.uniform(2000, 2500)
        for m in range(minute, min(minute + 30, minutes)):
            writes[m] = height
        minute += rng.randrange(180, 241)
    return {None: ([_noise(rng, 100.0) for _ in range(minutes)],
                   [_noise(rng, value) for value in writes])}


def step(minutes: int, rng: random.Random) -> dict[str | None, tuple[list[float], list[float]]]:
    """A table idling at 50 RCU that steps to 250 RCU for a few hours each working day (#227),
    with writes stepping from ~0 to 34 WCU at the same moment (#332)."""
    reads, writes = [], []
    starts = {day: rng.randrange(7 * 60, 10 * 60) for day in range(minutes // DAY + 1)}
    lengths = {day: rng.randrange(3 * 60, 6 * 60) for day in starts}
    for minute in range(minutes):
        day, of_day = divmod(minute, DAY)
        busy = day % 7 < 5 and starts[day] <= of_day < starts[day] + lengths[day]
        reads.append(_noise(rng, 250.0 if busy else 50.0))
        writes.append(_noise(rng, 34.0 if busy else 0.5))
    return {None: (reads, writes)}


def nightly_batch(minutes: int, rng: random.Random) -> dict[str | None, tuple[list[float],
                                                                             list[float]]]:
    """A steady table (300 RCU, 80 WCU) with a nightly ETL scan at 1,500 RCU, 02:00–03:30 (#300)."""
    reads, writes = [], []
    for minute in range(minutes):
        of_day = minute % DAY
        batch = 120 <= of_day < 210
        reads.append(_noise(rng, 1500.0 if batch else 300.0))
        writes.append(_noise(rng, 200.0 if batch else 80.0))
    return {None: (reads, writes)}


def outage(minutes: int, rng: random.Random) -> dict[str | None, tuple[list[float], list[float]]]:
    """Diurnal traffic that drops to 0 for an hour and comes back at full level (#25), twice."""
    reads, writes = [], []
    outages = [(DAY * 3 + 14 * 60, DAY * 3 + 15 * 60), (DAY * 10 + 11 * 60, DAY * 10 + 12 * 60)]
    for minute in range(minutes):
        level = _diurnal_level(minute, 200, 800)
        down = any(start <= minute < end for start, end in outages)
        reads.append(0.0 if down else _noise(rng, level))
        writes.append(0.0 if down else _noise(rng, level / 4))
    return {None: (reads, writes)}


def burst(minutes: int, rng: random.Random) -> dict[str | None, tuple[list[float], list[float]]]:
    """A sessions table at 100 WCU hit by a short 10× write burst (5–10 min) once a day (#315)."""
    writes = [100.0] * minutes
    for day in range(minutes // DAY + 1):
        start = day * DAY + rng.randrange(0, DAY - 15)
        for m in range(start, min(start + rng.randrange(5, 11), minutes)):
            writes[m] = 1000.0
    return {None: ([_noise(rng, 200.0) for _ in range(minutes)],
                   [_noise(rng, value) for value in writes])}


FLASH_SALES = ((12 * 60, 60), (19 * 60, 45))  # (start minute of the day UTC, length): noon, 19:00


def flash_sale(minutes: int, rng: random.Random) -> dict[str | None, tuple[list[float],
                                                                          list[float]]]:
    """A shop at 100 RCU / 20 WCU with two flash sales a day, at noon (60 min) and at 19:00
    (45 min), each starting within ±5 minutes of the hour: reads jump to ~1,500 RCU and writes
    to ~400 WCU within 2 minutes. Predictable peaks: the same times every day."""
    reads, writes = [], []
    sales: list[tuple[int, int, float]] = []
    for day in range(minutes // DAY + 1):
        for start, length in FLASH_SALES:
            sales.append((day * DAY + start + rng.randint(-5, 5), length,
                          rng.uniform(0.9, 1.1)))
    level = [0.0] * minutes
    for start, length, height in sales:
        for m in range(max(0, start), min(start + length, minutes)):
            ramp = min(1.0, (m - start + 1) / 2)  # full height in 2 minutes
            level[m] = max(level[m], ramp * height)
    for minute in range(minutes):
        reads.append(_noise(rng, 100.0 + 1400.0 * level[minute]))
        writes.append(_noise(rng, 20.0 + 380.0 * level[minute]))
    return {None: (reads, writes)}


def near_idle_bursty(minutes: int, rng: random.Random) -> dict[str | None, tuple[list[float],
                                                                                list[float]]]:
    """A near-idle table (about 0.5 RCU and 0.2 WCU) hit 2-4 times a day, at random times, by a
    3-minute burst of ~300 RCU and ~100 WCU: shorter than any reaction, the on-demand case."""
    reads = [0.5] * minutes
    writes = [0.2] * minutes
    for day in range(minutes // DAY + 1):
        for _ in range(rng.randint(2, 4)):
            start = day * DAY + rng.randrange(0, DAY - 3)
            height = rng.uniform(0.8, 1.2)
            for m in range(start, min(start + 3, minutes)):
                reads[m] = 300.0 * height
                writes[m] = 100.0 * height
    return {None: ([_noise(rng, value) for value in reads],
                   [_noise(rng, value) for value in writes])}


SHAPES: dict[str, Callable[[int, random.Random], dict[str | None, tuple[list[float], list[float]]]]] = {
    "diurnal": diurnal,
    "spike": spike,
    "step": step,
    "nightly-batch": nightly_batch,
    "outage": outage,
    "burst": burst,
    "flash-sale": flash_sale,
    "near-idle-bursty": near_idle_bursty,
}


def generate(shape: str, days: float = 14, seed: int = 1, table: str = "my_table",
             start: datetime = START) -> Trace:
    minutes = int(days * DAY)
    series = SHAPES[shape](minutes, random.Random(f"{shape}:{seed}"))
    resources = tuple(
        ResourceTrace(table, gsi, tuple(reads), tuple(writes))
        for gsi, (reads, writes) in sorted(series.items(), key=lambda item: item[0] or "")
    )
    return Trace(start=start, minutes=minutes, resources=resources)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dynamic_dynamodb.simulate.traces",
                                     description="Write a synthetic --simulate trace.")
    parser.add_argument("shape", nargs="?", choices=sorted(SHAPES))
    parser.add_argument("--days", type=float, default=14)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--table", default="my_table")
    parser.add_argument("--out", help="output file (.csv or .csv.gz); default: stdout")
    parser.add_argument("--all", metavar="DIR",
                        help="write every shape to DIR/SHAPE.csv.gz (the shipped traces)")
    args = parser.parse_args(argv)
    if args.all:
        for shape in SHAPES:
            path = f"{args.all.rstrip('/')}/{shape}.csv.gz"
            write_trace(path, generate(shape, args.days, args.seed, args.table))
            print(path)
        return 0
    if not args.shape:
        parser.error("give a SHAPE or --all DIR")
    trace = generate(args.shape, args.days, args.seed, args.table)
    write_trace(args.out or "/dev/stdout", trace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
