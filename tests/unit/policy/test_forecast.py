"""The demand forecast (predictive-scaling): seasonal, with a trend, from the past only."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from dynamic_dynamodb.policy.forecast import (
    JITTER_MINUTES,
    LAND_MINUTES,
    LEAD_MINUTES,
    DemandHistory,
    forecast,
    forecast_peak,
    horizons,
)

START = datetime(2024, 1, 1, tzinfo=timezone.utc)  # a Monday
DAY = 1440
EVERY_MINUTE = 60.0  # check-interval, in seconds


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
    for interval in (EVERY_MINUTE, 900.0, 3600.0):
        assert (forecast(history(level), now, interval)
                == forecast(history(future), now, interval))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 5000, allow_nan=False), min_size=1, max_size=40),
       st.integers(2 * DAY + 1, 3 * DAY), st.floats(0, 1e6, allow_nan=False),
       st.integers(0, 2 * DAY * 60))
def test_only_the_past_is_read_for_any_history(pattern: list[float], minute: int,
                                               replacement: float, interval: int) -> None:
    # Two days and more of history: there is a forecast, and the future cannot change it,
    # however far ahead the check interval makes it look.
    level = (pattern * (4 * DAY // len(pattern) + 1))[:4 * DAY]
    now = START + timedelta(minutes=minute)
    changed = [*level[:minute], *([replacement] * (len(level) - minute))]
    expected = forecast(history(level), now, interval)
    assert expected is not None
    assert forecast(history(changed), now, interval) == expected


def test_no_forecast_without_a_day_of_history() -> None:
    past = history([100.0] * (DAY - 30))
    assert forecast(past, START + timedelta(minutes=DAY - 30), EVERY_MINUTE) is None


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
    result = forecast(history(daily_sale(3)), at(2, 11, 48), EVERY_MINUTE)
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


def test_checks_up_to_five_minutes_apart_keep_the_horizons() -> None:
    """check-interval 60 to 300 s (and 0, unknown): lead 5 and hold 10 minutes, as before."""
    assert {horizons(seconds) for seconds in (0, 1, 60, 90, 299, 300)} == {(5, 10)}


def first_check_seeing_the_sale(past: DemandHistory, interval: int, phase: int) -> datetime:
    """The first of the checks every ``interval`` minutes from 06:00 + ``phase`` on day 3
    whose forecast pre-warms for day 3's noon sale."""
    check = at(3, 6, phase)
    while check < at(3, 12):
        result = forecast(past, check, interval * 60)
        assert result is not None
        if result.lead_peak == 1500.0:
            return check
        check += timedelta(minutes=interval)
    return check


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([1, 2, 5, 6, 7, 10, 15, 20, 30, 45, 60]), st.integers(0, 59),
       st.sampled_from([1, 5]))
def test_a_ramp_is_pre_warmed_in_time_whatever_the_check_interval(
        interval: int, phase: int, period: int) -> None:
    """The daily noon sale is asked for by a check at least LAND_MINUTES before noon, for any
    check-interval and whatever minute the checks fall on, in 1-minute and 5-minute (live)
    periods. With the look-ahead fixed at 5 + 5 minutes, checks every 15 minutes at :00, :15,
    :30 and :45 first saw it at noon: the increase landed 5 minutes into the sale."""
    minutes = daily_sale(4)
    past = history([max(minutes[i:i + period]) for i in range(0, len(minutes), period)],
                   period=period)
    seen = first_check_seeing_the_sale(past, interval, phase % interval)
    assert seen <= at(3, 12) - timedelta(minutes=LAND_MINUTES)
    # ... and not much earlier than that: the look-ahead is the interval plus the landing
    # time (never less than the shortest lead plus the jitter), not more.
    look_ahead = max(interval + LAND_MINUTES, LEAD_MINUTES + JITTER_MINUTES)
    assert seen >= at(3, 12) - timedelta(minutes=look_ahead + period)


def test_a_scale_in_leaves_what_the_next_check_pre_warms_for() -> None:
    """The hold horizon reaches the end of the next check's look-ahead: capacity a check lets
    go is never asked for again by the next check's forecast."""
    past = history(daily_sale(4))
    for interval in (1, 5, 10, 15, 30, 60):
        check = at(3, 9)
        while check < at(3, 12):
            now = forecast(past, check, interval * 60)
            later = forecast(past, check + timedelta(minutes=interval), interval * 60)
            assert now is not None and later is not None
            assert now.hour_peak >= later.lead_peak, (interval, check)
            check += timedelta(minutes=1)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([1, 5, 15]),
       st.lists(st.one_of(st.none(), st.floats(0, 5000, allow_nan=False)), min_size=1,
                max_size=30),
       st.integers(0, 3 * DAY), st.integers(0, 59), st.sampled_from([60, 420, 900]),
       st.sampled_from([0, 7 * DAY, 15 * DAY]))
def test_a_forecast_from_a_history_used_before_is_the_one_a_fresh_history_gives(
        period: int, pattern: list[float | None], first: int, second: int, interval: int,
        earlier: int) -> None:
    # A history forecasts every check until the next fetch; what it remembers between checks
    # must never change a forecast. Checks a minute apart over an hour (both period phases,
    # the ends of the history and a start with or without two weeks known), each compared
    # with the same history made anew.
    size = (3 * DAY + earlier) // period + 24
    values = tuple((pattern * (size // len(pattern) + 1))[:size])
    start = START - timedelta(minutes=earlier)
    used = DemandHistory(start, period, values)
    for minute in range(first, first + 60):
        now = START + timedelta(minutes=minute, seconds=second)
        assert forecast(used, now, interval) == forecast(
            DemandHistory(start, period, values), now, interval)
