"""A model of DynamoDB provisioned capacity, per table and per GSI, read and write.

Time is kept in seconds since the start of the trace. Between events the model steps at most
one minute at a time; an update that takes effect in the middle of a minute splits it.

Sources: ``aws-behaviour.md`` and ``landscape.md`` are ``/work/shared/reference/``; "probe
notes" are the third-party notes from live AWS probes that ``tests/twin/README.md`` cites. A
rule marked **assumption** has no source that fixes its number; it is a setting.

Serving
  - served = min(demand, provisioned + burst); the rest is throttled (landscape §7.3).
  - The burst bucket holds up to 300 s of unused provisioned capacity and starts full; a
    smaller capacity keeps at most 300 s of itself. "DynamoDB currently retains up to 5
    minutes (300 seconds) of unused read and write capacity" (best-practices guide, landscape
    §7.3); AWS may also spend it on maintenance, so the model is optimistic about bursts.
  - Partitions, hot keys and adaptive capacity are not modelled: nothing is ever a key-range
    throttle.

What CloudWatch shows (served through ``simulate/fakes.py``)
  - One-minute datapoints, published ``metric_delay`` seconds after the minute ends; a minute
    with nothing consumed (or nothing throttled) has no datapoint (DynamoDB publishes none).
  - Throttle events count requests, not capacity units: "A single request can result in
    multiple events" (metrics page, aws-behaviour.md "Throttle metrics count events"). Every
    request is taken to need ``request_units`` capacity units (default 1.0: one event per
    throttled unit, the model's rule before this setting existed), so events = throttled
    units ÷ ``request_units``, and the consumed metrics' ``SampleCount`` (requests served) =
    consumed units ÷ ``request_units``: "Consumed Sum ÷ SampleCount is the average capacity
    units per request" (aws-behaviour.md). A per-dimension mapping is accepted too.

UpdateTable (``CapacityModel.update_table``)
  - One request may change the table and any of its GSIs: "In a single call, you can increase
    the provisioned throughput for a table, for any global secondary indexes on that table,
    or for any combination of these" (ServiceQuotas page, aws-behaviour.md).
  - Checks, in the twin's order (AWS does not document one; tests/twin/dynamodb.py): unknown
    table or index (ResourceNotFoundException), the table or any of its indexes UPDATING
    (ResourceInUseException), a resource asked for its current capacity
    (ValidationException), the capacity caps (LimitExceededException), the decrease quota
    (LimitExceededException). The first failing check refuses the WHOLE request and nothing
    is applied: "if a single request decreases the throughput for a table and a global
    secondary index, it is rejected if either exceeds the current limits. Requests are not
    partially processed" (ServiceQuotas page, aws-behaviour.md).
  - UPDATING: a changed resource is UPDATING until its change takes effect; a table change
    puts the table in UPDATING, a GSI change only that index (the table stays ACTIVE: live
    probes, aws-behaviour.md). "While it's UPDATING, you can't issue another UpdateTable
    request" (service model): any UpdateTable while the table or one of its indexes is
    UPDATING is refused with "Attempt to change a resource which is still in use: Table is
    being updated: NAME" (aws-behaviour.md). DescribeTable shows the old capacity until then.
  - A change takes effect ``update_delay`` seconds later (default 60; probes saw the UPDATING
    state last "from about 1 s to over 2 min"). A change that raises a resource above the
    highest capacity it has had (per dimension; the trace's starting capacity counts as had)
    takes ``new_peak_delay`` seconds instead (default 300, never less than ``update_delay``):
    "Raising a table to a new peak can take 'several minutes' (metrics-dimensions page)
    because partitions are added" (aws-behaviour.md). **Assumption**: the 300 s, and that any
    new peak takes it (probes saw 1-2 s for small new peaks; what really decides is whether
    partitions must be added, which is not modelled).
  - Decrease quota, per table and separately per GSI, whatever the policy believes: 4 at any
    time of a UTC day, then one if the last was at least 3,600 s ago, at most 27 a day, reset
    at 00:00 UTC (ServiceQuotas page, landscape §3). Raising one dimension while lowering the
    other counts as a decrease. The refusal is LimitExceededException worded as live
    (aws-behaviour.md): "... Number of decreases today: N. Last decrease at DATE. Next
    decrease can be made at DATE", the next time being the last decrease + 3,600 s or the
    next 00:00 UTC, whichever comes first (the next 00:00 UTC once 27 are spent; probe notes),
    rounded up to the second, dates written like "Friday, October 9, 2026 at 1:21:34 AM
    Coordinated Universal Time". With several resources over quota the message is the one
    whose next decrease comes last: the whole request can pass no sooner.
  - Capacity caps (ServiceQuotas page, aws-behaviour.md): per table and per GSI, each on its
    own units, and for the account, the sum over every modelled table and GSI. DescribeLimits
    answers ``limits`` (default 40,000 per table and 80,000 per account, each dimension).
    Wording from probe notes (as in the twin).
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone

from dynamic_dynamodb.aws.model import CapacityChange, CapacityLimits
from dynamic_dynamodb.policy.budget import DecreaseLedger
from dynamic_dynamodb.simulate.trace import Trace

BURST_SECONDS = 300
# The model enforces AWS's own rule (default quota 27), never the policy's configuration.
FREE_DECREASES_PER_DAY = 4
MAX_DECREASES_PER_DAY = 27
DECREASE_INTERVAL_SECONDS = 3600
DECREASE_INTERVAL = timedelta(seconds=DECREASE_INTERVAL_SECONDS)

DEFAULT_UPDATE_DELAY = 60.0  # seconds
DEFAULT_METRIC_DELAY = 60.0  # seconds
DEFAULT_NEW_PEAK_DELAY = 300.0  # seconds; an assumption, see the module docstring
DEFAULT_REQUEST_UNITS = 1.0  # capacity units per request
DEFAULT_LIMITS = CapacityLimits(table_max_reads=40000, table_max_writes=40000,
                                account_max_reads=80000, account_max_writes=80000)
REGION = "us-east-1"  # named in the capacity-cap messages; the model has no other region

LIMITS_TAIL = ("Refer to the Amazon DynamoDB Developer Guide for current limits and how to "
               "request higher limits.")
IN_USE_MESSAGE = "Attempt to change a resource which is still in use: Table is being updated: {table}"
QUOTA_MESSAGE = (
    "Subscriber limit exceeded: Provisioned throughput decreases are limited within a given "
    "UTC day. After the first {free} decreases, each subsequent decrease in the same UTC day "
    "can be performed at most once every {interval} seconds. Number of decreases today: "
    "{count}. Last decrease at {last}. Next decrease can be made at {next}"
)
NOTHING_TO_UPDATE_MESSAGE = (
    "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
    "GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required"
)

DIMENSION_NAMES = ("reads", "writes")
_DAY_SECONDS = 86400.0


def aws_date(when: datetime) -> str:
    """A moment as DynamoDB's quota message writes it: "Friday, October 9, 2026 at 1:21:34 AM
    Coordinated Universal Time" (probe notes, aws-behaviour.md). Locale-independent."""
    when = when.astimezone(timezone.utc)
    hour = when.hour % 12 or 12
    half = "AM" if when.hour < 12 else "PM"
    weekday = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
               "Sunday")[when.weekday()]
    month = ("January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December")[when.month - 1]
    return (f"{weekday}, {month} {when.day}, {when.year} at {hour}:{when.minute:02d}:"
            f"{when.second:02d} {half} Coordinated Universal Time")


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
    return today < FREE_DECREASES_PER_DAY or last is None or now - last >= DECREASE_INTERVAL


