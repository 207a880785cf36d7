"""What the policy is compared with, on the same trace and the same model.

- aws-target-tracking: Application Auto Scaling's target tracking, emulated from the alarms it
  creates (landscape §2): scale out when 2 consecutive one-minute consumed Sums exceed
  target × provisioned × 60, scale in when 15 consecutive ones are below
  (target − 20 points) × provisioned × 60; new capacity = consumed ÷ target, within the
  section's min/max, through the same model (update delay, ResourceInUse, decrease rule);
- static-peak: the trace's peak demand, provisioned all the time;
- on-demand: pay per request for the demand served;
- oracle: knows the future and provisions exactly the demand (rounded up to whole units)
  within DynamoDB's decrease rule; the cost floor at zero throttling.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from dynamic_dynamodb.policy.budget import decrease_verdict, used_today
from dynamic_dynamodb.simulate.model import (
    AWS_DECREASE_RULE,
    DIMENSION_NAMES,
    CapacityModel,
    ModelError,
    ResourceModel,
)
from dynamic_dynamodb.simulate.trace import Trace

SCALE_OUT_POINTS = 2
SCALE_IN_POINTS = 15
SCALE_IN_GAP = 20.0  # percentage points below the target


@dataclass(frozen=True)
class Limits:
    """A section's min/max for one dimension (min unset means DynamoDB's floor of 1)."""

    minimum: int = 1
    maximum: int | None = None

    def clamp(self, value: int) -> int:
        if self.maximum is not None:
            value = min(value, self.maximum)
        return max(value, self.minimum, 1)


def run_target_tracking(
    trace: Trace,
    initial: dict[str, dict[str, int]],
    limits: dict[str, dict[str, Limits]],
    *,
    target: float = 70.0,
    update_delay: float = 60.0,
    metric_delay: float = 60.0,
) -> CapacityModel:
    """Evaluate the alarms every minute, as CloudWatch does, and scale through the model.

    Minutes without a datapoint count as 0 consumed (DynamoDB publishes none for idle minutes;
    AWS's TreatMissingData=missing is not modelled). A refused update (ResourceInUse,
    LimitExceeded) is retried at the next evaluation while the alarm stays in ALARM.
    """
    model = CapacityModel(trace, initial, update_delay=update_delay, metric_delay=metric_delay,
                          keys=list(limits))
    ratio = target / 100.0
    low_ratio = max(0.0, target - SCALE_IN_GAP) / 100.0
    # The capacity AAS last asked for: its alarm thresholds follow it, not the (lagging) table.
    desired = {key: dict(initial[key]) for key in model.resources}
    evaluated = 0
    minute = 0
    while minute * 60.0 < model.end:
        model.advance_to(minute * 60.0)
        published = model.published_minutes()
        if published > evaluated:
            evaluated = published
            for key, resource in model.resources.items():
                for dim in DIMENSION_NAMES:
                    _evaluate(model, resource, dim, desired[key], limits[key][dim], published,
                              ratio, low_ratio)
        minute += 1
    model.advance_to(model.end)
    return model


def _evaluate(model: CapacityModel, resource: ResourceModel, dim: str, desired: dict[str, int],
              limits: Limits, published: int, ratio: float, low_ratio: float) -> None:
    consumed = resource.consumed[dim]
    capacity = desired[dim]
    wanted: int | None = None
    latest = consumed[published - 1]
    high = ratio * capacity * 60
    if published >= SCALE_OUT_POINTS and all(
            consumed[m] > high for m in range(published - SCALE_OUT_POINTS, published)):
        proposal = limits.clamp(math.ceil(latest / 60 / ratio - 1e-9))
        if proposal > capacity:
            wanted = proposal
    low = low_ratio * capacity * 60
    if wanted is None and published >= SCALE_IN_POINTS and all(
            consumed[m] < low for m in range(published - SCALE_IN_POINTS, published)):
        proposal = limits.clamp(math.ceil(latest / 60 / ratio - 1e-9))
        if proposal < capacity:
            wanted = proposal
    if wanted is None and capacity != limits.clamp(capacity):
        wanted = limits.clamp(capacity)  # AAS moves a table into [min, max]
    if wanted is None:
        return
    other = "writes" if dim == "reads" else "reads"
    values = {dim: wanted, other: resource.provisioned[other]}
    if resource.pending is not None:
        return  # the table is UPDATING; AAS's scaling activity would fail the same way
    try:
        model.update(resource.key, values["reads"], values["writes"])
    except ModelError:
        return
    desired[dim] = wanted
    desired[other] = values[other]


def run_static_peak(trace: Trace, keys: list[str]) -> CapacityModel:
    """The trace's peak demand (rounded up) all the time: never throttles."""
    peak = {
        resource.key: {dim: max(1, math.ceil(max(resource.demand(dim), default=0) - 1e-9))
                       for dim in DIMENSION_NAMES}
        for resource in trace.resources if resource.key in keys
    }
    model = CapacityModel(trace, peak, update_delay=0, keys=keys)
    model.advance_to(model.end)
    return model


