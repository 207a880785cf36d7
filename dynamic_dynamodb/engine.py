"""One check cycle: discover → observe → decide → act → notify.

This is the only place that does I/O in pipeline order. Every table and GSI is isolated:
one resource's failure is logged with its name and AWS error code and never stops the
others (D12).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from botocore.exceptions import BotoCoreError, ClientError

from dynamic_dynamodb import breaker
from dynamic_dynamodb.aws.clients import error_code
from dynamic_dynamodb.aws.model import Capacity, MetricRequest
from dynamic_dynamodb.aws.ports import Ports
from dynamic_dynamodb.config.loader import match_gsi, match_table
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.config.options import ResourceOptions
from dynamic_dynamodb.config.schema import mask_url
from dynamic_dynamodb.dimensions import DIMENSIONS
from dynamic_dynamodb.notify import (
    Message,
    alarm_message,
    budget_message,
    decision_lines,
    decision_record,
    prefix,
    scale_message,
)
from dynamic_dynamodb.policy.budget import merge_ledger
from dynamic_dynamodb.policy.counters import after_breaker_open
from dynamic_dynamodb.policy.decide import Decision, decide
from dynamic_dynamodb.policy.observation import Observation, metric_window, observe_dimension
from dynamic_dynamodb.state import State

logger = logging.getLogger(__name__)

AWS_ERRORS = (ClientError, BotoCoreError)


@dataclass(frozen=True)
class Resource:
    """A table, or a GSI of a table, with the options of the section it resolved to."""

    table: str
    gsi: str | None
    section: str
    options: ResourceOptions
    capacity: Capacity

    @property
    def key(self) -> str:
        return self.table if self.gsi is None else f"{self.table}:{self.gsi}"

    @property
    def prefix(self) -> str:
        return prefix(self.table, self.gsi)


@dataclass
class CycleReport:
    tables: int = 0
    gsis: int = 0
    updates: int = 0
    skipped: int = 0
    errors: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    duration: float = 0.0
    interrupted: bool = False

    def summary(self) -> str:
        calls = sum(self.calls.values())
        detail = ", ".join(f"{name} {count}" for name, count in sorted(self.calls.items()))
        return (f"Cycle done: {self.tables} tables and {self.gsis} GSIs checked, "
                f"{self.updates} updates, {self.skipped} skipped, {self.errors} errors, "
                f"{calls} API calls ({detail or 'none'}), {self.duration:.2f}s"
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
    ):
        self.config = config
        self.ports = ports
        self.state = state
        self.dry_run = dry_run
        self.clock = clock
        self.breaker_check = breaker_check
        self.stop = stop or threading.Event()
        self._warned_overlaps: set[str] = set()
        self._listed: set[str] = set()
        self._described: dict[str, set[str]] = {}

    # -- discover ---------------------------------------------------------------------------
    def discover(self, report: CycleReport) -> list[Resource]:
        names = self.ports.tables.list_tables()
        self._listed, self._described = set(names), {}
        claimed: dict[str, int] = {section.regex: 0 for section in self.config.tables}
        resources: list[Resource] = []
        for name in sorted(names):
            section, also = match_table(self.config, name)
            if section is None:
                continue
            claimed[section.regex] += 1
            if also and name not in self._warned_overlaps:
                self._warned_overlaps.add(name)
                logger.warning(
                    "%s - Table %s matches more than one section; using [%s], ignoring %s",
                    name, name, section.header, ", ".join(f"[{s.header}]" for s in also))
            try:
                description = self.ports.tables.describe_table(name)
            except AWS_ERRORS as exc:
                self._failed(report, f"{name} - ", "DescribeTable", exc)
                continue
            self._described[name] = {index.name for index in description.gsis}
            if description.on_demand:
                logger.info("%s - Table is PAY_PER_REQUEST (on-demand); not scaling it", name)
                report.skipped += 1
                continue
            if description.status != "ACTIVE":
                logger.info("%s - Table is %s, not ACTIVE; skipping it this cycle", name,
                            description.status)
                report.skipped += 1
                continue
            resources.append(Resource(name, None, section.header, section.options,
                                      description.capacity))
            for index in sorted(description.gsis, key=lambda gsi: gsi.name):
                gsi_section = match_gsi(section, index.name)
                if gsi_section is None:
                    logger.debug("%s - GSI: %s - No [gsi:] section matches; not scaling it",
                                 name, index.name)
                    continue
                if index.status != "ACTIVE":
                    logger.info("%s - GSI: %s - GSI is %s, not ACTIVE; skipping it this cycle",
                                name, index.name, index.status)
                    report.skipped += 1
                    continue
                resources.append(Resource(name, index.name, gsi_section.header,
                                          gsi_section.options, index.capacity))
        unmatched = [regex for regex, count in claimed.items() if count == 0]
        if unmatched:
            logger.warning("No tables matching the following configured tables found: %s",
                           ", ".join(unmatched))
        return resources

    # -- observe ----------------------------------------------------------------------------
    def observe(self, resources: list[Resource], now: datetime) -> dict[str, Observation]:
        """All metrics of the cycle, batched by lookback window into few GetMetricData calls."""
        groups: dict[tuple[datetime, datetime], list[Resource]] = {}
        for resource in resources:
            window = metric_window(now, resource.options.lookback_window_start,
                                   resource.options.lookback_period)
            groups.setdefault(window, []).append(resource)
        observations: dict[str, Observation] = {}
        for (start, end), members in groups.items():
            requests = [
                MetricRequest((resource.key, metric), resource.table, resource.gsi, metric)
                for resource in members
                for dim in DIMENSIONS
                for metric in (dim.consumed_metric, dim.throttle_metric)
            ]
            sums = self.ports.metrics.fetch_sums(requests, start, end)
            seconds = int((end - start).total_seconds())
            for resource in members:
                capacity = resource.capacity
                per_dimension = {
                    dim.name: observe_dimension(
                        getattr(capacity, dim.name),
                        sums[(resource.key, dim.consumed_metric)],
                        sums[(resource.key, dim.throttle_metric)],
                        seconds,
                    )
                    for dim in DIMENSIONS
                }
                ledger = merge_ledger(self.state.own_record(resource.key, now), now,
                                      capacity.decreases_today, capacity.last_decrease,
                                      capacity.last_increase)
                observations[resource.key] = Observation(**per_dimension, ledger=ledger)
        return observations

    # -- one cycle --------------------------------------------------------------------------
    def run_cycle(self) -> CycleReport:
        started = time.monotonic()
        before = dict(self.ports.calls)
        report = CycleReport()
        try:
            self._cycle(report)
        except BaseException:
            report.errors += 1  # the whole cycle failed: the summary must not say "0 errors"
            raise
        finally:
            report.calls = {name: count - before.get(name, 0)
                            for name, count in self.ports.calls.items()
                            if count - before.get(name, 0)}
            report.duration = time.monotonic() - started
            logger.info(report.summary())
        return report

    def _cycle(self, report: CycleReport) -> None:
        resources = self.discover(report)
        now = self.clock()
        try:
            observations = self.observe(resources, now)
        except AWS_ERRORS as exc:
            self._failed(report, "", "GetMetricData", exc)
            report.errors += len(resources) - 1
            return
        for resource in resources:
            if self.stop.is_set():
                report.interrupted = True
                logger.info("Stop requested; skipping the remaining tables of this cycle")
                break
            if resource.gsi is None:
                report.tables += 1
            else:
                report.gsis += 1
            try:
                self.check(resource, observations[resource.key], now, report)
            except AWS_ERRORS as exc:
                self._failed(report, resource.prefix, "check", exc)
            except Exception:
                report.errors += 1
                logger.exception("%sUnexpected error while checking; continuing with the others",
                                 resource.prefix)
        self._prune()

    def _prune(self) -> None:
        """Forget counters of tables and GSIs that no longer exist."""
        def exists(key: str) -> bool:
            table, _, gsi = key.partition(":")
            if table not in self._listed:
                return False
            return not gsi or table not in self._described or gsi in self._described[table]

        keep = {key for key in self.state.data["resources"] if exists(key)}
        for key in self.state.prune(keep):
            logger.info("%s - No longer exists; forgot its counters", key)

    def _failed(self, report: CycleReport, where: str, action: str, exc: BaseException) -> None:
        report.errors += 1
        logger.error("%s%s failed: %s (%s)", where, action, error_code(exc), exc)

    # -- decide, act, notify for one resource ----------------------------------------------
    def check(self, resource: Resource, observation: Observation, now: datetime,
              report: CycleReport) -> None:
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
                report.skipped += 1
                return
            logger.info("%s%s", tag, result.detail)

        for dim in DIMENSIONS:
            seen = observation.dimension(dim)
            logger.info("%sConsumed %s units: %.2f%% of %d provisioned; %d throttle events "
                        "(%.2f%% of provisioned, %.2f%% of consumed)", tag, dim.one,
                        seen.consumed_percent, seen.provisioned, seen.throttle_events,
                        seen.throttled_by_provisioned_percent,
                        seen.throttled_by_consumed_percent)

        decision = decide(resource.options, observation, self.state.counters(resource.key), now)
        for dim in DIMENSIONS:
            change = decision.dimension(dim)
            *notes, line = decision_lines(change)
            for note in notes:
                logger.info("%s%s", tag, note)
            record = decision_record(resource.table, resource.gsi, change,
                                     observation.dimension(dim))
            logger.info("%s%s", tag, line, extra={"decision": record})
            logger.debug("%sConsecutive %s checks %d/%d", tag, dim.one, change.counter,
                         change.checks_needed)

        if decision.alarm is not None:
            self._notify(resource, alarm_message(resource.table, resource.gsi, decision.alarm))
        if (
            decision.budget_exhausted
            and not self.state.budget_notified_today(resource.key, now)
            and self._notify(resource, budget_message(resource.table, resource.gsi, decision))
        ):
            self.state.mark_budget_notified(resource.key, now)

        if not decision.changed:
            logger.info("%sNo need to change provisioning", tag)
            self.state.set_counters(resource.key, decision.counters)
            return
        applied = self.apply(resource, decision, now, report)
        if applied is None:
            self.state.set_counters(resource.key, decision.counters_after(carried_out=False))
        else:
            self.state.set_counters(resource.key, applied.counters_after(carried_out=True))

    def apply(self, resource: Resource, decision: Decision, now: datetime,
              report: CycleReport) -> Decision | None:
        """UpdateTable (or not, in dry-run). Returns the decision carried out, or None."""
        tag = resource.prefix
        reads, writes = decision.reads.target, decision.writes.target
        logger.info("%sUpdating provisioning to %d reads and %d writes", tag, reads, writes)
        if self.dry_run:
            logger.info("%sDry run: would update reads %d -> %d and writes %d -> %d; nothing "
                        "sent", tag, decision.reads.current, reads, decision.writes.current,
                        writes)
            return decision
        try:
            self.ports.tables.update_capacity(resource.table, resource.gsi, reads, writes)
        except ClientError as exc:
            code = error_code(exc)
            if code == "LimitExceededException" and decision.has_decrease:
                # Remember the refusal: decreases then wait an hour instead of failing every cycle.
                self.state.record_decrease_refused(resource.key, now)
                logger.warning("%sLimitExceededException: %s. The decrease budget model missed "
                               "this; will retry to update provisioning with only increases",
                               tag, exc)
                retry = decision.without_decreases()
                if not retry.changed:
                    logger.info("%sNo need to scale up reads nor writes", tag)
                    return retry
                return self.apply(resource, retry, now, report)
            if code == "ResourceInUseException":
                logger.warning("%sResourceInUseException: the table is being updated; trying "
                               "again next cycle", tag)
                report.skipped += 1
                return None
            self._failed(report, tag, "UpdateTable", exc)
            return None
        except BotoCoreError as exc:
            self._failed(report, tag, "UpdateTable", exc)
            return None
        report.updates += 1
        self.state.record_update(
            resource.key, now,
            increased=decision.reads.is_increase or decision.writes.is_increase,
            decreased=decision.has_decrease,
        )
        message = scale_message(resource.table, resource.gsi, decision)
        if message is not None:
            self._notify(resource, message)
        return decision

    def _notify(self, resource: Resource, message: Message) -> bool:
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
            logger.error("%sProblem sending SNS notification: %s (%s)", resource.prefix,
                         error_code(exc), exc)
            return False
        logger.info("%sSent SNS notification to %s", resource.prefix, options.sns_topic_arn)
        return True
