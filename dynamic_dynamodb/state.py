"""State that outlives the process, so cron runs decide exactly as the daemon does.

It holds, per table and per ``table:gsi``: the down-scale counters, the last increase and
decrease this tool made, the decreases it made per UTC day, the last decrease DynamoDB
refused, and the day a budget notification was last sent; plus the time of the last
completed cycle. Writes are atomic
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
from dynamic_dynamodb.policy.budget import OwnRecord
from dynamic_dynamodb.policy.counters import Counters

logger = logging.getLogger(__name__)
VERSION = 1


def default_state_path(pid_file_dir: str, instance: str, dry_run: bool = False) -> str:
    """Where an instance keeps its state unless --state-file or [global] state-file says.

    A --dry-run gets its own file, so a preview never moves the counters of the real
    instance, and never waits for (or blocks) its lock.
    """
    suffix = ".dry-run" if dry_run else ""
    return os.path.join(os.path.abspath(pid_file_dir),
                        f"dynamic-dynamodb.{instance}{suffix}.state.json")


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


def _day(now: datetime) -> str:
    """The UTC calendar day, as stored in the file."""
    return now.astimezone(timezone.utc).date().isoformat()


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def validate(data: Any) -> dict[str, Any]:
    """The data of a state file, or ValueError saying what is wrong with it.

    Strict on purpose: anything this tool did not write is treated as corrupt, so a
    hand-edited or truncated file can never crash a cycle.
    """
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    if data.get("version", VERSION) != VERSION:
        raise ValueError(f"unknown state file version {data.get('version')!r}")
    resources = data.setdefault("resources", {})
    if not isinstance(resources, dict):
        raise ValueError("'resources' is not an object")
    if not isinstance(data.get("last_cycle", ""), str | None):
        raise ValueError("'last_cycle' is not a time")
    for key, record in resources.items():
        if not isinstance(record, dict):
            raise ValueError(f"the record of {key!r} is not an object")
        counters = record.get("counters", {})
        if not isinstance(counters, dict) or not all(map(_is_count, counters.values())):
            raise ValueError(f"the counters of {key!r} are not whole numbers")
        decreases = record.get("decreases", {})
        if not isinstance(decreases, dict) or not all(map(_is_count, decreases.values())):
            raise ValueError(f"the decrease counts of {key!r} are not whole numbers")
        for name in ("last_increase", "last_decrease", "budget_notified", "decrease_refused",
                     "next_decrease"):
            if not isinstance(record.get(name), str | None):
                raise ValueError(f"{name} of {key!r} is not a time")
    return data


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

    def own_record(self, key: str, now: datetime) -> OwnRecord:
        """What this tool remembers of a resource's changes; policy/budget.py merges it with
        DynamoDB's own figures (``merge_ledger``)."""
        record = self.data["resources"].get(key, {})
        return OwnRecord(
            decreases_today=int(record.get("decreases", {}).get(_day(now), 0)),
            last_decrease=_parse(record.get("last_decrease")),
            last_increase=_parse(record.get("last_increase")),
            decrease_refused=_parse(record.get("decrease_refused")),
            next_decrease=_parse(record.get("next_decrease")),
        )

    def record_decrease_refused(self, key: str, now: datetime,
                                next_decrease: datetime | None = None) -> None:
        """DynamoDB refused a decrease for its quota, and said when the next one can be made
        (``next_decrease``), or did not say in words we could read (None)."""
        record = self._resource(key)
        record["decrease_refused"] = _iso(now)
        record["next_decrease"] = _iso(next_decrease)

    def record_update(self, key: str, now: datetime, increased: bool, decreased: bool) -> None:
        record = self._resource(key)
        if increased:
            record["last_increase"] = _iso(now)
        if decreased:
            record["last_decrease"] = _iso(now)
            today = _day(now)
            record["decreases"] = {today: int(record.get("decreases", {}).get(today, 0)) + 1}

    def budget_notified_today(self, key: str, now: datetime) -> bool:
        return self.data["resources"].get(key, {}).get("budget_notified") == _day(now)

    def mark_budget_notified(self, key: str, now: datetime) -> None:
        self._resource(key)["budget_notified"] = _day(now)

    def prune(self, existing: set[str]) -> list[str]:
        """Forget resources that no longer exist; returns the forgotten keys."""
        gone = [key for key in self.data["resources"] if key not in existing]
        for key in gone:
            del self.data["resources"][key]
        return gone

    def finish_cycle(self, now: datetime) -> None:
        self.data["last_cycle"] = _iso(now)


