"""Property: whatever bytes a trace file holds, plain or gzip-wrapped, the reader returns a
trace or raises its one-line ``TraceError`` naming the file; never another exception."""

from __future__ import annotations

import gzip
import itertools
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamic_dynamodb.simulate.trace import Trace, TraceError, TraceLimits, read_trace

HEADER = b"timestamp,table,gsi,read_demand,write_demand,initial_read,initial_write\n"
COLUMNS = ["timestamp", "table", "gsi", "read_demand", "write_demand", "initial_read",
           "initial_write", "bogus"]
# Cells that sit on the reader's edges: stamps in and out of range and off the minute, names,
# numbers a float() would take and the format refuses, quotes and line ends.
CELLS = ["2024-01-01T00:00:00Z", "2024-01-01T00:01:00+00:00", "2024-01-01T03:00:00",
         "2024-01-04T00:00:00Z", "1970-01-01T00:00:00Z", "9998-12-31T23:59:00Z",
         "0001-01-01T00:00:00+01:00", "2024-01-01", "2024-01-01T00:00:30Z", "t", "g", "x.y-z",
         "", " ", "a b", "0", "1", "-0", "2.5", "1e9", "1e10", "nan", "-1", "1e-400", "1_0",
         "0x10", "١", '"', '""', '"q"x', "\r", "\n", "é"]
LIMITS = TraceLimits(max_gap=timedelta(hours=1), max_minutes=5000, max_resource_minutes=20_000)
FUZZ = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
_names = itertools.count()


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def read(directory: Path, content: bytes, suffix: str, limits: TraceLimits = LIMITS) -> None:
    path = directory / f"t{next(_names)}{suffix}"
    path.write_bytes(content)
    try:
        trace = read_trace(str(path), limits)
    except TraceError as error:
        message = str(error)
        assert message.startswith(f"{path}: ") or message.startswith(f"{path}, line "), message
        assert "\n" not in message and "\r" not in message, message
    else:
        assert isinstance(trace, Trace)
        assert trace.minutes * len(trace.resources) <= limits.max_resource_minutes
    finally:
        path.unlink()


@FUZZ
@given(content=st.binary(max_size=400), after_header=st.booleans(),
       suffix=st.sampled_from([".csv", ".csv.gz"]))
def test_random_bytes(directory: Path, content: bytes, after_header: bool, suffix: str) -> None:
    # Named .csv.gz, these are (nearly always) not gzip at all.
    read(directory, (HEADER if after_header else b"") + content, suffix)


@FUZZ
@given(content=st.binary(max_size=400), after_header=st.booleans(),
       damage=st.one_of(st.none(), st.tuples(st.integers(0, 500), st.integers(0, 255))),
       cut=st.one_of(st.none(), st.integers(0, 500)), tail=st.binary(max_size=8))
def test_random_gzip_wrapped_bytes(directory: Path, content: bytes, after_header: bool,
                                   damage: tuple[int, int] | None, cut: int | None,
                                   tail: bytes) -> None:
    data = bytearray(gzip.compress((HEADER if after_header else b"") + content, mtime=0))
    if damage is not None and damage[0] < len(data):
        data[damage[0]] = damage[1]
    read(directory, bytes(data[:cut]) + tail, ".csv.gz")


BY_COLUMN = {
    "table": st.sampled_from(["t", "t", "u", "my_table"]),
    "gsi": st.sampled_from([""] * 7 + ["g"]),
    "read_demand": st.sampled_from(["0", "1", "2.5", "1000"]),
    "write_demand": st.sampled_from(["0", "1", "2.5", "1000"]),
    "initial_read": st.sampled_from(["", "", "5"]),
    "initial_write": st.sampled_from(["", "", "5"]),
    "bogus": st.just("x"),
}
HEADERS = st.sampled_from(["required", "all", "random"]).flatmap(lambda kind: {
    "required": st.permutations(COLUMNS[:5]),
    "all": st.permutations(COLUMNS[:7]),
    "random": st.lists(st.sampled_from(COLUMNS), max_size=8),
}[kind]).map(list)
QUOTES = ['"', '"q"x', '"a\nb"', '"a""b"']
EDGE_CELLS = st.sampled_from(CELLS) | st.text(st.characters(blacklist_characters="\x00"),
                                               max_size=6)


@st.composite
def csv_traces(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    """Well-formed rows for the header (minutes mostly in sequence, now and then a gap), then
    at most one defect: a cell swapped for an edge case, a row cut short or made longer, a row
    repeated. One defect, so that every check past the header gets its turn."""
    header = draw(HEADERS)
    rows = []
    minute = 0
    for _ in range(draw(st.integers(0, 12))):
        minute += draw(st.sampled_from([0, 1, 1, 1, 2, 90]))
        stamp = f"2024-01-01T{minute // 60 % 24:02d}:{minute % 60:02d}:00Z"
        rows.append([stamp if column == "timestamp" else draw(BY_COLUMN[column])
                     for column in header])
    if rows and header:
        row = rows[draw(st.integers(0, len(rows) - 1))]
        defect = draw(st.integers(0, 6))
        if defect == 0:
            row[draw(st.integers(0, len(row) - 1))] = draw(EDGE_CELLS)
        elif defect == 4:
            row[draw(st.integers(0, len(row) - 1))] = draw(st.sampled_from(QUOTES))
        elif defect == 5 and "timestamp" in header:
            row[header.index("timestamp")] = draw(st.sampled_from(CELLS[:9]))
        elif defect == 1:
            del row[draw(st.integers(0, len(row) - 1)):]
        elif defect == 2:
            row.append(draw(EDGE_CELLS))
        elif defect == 3:
            rows.append(list(row))
    return header, rows


@FUZZ
@given(table=csv_traces(), line_end=st.sampled_from(["\n", "\r\n", "\r"]),
       gzipped=st.booleans(), fill=st.booleans())
def test_random_csv(directory: Path, table: tuple[list[str], list[list[str]]], line_end: str,
                    gzipped: bool, fill: bool) -> None:
    header, rows = table
    text = line_end.join([",".join(header), *(",".join(row) for row in rows)])
    content = text.encode("utf-8", "surrogatepass")
    read(directory, gzip.compress(content) if gzipped else content,
         ".csv.gz" if gzipped else ".csv",
         TraceLimits(max_gap=LIMITS.max_gap, fill_gaps=fill, max_minutes=LIMITS.max_minutes,
                     max_resource_minutes=LIMITS.max_resource_minutes))