def aws_next_decrease(count: int, last: datetime | None, now: datetime) -> datetime | None:
    """When DynamoDB will next allow a decrease: None if now; otherwise the last decrease +
    3,600 s or the next 00:00 UTC, whichever is first (00:00 UTC once 27 are spent)."""
    if aws_allows_decrease(count, last, now):
        return None
    assert last is not None  # a refusal needs decreases today
    utc = now.astimezone(timezone.utc)
    midnight = datetime(utc.year, utc.month, utc.day, tzinfo=timezone.utc) + timedelta(days=1)
    if aws_decreases_today(count, last, now) >= MAX_DECREASES_PER_DAY:
        return midnight
    return min(last + DECREASE_INTERVAL, midnight)


def _whole_second_after(moment: datetime) -> datetime:
    """``moment`` rounded up to the second: a retry at the time the message names succeeds."""
    if moment.microsecond:
        return moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment


def quota_message(count: int, last: datetime, next_at: datetime) -> str:
    return QUOTA_MESSAGE.format(free=FREE_DECREASES_PER_DAY, interval=DECREASE_INTERVAL_SECONDS,
                                count=count, last=aws_date(last.replace(microsecond=0)),
                                next=aws_date(_whole_second_after(next_at)))


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
        self.peak = dict(initial)  # the highest capacity this resource has had
        self.highest_asked = dict(initial)  # ... or been asked for, refused requests included
        self.bucket = {dim: float(BURST_SECONDS * initial[dim]) for dim in DIMENSION_NAMES}
        self.pending: tuple[float, int, int] | None = None  # (effective at, reads, writes)
        # Records per minute, in capacity units (CU·s) and CU·s of provisioned capacity.
        self.consumed = {dim: [0.0] * minutes for dim in DIMENSION_NAMES}
        self.throttled = {dim: [0.0] * minutes for dim in DIMENSION_NAMES}
        self.capacity_seconds = {dim: [0.0] * minutes for dim in DIMENSION_NAMES}
        self.decreases_today = 0
        self.last_decrease: datetime | None = None
        self.last_increase: datetime | None = None
        self.updates = 0  # accepted changes of this resource (one request may change several)
        self.decreases = 0
        self.limit_exceeded = 0  # requests refused because THIS resource was over its quota
        self.resource_in_use = 0  # requests naming this resource refused with ResourceInUse

    def ledger(self) -> DecreaseLedger:
        return DecreaseLedger(self.decreases_today, self.last_decrease, self.last_increase)

    @property
    def updating(self) -> bool:
        return self.pending is not None

    def serve(self, dim: str, minute: int, seconds: float) -> None:
        """Serve ``seconds`` of minute ``minute``'s demand for one dimension."""
        provisioned = self.provisioned[dim]
        need = self.demand[dim][minute] * seconds
        have = provisioned * seconds
        bucket = self.bucket[dim]
        if need <= have:
            served = need
            bucket = min(bucket + have - need, BURST_SECONDS * provisioned)
        else:
            extra = min(need - have, bucket)
            bucket -= extra
            served = have + extra
            throttled = need - served
            if throttled > 1e-9:
                self.throttled[dim][minute] += throttled
        self.bucket[dim] = bucket
        self.consumed[dim][minute] += served
        self.capacity_seconds[dim][minute] += have

    def set_capacity(self, reads: int, writes: int) -> None:
        for dim, value in (("reads", reads), ("writes", writes)):
            self.provisioned[dim] = value
            # A smaller table keeps at most 300 s of its new capacity.
            self.bucket[dim] = min(self.bucket[dim], BURST_SECONDS * value)


