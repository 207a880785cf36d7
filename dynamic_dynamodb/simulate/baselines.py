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
from datetime import datetime

from dynamic_dynamodb.simulate.model import (
    DEFAULT_NEW_PEAK_DELAY,
    DEFAULT_REQUEST_UNITS,
    DIMENSION_NAMES,
    CapacityModel,
    ModelError,
    ResourceModel,
    aws_allows_decrease,
    aws_decreases_today,
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
    new_peak_delay: float = DEFAULT_NEW_PEAK_DELAY,
    request_units: float = DEFAULT_REQUEST_UNITS,
) -> CapacityModel:
    """Evaluate the alarms every minute, as CloudWatch does, and scale through the model.

    Minutes without a datapoint count as 0 consumed (DynamoDB publishes none for idle minutes;
    AWS's TreatMissingData=missing is not modelled). A refused update (ResourceInUse,
    LimitExceeded) is retried at the next evaluation while the alarm stays in ALARM.
    """
    model = CapacityModel(trace, initial, update_delay=update_delay, metric_delay=metric_delay,
                          keys=list(limits), new_peak_delay=new_peak_delay,
                          request_units=request_units)
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


ORACLE_THRESHOLDS = (0.0, 0.05, 0.1, 0.2, 0.4)


@dataclass(frozen=True)
class _Plan:
    capacity: dict[str, list[int]]
    decreases: int
    updates: int


def run_oracle(trace: Trace, initial: dict[str, dict[str, int]], keys: list[str], *,
               weights: dict[str, float] | None = None, horizon_minutes: int = 60,
               thresholds: tuple[float, ...] = ORACLE_THRESHOLDS) -> CapacityModel:
    """Provision exactly the demand, rounded up, within DynamoDB's decrease rule.

    Increases happen at the minute they are needed (the oracle sends them ahead of time, so the
    update delay never shows). Decreases are scarce: whenever the rule allows one, the oracle
    may lower each dimension to the highest demand of the next ``horizon_minutes`` (the wait
    for the next decrease once the 4 free ones are spent). Spending a decrease on a small
    drop can leave none for a big one later, so it plans once per minimum drop in
    ``thresholds`` and keeps the cheapest plan (``weights``: price per unit of each
    dimension). Never throttles; it does not lean on burst capacity.
    """
    weights = weights or {"reads": 1.0, "writes": 5.0}  # us-east-1's RCU:WCU price ratio
    model = CapacityModel(trace, initial, update_delay=0, keys=keys)
    stamps = [model.minute_start(minute) for minute in range(model.minutes)]
    for resource in model.resources.values():
        need = {dim: [max(1, math.ceil(value - 1e-9)) for value in resource.demand[dim]]
                for dim in DIMENSION_NAMES}
        ahead = {dim: _window_max(need[dim], horizon_minutes) for dim in DIMENSION_NAMES}
        plans = [_plan(need, ahead, resource.provisioned, stamps, threshold)
                 for threshold in thresholds]
        best = min(plans, key=lambda plan: sum(weights[dim] * sum(plan.capacity[dim])
                                               for dim in DIMENSION_NAMES))
        for dim in DIMENSION_NAMES:
            resource.capacity_seconds[dim] = [value * 60.0 for value in best.capacity[dim]]
            resource.consumed[dim] = [value * 60.0 for value in resource.demand[dim]]
            resource.provisioned[dim] = best.capacity[dim][-1] if best.capacity[dim] else 0
        resource.decreases, resource.updates = best.decreases, best.updates
    model.now = model.end
    return model


def _plan(need: dict[str, list[int]], ahead: dict[str, list[int]], initial: dict[str, int],
          stamps: list[datetime], threshold: float) -> _Plan:
    reads_need, writes_need = need["reads"], need["writes"]
    reads_ahead, writes_ahead = ahead["reads"], ahead["writes"]
    reads, writes = initial["reads"], initial["writes"]
    reads_out, writes_out = [0] * len(stamps), [0] * len(stamps)
    decreases_today, last_decrease = 0, None
    keep = 1.0 - threshold
    decreases = updates = 0
    for minute, now in enumerate(stamps):
        changed = False
        lower_reads = min(reads, reads_ahead[minute])
        lower_writes = min(writes, writes_ahead[minute])
        if ((lower_reads < reads and lower_reads <= reads * keep)
                or (lower_writes < writes and lower_writes <= writes * keep)) and \
                aws_allows_decrease(decreases_today, last_decrease, now):
            decreases_today = aws_decreases_today(decreases_today, last_decrease, now) + 1
            last_decrease = now
            reads, writes = lower_reads, lower_writes
            decreases += 1
            changed = True
        if reads_need[minute] > reads or writes_need[minute] > writes:
            reads = max(reads, reads_need[minute])
            writes = max(writes, writes_need[minute])
            changed = True
        updates += changed
        reads_out[minute], writes_out[minute] = reads, writes
    return _Plan({"reads": reads_out, "writes": writes_out}, decreases, updates)


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
