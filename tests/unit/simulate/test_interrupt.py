"""A backtest that stops cleanly: SIGINT/SIGTERM, a dying worker, and a report that is
written whole or not at all. In process; the real command is in tests/e2e/test_simulate_cli.py."""

from __future__ import annotations

import io
import os
import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dynamic_dynamodb.cli import build_parser
from dynamic_dynamodb.simulate import report, runner
from dynamic_dynamodb.simulate.runner import Progress, SimulationError, settings_from_args
from dynamic_dynamodb.simulate.trace import TraceError

HEADER = "timestamp,table,gsi,read_demand,write_demand,initial_read,initial_write\n"
PREVIOUS = {"report.json": "{}\n", "timeline.csv": "previous\n", "report.png": "png"}


def previous_report(directory: Path) -> None:
    directory.mkdir()
    for name, text in PREVIOUS.items():
        (directory / name).write_text(text, encoding="utf-8")


def contents(directory: Path) -> dict[str, str]:
    """Every entry, hidden ones included; a directory would fail to read."""
    return {path.name: path.read_text(encoding="utf-8") for path in directory.iterdir()}


def backtest(tmp_path: Path, *extra: str) -> tuple[Any, Any]:
    conf, trace = tmp_path / "t.conf", tmp_path / "t.csv"
    conf.write_text("[table: ^t$]\n", encoding="utf-8")
    trace.write_text(HEADER + "".join(f"2024-03-01T10:{minute:02d}:00Z,t,,5,1\n"
                                      for minute in range(30)), encoding="utf-8")
    from tests.unit.simulate.helpers import config

    args = build_parser().parse_args(["-c", str(conf), "--simulate", str(trace),
                                      "--report-dir", str(tmp_path / "out"), *extra])
    return config(tmp_path, "[table: ^t$]\n"), args


def test_a_complete_report_replaces_the_previous_one_file_by_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    previous_report(out)
    staged = report.StagedReport(str(out))
    for name in ("report.json", "timeline.csv"):  # no report.png: matplotlib missing
        Path(staged.path(name)).write_text("new\n", encoding="utf-8")
    # Until the commit, the new files are in a hidden directory beside the old report.
    assert staged.staging is not None and Path(staged.staging).parent == out
    assert Path(staged.staging).name.startswith(".backtest-")
    assert {name: (out / name).read_text(encoding="utf-8") for name in PREVIOUS} == PREVIOUS
    staged.commit()
    # The old report.png would not belong to the new report: it is gone.
    assert contents(out) == {"report.json": "new\n", "timeline.csv": "new\n"}


def test_an_unfinished_report_leaves_the_previous_one_or_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    previous_report(out)
    staged = report.StagedReport(str(out))
    Path(staged.path("report.json")).write_text("half", encoding="utf-8")
    staged.discard()
    assert contents(out) == PREVIOUS
    fresh = report.StagedReport(str(tmp_path / "fresh"))
    Path(fresh.path("report.json")).write_text("half", encoding="utf-8")
    fresh.discard()
    assert not (tmp_path / "fresh").exists()  # made by this run, so removed


def test_sigterm_while_writing_the_report_exits_143_and_keeps_the_previous_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config, args = backtest(tmp_path)
    previous_report(tmp_path / "out")

    def terminated(path: str, models: object) -> None:
        Path(path).write_bytes(b"half a png")
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(report, "write_plot", terminated)
    before = signal.getsignal(signal.SIGTERM)
    assert runner.run_simulation(config, args) == 143
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"dynamic-dynamodb: interrupted by SIGTERM before the report was complete; "
        f"{args.report_dir} is left as it was")
    assert contents(tmp_path / "out") == PREVIOUS  # no report.json of this run, no .backtest-*
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigint_exits_130_not_0(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    config, args = backtest(tmp_path)

    def interrupted(*_: object, **__: object) -> None:
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(report, "write_json", interrupted)
    assert runner.run_simulation(config, args) == 130
    assert "interrupted by SIGINT" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _killed(*_: object, **__: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _terminated(*_: object, **__: object) -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def _fails(*_: object, **__: object) -> None:
    raise SimulationError("the engine failed")


def test_a_worker_that_dies_or_fails_is_an_error_not_a_hang(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not runner.parallel_possible():
        pytest.skip("one CPU: no worker process")
    config, args = backtest(tmp_path)
    # The forked worker runs the patched replay.
    monkeypatch.setattr(runner, "run_dynamic_dynamodb", _killed)
    with pytest.raises(SimulationError, match=r"replay process died \(exit status -9\)"):
        runner.run_simulation(config, args)
    monkeypatch.setattr(runner, "run_dynamic_dynamodb", _fails)
    with pytest.raises(SimulationError, match="the engine failed"):
        runner.run_simulation(config, args)
    # SIGTERM to the whole process group can reach the worker first: still an interruption.
    monkeypatch.setattr(runner, "run_dynamic_dynamodb", _terminated)
    assert runner.run_simulation(config, args) == 143
    assert not (tmp_path / "out").exists()


def test_trace_limits_come_from_the_flags(tmp_path: Path) -> None:
    _, args = backtest(tmp_path)
    limits = settings_from_args(args).trace_limits
    assert (limits.max_gap, limits.fill_gaps) == (timedelta(days=2), False)
    _, args = backtest(tmp_path, "--max-trace-gap", "36h", "--fill-trace-gaps")
    limits = settings_from_args(args).trace_limits
    assert (limits.max_gap, limits.fill_gaps) == (timedelta(hours=36), True)
    _, args = backtest(tmp_path, "--max-trace-gap", "2 weeks")
    with pytest.raises(SimulationError, match=r"^--max-trace-gap: expected hours \(48\) or a "):
        settings_from_args(args)
    _, args = backtest(tmp_path, "--update-delay", "nan")
    with pytest.raises(SimulationError, match="--update-delay must be a finite number >= 0"):
        settings_from_args(args)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_shown_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    terminal = Terminal()
    progress = Progress(terminal)
    progress.show("replaying dynamic-dynamodb: 40 %")
    progress.clear()
    assert terminal.getvalue() == "\r\x1b[Kreplaying dynamic-dynamodb: 40 %\r\x1b[K"
    piped = io.StringIO()
    Progress(piped).show("replaying")
    assert piped.getvalue() == ""


def test_a_gap_the_flags_allow_is_replayed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    config, args = backtest(tmp_path, "--max-trace-gap", "1h")
    Path(args.simulate).write_text(HEADER + "2024-03-01T10:00:00Z,t,,5,1\n"
                                   "2024-03-01T12:00:00Z,t,,5,1\n", encoding="utf-8")
    monkeypatch.setattr(report, "write_plot", lambda path, models: "no plot here")
    with pytest.raises(TraceError, match=r"line 3: no row at all for 1 h 59 min .* up to 1 h "):
        runner.run_simulation(config, args)
    for flags in (["--max-trace-gap", "2h"], ["--max-trace-gap", "1h", "--fill-trace-gaps"]):
        _, args = backtest(tmp_path, *flags)
        Path(args.simulate).write_text(HEADER + "2024-03-01T10:00:00Z,t,,5,1\n"
                                       "2024-03-01T12:00:00Z,t,,5,1\n", encoding="utf-8")
        assert runner.run_simulation(config, args) == 0
        assert "121 minutes from 2024-03-01 10:00 UTC" in capsys.readouterr().out
