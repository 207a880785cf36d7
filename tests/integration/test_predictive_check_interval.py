"""predictive-scaling with a long check-interval, replayed through the backtest simulator.

The look-ahead depends on the check interval (policy/forecast.py ``horizons``): with checks
15 minutes apart the last check before a daily sale is 15 minutes ahead of it, so it must
already pre-warm for the sale. The engine passes ``check-interval`` down to the forecast
(engine ``_forecast`` → ``DemandHistories.forecasts(check_interval=...)``); looking ahead only
as far as for 5-minute checks, that check sees nothing and the sale's first minute throttles.
"""

from __future__ import annotations

from pathlib import Path

from dynamic_dynamodb.simulate import runner
from tests.unit.simulate.helpers import config, one_table

DAY = 1440
NOON = 12 * 60
SALE = 1500.0  # RCU/s from noon to 13:00 every day, 100 otherwise
DAYS = 3  # days of history before the last day's sale
CONF = """
[global]
check-interval: 900
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


def daily_sale() -> list[float]:
    """Reads per minute from midnight: a sale at noon every day, the last one on day DAYS
    (the trace ends half an hour into it)."""
    return [SALE if NOON <= minute % DAY < NOON + 60 else 100.0
            for minute in range(DAYS * DAY + NOON + 30)]


def test_a_daily_sale_is_pre_warmed_by_the_last_check_before_it(tmp_path: Path) -> None:
    models, _ = runner.simulate(config(tmp_path, CONF), one_table(daily_sale(), initial=(112, 10)),
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
