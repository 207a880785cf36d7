"""State that outlives the process, so cron runs decide exactly as the daemon does.

It holds, per AWS account and region (and endpoint, when a custom one is used), per table
and per ``table:gsi``: the down-scale counters, the last increase and decrease this tool
made, the decreases it made per UTC day, the last decrease DynamoDB refused, the day a
budget notification was last sent, and since when the table has been missing from the
listing; plus the time of the last completed cycle. The file::

    {"version": 2,
     "accounts": {"123456789012/us-east-1": {"resources": {"orders": {...}},
                                             "last_cycle": "..."}}}

A version 1 file (one flat ``resources``) is moved under the account and region of the first
run that loads it. Writes are atomic (a new temp file in the same directory, fsync, rename)
with mode 0600, never through a link (paths.py). A sibling ``.lock`` file is flocked for a
whole cycle so two processes never act on the same state at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import logging
import os
import re
import stat
import tempfile
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

from dynamic_dynamodb import paths
from dynamic_dynamodb.aws.errors import error_code, error_message
from dynamic_dynamodb.errors import ConfigError, StateError
from dynamic_dynamodb.policy.budget import OwnRecord
from dynamic_dynamodb.policy.counters import Counters, LowDemand

logger = logging.getLogger(__name__)
VERSION = 2
UNKNOWN_ACCOUNT = "unknown-account"
DEFAULT_SCOPE = f"{UNKNOWN_ACCOUNT}/unknown-region"
# A table absent from ListTables this long is forgotten (DescribeTable's
# ResourceNotFoundException forgets it at once).
MISSING_GRACE = timedelta(days=1)
_AWS_DOMAINS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")
_TIMES = ("last_increase", "last_decrease", "budget_notified", "decrease_refused",
          "next_decrease", "missing_since", "quiet_until", "quiet_capacity",
          "history_retry_at")


class StateLockedError(StateError):
    """Another process holds the state lock: nothing was done."""


class StateUnreadableError(StateError):
    """The state file is there but cannot be read; it is left as it is."""


class StateWriteError(StateError):
    """The state could not be saved; the message is one line."""


def default_state_path(pid_file_dir: str | None, instance: str, dry_run: bool = False) -> str:
    """Where an instance keeps its state unless --state-file or [global] state-file says:
    beside the pid file when --pid-file-dir is given, else in paths.state_dir().

    A --dry-run gets its own file, so a preview never moves the counters of the real
    instance, and never waits for (or blocks) its lock.
    """
    suffix = ".dry-run" if dry_run else ""
    directory = pid_file_dir if pid_file_dir else paths.state_dir()
    return paths.instance_file(directory, instance, f"{suffix}.state.json")


def scope_key(account: str, region: str, endpoint: str | None = None) -> str:
    """``<account>/<region>``, plus ``@<endpoint>`` for an endpoint that is not AWS's own
    (AWS_ENDPOINT_URL, a local DynamoDB): runs against different places never share entries."""
    key = f"{account}/{region}"
    if endpoint:
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        if host and not host.endswith(_AWS_DOMAINS):
            port = f":{parts.port}" if parts.port else ""
            key += f"@{parts.scheme}://{host}{port}{parts.path.rstrip('/')}"
    return key


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).isoformat() if moment else None


def _parse(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    return _parse_text(text)


@functools.lru_cache(maxsize=4096)
def _parse_text(text: str) -> datetime | None:
    """Cached: every check reads the same few stored times again (datetimes are immutable)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


_NO_RECORD = OwnRecord()
_NO_COUNTERS = Counters()


@functools.lru_cache(maxsize=4096)
def _own_record(decreases_today: int, last_decrease: Any, last_increase: Any,
                decrease_refused: Any, next_decrease: Any) -> OwnRecord:
    """The stored figures (times as stored: ISO text) as an OwnRecord. Cached: every check
    of a table reads the same stored figures again."""
    return OwnRecord(decreases_today, _parse(last_decrease), _parse(last_increase),
                     _parse(decrease_refused), _parse(next_decrease))


@functools.lru_cache(maxsize=256)
def _day(now: datetime) -> str:
    """The UTC calendar day, as stored in the file. Cached: a check asks it for the same
    ``now`` for every table and GSI."""
    return now.astimezone(timezone.utc).date().isoformat()


