"""What a check saw of one table or GSI, and the arithmetic that turns metric sums into it.

Pure: the engine fetches the sums from CloudWatch; this module says which window to ask for
(D15) and what the sums mean as percentages (behaviour file §4.2), never dividing by zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dynamic_dynamodb.dimensions import READS, Dimension
from dynamic_dynamodb.policy.budget import DecreaseLedger
from dynamic_dynamodb.policy.forecast import Forecast
from dynamic_dynamodb.policy.frozen import frozen_builder


@dataclass(frozen=True)
class DimensionObservation:
    """What CloudWatch and DescribeTable said about one dimension (behaviour file §4.2)."""

    provisioned: int
    consumed_percent: float = 0.0
    throttle_events: int = 0  # every throttle event: any of them vetoes a decrease (D8)
    throttled_by_provisioned_percent: float = 0.0  # capacity throttles only (no hot keys)
    throttled_by_consumed_percent: float = 0.0
    # Throttles DynamoDB attributes to a hot key range: more capacity cannot fix them, so they
    # never trigger an increase. 0 when the cause-specific metric was not read.
    key_range_throttle_events: int = 0
    # Throttled demand in capacity units: events × average units per request (consumed
    # Sum ÷ SampleCount); events count requests, not units (aws-behaviour.md, CloudWatch).
    throttled_units: float = 0.0
    # False when CloudWatch did not answer completely (StatusCode): no decrease on a guess.
    complete: bool = True
    # The most DynamoDB allows this resource (DescribeLimits): increases stop there.
    ceiling: int | None = None
    # The length of the lookback window the sums cover, in seconds.
    window_seconds: int = 60
    # predictive-scaling: the demand forecast from this resource's own past (None: none).
    forecast: Forecast | None = None

    @property
    def demand(self) -> float:
        """Target mode's demand in CU/s: consumed plus throttled capacity units (capacity
        throttles only: more capacity cannot fix hot keys)."""
        consumed = self.consumed_percent * self.provisioned / 100
        return consumed + self.throttled_units / max(1, self.window_seconds)

    @property
    def capacity_throttle_events(self) -> int:
        """Throttle events that more capacity would have prevented."""
        return max(0, self.throttle_events - self.key_range_throttle_events)


@dataclass(frozen=True)
class Observation:
    reads: DimensionObservation
    writes: DimensionObservation
    ledger: DecreaseLedger = field(default_factory=DecreaseLedger)

    def dimension(self, dimension: Dimension) -> DimensionObservation:
        return self.reads if dimension is READS else self.writes


# DimensionObservation(**values), made faster: two or more every check of every table and
# GSI (policy/frozen.py).
_observation = frozen_builder(DimensionObservation)


def with_forecast(seen: DimensionObservation, forecast: Forecast | None) -> DimensionObservation:
    """The same observation with predictive-scaling's forecast."""
    return _observation(seen, forecast=forecast)


def observe_dimension(
    provisioned: int, consumed_sum: float | None, throttle_sum: float | None, seconds: int,
    *, key_range_sum: float | None = None, consumed_requests: float | None = None,
    complete: bool = True, ceiling: int | None = None,
) -> DimensionObservation:
    """Behaviour file §4.2 from window sums, never dividing by zero (D15).

    Each percentage is one multiplication by 100 followed by one division, so it is correctly
    rounded: 30 % consumed is 30.0, not the 29.999999999999996 that dividing step by step gives,
    which would flip the strict threshold comparisons. 2.5.1's throttle percentages stay in
    events (its options are documented in events), counting capacity throttles only.
    ``consumed_requests`` is the consumed metric's SampleCount: the number of requests, so
    consumed ÷ requests is the average size of a request in capacity units.
    """
    consumed = consumed_sum or 0.0
    events = int(throttle_sum or 0.0)
    key_range = min(events, int(key_range_sum or 0.0))
    throttled = float(events - key_range)  # capacity throttles, in events
    per_request = consumed / consumed_requests if consumed and consumed_requests else 1.0
    capacity = provisioned * seconds
    known = provisioned > 0
    return _observation(
        provisioned=provisioned,
        consumed_percent=consumed * 100 / capacity if known else 0.0,
        throttle_events=events,
        throttled_by_provisioned_percent=throttled * 100 / capacity if known else 0.0,
        throttled_by_consumed_percent=(
            throttled * 100 / consumed if known and consumed and throttle_sum is not None
            else 0.0),
        key_range_throttle_events=key_range,
        throttled_units=throttled * per_request,
        complete=complete,
        ceiling=ceiling,
        window_seconds=seconds,
    )


def metric_window(now: datetime, lookback_window_start: int,
                  lookback_period: int) -> tuple[datetime, datetime]:
    """[now − lookback-window-start, + lookback-period] in whole minutes (D15)."""
    minute = now.replace(second=0, microsecond=0)
    start = minute - timedelta(minutes=lookback_window_start)
    return start, start + timedelta(minutes=lookback_period)
