"""The demand forecast (predictive-scaling): seasonal, with a trend, from the past only."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from dynamic_dynamodb.policy.forecast import (
    LEAD_MINUTES,
    DemandHistory,
    forecast,
    forecast_peak,
)

START = datetime(2024, 1, 1, tzinfo=timezone.utc)  # a Monday
DAY = 1440


def history(level: list[float], period: int = 1) -> DemandHistory:
    return DemandHistory(START, period, tuple(level))


def daily_sale(days: int, base: float = 100.0, sale: float = 1500.0,
               start: int = 12 * 60, length: int = 60) -> list[float]:
    return [sale if start <= minute % DAY < start + length else base
            for minute in range(days * DAY)]


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return START + timedelta(days=day, hours=hour, minutes=minute)


def test_a_daily_peak_is_forecast_before_it_starts() -> None:
    past = history(daily_sale(4))
    before_lead = forecast_peak(past, at(3, 11, 40), LEAD_MINUTES)
    within_lead = forecast_peak(past, at(3, 11, 52), LEAD_MINUTES)
    assert before_lead == 100.0
    assert within_lead == 1500.0


def test_a_peak_that_moves_by_a_few_minutes_is_still_seen() -> None:
    past = history(daily_sale(4, start=12 * 60 + 4))  # yesterday's sale began at 12:04
    assert forecast_peak(past, at(3, 11, 56), LEAD_MINUTES) == 1500.0


def test_only_the_past_is_read() -> None:
    """Whatever the history holds from ``now`` on changes nothing."""
    level = daily_sale(4)
    now = at(3, 11, 52)
    index = 3 * DAY + 11 * 60 + 52
    future = [*level[:index], *([99999.0] * (len(level) - index))]
    assert forecast(history(level), now) == forecast(history(future), now)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 5000, allow_nan=False), min_size=1, max_size=40),
       st.integers(2 * DAY + 1, 3 * DAY), st.floats(0, 1e6, allow_nan=False))
def test_only_the_past_is_read_for_any_history(pattern: list[float], minute: int,
                                               replacement: float) -> None:
    # Two days and more of history: there is a forecast, and the future cannot change it.
    level = (pattern * (4 * DAY // len(pattern) + 1))[:4 * DAY]
    now = START + timedelta(minutes=minute)
    changed = [*level[:minute], *([replacement] * (len(level) - minute))]
    expected = forecast(history(level), now)
    assert expected is not None
    assert forecast(history(changed), now) == expected


def test_no_forecast_without_a_day_of_history() -> None:
    past = history([100.0] * (DAY - 30))
    assert forecast(past, START + timedelta(minutes=DAY - 30)) is None


def test_a_weekend_is_forecast_from_weekends_once_two_weeks_are_known() -> None:
    """Saturday at noon: Friday was busy, the two Saturdays before were quiet."""
    level = [300.0 if (minute // DAY) % 7 >= 5 else 1000.0 for minute in range(19 * DAY)]
    saturday = at(19, 12)  # day 19 is a Saturday (day 0 is a Monday)
    assert (saturday.weekday(), forecast_peak(history(level), saturday, 60)) == (5, 300.0)


def test_the_trend_scales_the_seasonal_forecast() -> None:
    """Today runs 20 % above the days before: the forecast of the sale does too."""
    level = daily_sale(4)
    today = 3 * DAY
    level[today:] = [value * 1.2 for value in level[today:]]
    peak = forecast_peak(history(level), at(3, 11, 55), LEAD_MINUTES)
    assert peak is not None and abs(peak - 1800.0) < 1e-6


def test_the_trend_is_bounded() -> None:
    level = [100.0] * (2 * DAY)
    level[2 * DAY - 30:] = [100000.0] * 30  # a spike in the last half hour
    peak = forecast_peak(history(level), at(2, 0), 60)
    assert peak == 125.0


def test_five_minute_periods_as_fetched_live() -> None:
    minutes = daily_sale(3)
    periods = [max(minutes[i:i + 5]) for i in range(0, len(minutes), 5)]
    past = history(periods, period=5)
    assert forecast_peak(past, at(2, 11, 52), LEAD_MINUTES) == 1500.0
    assert forecast_peak(past, at(2, 11, 30), LEAD_MINUTES) == 100.0


def test_the_hold_peak_looks_further_than_the_lead_peak() -> None:
    result = forecast(history(daily_sale(3)), at(2, 11, 48))
    assert result is not None
    assert result.lead_peak == 100.0
    assert result.hour_peak == 1500.0


def test_one_day_is_not_a_pattern_two_days_take_the_lower_peak() -> None:
    one_day = daily_sale(2)
    one_day[:DAY] = [100.0] * DAY  # the first day had no sale: only yesterday had one
    assert forecast_peak(history(one_day), at(2, 11, 52), LEAD_MINUTES) == 100.0
    two_days = daily_sale(3, sale=1500.0)
    two_days[DAY + 12 * 60:DAY + 13 * 60] = [1200.0] * 60  # yesterday's sale was smaller
    assert forecast_peak(history(two_days), at(2, 11, 52), LEAD_MINUTES) == 1200.0


def test_a_history_fetched_hours_ago_still_forecasts() -> None:
    """Live, the history is fetched once a day: the seasonal days are in it, and the trend
    comes from the newest half hour it has."""
    level = daily_sale(4)
    fetched = 3 * DAY + 6 * 60  # fetched at 06:00 on day 3
    assert forecast_peak(history(level[:fetched]), at(3, 11, 52), LEAD_MINUTES) == 1500.0