def _low_demand(counters: dict[str, Any], name: str) -> LowDemand | None:
    since, peak = counters.get(f"{name}_low_since"), counters.get(f"{name}_low_peak")
    if since is None or peak is None:
        return None
    bucket = counters.get(f"{name}_low_bucket", since)
    return LowDemand(datetime.fromtimestamp(int(since), timezone.utc), int(peak),
                     datetime.fromtimestamp(int(bucket), timezone.utc),
                     int(counters.get(f"{name}_low_previous_peak", 0)))


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def validate_entry(entry: Any, where: str = "") -> dict[str, Any]:
    """One account/region's data (or a version 1 file), or ValueError saying what is wrong.

    Strict on purpose: anything this tool did not write is treated as corrupt, so a
    hand-edited or truncated file can never crash a cycle.
    """
    if not isinstance(entry, dict):
        raise ValueError(f"{where}not a JSON object")
    resources = entry.setdefault("resources", {})
    if not isinstance(resources, dict):
        raise ValueError(f"{where}'resources' is not an object")
    if not isinstance(entry.get("last_cycle", ""), str | None):
        raise ValueError(f"{where}'last_cycle' is not a time")
    for key, record in resources.items():
        if not isinstance(record, dict):
            raise ValueError(f"{where}the record of {key!r} is not an object")
        counters = record.get("counters", {})
        if not isinstance(counters, dict) or not all(map(_is_count, counters.values())):
            raise ValueError(f"{where}the counters of {key!r} are not whole numbers")
        decreases = record.get("decreases", {})
        if not isinstance(decreases, dict) or not all(map(_is_count, decreases.values())):
            raise ValueError(f"{where}the decrease counts of {key!r} are not whole numbers")
        for name in _TIMES:
            if not isinstance(record.get(name), str | None):
                raise ValueError(f"{where}{name} of {key!r} is not a time")
    return entry


