"""predictive-scaling in a backtest: the forecast comes from the trace's past, never its future.

The engine fetches its history through the simulator's CloudWatch, which answers only minutes
published by then; these replays check that end to end.
"""

from __future__ import annotations

from pathlib import Path

from dynamic_dynamodb.simulate import runner
from tests.unit.simulate.helpers import config, one_table

DAY = 1440
NOON = 12 * 60
CONF = """
[global]
check-interval: 60
[default_options]
lookback-window-start: 2
lookback-period: 1
target-reads-utilisation: 90
target-writes-utilisation: 90
target-reads-scale-down-minutes: 5
target-writes-scale-down-minutes: 5
predictive-scaling: true
[table: ^my_table$]
"""


def sales(days: int, on: set[int]) -> list[float]:
    """100 RCU, and 1,500 RCU from noon to 13:00 on the days in ``on``."""
    return [1500.0 if minute // DAY in on and NOON <= minute % DAY < NOON + 60 else 100.0
            for minute in range(days * DAY + NOON + 30)]


def provisioned_reads(tmp_path: Path, reads: list[float], minute: int,
                      predictive: bool = True) -> float:
    return capacity(tmp_path, reads, predictive)[minute]


def capacity(tmp_path: Path, reads: list[float], predictive: bool = True) -> list[float]:
    """Provisioned reads per minute of the dynamic-dynamodb replay."""
    text = CONF if predictive else CONF.replace("predictive-scaling: true",
                                                "predictive-scaling: false")
    models, _ = runner.simulate(config(tmp_path, text), one_table(reads, initial=(112, 10)),
                                runner.Settings())
    resource = models["dynamic-dynamodb"].resources["my_table"]
    return [seconds / 60 for seconds in resource.capacity_seconds["reads"]]


def test_a_sale_seen_on_the_days_before_is_pre_warmed(tmp_path: Path) -> None:
    before_the_sale = 3 * DAY + NOON - 1
    assert provisioned_reads(tmp_path, sales(3, {0, 1, 2, 3}), before_the_sale) >= 1400
    # Without predictive-scaling, the same days are not.
    assert provisioned_reads(tmp_path, sales(3, {0, 1, 2, 3}), before_the_sale,
                             predictive=False) < 200


def test_a_sale_only_in_the_future_is_not(tmp_path: Path) -> None:
    before_the_sale = 3 * DAY + NOON - 1
    # The same sale, seen on the days before, is pre-warmed: predictive-scaling is at work.
    assert provisioned_reads(tmp_path, sales(3, {0, 1, 2, 3}), before_the_sale) >= 1400
    # Only in the future: until the sale starts the replay is exactly the one of a trace
    # without any sale, and the one with predictive-scaling off.
    future = capacity(tmp_path, sales(3, {3}))[:before_the_sale + 1]
    assert future[-1] < 200
    assert future == capacity(tmp_path, sales(3, set()))[:before_the_sale + 1]
    assert future == capacity(tmp_path, sales(3, {3}), predictive=False)[:before_the_sale + 1]
