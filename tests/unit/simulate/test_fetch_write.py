"""How a fetched history becomes one trace file: the locations' traces merged over the minutes
they all cover, names the trace format can hold and tell apart, and a file that is either
whole or not there (errors and SIGTERM included), never written through a symlink."""

from __future__ import annotations

import gzip
import os
import signal
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.fleet import Location
from dynamic_dynamodb.simulate import fetch
from dynamic_dynamodb.simulate.runner import Interrupted, locations_warning
from dynamic_dynamodb.simulate.trace import ResourceTrace, Trace, read_trace

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)


def part(name: str, tables: list[str], start: datetime = START, minutes: int = 10,
         location: Location | None = None) -> fetch.LocationHistory:
    resources = tuple(ResourceTrace(table, None, tuple(float(m) for m in range(minutes)),
                                    tuple(2.0 * m for m in range(minutes)), 5, 5)
                      for table in tables)
    trace = Trace(start=start, minutes=minutes, resources=resources)
    region = name.split("/")[1]
    return fetch.LocationHistory(location or Location(region), name, None, trace)  # type: ignore[arg-type]


def test_the_merged_trace_keeps_the_minutes_every_location_has(
        caplog: pytest.LogCaptureFixture) -> None:
    # The second location was read 3 minutes later: its window starts and ends later.
    early = part("111/us-east-1", ["orders"], START, 10)
    late = part("222/eu-west-1", ["events"], START + 3 * MINUTE, 10)
    merged = fetch.merge([early, late])
    assert (merged.start, merged.minutes) == (START + 3 * MINUTE, 7)
    orders, events = merged.resources
    assert orders.reads == tuple(float(m) for m in range(3, 10))  # minutes 3..9 of the first
    assert events.reads == tuple(float(m) for m in range(0, 7))  # minutes 0..6 of the second
    assert events.writes == tuple(2.0 * m for m in range(0, 7))
    assert "the minutes every account and region was read for" in caplog.text


def test_locations_without_a_common_minute_are_no_trace() -> None:
    with pytest.raises(fetch.FetchError, match="no minute in common"):
        fetch.merge([part("111/us-east-1", ["a"], START, 5),
                     part("222/eu-west-1", ["b"], START + 5 * MINUTE, 5)])


def test_a_name_in_two_locations_is_qualified_with_each() -> None:
    merged = fetch.merge([part("111/us-east-1", ["orders", "users"]),
                          part("222/eu-west-1", ["orders"])])
    assert [r.table for r in merged.resources] == [
        "orders.111.us-east-1", "users", "orders.222.eu-west-1"]


def test_two_locations_of_one_account_and_region_cannot_share_a_table_name() -> None:
    # Own credentials and a role into the same account and region: the qualified names are
    # the same, so a trace cannot tell the two tables apart.
    role = Location("us-east-1", None)
    other = fetch.LocationHistory(
        Location("us-east-1", role=None), "111/us-east-1", None,  # type: ignore[arg-type]
        part("111/us-east-1", ["orders"]).trace)
    with pytest.raises(fetch.FetchError, match=r"^orders\.111\.us-east-1 is in two locations"):
        fetch.merge([part("111/us-east-1", ["orders"], location=role), other])


def test_a_qualified_name_too_long_for_a_trace_is_no_trace() -> None:
    long_name = "t" * 240
    with pytest.raises(fetch.FetchError, match="not a trace name"):
        fetch.merge([part("111111111111/us-east-1", [long_name]),
                     part("222222222222/eu-west-1", [long_name])])


def _trace() -> Trace:
    return part("111/us-east-1", ["orders"]).trace


def test_a_gzipped_trace_names_its_own_file_and_is_the_same_bytes_each_time(
        tmp_path: Path) -> None:
    out = tmp_path / "history.csv.gz"
    fetch._write_whole(str(out), _trace())
    first = out.read_bytes()
    fetch._write_whole(str(out), _trace())
    assert out.read_bytes() == first
    with gzip.open(out) as stream:
        assert stream.read().startswith(b"timestamp,")
    # The gzip header's file name (after the 10-byte header, FNAME flag set) is the trace's.
    assert first[3] & 0x08 and first[10:].split(b"\0", 1)[0] == b"history.csv"
    assert read_trace(str(out)).resources[0].table == "orders"
    assert sorted(os.listdir(tmp_path)) == ["history.csv.gz"]


def test_a_failed_write_leaves_neither_a_file_nor_a_partial_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(path: str, trace: Trace, *, into: object = None) -> None:
        assert into is not None
        into.write(b"timestamp,half a row")  # type: ignore[attr-defined]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fetch, "write_trace", broken)
    with pytest.raises(fetch.FetchError,
                       match=r"^cannot write .*out\.csv: No space left on device$"):
        fetch._write_whole(str(tmp_path / "out.csv"), _trace())
    assert os.listdir(tmp_path) == []


def test_sigterm_while_writing_leaves_no_partial_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(path: str, trace: Trace, *, into: object = None) -> None:
        into.write(b"timestamp,")  # type: ignore[attr-defined]
        raise Interrupted(signal.SIGTERM)

    monkeypatch.setattr(fetch, "write_trace", interrupted)
    monkeypatch.setattr(fetch, "fetch_history", lambda *args, **kwargs: _trace())
    config = load_config(str(_conf(tmp_path)))
    out = tmp_path / "out" / "t.csv"
    out.parent.mkdir()
    clients = SimpleNamespace(calls={})
    assert fetch.fetch_trace(config, 1, str(out), clients) == 128 + signal.SIGTERM  # type: ignore[arg-type]
    assert os.listdir(out.parent) == []
    assert "interrupted by SIGTERM" in capsys.readouterr().err


def test_a_symlink_at_the_output_is_replaced_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "trace.csv"
    out.symlink_to(victim)
    fetch._write_whole(str(out), _trace())
    assert victim.read_text() == "precious\n"
    assert not out.is_symlink() and read_trace(str(out)).minutes == 10


def test_the_file_gets_the_umask_permissions(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        fetch._write_whole(str(tmp_path / "t.csv"), _trace())
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "t.csv").stat().st_mode) == 0o640


def _conf(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "dd.conf"
    path.write_text(f"[global]\nregion: us-east-1\n\n[table: ^orders$]\n{extra}")
    return path


def test_a_backtest_of_several_locations_is_warned_about(tmp_path: Path) -> None:
    assert locations_warning(load_config(str(_conf(tmp_path)))) is None
    several = load_config(str(_conf(tmp_path, "\n[table: ^events$]\nregion: eu-west-1\n")))
    warning = locations_warning(several)
    assert warning is not None and "2 accounts and regions" in warning
    assert "<table>.<account>.<region>" in warning