def validate(data: Any, scope: str = DEFAULT_SCOPE) -> tuple[dict[str, Any], bool]:
    """The document of a state file in the current version, and whether it was upgraded
    (a version 1 file becomes the entry of ``scope``). ValueError if it is not valid state."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    version = data.get("version", 1)
    if type(version) is not int or version not in (1, VERSION):
        raise ValueError(f"unknown state file version {version!r}")
    if version == 1:
        entry = validate_entry(data)
        upgraded = {"resources": entry["resources"]}
        if entry.get("last_cycle") is not None:
            upgraded["last_cycle"] = entry["last_cycle"]
        return {"version": VERSION, "accounts": {scope: upgraded}}, True
    accounts = data.setdefault("accounts", {})
    if not isinstance(accounts, dict):
        raise ValueError("'accounts' is not an object")
    for name, entry in accounts.items():
        validate_entry(entry, f"{name}: ")
    return data, False


class State:
    """The in-memory state of one account and region (``scope``). Plain data: StateStore
    reads and writes it, within the file that also holds the other scopes."""

    def __init__(self, data: dict[str, Any] | None = None, scope: str = DEFAULT_SCOPE):
        self.data: dict[str, Any] = data if data is not None else {"resources": {}}
        self.data.setdefault("resources", {})
        self.scope = scope
        # Every check reads and writes the counters; most checks leave them as they were.
        # key -> (the stored dict, its Counters): read from it / written as it. A stored
        # dict is never changed in place (set_counters puts a new one), so while the same
        # dict object is in the record, the cached value is what it holds.
        self._read: dict[str, tuple[dict[str, Any], Counters]] = {}
        self._written: dict[str, tuple[dict[str, Any], Counters]] = {}

    def _resource(self, key: str) -> dict[str, Any]:
        return self.data["resources"].setdefault(key, {})

    def counters(self, key: str) -> Counters:
        record = self.data["resources"].get(key)
        counters = record.get("counters") if record else None
        if not counters:
            return _NO_COUNTERS
        known = self._read.get(key)
        if known is not None and known[0] is counters:
            return known[1]
        value = Counters(int(counters.get("reads", 0)), int(counters.get("writes", 0)),
                         _low_demand(counters, "reads"), _low_demand(counters, "writes"))
        self._read[key] = (counters, value)
        return value

    def set_counters(self, key: str, counters: Counters) -> None:
        written = self._written.get(key)
        if written is not None and written[1] == counters:
            record = self.data["resources"].get(key)
            if record is not None and record.get("counters") is written[0]:
                return  # the very dict this would write is there
        stored = {"reads": counters.reads, "writes": counters.writes}
        # Target mode's stretch of low demand, as whole numbers like the counters.
        for name, low in (("reads", counters.reads_low), ("writes", counters.writes_low)):
            if low is not None:
                stored[f"{name}_low_since"] = int(low.since.timestamp())
                stored[f"{name}_low_peak"] = low.peak
                stored[f"{name}_low_bucket"] = int((low.bucket_since or low.since).timestamp())
                stored[f"{name}_low_previous_peak"] = low.previous_peak
        self._resource(key)["counters"] = stored
        self._written[key] = (stored, counters)

    def demand_history(self, key: str) -> dict[str, Any] | None:
        """predictive-scaling's cached demand history (history.py reads and checks it)."""
        cached = self.data["resources"].get(key, {}).get("demand_history")
        return cached if isinstance(cached, dict) else None

    def set_demand_history(self, key: str, cached: dict[str, Any]) -> None:
        self._resource(key)["demand_history"] = cached

    def history_retry_at(self, key: str) -> datetime | None:
        """When predictive-scaling may try its failed history fetch again (None: now)."""
        return _parse(self.data["resources"].get(key, {}).get("history_retry_at"))

    def set_history_retry_at(self, key: str, when: datetime | None) -> None:
        """Do not fetch the history again before ``when``; None: no failure pending."""
        if when is None:
            record = self.data["resources"].get(key)
            if record:
                record.pop("history_retry_at", None)
            return
        self._resource(key)["history_retry_at"] = _iso(when)

    def own_record(self, key: str, now: datetime) -> OwnRecord:
        """What this tool remembers of a resource's changes; policy/budget.py merges it with
        DynamoDB's own figures (``merge_ledger``)."""
        record = self.data["resources"].get(key)
        if not record:
            return _NO_RECORD
        get = record.get
        decreases = get("decreases")
        values = (int(decreases.get(_day(now), 0)) if decreases else 0, get("last_decrease"),
                  get("last_increase"), get("decrease_refused"), get("next_decrease"))
        try:
            return _own_record(*values)
        except TypeError:  # not hashable: not a time either (load() refuses such a file)
            return _own_record.__wrapped__(*values)

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

    def prune(self, listed: set[str], described: dict[str, set[str]], not_found: set[str],
              now: datetime) -> list[tuple[str, str]]:
        """Forget what DynamoDB says no longer exists; returns (key, why) of what was forgotten.

        ``listed``: the tables of this cycle's ListTables; ``described``: table → its GSIs,
        for the tables described this cycle; ``not_found``: tables whose DescribeTable said
        ResourceNotFoundException. A table (and its GSIs) is forgotten when DynamoDB says it
        does not exist, or when it has been absent from every listing for MISSING_GRACE; a
        GSI when its table's description no longer has it. One listing without a table (a
        run with another config, say) only starts its ``missing_since``.
        """
        forgotten: list[tuple[str, str]] = []
        for key in list(self.data["resources"]):
            record = self.data["resources"][key]
            table, _, gsi = key.partition(":")
            why = None
            if table in not_found:
                why = "DynamoDB says the table does not exist"
            elif table not in listed:
                since = _parse(record.get("missing_since"))
                if since is None:
                    record["missing_since"] = _iso(now)
                elif now - since >= MISSING_GRACE:
                    why = f"the table has not been listed since {_iso(since)}"
            else:
                record.pop("missing_since", None)
                if gsi and table in described and gsi not in described[table]:
                    why = "DynamoDB says the table has no such GSI"
            if why is not None:
                del self.data["resources"][key]
                forgotten.append((key, why))
        return forgotten

    def failure_streaks(self) -> dict[tuple[str, str, str], int]:
        """(resource key, action, error code) -> cycles in a row it has failed that way, as
        left by the last cycle (so a streak counts across --run-once runs from cron)."""
        streaks: dict[tuple[str, str, str], int] = {}
        for key, record in self.data["resources"].items():
            for cause, count in (record.get("failing") or {}).items():
                action, _, code = cause.partition("|")
                if _is_count(count) and code:
                    streaks[(key, action, code)] = count
        return streaks

    def set_failure_streaks(self, streaks: dict[tuple[str, str, str], int]) -> None:
        """Replace the failure streaks: a resource not failing any more forgets its own."""
        for record in self.data["resources"].values():
            record.pop("failing", None)
        for (key, action, code), count in streaks.items():
            self._resource(key).setdefault("failing", {})[f"{action}|{code}"] = count

    def quiet_until(self, key: str) -> tuple[datetime | None, str | None]:
        """Until when a quiet table or GSI may go unchecked (quiet-check-interval), and its
        capacity ("reads/writes") when that was decided; (None, None) when it is due."""
        record = self.data["resources"].get(key)
        if not record or "quiet_until" not in record:
            return None, None
        capacity = record.get("quiet_capacity")
        return _parse(record.get("quiet_until")), capacity if isinstance(capacity, str) else None

    def set_quiet_until(self, key: str, until: datetime | None,
                        capacity: str | None = None) -> None:
        """Leave the resource out of the checks before ``until`` while its capacity is still
        ``capacity``; None: check it every cycle again."""
        if until is None:
            record = self.data["resources"].get(key)
            if record and "quiet_until" in record:
                del record["quiet_until"]
                record.pop("quiet_capacity", None)
            return
        record = self._resource(key)
        record["quiet_until"] = _iso(until)
        record["quiet_capacity"] = capacity

    def finish_cycle(self, now: datetime) -> None:
        self.data["last_cycle"] = _iso(now)


