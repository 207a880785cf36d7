"""One check cycle: discover → observe → decide → act → notify.

This is the only place that does I/O in pipeline order. Every table and GSI is isolated:
one resource's failure is logged with its name and AWS error code and never stops the
others (D12). A table and its GSIs are changed by one UpdateTable (D25).
"""

from __future__ import annotations

import functools
import logging
import math
import operator
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from botocore.exceptions import BotoCoreError, ClientError

from dynamic_dynamodb import breaker
from dynamic_dynamodb.aws.autoscaling import resource_id
from dynamic_dynamodb.aws.cloudwatch import MAX_QUERIES_PER_CALL
from dynamic_dynamodb.aws.dynamodb import LimitCause, classify_limit_exceeded
from dynamic_dynamodb.aws.errors import error_code, error_message
from dynamic_dynamodb.aws.model import (
    Capacity,
    CapacityChange,
    CapacityLimits,
    MetricRequest,
    MetricSums,
    TableDescription,
)
from dynamic_dynamodb.aws.ports import Ports
from dynamic_dynamodb.config.loader import match_gsi, match_table
from dynamic_dynamodb.config.model import Config, GsiSection, TableSection
from dynamic_dynamodb.config.options import DimensionOptions, ResourceOptions
from dynamic_dynamodb.config.schema import mask_url
from dynamic_dynamodb.dimensions import DIMENSIONS, Dimension
from dynamic_dynamodb.history import DemandHistories
from dynamic_dynamodb.notify import (
    Message,
    alarm_message,
    budget_message,
    consecutive_line,
    decision_lines,
    decision_record,
    error_notification,
    prefix,
    resource_lines,
    retry_lines,
    scale_message,
)
from dynamic_dynamodb.policy.budget import DecreaseLedger, merge_ledger
from dynamic_dynamodb.policy.cadence import quiet_until, throttles_possible
from dynamic_dynamodb.policy.counters import after_breaker_open
from dynamic_dynamodb.policy.decide import (
    Decision,
    decide,
    increases_on_throttles,
    may_want_decrease,
    next_decrease,
)
from dynamic_dynamodb.policy.observation import (
    DimensionObservation,
    Observation,
    metric_window,
    observe_dimension,
)
from dynamic_dynamodb.policy.outcomes import Outcome
from dynamic_dynamodb.state import State

logger = logging.getLogger(__name__)

AWS_ERRORS = (ClientError, BotoCoreError)
ACCESS_DENIED = ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation")
LIMITS_MAX_AGE = timedelta(days=1)  # DescribeLimits at start-up, then once a day
LIMITS_MIN_AGE = timedelta(minutes=1)  # "throttling errors if you call it more than once a minute"
# A quiet resource is due at the first cycle that starts at most this much before its time.
QUIET_TOLERANCE = timedelta(seconds=1)


@dataclass(frozen=True)
class Resource:
    """A table, or a GSI of a table, with the options of the section it resolved to."""

    table: str
    gsi: str | None
    section: str
    options: ResourceOptions
    capacity: Capacity

    # Cached (a frozen dataclass still has a __dict__): every check reads them many times.
    @functools.cached_property
    def key(self) -> str:
        return self.table if self.gsi is None else f"{self.table}:{self.gsi}"

    @functools.cached_property
    def prefix(self) -> str:
        return prefix(self.table, self.gsi)


@dataclass(frozen=True)
class TableGroup:
    """A table and the GSIs of it this cycle manages: one UpdateTable carries them all."""

    table: str
    resources: tuple[Resource, ...]


@dataclass(frozen=True)
class _DimensionPlan:
    """The metrics one dimension of a resource may ask for, and their keys."""

    dim: Dimension
    options: DimensionOptions
    consumed: tuple[str, str, str]  # request keys
    throttle: tuple[str, str, str]
    throttle_request: MetricRequest  # asked in the second batch, where a decrease may come
    detail: tuple[MetricRequest, MetricRequest]  # SampleCount and hot-key throttles
    on_throttles: bool  # throttle events can scale it up (increases_on_throttles)


@dataclass(frozen=True)
class _MetricPlan:
    """What observe asks of one table or GSI with its options: the same every cycle, so it
    is built once per resource and options, not per check."""

    options: ResourceOptions
    window: tuple[int, int]  # lookback-window-start, lookback-period
    first: tuple[MetricRequest, ...]  # consumed units, and throttles that can scale up
    dims: tuple[_DimensionPlan, ...]
    # quiet-check-interval set: throttles only where the consumption says they are possible
    # (policy/cadence.py), all in the second batch.
    economical: bool


def _metric_plan(resource: Resource) -> _MetricPlan:
    key, table, gsi, options = resource.key, resource.table, resource.gsi, resource.options
    first: list[MetricRequest] = []
    dims: list[_DimensionPlan] = []
    economical = options.quiet_check_interval > 0
    for dim in DIMENSIONS:
        dim_options = options.dimension(dim)
        consumed = (key, dim.consumed_metric, "Sum")
        throttle = (key, dim.throttle_metric, "Sum")
        throttle_request = MetricRequest(throttle, table, gsi, dim.throttle_metric)
        first.append(MetricRequest(consumed, table, gsi, dim.consumed_metric))
        on_throttles = increases_on_throttles(dim_options)
        if on_throttles and not economical:
            first.append(throttle_request)
        dims.append(_DimensionPlan(dim, dim_options, consumed, throttle, throttle_request, (
            MetricRequest((key, dim.consumed_metric, "SampleCount"), table, gsi,
                          dim.consumed_metric, "SampleCount"),
            MetricRequest((key, dim.key_range_throttle_metric, "Sum"), table, gsi,
                          dim.key_range_throttle_metric),
        ), on_throttles))
    return _MetricPlan(options, (options.lookback_window_start, options.lookback_period),
                       tuple(first), tuple(dims), economical)


