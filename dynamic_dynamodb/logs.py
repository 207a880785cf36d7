"""Logging set-up: stdlib logging only (console, TimedRotatingFileHandler or fileConfig).

As in 2.5.1: format ``%(asctime)s - %(name)s - %(levelname)s - %(message)s`` with a
``dryrun - `` tag in dry-run, a log file rotated at midnight with 5 backups, and a
``log-config-file`` (logging.config.fileConfig) that overrides log-level and log-file.
Unlike 2.5.1 the console is stdout (the documented stream), and a log file is never
group-writable or world-readable (0640 or stricter, also after rotation; 2.3.0 #301).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import logging.config
import logging.handlers
import os
import stat
import sys
import threading
from collections.abc import Iterator
from typing import Any

from dynamic_dynamodb.config.options import LoggingOptions
from dynamic_dynamodb.errors import ConfigError
from dynamic_dynamodb.log_format import formatter
from dynamic_dynamodb.paths import UnsafeFileError, open_file

LOG_FILE_MODE = 0o640
BACKUP_COUNT = 5
ROOT = "dynamic_dynamodb"
NOWHERE = "running detached without log-file or log-config-file: logs go nowhere"


# The account and region ("123456789012/eu-west-1") a thread is checking, when several are:
# every record of ours logged under it starts with "<account>/<region> - ".
_LOCATION: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "dynamic_dynamodb_location", default=None)
_factory_lock = threading.Lock()
_factory_installed = False


def _install_location_factory() -> None:
    """A LogRecord factory (so it works with any handler, formatter or log-config-file) that
    prefixes our records with the current location and sets ``record.location``."""
    global _factory_installed
    with _factory_lock:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            label = _LOCATION.get()
            if label is not None and record.name.startswith(ROOT):
                record.msg = f"{label} - {record.msg}"
                record.location = label
            return record

        logging.setLogRecordFactory(factory)
        _factory_installed = True


@contextlib.contextmanager
def location(label: str | None) -> Iterator[None]:
    """Log the block's records (this thread's) as those of ``label``; None: no label."""
    if label is not None:
        _install_location_factory()
    token = _LOCATION.set(label)
    try:
        yield
    finally:
        _LOCATION.reset(token)


def _restrict(path: str) -> None:
    """Drop any permission beyond 0640 (never loosen a stricter mode the admin chose)."""
    with contextlib.suppress(OSError):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & ~LOG_FILE_MODE:
            os.chmod(path, mode & LOG_FILE_MODE)


def _log_fd(path: str) -> int:
    """The log file opened for appending, created 0640 with its directory; a link planted at
    its path is never followed and a file of another user is refused (D30)."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, mode=0o750, exist_ok=True)
        fd = open_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, "the log file",
                       LOG_FILE_MODE)
    except FileExistsError:  # from makedirs: a component of the directory is a file
        raise ConfigError(None, "logging", "log-file",
                          f"cannot open {path}: {directory} is not a directory") from None
    except UnsafeFileError as exc:
        raise ConfigError(None, "logging", "log-file", str(exc)) from None
    except OSError as exc:
        raise ConfigError(None, "logging", "log-file",
                          f"cannot open {path}: {exc.strerror or exc}") from None
    _restrict(path)
    return fd


def _open_log_file(path: str) -> None:
    """Create the file (and its directory) with safe permissions before the handler opens it."""
    os.close(_log_fd(path))


class SafeRotatingHandler(logging.handlers.TimedRotatingFileHandler):
    """TimedRotatingFileHandler whose files (new and rotated-in) are 0640 or stricter.

    The file is created with its final mode before ``open()`` sees it, so there is no moment
    in which a fresh log file has the umask's (possibly world-readable) mode.
    """

    def _open(self) -> Any:
        # Not logging's own open(), which would follow a link planted after a rotation.
        return os.fdopen(_log_fd(self.baseFilename), "a", encoding=self.encoding,
                         errors=self.errors)


def _close_handlers(logger: logging.Logger) -> None:
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        with contextlib.suppress(OSError, ValueError):
            handler.close()


def reset() -> None:
    """Remove and close every handler this module or a fileConfig installed.

    Used before forking a daemon, so the parent's open files are not shared with it.
    """
    _close_handlers(logging.getLogger())
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            _close_handlers(logger)


def setup(logging_options: LoggingOptions, *, dry_run: bool = False, console: bool = True) -> list[str]:
    """Configure logging. Returns warnings to show; raises ConfigError on a bad file.

    ``console=False`` is the detached daemon: stdout is /dev/null there, so without a log
    file or a logging configuration file the logs go nowhere, and the caller is told so.
    """
    warnings: list[str] = []
    package = logging.getLogger(ROOT)
    _close_handlers(package)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_dynamic_dynamodb", False):
            root.removeHandler(handler)
    if logging_options.log_config_file:
        path = os.path.abspath(os.path.expanduser(logging_options.log_config_file))
        if not os.path.isfile(path):
            raise ConfigError(None, "logging", "log-config-file", f"{path}: file not found")
        try:
            logging.config.fileConfig(path, disable_existing_loggers=False)
        except Exception as exc:
            raise ConfigError(None, "logging", "log-config-file",
                              f"{path}: invalid logging configuration ({type(exc).__name__}: "
                              f"{exc})") from None
        return warnings

    level = getattr(logging, str(logging_options.log_level).upper())
    chosen = formatter(logging_options, dry_run)
    package.setLevel(level)
    package.propagate = False
    handlers: list[logging.Handler] = []
    if console:
        stream = logging.StreamHandler(sys.stdout)
        handlers.append(stream)
    if logging_options.log_file:
        path = os.path.abspath(os.path.expanduser(logging_options.log_file))
        _open_log_file(path)
        handlers.append(SafeRotatingHandler(path, when="midnight", backupCount=BACKUP_COUNT,
                                            encoding="utf-8"))
    elif not console:
        warnings.append(NOWHERE)
    for handler in handlers:
        handler._dynamic_dynamodb = True  # type: ignore[attr-defined]
        handler.setFormatter(chosen)
        handler.setLevel(level)
        package.addHandler(handler)
    if not console and handlers:
        # Detached: third-party warnings (root, WARNING as in 2.5.1) go to the log file
        # too instead of the lost stderr.
        root.setLevel(logging.WARNING)
        for handler in handlers:
            root.addHandler(handler)
        logging.captureWarnings(True)  # Python warnings too (py.warnings → root)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    return warnings