def run_on_demand(trace: Trace, keys: list[str]) -> CapacityModel:
    """Pay per request: everything is served and the 'capacity' is what was served.

    On-demand's own limits (twice the previous peak, per-table maximums) are not modelled.
    """
    model = CapacityModel(trace, {key: {"reads": 1, "writes": 1} for key in keys},
                          update_delay=0, keys=keys)
    for resource in model.resources.values():
        for dim in DIMENSION_NAMES:
            served = [value * 60.0 for value in resource.demand[dim]]
            resource.consumed[dim] = served
            resource.capacity_seconds[dim] = list(served)
    model.now = model.end
    return model


def run_oracle(trace: Trace, initial: dict[str, dict[str, int]], keys: list[str],
               horizon_minutes: int = 60) -> CapacityModel:
    """Provision exactly the demand, rounded up, within DynamoDB's decrease rule.

    Increases happen at the minute they are needed (the oracle sends them ahead of time, so the
    update delay never shows). Decreases are scarce, so whenever the rule allows one the
    oracle lowers each dimension to the highest demand of the next ``horizon_minutes`` (the
    wait for the next decrease once the 4 free ones are spent). Never throttles; it does not
    lean on burst capacity.
    """
    model = CapacityModel(trace, initial, update_delay=0, keys=keys)
    start = trace.start
    for resource in model.resources.values():
        need = {dim: [max(1, math.ceil(value - 1e-9)) for value in resource.demand[dim]]
                for dim in DIMENSION_NAMES}
        ahead = {dim: _window_max(need[dim], horizon_minutes) for dim in DIMENSION_NAMES}
        current = dict(resource.provisioned)
        for minute in range(model.minutes):
            now = start + timedelta(minutes=minute)
            lower = {dim: min(current[dim], ahead[dim][minute]) for dim in DIMENSION_NAMES}
            changed = False
            if lower != current and _may_decrease(resource, now):
                resource.decreases_today = used_today(resource.ledger(), now) + 1
                resource.last_decrease = now
                resource.decreases += 1
                current = lower
                changed = True
            raised = {dim: max(current[dim], need[dim][minute]) for dim in DIMENSION_NAMES}
            if raised != current:
                resource.last_increase = now
                current = raised
                changed = True
            resource.updates += changed
            for dim in DIMENSION_NAMES:
                resource.capacity_seconds[dim][minute] = current[dim] * 60.0
                resource.consumed[dim][minute] = resource.demand[dim][minute] * 60.0
        resource.provisioned = current
    model.now = model.end
    return model


def _may_decrease(resource: ResourceModel, now: datetime) -> bool:
    return decrease_verdict(resource.ledger(), now, AWS_DECREASE_RULE).allowed


def _window_max(values: list[int], width: int) -> list[int]:
    """max(values[i : i + width]) for every i, in linear time (monotonic deque)."""
    result = [0] * len(values)
    window: deque[int] = deque()
    for index in range(len(values) - 1, -1, -1):
        while window and values[window[-1]] <= values[index]:
            window.pop()
        window.append(index)
        while window[0] >= index + width:
            window.popleft()
        result[index] = values[window[0]]
    return result
