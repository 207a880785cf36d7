"""How log records look: 2.5.1's text lines, or one JSON object per record (log-format).

Shared by the live logging set-up (logs.py) and the backtest's decision log.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from typing import Any

from dynamic_dynamodb.config.options import LoggingOptions

FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
DRY_RUN_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - dryrun - %(message)s"


class JsonFormatter(logging.Formatter):
    """``log-format: json``: one JSON object per record, for log search indexes.

    Always: time (UTC, ISO 8601), level, logger, message (the same text as the text format)
    and dry_run; with several accounts or regions, account and region. A decision line also
    carries ``decision``: the resource, dimension, outcome
    code, current and target capacity and the observation behind it.
    """

    def __init__(self, dry_run: bool = False):
        super().__init__()
        self.dry_run = dry_run

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "dry_run": self.dry_run,
        }
        location = getattr(record, "location", None)
        if location is not None:  # several accounts or regions: which one this is about
            document["account"], _, document["region"] = str(location).partition("/")
        decision = getattr(record, "decision", None)
        if decision is not None:
            document["decision"] = decision
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


def formatter(logging_options: LoggingOptions, dry_run: bool) -> logging.Formatter:
    if logging_options.log_format == "json":
        return JsonFormatter(dry_run)
    return logging.Formatter(DRY_RUN_FORMAT if dry_run else FORMAT)


