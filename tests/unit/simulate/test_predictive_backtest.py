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


# A long check-interval: the look-ahead depends on it (policy/forecast.py ``horizons``). With
# checks 15 minutes apart the last check before a daily sale is 15 minutes ahead of it, so it
# must already pre-warm; the engine passes check-interval down to the forecast (engine
# ``_forecast`` -> ``DemandHistories.forecasts(check_interval=...)``). Looking ahead only as
# far as for 5-minute checks, that check sees nothing and the sale's first minutes throttle.
SALE = 1500.0  # RCU/s from noon to 13:00 every day (``sales``), 100 otherwise
DAYS = 3  # days of history before the last day's sale


def test_a_daily_sale_is_pre_warmed_by_the_last_check_before_it(tmp_path: Path) -> None:
    every_15_minutes = CONF.replace("check-interval: 60", "check-interval: 900")
    models, _ = runner.simulate(config(tmp_path, every_15_minutes),
                                one_table(sales(DAYS, set(range(DAYS + 1))), initial=(112, 10)),
                                runner.Settings())
    resource = models["dynamic-dynamodb"].resources["my_table"]
    provisioned = [seconds / 60 for seconds in resource.capacity_seconds["reads"]]
    throttled = resource.throttled["reads"]
    sale = DAYS * DAY + NOON  # the last day's sale starts at this minute

    # The first days teach the pattern: the first sale is only followed (target mode), so it
    # throttles until the increase lands; the replay is the live engine's, not a stub.
    assert sum(throttled[NOON:NOON + 30]) > 0
    # The last day: the check at 11:45 (the last one before the sale, 15 minutes ahead)
    # pre-warms, so the capacity is there for the whole minute before the sale starts and
    # nothing of the sale is throttled.
    assert provisioned[sale - 1] >= SALE
    assert min(provisioned[sale - 10:sale + 30]) >= SALE
    assert sum(throttled[sale:sale + 30]) == 0
    # Before that check the table was still at its everyday capacity: the pre-warming is the
    # forecast's look-ahead, not capacity left over from the day before.
    assert provisioned[sale - 20] < 200
