"""Where the tables are: the (account, region) locations one configuration reaches.

A ``[table:]`` section's tables are in its ``region`` and in the account of its ``role-arn``
(``[default_options]`` and ``[global]`` fill in what the section leaves unset). Sections with
the same region and role make one :class:`Location`; each location gets its own clients, its
own engine restricted to its sections (a section's regex matches only the tables listed
there), and its own state scope. The runner checks the locations in parallel.

With one location everything is as before: no label in the logs, the SNS messages or the
metrics. With several, each names its account and region (:func:`Lane.label`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dynamic_dynamodb.aws.clients import AssumedRole, Clients, error_code, make_clients
from dynamic_dynamodb.aws.ports import NotifierPort
from dynamic_dynamodb.config.model import Config, TableSection
from dynamic_dynamodb.engine import CycleReport, Engine
from dynamic_dynamodb.state import UNKNOWN_ACCOUNT, scope_key

logger = logging.getLogger(__name__)

ACCOUNT_RETRY_SECONDS = 3600  # a failed GetCallerIdentity is tried again at most this often
MAX_PARALLEL_LOCATIONS = 8  # locations checked at once; each has its own DescribeTable pool


@dataclass(frozen=True)
class Location:
    """A region, and the role to reach its account through (None: our own credentials)."""

    region: str
    role: AssumedRole | None = None

    def describe(self) -> str:
        """For --show-config and start-up logs: the region and how its account is reached."""
        if self.role is None:
            return f"region {self.region}, the configured credentials"
        external = ", with an ExternalId" if self.role.external_id else ""
        return f"region {self.region}, role {self.role.arn}{external}"


def location_of(section: TableSection, default_region: str) -> Location:
    """Where a table section's tables are; ``default_region`` is [global] region, resolved."""
    where = section.location
    role = None
    if where.role_arn:
        role = AssumedRole(where.role_arn, where.external_id, where.role_session_name)
    return Location(where.region or default_region, role)


def locations(config: Config, default_region: str) -> tuple[Location, ...]:
    """Every location the configuration's sections name, once each: the default one (our own
    credentials, the default region) first when a section uses it, then in file order."""
    found: list[Location] = []
    for section in config.tables:
        location = location_of(section, default_region)
        if location not in found:
            found.append(location)
    default = Location(default_region)
    if default in found:
        found.remove(default)
        found.insert(0, default)
    return tuple(found) or (default,)


def restricted(config: Config, location: Location, default_region: str) -> Config:
    """The configuration as one location's engine sees it: only that location's sections, in
    file order, so first-match-wins (D22) applies among them."""
    return dataclasses.replace(config, tables=tuple(
        section for section in config.tables
        if location_of(section, default_region) == location))


def clients_for(config: Config, location: Location, default_region: str) -> Clients:
    """A location's clients: the configured ones for the default location, else the
    location's region and, for a role, its assumed credentials (STS AssumeRole at the
    first call)."""
    if location.role is None and location.region == default_region:
        return make_clients(config.global_options)
    return make_clients(config.global_options, region=location.region, role=location.role)


def name_of(account: str | None, region: str) -> str:
    """``<account>/<region>``: how logs, SNS messages and the offline commands name a
    location."""
    return f"{account or UNKNOWN_ACCOUNT}/{region}"


def account_of(location: Location, sts: Any) -> str:
    """A location's account: its role's (the ARN names it), else STS GetCallerIdentity with
    its credentials (no IAM permission needed); UNKNOWN_ACCOUNT when that fails."""
    if location.role is not None:
        return location.role.account
    try:
        return str(sts.get_caller_identity()["Account"])
    except Exception as exc:  # AWS errors, and answers that are not AWS's at all
        logger.debug("Cannot tell the AWS account of region %s (STS GetCallerIdentity: %s)",
                     location.region, error_code(exc))
        return UNKNOWN_ACCOUNT


class Lane:
    """One location's engine and the part of the state file it uses.

    ``account``: known in advance for a role (its ARN names it) or given by the caller;
    otherwise STS GetCallerIdentity with the location's credentials (no IAM permission
    needed), asked once per process; if that fails, "unknown-account" with a warning, asked
    again after ACCOUNT_RETRY_SECONDS.
    """

    def __init__(self, location: Location, engine: Engine, *, sts: Any = None,
                 endpoint: str | None = None, account: str | None = None) -> None:
        self.location = location
        self.engine = engine
        self.sts = sts
        self.endpoint = endpoint
        self.account = account or (location.role.account if location.role else None)
        self._account_tried: float | None = None
        self.several = False  # one of several lanes: logs and SNS name the account and region
        self.failures = 0  # cycles in a row this lane failed as a whole

    def scope(self) -> str:
        """``<account>/<region>[@endpoint]``: this lane's part of the state file."""
        now = time.monotonic()
        if self.account is None and self.sts is not None and (
                self._account_tried is None
                or now - self._account_tried >= ACCOUNT_RETRY_SECONDS):
            first = self._account_tried is None
            self._account_tried = now
            try:
                self.account = str(self.sts.get_caller_identity()["Account"])
            except Exception as exc:  # AWS errors, and answers that are not AWS's at all
                logger.log(logging.WARNING if first else logging.DEBUG,
                           "Cannot tell the AWS account (STS GetCallerIdentity: %s); the state "
                           "is kept under %s/%s until it can", error_code(exc),
                           UNKNOWN_ACCOUNT, self.location.region)
        return scope_key(self.account or UNKNOWN_ACCOUNT, self.location.region, self.endpoint)

    def name(self) -> str:
        """``<account>/<region>`` as logs, SNS messages and --show-config name it."""
        return name_of(self.account, self.location.region)

    @property
    def label(self) -> str | None:
        """What this lane's log lines start with: its name when several lanes run."""
        return self.name() if self.several else None

    def labelled(self, several: bool) -> None:
        """One of several lanes (or not): its SNS subjects and bodies name its account and
        region (or not)."""
        self.several = several
        notifier = self.engine.ports.notifier
        if isinstance(notifier, LabelledNotifier):
            notifier = notifier.inner
        self.engine.ports.notifier = LabelledNotifier(notifier, self) if several else notifier


class LabelledNotifier:
    """SNS through ``inner``, the subject and the body naming the account and region: with
    several locations, the same table name can exist in more than one of them."""

    def __init__(self, inner: NotifierPort, lane: Lane) -> None:
        self.inner = inner
        self.lane = lane

    def publish(self, topic_arn: str, subject: str, message: str) -> str:
        account, _, region = self.lane.name().partition("/")
        return self.inner.publish(
            topic_arn, f"[{account}/{region}] {subject}",
            f"AWS account {account}, region {region}.\n\n{message}")


def combined(reports: list[CycleReport], started: datetime, duration: float) -> CycleReport:
    """The cycle of every location as one report: counts and calls added up, statuses in
    lane order (for the status file, the metrics and --run-once's exit code)."""
    total = CycleReport(started=started, duration=duration)
    calls: Counter[str] = Counter()
    attempts: Counter[str] = Counter()
    for report in reports:
        total.tables += report.tables
        total.gsis += report.gsis
        total.updates += report.updates
        total.skipped += report.skipped
        total.errors += report.errors
        total.interrupted |= report.interrupted
        total.metrics_requested += report.metrics_requested
        calls.update(report.calls)
        attempts.update(report.attempts)
        total.failures.update(report.failures)
        total.update_results.update(report.update_results)
        total.statuses.extend(report.statuses)
        total.failed_resources.extend(report.failed_resources)
    total.calls, total.attempts = dict(calls), dict(attempts)
    return total
