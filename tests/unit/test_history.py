"""predictive-scaling's demand history: one batched fetch a day, cached in the state."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from dynamic_dynamodb.aws.cloudwatch import MetricSeries
from dynamic_dynamodb.aws.model import MetricRequest, MetricSums
from dynamic_dynamodb.history import HISTORY_DAYS, PERIOD_SECONDS, DemandHistories
from dynamic_dynamodb.policy.observation import DimensionObservation, Observation
from dynamic_dynamodb.state import State

NOW = datetime(2024, 1, 20, 11, 52, tzinfo=timezone.utc)
RESOURCE = [("shop", "shop", None)]


class Metrics:
    """A CloudWatch with a daily sale at noon in ConsumedReadCapacityUnits since ``since``:
    requests of ``units`` read units each, and ``throttles`` ReadThrottleEvents a period;
    the keys in ``incomplete`` are answered without their datapoints before ``gap_from``."""

    def __init__(self, since: datetime, fail: bool = False, *, units: float = 1.0,
                 throttles: float = 0.0, incomplete: frozenset[Hashable] = frozenset(),
                 gap_from: datetime | None = None):
        self.since, self.fail = since, fail
        self.units, self.throttles = units, throttles
        self.incomplete, self.gap_from = incomplete, gap_from
        self.calls: list[tuple[int, datetime, datetime, int]] = []

    def fetch_sums(self, requests: list[MetricRequest], start: datetime,
                   end: datetime) -> MetricSums:
        raise AssertionError("not used")

    def fetch_series(self, requests: list[MetricRequest], start: datetime, end: datetime,
                     period: int = 60) -> dict[Hashable, list[tuple[datetime, float]]]:
        raise AssertionError("not used: it does not say which series are incomplete")

    def fetch_metric_series(self, requests: list[MetricRequest], start: datetime,
                            end: datetime, period: int = 60) -> MetricSeries:
        self.calls.append((len(requests), start, end, period))
        if self.fail:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}},
                              "GetMetricData")
        out: dict[Hashable, list[tuple[datetime, float]]] = {}
        for request in requests:
            points = []
            moment = max(start, self.since)
            while moment < end:
                missing = (request.key in self.incomplete and self.gap_from is not None
                           and moment >= self.gap_from)
                if request.metric == "ConsumedReadCapacityUnits" and not missing:
                    sale = 12 * 60 <= moment.hour * 60 + moment.minute < 13 * 60
                    units = (1500.0 if sale else 100.0) * period
                    points.append((moment, units if request.stat == "Sum"
                                   else units / self.units))
                if request.metric == "ReadThrottleEvents" and self.throttles and not missing:
                    points.append((moment, self.throttles))
                moment += timedelta(seconds=period)
            out[request.key] = points
        return MetricSeries(out, frozenset(request.key for request in requests
                                           if request.key in self.incomplete))


def observations() -> dict[str, Observation]:
    return {"shop": Observation(DimensionObservation(115, 87.0), DimensionObservation(10, 50.0))}


def test_the_history_is_fetched_once_a_day_in_one_batch_and_cached_in_the_state() -> None:
    metrics, state, histories = Metrics(NOW - timedelta(days=30)), State(), DemandHistories()
    seen = observations()
    histories.forecasts(metrics, state, RESOURCE, seen, NOW)
    (count, start, end, period), = metrics.calls
    # Consumed (Sum and SampleCount) and throttles, reads and writes.
    assert (count, period) == (6, PERIOD_SECONDS)
    assert end <= NOW and end - start == timedelta(days=HISTORY_DAYS)
    assert histories.metrics_requested == 6
    forecast = seen["shop"].reads.forecast
    assert forecast is not None and forecast.lead_peak == 1500.0  # the noon sale, ahead
    assert seen["shop"].writes.forecast is not None and seen["shop"].writes.forecast.lead_peak == 0

    for minutes in (1, 60, 23 * 60):  # the same day: no new fetch
        histories.forecasts(metrics, state, RESOURCE, observations(), NOW + timedelta(
            minutes=minutes))
    assert len(metrics.calls) == 1
    # Another process (cron's next --run-once) reads it from the state.
    fresh = DemandHistories()
    again = observations()
    fresh.forecasts(metrics, state, RESOURCE, again, NOW + timedelta(hours=2))
    assert len(metrics.calls) == 1 and again["shop"].reads.forecast is not None
    histories.forecasts(metrics, state, RESOURCE, observations(), NOW + timedelta(days=1))
    assert len(metrics.calls) == 2


def test_before_the_first_datapoint_nothing_is_known() -> None:
    """Three days of a new table: no weekly pattern is made up from the empty days before."""
    metrics, state, histories = Metrics(NOW - timedelta(days=3)), State(), DemandHistories()
    seen = observations()
    histories.forecasts(metrics, state, RESOURCE, seen, NOW)
    assert seen["shop"].reads.forecast is not None
    assert seen["shop"].reads.forecast.lead_peak == 1500.0
    stored = state.demand_history("shop")
    assert stored is not None and stored["reads"][0] is None


def test_a_failed_fetch_propagates_and_is_tried_again_an_hour_later() -> None:
    metrics, state, histories = Metrics(NOW, fail=True), State(), DemandHistories()
    seen = observations()
    with pytest.raises(ClientError):
        histories.forecasts(metrics, state, RESOURCE, seen, NOW)
    histories.forecasts(metrics, state, RESOURCE, seen, NOW + timedelta(minutes=30))
    assert len(metrics.calls) == 1 and seen["shop"].reads.forecast is None
    with pytest.raises(ClientError):
        histories.forecasts(metrics, state, RESOURCE, seen, NOW + timedelta(hours=1))
    assert len(metrics.calls) == 2


def test_a_malformed_cache_is_fetched_again() -> None:
    metrics, state, histories = Metrics(NOW - timedelta(days=30)), State(), DemandHistories()
    state.set_demand_history("shop", {"fetched": NOW.isoformat(), "reads": "nonsense"})
    histories.forecasts(metrics, state, RESOURCE, observations(), NOW)
    assert len(metrics.calls) == 1


def test_a_failed_fetch_waits_an_hour_also_in_a_new_process() -> None:
    """--run-once and Lambda start a new process every run: the retry time is in the state."""
    metrics, state = Metrics(NOW, fail=True), State()
    with pytest.raises(ClientError):
        DemandHistories().forecasts(metrics, state, RESOURCE, observations(), NOW)
    DemandHistories().forecasts(metrics, state, RESOURCE, observations(),
                                NOW + timedelta(minutes=5))
    assert len(metrics.calls) == 1
    metrics.fail = False
    DemandHistories().forecasts(metrics, state, RESOURCE, observations(),
                                NOW + timedelta(hours=1))
    assert len(metrics.calls) == 2 and state.history_retry_at("shop") is None


def test_throttle_events_weigh_the_units_of_an_average_request() -> None:
    # Requests of 4 read units: 100 RCU/s consumed is 25 requests a second; 300 throttle
    # events a 5-minute period are 1,200 throttled units, 4 RCU/s more.
    metrics, state = Metrics(NOW - timedelta(days=30), units=4.0, throttles=300.0), State()
    DemandHistories().forecasts(metrics, state, RESOURCE, observations(), NOW)
    stored = state.demand_history("shop")
    assert stored is not None
    assert max(stored["reads"]) == 1500.0 + 4.0
    assert min(stored["reads"]) == 100.0 + 4.0


def test_periods_an_incomplete_series_did_not_answer_are_unknown_not_idle() -> None:
    gap = NOW - timedelta(hours=6)
    metrics = Metrics(NOW - timedelta(days=30), incomplete=frozenset({("shop", "reads",
                                                                        "consumed")}),
                      gap_from=gap)
    state = State()
    DemandHistories().forecasts(metrics, state, RESOURCE, observations(), NOW)
    stored = state.demand_history("shop")
    assert stored is not None
    start = datetime.fromisoformat(stored["start"])
    reads = stored["reads"]
    cut = -(-int((gap - start).total_seconds()) // PERIOD_SECONDS)  # the first period missed
    assert reads[cut:] == [None] * (len(reads) - cut)
    assert None not in reads[:cut] and 0 not in reads[:cut]
    assert None not in stored["writes"]  # complete: its idle periods are 0


def test_the_check_interval_sets_how_far_ahead_the_forecast_looks() -> None:
    """At 11:41, with checks every 15 minutes the next check is at 11:56, too late for an
    increase to land by the noon sale: this one pre-warms. Checks every minute wait (the
    default, 0, looks as far ahead as they do); the cached history serves them all."""
    metrics, state = Metrics(NOW - timedelta(days=30)), State()
    before = NOW.replace(minute=41)
    looks: dict[float | None, float] = {}
    for interval in (None, 60.0, 900.0):
        seen = observations()
        histories = DemandHistories()
        if interval is None:
            histories.forecasts(metrics, state, RESOURCE, seen, before)
        else:
            histories.forecasts(metrics, state, RESOURCE, seen, before, check_interval=interval)
        forecast = seen["shop"].reads.forecast
        assert forecast is not None
        looks[interval] = forecast.lead_peak
    assert looks == {None: 100.0, 60.0: 100.0, 900.0: 1500.0}
    assert len(metrics.calls) == 1