class StateStore:
    """The state file of one instance, and the lock that serialises cycles using it.

    What it refuses (UnsafeFileError, StateUnreadableError) or cannot do (StateWriteError)
    is raised with a one-line message; the runner decides what that means for the run. A
    lock that cannot be created lets the cycle run unlocked (logged once per process); a
    lock held by another process stops a cycle (StateLockedError) before any AWS call.
    """

    def __init__(self, path: str):
        self.path = os.path.abspath(os.path.expanduser(path))
        self.lock_path = self.path + ".lock"
        self.directory = os.path.dirname(self.path)
        self._document: dict[str, Any] | None = None  # the whole file, as last loaded
        self._reported: set[str] = set()

    @property
    def where(self) -> str:
        return f"state file {self.path}"

    def _report(self, level: int, kind: str, message: str, *args: Any) -> None:
        """Log a problem with the file loudly the first time, quietly after that."""
        logger.log(level if kind not in self._reported else logging.DEBUG, message, *args)
        self._reported.add(kind)

    def _make_directory(self) -> None:
        """Create the directory (0700) if needed; refuse one not to be trusted. A directory
        that cannot be created is reported by whatever then fails in it."""
        with contextlib.suppress(OSError):
            paths.make_directory(self.directory, "the state directory")

    def preflight(self) -> None:
        """Before a service starts, refuse what its cycles would refuse: an untrusted
        directory, lock or state file, or a state file that cannot be read. The content is
        judged by the first cycle (a corrupt file is moved aside there)."""
        self._make_directory()
        paths.check_file(self.lock_path, "the state lock")
        self._read_bytes()

    def _open_lock(self) -> int | None:
        self._make_directory()
        try:
            return paths.open_file(self.lock_path, os.O_RDWR | os.O_CREAT, "the state lock")
        except OSError as exc:
            error = exc
        try:  # flock works on a read-only descriptor too: an existing lock file still serialises
            return paths.open_file(self.lock_path, os.O_RDONLY, "the state lock")
        except OSError:
            pass
        self._report(logging.ERROR, "lock",
                     "Cannot create the state lock %s (%s); running without a lock, and the "
                     "counters and decrease ledger may not persist between runs",
                     self.lock_path, error.strerror or error)
        return None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the exclusive lock for the block; StateLockedError at once if another process
        has it, UnsafeFileError if the directory or the lock file is not to be trusted."""
        handle = self._open_lock()
        if handle is None:
            yield
            return
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StateLockedError(
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

    def _unreadable(self, why: str) -> StateUnreadableError:
        return StateUnreadableError(
            f"cannot read the state file {self.path} ({why}); it is left as it is: make it "
            "readable or remove it (its counters and decrease record are then lost)")

    def _read_bytes(self) -> bytes | None:
        """The file's content; None if there is no file. Never follows a link."""
        try:
            fd = paths.open_file(self.path, os.O_RDONLY, "the state file")
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise self._unreadable(exc.strerror or str(exc)) from None
        try:
            kind = os.fstat(fd).st_mode
            if not stat.S_ISREG(kind):
                what = "a directory" if stat.S_ISDIR(kind) else "not a regular file"
                raise self._unreadable(f"it is {what}")
            chunks = []
            while chunk := os.read(fd, 1 << 16):
                chunks.append(chunk)
            return b"".join(chunks)
        except OSError as exc:
            raise self._unreadable(exc.strerror or str(exc)) from None
        finally:
            os.close(fd)

    def load(self, scope: str = DEFAULT_SCOPE, read_only: bool = False) -> State:
        """The state of ``scope``. A missing file is a fresh start; one that was read but is
        not valid state is moved to ``*.corrupt``. One that cannot be read, or is not to be
        trusted, raises (StateUnreadableError, UnsafeFileError) and is left alone.

        ``read_only`` (a dry run reading the real instance's state) never moves anything, and
        starts fresh with a warning where a real run would stop.
        """
        self._document = None
        try:
            content = self._read_bytes()
        except (StateUnreadableError, paths.UnsafeFileError) as exc:
            if not read_only:
                raise
            self._report(logging.WARNING, "read", "%s; the dry run starts fresh", exc)
            return State(scope=scope)
        if content is None:
            self._document = {"version": VERSION, "accounts": {}}
            return self._entry(scope)
        try:
            document, upgraded = validate(json.loads(content.decode("utf-8")), scope)
        except (ValueError, RecursionError) as exc:
            if read_only:
                self._report(logging.WARNING, "read", "Cannot use state file %s (%s); the dry "
                             "run starts fresh", self.path, exc or type(exc).__name__)
                return State(scope=scope)
            self._move_aside(str(exc or type(exc).__name__))
            self._document = {"version": VERSION, "accounts": {}}
            return self._entry(scope)
        if upgraded and not read_only:
            logger.info("State file %s is in the version 1 format; its entries now belong to "
                        "%s", self.path, scope)
        self._reported.discard("read")
        self._document = document
        return self._entry(scope)

    def _entry(self, scope: str) -> State:
        assert self._document is not None
        return State(self._document["accounts"].setdefault(scope, {"resources": {}}), scope)

    def _move_aside(self, problem: str) -> None:
        aside = self.path + ".corrupt"
        try:
            os.replace(self.path, aside)  # renames the file itself; a link at aside is replaced
        except OSError as exc:
            self._report(logging.WARNING, "read", "State file %s is unusable (%s) and cannot be "
                         "moved aside (%s); starting fresh", self.path, problem, exc.strerror)
            return
        logger.warning("State file %s is corrupt (%s); moved it to %s and starting fresh",
                       self.path, problem, aside)

    def _current_document(self) -> dict[str, Any]:
        """The document to save into: as loaded, else what is in the file now (so a save
        without a load never drops other accounts' entries), else a new one."""
        if self._document is not None:
            return self._document
        with contextlib.suppress(Exception):
            content = self._read_bytes()
            if content is not None:
                return validate(json.loads(content.decode("utf-8")))[0]
        return {"version": VERSION, "accounts": {}}

    def save(self, state: State) -> None:
        """Atomic write: a new temp file (O_EXCL, O_NOFOLLOW, 0600) in the same directory,
        fsync, rename over the file (a rename replaces a link itself, never its target).
        StateWriteError, one line, if it cannot be done; the old file is then left whole."""
        document = self._current_document()
        document["version"] = VERSION
        document.setdefault("accounts", {})[state.scope] = state.data
        self._document = document
        try:
            paths.make_directory(self.directory, "the state directory")
            paths.check_file(self.path, "the state file")
            fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(self.path)}.",
                                        suffix=".tmp", dir=self.directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    os.fchmod(handle.fileno(), 0o600)
                    json.dump(document, handle, indent=1, sort_keys=True)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except paths.UnsafeFileError as exc:
            raise StateWriteError(f"cannot write the state file: {exc}") from None
        except OSError as exc:
            raise StateWriteError(f"cannot write the state file {self.path} "
                                  f"({exc.strerror or exc})") from None
        with contextlib.suppress(OSError):  # make the rename itself durable
            dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


