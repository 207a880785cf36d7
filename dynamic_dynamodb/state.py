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
import json
import logging
import os
import stat
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from dynamic_dynamodb import paths
from dynamic_dynamodb.errors import StateError
from dynamic_dynamodb.policy.budget import OwnRecord
from dynamic_dynamodb.policy.counters import Counters

logger = logging.getLogger(__name__)
VERSION = 2
UNKNOWN_ACCOUNT = "unknown-account"
DEFAULT_SCOPE = f"{UNKNOWN_ACCOUNT}/unknown-region"
# A table absent from ListTables this long is forgotten (DescribeTable's
# ResourceNotFoundException forgets it at once).
MISSING_GRACE = timedelta(days=1)
_AWS_DOMAINS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")
_TIMES = ("last_increase", "last_decrease", "budget_notified", "decrease_refused",
          "next_decrease", "missing_since")


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
