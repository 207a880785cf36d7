"""State that outlives the process, so cron runs decide exactly as the daemon does.

It holds, per table and per ``table:gsi``: the down-scale counters, the last increase and
decrease this tool made, the decreases it made per UTC day, and the day a budget
notification was last sent; plus the time of the last completed cycle. Writes are atomic
(temp file, fsync, rename) with mode 0600. A sibling ``.lock`` file is flocked for a whole
cycle so two processes never act on the same state at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from dynamic_dynamodb.errors import StateError
from dynamic_dynamodb.policy.budget import DecreaseLedger
from dynamic_dynamodb.policy.decide import Counters

logger = logging.getLogger(__name__)
VERSION = 1


def default_state_path(pid_file_dir: str, instance: str) -> str:
    return os.path.join(os.path.abspath(pid_file_dir), f"dynamic-dynamodb.{instance}.state.json")


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).isoformat() if moment else None


def _parse(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _latest(*moments: datetime | None) -> datetime | None:
    known = [moment for moment in moments if moment is not None]
    return max(known) if known else None


class State:
    """The in-memory state of one instance. Plain data; StateStore reads and writes it."""

    def __init__(self, data: dict[str, Any] | None = None):
        self.data: dict[str, Any] = data or {"version": VERSION, "resources": {}}
        self.data.setdefault("resources", {})

    def _resource(self, key: str) -> dict[str, Any]:
        return self.data["resources"].setdefault(key, {})

    def counters(self, key: str) -> Counters:
        counters = self.data["resources"].get(key, {}).get("counters", {})
        return Counters(int(counters.get("reads", 0)), int(counters.get("writes", 0)))

    def set_counters(self, key: str, counters: Counters) -> None:
        self._resource(key)["counters"] = {"reads": counters.reads, "writes": counters.writes}

    def ledger(
        self,
        key: str,
        now: datetime,
        decreases_today: int | None = None,
        last_decrease: datetime | None = None,
        last_increase: datetime | None = None,
    ) -> DecreaseLedger:
        """DynamoDB's own figures where it gave them, otherwise this tool's record."""
        record = self.data["resources"].get(key, {})
        own_today = int(record.get("decreases", {}).get(now.astimezone(timezone.utc).date()
                                                       .isoformat(), 0))
        return DecreaseLedger(
            decreases_today=own_today if decreases_today is None else int(decreases_today),
            last_decrease=_latest(last_decrease, _parse(record.get("last_decrease"))),
            last_increase=_latest(last_increase, _parse(record.get("last_increase"))),
        )

    def record_update(self, key: str, now: datetime, increased: bool, decreased: bool) -> None:
        record = self._resource(key)
        if increased:
            record["last_increase"] = _iso(now)
        if decreased:
            record["last_decrease"] = _iso(now)
            today = now.astimezone(timezone.utc).date().isoformat()
            record["decreases"] = {today: int(record.get("decreases", {}).get(today, 0)) + 1}

    def budget_notified_today(self, key: str, now: datetime) -> bool:
        today = now.astimezone(timezone.utc).date().isoformat()
        return self.data["resources"].get(key, {}).get("budget_notified") == today

    def mark_budget_notified(self, key: str, now: datetime) -> None:
        self._resource(key)["budget_notified"] = now.astimezone(timezone.utc).date().isoformat()

    def prune(self, existing: set[str]) -> list[str]:
        """Forget resources that no longer exist; returns the forgotten keys."""
        gone = [key for key in self.data["resources"] if key not in existing]
        for key in gone:
            del self.data["resources"][key]
        return gone

    def finish_cycle(self, now: datetime) -> None:
        self.data["last_cycle"] = _iso(now)


class StateStore:
    def __init__(self, path: str):
        self.path = os.path.abspath(os.path.expanduser(path))
        self.lock_path = self.path + ".lock"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the exclusive lock; raises StateError at once if another process has it."""
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            handle = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            # Never block scaling on the state file: run unlocked and say so loudly.
            logger.error("Cannot open state lock %s (%s); running this cycle without a lock, and "
                         "counters may not persist", self.lock_path, exc.strerror)
            yield
            return
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StateError(
                    f"another dynamic-dynamodb process holds {self.lock_path}; not touching AWS. "
                    "Is a previous run still going, or a daemon using the same state file?"
                ) from None
            yield
        finally:
            os.close(handle)

    def load(self) -> State:
        """A missing file is a fresh start; a corrupt one is moved aside with one warning."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
            if not isinstance(data, dict) or not isinstance(data.get("resources", {}), dict):
                raise ValueError("not a dynamic-dynamodb state object")
            return State(data)
        except FileNotFoundError:
            return State()
        except (ValueError, UnicodeDecodeError) as exc:
            aside = self.path + ".corrupt"
            with contextlib.suppress(OSError):
                os.replace(self.path, aside)
            logger.warning("State file %s is corrupt (%s); moved it to %s and starting fresh",
                           self.path, exc, aside)
            return State()
        except OSError as exc:
            logger.warning("Cannot read state file %s (%s); starting fresh", self.path,
                           exc.strerror)
            return State()

    def save(self, state: State) -> None:
        """Atomic write. A failure is logged and never stops scaling."""
        directory = os.path.dirname(self.path)
        try:
            fd, temp = tempfile.mkstemp(prefix=".state-", dir=directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(state.data, handle, indent=1, sort_keys=True)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(temp, 0o600)
                os.replace(temp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError as exc:
            logger.error("Cannot write state file %s (%s); counters of this cycle are kept in "
                         "memory only", self.path, exc.strerror)
