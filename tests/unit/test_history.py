"""predictive-scaling's demand history: one batched fetch a day, cached in the state."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from dynamic_dynamodb.aws.model import MetricRequest, MetricSums
from dynamic_dynamodb.history import HISTORY_DAYS, PERIOD_SECONDS, DemandHistories
from dynamic_dynamodb.policy.observation import DimensionObservation, Observation
from dynamic_dynamodb.state import State

NOW = datetime(2024, 1, 20, 11, 52, tzinfo=timezone.utc)
RESOURCE = [("shop", "shop", None)]


class Metrics:
    """A CloudWatch with a daily sale at noon in ConsumedReadCapacityUnits since ``since``."""

    def __init__(self, since: datetime, fail: bool = False):
        self.since, self.fail = since, fail
        self.calls: list[tuple[int, datetime, datetime, int]] = []

    def fetch_sums(self, requests: list[MetricRequest], start: datetime,
                   end: datetime) -> MetricSums:
        raise AssertionError("not used")

    def fetch_series(self, requests: list[MetricRequest], start: datetime, end: datetime,
                     period: int = 60) -> dict[Hashable, list[tuple[datetime, float]]]:
        self.calls.append((len(requests), start, end, period))
        if self.fail:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}},
                              "GetMetricData")
        out: dict[Hashable, list[tuple[datetime, float]]] = {}
        for request in requests:
            points = []
            moment = max(start, self.since)
            while moment < end:
                if request.metric == "ConsumedReadCapacityUnits":
                    sale = 12 * 60 <= moment.hour * 60 + moment.minute < 13 * 60
                    points.append((moment, (1500.0 if sale else 100.0) * period))
                moment += timedelta(seconds=period)
            out[request.key] = points
        return out


def observations() -> dict[str, Observation]:
    return {"shop": Observation(DimensionObservation(115, 87.0), DimensionObservation(10, 50.0))}


def test_the_history_is_fetched_once_a_day_in_one_batch_and_cached_in_the_state() -> None:
    metrics, state, histories = Metrics(NOW - timedelta(days=30)), State(), DemandHistories()
    seen = observations()
    histories.forecasts(metrics, state, RESOURCE, seen, NOW)
    (count, start, end, period), = metrics.calls
    assert (count, period) == (4, PERIOD_SECONDS)  # consumed and throttles, reads and writes
    assert end <= NOW and end - start == timedelta(days=HISTORY_DAYS)
    assert histories.metrics_requested == 4
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