@dataclass(frozen=True)
class DimensionStatus:
    """What one dimension of a table or GSI looked like this cycle, for the operator metrics."""

    table: str
    gsi: str | None
    dimension: str
    provisioned: int
    consumed_percent: float
    throttle_events: int
    outcome: str  # an Outcome value
    decreases_today: int
    next_decrease: datetime | None
    complete: bool = True


@dataclass
class CycleReport:
    tables: int = 0
    gsis: int = 0
    updates: int = 0
    skipped: int = 0
    errors: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)  # HTTP requests, retries included
    duration: float = 0.0
    interrupted: bool = False
    started: datetime | None = None
    failures: Counter[tuple[str, str]] = field(default_factory=Counter)  # (operation, code)
    update_results: Counter[str] = field(default_factory=Counter)  # ok, resource-in-use, …
    metrics_requested: int = 0  # CloudWatch metrics asked for (what GetMetricData bills)
    quiet: int = 0  # tables and GSIs left out: quiet until later (quiet-check-interval)
    statuses: list[DimensionStatus] = field(default_factory=list)
    failed_resources: list[tuple[str, str, str]] = field(default_factory=list)  # key, op, code

    def summary(self) -> str:
        calls = sum(self.calls.values())
        detail = ", ".join(f"{name} {count}" for name, count in sorted(self.calls.items()))
        requests = sum(self.attempts.values())
        retried = f", {requests} HTTP requests" if requests > calls else ""
        quiet = f" ({self.quiet} quiet, not read)" if self.quiet else ""
        return (f"Cycle done: {self.tables} tables and {self.gsis} GSIs checked{quiet}, "
                f"{self.updates} updates, {self.skipped} skipped, {self.errors} errors, "
                f"{calls} API calls ({detail or 'none'}){retried}, {self.duration:.2f}s"
                + (" (interrupted)" if self.interrupted else ""))


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Engine:
    def __init__(
        self,
        config: Config,
        ports: Ports,
        state: State,
        *,
        dry_run: bool = False,
        clock: Callable[[], datetime] = utcnow,
        breaker_check: Callable[..., breaker.BreakerResult] = breaker.check,
        stop: threading.Event | None = None,
        may_act: Callable[[], bool] | None = None,
    ):
        self.config = config
        self.ports = ports
        self.state = state
        self.dry_run = dry_run
        self.clock = clock
        self.breaker_check = breaker_check
        self.stop = stop or threading.Event()
        # Asked right before every UpdateTable: may this process still act (a leader whose
        # lease could run out during the call may not)? Default: always.
        self.may_act: Callable[[], bool] = may_act or (lambda: True)
        self._warned: set[str] = set()  # one-time warnings already given
        # What this cycle learnt of what exists, for _prune: the listing, the GSIs of each
        # table described, and the tables DescribeTable said do not exist.
        self._listed: set[str] = set()
        self._described: dict[str, set[str]] = {}
        self._not_found: set[str] = set()
        self._limits: CapacityLimits | None = None
        self._limits_read_at: datetime | None = None
        self.metrics_requested = 0  # CloudWatch metrics the last observe asked for
        self._histories = DemandHistories()  # predictive-scaling's demand histories
        self.collect_statuses = False  # one DimensionStatus per dimension, for the metrics
        self._streaks: dict[tuple[str, str, str], int] = {}  # failure cause -> cycles in a row
        # What depends only on the configuration, kept while it is the same object (a reload
        # replaces it): the section of each table name and GSI, each resource's metric plan,
        # and the Resource values (new ones only when the capacity or options change).
        self._cached_config: Config | None = None
        self._table_matches: dict[str, tuple[TableSection | None, list[TableSection]]] = {}
        self._gsi_matches: dict[tuple[int, str], GsiSection | None] = {}
        self._plans: dict[str, _MetricPlan] = {}
        self._resources: dict[tuple[str, str | None], Resource] = {}
        # table -> (its description, section, resource ids, GSI names, group) of the last
        # cycle that checked it, for discover to reuse while the description is the same.
        self._groups: dict[str, tuple[TableDescription, TableSection, tuple[str, ...],
                                      set[str], TableGroup]] = {}
        self._known_ceilings: tuple[CapacityLimits, list[Resource],
                                    dict[tuple[str, str], int]] | None = None
        self._quiet: dict[str, datetime] = {}  # left out this cycle: key -> quiet until
        self._throttled: set[tuple[str, str]] = set()  # (key, dimension) throttled last check

    def _warn_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            logger.warning(message, *args)

    # -- discover ---------------------------------------------------------------------------
    def discover(self, report: CycleReport) -> list[TableGroup]:
        """The tables and GSIs to check this cycle, grouped by table, skipping the ones that
        must not be touched now: on-demand, global tables, tables AWS's own scaler manages,
        and tables where the table or any index is not ACTIVE."""
        names = self.ports.tables.list_tables()
        self._listed, self._described, self._not_found = set(names), {}, set()
        claimed: dict[str, int] = {section.regex: 0 for section in self.config.tables}
        groups: list[TableGroup] = []
        autoscaled: frozenset[str] | None = None
        self._check_config()
        matched = [(name, *self._match_table(name)) for name in sorted(names)]
        described = self._describe_all([name for name, section, _ in matched if section])
        for name, section, also in matched:
            if section is None:
                continue
            if name not in described:  # a stop request came first
                report.interrupted = True
                logger.info("Stop requested; skipping the remaining tables of this cycle")
                break
            claimed[section.regex] += 1
            if also:
                self._warn_once(
                    f"overlap:{name}",
                    "%s - Table %s matches more than one section; using [%s], ignoring %s",
                    name, name, section.header, ", ".join(f"[{s.header}]" for s in also))
            description = described[name]
            known = self._groups.get(name)
            if (known is not None and known[0] is description and known[1] is section
                    and not (autoscaled and any(key in autoscaled for key in known[2]))):
                # The very description of the last cycle (nothing changed since): the same
                # group, without working it out again.
                if autoscaled is None:
                    autoscaled = self._autoscaled(report)
                    if any(key in autoscaled for key in known[2]):
                        known = None
                if known is not None:
                    self._described[name] = known[3]
                    groups.append(known[4])
                    continue
            if isinstance(description, BaseException):
                self._failed(report, f"{name} - ", "DescribeTable", description, key=name)
                if error_code(description) == "ResourceNotFoundException":
                    self._not_found.add(name)
                continue
            self._described[name] = {index.name for index in description.gsis}
            if description.on_demand:
                logger.info("%s - Table is PAY_PER_REQUEST (on-demand); not scaling it", name)
                report.skipped += 1
                continue
            if description.replicas:
                # D27: replicas share write capacity and need ReplicaUpdates; a plain update
                # of one region's table would fight the others.
                logger.info("%s - Table is a global table (replicas in %s); not scaling it: "
                            "replicas share their write capacity", name,
                            ", ".join(description.replicas))
                report.skipped += 1
                continue
            busy = description.updating
            if busy:
                # D25: DynamoDB refuses any UpdateTable while the table or an index is
                # UPDATING, so nothing is sent for the table until all of it is ACTIVE.
                what = ", ".join(busy)
                status = description.status if busy == ("table",) else f"busy ({what})"
                logger.info("%s - Table is %s, not ACTIVE; skipping it and its GSIs this cycle, "
                            "trying again next cycle", name, status)
                report.skipped += 1
                continue
            if autoscaled is None:
                autoscaled = self._autoscaled(report)
            members: list[Resource] = []
            reusable = True  # nothing is logged or counted for this table every cycle
            if resource_id(name, None) in autoscaled:
                self._skip_autoscaled(name, None, report)
                reusable = False
            else:
                members.append(self._resource(name, None, section.header, section.options,
                                              description.capacity))
            for index in sorted(description.gsis, key=lambda gsi: gsi.name):
                gsi_section = self._match_gsi(section, index.name)
                if gsi_section is None:
                    logger.debug("%s - GSI: %s - No [gsi:] section matches; not scaling it",
                                 name, index.name)
                    reusable = False
                    continue
                if resource_id(name, index.name) in autoscaled:
                    self._skip_autoscaled(name, index.name, report)
                    reusable = False
                    continue
                members.append(self._resource(name, index.name, gsi_section.header,
                                              gsi_section.options, index.capacity))
            if members:
                group = TableGroup(name, tuple(members))
                groups.append(group)
                if reusable:
                    if len(self._groups) > 100_000:
                        self._groups.clear()
                    self._groups[name] = (description, section, tuple(
                        resource_id(name, member.gsi) for member in members),
                        self._described[name], group)
        unmatched = [regex for regex, count in claimed.items() if count == 0]
        if unmatched and not report.interrupted:
            logger.warning("No tables matching the following configured tables found: %s",
                           ", ".join(unmatched))
        return groups

    def _check_config(self) -> None:
        """Drop what was derived from the configuration when it was replaced (a reload)."""
        if self.config is not self._cached_config:
            self._cached_config = self.config
            self._table_matches.clear()
            self._gsi_matches.clear()
            self._plans.clear()
            self._resources.clear()
            self._groups.clear()

    def _match_table(self, name: str) -> tuple[TableSection | None, list[TableSection]]:
        found = self._table_matches.get(name)
        if found is None:
            if len(self._table_matches) > 100_000:  # names come and go; do not grow for ever
                self._table_matches.clear()
            found = self._table_matches[name] = match_table(self.config, name)
        return found

    def _match_gsi(self, section: TableSection, gsi: str) -> GsiSection | None:
        key = (id(section), gsi)  # sections live as long as the configuration that is cached
        if key not in self._gsi_matches:
            if len(self._gsi_matches) > 100_000:
                self._gsi_matches.clear()
            self._gsi_matches[key] = match_gsi(section, gsi)
        return self._gsi_matches[key]

    def _resource(self, table: str, gsi: str | None, section: str, options: ResourceOptions,
                  capacity: Capacity) -> Resource:
        """The Resource of the last cycle when nothing of it changed (the same value)."""
        known = self._resources.get((table, gsi))
        if (known is not None and known.options is options and known.section == section
                and (known.capacity is capacity or known.capacity == capacity)):
            return known
        if len(self._resources) > 100_000:
            self._resources.clear()
        resource = self._resources[(table, gsi)] = Resource(table, gsi, section, options,
                                                            capacity)
        return resource

    def _plan_of(self, resource: Resource) -> _MetricPlan:
        plan = self._plans.get(resource.key)
        if plan is None or plan.options is not resource.options:
            if len(self._plans) > 100_000:
                self._plans.clear()
            plan = self._plans[resource.key] = _metric_plan(resource)
        return plan

    def _describe_all(self, names: list[str]) -> dict[str, TableDescription | BaseException]:
        """DescribeTable of every name, through a pool of ``parallel-requests`` workers (boto3
        clients are thread-safe). The answers are used in name order, so the log reads as if
        they came one by one. Names not described (a stop request came) are missing."""
        workers = max(1, self.config.global_options.parallel_requests)

        def describe(name: str) -> TableDescription | BaseException:
            try:
                return self.ports.tables.describe_table(name)
            except AWS_ERRORS as exc:  # kept for the table's own error line, in order
                return exc

        found: dict[str, TableDescription | BaseException] = {}
        if workers == 1 or len(names) < 2:
            for name in names:
                if self.stop.is_set():
                    break
                found[name] = describe(name)
            return found
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="describe")
        try:
            futures = {name: pool.submit(describe, name) for name in names}
            for name in names:
                if self.stop.is_set():
                    break
                found[name] = futures[name].result()
        finally:
            pool.shutdown(wait=not self.stop.is_set(), cancel_futures=True)
        return found

    def _autoscaled(self, report: CycleReport) -> frozenset[str]:
        """One DescribeScalableTargets listing per cycle (D27); AccessDenied is not fatal."""
        try:
            return self.ports.scaling.autoscaled()
        except AWS_ERRORS as exc:
            code = error_code(exc)
            if code in ACCESS_DENIED:
                self._warn_once("scaling-denied", "Cannot list Application Auto Scaling targets "
                                "(%s): tables that AWS's own auto scaling manages cannot be told "
                                "apart and may be scaled by both. Grant "
                                "application-autoscaling:DescribeScalableTargets", code)
            else:
                report.errors += 1
                logger.error("DescribeScalableTargets failed: %s (%s); tables that AWS's own "
                             "auto scaling manages cannot be told apart this cycle", code, exc)
            return frozenset()

    def _skip_autoscaled(self, table: str, gsi: str | None, report: CycleReport) -> None:
        self._warn_once(f"autoscaled:{table}:{gsi}",
                        "%sHas an Application Auto Scaling scalable target; not scaling it: "
                        "AWS's scaler would revert our changes and spend the same decrease "
                        "quota", prefix(table, gsi))
        report.skipped += 1

    # -- DynamoDB's capacity limits -----------------------------------------------------------
    def _refresh_limits(self, now: datetime) -> None:
        """DescribeLimits at start-up and once a day, never more than once a minute (D26)."""
        read_at = self._limits_read_at
        if read_at is not None and (
            now - read_at < LIMITS_MIN_AGE
            or (self._limits is not None and now - read_at < LIMITS_MAX_AGE)
        ):
            return
        self._limits_read_at = now
        try:
            self._limits = self.ports.tables.describe_limits()
        except AWS_ERRORS as exc:
            self._warn_once("limits", "Cannot read DynamoDB's capacity limits (DescribeLimits: "
                            "%s); increases are not clamped to them", error_code(exc))

    def _ceilings(self, groups: Sequence[TableGroup]) -> dict[tuple[str, str], int]:
        """The most each resource may have per dimension: the per-table (and per-GSI) cap, and
        what the account cap leaves, counting the capacity of every table described."""
        limits = self._limits
        if limits is None:
            return {}
        resources = [resource for group in groups for resource in group.resources]
        known = self._known_ceilings
        if (known is not None and known[0] is limits and len(known[1]) == len(resources)
                and all(map(operator.is_, known[1], resources))):
            return known[2]  # the same resources (capacities included) as last cycle
        ceilings: dict[tuple[str, str], int] = {}
        for dim, table_max, account_max in (
            (DIMENSIONS[0], limits.table_max_reads, limits.account_max_reads),
            (DIMENSIONS[1], limits.table_max_writes, limits.account_max_writes),
        ):
            total = sum(getattr(resource.capacity, dim.name) for resource in resources)
            for resource in resources:
                current = getattr(resource.capacity, dim.name)
                ceilings[(resource.key, dim.name)] = max(
                    current, min(table_max, current + account_max - total))
        self._known_ceilings = (limits, resources, ceilings)
        return ceilings

    # -- observe ----------------------------------------------------------------------------
    def observe(self, groups: Sequence[TableGroup], now: datetime, *,
                skip: Collection[str] = ()) -> dict[str, Observation]:
        """All metrics of the cycle, batched by lookback window into few GetMetricData calls.

        GetMetricData bills every metric asked for, so only what a decision can use is asked:
        consumed units for every dimension; throttle events only where they can trigger an
        increase (2.5.1's throttle options) or where consumption wants a decrease (their veto,
        D8) - a quiet cycle asks 2 metrics per table or GSI. Only for a dimension with throttle
        events, a last batch asks for the request count (consumed SampleCount: units per
        request) and the hot-key throttles. The resources in ``skip`` (quiet this cycle) are
        not observed, but their capacity counts towards the account's limits.
        """
        self._check_config()
        plan_of = self._plan_of
        windows: dict[tuple[int, int], list[tuple[Resource, _MetricPlan]]] = {}
        for group in groups:
            for resource in group.resources:
                if skip and resource.key in skip:
                    continue
                plan = plan_of(resource)
                windows.setdefault(plan.window, []).append((resource, plan))
        ceilings = self._ceilings(groups)
        self.metrics_requested = 0
        observations: dict[str, Observation] = {}
        fetch = self._fetch
        for (window_start, period), members in windows.items():
            start, end = metric_window(now, window_start, period)
            seconds = int((end - start).total_seconds())
            ledgers = [self._ledger(resource, now) for resource, _ in members]
            sums = fetch(start, end, [request for _, plan in members for request in plan.first])
            values = sums.values
            # What consumption alone says; it is the observation itself where no more of the
            # dimension is asked for and everything asked was answered completely.
            early: dict[tuple[str, str], DimensionObservation] = {}
            wanted: list[MetricRequest] = []
            for resource, plan in members:
                for plan_dim in plan.dims:
                    if plan_dim.throttle in values:
                        continue
                    name = plan_dim.dim.name
                    seen = observe_dimension(getattr(resource.capacity, name),
                                             values.get(plan_dim.consumed), None, seconds,
                                             ceiling=ceilings.get((resource.key, name)))
                    early[(resource.key, name)] = seen
                    if self._throttles_wanted(resource, plan, plan_dim, seen):
                        wanted.append(plan_dim.throttle_request)
            if sums.incomplete:
                early.clear()
            sums = fetch(start, end, wanted, sums)
            values = sums.values
            sums = fetch(start, end, [
                request
                for _, plan in members
                for plan_dim in plan.dims
                if values.get(plan_dim.throttle)
                for request in plan_dim.detail
            ], sums)
            for (resource, plan), ledger in zip(members, ledgers, strict=True):
                reads, writes = (
                    self._early(resource, plan_dim, early, values)
                    or self._observe_dimension(resource, plan_dim, sums, seconds,
                                               ceilings.get((resource.key, plan_dim.dim.name)))
                    for plan_dim in plan.dims)
                observations[resource.key] = Observation(reads, writes, ledger)
        self._forecast(groups, observations, now)
        return observations

    def _ledger(self, resource: Resource, now: datetime) -> DecreaseLedger:
        capacity = resource.capacity
        return merge_ledger(self.state.own_record(resource.key, now), now,
                            capacity.decreases_today, capacity.last_decrease,
                            capacity.last_increase)

    def _early(self, resource: Resource, plan: _DimensionPlan,
               early: dict[tuple[str, str], DimensionObservation],
               values: dict[Hashable, float | None]) -> DimensionObservation | None:
        """The observation made from consumption alone, where nothing more was asked."""
        if plan.throttle in values:
            return None
        seen = early.get((resource.key, plan.dim.name))
        if seen is not None and resource.options.quiet_check_interval:
            self._throttled.discard((resource.key, plan.dim.name))
        return seen

    def _throttles_wanted(self, resource: Resource, plan: _MetricPlan, plan_dim: _DimensionPlan,
                          seen: DimensionObservation) -> bool:
        """Whether the second batch asks for a dimension's throttle events (``seen``: from
        its consumption alone): where they can veto a decrease (D8); with
        quiet-check-interval, only where the consumption says there can be any, and then
        also where they can scale it up."""
        if not plan.economical:
            return may_want_decrease(plan_dim.options, seen)
        throttled_before = (resource.key, plan_dim.dim.name) in self._throttled
        return throttles_possible(plan.options, seen, throttled_before) and (
            plan_dim.on_throttles or may_want_decrease(plan_dim.options, seen))

    def _forecast(self, groups: Sequence[TableGroup], observations: dict[str, Observation],
                  now: datetime) -> None:
        """predictive-scaling: a forecast on the observations, from a history fetched once a
        day (history.py). Without it the resource scales as if it were off, with a warning."""
        predictive = [(resource.key, resource.table, resource.gsi) for group in groups
                      for resource in group.resources if resource.options.predictive_scaling]
        if not predictive:
            return
        try:
            self._histories.forecasts(
                self.ports.metrics, self.state, predictive, observations, now,
                check_interval=float(self.config.global_options.check_interval or 0))
        except AWS_ERRORS as exc:
            logger.warning("Cannot fetch the demand history for predictive-scaling "
                           "(GetMetricData: %s); scaling without a forecast, trying again in "
                           "an hour", error_code(exc))
        finally:
            self.metrics_requested += self._histories.metrics_requested

    def _fetch(self, start: datetime, end: datetime, requests: list[MetricRequest],
               known: MetricSums | None = None) -> MetricSums:
        """One batch of metrics (nothing when there is nothing to ask), added to ``known``."""
        known = known or MetricSums({})
        if not requests:
            return known
        self.metrics_requested += len(requests)
        workers = min(self.config.global_options.parallel_requests,
                      math.ceil(len(requests) / MAX_QUERIES_PER_CALL))
        if workers <= 1:
            found = self.ports.metrics.fetch_sums(requests, start, end)
            return MetricSums({**known.values, **found.values},
                              known.incomplete | found.incomplete)
        # Many tables: the GetMetricData calls of the batch (500 queries each, as the adapter
        # would split them) go through the parallel-requests pool instead of one by one.
        chunks = [requests[first:first + MAX_QUERIES_PER_CALL]
                  for first in range(0, len(requests), MAX_QUERIES_PER_CALL)]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="metrics") as pool:
            answers = list(pool.map(
                lambda chunk: self.ports.metrics.fetch_sums(chunk, start, end), chunks))
        values = dict(known.values)
        incomplete = set(known.incomplete)
        for found in answers:
            values.update(found.values)
            incomplete |= found.incomplete
        return MetricSums(values, frozenset(incomplete))

    def _observe_dimension(self, resource: Resource, plan: _DimensionPlan, sums: MetricSums,
                           seconds: int, ceiling: int | None) -> DimensionObservation:
        dim = plan.dim
        values = sums.values
        incomplete = ([key for key in (plan.consumed, plan.throttle) if key in sums.incomplete]
                      if sums.incomplete else [])
        if incomplete:
            logger.warning("%s%s: CloudWatch did not return complete %s for the lookback "
                           "window; no decrease of %s this cycle", resource.prefix, dim.title,
                           " and ".join(key[1] for key in incomplete), dim.name)
        samples, key_range = plan.detail
        seen = observe_dimension(
            getattr(resource.capacity, dim.name),
            values.get(plan.consumed),
            values.get(plan.throttle),
            seconds,
            key_range_sum=values.get(key_range.key),
            consumed_requests=values.get(samples.key),
            complete=not incomplete,
            ceiling=ceiling,
        )
        if seen.key_range_throttle_events:
            logger.warning("%s%s: %d of %d throttle events were hot-key (key range) throttles; "
                           "more capacity cannot fix those, so they never trigger an increase",
                           resource.prefix, dim.title, seen.key_range_throttle_events,
                           seen.throttle_events)
        if resource.options.quiet_check_interval:  # throttles_possible remembers episodes
            if seen.throttle_events:
                self._throttled.add((resource.key, dim.name))
            else:
                self._throttled.discard((resource.key, dim.name))
        return seen

    # -- one cycle --------------------------------------------------------------------------
    def run_cycle(self, finish: Callable[[CycleReport], None] | None = None) -> CycleReport:
        """One cycle. ``finish`` runs at its end, whatever happened, before the summary line:
        the runner saves the state there, so a failed save counts among the errors."""
        started = time.monotonic()
        before = dict(self.ports.calls)
        attempts_before = dict(self.ports.attempts)
        report = CycleReport(started=utcnow())
        try:
            self._cycle(report)
        except BaseException:
            report.errors += 1  # the whole cycle failed: the summary must not say "0 errors"
            raise
        finally:
            report.calls = _since(before, self.ports.calls)
            report.attempts = _since(attempts_before, self.ports.attempts)
            report.duration = time.monotonic() - started
            if finish is not None:
                finish(report)
            if logger.isEnabledFor(logging.INFO):
                logger.info(report.summary())
        return report

    def _cycle(self, report: CycleReport) -> None:
        groups = self.discover(report)
        now = self.clock()
        if groups:
            self._refresh_limits(now)
        self._quiet = self._quiet_now(groups, now)
        try:
            observations = self.observe(groups, now, skip=self._quiet)
        except AWS_ERRORS as exc:
            report.metrics_requested = self.metrics_requested
            self._failed(report, "", "GetMetricData", exc)
            report.errors += sum(len(group.resources) for group in groups) - 1
            return
        report.metrics_requested = self.metrics_requested
        for group in groups:
            if self.stop.is_set():
                report.interrupted = True
                logger.info("Stop requested; skipping the remaining tables of this cycle")
                break
            self.check_table(group, observations, now, report)
        if not report.interrupted:
            self._prune()
        self._track_failures(groups, report)

    def _track_failures(self, groups: Sequence[TableGroup], report: CycleReport) -> None:
        """A table or GSI failing the same way several cycles in a row (AccessDenied, say)
        is told to the operator once per streak: ERROR, and an ``error`` SNS message."""
        needed = self.config.global_options.error_after_failed_cycles
        failing = {(key, action, code) for key, action, code in report.failed_resources}
        # Kept in the state, so a streak also counts across --run-once runs from cron.
        before = self.state.failure_streaks()
        self._streaks = {cause: before.get(cause, 0) + 1 for cause in failing}
        self.state.set_failure_streaks({  # a table DynamoDB says is gone is forgotten
            cause: count for cause, count in self._streaks.items()
            if cause[0].partition(":")[0] not in self._not_found})
        if needed not in self._streaks.values():
            return
        options = {resource.key: resource.options
                   for group in groups for resource in group.resources}
        for cause, count in self._streaks.items():
            if count != needed:
                continue
            key, action, code = cause
            logger.error("%s - %s has failed with %s in %d cycles in a row", key, action, code,
                         count)
            table, _, gsi = key.partition(":")
            resource_options = options.get(key) or self._section_options(table)
            if resource_options is not None:
                self._send_error(resource_options, error_notification(
                    f"{key}: {action} failing", f"{prefix(table, gsi or None)}{action} has "
                    f"failed with {code} in {count} checks in a row; that table or GSI is not "
                    "being scaled. The log has the details.\n"), report)

    def _section_options(self, table: str) -> ResourceOptions | None:
        section, _ = match_table(self.config, table)
        return section.options if section else None

    def notify_error(self, cause: str, detail: str) -> None:
        """An ``error`` SNS message to every topic whose section subscribes to it (for
        problems of the whole process, such as no successful cycle for a while)."""
        topics: dict[str, ResourceOptions] = {}
        for section in self.config.tables:
            for options in (section.options, *(gsi.options for gsi in section.gsis)):
                if options.sns_topic_arn and "error" in options.sns_message_types:
                    topics.setdefault(options.sns_topic_arn, options)
        for options in topics.values():
            self._send_error(options, error_notification(cause, detail), CycleReport())

    def _send_error(self, options: ResourceOptions, message: Message,
                    report: CycleReport) -> None:
        if not options.sns_topic_arn or not message.wanted(options.sns_message_types):
            return
        if self.dry_run:
            logger.info("Dry run: would send SNS %r to %s", message.subject, options.sns_topic_arn)
            return
        try:
            self.ports.notifier.publish(options.sns_topic_arn, message.subject, message.body)
        except AWS_ERRORS as exc:
            report.errors += 1
            logger.error("Problem sending SNS notification: %s (%s)", error_code(exc), exc)

    def _prune(self) -> None:
        """Forget the counters and decrease record of tables and GSIs DynamoDB says are gone,
        or that no listing has shown for a day (state.MISSING_GRACE); never on one listing."""
        forgotten = self.state.prune(self._listed, self._described, self._not_found,
                                     self.clock())
        for key, why in forgotten:
            logger.info("%s - Forgot its counters and decrease record: %s", key, why)

    def _failed(self, report: CycleReport, where: str, action: str, exc: BaseException,
                key: str | None = None) -> None:
        report.errors += 1
        report.failures[(action, error_code(exc))] += 1
        if key is not None:
            report.failed_resources.append((key, action, error_code(exc)))
        logger.error("%s%s failed: %s (%s)", where, action, error_code(exc), exc)

    # -- decide, act, notify for one table and its GSIs --------------------------------------
    def check_table(self, group: TableGroup, observations: dict[str, Observation],
                    now: datetime, report: CycleReport) -> None:
        """Decide every resource of the table, then send their changes in one UpdateTable."""
        decided: list[tuple[Resource, Decision]] = []
        for resource in group.resources:
            if resource.key in self._quiet:
                self._left_quiet(resource, now, report)
                continue
            if resource.gsi is None:
                report.tables += 1
            else:
                report.gsis += 1
            try:
                decision = self.decide(resource, observations[resource.key], now, report)
            except AWS_ERRORS as exc:
                self._failed(report, resource.prefix, "check", exc, key=resource.key)
                continue
            except Exception:
                report.errors += 1
                logger.exception("%sUnexpected error while checking; continuing with the others",
                                 resource.prefix)
                continue
            if decision is None:
                continue
            if resource.options.quiet_check_interval:
                self._schedule(resource, observations[resource.key], decision, now)
            if not decision.changed:
                logger.info("%sNo need to change provisioning", resource.prefix)
                self.state.set_counters(resource.key, decision.counters)
                continue
            decided.append((resource, decision))
        if not decided:
            return
        try:
            self.act(group.table, decided, now, report)
        except Exception:
            report.errors += 1
            logger.exception("%s - Unexpected error while updating; continuing with the others",
                             group.table)

    # -- quiet-check-interval ------------------------------------------------------------------
    def _quiet_now(self, groups: Sequence[TableGroup], now: datetime) -> dict[str, datetime]:
        """The resources left out of this cycle: quiet until later, and with the capacity
        they had when that was decided (any change, ours or anyone's, makes them due)."""
        quiet: dict[str, datetime] = {}
        for group in groups:
            for resource in group.resources:
                if not resource.options.quiet_check_interval or resource.options.predictive_scaling:
                    continue
                until, capacity = self.state.quiet_until(resource.key)
                if (until is not None and now < until - QUIET_TOLERANCE
                        and capacity == _capacity_tag(resource.capacity)):
                    quiet[resource.key] = until
        return quiet

    def _left_quiet(self, resource: Resource, now: datetime, report: CycleReport) -> None:
        report.quiet += 1
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%sQuiet: consumption far from every threshold; not read until "
                         "%s UTC (quiet-check-interval)", resource.prefix,
                         f"{self._quiet[resource.key].astimezone(timezone.utc):%Y-%m-%d %H:%M:%S}")
        if self.collect_statuses:  # what is known without metrics: its capacity, no decision
            capacity = resource.capacity
            for dim in DIMENSIONS:
                report.statuses.append(DimensionStatus(
                    resource.table, resource.gsi, dim.name, getattr(capacity, dim.name),
                    math.nan, 0, Outcome.UNCHANGED.value, capacity.decreases_today or 0, None))

    def _schedule(self, resource: Resource, observation: Observation, decision: Decision,
                  now: datetime) -> None:
        """After a check: until when the next checks may leave the resource out."""
        interval = float(self.config.global_options.check_interval or 0)
        until = None if decision.changed else quiet_until(resource.options, observation,
                                                          decision, now, interval)
        self.state.set_quiet_until(resource.key, until, _capacity_tag(resource.capacity))
        if until is not None:
            logger.debug("%sQuiet until %s UTC: far from every threshold", resource.prefix,
                         f"{until.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S}")

    def decide(self, resource: Resource, observation: Observation, now: datetime,
               report: CycleReport) -> Decision | None:
        """Breaker, decision, its log lines, alarms. None when the breaker is open."""
        tag = resource.prefix
        url = resource.options.circuit_breaker_url or self.config.global_options.circuit_breaker_url
        if url:
            timeout = (resource.options.circuit_breaker_timeout
                       if resource.options.circuit_breaker_url
                       else self.config.global_options.circuit_breaker_timeout)
            result = self.breaker_check(url, timeout, resource.table, resource.gsi)
            if not result.closed:
                logger.warning("%sCircuit breaker is OPEN! %s (%s); not scaling this cycle",
                               tag, result.detail, mask_url(url))
                self.state.set_counters(resource.key, after_breaker_open())
                if result.failed:  # the breaker itself could not be asked: a failure (D12)
                    report.errors += 1
                else:
                    report.skipped += 1
                return None
            logger.info("%s%s", tag, result.detail)

        # Wording costs as much as deciding: only made when it is logged (the backtest).
        info = logger.isEnabledFor(logging.INFO)
        if info:
            for dim in DIMENSIONS:
                seen = observation.dimension(dim)
                logger.info("%sConsumed %s units: %.2f%% of %d provisioned; %d throttle events "
                            "(%.2f%% of provisioned, %.2f%% of consumed)", tag, dim.one,
                            seen.consumed_percent, seen.provisioned, seen.throttle_events,
                            seen.throttled_by_provisioned_percent,
                            seen.throttled_by_consumed_percent)
        decision = decide(resource.options, observation, self.state.counters(resource.key), now)
        self._log_decision(resource, observation, decision, now, info)
        if self.collect_statuses:
            self._record_status(resource, observation, decision, now, report)
        if decision.alarm is not None:
            self._notify(resource, alarm_message(resource.table, resource.gsi, decision.alarm),
                         report)
        if (
            decision.budget_exhausted
            and not self.state.budget_notified_today(resource.key, now)
            and self._notify(resource, budget_message(resource.table, resource.gsi, decision),
                             report)
        ):
            self.state.mark_budget_notified(resource.key, now)
        return decision

    def _record_status(self, resource: Resource, observation: Observation, decision: Decision,
                       now: datetime, report: CycleReport) -> None:
        """One DimensionStatus per dimension, for the operator metrics."""
        upcoming = next_decrease(resource.options, observation, now)
        for dim in DIMENSIONS:
            seen = observation.dimension(dim)
            report.statuses.append(DimensionStatus(
                resource.table, resource.gsi, dim.name, decision.dimension(dim).target,
                seen.consumed_percent, seen.throttle_events,
                decision.dimension(dim).outcome.value, observation.ledger.decreases_today,
                upcoming, seen.complete))

    def _log_decision(self, resource: Resource, observation: Observation, decision: Decision,
                      now: datetime, info: bool) -> None:
        reads, writes = decision.reads, decision.writes
        if not (info or reads.refusals or writes.refusals or reads.capped_by_aws is not None
                or writes.capped_by_aws is not None):
            return  # nothing to say (the usual check with INFO off)
        tag = resource.prefix
        for dim in DIMENSIONS:
            change = decision.dimension(dim)
            if info:
                *notes, line = decision_lines(change)
                for note in notes:
                    logger.info("%s%s", tag, note)
                record = decision_record(resource.table, resource.gsi, change,
                                         observation.dimension(dim))
                logger.info("%s%s", tag, line, extra={"decision": record})
                logger.info("%s%s", tag, consecutive_line(change))
            if change.capped_by_aws is not None:
                self._warn_once(f"capped:{resource.key}:{dim.name}",
                                "%s%s: increase capped at %d by DynamoDB's capacity limit for the "
                                "table or the account (DescribeLimits); ask AWS for a higher "
                                "quota if it needs more", tag, dim.title, change.capped_by_aws)
        held = any(step.refusal.code is Outcome.HELD_WINDOW
                   for dim in DIMENSIONS for step in decision.dimension(dim).refusals)
        if info or held:
            windows = resource.options.maintenance_windows
            for line in resource_lines(decision, windows.contains(now) if windows else None):
                if line.startswith("We are outside"):
                    logger.warning("%s%s", tag, line)
                else:
                    logger.info("%s%s", tag, line)

    def act(self, table: str, decided: list[tuple[Resource, Decision]], now: datetime,
            report: CycleReport, *, retry: bool = False) -> None:
        """One UpdateTable for the table and its GSIs (or none, in a dry run), then the state
        and the SNS of every resource in it."""
        for resource, decision in decided:
            logger.info("%sUpdating provisioning to %d reads and %d writes", resource.prefix,
                        decision.reads.target, decision.writes.target)
        if self.dry_run:
            for resource, decision in decided:
                logger.info("%sDry run: would update reads %d -> %d and writes %d -> %d; "
                            "nothing sent", resource.prefix, decision.reads.current,
                            decision.reads.target, decision.writes.current,
                            decision.writes.target)
                self.state.set_counters(resource.key, decision.counters_after(carried_out=True))
            return
        changes = [CapacityChange(resource.gsi, decision.reads.target, decision.writes.target)
                   for resource, decision in decided]
        if not self.may_act():
            logger.warning("%s - lease no longer held; not updating %s", table, table)
            report.interrupted = True
            self._keep_counters(decided)
            return
        try:
            self.ports.tables.update_table(table, changes)
        except ClientError as exc:
            if not self._refused(table, decided, exc, now, report, retry):
                self._keep_counters(decided)
            return
        except BotoCoreError as exc:
            report.update_results["error"] += 1
            self._failed(report, f"{table} - ", "UpdateTable", exc, key=table)
            self._keep_counters(decided)
            return
        report.update_results["ok"] += 1
        for resource, decision in decided:
            report.updates += 1
            self.state.record_update(resource.key, now, increased=decision.has_increase,
                                     decreased=decision.has_decrease)
            self.state.set_counters(resource.key, decision.counters_after(carried_out=True))
            message = scale_message(resource.table, resource.gsi, decision)
            if message is not None:
                self._notify(resource, message, report)

    def _keep_counters(self, decided: list[tuple[Resource, Decision]]) -> None:
        """Nothing was changed: a refused decrease keeps its count (D5)."""
        for resource, decision in decided:
            self.state.set_counters(resource.key, decision.counters_after(carried_out=False))

    def _refused(self, table: str, decided: list[tuple[Resource, Decision]], exc: ClientError,
                 now: datetime, report: CycleReport, retried: bool) -> bool:
        """Handle a refused UpdateTable by what the refusal means (D14, D26).

        True when it was dealt with by sending the increases again (counters are set there).
        """
        tag = f"{table} - "
        code = error_code(exc)
        report.update_results[{"ResourceInUseException": "resource-in-use",
                               "LimitExceededException": "limit-exceeded"}.get(code, "error")] += 1
        if code == "ResourceInUseException":
            logger.warning("%sResourceInUseException: the table is being updated; trying "
                           "again next cycle", tag)
            report.skipped += 1
            return False
        if code != "LimitExceededException":
            self._failed(report, tag, "UpdateTable", exc, key=table)
            return False
        limit = classify_limit_exceeded(error_message(exc))
        with_decrease = [(r, d) for r, d in decided if d.has_decrease]
        if limit.cause is LimitCause.CONCURRENT_OPERATIONS:
            logger.warning("%sLimitExceededException: too many table operations at once in this "
                           "account (%s); trying again next cycle, no decrease quota spent",
                           tag, error_message(exc))
            report.skipped += 1
            return False
        if limit.cause is LimitCause.CAPACITY_CAP:
            self._failed(report, tag, "UpdateTable", exc, key=table)
            logger.warning("%sThe request was above DynamoDB's capacity limit; reading "
                           "DescribeLimits again", tag)
            self._limits = None  # read again, at most once a minute
            return False
        if not with_decrease or retried:
            self._failed(report, tag, "UpdateTable", exc, key=table)
            return False
        # The decrease quota (or an unknown cause of a request with a decrease): DynamoDB
        # processes nothing of the request, so send the increases alone (D14).
        for resource, _ in with_decrease:
            self.state.record_decrease_refused(resource.key, now, limit.next_decrease)
        when = (f"; DynamoDB says the next decrease can be made at "
                f"{limit.next_decrease:%Y-%m-%d %H:%M} UTC" if limit.next_decrease else "")
        logger.warning("%sLimitExceededException: %s. The decrease budget model missed "
                       "this%s", tag, error_message(exc), when)
        logger.info("%sWill retry to update provisioning with only increases", tag)
        again: list[tuple[Resource, Decision]] = []
        for resource, decision in decided:
            increases = decision.without_decreases()
            if increases.changed:
                for line in retry_lines(increases):
                    logger.info("%s%s", resource.prefix, line)
                again.append((resource, increases))
            else:
                logger.info("%sNo need to scale up reads nor writes", resource.prefix)
                self.state.set_counters(resource.key, increases.counters_after(carried_out=True))
        if again:
            self.act(table, again, now, report, retry=True)
        return True

    def _notify(self, resource: Resource, message: Message, report: CycleReport) -> bool:
        options = resource.options
        if not options.sns_topic_arn or not message.wanted(options.sns_message_types):
            return False
        if self.dry_run:
            logger.info("%sDry run: would send SNS %r to %s", resource.prefix, message.subject,
                        options.sns_topic_arn)
            return False
        try:
            self.ports.notifier.publish(options.sns_topic_arn, message.subject, message.body)
        except AWS_ERRORS as exc:
            report.errors += 1  # an operator who is not told is a failure too (D12)
            logger.error("%sProblem sending SNS notification: %s (%s)", resource.prefix,
                         error_code(exc), exc)
            return False
        logger.info("%sSent SNS notification to %s", resource.prefix, options.sns_topic_arn)
        return True


def _capacity_tag(capacity: Capacity) -> str:
    return f"{capacity.reads}/{capacity.writes}"


def _since(before: dict[str, int], now: dict[str, int]) -> dict[str, int]:
    return {name: count - before.get(name, 0) for name, count in now.items()
            if count - before.get(name, 0)}
