"""Traffic traces: the CSV format of ``--simulate`` and ``--fetch-trace``.

``timestamp,table,gsi,read_demand,write_demand[,initial_read,initial_write]``: one row per
resource per minute, demand in capacity units per second averaged over that minute. Rows may
come in any order; a missing minute keeps the resource's last demand (the first demand before
its first row). ``.csv.gz`` files are read and written transparently.

Reading is strict: a backtest of a misread trace is worse than none. Every problem, from a
corrupt gzip stream to a years-long gap, is one ``TraceError`` line naming the file and the
line, and memory stays bounded whatever the input (``TraceLimits``).
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import math
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import IO

from dynamic_dynamodb.errors import DynamicDynamoDBError

COLUMNS = ("timestamp", "table", "gsi", "read_demand", "write_demand")
OPTIONAL_COLUMNS = ("initial_read", "initial_write")
EXPECTED_HEADER = f"{','.join(COLUMNS)}[,{','.join(OPTIONAL_COLUMNS)}]"
MINUTE = timedelta(minutes=1)
# Timestamps outside these leave the simulated clock no room (the engine looks back from,
# and the decrease ledger ahead of, the trace's minutes).
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9999, 1, 1, tzinfo=timezone.utc)  # exclusive
# Far above any real table's demand or capacity, far below where sums of them lose meaning.
MAX_VALUE = 1e9
MAX_LINE_BYTES = 1 << 20  # a longer line is not a trace; reading it whole could exhaust memory
READ_BYTES = 1 << 16
UTF8_BOM = b"\xef\xbb\xbf"
GZIP_MAGIC = b"\x1f\x8b"
# DynamoDB's own rule for table and index names (the 3-character minimum is not enforced).
NAME = re.compile(r"[A-Za-z0-9_.-]{1,255}")
# A plain decimal: float() alone would also take "1_000", "nan", "infinity" and non-ASCII digits.
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


class TraceError(DynamicDynamoDBError):
    """A trace that cannot be replayed; one line naming the file and, if any, the line."""


@dataclass(frozen=True)
class TraceLimits:
    """What a trace may be beyond its format, so that a replay stays sane and memory bounded.

    ``max_gap``: the longest stretch with no row at all (``--max-trace-gap``). A longer one is
    refused unless ``fill_gaps`` (``--fill-trace-gaps``), which carries each resource's last
    demand across it, exactly as the format does for any missing minute.
    ``max_minutes`` bounds the span and ``max_resource_minutes`` the resources × minutes every
    policy's replay holds in memory (about 2 KB each)."""

    max_gap: timedelta = timedelta(days=2)
    fill_gaps: bool = False
    max_minutes: int = 366 * 24 * 60
    max_resource_minutes: int = 2_000_000


DEFAULT_LIMITS = TraceLimits()


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
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 is before datetime.min in UTC
        raise ValueError(f"out of range: {text!r}") from None


_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(d|h|m)", re.IGNORECASE)
_DURATION_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_duration(text: str) -> timedelta:
    """A number of hours (``48``, ``1.5``) or a duration: ``90m``, ``36h``, ``2d``, ``1d12h``."""
    cleaned = text.strip().lower().replace("min", "m")
    try:
        if re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", cleaned):
            return timedelta(hours=float(cleaned))
        if cleaned and re.fullmatch(rf"(?:{_DURATION_PART.pattern}\s*)+", cleaned):
            return sum((timedelta(**{_DURATION_UNITS[unit]: float(number)})
                        for number, unit in _DURATION_PART.findall(cleaned)), timedelta())
    except OverflowError:
        raise ValueError(f"{text!r} is too long a duration") from None
    raise ValueError(f"expected hours (48) or a duration like 90m, 36h, 2d, 1d12h; got {text!r}")


def describe_duration(duration: timedelta) -> str:
    """``2 days 3 h 5 min``: a gap or a limit, to the minute."""
    minutes = math.ceil(duration / MINUTE - 1e-9)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days:,} day{'s' if days != 1 else ''}" if days else "",
             f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    return " ".join(part for part in parts if part) or "0 min"


def open_text(path: str, mode: str = "r", *, into: IO[bytes] | None = None) -> IO[str]:
    """``path`` as text, gunzipped if it ends in .gz. ``into``: write to this open binary
    file instead, as if it were ``path`` (the gzip header names ``path``)."""
    if path.endswith(".gz"):
        # mtime=0 keeps regenerated files byte-identical.
        binary = gzip.GzipFile(path, mode + "b", mtime=0, fileobj=into)
        return io.TextIOWrapper(binary, encoding="utf-8", newline="")
    if into is not None:
        return io.TextIOWrapper(into, encoding="utf-8", newline="")
    return open(path, mode, encoding="utf-8", newline="")