class CapacityModel:
    """All tables and GSIs of a trace under one policy.

    Change a resource's capacity or ledger only through the model's methods (``update_table``,
    ``advance_to``), or call ``touch()`` after changing it directly: ``revision`` tells the
    simulated DescribeTable when its cached answers are stale.
    """

    def __init__(self, trace: Trace, initial: dict[str, dict[str, int]], *,
                 update_delay: float = DEFAULT_UPDATE_DELAY,
                 metric_delay: float = DEFAULT_METRIC_DELAY,
                 keys: list[str] | None = None,
                 new_peak_delay: float = DEFAULT_NEW_PEAK_DELAY,
                 request_units: float | Mapping[str, float] = DEFAULT_REQUEST_UNITS,
                 limits: CapacityLimits | None = None):
        for name, value in (("update_delay", update_delay), ("metric_delay", metric_delay),
                            ("new_peak_delay", new_peak_delay)):
            if not value >= 0:
                raise ValueError(f"{name} must be 0 or more seconds, not {value!r}")
        units = (dict(request_units) if isinstance(request_units, Mapping)
                 else dict.fromkeys(DIMENSION_NAMES, float(request_units)))
        if set(units) != set(DIMENSION_NAMES) or not all(
                math.isfinite(value) and value > 0 for value in units.values()):
            raise ValueError(f"request_units must be more than 0 capacity units, for reads and "
                             f"writes; not {request_units!r}")
        self.start = trace.start
        self.minutes = trace.minutes
        self.end = trace.minutes * 60.0
        self.update_delay = update_delay
        self.metric_delay = metric_delay
        self.new_peak_delay = new_peak_delay
        self.request_units = units
        self.limits = limits or DEFAULT_LIMITS
        self.now = 0.0
        self.revision = 0  # bumped whenever what DescribeTable shows may have changed
        self.outcomes: Counter[str] = Counter()  # UpdateTable requests: "accepted" or error code
        # CloudWatch metrics requested of the simulated CloudWatch (SimMetrics): one per
        # MetricDataQuery of a GetMetricData call, which is what CloudWatch bills.
        self.metrics_requested = 0
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
        # What serving touches, per resource and dimension (the dicts, never replaced).
        self._lanes = [(dim, model.provisioned, model.bucket, model.demand, model.consumed,
                        model.throttled, model.capacity_seconds)
                       for model in self.resources.values() for dim in DIMENSION_NAMES]
        self._stamps: list[datetime] | None = None
        self._start_epoch = self.start.timestamp()

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

    def utc_day_span(self) -> tuple[float, float]:
        """The UTC day ``now`` is in, as [start, end) in the model's seconds: the decrease
        counts DescribeTable shows change only at its end."""
        day_start = (self._start_epoch + self.now) // _DAY_SECONDS * _DAY_SECONDS
        return day_start - self._start_epoch, day_start + _DAY_SECONDS - self._start_epoch

    def touch(self) -> None:
        """Resource state was changed from outside the model's methods."""
        self.revision += 1

    def advance_to(self, until: float) -> None:
        """Serve demand from ``now`` to ``until`` (capped at the trace's end)."""
        until = min(until, self.end)
        lanes = self._lanes
        while self.now < until - 1e-9:
            minute = int(self.now // 60)
            step_end = min(until, (minute + 1) * 60.0)
            for model in self._pending:
                assert model.pending is not None
                if model.pending[0] < step_end:
                    step_end = max(model.pending[0], self.now)
            seconds = step_end - self.now
            if seconds > 0:
                _serve(lanes, minute, seconds)
            self.now = step_end
            if self._pending:
                self._apply_due()

    def _apply_due(self) -> None:
        still = []
        for model in self._pending:
            assert model.pending is not None
            effective, reads, writes = model.pending
            if effective <= self.now + 1e-9:
                model.set_capacity(reads, writes)
                model.pending = None
                self.revision += 1
            else:
                still.append(model)
        self._pending = still

    # -- what DescribeTable would say -----------------------------------------------------
    def table_updating(self, table: str) -> bool:
        """The table or any of its GSIs is UPDATING: an UpdateTable now is refused."""
        return any(model.pending is not None for model in self.tables.get(table, ()))

    def decreases_today(self, model: ResourceModel) -> int:
        return aws_decreases_today(model.decreases_today, model.last_decrease,
                                   self.now_datetime())

    # -- UpdateTable ----------------------------------------------------------------------
    def update(self, key: str, reads: int, writes: int) -> None:
        """One resource's new capacity in its own UpdateTable (the baselines' way)."""
        model = self.resources.get(key)
        if model is None:
            raise ModelError("ResourceNotFoundException", f"Requested resource not found: {key}")
        self.update_table(model.table, [CapacityChange(model.gsi, reads, writes)])

    def update_table(self, table: str, changes: Sequence[CapacityChange]) -> None:
        """Accept one UpdateTable carrying the table's and/or its GSIs' new capacities, or
        raise ModelError with DynamoDB's error code and wording; a refusal changes nothing."""
        for change in changes:
            asked = self.resources.get(table if change.gsi is None else f"{table}:{change.gsi}")
            if asked is not None and asked.table == table:
                highest = asked.highest_asked
                if change.reads > highest["reads"]:
                    highest["reads"] = int(change.reads)
                if change.writes > highest["writes"]:
                    highest["writes"] = int(change.writes)
        try:
            plan = self._plan(table, changes)
        except ModelError as exc:
            self.outcomes[exc.code] += 1
            raise
        self.outcomes["accepted"] += 1
        now = self.now_datetime()
        for model, reads, writes in plan:
            self._book(model, reads, writes, now)
        self.revision += 1

    def _plan(self, table: str, changes: Sequence[CapacityChange]
              ) -> list[tuple[ResourceModel, int, int]]:
        members = self.tables.get(table)
        if not members:
            raise ModelError("ResourceNotFoundException",
                             f"Requested resource not found: Table: {table} not found")
        if not changes:
            raise ModelError("ValidationException", NOTHING_TO_UPDATE_MESSAGE)
        by_gsi = {model.gsi: model for model in members}
        wanted: dict[str | None, CapacityChange] = {}
        for change in changes:
            if change.gsi is not None and change.gsi in wanted:
                raise ModelError("ValidationException",  # wording invented: none found
                                 f"One or more parameter values were invalid: Only one Update "
                                 f"per index is allowed: {change.gsi}")
            wanted[change.gsi] = change  # the table's: the last one, as the adapter sends it
        for gsi in wanted:
            if gsi not in by_gsi:
                if gsi is None:  # a table the trace has no rows for: never modelled
                    raise ModelError("ResourceNotFoundException",
                                     f"Requested resource not found: Table: {table} not found")
                raise ModelError("ResourceNotFoundException",
                                 f"Requested resource not found: Index: {gsi} not found")
        plan = [(by_gsi[gsi], int(change.reads), int(change.writes))
                for gsi, change in wanted.items()]
        for _, reads, writes in plan:
            if reads < 1 or writes < 1:  # botocore refuses it before sending (service model)
                raise ModelError("ValidationException",
                                 "1 validation error detected: provisioned throughput must be "
                                 "at least 1")
        if any(model.pending is not None for model in members):
            for model, _, _ in plan:
                model.resource_in_use += 1
            raise ModelError("ResourceInUseException", IN_USE_MESSAGE.format(table=table))
        for model, reads, writes in plan:
            if reads == model.provisioned["reads"] and writes == model.provisioned["writes"]:
                raise ModelError("ValidationException", _same_value_message(model, reads, writes))
        for model, reads, writes in plan:
            message = self._cap_message(model, reads, writes)
            if message:
                raise ModelError("LimitExceededException", message)
        message = self._account_cap_message(plan)
        if message:
            raise ModelError("LimitExceededException", message)
        now = self.now_datetime()
        refused: list[tuple[datetime, ResourceModel]] = []
        for model, reads, writes in plan:
            if reads < model.provisioned["reads"] or writes < model.provisioned["writes"]:
                next_at = aws_next_decrease(model.decreases_today, model.last_decrease, now)
                if next_at is not None:
                    refused.append((next_at, model))
        if refused:
            for _, model in refused:
                model.limit_exceeded += 1
            next_at, model = max(refused, key=lambda item: item[0])
            assert model.last_decrease is not None
            raise ModelError("LimitExceededException", quota_message(
                aws_decreases_today(model.decreases_today, model.last_decrease, now),
                model.last_decrease, next_at))
        return plan

    def _book(self, model: ResourceModel, reads: int, writes: int, now: datetime) -> None:
        current = model.provisioned
        if reads < current["reads"] or writes < current["writes"]:
            model.decreases_today = aws_decreases_today(model.decreases_today,
                                                        model.last_decrease, now) + 1
            model.last_decrease = now
            model.decreases += 1
        if reads > current["reads"] or writes > current["writes"]:
            model.last_increase = now
        model.updates += 1
        peak = model.peak
        delay = self.update_delay
        if reads > peak["reads"] or writes > peak["writes"]:
            delay = max(delay, self.new_peak_delay)
            peak["reads"], peak["writes"] = max(peak["reads"], reads), max(peak["writes"], writes)
        if delay <= 0:
            model.set_capacity(reads, writes)
        else:
            model.pending = (self.now + delay, reads, writes)
            self._pending.append(model)

    def _cap_message(self, model: ResourceModel, reads: int, writes: int) -> str | None:
        """Per-table and per-index caps, each on its own units (probe notes, as the twin)."""
        limits = self.limits
        for dimension, value, cap in (("Read", reads, limits.table_max_reads),
                                      ("Write", writes, limits.table_max_writes)):
            if value <= cap:
                continue
            if model.gsi is None:
                return (f"The requested {dimension}CapacityUnits, {value}, is above the per "
                        f"table maximum for the account in {REGION}. Per table maximum: "
                        f"{cap}. {LIMITS_TAIL}")
            return (f"The requested {dimension}CapacityUnits for index {model.gsi}, {value}, is "
                    f"above the per index maximum for the account in {REGION}. Per table "
                    f"maximum: {cap}. {LIMITS_TAIL}")
        return None

    def _account_cap_message(self, plan: list[tuple[ResourceModel, int, int]]) -> str | None:
        limits = self.limits
        for dimension, dim, cap in (("Read", "reads", limits.account_max_reads),
                                    ("Write", "writes", limits.account_max_writes)):
            asked = [reads if dim == "reads" else writes for _, reads, writes in plan]
            delta = sum(new - model.provisioned[dim]
                        for new, (model, _, _) in zip(asked, plan, strict=True))
            if delta <= 0:
                continue
            total = sum(model.provisioned[dim] for model in self.resources.values())
            if total + delta > cap:
                return (f"This request would have caused the {dimension}CapacityUnits limit to "
                        f"be exceeded for the account in {REGION}. Current {dimension}"
                        f"CapacityUnits reserved by the account: {total}. Limit: {cap}. "
                        f"Requested: {sum(asked)}")
        return None

    # -- replays of separate tables in separate processes ---------------------------------
    def tables_independent(self) -> bool:
        """Whether no table's replay can have depended on another table's: tables share
        nothing but the account's capacity caps (DescribeLimits, which the engine's increase
        ceilings and the model's UpdateTable check read). True when the most every resource
        ever had or asked for, summed, leaves every per-table cap within the account cap: then
        neither ever bound, whatever the other tables did at the same moment."""
        limits = self.limits
        for dim, table_max, account_max in (
            ("reads", limits.table_max_reads, limits.account_max_reads),
            ("writes", limits.table_max_writes, limits.account_max_writes),
        ):
            total = sum(max(model.peak[dim], model.highest_asked[dim])
                        for model in self.resources.values())
            if total > account_max - table_max:
                return False
        return True

    @classmethod
    def merged(cls, parts: Sequence[CapacityModel], keys: Sequence[str]) -> CapacityModel:
        """One model of the replays of disjoint sets of tables (the same trace, settings and
        time), with the resources in the order of ``keys``."""
        model = copy.copy(parts[0])
        found = {key: resource for part in parts for key, resource in part.resources.items()}
        model.resources = {key: found[key] for key in keys if key in found}
        model.tables = {}
        for resource in model.resources.values():
            model.tables.setdefault(resource.table, []).append(resource)
        model.outcomes = Counter()
        for part in parts:
            model.outcomes.update(part.outcomes)
        model.metrics_requested = sum(part.metrics_requested for part in parts)
        model.revision = sum(part.revision for part in parts)
        model._pending = [resource for part in parts for resource in part._pending]
        model._lanes = [(dim, resource.provisioned, resource.bucket, resource.demand,
                         resource.consumed, resource.throttled, resource.capacity_seconds)
                        for resource in model.resources.values() for dim in DIMENSION_NAMES]
        model._stamps = None
        return model

    # -- what CloudWatch would show -------------------------------------------------------
    def published_minutes(self) -> int:
        """Minutes [0, n) whose datapoints are visible now (published ``metric_delay`` after
        the minute ends)."""
        return max(0, min(self.minutes, int((self.now - self.metric_delay + 1e-9) // 60)))


def _same_value_message(model: ResourceModel, reads: int, writes: int) -> str:
    """dynalite's text, confirmed by probe notes (as the twin words it)."""
    current = model.provisioned
    if model.gsi is None:
        return ("The provisioned throughput for the table will not change. The requested value "
                f"equals the current value. Current ReadCapacityUnits provisioned for the table: "
                f"{current['reads']}. Requested ReadCapacityUnits: {reads}. Current "
                f"WriteCapacityUnits provisioned for the table: {current['writes']}. Requested "
                f"WriteCapacityUnits: {writes}. {LIMITS_TAIL}")
    name = model.gsi
    return (f"The provisioned throughput for the index {name} will not change. The requested "
            f"value equals the current value. Current ReadCapacityUnits provisioned for index "
            f"{name}: {current['reads']}. Requested ReadCapacityUnits: {reads}. Current "
            f"WriteCapacityUnits provisioned for index {name}: {current['writes']}. Requested "
            f"WriteCapacityUnits: {writes}. {LIMITS_TAIL}")


Lane = tuple[str, dict[str, int], dict[str, float], dict[str, list[float]],
             dict[str, list[float]], dict[str, list[float]], dict[str, list[float]]]


def _serve(lanes: list[Lane], minute: int, seconds: float) -> None:
    """``ResourceModel.serve`` for every resource and dimension, inlined: the replay's
    innermost loop. The float operations are the same, in the same order, so the figures are
    too."""
    for dim, provisioned_of, bucket_of, demand, consumed, throttled_of, capacity in lanes:
        provisioned = provisioned_of[dim]
        need = demand[dim][minute] * seconds
        have = provisioned * seconds
        bucket = bucket_of[dim]
        if need <= have:  # min() spelt out: same values, no call
            served = need
            bucket = bucket + have - need
            full = BURST_SECONDS * provisioned
            if full < bucket:
                bucket = full
        else:
            extra = need - have
            if bucket < extra:
                extra = bucket
            bucket -= extra
            served = have + extra
            throttled = need - served
            if throttled > 1e-9:
                throttled_of[dim][minute] += throttled
        bucket_of[dim] = bucket
        consumed[dim][minute] += served
        capacity[dim][minute] += have
