"""Forecast of a resource's demand from its own history: same time of day, same weekday, trend.

Pure. The history is demand (consumed plus throttled capacity units per second) averaged per
period: 5-minute periods, live and in a backtest alike (history.py), because CloudWatch keeps
finer data only for 15 days (``reference/aws-behaviour.md``). Only what lies before ``now`` is
ever read, whatever the history holds, so a forecast cannot see the future.

How far ahead a check looks depends on the check interval, passed in as data (``horizons``).
An increase takes LAND_MINUTES to land, and the next check comes a check interval later, so a
check pre-warms for the peak forecast over the next check interval plus LAND_MINUTES (the
jitter counted in), never less than LEAD_MINUTES plus the jitter: 10 minutes with checks every
5 minutes or less, 20 with checks every 15. A ramp that starts when it did on the days before
is then asked for at least LAND_MINUTES before it, whatever the interval (to within the minute
a check's time is rounded down to); one that comes up to the jitter earlier, up to that much
later. A scale-in never goes below the peak forecast until the end of the next check's
look-ahead (the hold horizon), so the next check's pre-warming does not undo it.

The forecast of the peak demand in the next M minutes is built from the same span of earlier
days, each widened by a few minutes of jitter: a daily sale that starts within ±5 minutes of
noon is seen wherever it started. Once a week of history is known the days are yesterday and
the same weekday one and two weeks ago, so a weekday is not forecast from a weekend; before
that, yesterday and the day before. One day is never enough: with two days the lower peak is
taken, with three the median, so a one-off spike is not expected again. The trend scales the
result by how the newest half hour known compares with the same half hour on those days.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cached_property

DAY_MINUTES = 1440
MINUTE = timedelta(minutes=1)
# Same time of day one day ago, and same weekday one and two weeks ago; before a week of
# history is known, one and two days ago.
WEEKLY_OFFSETS = (DAY_MINUTES, 7 * DAY_MINUTES, 14 * DAY_MINUTES)
DAILY_OFFSETS = (DAY_MINUTES, 2 * DAY_MINUTES)
EVERY_OFFSET = tuple(sorted({*WEEKLY_OFFSETS, *DAILY_OFFSETS}))
JITTER_MINUTES = 5  # a recurring peak may start a few minutes earlier or later
TREND_MINUTES = 30  # how much of the recent past sets the trend
# A trend scales the seasonal forecast by at most -20 % / +25 %: a day that runs higher than
# the days before is followed by target mode anyway, and a one-off spike in the last half
# hour must not double the forecast (and the capacity held for it).
TREND_LIMITS = (0.8, 1.25)
# An increase above the highest capacity a table has had takes several minutes to land (the
# backtest assumes 5); one the table has had before lands within a minute or two.
LAND_MINUTES = 5
# The shortest pre-warm horizon (plus the jitter): checks at most JITTER_MINUTES apart.
LEAD_MINUTES = LAND_MINUTES


def horizons(check_interval: float) -> tuple[int, int]:
    """(lead, hold) in minutes, for checks ``check_interval`` seconds apart (0: unknown, as
    for checks at most JITTER_MINUTES apart).

    lead: pre-warm for the peak forecast this far ahead (plus the jitter): the time until the
    next check plus LAND_MINUTES, so a ramp is seen by the last check before it that can still
    make the increase land in time. hold: never scale in below what the near future is
    forecast to need, up to the end of the next check's lead horizon: a scale-in is not
    undone by the next check's pre-warming (a longer horizon costs capacity whenever the
    forecast is wrong).
    """
    interval = max(0, math.ceil(check_interval / 60 - 1e-9))
    lead = LAND_MINUTES + max(0, interval - JITTER_MINUTES)
    return lead, lead + max(interval, LEAD_MINUTES)


@dataclass(frozen=True)
class DemandHistory:
    """Average demand in CU/s per period: ``values[i]`` covers the ``period_minutes`` minutes
    from ``start + i × period``; None where nothing is known."""

    start: datetime
    period_minutes: int
    values: tuple[float | None, ...]

    @cached_property
    def forecasts(self) -> dict[tuple[int, ...], float | None]:
        """forecast_peak's results for this history, by the periods they read."""
        return {}

    @cached_property
    def known_from_minute(self) -> int:
        """``known_from`` in whole minutes from the start (a history on whole minutes)."""
        return (self.known_from - self.start) // MINUTE

    @cached_property
    def known_from(self) -> datetime:
        """The start of the first period with a value (the end when there is none)."""
        for index, value in enumerate(self.values):
            if value is not None:
                return self.start + timedelta(minutes=self.period_minutes * index)
        return self.end

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.period_minutes * len(self.values))

    def _index(self, moment: datetime) -> int:
        minutes = (moment - self.start).total_seconds() / 60
        return int(minutes // self.period_minutes)

    def peak(self, start: datetime, end: datetime, before: datetime) -> float | None:
        """The highest known value over the periods overlapping [start, end), counting only
        periods that ended by ``before``; None when none is known."""
        first = max(0, self._index(start))
        last = min(len(self.values), self._index(end - timedelta(microseconds=1)) + 1,
                   self._index(before))  # a period that has not ended is not known yet
        known = [value for value in self.values[first:last] if value is not None]
        return max(known) if known else None

    def median(self, start: datetime, end: datetime, before: datetime) -> float | None:
        first = max(0, self._index(start))
        last = min(len(self.values), self._index(end - timedelta(microseconds=1)) + 1,
                   self._index(before))
        known = [value for value in self.values[first:last] if value is not None]
        return statistics.median(known) if known else None


@dataclass(frozen=True)
class Forecast:
    """Forecast peak demand (CU/s): over the lead horizon (what to pre-warm for), and over
    the hold horizon (what a scale-in must leave); see ``horizons``."""

    lead_peak: float
    hour_peak: float


def _minute(now: datetime) -> datetime:
    utc = now.astimezone(timezone.utc) if now.tzinfo else now.replace(tzinfo=timezone.utc)
    return utc.replace(second=0, microsecond=0)


def forecast_peak(history: DemandHistory, now: datetime, minutes: int,
                  jitter: int = JITTER_MINUTES) -> float | None:
    """The peak demand forecast for [now, now + minutes), or None without two days of
    history.

    Only history before ``now`` is read. Cached per history: checks a minute apart mostly
    read the very same periods (``_periods_read``), and so get the same forecast.
    """
    now = _minute(now)
    key = _periods_read(history, now, minutes, jitter)
    if key is None:
        return _forecast_peak(history, now, minutes, jitter)
    cache = history.forecasts
    if key not in cache:
        if len(cache) > 4096:  # a daemon keeps a history a day: do not grow for ever
            cache.clear()
        cache[key] = _forecast_peak(history, now, minutes, jitter)
    return cache[key]


def _periods_read(history: DemandHistory, now: datetime, minutes: int,
                  jitter: int) -> tuple[int, ...] | None:
    """Everything of ``now`` that ``_forecast_peak`` depends on: which offsets are in the
    history and weekly, and the indices of the periods it reads (every offset's are these
    shifted by whole periods). None when that does not hold (a history not on whole minutes,
    or a period that does not divide a day): then nothing is cached.

    In whole minutes from the history's start the indices are exact integer arithmetic, and
    they equal ``DemandHistory._index``'s (a whole number of minutes is exact in its float
    arithmetic; ``x - 1 µs`` is the period of minute ``x - 1``).
    """
    start, period = history.start, history.period_minutes
    if start.second or start.microsecond or DAY_MINUTES % period:
        return None
    at = (now - start) // MINUTE  # now is on the minute
    known = min(at, period * len(history.values))
    weekly = at - WEEKLY_OFFSETS[1] >= history.known_from_minute
    return (minutes, jitter, weekly, *(at >= offset for offset in EVERY_OFFSET),
            at // period, (at - jitter) // period, (at + minutes + jitter - 1) // period,
            (known - TREND_MINUTES) // period, (known - 1) // period)


def _forecast_peak(history: DemandHistory, now: datetime, minutes: int,
                   jitter: int) -> float | None:
    weekly = now - timedelta(minutes=WEEKLY_OFFSETS[1]) >= history.known_from
    offsets = WEEKLY_OFFSETS if weekly else DAILY_OFFSETS
    # The trend compares the newest half hour known (live, the history is fetched once a day)
    # with the same half hour on the earlier days.
    known = min(now, history.end)
    span = timedelta(minutes=minutes)
    wobble = timedelta(minutes=jitter)
    seasonal: list[float] = []
    recent_then: list[float] = []
    trend_span = timedelta(minutes=TREND_MINUTES)
    for offset in offsets:
        then = now - timedelta(minutes=offset)
        if then < history.start:
            continue  # that day is not in the history
        peak = history.peak(then - wobble, then + span + wobble, now)
        if peak is None:
            continue
        seasonal.append(peak)
        recent_then_end = known - timedelta(minutes=offset)
        level = history.median(recent_then_end - trend_span, recent_then_end, now)
        if level is not None:
            recent_then.append(level)
    if len(seasonal) < 2:
        return None  # one day is not a pattern
    base = min(seasonal) if len(seasonal) == 2 else statistics.median(seasonal)
    recent = history.median(known - trend_span, known, now)
    trend = 1.0
    if recent is not None and recent_then:
        before = statistics.median(recent_then)
        if before > 0:
            trend = min(max(recent / before, TREND_LIMITS[0]), TREND_LIMITS[1])
        elif recent > 0:
            trend = TREND_LIMITS[1]
    return base * trend


def forecast(history: DemandHistory, now: datetime, check_interval: float) -> Forecast | None:
    """The two figures the decision uses for checks ``check_interval`` seconds apart, or None
    without two days of history."""
    lead_minutes, hold_minutes = horizons(check_interval)
    lead = forecast_peak(history, now, lead_minutes)
    hour = forecast_peak(history, now, hold_minutes)
    if lead is None or hour is None:
        return None
    return Forecast(lead, max(lead, hour))
