"""The trace format: parsing, the missing-minute rule, and clear errors naming line and column.

Every bad input is one ``TraceError`` line naming the file and the line; never another
exception, never an attempt to replay millions of minutes."""

from __future__ import annotations

import gzip
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from dynamic_dynamodb.simulate import trace as trace_module
from dynamic_dynamodb.simulate.trace import (
    TraceError,
    TraceLimits,
    parse_duration,
    parse_trace,
    read_trace,
    write_trace,
)

HEADER = "timestamp,table,gsi,read_demand,write_demand,initial_read,initial_write\n"


def parse(text: str):
    return parse_trace(text.splitlines(keepends=True), "t.csv")


def test_rows_in_any_order_with_every_timestamp_style_and_a_missing_minute() -> None:
    trace = parse(HEADER
                  + "2024-01-01T00:03:00,t,,4,40\n"
                  + "2024-01-01T00:00:00Z,t,,1,10,7,70\n"
                  + "2024-01-01T00:01:00+00:00,t,,2,20\n"
                  + "2024-01-01T01:00:00+01:00,t,g,5,50\n")  # 00:00 UTC
    assert trace.start == datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert trace.minutes == 4
    table, gsi = trace.resources
    assert (table.key, gsi.key) == ("t", "t:g")
    # Minute 2 is missing: it keeps the last demand (minute 1's).
    assert table.reads == (1, 2, 2, 4)
    assert table.writes == (10, 20, 20, 40)
    assert (table.initial_reads, table.initial_writes) == (7, 70)
    # The GSI has one row: the rest of the trace keeps it.
    assert gsi.reads == (5, 5, 5, 5)
    assert gsi.initial_reads is None


@pytest.mark.parametrize(("row", "where"), [
    ("2024-01-01T00:00:00Z,t,,abc,1", "line 3, column 'read_demand'"),
    ("2024-01-01T00:00:00Z,t,,1,-2", "line 3, column 'write_demand'"),
    ("yesterday,t,,1,1", "line 3, column 'timestamp'"),
    ("2024-01-01T00:00:30Z,t,,1,1", "line 3, column 'timestamp'"),
    ("2024-01-01T00:00:00Z,,,1,1", "line 3, column 'table'"),
    ("2024-01-01T00:02:00Z,t,,1,1,0.5,", "line 3, column 'initial_read'"),
    ("2024-01-01T00:01:00Z,t,,1,1", "line 3, column 'timestamp'"),  # a duplicate minute
])
def test_malformed_rows_name_the_line_and_the_column(row: str, where: str) -> None:
    with pytest.raises(TraceError) as error:
        parse(HEADER + "2024-01-01T00:01:00Z,t,,1,1\n" + row + "\n")
    assert f"t.csv, {where}" in str(error.value)


def test_header_and_structure_errors() -> None:
    with pytest.raises(TraceError, match=r"header lacks column.*write_demand"):
        parse("timestamp,table,gsi,read_demand\n")
    with pytest.raises(TraceError, match="empty file"):
        parse("")
    with pytest.raises(TraceError, match="line 1: the header and no data rows"):
        parse(HEADER)
    with pytest.raises(TraceError, match="GSI g of table t has rows but the table itself"):
        parse(HEADER + "2024-01-01T00:00:00Z,t,g,1,1\n")


def test_gzip_round_trip(tmp_path: Path) -> None:
    trace = parse(HEADER + "2024-01-01T00:00:00Z,t,,1.25,3,5,6\n2024-01-01T00:01:00Z,t,,0,3\n")
    path = str(tmp_path / "t.csv.gz")
    write_trace(path, trace)
    with gzip.open(path, "rt") as handle:
        assert handle.readline() == HEADER
    with gzip.open(path, "rt") as handle:
        assert read_trace(path) == parse_trace(handle, path)
    again = read_trace(path)
    assert again.resources[0].reads == (1.25, 0)
    assert again.resources[0].initial_reads == 5


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="file not found"):
        read_trace(str(tmp_path / "nope.csv"))


H = b"timestamp,table,gsi,read_demand,write_demand\n"
R0 = b"2024-01-01T00:00:00Z,t,,1,1\n"
R1 = b"2024-01-01T00:01:00Z,t,,1,1\n"
ROWS = b"".join(b"2024-01-01T00:%02d:00Z,t,,1,1\n" % minute for minute in range(3))
GZ = gzip.compress(H + ROWS, mtime=0)


