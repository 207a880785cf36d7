"""predictive-scaling's demand history: fetched once a day, cached in the state.

For every table or GSI with ``predictive-scaling: true`` the engine asks, at most once a day,
one batch of GetMetricData for the last ``HISTORY_DAYS`` days of consumed units, their request
count (SampleCount) and throttle events (reads and writes: 6 series per resource) at
``PERIOD_SECONDS`` periods. CloudWatch keeps one-minute data for 15 days and answers older
starts only at 5-minute (up to 63 days) or hourly periods (``reference/aws-behaviour.md``);
5-minute periods over 15 days are valid for the whole range and keep a recurring ramp's start
to within 5 minutes. Demand per period is (consumed + throttled units) ÷ period seconds, a
throttle event weighing the units of an average request (consumed Sum ÷ SampleCount), exactly
as ``--fetch-trace`` does (``demand.py``). A series CloudWatch did not answer completely
leaves its periods without a datapoint unknown (None), not idle; the forecast skips them.
The newest minutes are not all published yet, so the history ends ``UNPUBLISHED_MINUTES``
before the fetch.

In a backtest the same code asks the simulator's CloudWatch, which answers only minutes
published by then: the trace's past, never its future. The forecast itself is pure
(``policy/forecast.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from dynamic_dynamodb.aws.model import MetricRequest
from dynamic_dynamodb.aws.ports import MetricsPort
from dynamic_dynamodb.demand import demand_per_second
from dynamic_dynamodb.dimensions import DIMENSIONS
from dynamic_dynamodb.policy.forecast import DemandHistory, forecast
from dynamic_dynamodb.policy.observation import Observation, with_forecast
from dynamic_dynamodb.state import State

logger = logging.getLogger(__name__)

HISTORY_DAYS = 15
PERIOD_SECONDS = 300
REFRESH = timedelta(days=1)
RETRY = timedelta(hours=1)  # after a failed fetch
UNPUBLISHED_MINUTES = 10
# What is read per resource and dimension: consumed units (Sum), requests (the consumed
# metric's SampleCount) and throttle events.
CONSUMED, REQUESTS, THROTTLED = "consumed", "requests", "throttled"


@dataclass(frozen=True)
class Cached:
    fetched: datetime
    histories: dict[str, DemandHistory]  # per dimension name


def _to_state(cached: Cached) -> dict[str, Any]:
    first = next(iter(cached.histories.values()))
    return {"fetched": cached.fetched.isoformat(), "start": first.start.isoformat(),
            "period": first.period_minutes,
            # CU/s to 0.01: plenty for a forecast, and a smaller state (about 50 KB a resource)
            **{name: [None if value is None else round(value, 2) for value in history.values]
               for name, history in cached.histories.items()}}


def _from_state(data: dict[str, Any]) -> Cached | None:
    """The cached history, or None when it is missing or not what this module wrote."""
    try:
        fetched = datetime.fromisoformat(data["fetched"])
        start = datetime.fromisoformat(data["start"])
        period = int(data["period"])
        histories = {}
        for dim in DIMENSIONS:
            values = data[dim.name]
            if not isinstance(values, list) or not all(
                    value is None or isinstance(value, (int, float)) for value in values):
                return None
            histories[dim.name] = DemandHistory(start, period, tuple(values))
    except (KeyError, TypeError, ValueError):
        return None
    if fetched.tzinfo is None or start.tzinfo is None or period < 1:
        return None
    return Cached(fetched, histories)


class DemandHistories:
    """The demand history of each predictive resource: in memory, in the state, or fetched."""

    def __init__(self) -> None:
        self._cache: dict[str, Cached] = {}
        self.metrics_requested = 0  # by the last call of ``forecasts``

    def forecasts(self, metrics: MetricsPort, state: State,
                  resources: Iterable[tuple[str, str, str | None]],
                  observations: dict[str, Observation], now: datetime, *,
                  check_interval: float = 0.0) -> None:
        """Attach a forecast to the observation of every resource (key, table, gsi) given,
        looking as far ahead as checks ``check_interval`` seconds apart need (check-interval;
        0: as for checks at most 5 minutes apart, see ``policy/forecast.py``).

        An AWS error of the fetch propagates (after the cached resources got theirs); the
        fetch is then tried again an hour later (the time is kept in the state, so a new
        process waits too), and the resources go without a forecast.
        """
        self.metrics_requested = 0
        wanted = [resource for resource in resources if resource[0] in observations]
        stale = []
        for key, table, gsi in wanted:
            cached = self._cache.get(key)
            if cached is None or now - cached.fetched >= REFRESH:
                stored = state.demand_history(key)
                cached = _from_state(stored) if stored is not None else None
                if cached is not None and now - cached.fetched < REFRESH:
                    self._cache[key] = cached
                else:
                    stale.append((key, table, gsi))
        self._attach(wanted, observations, now, check_interval)
        # The retry time lives in the state: a --run-once or Lambda run is a new process.
        due = [resource for resource in stale
               if (retry := state.history_retry_at(resource[0])) is None or now >= retry]
        if due:
            for key, _, _ in due:
                state.set_history_retry_at(key, now + RETRY)
            self._fetch(metrics, state, due, now)
            for key, _, _ in due:
                state.set_history_retry_at(key, None)
            self._attach(due, observations, now, check_interval)

    def _attach(self, resources: Iterable[tuple[str, str, str | None]],
                observations: dict[str, Observation], now: datetime,
                check_interval: float) -> None:
        for key, _, _ in resources:
            cached = self._cache.get(key)
            if cached is None:
                continue
            observation = observations[key]
            reads, writes = (
                with_forecast(observation.dimension(dim),
                              forecast(cached.histories[dim.name], now, check_interval))
                for dim in DIMENSIONS)
            observations[key] = Observation(reads, writes, observation.ledger)

    def _fetch(self, metrics: MetricsPort, state: State,
               stale: list[tuple[str, str, str | None]], now: datetime) -> None:
        end = now.astimezone(timezone.utc).replace(second=0, microsecond=0) - timedelta(
            minutes=UNPUBLISHED_MINUTES)
        end -= timedelta(minutes=end.minute % (PERIOD_SECONDS // 60))
        start = end - timedelta(days=HISTORY_DAYS)
        kinds = [(CONSUMED, "consumed_metric", "Sum"), (REQUESTS, "consumed_metric", "SampleCount"),
                 (THROTTLED, "throttle_metric", "Sum")]
        requests = [
            MetricRequest((key, dim.name, kind), table, gsi, getattr(dim, metric), stat)
            for key, table, gsi in stale
            for dim in DIMENSIONS
            for kind, metric, stat in kinds
        ]
        self.metrics_requested += len(requests)
        series = metrics.fetch_metric_series(requests, start, end, PERIOD_SECONDS)
        periods = int((end - start).total_seconds()) // PERIOD_SECONDS
        for key, _, _ in stale:
            histories = {}
            first = periods  # the history starts at the resource's first datapoint
            totals: dict[tuple[str, str], list[float]] = {}
            unknown: dict[str, set[int]] = {dim.name: set() for dim in DIMENSIONS}
            for dim in DIMENSIONS:
                for kind, _, _ in kinds:
                    values, seen = [0.0] * periods, set()
                    for moment, value in series.points.get((key, dim.name, kind), []):
                        index = int((moment - start).total_seconds()) // PERIOD_SECONDS
                        if 0 <= index < periods:
                            values[index] += value
                            seen.add(index)
                            first = min(first, index)
                    totals[(dim.name, kind)] = values
                    if (key, dim.name, kind) in series.incomplete:
                        # CloudWatch did not answer completely: a period without a datapoint
                        # is unknown, not idle.
                        unknown[dim.name].update(set(range(periods)) - seen)
            for dim in DIMENSIONS:
                demand = demand_per_second(totals[(dim.name, CONSUMED)],
                                           totals[(dim.name, REQUESTS)],
                                           totals[(dim.name, THROTTLED)], PERIOD_SECONDS)
                # After the first datapoint, a period without one was idle (DynamoDB publishes
                # nothing then); before it, nothing is known (a new table, or a fresh
                # backtest).
                histories[dim.name] = DemandHistory(start, PERIOD_SECONDS // 60, tuple(
                    None if index < first or index in unknown[dim.name] else value
                    for index, value in enumerate(demand)))
            cached = Cached(now, histories)
            self._cache[key] = cached
            state.set_demand_history(key, _to_state(cached))
        logger.debug("Fetched %d days of demand history for %d resource(s) (predictive-scaling)",
                     HISTORY_DAYS, len(stale))
