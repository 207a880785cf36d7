"""Logging set-up: stdlib logging only (console, TimedRotatingFileHandler or fileConfig)."""

from __future__ import annotations

import contextlib
import logging
import logging.config
import logging.handlers
import os
import sys
from typing import Any

from dynamic_dynamodb.errors import ConfigError

FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
DRY_RUN_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - dryrun - %(message)s"
LOG_FILE_MODE = 0o640
ROOT = "dynamic_dynamodb"


def _open_log_file(path: str) -> None:
    """Create the file (and its directory) with safe permissions before the handler opens it."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, mode=0o750, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, LOG_FILE_MODE)
        os.close(fd)
    except OSError as exc:
        raise ConfigError(None, "logging", "log-file",
                          f"cannot open {path}: {exc.strerror}") from None


class _SafeRotatingHandler(logging.handlers.TimedRotatingFileHandler):
    """Rotated-in files are never world-readable or writable (2.3.0 #301)."""

    def _open(self) -> Any:
        stream = super()._open()
        with contextlib.suppress(OSError):
            os.chmod(self.baseFilename, LOG_FILE_MODE)
        return stream


def setup(logging_options: Any, *, dry_run: bool = False, console: bool = True) -> list[str]:
    """Configure logging. Returns warnings to show; raises ConfigError on a bad file."""
    warnings: list[str] = []
    package = logging.getLogger(ROOT)
    for handler in list(package.handlers):
        package.removeHandler(handler)
        handler.close()
    if logging_options.log_config_file:
        path = os.path.expanduser(logging_options.log_config_file)
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
    formatter = logging.Formatter(DRY_RUN_FORMAT if dry_run else FORMAT)
    package.setLevel(level)
    package.propagate = False
    if console:
        stream = logging.StreamHandler(sys.stdout)
        stream.setFormatter(formatter)
        package.addHandler(stream)
    if logging_options.log_file:
        path = os.path.expanduser(logging_options.log_file)
        _open_log_file(path)
        handler = _SafeRotatingHandler(path, when="midnight", backupCount=5, encoding="utf-8")
        handler.setFormatter(formatter)
        package.addHandler(handler)
    elif not console:
        warnings.append("running detached without log-file or log-config-file: logs go nowhere")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    return warnings