# -- one interface, two stores ---------------------------------------------------------------
class Store(Protocol):
    """Where the state outlives the process: the state file (StateStore) or a DynamoDB
    table (TableStore). The runner uses only this."""

    @property
    def where(self) -> str:
        """"state file PATH" or "state table NAME", for log lines."""
        ...

    def preflight(self) -> None: ...

    def locked(self) -> contextlib.AbstractContextManager[None]: ...

    def load(self, scope: str = DEFAULT_SCOPE, read_only: bool = False) -> State: ...

    def save(self, state: State) -> None: ...


# -- the state table -------------------------------------------------------------------------
# One item per instance, scope and resource: pk "state#<instance>#<scope>", sk the resource
# key ("orders", "orders:by_customer"); "record" is the resource's JSON (as in the file),
# "version" counts its writes (every write is conditional on it), "expires" is the TTL.
# The lease (lease.py) is one more item in the same table. No item holds "last_cycle": that
# would cost a write every cycle; the lease item's renewed_at says when a cycle last ran.
# predictive-scaling's demand history of a resource (tens of thousands of numbers, refreshed
# once a day) is an item of its own, sk "<key>#history", its JSON zlib-compressed in
# "history": the resource's item stays small, and is rewritten without it. The state file
# keeps the history inside the resource's record.
STATE_TABLE_KEY = (("pk", "HASH"), ("sk", "RANGE"))
TTL_ATTRIBUTE = "expires"
ITEM_TTL = timedelta(days=7)  # a resource nobody wrote for a week is deleted by DynamoDB
TTL_REFRESH = timedelta(days=1)  # an unchanged item is rewritten once a day to keep it alive
MERGE_ATTEMPTS = 5
USABLE_STATUSES = ("ACTIVE", "UPDATING")  # reads and writes work in both
HISTORY_SUFFIX = "#history"  # table and index names cannot contain "#"
HISTORY_FIELD = "demand_history"  # where State keeps it in a resource's record
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_LATEST_WINS = ("last_increase", "last_decrease", "decrease_refused", "next_decrease",
                "budget_notified")