def row(read: bytes = b"1", write: bytes = b"1", stamp: bytes = b"2024-01-01T00:01:00Z",
        table: bytes = b"t", gsi: bytes = b"") -> bytes:
    return b",".join((stamp, table, gsi, read, write)) + b"\n"


# (file name, content, line, what the message says)
BAD_TRACES = [
    # Malformed CSV, and a field far beyond csv.field_size_limit.
    ("quote.csv", H + R0 + b'2024-01-01T00:01:00Z,t,,1,"1\n', 3,
     "malformed CSV: unexpected end of data"),
    ("quote2.csv", H + b'2024-01-01T00:00:00Z,"t"x,,1,1\n', 2, "malformed CSV"),
    ("huge-cell.csv", H + b'2024-01-01T00:00:00Z,t,,1,"' + b"1" * 200_000 + b'"\n', 2,
     "a cell longer than 131,072 characters"),
    ("one-line.csv", b"x" * (1 << 21), 1, "longer than 1,048,576 bytes: not a trace"),
    # Compression.
    ("truncated.csv.gz", GZ[:-12], 4, "the gzip data is truncated"),
    ("header-only-gzip.csv.gz", GZ[:5], 1, "the gzip data is truncated"),
    ("crc.csv.gz", GZ[:-8] + bytes([GZ[-8] ^ 1]) + GZ[-7:], 5,
     "corrupt gzip data (CRC check failed"),
    ("length.csv.gz", GZ[:-4] + bytes([GZ[-4] ^ 1]) + GZ[-3:], 5, "corrupt gzip data"),
    ("trailing.csv.gz", GZ + b"garbage", 5, "what follows the compressed stream is not gzip"),
    ("deflate.csv.gz", GZ[:12] + b"\xff" * 8 + GZ[20:], 1, "corrupt gzip data, or a binary"),
    ("plain.csv.gz", H + R0, 1, "not gzip data, although the name ends in .gz"),
    ("compressed.csv", GZ, 1, "this is gzip-compressed; name it .csv.gz"),
    # Header.
    ("short-header.csv", b"timestamp,table,gsi,read_demand\n" + R0, 1,
     "header lacks column(s) write_demand"),
    ("twice.csv", H.rstrip() + b",table\n" + R0, 1, "'table' appear more than once"),
    ("typo.csv", H.rstrip() + b",initial_reads\n" + R0, 1, "unknown column(s) 'initial_reads'"),
    ("cells.csv", H + R0 + b"2024-01-01T00:01:00Z,t,,1,1,5,5\n", 3,
     "7 cells, but the header has 5 columns"),
    # Numbers: plain decimals, finite, >= 0, and not absurd.
    ("word.csv", H + R0 + row(b"abc"), 3, "column 'read_demand': expected a number, got 'abc'"),
    ("underscore.csv", H + R0 + row(write=b"1_000"), 3, "expected a number, got '1_000'"),
    ("arabic.csv", H + R0 + row("١٢".encode()), 3, "expected a number"),
    ("empty-cell.csv", H + R0 + row(b""), 3, "expected a number, got ''"),
    ("nan.csv", H + R0 + row(b"nan"), 3, "must be a finite number >= 0, got 'nan'"),
    ("inf.csv", H + R0 + row(write=b"-Infinity"), 3, "must be a finite number >= 0"),
    ("overflow.csv", H + R0 + row(b"1e400"), 3, "must be a finite number >= 0, got '1e400'"),
    ("negative.csv", H + R0 + row(b"-0.5"), 3, "must be a finite number >= 0, got '-0.5'"),
    ("absurd.csv", H + R0 + row(b"1e12"), 3, "more than any table could have"),
    # Timestamps: parsable, on the minute, in range, once per resource.
    ("stamp.csv", H + R0 + row(stamp=b"yesterday"), 3, "expected ISO-8601 UTC"),
    ("second.csv", H + R0 + row(stamp=b"2024-01-01T00:01:30Z"), 3, "must be on the minute"),
    ("old.csv", H + R0 + row(stamp=b"1900-01-01T00:00:00Z"), 3,
     "is not between 1970-01-01 and 9999-01-01"),
    ("overflow-tz.csv", H + row(stamp=b"0001-01-01T00:00:00+01:00"), 2, "column 'timestamp'"),
    ("duplicate.csv", H + R0 + R1 + R0, 4, "a second row for t at 2024-01-01T00:00Z"),
    ("same-minute.csv", H + R0 + row(stamp=b"2024-01-01T01:00:00+01:00"), 3,
     "a second row for t at 2024-01-01T00:00Z"),
    # Names.
    ("name.csv", H + R0 + row(table=b"my table"), 3, "'my table' is not a DynamoDB name"),
    ("gsi-name.csv", H + R0 + row(gsi=b"by/day"), 3, "column 'gsi': 'by/day' is not a DynamoDB"),
    ("orphan-gsi.csv", H + R0 + row(table=b"u", gsi=b"g"), 3, "GSI g of table u has rows"),
    # Binary files, empty files.
    ("nul.csv", H + R0 + b"2024-01-01T00:01:00Z,t,,1,1\x00\n", 3, "a NUL byte: a binary file"),
    ("latin1.csv", H + R0 + "2024-01-01T00:01:00Z,tä,,1,1\n".encode("latin-1"), 3,
     "not UTF-8 text (byte 0xe4)"),
    ("utf16.csv", (H + R0).decode().encode("utf-16"), 1, "a NUL byte: a binary file, or text "
     "not in UTF-8 (UTF-16?)"),
    ("bad-utf8.csv", b"\xff\xfe" + H + R0, 1, "not UTF-8 text (byte 0xff): a binary file?"),
    ("elf.csv", b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)), 1, "a NUL byte"),
    ("empty.csv", b"", 1, "empty file"),
    ("empty.csv.gz", gzip.compress(b""), 1, "empty file"),
    ("blank.csv", b"\n\n", 1, "header lacks column(s) timestamp"),
    ("header-only.csv", H + b"\n", 1, "the header and no data rows"),
]