class StateStore:
    """The state file of one instance, and the lock that serialises cycles using it.

    Nothing here ever stops scaling: a file that cannot be read is a fresh start, one that
    cannot be written keeps this cycle's counters in memory only, and a lock that cannot be
    created lets the cycle run unlocked. Each such problem is logged once per process. Only
    a lock held by another process stops a cycle (StateError), before any AWS call.
    """

    def __init__(self, path: str):
        self.path = os.path.abspath(os.path.expanduser(path))
        self.lock_path = self.path + ".lock"
        self._reported: set[str] = set()

    def _report(self, level: int, kind: str, message: str, *args: Any) -> None:
        """Log a problem with the file loudly the first time, quietly after that."""
        logger.log(level if kind not in self._reported else logging.DEBUG, message, *args)
        self._reported.add(kind)

    def _open_lock(self) -> int | None:
        with contextlib.suppress(OSError):  # if this fails, opening the lock says why
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
        try:
            return os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            error = exc
        try:  # flock works on a read-only descriptor too: an existing lock file still serialises
            return os.open(self.lock_path, os.O_RDONLY)
        except OSError:
            pass
        self._report(logging.ERROR, "lock",
                     "Cannot create the state lock %s (%s); running without a lock, and the "
                     "counters and decrease ledger may not persist between runs",
                     self.lock_path, error.strerror or error)
        return None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the exclusive lock for the block; StateError at once if another process has it."""
        handle = self._open_lock()
        if handle is None:
            yield
            return
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StateError(
                    f"another dynamic-dynamodb process holds the state lock {self.lock_path}; "
                    "not touching AWS this time. Is a previous --run-once still going, or a "
                    "daemon using the same state file (see --state-file and --instance)?"
                ) from None
            except OSError as exc:  # e.g. a file system without flock support
                self._report(logging.ERROR, "flock", "Cannot lock %s (%s); running without a "
                             "lock", self.lock_path, exc.strerror or exc)
            yield
        finally:
            os.close(handle)

    def load(self, read_only: bool = False) -> State:
        """A missing file is a fresh start; a corrupt or unreadable one is moved aside.

        ``read_only`` (a dry run reading the real instance's state) never moves anything.
        """
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = validate(json.load(handle))
        except FileNotFoundError:
            return State()
        except (NotADirectoryError, IsADirectoryError) as exc:
            self._report(logging.WARNING, "read", "Cannot read state file %s (%s); starting "
                         "fresh", self.path, exc.strerror)
            return State()
        except (ValueError, RecursionError, OSError) as exc:
            problem = exc.strerror if isinstance(exc, OSError) else exc
            if read_only:
                self._report(logging.WARNING, "read", "Cannot use state file %s (%s); the dry "
                             "run starts fresh", self.path, problem or type(exc).__name__)
            else:
                self._move_aside(str(problem or type(exc).__name__))
            return State()
        self._reported.discard("read")
        return State(data)

    def _move_aside(self, problem: str) -> None:
        aside = self.path + ".corrupt"
        try:
            os.replace(self.path, aside)
        except OSError as exc:
            self._report(logging.WARNING, "read", "State file %s is unusable (%s) and cannot be "
                         "moved aside (%s); starting fresh", self.path, problem, exc.strerror)
            return
        logger.warning("State file %s is corrupt or unreadable (%s); moved it to %s and "
                       "starting fresh", self.path, problem, aside)

    def save(self, state: State) -> None:
        """Atomic write (temp file, fsync, rename), mode 0600. A failure never stops scaling."""
        directory = os.path.dirname(self.path)
        try:
            fd, temp = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    os.fchmod(handle.fileno(), 0o600)
                    json.dump(state.data, handle, indent=1, sort_keys=True)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError as exc:
            self._report(logging.ERROR, "write", "Cannot write state file %s (%s); the "
                         "counters of this cycle are kept in memory only", self.path,
                         exc.strerror or exc)
            return
        self._reported.discard("write")
        with contextlib.suppress(OSError):  # make the rename itself durable
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