def merge_record(base: dict[str, Any] | None, ours: dict[str, Any],
                 theirs: dict[str, Any]) -> dict[str, Any]:
    """Three-way merge of one resource's record: ``base`` as this process loaded it, ``ours``
    as it is now, ``theirs`` as another writer saved it meanwhile.

    What this process did not change is taken from theirs; what it changed wins, except that
    times take the later of both (so a decrease either made is never forgotten) and the
    decreases of the day add up (each writer's own decreases count once).
    """
    base = base or {}
    merged = dict(theirs)
    for name in set(ours) | set(base):
        if name == "decreases" or ours.get(name) == base.get(name):
            continue
        if name in _LATEST_WINS and isinstance(theirs.get(name), str) and ours.get(name):
            merged[name] = max(str(ours[name]), str(theirs[name]))
        elif name in ours:
            merged[name] = ours[name]
        else:
            merged.pop(name, None)
    mine, before = ours.get("decreases", {}), base.get("decreases", {})
    if mine != before:
        days = {**theirs.get("decreases", {})}
        for day, count in mine.items():
            days[day] = int(days.get(day, 0)) + max(0, int(count) - int(before.get(day, 0)))
        latest = max(days) if days else None
        merged["decreases"] = {latest: days[latest]} if latest else {}
    return merged


class StateTableError(StateError):
    """The state table cannot be used; one line naming [global] state-table and the table."""