@pytest.mark.parametrize(("file_name", "content", "line", "fragment"), BAD_TRACES,
                         ids=[case[0] for case in BAD_TRACES])
def test_every_bad_trace_is_one_line_naming_the_file_and_the_line(
        tmp_path: Path, file_name: str, content: bytes, line: int, fragment: str) -> None:
    path = tmp_path / file_name
    path.write_bytes(content)
    with pytest.raises(TraceError) as error:
        read_trace(str(path))
    message = str(error.value)
    assert message.startswith(f"{path}, line {line}"), message
    assert fragment in message
    assert "\n" not in message


def test_files_that_cannot_be_read_are_named(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TraceError, match=r"nope\.csv: file not found$"):
        read_trace(str(tmp_path / "nope.csv"))
    with pytest.raises(TraceError, match=r": is a directory, not a trace file$"):
        read_trace(str(tmp_path))
    locked = tmp_path / "locked.csv"
    locked.write_bytes(H + R0)
    locked.chmod(0)
    if os.access(locked, os.R_OK):  # root reads anything: make open() answer as for others

        def denied(*_: object, **__: object) -> None:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(trace_module, "open", denied, raising=False)
    with pytest.raises(TraceError, match=r"locked\.csv: permission denied$"):
        read_trace(str(locked))


def test_what_the_reader_accepts_beyond_the_strict_rules(tmp_path: Path) -> None:
    # A UTF-8 byte-order mark (spreadsheets), \r\n and bare \r line ends, rows out of order,
    # -0, and a gzip file read in pieces: all still read exactly.
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf" + H.replace(b"\n", b"\r\n") + R1.replace(b"\n", b"\r")
                     + b"2024-01-01T00:00:00Z,t,,-0,2.5\r\n")
    trace = read_trace(str(path))
    assert (trace.minutes, trace.resources[0].reads, trace.resources[0].writes) == (
        2, (0.0, 1.0), (2.5, 1.0))
    many = tmp_path / "many.csv.gz"
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    many.write_bytes(gzip.compress(H + b"".join(
        b"%s,t,,%d,1\n" % ((start + timedelta(minutes=m)).isoformat().encode(), m)
        for m in range(5000))))
    assert read_trace(str(many)).resources[0].reads == tuple(float(m) for m in range(5000))


def gap_trace(tmp_path: Path, after: str, name: str = "gap.csv") -> str:
    path = tmp_path / name
    path.write_bytes(H + b"2024-01-01T00:00:00Z,t,,4,1\n2024-01-01T00:01:00Z,t,,5,1\n"
                     + after.encode() + b",t,,9,1\n")
    return str(path)


