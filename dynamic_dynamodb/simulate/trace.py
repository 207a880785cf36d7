"""Traffic traces: the CSV format of ``--simulate`` and ``--fetch-trace``.

``timestamp,table,gsi,read_demand,write_demand[,initial_read,initial_write]``: one row per
resource per minute, demand in capacity units per second averaged over that minute. Rows may
come in any order; a missing minute keeps the resource's last demand (the first demand before
its first row). ``.csv.gz`` files are read and written transparently.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import IO

from dynamic_dynamodb.errors import DynamicDynamoDBError

COLUMNS = ("timestamp", "table", "gsi", "read_demand", "write_demand")
OPTIONAL_COLUMNS = ("initial_read", "initial_write")
MINUTE = timedelta(minutes=1)


class TraceError(DynamicDynamoDBError):
    """A malformed trace; the message names the file, the line and the column."""


@dataclass(frozen=True)
class ResourceTrace:
    table: str
    gsi: str | None
    reads: tuple[float, ...]  # demand per minute, CU/s
    writes: tuple[float, ...]
    initial_reads: int | None = None
    initial_writes: int | None = None

    @property
    def key(self) -> str:
        return self.table if self.gsi is None else f"{self.table}:{self.gsi}"

    def demand(self, dimension: str) -> tuple[float, ...]:
        return self.reads if dimension == "reads" else self.writes


@dataclass(frozen=True)
class Trace:
    start: datetime  # UTC, on the minute: the start of minute 0
    minutes: int
    resources: tuple[ResourceTrace, ...]

    def timestamp(self, minute: int) -> datetime:
        return self.start + minute * MINUTE


def parse_timestamp(text: str) -> datetime:
    """ISO-8601 with ``Z``, ``+00:00`` or naive (UTC); Python 3.10 rejects ``Z`` itself."""
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def open_text(path: str, mode: str = "r") -> IO[str]:
    if path.endswith(".gz"):
        # mtime=0 keeps regenerated files byte-identical.
        binary = gzip.GzipFile(path, mode + "b", mtime=0)
        return io.TextIOWrapper(binary, encoding="utf-8", newline="")
    return open(path, mode, encoding="utf-8", newline="")


def _number(text: str, where: str, column: str, *, integer: bool = False) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TraceError(f"{where}, column {column!r}: expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise TraceError(f"{where}, column {column!r}: must be a finite number >= 0, got {text!r}")
    if integer and (value != int(value) or value < 1):
        raise TraceError(f"{where}, column {column!r}: expected a whole number >= 1, got {text!r}")
    return value


def read_trace(path: str) -> Trace:
    try:
        with open_text(path) as handle:
            return parse_trace(handle, path)
    except FileNotFoundError:
        raise TraceError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise TraceError(f"{path}: cannot read trace ({exc})") from None


def parse_trace(lines: Iterable[str], name: str = "trace") -> Trace:
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise TraceError(f"{name}: empty file; expected the header {','.join(COLUMNS)}")
    header = [column.strip() for column in header]
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        raise TraceError(f"{name}, line 1: header lacks column(s) {', '.join(missing)}; expected "
                         f"{','.join(COLUMNS)}[,{','.join(OPTIONAL_COLUMNS)}]")
    index = {column: header.index(column) for column in (*COLUMNS, *OPTIONAL_COLUMNS)
             if column in header}

    rows: dict[tuple[str, str | None], dict[datetime, tuple[float, float]]] = {}
    initial: dict[tuple[str, str | None], tuple[datetime, int | None, int | None]] = {}
    for line_number, row in enumerate(reader, start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        where = f"{name}, line {line_number}"
        if len(row) < len(header):
            row = row + [""] * (len(header) - len(row))

        def cell(column: str, row: list[str] = row) -> str:
            return row[index[column]].strip() if column in index else ""

        try:
            stamp = parse_timestamp(cell("timestamp"))
        except ValueError:
            raise TraceError(f"{where}, column 'timestamp': expected ISO-8601 UTC like "
                             f"2024-01-01T00:00:00Z, got {cell('timestamp')!r}") from None
        if stamp.second or stamp.microsecond:
            raise TraceError(f"{where}, column 'timestamp': must be on the minute, got "
                             f"{cell('timestamp')!r}")
        table = cell("table")
        if not table:
            raise TraceError(f"{where}, column 'table': empty table name")
        key = (table, cell("gsi") or None)
        reads = _number(cell("read_demand"), where, "read_demand")
        writes = _number(cell("write_demand"), where, "write_demand")
        per_minute = rows.setdefault(key, {})
        if stamp in per_minute:
            raise TraceError(f"{where}, column 'timestamp': a second row for {key[0]}"
                             f"{':' + key[1] if key[1] else ''} at {stamp:%Y-%m-%dT%H:%M}Z")
        per_minute[stamp] = (reads, writes)
        start_reads = cell("initial_read")
        start_writes = cell("initial_write")
        if start_reads or start_writes:
            given = (
                stamp,
                int(_number(start_reads, where, "initial_read", integer=True))
                if start_reads else None,
                int(_number(start_writes, where, "initial_write", integer=True))
                if start_writes else None,
            )
            # Only the resource's first row counts; rows may come in any order.
            if key not in initial or stamp < initial[key][0]:
                initial[key] = given
    if not rows:
        raise TraceError(f"{name}: no data rows after the header")

    tables = {table for table, gsi in rows if gsi is None}
    for table, gsi in rows:
        if gsi is not None and table not in tables:
            raise TraceError(f"{name}: GSI {gsi} of table {table} has rows but the table itself "
                             "has none (add rows with an empty gsi column)")

    start = min(min(per_minute) for per_minute in rows.values())
    end = max(max(per_minute) for per_minute in rows.values())
    minutes = int((end - start) / MINUTE) + 1
    resources = []
    for key in sorted(rows, key=lambda k: (k[0], k[1] or "")):
        per_minute = rows[key]
        first = min(per_minute)
        initial_row = initial.get(key)
        if initial_row is not None and initial_row[0] != first:
            initial_row = None  # given on a later row only: ignored, as the format says
        last = per_minute[first]
        reads_series, writes_series = [], []
        for minute in range(minutes):
            # A missing minute keeps the last demand (backtest-format.md).
            last = per_minute.get(start + minute * MINUTE, last)
            reads_series.append(last[0])
            writes_series.append(last[1])
        resources.append(ResourceTrace(
            table=key[0], gsi=key[1], reads=tuple(reads_series), writes=tuple(writes_series),
            initial_reads=initial_row[1] if initial_row else None,
            initial_writes=initial_row[2] if initial_row else None,
        ))
    return Trace(start=start, minutes=minutes, resources=tuple(resources))


def _format(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def write_trace(path: str, trace: Trace) -> None:
    with open_text(path, "w") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow((*COLUMNS, *OPTIONAL_COLUMNS))
        for minute in range(trace.minutes):
            stamp = trace.timestamp(minute).strftime("%Y-%m-%dT%H:%M:%SZ")
            for resource in trace.resources:
                first = minute == 0
                writer.writerow((
                    stamp, resource.table, resource.gsi or "",
                    _format(resource.reads[minute]), _format(resource.writes[minute]),
                    resource.initial_reads if first and resource.initial_reads else "",
                    resource.initial_writes if first and resource.initial_writes else "",
                ))
