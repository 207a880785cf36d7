"""The synthetic workload shapes: deterministic, the documented sizes, and the shipped files."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from dynamic_dynamodb.simulate.trace import read_trace
from dynamic_dynamodb.simulate.traces import SHAPES, generate, main

SHIPPED = Path(__file__).resolve().parents[3] / "examples" / "traces"


def test_same_seed_same_trace_and_shapes_have_their_documented_levels() -> None:
    assert generate("spike", days=1, seed=4) == generate("spike", days=1, seed=4)
    spike = generate("spike", days=1, seed=4).resources[0].writes
    high = [value for value in spike if value > 1500]
    assert len(high) % 30 == 0 and len(high) >= 5 * 30  # 30-minute spikes every 3-4 hours
    assert all(1900 <= value <= 2600 for value in high)
    burst = generate("burst", days=2, seed=1).resources[0].writes
    assert 10 <= sum(1 for value in burst if value > 500) <= 20  # 5-10 minutes a day
    step = generate("step", days=1, seed=1).resources[0].reads  # a Monday
    assert min(step) == pytest.approx(50, rel=0.05) and max(step) == pytest.approx(250, rel=0.05)
    outage = generate("outage", days=4, seed=1).resources[0].reads
    assert outage[3 * 1440 + 14 * 60: 3 * 1440 + 15 * 60] == (0.0,) * 60
    assert [r.key for r in generate("diurnal", days=1).resources] == ["my_table", "my_table:my_gsi"]


def test_generator_command_writes_a_readable_trace(tmp_path: Path) -> None:
    out = tmp_path / "n.csv"
    assert main(["nightly-batch", "--days", "1", "--table", "etl", "--out", str(out)]) == 0
    trace = read_trace(str(out))
    assert trace.minutes == 1440
    assert trace.resources[0].table == "etl"
    assert trace.resources[0].reads[150] == pytest.approx(1500, rel=0.05)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_shipped_traces_are_two_weeks_small_and_regenerable(shape: str) -> None:
    path = SHIPPED / f"{shape}.csv.gz"
    assert path.stat().st_size < 2_000_000
    assert read_trace(str(path)) == generate(shape, days=14)


def test_flash_sales_peak_at_the_same_times_every_day() -> None:
    reads = generate("flash-sale", days=3, seed=1).resources[0].reads
    for day in range(3):
        noon = reads[day * 1440 + 12 * 60 + 10: day * 1440 + 12 * 60 + 50]
        evening = reads[day * 1440 + 19 * 60 + 10: day * 1440 + 19 * 60 + 35]
        assert min(noon) > 1100 and min(evening) > 1100  # the sales, within ±5 min of the hour
        quiet = reads[day * 1440 + 3 * 60: day * 1440 + 11 * 60]
        assert max(quiet) < 110  # 100 RCU between them


def test_near_idle_bursty_is_idle_but_for_a_few_three_minute_bursts_a_day() -> None:
    reads = generate("near-idle-bursty", days=7, seed=1).resources[0].reads
    busy = [value > 100 for value in reads]
    runs = [sum(1 for _ in group) for high, group in itertools.groupby(busy) if high]
    assert 7 * 2 <= len(runs) <= 7 * 4
    assert set(runs) == {3}
    assert sorted(set(value for value in reads if value <= 100)) == [0.5]