def test_a_gap_longer_than_two_days_is_refused_by_default(tmp_path: Path) -> None:
    path = gap_trace(tmp_path, "2024-01-03T00:03:00Z")  # 2 days 1 min with no row
    with pytest.raises(TraceError) as error:
        read_trace(path)
    assert str(error.value) == (
        f"{path}, line 4: no row at all for 2 days 1 min before 2024-01-03T00:03Z (the "
        "previous row, line 3, is at 2024-01-01T00:01Z); gaps of up to 2 days are allowed "
        "(--max-trace-gap), or --fill-trace-gaps carries the last demand across them")
    # Exactly 2 days missing is within the limit.
    assert read_trace(gap_trace(tmp_path, "2024-01-03T00:02:00Z")).minutes == 2 * 1440 + 3


def test_the_gap_limit_is_configurable_and_counts_every_resource(tmp_path: Path) -> None:
    path = gap_trace(tmp_path, "2024-01-01T02:00:00Z")  # 1 h 58 min missing
    with pytest.raises(TraceError, match=r"line 4: no row at all for 1 h 58 min .* up to 1 h "):
        read_trace(path, TraceLimits(max_gap=timedelta(hours=1)))
    assert read_trace(path, TraceLimits(max_gap=timedelta(hours=2))).minutes == 121
    # Two tables, one after the other: a gap in the trace, though neither table has one.
    apart = tmp_path / "apart.csv"
    apart.write_bytes(H + b"2024-01-01T00:00:00Z,a,,1,1\n2024-03-01T00:00:00Z,b,,1,1\n")
    with pytest.raises(TraceError, match=r"apart\.csv, line 3: no row at all for 59 days"):
        read_trace(str(apart))


def test_filled_gaps_carry_the_last_demand_forward(tmp_path: Path) -> None:
    path = gap_trace(tmp_path, "2024-01-04T00:00:00Z")
    trace = read_trace(path, TraceLimits(fill_gaps=True))
    reads = trace.resources[0].reads
    assert trace.minutes == 3 * 1440 + 1
    assert reads[:2] == (4, 5) and set(reads[2:-1]) == {5} and reads[-1] == 9


def test_a_years_long_trace_is_refused_before_any_memory_is_spent(tmp_path: Path) -> None:
    path = gap_trace(tmp_path, "2030-01-01T00:00:00Z")
    began = time.monotonic()
    with pytest.raises(TraceError, match=r"line 4: no row at all for 2,191 days"):
        read_trace(path)
    # Filling it would mean 3 million minutes: the span is bounded too.
    with pytest.raises(TraceError) as error:
        read_trace(path, TraceLimits(fill_gaps=True))
    assert str(error.value) == (
        f"{path}, line 4: 2030-01-01T00:00Z is 2,192 days after the trace's first minute "
        "(line 2); a backtest covers at most 366 days: shorten the trace")
    assert time.monotonic() - began < 2


def test_resources_times_minutes_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_bytes(H + b"".join(b"2024-01-01T00:0%d:00Z,a,,1,1\n" % m for m in range(3))
                     + b"2024-01-01T00:00:00Z,b,,1,1\n2024-01-01T00:00:00Z,c,,1,1\n")
    assert len(read_trace(str(path), TraceLimits(max_resource_minutes=9)).resources) == 3
    # 5 rows, but 3 tables x 3 minutes to replay: the third table, at its first row, makes
    # 9 resource-minutes, more than 8.
    with pytest.raises(TraceError, match=r"wide\.csv, line 6: c is table or GSI number 3 of a "
                                         r"trace of 3 minutes: 3 x 3 is more than the 8 "):
        read_trace(str(path), TraceLimits(max_resource_minutes=8))
    # Rows alone are counted while reading, before anything else is held.
    with pytest.raises(TraceError, match=r"wide\.csv, line 6: more than 4 rows"):
        read_trace(str(path), TraceLimits(max_resource_minutes=4))


@pytest.mark.parametrize(("text", "duration"), [
    ("48", timedelta(hours=48)), ("1.5", timedelta(minutes=90)), ("0", timedelta()),
    ("90m", timedelta(minutes=90)), ("90min", timedelta(minutes=90)), ("36h", timedelta(hours=36)),
    ("2d", timedelta(days=2)), ("1d12h", timedelta(hours=36)), (" 2 D ", timedelta(days=2)),
])
def test_max_trace_gap_takes_hours_or_a_duration(text: str, duration: timedelta) -> None:
    assert parse_duration(text) == duration


@pytest.mark.parametrize("text", ["", "two days", "-1", "2w", "1e3", "d", "1d-2h",
                                  "99999999999d"])
def test_a_bad_max_trace_gap_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_duration(text)
