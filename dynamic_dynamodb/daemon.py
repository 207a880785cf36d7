"""``--daemon start|stop|restart|status|foreground``: the control side of the daemon.

python-daemon 3 detaches the process (DaemonContext) but no longer ships ``daemon.runner``,
and its parent returns before the pid file is taken. So this module does the rest:

* ``start`` checks, in the foreground and before detaching, that the instance is not
  already running (a stale pid file is removed), that the pid directory is writable and that
  logging can be set up; the configuration was already validated by the CLI. It then forks
  a child that detaches with DaemonContext; the daemon writes ``ready <pid>`` on a pipe only
  once it holds its pid file and is set up, and the command reports success only then.
* ``stop`` sends SIGTERM and waits for the *process* to be gone (the pid file disappears a
  moment earlier), then escalates to SIGKILL after STOP_TIMEOUT seconds.
* ``status`` follows the LSB init-script codes: 0 running, 1 stale pid file, 3 not running.
* ``foreground``/``fg`` runs the same loop in the current process: no fork, no pid file.
* ``--run-once`` with any ``--daemon`` mode is refused (usage error), so nothing can
  busy-loop; use ``--run-once`` alone from cron.

The pid file, ``<pid file>.starting`` and the state file are never opened through a link,
and a pid directory or file of another user, or a directory others can write to without the
sticky bit, is refused (paths.py): ``start`` then says why and starts nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import select
import signal
import stat
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from dynamic_dynamodb import logs, paths, runner
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.config.run_options import RunOptions
from dynamic_dynamodb.errors import DynamicDynamoDBError

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
# LSB init-script status codes: dead with a pid file, not running, unknown.
STATUS_STALE, STATUS_NOT_RUNNING, STATUS_UNKNOWN = 1, 3, 4
STOP_TIMEOUT = 30.0  # seconds between SIGTERM and SIGKILL
KILL_TIMEOUT = 10.0  # seconds to wait for the process to vanish after SIGKILL
READY_TIMEOUT = 60.0  # seconds `start` waits for the daemon to report that it is ready
POLL = 0.1

# The daemon's command line contains one of these (console script or ``python -m``); a pid
# file naming a live process without them is stale: its pid was reused by something else.
_OUR_NAMES = (b"dynamic-dynamodb", b"dynamic_dynamodb")


class DaemonError(Exception):
    """A start or stop that cannot go ahead; the message says why."""


# -- pid files and processes ------------------------------------------------------------
def pid_file_path(pid_file_dir: str | None, instance: str) -> str:
    """``<pid-file-dir>/dynamic-dynamodb.<instance>.pid`` (2.5.1's name), made absolute;
    without --pid-file-dir, in paths.runtime_dir()."""
    return paths.instance_file(pid_file_dir or paths.runtime_dir(), instance, ".pid")


def read_pid(path: str) -> int | None:
    """The pid in the file; None if there is no file. Raises ValueError on other content,
    UnsafeFileError for a link or another user's file, OSError if it cannot be read."""
    try:
        fd = paths.open_file(path, os.O_RDONLY, "the pid file")
    except (FileNotFoundError, NotADirectoryError):  # no such file, nor could there be
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IsADirectoryError(21, "not a regular file", path)
        text = os.read(fd, 4096).decode("ascii", "replace").strip()
    finally:
        os.close(fd)
    pid = int(text.split()[0]) if text else 0
    if pid <= 0:
        raise ValueError(f"no pid in {path}")
    return pid


def process_state(pid: int) -> str:
    """``"gone"``, ``"ours"`` (a live dynamic-dynamodb) or ``"other"`` (pid reused).

    A zombie counts as gone: it has exited, and nobody may reap it (in a container whose
    init does not reap, a daemon's zombie lingers).
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "gone"
    except PermissionError:
        pass  # alive, owned by another user; /proc may still tell us more
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        if fields and fields[0] in (b"Z", b"X"):
            return "gone"
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmdline = handle.read()
    except FileNotFoundError:
        return "gone"
    except OSError:
        return "ours"  # no /proc (not Linux) or not readable: trust the pid file
    return "ours" if any(name in cmdline for name in _OUR_NAMES) else "other"


@dataclass(frozen=True)
class PidStatus:
    path: str
    pid: int | None
    state: str  # "running", "stale", "absent", "invalid", "unreadable" or "unsafe"
    detail: str = ""


def inspect(path: str) -> PidStatus:
    try:
        with contextlib.suppress(NotADirectoryError):  # then there is no pid file either
            paths.check_directory(os.path.dirname(path), "the pid file directory")
        pid = read_pid(path)
    except paths.UnsafeFileError as exc:
        return PidStatus(path, None, "unsafe", str(exc))
    except ValueError:
        return PidStatus(path, None, "invalid")
    except OSError as exc:
        return PidStatus(path, None, "unreadable", f"cannot read pid file {path}: "
                                                   f"{exc.strerror or exc}")
    if pid is None:
        return PidStatus(path, None, "absent")
    return PidStatus(path, pid, "running" if process_state(pid) == "ours" else "stale")


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise DaemonError(f"cannot remove pid file {path}: {exc.strerror or exc}") from None


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while process_state(pid) == "ours":
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL)
    return True


def stop_process(pid: int, timeout: float = STOP_TIMEOUT,
                 kill_timeout: float = KILL_TIMEOUT) -> bool:
    """SIGTERM, wait until the process is gone, SIGKILL after ``timeout`` seconds.

    Returns True if SIGKILL was needed. Raises DaemonError if the process cannot be
    signalled or survives SIGKILL.
    """
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    except PermissionError as exc:
        raise DaemonError(f"cannot signal pid {pid}: {exc.strerror}") from None
    if wait_gone(pid, timeout):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if not wait_gone(pid, kill_timeout):
        raise DaemonError(f"pid {pid} is still there {kill_timeout:g} s after SIGKILL")
    return True


# -- modes ------------------------------------------------------------------------------
def _say(message: str) -> None:
    print(message, flush=True)


def _error(message: str) -> None:
    print(f"dynamic-dynamodb: error: {message}", file=sys.stderr, flush=True)


def control(run: RunOptions, config: Config | None = None,
            reload_config: Callable[[], Config] | None = None) -> int:
    """Run one ``--daemon`` mode. ``config`` and ``reload_config`` are needed by start,
    restart and foreground."""
    if run.run_once:
        _error("--run-once cannot be combined with --daemon: run --run-once alone (for "
               "example from cron) for one check, or --daemon for a service")
        return EXIT_USAGE
    # Resolved against the directory the command was started in, before anything detaches.
    # Without --pid-file-dir it stays None: the state file then has a directory of its own.
    if run.pid_file_dir:
        run = replace(run, pid_file_dir=os.path.abspath(os.path.expanduser(run.pid_file_dir)))
    path = pid_file_path(run.pid_file_dir, run.instance)
    mode = "foreground" if run.daemon == "fg" else str(run.daemon)
    try:
        return _run_mode(mode, run, config, reload_config, path)
    except DaemonError as exc:
        _error(str(exc))
        return EXIT_ERROR


def _run_mode(mode: str, run: RunOptions, config: Config | None,
              reload_config: Callable[[], Config] | None, path: str) -> int:
    if mode == "status":
        return status(path, run.instance)
    if mode == "stop":
        return stop(path)
    if config is None or reload_config is None:
        raise ValueError(f"--daemon {mode} needs a configuration")
    if mode == "foreground":
        return foreground(config, run, reload_config)
    if mode == "restart":
        code = stop(path)
        if code != EXIT_OK:
            return code
    return start(config, run, reload_config, path)


def _status_line(pid_path: str, suffix: str, what: str) -> str | None:
    status_path = pid_path[: -len(".pid")] + suffix if pid_path.endswith(".pid") else ""
    try:
        paths.check_file(status_path, "the status file")
        with open(status_path, encoding="utf-8") as handle:
            status = json.load(handle)
        return f"{what}: {status['time']}, {status['result']} ({status['summary']})"
    except (OSError, ValueError, KeyError, TypeError, DynamicDynamoDBError):
        return None


def last_cycle(pid_path: str) -> str:
    """The line about the last cycle, from the status file the runner keeps beside the pid."""
    return (_status_line(pid_path, ".status.json", "last cycle")
            or "last cycle: none recorded yet")


def last_run_once(pid_path: str) -> str | None:
    """The line about the last ``--run-once`` of the instance with this pid file directory
    (it keeps its own status file, never the daemon's); None if none ran."""
    return _status_line(pid_path, ".run-once.status.json", "last --run-once")


def leader_line(pid_path: str) -> str | None:
    """Who leads the instance (with a state table), as of this daemon's last look at the
    lease: None without a state table or before the first look."""
    status_path = pid_path[: -len(".pid")] + ".status.json" if pid_path.endswith(".pid") else ""
    try:
        paths.check_file(status_path, "the status file")
        with open(status_path, encoding="utf-8") as handle:
            lease = json.load(handle)["lease"]
        holder, me, expires = lease["holder"], lease["me"], lease["expires"]
    except (OSError, ValueError, KeyError, TypeError, DynamicDynamoDBError):
        return None
    if lease.get("role") == "leader":
        return f"leader: this daemon ({me}), lease until {expires}"
    if not holder:
        return f"leader: none (this daemon is {me} and takes the lease at its next look)"
    return f"leader: {holder}, lease until {expires}; this daemon ({me}) stands by"


def status(path: str, instance: str) -> int:
    found = inspect(path)
    if found.state in ("unreadable", "unsafe"):
        _error(found.detail)
        return STATUS_UNKNOWN
    if found.state == "running":
        _say(f"dynamic-dynamodb instance {instance} is running (pid {found.pid}, pid file {path})")
        _say(last_cycle(path))
        leader = leader_line(path)
        if leader:
            _say(leader)
        run_once = last_run_once(path)
        if run_once:
            _say(run_once)
        return EXIT_OK
    if found.state == "absent":
        _say(f"dynamic-dynamodb instance {instance} is not running (no pid file {path})")
        return STATUS_NOT_RUNNING
    detail = f"pid {found.pid} is not running" if found.pid else "it holds no pid"
    _say(f"dynamic-dynamodb instance {instance} is not running (stale pid file {path}: "
         f"{detail})")
    return STATUS_STALE


def stop(path: str) -> int:
    found = inspect(path)
    if found.state in ("unreadable", "unsafe"):
        _error(found.detail)
        return EXIT_ERROR
    if found.state == "absent":
        print(f"pidfile {path} does not exist. Daemon not running?", file=sys.stderr, flush=True)
        return EXIT_OK
    if found.state in ("invalid", "stale"):
        _remove(path)
        detail = f"pid {found.pid} is not running" if found.pid else "it held no pid"
        _say(f"Daemon not running; removed stale pid file {path} ({detail})")
        return EXIT_OK
    assert found.pid is not None
    try:
        killed = stop_process(found.pid, STOP_TIMEOUT, KILL_TIMEOUT)
    except DaemonError as exc:
        _error(str(exc))
        return EXIT_ERROR
    _remove(path)  # the daemon removes it itself, unless it had to be killed
    if killed:
        _say(f"Daemon (pid {found.pid}) did not stop within {STOP_TIMEOUT:g} s of SIGTERM; "
             "sent SIGKILL")
    _say(f"Daemon stopped (pid {found.pid})")
    return EXIT_OK


def foreground(config: Config, run: RunOptions, reload_config: Callable[[], Config]) -> int:
    """The daemon's loop in this process, logging to stdout: for systemd and supervisord."""
    for warning in logs.setup(config.logging, dry_run=run.dry_run, console=True):
        logger.warning("%s", warning)
    state_file = os.path.abspath(runner.state_path(config, run))
    loop = runner.make_runner(config, run, reload_config, state_file=state_file)
    loop.preflight()  # an unsafe or unreadable state file: one line, exit 1, no loop
    loop.install_signal_handlers()
    logger.info("Daemon started in foreground (pid %d)", os.getpid())
    return loop.loop()


def _check_pid_dir(directory: str) -> None:
    """Create the directory if needed (0700), refuse it if it is not to be trusted, and
    prove a file can be written in it.

    A real write, not os.access(): root passes access() on a read-only directory or file
    system, and only a write shows the truth.
    """
    try:
        paths.make_directory(directory, "the pid file directory")
        fd, probe = tempfile.mkstemp(prefix=".dynamic-dynamodb-probe-", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except FileExistsError:  # from makedirs: the path exists and is not a directory
        raise DaemonError(f"cannot write the pid file in {directory}: not a directory") from None
    except OSError as exc:
        raise DaemonError(f"cannot write the pid file in {directory}: "
                          f"{exc.strerror or exc}") from None



def start(config: Config, run: RunOptions, reload_config: Callable[[], Config],
          path: str) -> int:
    """Start a daemon; concurrent starts of one instance are serialised by a lock file.

    Without it, two starts could both find a stale pid file, and the second could remove
    the first one's fresh pid file and start a second daemon.
    """
    try:
        _check_pid_dir(os.path.dirname(path))
    except (DaemonError, paths.UnsafeFileError) as exc:
        _error(f"{exc}. Daemon not started")
        return EXIT_ERROR
    try:
        guard: int | None = paths.open_file(f"{path}.starting", os.O_RDWR | os.O_CREAT,
                                            "the start lock")
    except paths.UnsafeFileError as exc:
        _error(f"{exc}. Daemon not started")
        return EXIT_ERROR
    except OSError:
        guard = None  # a start without the lock still works
    try:
        if guard is not None:
            deadline = time.monotonic() + READY_TIMEOUT + 5
            while True:
                try:
                    fcntl.flock(guard, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        _error(f"another start of this instance holds {path}.starting. "
                               "Daemon not started")
                        return EXIT_ERROR
                    time.sleep(POLL)
        return _start(config, run, reload_config, path, guard)
    finally:
        if guard is not None:
            os.close(guard)


def _start(config: Config, run: RunOptions, reload_config: Callable[[], Config], path: str,
           guard: int | None) -> int:
    found = inspect(path)
    if found.state in ("unreadable", "unsafe"):
        _error(f"{found.detail}. Daemon not started")
        return EXIT_ERROR
    if found.state == "running":
        _error(f"pidfile {path} already exist. Daemon already running? (pid {found.pid} is "
               "running)")
        return EXIT_ERROR
    if found.state in ("stale", "invalid"):
        _remove(path)
        detail = f"pid {found.pid} is not running" if found.pid else "it held no pid"
        _say(f"Removed stale pid file {path} ({detail})")

    # Everything the daemon reads later is made absolute now, against the directory the
    # command was started in: the daemon itself runs in "/".
    # (The CLI made --config and the path flags absolute already, so reloads find them.)
    base_dir = os.getcwd()
    config = runner.absolute_paths(config, base_dir)
    state_file = os.path.abspath(runner.state_path(config, run))
    try:  # what every cycle would refuse, refused now: an unsafe or unreadable state file,
        # or a missing state table
        runner.state_store(config, run, state_file).preflight()
    except DynamicDynamoDBError as exc:
        _error(f"{exc}. Daemon not started")
        return EXIT_ERROR

    # Logging is checked here, in the foreground: an unwritable log file or a broken
    # logging configuration file is an error the user sees (ConfigError → exit 1).
    warnings = logs.setup(config.logging, dry_run=run.dry_run, console=False)
    logs.reset()
    for warning in warnings:
        print(f"dynamic-dynamodb: warning: {warning}", file=sys.stderr, flush=True)

    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked processes
        os.close(read_end)
        if guard is not None:
            os.close(guard)  # the start lock belongs to the starting command, not the daemon
        code = EXIT_ERROR
        try:
            code = _daemon_main(config, run, reload_config, path, state_file, base_dir,
                                write_end)
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        answer = _await_ready(read_end, READY_TIMEOUT)
    finally:
        os.close(read_end)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(child, 0)
    if answer.startswith("ready "):
        pid = int(answer.split()[1])
        try:
            held = read_pid(path)
        except (OSError, ValueError):
            held = None
        if held == pid:
            _say(f"Daemon started (pid {pid}, pid file {path})")
            return EXIT_OK
        _error(f"the daemon (pid {pid}) reported ready but {path} names {held}")
        return EXIT_ERROR
    if answer.startswith("error "):
        _error(f"{answer[6:]}. Daemon not started")
    elif answer == "":
        _error("the daemon exited before it was ready; see its log. Daemon not started")
    else:
        _error(f"the daemon did not report ready within {READY_TIMEOUT:g} s; see its log")
    return EXIT_ERROR


def _await_ready(fd: int, timeout: float) -> str:
    """One line from the daemon; "" if it closed the pipe first, "timeout" if it took too long."""
    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "timeout"
        readable, _, _ = select.select([fd], [], [], remaining)
        if not readable:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0].decode("utf-8", "replace")


def _tell(fd: int | None, message: str) -> None:
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.write(fd, (message.replace("\n", " ") + "\n").encode("utf-8", "replace"))
        os.close(fd)


class PidFile:
    """The daemon's pid file, for DaemonContext: created new (O_EXCL) and never through a
    link (O_NOFOLLOW), so a link planted at its path makes the start fail instead of creating
    the link's target; removed at exit only if it still names this process."""

    def __init__(self, path: str):
        self.path = path

    def __enter__(self) -> PidFile:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                     | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        finally:
            os.close(fd)
        return self

    def __exit__(self, *_: Any) -> None:
        try:
            held = read_pid(self.path)
        except (OSError, ValueError, paths.UnsafeFileError):
            return
        if held == os.getpid():
            with contextlib.suppress(OSError):
                os.unlink(self.path)


def _daemon_main(config: Config, run: RunOptions, reload_config: Callable[[], Config],
                 path: str, state_file: str, base_dir: str,
                 ready_fd: int) -> int:  # pragma: no cover - runs in the forked processes
    """Detach with python-daemon, take the pid file, set up, tell the parent, loop."""
    import daemon

    umask = os.umask(0)
    os.umask(umask)
    signal_map = daemon.daemon.make_default_signal_map()
    signal_map[signal.SIGHUP] = None  # ignored until the loop's reload handler is installed
    context = daemon.DaemonContext(
        working_directory="/",
        umask=umask | 0o022,  # the inherited umask (2.3.0 #301), never group/world-writable
        pidfile=PidFile(path),
        files_preserve=[ready_fd],
        signal_map=signal_map,
    )
    tell: int | None = ready_fd
    try:
        context.open()  # forks twice; from here on this is the daemon, holding the pid file
    except FileExistsError:
        _tell(tell, f"error pidfile {path} already exist. Daemon already running?")
        return EXIT_ERROR
    except (OSError, daemon.daemon.DaemonError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        _tell(tell, f"error could not create pid file {path}: {why}")
        return EXIT_ERROR
    code = EXIT_ERROR
    try:
        # Relative file names inside a log-config-file mean what they meant in the check
        # the parent made: set logging up from the start directory, then go back to "/".
        os.chdir(base_dir)
        try:
            warnings = logs.setup(config.logging, dry_run=run.dry_run, console=False)
        finally:
            os.chdir("/")
        for warning in warnings:
            logger.warning("%s", warning)
        loop = runner.make_runner(config, run, reload_config, state_file=state_file,
                                  base_dir=base_dir)
        loop.install_signal_handlers()
        logger.info("Daemon started (pid %d, instance %s, pid file %s)", os.getpid(),
                    run.instance, path)
        _tell(tell, f"ready {os.getpid()}")
        tell = None
        code = loop.loop()
        logger.info("Daemon stopped")
    except BaseException as exc:  # the daemon's last word goes to its log, and the parent
        if tell is not None:
            _tell(tell, f"error {type(exc).__name__}: {exc}")
            tell = None
        with contextlib.suppress(Exception):
            logger.critical("Daemon stopped by an unexpected error:\n%s",
                            "".join(traceback.format_exception(exc)).rstrip())
        code = EXIT_ERROR
    finally:
        _tell(tell, "error the daemon stopped while starting")
        context.close()  # removes the pid file
        logging.shutdown()
    return code

