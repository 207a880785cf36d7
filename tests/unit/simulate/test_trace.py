"""The trace format: parsing, the missing-minute rule, and clear errors naming line and column."""

from __future__ import annotations

import gzip
from datetime import datetime, timezone
from pathlib import Path

import pytest

from dynamic_dynamodb.simulate.trace import TraceError, parse_trace, read_trace, write_trace

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
    with pytest.raises(TraceError, match="no data rows"):
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
