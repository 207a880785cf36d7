"""Leadership of one instance across hosts: a lease item in the state table.

Daemons (and ``--run-once`` runs, and the Lambda) of the same instance that share a
``state-table`` elect one leader with one item, ``pk = "lease#<instance>"``, ``sk = "lease"``,
written only with conditional updates:

* **claim** (at the start of every cycle): the holder renews with ``holder = :me``; anyone
  else reads the item (one strongly consistent GetItem) and, only when it is absent, released
  or expired by its own clock, takes it with ``attribute_not_exists(pk) OR expires_at < :now``.
  Two takers at once: DynamoDB lets exactly one condition pass.
* **act**: the leader starts an UpdateTable only while that call (bounded to
  ``UPDATE_TABLE_SECONDS`` by its client, aws/clients.py) ends at least ``margin`` seconds
  before the lease would expire, measured on its monotonic clock from the moment it *sent*
  the renewal. The engine asks right before every UpdateTable (``LeaseGate.may_act``), and
  between tables (``LeaseGate.is_set``). A leader that cannot renew does not start a cycle,
  and one that is still busy when that deadline comes stops acting. Another host takes over
  only after ``expires_at`` by *its* clock, so the two never act at once as long as their
  clocks differ by less than the margin (NTP keeps them within milliseconds).
* **heartbeat**: a long cycle renews the lease between tables, and right before an
  UpdateTable, once half its acting time is used, so the tail of a long cycle is scaled too.
* **release** on a clean stop of a daemon; a ``--run-once`` (or Lambda) claim is left to
  expire, so a second run started a moment later on another host does nothing.

A daemon's lease lasts 1.5 check intervals and is renewed every interval; a follower looks
again when the lease it saw expires (and every interval), so it takes over within 1.5
intervals of the leader's last renewal, i.e. within two intervals of a crash. A run-once
claim lasts half an interval: the next run (cron, EventBridge) an interval later finds it
expired. The timing is pure (``lease_terms``, ``LeaseView.expired``) and the clocks are
injected, so it is tested without waiting.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from dynamic_dynamodb.aws.clients import UPDATE_TABLE_SECONDS
from dynamic_dynamodb.aws.errors import error_code, error_message
from dynamic_dynamodb.errors import StateError

logger = logging.getLogger(__name__)

LEASE_SORT_KEY = "lease"
# Also for check-interval 0: a lease must outlast the skew margin and one bounded UpdateTable.
MIN_LEASE_SECONDS = 10.0
MAX_SKEW_MARGIN = 10.0  # seconds; the clocks of the hosts must agree better than the margin
DAEMON_LEASE_INTERVALS = 1.5
RUN_ONCE_LEASE_INTERVALS = 0.5
ITEM_TTL_SECONDS = 7 * 86400  # a lease nobody touched for a week is deleted by DynamoDB


class LeaseError(StateError):
    """The lease could not be read or written; one line, naming the table and the AWS error."""


@dataclass(frozen=True)
class LeaseTerms:
    """How long a claim lasts, and how long before its end the leader stops acting: the skew
    margin, plus the longest an UpdateTable started just before can take."""

    duration: float
    margin: float
    update_bound: float = field(default=UPDATE_TABLE_SECONDS)

    @property
    def acting_time(self) -> float:
        """Seconds after sending a renewal during which the leader may start an UpdateTable:
        any UpdateTable started then ends ``margin`` seconds before the lease expires."""
        return self.duration - self.margin - self.update_bound


def lease_terms(check_interval: float, run_once: bool = False) -> LeaseTerms:
    """A daemon's lease lasts 1.5 check intervals (renewed every interval); a run-once claim
    half an interval. The skew margin is a sixth of the lease, at most MAX_SKEW_MARGIN."""
    factor = RUN_ONCE_LEASE_INTERVALS if run_once else DAEMON_LEASE_INTERVALS
    duration = max(MIN_LEASE_SECONDS, float(check_interval) * factor)
    return LeaseTerms(duration, min(MAX_SKEW_MARGIN, duration / 6))


@dataclass(frozen=True)
class LeaseView:
    """The lease item as read: who holds it until when (epoch seconds, holder's clock)."""

    holder: str | None
    expires_at: float
    term: int = 0
    mode: str = ""
    renewed_at: float | None = None

    def expired(self, now: float) -> bool:
        """Free to take at ``now`` (the reader's clock): released, or past its expiry."""
        return self.holder is None or self.expires_at <= now

    def expires_text(self) -> str:
        return _iso(self.expires_at)


@dataclass(frozen=True)
class Leadership:
    """The outcome of one claim."""

    leader: bool
    holder: str | None  # who holds the lease now (this process, another, or nobody)
    expires_at: float | None
    term: int = 0
    took_over: bool = False  # this claim took the lease (rather than renewing it)

    def as_status(self, me: str) -> dict[str, Any]:
        """For the status file that ``--daemon status`` reads."""
        return {"role": "leader" if self.leader else "follower", "holder": self.holder,
                "me": me, "term": self.term,
                "expires": _iso(self.expires_at) if self.expires_at else None}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")


def default_holder() -> str:
    """``host:pid:random``: unique per process, and readable in ``--daemon status``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Lease:
    """The lease of one instance in one state table. ``client`` is a boto3 DynamoDB client;
    ``clock`` gives epoch seconds (what is stored), ``monotonic`` the local acting deadline."""

    def __init__(self, client: Any, table: str, instance: str, terms: LeaseTerms, *,
                 holder: str | None = None, mode: str = "daemon",
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic):
        self.client = client
        self.table = table
        self.instance = instance
        self.terms = terms
        self.holder = holder or default_holder()
        self.mode = mode
        self.clock = clock
        self.monotonic = monotonic
        self.held = False
        self._deadline: float | None = None  # monotonic time until which this process may act
        self._sent: float | None = None  # monotonic time the last successful write was sent
        self._cap: float | None = None  # monotonic time by which every action must be over
        self._renewing = threading.Lock()  # lanes of several locations renew from threads
        self._renew_warned = False
        self._retry_renewal_at: float | None = None  # after a failed heartbeat, not before
        self.last: Leadership | None = None

    @property
    def key(self) -> dict[str, Any]:
        return {"pk": {"S": f"lease#{self.instance}"}, "sk": {"S": LEASE_SORT_KEY}}

    def _fail(self, what: str, exc: BaseException) -> LeaseError:
        return LeaseError(f"cannot {what} the lease of instance {self.instance} in the state "
                          f"table {self.table}: {error_code(exc)} ({error_message(exc)})")

    # -- reading ----------------------------------------------------------------------------
    def read(self) -> LeaseView | None:
        """The lease item (strongly consistent), or None if there is none."""
        try:
            item = self.client.get_item(TableName=self.table, Key=self.key,
                                        ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("read", exc) from None
        return view_of(item) if item else None

    def may_act(self) -> bool:
        """True while this process holds the lease and an UpdateTable started now ends a skew
        margin before the lease expires (and before the cap, see ``cap``)."""
        if not self.held or self._deadline is None:
            return False
        deadline = self._deadline
        if self._cap is not None:
            deadline = min(deadline, self._cap - self.terms.update_bound)
        return self.monotonic() < deadline

    def cap(self, until: float | None) -> None:
        """No action may still be running at monotonic time ``until`` (the Lambda's timeout
        less the time to save the state), whatever the lease allows; None: no cap."""
        self._cap = until

    def renewal_due(self) -> bool:
        """Held, and half the acting time since the last renewal is used: a mid-cycle
        heartbeat renews now, so a long cycle keeps acting to its last table."""
        if not self.held or self._sent is None:
            return False
        now = self.monotonic()
        if self._retry_renewal_at is not None and now < self._retry_renewal_at:
            return False
        return now - self._sent >= self.terms.acting_time / 2

    def heartbeat(self) -> bool:
        """Renew the lease if that is due (one conditional UpdateItem); then ``may_act()``.
        A renewal refused (another holder) ends this process's leadership; one that cannot
        be sent is logged once and the leader acts on until its deadline."""
        with self._renewing:
            if self.renewal_due():
                try:
                    renewed = self._write(renew=True)
                except LeaseError as exc:
                    if not self._renew_warned:
                        self._renew_warned = True
                        logger.warning("%s; acting on until the lease runs out", exc)
                    # Not again at every table: a quarter of the acting time later.
                    self._retry_renewal_at = self.monotonic() + self.terms.acting_time / 4
                    return self.may_act()
                if renewed is None:
                    self.held = False
                    self._deadline = None
                    logger.warning("Instance %s: the lease is held by another process now; "
                                   "not acting any more", self.instance)
                else:
                    self._renew_warned = False
                    self._retry_renewal_at = None
                    self._remember(renewed)
            return self.may_act()

    def forget(self) -> None:
        """The lease could not be read: what this process last saw of it is no guide."""
        self.last = None

    def seconds_until_expiry(self) -> float | None:
        """A follower's wait until the lease it last saw expires (by this host's clock); None
        when it saw none, leads, or its view has expired already (a stale view: the caller
        waits its usual time rather than looking again at once)."""
        if self.last is None or self.last.leader or self.last.expires_at is None:
            return None
        remaining = self.last.expires_at - self.clock()
        return remaining if remaining > 0 else None

    # -- claiming ---------------------------------------------------------------------------
    def claim(self) -> Leadership:
        """Renew the lease if this process holds it, else take it if it is free. Raises
        LeaseError if DynamoDB cannot be asked; a lost race is no error (a follower)."""
        if self.held:
            renewed = self._write(renew=True)
            if renewed is not None:
                return self._remember(renewed)
            self.held = False
            self._deadline = None
        view = self.read()
        now = self.clock()
        if view is not None and not view.expired(now) and view.holder != self.holder:
            return self._remember(Leadership(False, view.holder, view.expires_at, view.term))
        taken = self._write(renew=False)
        if taken is not None:
            return self._remember(taken)
        view = self.read()  # another process won the race a moment ago
        if view is None:
            return self._remember(Leadership(False, None, None))
        return self._remember(Leadership(False, view.holder, view.expires_at, view.term))

    def _remember(self, leadership: Leadership) -> Leadership:
        self.last = leadership
        return leadership

    def _write(self, renew: bool) -> Leadership | None:
        """One conditional UpdateItem; None if the condition failed."""
        sent = self.monotonic()
        now = self.clock()
        expires = now + self.terms.duration
        values: dict[str, Any] = {
            ":me": {"S": self.holder}, ":expires": {"N": repr(expires)},
            ":now": {"N": repr(now)}, ":mode": {"S": self.mode},
            ":ttl": {"N": str(int(now) + ITEM_TTL_SECONDS)},
        }
        names = {"#holder": "holder", "#expires": "expires_at", "#renewed": "renewed_at",
                 "#mode": "mode", "#ttl": "expires"}
        update = "SET #holder = :me, #expires = :expires, #renewed = :now, #mode = :mode, #ttl = :ttl"
        if renew:
            condition = "#holder = :me"
        else:
            condition = "attribute_not_exists(pk) OR #expires <= :now OR #holder = :me"
            update += ", #acquired = :now ADD #term :one"
            names.update({"#acquired": "acquired_at", "#term": "term"})
            values[":one"] = {"N": "1"}
        try:
            answer = self.client.update_item(
                TableName=self.table, Key=self.key, UpdateExpression=update,
                ConditionExpression=condition, ExpressionAttributeNames=names,
                ExpressionAttributeValues=values, ReturnValues="ALL_NEW")
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return None
            raise self._fail("renew" if renew else "take", exc) from None
        except BotoCoreError as exc:
            raise self._fail("renew" if renew else "take", exc) from None
        self.held = True
        self._sent = sent
        self._retry_renewal_at = None
        self._deadline = sent + self.terms.acting_time
        term = view_of(answer.get("Attributes", {})).term
        return Leadership(True, self.holder, expires, term, took_over=not renew)

    def release(self) -> bool:
        """End this process's lease at once (a clean stop), so a follower need not wait for
        it to expire. True if it was held and is now released."""
        if not self.held:
            return False
        self.held = False
        self._deadline = None
        try:
            self.client.update_item(
                TableName=self.table, Key=self.key, UpdateExpression="SET #expires = :zero",
                ConditionExpression="#holder = :me",
                ExpressionAttributeNames={"#expires": "expires_at", "#holder": "holder"},
                ExpressionAttributeValues={":zero": {"N": "0"}, ":me": {"S": self.holder}})
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                logger.warning("Cannot release the lease of instance %s: %s; it expires by "
                               "itself", self.instance, error_code(exc))
            return False
        except BotoCoreError as exc:
            logger.warning("Cannot release the lease of instance %s: %s; it expires by itself",
                           self.instance, error_code(exc))
            return False
        return True


def view_of(item: dict[str, Any]) -> LeaseView:
    """A lease item (DynamoDB's typed JSON) as a LeaseView; a malformed one counts as free."""
    def number(name: str) -> float | None:
        try:
            return float(item[name]["N"])
        except (KeyError, TypeError, ValueError):
            return None

    holder = item.get("holder", {}).get("S") if isinstance(item.get("holder"), dict) else None
    expires = number("expires_at")
    return LeaseView(holder=holder if expires else None, expires_at=expires or 0.0,
                     term=int(number("term") or 0),
                     mode=str(item.get("mode", {}).get("S", "")), renewed_at=number("renewed_at"))


class LeaseGate:
    """The engine's stop flag for a leader: set when the process is asked to stop, or when its
    acting time runs out (the lease could expire before the next renewal). Logs that once.
    Both ``is_set`` (between tables) and ``may_act`` (right before an UpdateTable) renew the
    lease mid-cycle when that is due (``Lease.heartbeat``)."""

    def __init__(self, stop: Any, lease: Lease):
        self._stop = stop
        self._lease = lease
        self._told = False

    def is_set(self) -> bool:
        if self._stop.is_set():
            return True
        if not self._lease.heartbeat():
            if not self._told:
                self._told = True
                terms = self._lease.terms
                logger.warning("The lease of instance %s runs out in under %g s (or is lost, "
                               "or the time allowed is up) and was not renewed in time; "
                               "stopping this cycle's actions so that another host can take "
                               "over safely", self._lease.instance,
                               terms.margin + terms.update_bound)
            return True
        return False

    def may_act(self) -> bool:
        """The engine's check right before an UpdateTable: the lease is held, renewed if that
        is due, and the call would end a skew margin before it expires. A stop request does
        not refuse it: the current table is finished."""
        return self._lease.heartbeat()

    def rearm(self) -> None:
        """A new cycle: warn again if it too runs out of time."""
        self._told = False

    def set(self) -> None:
        self._stop.set()

    def clear(self) -> None:
        self._stop.clear()
