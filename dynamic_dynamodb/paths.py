"""Where the files of an instance live, and how they are opened (D30).

Defaults are never in a world-writable directory: for root ``/run/dynamic-dynamodb`` (pid
files) and ``/var/lib/dynamic-dynamodb`` (state); for other users
``$XDG_RUNTIME_DIR/dynamic-dynamodb`` and ``$XDG_STATE_HOME/dynamic-dynamodb`` (default
``~/.local/state/dynamic-dynamodb``, also for pid files when XDG_RUNTIME_DIR is unset).
systemd's ``RUNTIME_DIRECTORY`` and ``STATE_DIRECTORY`` win over all of these. Directories
the tool creates are 0700.

Every file the tool creates is opened with O_NOFOLLOW, so a link planted at its path never
makes it create or write the link's target. A file or directory that belongs to another user
(neither the effective uid nor root), or a directory others can write to without the sticky
bit, is refused with UnsafeFileError: one line naming the path and why.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile

from dynamic_dynamodb.errors import DynamicDynamoDBError

NAME = "dynamic-dynamodb"
ROOT_RUNTIME_DIR = "/run/dynamic-dynamodb"
ROOT_STATE_DIR = "/var/lib/dynamic-dynamodb"
DIRECTORY_MODE = 0o700
INSTANCE_RULE = ("an instance name has 1 to 100 letters, digits, '.', '_' or '-', and does not "
                 "start with a dot")
_INSTANCE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}")


class UnsafeFileError(DynamicDynamoDBError):
    """A file or directory the tool must not trust; the message is one line."""

    def __init__(self, what: str, path: str, why: str):
        self.path = path
        super().__init__(f"refusing to use {what} {path}: {why}")


def check_instance(name: str) -> str:
    """The instance name, or ValueError naming the rule: it becomes part of file names."""
    if not _INSTANCE.fullmatch(name):
        raise ValueError(f"invalid instance name {name!r}: {INSTANCE_RULE}")
    return name


def _systemd_directory(variable: str) -> str | None:
    """The first directory systemd gives in RUNTIME_DIRECTORY/STATE_DIRECTORY (colon-separated)."""
    first = os.environ.get(variable, "").split(":")[0]
    return first if os.path.isabs(first) else None


def _user_state_home() -> str:
    xdg = os.environ.get("XDG_STATE_HOME", "")
    base = xdg if os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, NAME)


def runtime_dir() -> str:
    """The default directory of pid files (and of state files when --pid-file-dir is given)."""
    systemd = _systemd_directory("RUNTIME_DIRECTORY")
    if systemd:
        return systemd
    if os.geteuid() == 0:
        return ROOT_RUNTIME_DIR
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    return os.path.join(xdg, NAME) if os.path.isabs(xdg) else _user_state_home()


def state_dir() -> str:
    """The default directory of state files."""
    systemd = _systemd_directory("STATE_DIRECTORY")
    if systemd:
        return systemd
    return ROOT_STATE_DIR if os.geteuid() == 0 else _user_state_home()


def instance_file(directory: str, instance: str, suffix: str) -> str:
    """``<directory>/dynamic-dynamodb.<instance><suffix>``, absolute."""
    return os.path.join(os.path.abspath(os.path.expanduser(directory)),
                        f"{NAME}.{check_instance(instance)}{suffix}")


# -- trust ------------------------------------------------------------------------------------
def trusted_owner(uid: int) -> bool:
    return uid in (os.geteuid(), 0)


def _owner_problem(uid: int, thing: str = "it is") -> str:
    return f"{thing} owned by uid {uid}, not by uid {os.geteuid()} that runs {NAME} (nor root)"


def check_directory(directory: str, what: str) -> bool:
    """Refuse a directory that another user owns, or that others may write to without the
    sticky bit (also through a link owned by another user). False if it does not exist;
    NotADirectoryError if it is something else."""
    try:
        link = os.lstat(directory)
    except (FileNotFoundError, NotADirectoryError):
        return False
    if stat.S_ISLNK(link.st_mode) and not trusted_owner(link.st_uid):
        raise UnsafeFileError(what, directory, _owner_problem(link.st_uid,
                                                              "it is a symbolic link"))
    try:
        found = os.stat(directory)
    except (FileNotFoundError, NotADirectoryError):
        return False
    if not stat.S_ISDIR(found.st_mode):  # a mistake, not a danger: nothing can be made there
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), directory)
    if not trusted_owner(found.st_uid):
        raise UnsafeFileError(what, directory, _owner_problem(found.st_uid))
    if found.st_mode & stat.S_IWOTH and not found.st_mode & stat.S_ISVTX:
        raise UnsafeFileError(what, directory, "others can write to it and it has no sticky "
                                               f"bit (mode {stat.S_IMODE(found.st_mode):04o})")
    return True


def make_directory(directory: str, what: str) -> None:
    """Create the directory and its missing parents with mode 0700, then check it.

    OSError if it cannot be created; UnsafeFileError if it is not to be trusted.
    """
    missing: list[str] = []
    current = os.path.abspath(directory)
    while not os.path.lexists(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile: check_directory judges it
            os.mkdir(path, DIRECTORY_MODE)
    if not check_directory(directory, what):
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), directory)


def check_file(path: str, what: str) -> os.stat_result | None:
    """lstat the path: None if nothing is there; refuse a link or another user's file."""
    try:
        found = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if stat.S_ISLNK(found.st_mode):
        raise UnsafeFileError(what, path, "it is a symbolic link (remove it; links are not "
                                          "followed here)")
    if not trusted_owner(found.st_uid):
        raise UnsafeFileError(what, path, _owner_problem(found.st_uid))
    return found


def open_file(path: str, flags: int, what: str, mode: int = 0o600) -> int:
    """os.open without following a link at ``path`` (O_NOFOLLOW, O_CLOEXEC, and O_NONBLOCK
    so a FIFO planted there cannot hang the open). Refuses a link or another user's file."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFileError(what, path, "it is a symbolic link (remove it; links are "
                                              "not followed here)") from None
        raise
    try:
        found = os.fstat(fd)
        if not trusted_owner(found.st_uid):
            raise UnsafeFileError(what, path, _owner_problem(found.st_uid))
    except BaseException:
        os.close(fd)
        raise
    return fd


def status_file(pid_file_dir: str | None, instance: str) -> str:
    """Where a run records its last cycle, for ``--daemon status``: beside the pid file."""
    return instance_file(pid_file_dir or runtime_dir(), instance, ".status.json")


def run_once_status_file(pid_file_dir: str | None, instance: str) -> str:
    """Where a ``--run-once`` records its cycle: its own file, so that a run sharing a
    daemon's pid file directory and instance never overwrites the daemon's status."""
    return instance_file(pid_file_dir or runtime_dir(), instance, ".run-once.status.json")


def write_private(path: str, text: str, what: str) -> None:
    """Replace ``path`` atomically with ``text`` (0600), never through a link planted there."""
    check_file(path, what)
    directory = os.path.dirname(path)
    handle, temporary = tempfile.mkstemp(prefix=".status-", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