def _number(text: str, where: str, column: str, *, integer: bool = False) -> float:
    if NUMBER.fullmatch(text) is None:
        if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
            raise TraceError(f"{where}, column {column!r}: must be a finite number >= 0, "
                             f"got {text!r}")
        raise TraceError(f"{where}, column {column!r}: expected a number, got {text!r}")
    value = float(text) + 0.0  # + 0.0 turns -0 into 0
    if not math.isfinite(value) or value < 0:
        raise TraceError(f"{where}, column {column!r}: must be a finite number >= 0, got {text!r}")
    if value > MAX_VALUE:
        raise TraceError(f"{where}, column {column!r}: {text} is more than any table could have "
                         f"(at most {MAX_VALUE:,.0f})")
    if integer and (value != int(value) or value < 1):
        raise TraceError(f"{where}, column {column!r}: expected a whole number >= 1, got {text!r}")
    return value


def read_trace(path: str, limits: TraceLimits = DEFAULT_LIMITS) -> Trace:
    try:
        handle = open(path, "rb")  # noqa: SIM115 - a with below, once open errors are told
    except FileNotFoundError:
        raise TraceError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise TraceError(f"{path}: is a directory, not a trace file") from None
    except PermissionError:
        raise TraceError(f"{path}: permission denied") from None
    except OSError as exc:
        raise TraceError(f"{path}: cannot open it ({exc.strerror or exc})") from None
    with handle:
        if not path.endswith(".gz"):
            return parse_trace(_text_lines(handle, path), path, limits)
        if handle.peek(len(GZIP_MAGIC))[:len(GZIP_MAGIC)] not in (GZIP_MAGIC, b""):
            raise TraceError(f"{path}, line 1: not gzip data, although the name ends in .gz")
        with gzip.GzipFile(fileobj=handle, mode="rb") as binary:
            return parse_trace(_text_lines(binary, path, gzipped=True), path, limits)


def _line_breaks(data: bytes) -> int:
    """Lines end in \\n, \\r\\n or \\r, as for ``open(newline="")`` and the csv module."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def _complete_lines_end(data: bytes) -> int:
    """Where the last complete line of ``data`` ends (0: none is complete yet)."""
    cr = data.rfind(b"\r", 0, len(data) - 1)  # a final \r may be the start of \r\n
    return max(data.rfind(b"\n"), cr) + 1


def _gzip_problem(exc: Exception) -> str:
    if isinstance(exc, EOFError):
        return "the gzip data is truncated (the file ends inside the compressed stream)"
    if "Not a gzipped file" in str(exc):  # the first member's magic was checked on opening
        return "corrupt gzip data: what follows the compressed stream is not gzip"
    return f"corrupt gzip data ({exc})"


def _text_lines(binary: io.BufferedIOBase, name: str, *, gzipped: bool = False
                ) -> Iterator[str]:
    """The lines of a trace file as text for the csv module, in bounded memory.

    Compression, I/O, encoding and binary-file problems become a ``TraceError`` naming the
    line they are on; for compression, the first line not completely read (a bad CRC is only
    found at the end). ``read1`` hands over what was decompressed before an error."""
    line = 1  # the number of the next line to complete
    pending = b""
    started = False
    while True:
        try:
            chunk = binary.read1(READ_BYTES)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise TraceError(f"{name}, line {line}: {_gzip_problem(exc)}") from None
        except OSError as exc:
            raise TraceError(f"{name}, line {line}: read error ({exc.strerror or exc})") from None
        data = pending + chunk
        if not started:
            if chunk and len(data) < len(UTF8_BOM):
                pending = data
                continue
            started = True
            if data.startswith(UTF8_BOM):  # as spreadsheets write it
                data = data[len(UTF8_BOM):]
            elif data.startswith(GZIP_MAGIC) and not gzipped:
                raise TraceError(f"{name}, line 1: this is gzip-compressed; name it .csv.gz")
        cut = _complete_lines_end(data) if chunk else len(data)
        complete, pending = data[:cut], data[cut:]
        if len(pending) > MAX_LINE_BYTES:
            raise TraceError(f"{name}, line {line + _line_breaks(complete)}: longer than "
                             f"{MAX_LINE_BYTES:,} bytes: not a trace")
        if complete:
            suspect = "corrupt gzip data, or a binary file" if gzipped else "a binary file"
            nul = complete.find(b"\0")
            if nul >= 0:
                raise TraceError(f"{name}, line {line + _line_breaks(complete[:nul])}: a NUL "
                                 f"byte: {suspect}, or text not in UTF-8 (UTF-16?)")
            try:
                text = complete.decode("utf-8")
            except UnicodeDecodeError as exc:
                at = line + _line_breaks(complete[:exc.start])
                raise TraceError(f"{name}, line {at}: not UTF-8 text (byte "
                                 f"0x{complete[exc.start]:02x}): {suspect}?") from None
            line += _line_breaks(complete)
            yield from io.StringIO(text, newline="")
        if not chunk:
            return


def _records(lines: Iterable[str], name: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each CSV record; malformed CSV is a ``TraceError``."""
    reader = csv.reader(lines, strict=True)
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            detail = str(exc)
            if "field larger than field limit" in detail:
                detail = (f"a cell longer than {csv.field_size_limit():,} characters (a quote "
                          "left open?)")
            raise TraceError(f"{name}, line {start}: malformed CSV: {detail}") from None
        yield start, row
        start = reader.line_num + 1


