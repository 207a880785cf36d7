"""A model of DynamoDB provisioned capacity, per table and per GSI, read and write.

Time is kept in seconds since the start of the trace. Between events the model steps at most
one minute at a time; an update that takes effect in the middle of a minute splits it.

- served = min(demand, provisioned + burst); the rest is throttled, one throttle event per
  throttled capacity unit;
- the burst bucket holds up to 300 s of unused provisioned capacity, and starts full (a table
  that has been running below its capacity has a full bucket);
- an UpdateTable takes effect ``update_delay`` seconds later; until then the table is UPDATING
  and a second update of the table or any of its GSIs gets ResourceInUseException;
- DynamoDB's decrease rule is enforced per table and per GSI, independently of any policy
  (landscape §3): 4 per UTC day at any time, then one an hour, at most 27. A refused decrease is
  a LimitExceededException.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from dynamic_dynamodb.policy.budget import DecreaseLedger
from dynamic_dynamodb.simulate.trace import Trace

BURST_SECONDS = 300
# The model enforces AWS's own rule (default quota 27), never the policy's configuration.
FREE_DECREASES_PER_DAY = 4
MAX_DECREASES_PER_DAY = 27


def aws_decreases_today(count: int, last: datetime | None, now: datetime) -> int:
    """DynamoDB's count of today's decreases: it restarts at 00:00 UTC."""
    if last is None or last.astimezone(timezone.utc).date() != now.astimezone(timezone.utc).date():
        return 0
    return count


def aws_allows_decrease(count: int, last: datetime | None, now: datetime) -> bool:
    """DynamoDB's decrease rule (4 any time, then 1 an hour, at most 27 a UTC day).

    Written here on its own, not with the policy's policy/budget.py: if the model shared the
    policy's code, a bug in the budget would be repeated by the model and never show up as a
    LimitExceeded in the backtest.
    """
    today = aws_decreases_today(count, last, now)
    if today >= MAX_DECREASES_PER_DAY:
        return False
    return today < FREE_DECREASES_PER_DAY or last is None or now - last >= timedelta(hours=1)
DIMENSION_NAMES = ("reads", "writes")


class ModelError(Exception):
    """What DynamoDB would answer instead of accepting an UpdateTable."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class ResourceModel:
    """Mutable state and per-minute records of one table or GSI."""

    def __init__(self, key: str, table: str, gsi: str | None, demand: dict[str, list[float]],
                 initial: dict[str, int], minutes: int):
        self.key, self.table, self.gsi = key, table, gsi
        self.demand = demand
        self.provisioned = dict(initial)
        self.bucket = {dim: float(BURST_SECONDS * initial[dim]) for dim in DIMENSION_NAMES}
        self.pending: tuple[float, int, int] | None = None  # (effective at, reads, writes)
        # Records per minute, in capacity units (CU·s) and CU·s of provisioned capacity.
        self.consumed = {dim: [0.0] * minutes for dim in DIMENSION_NAMES}
        self.throttled = {dim: [0.0] * minutes for dim in DIMENSION_NAMES}
        self.capacity_seconds = {dim: [0.0] * minutes for dim in DIMENSION_NAMES}
        self.decreases_today = 0
        self.last_decrease: datetime | None = None
        self.last_increase: datetime | None = None
        self.updates = 0
        self.decreases = 0
        self.limit_exceeded = 0
        self.resource_in_use = 0

    def ledger(self) -> DecreaseLedger:
        return DecreaseLedger(self.decreases_today, self.last_decrease, self.last_increase)

    def serve(self, dim: str, minute: int, seconds: float) -> None:
        """Serve ``seconds`` of minute ``minute``'s demand for one dimension."""
        provisioned = self.provisioned[dim]
        need = self.demand[dim][minute] * seconds
        have = provisioned * seconds
        bucket = self.bucket[dim]
        if need <= have:
            served, throttled = need, 0.0
            bucket = min(bucket + have - need, BURST_SECONDS * provisioned)
        else:
            extra = min(need - have, bucket)
            bucket -= extra
            served = have + extra
            throttled = need - served
        self.bucket[dim] = bucket
        self.consumed[dim][minute] += served
        if throttled > 1e-9:
            self.throttled[dim][minute] += throttled
        self.capacity_seconds[dim][minute] += have

    def set_capacity(self, reads: int, writes: int) -> None:
        for dim, value in (("reads", reads), ("writes", writes)):
            self.provisioned[dim] = value
            # A smaller table keeps at most 300 s of its new capacity.
            self.bucket[dim] = min(self.bucket[dim], BURST_SECONDS * value)


