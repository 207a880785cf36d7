"""Demand from CloudWatch's DynamoDB metrics: consumed units plus throttled units.

Throttle metrics count events, not units, so throttled units = throttle events × the average
units per request: consumed Sum ÷ consumed SampleCount of that period; of the whole series
when the period has no consumption; 1 when the series has none at all. Shared by
``--fetch-trace`` (``simulate/fetch.py``, one-minute periods) and predictive-scaling's
history (``history.py``, 5-minute periods).
"""

from __future__ import annotations

from collections.abc import Sequence


def demand_per_second(consumed: Sequence[float], requests: Sequence[float],
                      throttled: Sequence[float], seconds: float) -> list[float]:
    """Capacity units per second of each period of ``seconds``: consumed plus throttle events
    × units per request."""
    total_requests = sum(requests)
    average = sum(consumed) / total_requests if total_requests > 0 else 1.0
    return [
        (used + events * (used / count if count > 0 else average)) / seconds
        for used, count, events in zip(consumed, requests, throttled, strict=True)
    ]