class TableStore:
    """The state of one instance in a DynamoDB table (``[global] state-table``).

    One item per scope and resource, each written only when it changed (or once a day, to
    move its TTL), with a condition on the version this process read: when another writer
    got there first, the item is read again, merged (``merge_record``) and written on top of
    the new version. ``locked()`` serialises nothing: across hosts the lease (lease.py)
    decides who writes. ``client`` is a boto3 DynamoDB client.
    """

    def __init__(self, client: Any, table: str, instance: str, *,
                 config_path: str | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        if not _TABLE_NAME.match(table):
            raise ConfigError(config_path, "global", "state-table",
                              f"{table!r} is not a DynamoDB table name (3-255 letters, digits, "
                              "'_', '-' and '.')")
        self.client = client
        self.table = table
        self.instance = instance
        self.config_path = config_path
        self.clock = clock
        # Per scope, per resource: the version, record and TTL as last read or written.
        self._loaded: dict[str, dict[str, tuple[int, dict[str, Any] | None, int]]] = {}
        # Per scope, per resource: its demand history item's TTL and content, as last read
        # or written (the very object handed to State, so an unchanged one costs no compare).
        self._histories: dict[str, dict[str, tuple[int, Any]]] = {}
        self._reported: set[str] = set()

    @property
    def where(self) -> str:
        return f"state table {self.table}"

    def partition(self, scope: str) -> str:
        return f"state#{self.instance}#{scope}"

    def _error(self, message: str) -> StateTableError:
        where = f"{self.config_path}: " if self.config_path else ""
        return StateTableError(f"{where}[global] state-table: {message}")

    def _aws(self, what: str, exc: BaseException) -> StateTableError:
        code = error_code(exc)
        if code == "ResourceNotFoundException":
            return self._error(f"the table {self.table} does not exist (create it with "
                               "--create-state-table)")
        return self._error(f"cannot {what} the table {self.table}: {code} "
                           f"({error_message(exc)})")

    def preflight(self) -> None:
        """A missing table, one with another key (names, order or types), or one that cannot
        be used now (being created, deleted, or archived) is refused before any cycle."""
        try:
            table = self.client.describe_table(TableName=self.table)["Table"]
        except (ClientError, BotoCoreError) as exc:
            raise self._aws("describe", exc) from None
        schema = tuple((key["AttributeName"], key["KeyType"]) for key in table["KeySchema"])
        types = {attribute["AttributeName"]: attribute["AttributeType"]
                 for attribute in table.get("AttributeDefinitions", [])}
        if schema != STATE_TABLE_KEY or any(types.get(name) != "S" for name, _ in schema):
            shown = ", ".join(f"{name} ({kind.lower()}, {types.get(name, '?')})"
                              for name, kind in schema)
            raise self._error(f"the table {self.table} is not a state table: its key is "
                              f"{shown}, not pk (hash) and sk (range) strings (S); use another "
                              "name, or --create-state-table with a new one")
        status = table.get("TableStatus", "ACTIVE")
        if status not in USABLE_STATUSES:
            raise self._error(f"the table {self.table} cannot be used now: it is {status}")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        yield

    def load(self, scope: str = DEFAULT_SCOPE, read_only: bool = False) -> State:
        """Every resource item of the scope (one Query, strongly consistent). A read-only load
        (a dry run's preview) starts fresh with a warning where a real run would stop."""
        resources: dict[str, Any] = {}
        try:
            items = self._query(scope)
        except StateTableError as exc:
            if not read_only:
                raise
            logger.warning("%s; the dry run starts fresh", exc)
            return State(scope=scope)
        loaded = self._loaded[scope] = {}
        histories = self._histories[scope] = {}
        for item in items:
            key = item["sk"]["S"]
            version = int(item.get("version", {}).get("N", "0"))
            ttl = int(item.get(TTL_ATTRIBUTE, {}).get("N", "0"))
            if key.endswith(HISTORY_SUFFIX):
                histories[key[:-len(HISTORY_SUFFIX)]] = (ttl, _history_of(item))
                continue
            try:
                record = json.loads(item["record"]["S"])
                validate_entry({"resources": {key: record}}, f"{self.table} item {key!r}: ")
            except (KeyError, ValueError, TypeError, RecursionError) as exc:
                if "item" not in self._reported:
                    logger.warning("State table %s: ignoring an unusable item (%s); it is "
                                   "removed at the next save", self.table, exc)
                self._reported.add("item")
                loaded[key] = (version, None, ttl)
                continue
            record.pop(HISTORY_FIELD, None)  # kept in its own item (written before that)
            resources[key] = record
            loaded[key] = (version, json.loads(json.dumps(record)), ttl)
        for key, (_, history) in histories.items():
            if key in resources and history is not None:
                resources[key][HISTORY_FIELD] = history
        return State({"resources": resources}, scope)

    def _query(self, scope: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": self.table, "ConsistentRead": True,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": self.partition(scope)}},
        }
        try:
            while True:
                page = self.client.query(**request)
                items.extend(page.get("Items", []))
                if not page.get("LastEvaluatedKey"):
                    return items
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as exc:
            raise self._aws("read", exc) from None

    def save(self, state: State) -> None:
        """Write what changed since the load, delete what was forgotten; StateWriteError (one
        line) if DynamoDB refuses. A concurrent writer's changes are merged, never lost."""
        if state.scope not in self._loaded:  # a save without a load: learn what is stored
            try:
                self.load(state.scope)
            except StateTableError as exc:
                raise StateWriteError(str(exc)) from None
        stored = self._loaded[state.scope]
        histories = self._histories.setdefault(state.scope, {})
        now = self.clock()
        ttl_now = int(now.timestamp())
        resources = state.data["resources"]

        def fresh(ttl: int) -> bool:
            return ttl - ttl_now > (ITEM_TTL - TTL_REFRESH).total_seconds()

        try:
            for key, full in list(resources.items()):
                history = full.get(HISTORY_FIELD)
                record = {name: value for name, value in full.items() if name != HISTORY_FIELD}
                _, loaded, ttl = stored.get(key, (0, None, 0))
                if not (key in stored and loaded == record and fresh(ttl)):
                    record = self._put(state.scope, key, record, loaded, now)
                    resources[key] = record if history is None else {**record,
                                                                     HISTORY_FIELD: history}
                history_ttl, known = histories.get(key, (0, None))
                if history is not None and not (
                        (history is known or history == known) and fresh(history_ttl)):
                    self._put_history(state.scope, key, history, now)
                elif history is None and key in histories:
                    self._delete_history(state.scope, key)
            for key in [key for key in stored if key not in resources]:
                self._delete(state.scope, key)
            for key in [key for key in histories if key not in resources]:
                self._delete_history(state.scope, key)
        except (ClientError, BotoCoreError) as exc:
            raise StateWriteError(f"cannot write the {self.where}: {error_code(exc)} "
                                  f"({error_message(exc)})") from None

    def _item_key(self, scope: str, key: str) -> dict[str, Any]:
        return {"pk": {"S": self.partition(scope)}, "sk": {"S": key}}

    def _put(self, scope: str, key: str, record: dict[str, Any], base: dict[str, Any] | None,
             now: datetime) -> dict[str, Any]:
        """Write one resource conditionally; on a conflict read, merge and try again."""
        stored = self._loaded[scope]
        version = stored[key][0] if key in stored else None
        for _ in range(MERGE_ATTEMPTS):
            ttl = int((now + ITEM_TTL).timestamp())
            item = {**self._item_key(scope, key),
                    "record": {"S": json.dumps(record, sort_keys=True)},
                    "version": {"N": str((version or 0) + 1)},
                    TTL_ATTRIBUTE: {"N": str(ttl)}, "updated": {"S": now.isoformat()}}
            if version is None:
                condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
            else:
                condition = {"ConditionExpression": "#version = :version",
                             "ExpressionAttributeNames": {"#version": "version"},
                             "ExpressionAttributeValues": {":version": {"N": str(version)}}}
            try:
                self.client.put_item(TableName=self.table, Item=item, **condition)
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise
                theirs = self.client.get_item(TableName=self.table,
                                              Key=self._item_key(scope, key),
                                              ConsistentRead=True).get("Item")
                their_record = _record_of(theirs)
                logger.info("State table %s: %s was changed by another writer since it was "
                            "read; merging", self.table, key)
                record = merge_record(base, record, their_record or {})
                base = their_record
                version = int(theirs["version"]["N"]) if theirs and "version" in theirs else None
                continue
            stored[key] = ((version or 0) + 1, json.loads(json.dumps(record)), ttl)
            return record
        raise StateWriteError(f"cannot write the {self.where}: {key} kept changing under "
                              f"{MERGE_ATTEMPTS} attempts to merge")

    def _put_history(self, scope: str, key: str, history: Any, now: datetime) -> None:
        """Write a resource's demand history item (compressed JSON); the last writer wins:
        it is derived from CloudWatch, and any copy's is as good as another's."""
        ttl = int((now + ITEM_TTL).timestamp())
        text = json.dumps(history, sort_keys=True, separators=(",", ":"))
        self.client.put_item(TableName=self.table, Item={
            **self._item_key(scope, key + HISTORY_SUFFIX),
            "history": {"B": zlib.compress(text.encode("utf-8"), 6)},
            TTL_ATTRIBUTE: {"N": str(ttl)}, "updated": {"S": now.isoformat()}})
        self._histories[scope][key] = (ttl, history)

    def _delete_history(self, scope: str, key: str) -> None:
        self._histories[scope].pop(key, None)
        self.client.delete_item(TableName=self.table,
                                Key=self._item_key(scope, key + HISTORY_SUFFIX))

    def _delete(self, scope: str, key: str) -> None:
        """Forget a resource; if another writer changed it meanwhile, its item stays (and
        expires by TTL if nobody writes it again)."""
        version = self._loaded[scope].pop(key)[0]
        try:
            self.client.delete_item(
                TableName=self.table, Key=self._item_key(scope, key),
                ConditionExpression="attribute_not_exists(pk) OR #version = :version",
                ExpressionAttributeNames={"#version": "version"},
                ExpressionAttributeValues={":version": {"N": str(version)}})
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise


def _history_of(item: dict[str, Any]) -> Any:
    """A demand history item's content, or None if it cannot be read (it is then fetched
    again from CloudWatch, and the item rewritten)."""
    try:
        return json.loads(zlib.decompress(item["history"]["B"]).decode("utf-8"))
    except (KeyError, TypeError, ValueError, zlib.error, RecursionError):
        return None


def _record_of(item: dict[str, Any] | None) -> dict[str, Any] | None:
    if not item:
        return None
    try:
        record = json.loads(item["record"]["S"])
    except (KeyError, ValueError, TypeError):
        return None
    if not isinstance(record, dict):
        return None
    record.pop(HISTORY_FIELD, None)  # in its own item
    return record


def create_state_table(client: Any, table: str, *, wait_delay: float = 2) -> bool:
    """Create the state table (on-demand, TTL on ``expires``); True if it was created, False
    if a state table of that name was there already (its TTL is switched on if it was off).
    StateTableError, one line, if it cannot be done or the name is taken by another table."""
    store = TableStore(client, table, "-")
    created = True
    try:
        client.create_table(
            TableName=table, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"}
                                  for name, _ in STATE_TABLE_KEY],
            KeySchema=[{"AttributeName": name, "KeyType": kind}
                       for name, kind in STATE_TABLE_KEY])
    except ClientError as exc:
        if error_code(exc) != "ResourceInUseException":
            raise store._aws("create", exc) from None
        created = False
    except BotoCoreError as exc:
        raise store._aws("create", exc) from None
    try:
        client.get_waiter("table_exists").wait(
            TableName=table, WaiterConfig={"Delay": wait_delay, "MaxAttempts": 150})
        store.preflight()
        ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
        status, attribute = ttl.get("TimeToLiveStatus"), ttl.get("AttributeName")
        if status in ("ENABLED", "ENABLING") and attribute != TTL_ATTRIBUTE:
            # Switching it would take up to an hour and drop the other attribute's expiry:
            # the table is someone else's, or set up by hand. Never changed here.
            raise store._error(f"the table {table} has TTL on '{attribute}', not "
                               f"'{TTL_ATTRIBUTE}': stale state items would never expire; use "
                               "another name, or switch its TTL to "
                               f"'{TTL_ATTRIBUTE}' yourself")
        if status not in ("ENABLED", "ENABLING"):
            client.update_time_to_live(TableName=table, TimeToLiveSpecification={
                "Enabled": True, "AttributeName": TTL_ATTRIBUTE})
    except (ClientError, BotoCoreError, WaiterError) as exc:
        raise store._aws("set up", exc) from None
    return created