class CapacityModel:
    """All tables and GSIs of a trace under one policy."""

    def __init__(self, trace: Trace, initial: dict[str, dict[str, int]], *,
                 update_delay: float = 60.0, metric_delay: float = 60.0,
                 keys: list[str] | None = None):
        self.start = trace.start
        self.minutes = trace.minutes
        self.end = trace.minutes * 60.0
        self.update_delay = update_delay
        self.metric_delay = metric_delay
        self.now = 0.0
        self.resources: dict[str, ResourceModel] = {}
        for resource in trace.resources:
            if keys is not None and resource.key not in keys:
                continue
            self.resources[resource.key] = ResourceModel(
                resource.key, resource.table, resource.gsi,
                {"reads": list(resource.reads), "writes": list(resource.writes)},
                initial[resource.key], trace.minutes)
        self.tables: dict[str, list[ResourceModel]] = {}
        for model in self.resources.values():
            self.tables.setdefault(model.table, []).append(model)
        self._pending: list[ResourceModel] = []
        self._stamps: list[datetime] | None = None

    # -- time -----------------------------------------------------------------------------
    def at(self, seconds: float) -> datetime:
        return self.start + timedelta(seconds=seconds)

    def minute_start(self, minute: int) -> datetime:
        """The timestamp of a minute's datapoint (its start); cached, CloudWatch asks often."""
        if self._stamps is None:
            self._stamps = [self.start + timedelta(minutes=m) for m in range(self.minutes)]
        return self._stamps[minute]

    def now_datetime(self) -> datetime:
        return self.at(self.now)

    def advance_to(self, until: float) -> None:
        """Serve demand from ``now`` to ``until`` (capped at the trace's end)."""
        until = min(until, self.end)
        resources = list(self.resources.values())
        while self.now < until - 1e-9:
            minute = int(self.now // 60)
            step_end = min(until, (minute + 1) * 60.0)
            for model in self._pending:
                assert model.pending is not None
                if model.pending[0] < step_end:
                    step_end = max(model.pending[0], self.now)
            seconds = step_end - self.now
            if seconds > 0:
                for model in resources:
                    model.serve("reads", minute, seconds)
                    model.serve("writes", minute, seconds)
            self.now = step_end
            self._apply_due()

    def _apply_due(self) -> None:
        if not self._pending:
            return
        still = []
        for model in self._pending:
            assert model.pending is not None
            effective, reads, writes = model.pending
            if effective <= self.now + 1e-9:
                model.set_capacity(reads, writes)
                model.pending = None
            else:
                still.append(model)
        self._pending = still

    # -- what DescribeTable would say -----------------------------------------------------
    def table_updating(self, table: str) -> bool:
        return any(model.pending is not None for model in self.tables.get(table, ()))

    def decreases_today(self, model: ResourceModel) -> int:
        return aws_decreases_today(model.decreases_today, model.last_decrease,
                                   self.now_datetime())

    # -- UpdateTable ----------------------------------------------------------------------
    def update(self, key: str, reads: int, writes: int) -> None:
        """Accept an UpdateTable or raise ModelError with DynamoDB's error code."""
        model = self.resources.get(key)
        if model is None:
            raise ModelError("ResourceNotFoundException", f"Requested resource not found: {key}")
        if reads < 1 or writes < 1:
            raise ModelError("ValidationException", "provisioned throughput must be at least 1")
        if self.table_updating(model.table):
            model.resource_in_use += 1
            raise ModelError("ResourceInUseException",
                             f"Attempt to change a resource which is still in use: {model.table}")
        current = model.provisioned
        if reads == current["reads"] and writes == current["writes"]:
            raise ModelError("ValidationException",
                             "The provisioned throughput for the table will not change")
        now = self.now_datetime()
        decrease = reads < current["reads"] or writes < current["writes"]
        increase = reads > current["reads"] or writes > current["writes"]
        if decrease:
            today = aws_decreases_today(model.decreases_today, model.last_decrease, now)
            if not aws_allows_decrease(model.decreases_today, model.last_decrease, now):
                model.limit_exceeded += 1
                raise ModelError(
                    "LimitExceededException",
                    f"Subscriber limit exceeded: Provisioned throughput decreases are limited "
                    f"within a given UTC day ({today} used today)")
            model.decreases_today = today + 1
            model.last_decrease = now
            model.decreases += 1
        if increase:
            model.last_increase = now
        model.updates += 1
        if self.update_delay <= 0:
            model.set_capacity(reads, writes)
        else:
            model.pending = (self.now + self.update_delay, reads, writes)
            self._pending.append(model)

    # -- what CloudWatch would show -------------------------------------------------------
    def published_minutes(self) -> int:
        """Minutes [0, n) whose datapoints are visible now (published ``metric_delay`` after
        the minute ends)."""
        return max(0, min(self.minutes, int((self.now - self.metric_delay + 1e-9) // 60)))
