"""What a check saw of one table or GSI, and the arithmetic that turns metric sums into it.

Pure: the engine fetches the sums from CloudWatch; this module says which window to ask for
(D15) and what the sums mean as percentages (behaviour file §4.2), never dividing by zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dynamic_dynamodb.dimensions import READS, Dimension
from dynamic_dynamodb.policy.budget import DecreaseLedger


@dataclass(frozen=True)
class DimensionObservation:
    """What CloudWatch and DescribeTable said about one dimension (behaviour file §4.2)."""

    provisioned: int
    consumed_percent: float = 0.0
    throttle_events: int = 0
    throttled_by_provisioned_percent: float = 0.0
    throttled_by_consumed_percent: float = 0.0


@dataclass(frozen=True)
class Observation:
    reads: DimensionObservation
    writes: DimensionObservation
    ledger: DecreaseLedger = field(default_factory=DecreaseLedger)

    def dimension(self, dimension: Dimension) -> DimensionObservation:
        return self.reads if dimension == READS else self.writes


def observe_dimension(
    provisioned: int, consumed_sum: float | None, throttle_sum: float | None, seconds: int
) -> DimensionObservation:
    """Behaviour file §4.2 from window sums, never dividing by zero (D15).

    Each percentage is one multiplication by 100 followed by one division, so it is correctly
    rounded: 30 % consumed is 30.0, not the 29.999999999999996 that dividing step by step gives,
    which would flip the strict threshold comparisons.
    """
    consumed = consumed_sum or 0.0
    throttled = throttle_sum or 0.0
    events = int(throttled)
    if provisioned <= 0:
        return DimensionObservation(provisioned, throttle_events=events)
    capacity = provisioned * seconds
    by_consumed = throttled * 100 / consumed if consumed and throttle_sum is not None else 0.0
    return DimensionObservation(
        provisioned=provisioned,
        consumed_percent=consumed * 100 / capacity,
        throttle_events=events,
        throttled_by_provisioned_percent=throttled * 100 / capacity,
        throttled_by_consumed_percent=by_consumed,
    )


def metric_window(now: datetime, lookback_window_start: int,
                  lookback_period: int) -> tuple[datetime, datetime]:
    """[now − lookback-window-start, + lookback-period] in whole minutes (D15)."""
    minute = now.replace(second=0, microsecond=0)
    start = minute - timedelta(minutes=lookback_window_start)
    return start, start + timedelta(minutes=lookback_period)