def _header_index(header: list[str], name: str) -> dict[str, int]:
    where = f"{name}, line 1"
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        raise TraceError(f"{where}: header lacks column(s) {', '.join(missing)}; expected "
                         f"{EXPECTED_HEADER}")
    unknown = [column for column in header if column not in (*COLUMNS, *OPTIONAL_COLUMNS)]
    if unknown:
        raise TraceError(f"{where}: unknown column(s) {', '.join(map(repr, unknown))} in the "
                         f"header; expected {EXPECTED_HEADER}")
    twice = sorted({column for column in header if header.count(column) > 1})
    if twice:
        raise TraceError(f"{where}: column(s) {', '.join(map(repr, twice))} appear more than "
                         "once in the header")
    return {column: position for position, column in enumerate(header)}


def _minute(text: str, where: str) -> datetime:
    try:
        stamp = parse_timestamp(text)
    except ValueError:
        raise TraceError(f"{where}, column 'timestamp': expected ISO-8601 UTC like "
                         f"2024-01-01T00:00:00Z, got {text!r}") from None
    if stamp.second or stamp.microsecond:
        raise TraceError(f"{where}, column 'timestamp': must be on the minute, got {text!r}")
    if not EARLIEST <= stamp < LATEST:
        raise TraceError(f"{where}, column 'timestamp': {text!r} is not between "
                         f"{EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return stamp


def _check_names(key: tuple[str, str | None], where: str) -> None:
    if not key[0]:
        raise TraceError(f"{where}, column 'table': empty table name")
    for column, text in zip(("table", "gsi"), key, strict=True):
        if text is not None and NAME.fullmatch(text) is None:
            raise TraceError(f"{where}, column {column!r}: {text!r} is not a DynamoDB name "
                             "(up to 255 letters, digits, '_', '.' and '-')")


def parse_trace(lines: Iterable[str], name: str = "trace",
                limits: TraceLimits = DEFAULT_LIMITS) -> Trace:
    records = _records(lines, name)
    first_record = next(records, None)
    if first_record is None:
        raise TraceError(f"{name}, line 1: empty file; expected the header {','.join(COLUMNS)}")
    header = [column.strip() for column in first_record[1]]
    index = _header_index(header, name)

    rows: dict[tuple[str, str | None], dict[datetime, tuple[float, float]]] = {}
    initial: dict[tuple[str, str | None], tuple[datetime, int | None, int | None]] = {}
    first_line: dict[datetime, int] = {}  # the first line of each minute: for the gap messages
    resource_line: dict[tuple[str, str | None], int] = {}
    # Each timestamp repeats once per resource and demands repeat a lot: parse each text once.
    stamps: dict[str, datetime] = {}
    numbers: dict[str, float] = {}
    width = len(header)
    at_stamp, at_table, at_gsi = index["timestamp"], index["table"], index["gsi"]
    at_reads, at_writes = index["read_demand"], index["write_demand"]
    at_initial = [(column, index[column]) for column in OPTIONAL_COLUMNS if column in index]
    count = 0
    for line_number, row in records:
        cells = [cell.strip() for cell in row]
        if not any(cells):
            continue
        if len(cells) > width:
            raise TraceError(f"{name}, line {line_number}: {len(cells)} cells, but the header has "
                             f"{width} columns")
        count += 1
        if count > limits.max_resource_minutes:
            raise TraceError(f"{name}, line {line_number}: more than "
                             f"{limits.max_resource_minutes:,} rows, the most a backtest holds in "
                             "memory; split the trace by table or shorten it")
        if len(cells) < width:
            cells += [""] * (width - len(cells))
        stamp = stamps.get(cells[at_stamp])
        if stamp is None:
            stamp = stamps[cells[at_stamp]] = _minute(cells[at_stamp], f"{name}, line {line_number}")
            first_line.setdefault(stamp, line_number)
        key = (cells[at_table], cells[at_gsi] or None)
        per_minute = rows.get(key)
        if per_minute is None:
            _check_names(key, f"{name}, line {line_number}")
            per_minute = rows[key] = {}
            resource_line[key] = line_number
        demand = []
        for column, position in (("read_demand", at_reads), ("write_demand", at_writes)):
            value = numbers.get(cells[position])
            if value is None:
                value = numbers[cells[position]] = _number(cells[position],
                                                           f"{name}, line {line_number}", column)
            demand.append(value)
        if stamp in per_minute:
            raise TraceError(f"{name}, line {line_number}, column 'timestamp': a second row for "
                             f"{key[0]}{':' + key[1] if key[1] else ''} at "
                             f"{stamp:%Y-%m-%dT%H:%M}Z")
        per_minute[stamp] = (demand[0], demand[1])
        given = {column: int(_number(cells[position], f"{name}, line {line_number}", column,
                                     integer=True))
                 for column, position in at_initial if cells[position]}
        # Only the resource's first row counts; rows may come in any order.
        if given and (key not in initial or stamp < initial[key][0]):
            initial[key] = (stamp, given.get("initial_read"), given.get("initial_write"))
    if not rows:
        raise TraceError(f"{name}, line 1: the header and no data rows after it")

    tables = {table for table, gsi in rows if gsi is None}
    for table, gsi in rows:
        if gsi is not None and table not in tables:
            raise TraceError(f"{name}, line {resource_line[(table, gsi)]}: GSI {gsi} of table "
                             f"{table} has rows but the table itself has none (add rows with an "
                             "empty gsi column)")

    start, minutes = _check_extent(name, first_line, resource_line, limits)
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


def _check_extent(name: str, first_line: dict[datetime, int],
                  resource_line: dict[tuple[str, str | None], int],
                  limits: TraceLimits) -> tuple[datetime, int]:
    """The trace's start and length in minutes, once its gaps and size are known acceptable."""
    stamps = sorted(first_line)
    start, end = stamps[0], stamps[-1]
    if not limits.fill_gaps:
        for before, after in itertools.pairwise(stamps):
            missing = after - before - MINUTE
            if missing > limits.max_gap:
                raise TraceError(
                    f"{name}, line {first_line[after]}: no row at all for "
                    f"{describe_duration(missing)} before {after:%Y-%m-%dT%H:%M}Z (the previous "
                    f"row, line {first_line[before]}, is at {before:%Y-%m-%dT%H:%M}Z); gaps of "
                    f"up to {describe_duration(limits.max_gap)} are allowed (--max-trace-gap), "
                    "or --fill-trace-gaps carries the last demand across them")
    minutes = int((end - start) / MINUTE) + 1
    if minutes > limits.max_minutes:
        beyond = next(stamp for stamp in stamps
                      if (stamp - start) / MINUTE + 1 > limits.max_minutes)
        raise TraceError(
            f"{name}, line {first_line[beyond]}: {beyond:%Y-%m-%dT%H:%M}Z is "
            f"{describe_duration(beyond - start)} after the trace's first minute (line "
            f"{first_line[start]}); a backtest covers at most "
            f"{describe_duration(limits.max_minutes * MINUTE)}: shorten the trace")
    if minutes * len(resource_line) > limits.max_resource_minutes:
        ordered = sorted(resource_line.items(), key=lambda item: item[1])
        number = limits.max_resource_minutes // minutes + 1
        (table, gsi), line = ordered[number - 1]
        raise TraceError(
            f"{name}, line {line}: {table}{':' + gsi if gsi else ''} is table or GSI number "
            f"{number} of a trace of {minutes:,} minutes: {number} x {minutes:,} is more than the "
            f"{limits.max_resource_minutes:,} resource-minutes a backtest holds in memory; split "
            "the trace by table or shorten it")
    return start, minutes


def _format(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def write_trace(path: str, trace: Trace, *, into: IO[bytes] | None = None) -> None:
    """``trace`` to ``path`` (gzipped if it ends in .gz); ``into``: to this open binary file,
    written as ``path`` would be (the caller renames it there)."""
    with open_text(path, "w", into=into) as handle:
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
