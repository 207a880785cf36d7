"""DynamoDB as AWS runs it, on top of moto's tables.

moto keeps the tables and their throughput; the twin keeps what moto drops or never had (see
ecosystem-notes.md §1): a per-table and per-GSI ledger of peaks, decreases, last increase and
decrease times and UPDATING windows. UpdateTable is checked against that ledger BEFORE it
reaches moto (so a refused request changes nothing: "Requests are not partially processed",
aws-behaviour.md:25-26), and DescribeTable / UpdateTable / CreateTable responses get the
ledger's fields written in.

Order of the checks on UpdateTable (AWS does not document it; validation first, then state,
then limits): unknown GSI, PAY_PER_REQUEST, ResourceInUse, same value, capacity caps,
decrease quota.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import Any

from tests.twin.clock import TwinClock
from tests.twin.settings import TwinSettings
from tests.twin.wire import Request, Response, error_response, json_response, with_json_body

Forward = Callable[[Request], Response]
BackendCall = Callable[[Request, str, dict[str, Any]], Response]

LIMITS_TAIL = (
    "Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits."
)


def aws_date(when: datetime) -> str:
    """A timestamp as DynamoDB's quota message prints it.

    Probe notes DDB-TABLE-326 (2026): "Friday, October 9, 2026 at 1:21:34 AM Coordinated
    Universal Time". Older accounts/SDKs quoted "Wednesday, July 25, 2018 8:48:14 PM UTC"
    (Hadoop S3Guard docs); the newer form is reproduced. Locale-independent on purpose.
    """
    when = when.astimezone(timezone.utc)
    hour = when.hour % 12 or 12
    half = "AM" if when.hour < 12 else "PM"
    return (
        f"{when:%A}, {when:%B} {when.day}, {when.year} at {hour}:{when:%M:%S} {half} "
        "Coordinated Universal Time"
    )


@dataclass(frozen=True)
class Capacity:
    read: int
    write: int

    @classmethod
    def of(cls, throughput: Any) -> Capacity:
        throughput = throughput if isinstance(throughput, dict) else {}
        return cls(
            int(throughput.get("ReadCapacityUnits") or 0), int(throughput.get("WriteCapacityUnits") or 0)
        )


@dataclass
class ResourceLedger:
    """What DynamoDB remembers about one table or GSI that moto does not."""

    peak: Capacity | None = None  # highest units ever provisioned (None: not seen yet)
    decreases: list[datetime] = field(default_factory=list)
    last_decrease: datetime | None = None
    last_increase: datetime | None = None
    updating_until: datetime | None = None
    shown: Capacity | None = None  # the OLD units, reported while UPDATING

    def decreases_today(self, now: datetime) -> int:
        # NumberOfDecreasesToday resets exactly at 00:00:00 UTC; LastDecreaseDateTime is kept
        # (probe notes DDB-TABLE-185).
        today = now.astimezone(timezone.utc).date()
        return sum(1 for when in self.decreases if when.astimezone(timezone.utc).date() == today)

    def updating(self, now: datetime) -> bool:
        return self.updating_until is not None and now < self.updating_until

    def observe(self, capacity: Capacity) -> None:
        if self.peak is None:
            self.peak = capacity
        else:
            self.peak = Capacity(max(self.peak.read, capacity.read), max(self.peak.write, capacity.write))

    def snapshot(self, now: datetime) -> dict[str, Any]:
        return {
            "NumberOfDecreasesToday": self.decreases_today(now),
            "LastDecreaseDateTime": self.last_decrease,
            "LastIncreaseDateTime": self.last_increase,
            "Updating": self.updating(now),
            "UpdatingUntil": self.updating_until,
            "Peak": None if self.peak is None else {"read": self.peak.read, "write": self.peak.write},
        }


@dataclass
class TableLedger:
    table: ResourceLedger = field(default_factory=ResourceLedger)
    indexes: dict[str, ResourceLedger] = field(default_factory=dict)
    replicas: list[str] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def index(self, name: str) -> ResourceLedger:
        return self.indexes.setdefault(name, ResourceLedger())

    def busy(self, now: datetime) -> bool:
        return self.table.updating(now) or any(index.updating(now) for index in self.indexes.values())


@dataclass
class _Change:
    index: str | None  # None: the table itself
    ledger: ResourceLedger
    old: Capacity
    new: Capacity

    @property
    def increase(self) -> bool:
        return self.new.read > self.old.read or self.new.write > self.old.write

    @property
    def decrease(self) -> bool:
        # RCU down with WCU up is a decrease too, and one call counts once whatever it lowers
        # (probe notes DDB-TABLE-157/184).
        return self.new.read < self.old.read or self.new.write < self.old.write


class DynamoDB:
    def __init__(self, settings: TwinSettings, clock: TwinClock, forward: Forward, backend: BackendCall):
        self._settings = settings
        self._clock = clock
        self._forward = forward
        self._backend = backend
        self._tables: dict[tuple[str, str], TableLedger] = {}
        self._lock = threading.Lock()

    # -- ledger -------------------------------------------------------------------------------

    def ledger(self, region: str, table: str) -> TableLedger:
        with self._lock:
            return self._tables.setdefault((region, table), TableLedger())

    def forget(self, region: str, table: str) -> None:
        with self._lock:
            self._tables.pop((region, table), None)

    def clear(self) -> None:
        with self._lock:
            self._tables.clear()

    def set_decreases(
        self, region: str, table: str, count: int, *, index: str | None = None, last: datetime | None = None
    ) -> None:
        """Pretend ``count`` decreases already happened today, the last one at ``last``."""
        ledger = self.ledger(region, table)
        with ledger.lock:
            resource = ledger.table if index is None else ledger.index(index)
            when = last or self._clock.now()
            resource.decreases = [when] * count
            resource.last_decrease = when if count else resource.last_decrease

    def snapshot(self, region: str, table: str) -> dict[str, Any]:
        ledger = self.ledger(region, table)
        now = self._clock.now()
        with ledger.lock:
            return {
                "table": ledger.table.snapshot(now),
                "indexes": {name: index.snapshot(now) for name, index in ledger.indexes.items()},
                "replicas": ledger.replicas,
            }

    # -- dispatch -----------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        operation = request.operation
        if request.protocol != "json":
            return self._forward(request)
        if operation == "UpdateTable":
            return self._update_table(request)
        if operation == "DescribeTable":
            return self._decorated(request, "Table")
        if operation == "CreateTable":
            name = request.table
            if name:
                self.forget(request.region, name)
            return self._decorated(request, "TableDescription")
        if operation == "DeleteTable":
            return self._delete_table(request)
        if operation == "DescribeLimits":
            return self._describe_limits(request)
        return self._forward(request)

    # -- operations ---------------------------------------------------------------------------

    def _describe_limits(self, request: Request) -> Response:
        # moto answers 20000/10000; AWS's defaults are 80,000 per account and 40,000 per table
        # (aws-behaviour.md:39-41), so the twin answers from its settings instead.
        s = self._settings
        return json_response(
            request,
            {
                "AccountMaxReadCapacityUnits": s.account_max_read,
                "AccountMaxWriteCapacityUnits": s.account_max_write,
                "TableMaxReadCapacityUnits": s.table_max_read,
                "TableMaxWriteCapacityUnits": s.table_max_write,
            },
        )

    def _decorated(self, request: Request, key: str) -> Response:
        response = self._forward(request)
        if response.status != 200:
            return response
        data = response.json()
        description = data.get(key)
        if not isinstance(description, dict) or not isinstance(description.get("TableName"), str):
            return response
        ledger = self.ledger(request.region, description["TableName"])
        with ledger.lock:
            self._observe(ledger, description)
            self._decorate(description, ledger, self._clock.now())
        return with_json_body(request, response, data)

    def _delete_table(self, request: Request) -> Response:
        name = request.table
        if name:
            ledger = self.ledger(request.region, name)
            now = self._clock.now()
            with ledger.lock:
                # Probe notes DDB-TABLE-063 / DDB-TABLE-150 (texts quoted from live AWS).
                if ledger.table.updating(now):
                    return error_response(
                        request,
                        "ResourceInUseException",
                        "Attempt to change a resource which is still in use: "
                        f"Table: {name} is in the process of being updated.",
                    )
                if any(index.updating(now) for index in ledger.indexes.values()):
                    return error_response(
                        request,
                        "ResourceInUseException",
                        "Attempt to change a resource which is still in use: Cannot delete "
                        "table while indexes are being created, updated, or deleted.",
                    )
        response = self._forward(request)
        if response.status == 200 and name:
            self.forget(request.region, name)
        return response

    def _update_table(self, request: Request) -> Response:
        payload = request.json()
        name = payload.get("TableName")
        if not isinstance(name, str):
            return self._forward(request)
        ledger = self.ledger(request.region, name)
        # One UpdateTable per table at a time: describe, check, forward and book as one step.
        with ledger.lock:
            described = self._backend(request, "DescribeTable", {"TableName": name})
            if described.status != 200:
                return self._forward(request)  # let moto produce ResourceNotFoundException itself
            current = described.json().get("Table") or {}
            self._observe(ledger, current)
            now = self._clock.now()
            changes, refusal = self._plan(request, payload, current, ledger, now)
            if refusal is not None:
                return refusal
            response = self._forward(request)
            if response.status != 200:
                return response
            counts_before = {change.index: change.ledger.decreases_today(now) for change in changes}
            for change in changes:
                self._book(change, now)
            data = response.json()
            description = data.get("TableDescription")
            if isinstance(description, dict):
                self._observe(ledger, description)
                self._decorate(
                    description, ledger, now, changed={c.index for c in changes}, counts=counts_before
                )
            return with_json_body(request, response, data)

    # -- UpdateTable checks ---------------------------------------------------------------------

    def _plan(
        self,
        request: Request,
        payload: dict[str, Any],
        current: dict[str, Any],
        ledger: TableLedger,
        now: datetime,
    ) -> tuple[list[_Change], Response | None]:
        s = self._settings
        name = payload["TableName"]

        def refuse(code: str, message: str) -> tuple[list[_Change], Response]:
            return [], error_response(request, code, message)

        billing = (current.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
        effective_billing = payload.get("BillingMode") or billing
        table_throughput = payload.get("ProvisionedThroughput")
        index_updates = [
            update["Update"]
            for update in payload.get("GlobalSecondaryIndexUpdates") or []
            if isinstance(update, dict) and isinstance(update.get("Update"), dict)
        ]
        indexes = {index.get("IndexName"): index for index in current.get("GlobalSecondaryIndexes") or []}

        for update in index_updates:
            if update.get("IndexName") not in indexes:
                # moto answers HTTP 500 here, which botocore retries (ecosystem-notes.md §1). The
                # real code/wording is not documented anywhere the twin's author could find.
                return refuse(
                    "ResourceNotFoundException",
                    f"Requested resource not found: Index: {update.get('IndexName')} not found",
                )

        if effective_billing == "PAY_PER_REQUEST":
            if table_throughput is not None:
                # Probe notes DDB-TABLE-059, quoted from live AWS.
                return refuse(
                    "ValidationException",
                    "One or more parameter values were invalid: Neither ReadCapacityUnits nor "
                    "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
                )
            for update in index_updates:
                if update.get("ProvisionedThroughput") is not None:
                    # Probe notes DDB-TABLE-164 quote only "The only Updates for index ... can be
                    # to OnDemandThroughput, WarmThroughput"; the rest is reconstructed.
                    return refuse(
                        "ValidationException",
                        "One or more parameter values were invalid: The only Updates for index "
                        f"{update['IndexName']} can be to OnDemandThroughput, WarmThroughput",
                    )

        if ledger.busy(now):
            # aws-behaviour.md:15-18: "While it's UPDATING, you can't issue another UpdateTable".
            return refuse("ResourceInUseException", s.in_use_message.format(table=name))

        changes: list[_Change] = []
        if table_throughput is not None:
            old = (
                Capacity.of(current.get("ProvisionedThroughput"))
                if billing == "PROVISIONED"
                else Capacity(0, 0)
            )
            changes.append(_Change(None, ledger.table, old, Capacity.of(table_throughput)))
        for update in index_updates:
            if update.get("ProvisionedThroughput") is None:
                continue
            index_name = update["IndexName"]
            old = Capacity.of(indexes[index_name].get("ProvisionedThroughput"))
            changes.append(
                _Change(
                    index_name, ledger.index(index_name), old, Capacity.of(update["ProvisionedThroughput"])
                )
            )

        for change in changes:
            if change.new == change.old:
                return refuse("ValidationException", self._same_value_message(change))

        for change in changes:
            message = self._cap_message(request.region, change)
            if message:
                return refuse("LimitExceededException", message)
        message = self._account_cap_message(request.region, changes)
        if message:
            return refuse("LimitExceededException", message)

        # All-or-nothing: any resource over its own quota refuses the whole request
        # (aws-behaviour.md:24-26); the table is reported first, then GSIs in request order.
        for change in changes:
            if change.decrease:
                message = self._quota_message(change.ledger, now)
                if message:
                    return refuse("LimitExceededException", message)
        return changes, None

    @staticmethod
    def _same_value_message(change: _Change) -> str:
        old, new = change.old, change.new
        if change.index is None:
            # aws-behaviour.md has no text for it; this is dynalite's, confirmed by probe notes
            # DDB-TABLE-057/164 ("The provisioned throughput for the table will not change...").
            return (
                "The provisioned throughput for the table will not change. The requested value equals the "
                f"current value. Current ReadCapacityUnits provisioned for the table: {old.read}. "
                f"Requested ReadCapacityUnits: {new.read}. Current WriteCapacityUnits provisioned for the "
                f"table: {old.write}. Requested WriteCapacityUnits: {new.write}. {LIMITS_TAIL}"
            )
        # Probe notes DDB-TABLE-164 quote this up to "Current WriteCapacityUnits ..."; the rest
        # follows the table's sentence.
        name = change.index
        return (
            f"The provisioned throughput for the index {name} will not change. The requested value equals "
            f"the current value. Current ReadCapacityUnits provisioned for index {name}: {old.read}. "
            f"Requested ReadCapacityUnits: {new.read}. Current WriteCapacityUnits provisioned for index "
            f"{name}: {old.write}. Requested WriteCapacityUnits: {new.write}. {LIMITS_TAIL}"
        )

    def _cap_message(self, region: str, change: _Change) -> str | None:
        s = self._settings
        # Per-table and per-index caps are separate: a GSI's units do not count towards the
        # table's cap (probe notes DDB-TABLE-170, which also quote both texts).
        for dimension, value, cap in (
            ("Read", change.new.read, s.table_max_read),
            ("Write", change.new.write, s.table_max_write),
        ):
            if value <= cap:
                continue
            if change.index is None:
                return (
                    f"The requested {dimension}CapacityUnits, {value}, is above the per table maximum for "
                    f"the account in {region}. Per table maximum: {cap}. {LIMITS_TAIL}"
                )
            return (
                f"The requested {dimension}CapacityUnits for index {change.index}, {value}, is above the "
                f"per index maximum for the account in {region}. Per table maximum: {cap}. {LIMITS_TAIL}"
            )
        return None

    def _account_cap_message(self, region: str, changes: list[_Change]) -> str | None:
        s = self._settings
        totals = self._account_totals(region)
        if totals is None:
            return None
        for dimension, total, cap, delta, requested in (
            (
                "Read",
                totals.read,
                s.account_max_read,
                sum(c.new.read - c.old.read for c in changes),
                sum(c.new.read for c in changes),
            ),
            (
                "Write",
                totals.write,
                s.account_max_write,
                sum(c.new.write - c.old.write for c in changes),
                sum(c.new.write for c in changes),
            ),
        ):
            if delta > 0 and total + delta > cap:
                # Probe notes DDB-TABLE-170 quote this text; "Requested" is the new units asked for.
                return (
                    f"This request would have caused the {dimension}CapacityUnits limit to be exceeded for "
                    f"the account in {region}. Current {dimension}CapacityUnits reserved by the account: "
                    f"{total}. Limit: {cap}. Requested: {requested}"
                )
        return None

    @staticmethod
    def _account_totals(region: str) -> Capacity | None:
        """Units provisioned by every table and GSI in the region, read from moto's memory.

        ThreadedMotoServer runs in this process, so its backend is readable directly; the
        alternative (ListTables + DescribeTable per table on every increase) would swamp a scale
        benchmark. If moto's internals move, the account cap is skipped rather than wrong.
        """
        try:
            from moto.core import DEFAULT_ACCOUNT_ID
            from moto.dynamodb.models import dynamodb_backends

            tables = list(dynamodb_backends[DEFAULT_ACCOUNT_ID][region].tables.values())
            read = write = 0
            for table in tables:
                if getattr(table, "billing_mode", "PROVISIONED") == "PAY_PER_REQUEST":
                    continue
                capacity = Capacity.of(table.throughput)
                read, write = read + capacity.read, write + capacity.write
                for index in getattr(table, "global_indexes", []) or []:
                    capacity = Capacity.of(index.throughput)
                    read, write = read + capacity.read, write + capacity.write
            return Capacity(read, write)
        except Exception:
            return None

    def _quota_message(self, resource: ResourceLedger, now: datetime) -> str | None:
        s = self._settings
        count = resource.decreases_today(now)
        if count < s.free_decreases_per_day:
            return None
        midnight = datetime.combine(
            now.astimezone(timezone.utc).date() + timedelta(days=1), time(0), tzinfo=timezone.utc
        )
        last = resource.last_decrease or now
        if count >= s.max_decreases_per_day:
            next_at = midnight
        else:
            # One more decrease exactly decrease_interval after the LAST ACCEPTED one, not at the
            # top of the hour (probe notes DDB-TABLE-326); the message names midnight when that
            # comes first (DDB-TABLE-184/185).
            next_at = last + timedelta(seconds=s.decrease_interval_seconds)
            if now >= next_at:
                return None
            next_at = min(next_at, midnight)
        # Wording: aws-behaviour.md:29-33 (and probe notes DDB-TABLE-184/326).
        return (
            "Subscriber limit exceeded: Provisioned throughput decreases are limited within a given UTC day. "
            f"After the first {s.free_decreases_per_day} decreases, each subsequent decrease in the same UTC "
            f"day can be performed at most once every {s.decrease_interval_seconds} seconds. "
            f"Number of decreases today: {count}. Last decrease at {aws_date(last)}. "
            f"Next decrease can be made at {aws_date(next_at)}"
        )

    def _book(self, change: _Change, now: datetime) -> None:
        s = self._settings
        resource = change.ledger
        peak = resource.peak
        new_peak = peak is not None and (change.new.read > peak.read or change.new.write > peak.write)
        resource.observe(change.new)
        resource.shown = change.old
        seconds = s.new_peak_seconds if new_peak else s.update_seconds
        resource.updating_until = now + timedelta(seconds=seconds)
        if change.increase:
            resource.last_increase = now
        if change.decrease:
            resource.last_decrease = now
            resource.decreases.append(now)

    # -- responses ----------------------------------------------------------------------------

    @staticmethod
    def _observe(ledger: TableLedger, description: dict[str, Any]) -> None:
        billing = (description.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
        if billing == "PROVISIONED":
            ledger.table.observe(Capacity.of(description.get("ProvisionedThroughput")))
        present = set()
        for index in description.get("GlobalSecondaryIndexes") or []:
            name = index.get("IndexName")
            if isinstance(name, str):
                present.add(name)
                if billing == "PROVISIONED":
                    ledger.index(name).observe(Capacity.of(index.get("ProvisionedThroughput")))
        for gone in set(ledger.indexes) - present:
            del ledger.indexes[gone]

    def _decorate(
        self,
        description: dict[str, Any],
        ledger: TableLedger,
        now: datetime,
        *,
        changed: set[str | None] | None = None,
        counts: dict[str | None, int] | None = None,
    ) -> None:
        """Write the ledger into a TableDescription (DescribeTable, UpdateTable, CreateTable).

        ``changed``/``counts`` are for the UpdateTable response, which says UPDATING and echoes
        the OLD units and the OLD NumberOfDecreasesToday but the NEW Last*DateTime (probe notes
        DDB-TABLE-184/165), even when the window is zero seconds long.
        """
        changed = changed or set()
        counts = counts or {}
        show_old = self._settings.show_old_throughput_while_updating

        def fix(holder: dict[str, Any], status_key: str, resource: ResourceLedger, key: str | None) -> None:
            updating = key in changed or resource.updating(now)
            throughput = holder.get("ProvisionedThroughput")
            if isinstance(throughput, dict):
                # aws-behaviour.md:26-28: reported for the table and each GSI (moto drops them).
                throughput["NumberOfDecreasesToday"] = counts.get(key, resource.decreases_today(now))
                throughput.pop("LastIncreaseDateTime", None)
                throughput.pop("LastDecreaseDateTime", None)
                if resource.last_increase is not None:
                    throughput["LastIncreaseDateTime"] = resource.last_increase.timestamp()
                if resource.last_decrease is not None:
                    throughput["LastDecreaseDateTime"] = resource.last_decrease.timestamp()
                if updating and show_old and resource.shown is not None:
                    throughput["ReadCapacityUnits"] = resource.shown.read
                    throughput["WriteCapacityUnits"] = resource.shown.write
            if updating:
                holder[status_key] = "UPDATING"

        fix(description, "TableStatus", ledger.table, None)
        for index in description.get("GlobalSecondaryIndexes") or []:
            name = index.get("IndexName")
            if isinstance(name, str):
                fix(index, "IndexStatus", ledger.index(name), name)
        if ledger.replicas is not None:
            # aws-behaviour.md:49: a global table lists Replicas in DescribeTable.
            description["Replicas"] = [
                {"RegionName": region, "ReplicaStatus": "ACTIVE"} for region in ledger.replicas
            ]
            description.setdefault("GlobalTableVersion", "2019.11.21")
