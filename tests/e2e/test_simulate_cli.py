"""The real ``dynamic-dynamodb --simulate`` command on tiny traces: offline, hand-checked;
and on a longer one, stopped by SIGTERM or SIGINT."""

from __future__ import annotations

import csv
import gzip
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from dynamic_dynamodb.simulate.trace import write_trace
from dynamic_dynamodb.simulate.traces import generate
from tests.conftest import CLI, run_cli

CONF = "[table: ^t$]\n"
HEADER = "timestamp,table,gsi,read_demand,write_demand,initial_read,initial_write\n"


def tiny_trace(path: Path) -> None:
    rows = [f"2024-03-01T10:{minute:02d}:00Z,t,,5,1" + (",10,2" if minute == 0 else "")
            for minute in range(10)]
    rows.append("2024-03-01T10:00:00Z,unmanaged,,1,1")
    path.write_text(HEADER + "\n".join(reversed(rows)) + "\n", encoding="utf-8")


def test_simulate_writes_report_json_and_timeline(tmp_path: Path) -> None:
    conf, trace, out = tmp_path / "t.conf", tmp_path / "t.csv", tmp_path / "out"
    conf.write_text(CONF, encoding="utf-8")
    tiny_trace(trace)
    # AWS_ENDPOINT_URL points at a closed port (conftest): any AWS call would fail the run.
    result = run_cli(["-c", str(conf), "--simulate", str(trace), "--report-dir", str(out)])
    assert result.returncode == 0, result.stderr
    assert "unmanaged matches no section" in result.stderr
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    policies = report["policies"]
    assert list(policies) == ["dynamic-dynamodb", "aws-target-tracking", "static-peak",
                              "on-demand", "oracle"]
    keys = {"throttled_cu", "throttled_fraction", "throttled_minutes", "capacity_cost_usd",
            "wasted_fraction", "decreases", "limit_exceeded", "updates"}
    for entry in policies.values():
        assert keys <= set(entry)
    # 5 RCU/s on 10 RCU and 1 WCU/s on 2 WCU (50 %) for 10 minutes: neither dynamic-dynamodb
    # (30-90 %) nor target tracking (50-70 %) moves. Capacity: 10 RCU x 1/6 h x $0.00013 +
    # 2 WCU x 1/6 h x $0.00065 = $0.000433; half of it unused.
    for name in ("dynamic-dynamodb", "aws-target-tracking"):
        assert policies[name]["capacity_cost_usd"] == pytest.approx(0.000433, abs=1e-6)
        assert policies[name]["wasted_fraction"] == pytest.approx(0.5)
        assert policies[name]["throttled_cu"] == 0
        assert policies[name]["updates"] == 0
    # The peak (5 and 1) all the time; the oracle gets there with one decrease at once.
    assert policies["static-peak"]["capacity_cost_usd"] == pytest.approx(0.000217, abs=1e-6)
    assert policies["oracle"]["capacity_cost_usd"] == pytest.approx(0.000217, abs=1e-6)
    assert (policies["oracle"]["decreases"], policies["oracle"]["updates"]) == (1, 1)
    # 3,000 read units x $0.125/M + 600 write units x $0.625/M.
    assert policies["on-demand"]["capacity_cost_usd"] == pytest.approx(0.00075)
    # CloudWatch: checks at 0 and 300 s (check-interval 300), at most 4 metrics each for the
    # one table when nothing throttles (the engine may skip those no decision needs), at
    # $0.01 per 1,000; target tracking's 8 alarms (4 per dimension) for 10 minutes of a 30-day
    # month at $0.10 an alarm-month; the others use none.
    ours, aws = policies["dynamic-dynamodb"], policies["aws-target-tracking"]
    assert 2 <= ours["cloudwatch_metrics_requested"] <= 2 * 4
    assert ours["cloudwatch_cost_usd"] == pytest.approx(
        ours["cloudwatch_metrics_requested"] * 0.01 / 1000)
    assert aws["cloudwatch_alarms"] == 8
    assert aws["cloudwatch_cost_usd"] == pytest.approx(8 * 0.10 * 10 / 43200, abs=1e-6)
    for name in ("static-peak", "on-demand", "oracle"):
        assert policies[name]["cloudwatch_cost_usd"] == 0
    for entry in policies.values():
        assert entry["total_cost_usd"] == pytest.approx(
            entry["capacity_cost_usd"] + entry["cloudwatch_cost_usd"], abs=2e-6)
    prices = report["settings"]["prices"]
    assert (prices["metrics_thousand"], prices["alarm_month"]) == (0.01, 0.10)
    assert (report["settings"]["alarms_per_dimension"], report["settings"]["month_days"]) == (
        4, 30)
    header = next(line for line in result.stdout.splitlines() if line.startswith("policy"))
    assert "capacity $" in header and "CloudWatch $" in header and "total $" in header
    assert (f"CloudWatch: dynamic-dynamodb requested {ours['cloudwatch_metrics_requested']} "
            "metrics ($0.01 per 1,000): $") in result.stdout
    assert " per table-month, reads + writes" in result.stdout
    assert "aws-target-tracking keeps 8 alarms" in result.stdout

    with open(out / "timeline.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["policy", "timestamp", "table", "gsi", "dimension", "demand",
                             "provisioned", "served", "throttled"]
    assert len(rows) == 5 * 2 * 10
    first = rows[0]
    assert (first["policy"], first["timestamp"], first["table"], first["dimension"]) == (
        "dynamic-dynamodb", "2024-03-01T10:00:00Z", "t", "reads")
    assert (first["demand"], first["provisioned"], first["served"], first["throttled"]) == (
        "5", "10", "5", "0")


def test_cloudwatch_prices_come_from_the_flags(tmp_path: Path) -> None:
    conf, trace, out = tmp_path / "t.conf", tmp_path / "t.csv", tmp_path / "out"
    # Throttle events can trigger an increase here: the engine asks 4 metrics a check.
    conf.write_text(CONF + "throttled-reads-upper-threshold: 1\n"
                    "throttled-writes-upper-threshold: 1\n", encoding="utf-8")
    tiny_trace(trace)
    result = run_cli(["-c", str(conf), "--simulate", str(trace), "--report-dir", str(out),
                      "--price-metrics-thousand", "1000", "--price-alarm-month", "4320"])
    assert result.returncode == 0, result.stderr
    policies = json.loads((out / "report.json").read_text(encoding="utf-8"))["policies"]
    # 8 metrics at $1 each; 8 alarms x $4,320 a month x 10 / 43,200 minutes = $8.
    assert policies["dynamic-dynamodb"]["cloudwatch_cost_usd"] == pytest.approx(8.0)
    assert policies["aws-target-tracking"]["cloudwatch_cost_usd"] == pytest.approx(8.0)
    assert policies["aws-target-tracking"]["total_cost_usd"] == pytest.approx(
        8.0 + policies["aws-target-tracking"]["capacity_cost_usd"])
    row = next(line for line in result.stdout.splitlines()
               if line.startswith("aws-target-tracking"))
    assert row.split()[4:7] == ["0.00", "8.00", "8.00"]


def test_throttling_is_counted(tmp_path: Path) -> None:
    # 30 CU/s on 10 RCU for 5 minutes: 1,200 CU short a minute; the 3,000 CU bucket covers
    # 2.5 minutes. Static peak (30) never throttles.
    conf, trace, out = tmp_path / "t.conf", tmp_path / "t.csv", tmp_path / "out"
    conf.write_text("[table: ^t$]\nenable-reads-autoscaling: false\n", encoding="utf-8")
    trace.write_text(HEADER + "".join(
        f"2024-03-01T10:0{m}:00Z,t,,30,1{',10,2' if m == 0 else ''}\n" for m in range(5)),
        encoding="utf-8")
    result = run_cli(["-c", str(conf), "--simulate", str(trace), "--report-dir", str(out),
                      "--tt-target", "90"])
    assert result.returncode == 0, result.stderr
    policies = json.loads((out / "report.json").read_text(encoding="utf-8"))["policies"]
    ours = policies["dynamic-dynamodb"]
    # 5 x 1,800 demanded, 5 x 600 provisioned + 3,000 burst served: 3,000 throttled.
    assert ours["throttled_cu"] == pytest.approx(3000)
    assert ours["throttled_fraction"] == pytest.approx(3000 / (5 * 1800 + 5 * 60))
    assert ours["throttled_minutes"] == 3  # minute 2 half, minutes 3 and 4 fully
    assert policies["static-peak"]["throttled_cu"] == 0
    assert "dynamic-dynamodb" in result.stdout and "throttled CU" in result.stdout


def test_malformed_trace_names_line_and_column(tmp_path: Path) -> None:
    conf, trace = tmp_path / "t.conf", tmp_path / "t.csv"
    conf.write_text(CONF, encoding="utf-8")
    trace.write_text(HEADER + "2024-03-01T10:00:00Z,t,,5,1\n2024-03-01T10:01:00Z,t,,five,1\n",
                     encoding="utf-8")
    result = run_cli(["-c", str(conf), "--simulate", str(trace), "--report-dir",
                      str(tmp_path / "out")])
    assert result.returncode == 1
    assert f"{trace}, line 3, column 'read_demand': expected a number, got 'five'" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("name", "content", "message"), [
    ("dir.csv", None, ": is a directory, not a trace file"),
    ("cut.csv.gz", gzip.compress(HEADER.encode() + b"x" * 1000)[:-20],
     ", line 1: the gzip data is truncated"),
    ("binary.csv", b"\x7fELF\x02\x01\x01\x00\x00", ", line 1: a NUL byte: a binary file"),
], ids=["directory", "truncated-gzip", "binary"])
def test_a_bad_trace_is_one_line_and_exit_1(tmp_path: Path, name: str, content: bytes | None,
                                            message: str) -> None:
    conf, trace = tmp_path / "t.conf", tmp_path / name
    conf.write_text(CONF, encoding="utf-8")
    if content is None:
        trace.mkdir()
    else:
        trace.write_bytes(content)
    result = run_cli(["-c", str(conf), "--simulate", str(trace), "--report-dir",
                      str(tmp_path / "out")])
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(f"dynamic-dynamodb: error: {trace}{message}")
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_a_long_gap_is_refused_unless_allowed_or_filled(tmp_path: Path) -> None:
    conf, trace, out = tmp_path / "t.conf", tmp_path / "t.csv", tmp_path / "out"
    conf.write_text(CONF, encoding="utf-8")
    trace.write_text(HEADER + "2024-03-01T10:00:00Z,t,,5,1,10,2\n2024-03-01T10:01:00Z,t,,5,1\n"
                     "2024-03-04T10:00:00Z,t,,6,1\n", encoding="utf-8")
    args = ["-c", str(conf), "--simulate", str(trace), "--report-dir", str(out)]
    refused = run_cli(args)
    assert refused.returncode == 1
    assert refused.stderr == (
        f"dynamic-dynamodb: error: {trace}, line 4: no row at all for 2 days 23 h 58 min before "
        "2024-03-04T10:00Z (the previous row, line 3, is at 2024-03-01T10:01Z); gaps of up to "
        "2 days are allowed (--max-trace-gap), or --fill-trace-gaps carries the last demand "
        "across them\n")
    assert run_cli([*args, "--max-trace-gap", "2 weeks"]).stderr == (
        "dynamic-dynamodb: error: --max-trace-gap: expected hours (48) or a duration like 90m, "
        "36h, 2d, 1d12h; got '2 weeks'\n")
    # (A larger --max-trace-gap is accepted too: tests/unit/simulate/test_interrupt.py.)
    result = run_cli([*args, "--fill-trace-gaps"])
    assert result.returncode == 0, result.stderr
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["minutes"] == (
        3 * 1440 + 1)


def _processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, process group, state) of every process, from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as handle:
                    stat = handle.read()
            except OSError:
                continue  # gone meanwhile
            fields = stat[stat.rindex(")") + 2:].split()
            found[int(entry)] = (int(fields[1]), int(fields[2]), fields[0])
    return found


def _living(pid: int) -> bool:
    state = _processes().get(pid)
    return state is not None and state[2] != "Z"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
@pytest.mark.parametrize(("signum", "whole_group", "earlier_report"), [
    (signal.SIGTERM, False, True),  # kill PID
    (signal.SIGTERM, True, False),  # systemd, or kill -TERM -PGID
    (signal.SIGINT, True, True),  # Ctrl-C in a terminal: the whole foreground group
    (signal.SIGINT, False, False),
], ids=["SIGTERM", "SIGTERM-group", "SIGINT-group", "SIGINT"])
def test_a_signal_stops_the_run_and_its_worker_and_leaves_no_partial_report(
        tmp_path: Path, signum: int, whole_group: bool, earlier_report: bool) -> None:
    conf, trace, out = tmp_path / "t.conf", tmp_path / "t.csv.gz", tmp_path / "out"
    # Checks every minute with the whole engine: the worker replays for seconds.
    conf.write_text("[global]\ncheck-interval: 60\n[table: ^my_table$]\n"
                    "lookback-window-start: 3\nlookback-period: 2\n", encoding="utf-8")
    write_trace(str(trace), generate("diurnal", days=7))
    if earlier_report:
        out.mkdir()
        for name in ("report.json", "timeline.csv", "report.png"):
            (out / name).write_text(f"the previous {name}\n", encoding="utf-8")
    before = sorted(os.listdir(out)) if earlier_report else None
    with open(tmp_path / "stdout", "wb") as stdout, open(tmp_path / "stderr", "wb") as stderr:
        # Files, not pipes: a leftover worker holding a pipe could not hang the test.
        run = subprocess.Popen([CLI, "-c", str(conf), "--simulate", str(trace), "--report-dir",
                                str(out)], stdout=stdout, stderr=stderr, start_new_session=True)
    try:
        # Ready when the worker is forked: wait for it, not for a guessed time.
        deadline = time.monotonic() + 30
        workers: list[int] = []
        while not workers and run.poll() is None and time.monotonic() < deadline:
            workers = [pid for pid, (parent, _, _) in _processes().items() if parent == run.pid]
            time.sleep(0.01)
        assert workers and run.poll() is None, "the worker never started"
        sent = time.monotonic()
        (os.killpg if whole_group else os.kill)(run.pid, signum)
        code = run.wait(timeout=10)
        took = time.monotonic() - sent
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    stderr_text = (tmp_path / "stderr").read_text(encoding="utf-8")
    name = signal.Signals(signum).name
    assert code == 128 + signum, stderr_text
    assert took < 5
    assert stderr_text.splitlines()[-1] == (
        f"dynamic-dynamodb: interrupted by {name} before the report was complete; {out} is "
        "left as it was")
    assert "Traceback" not in stderr_text
    # The worker is gone, and so is everything else of the run's process group (its session).
    assert not any(_living(pid) for pid in workers)
    assert [pid for pid, (_, group, state) in _processes().items()
            if group == run.pid and state != "Z"] == []
    # The previous report, untouched and with no stray file beside it; or no directory.
    if earlier_report:
        assert sorted(os.listdir(out)) == before
        assert (out / "report.json").read_text(encoding="utf-8") == "the previous report.json\n"
    else:
        assert not out.exists()


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_the_decision_log_is_the_engines_own_log_on_the_traces_clock(
    tmp_path: Path, log_format: str,
) -> None:
    conf, trace, out = tmp_path / "t.conf", tmp_path / "t.csv", tmp_path / "out"
    conf.write_text(f"[logging]\nlog-format: {log_format}\n{CONF}", encoding="utf-8")
    tiny_trace(trace)
    result = run_cli(["-c", str(conf), "--simulate", str(trace), "--report-dir", str(out),
                      "--decision-log"])
    assert result.returncode == 0, result.stderr
    assert "and decisions.log to" in result.stdout
    lines = (out / "decisions.log").read_text(encoding="utf-8").splitlines()
    assert lines
    if log_format == "json":
        records = [json.loads(line) for line in lines]
        assert records[0]["time"].startswith("2024-03-01T10:00")  # the trace's clock
        assert any(record.get("decision", {}).get("table") == "t" for record in records)
    else:
        assert lines[0].startswith("2024-03-01 10:00")
        assert any(" - t - Reads: " in line for line in lines)


def test_without_the_flag_there_is_no_decision_log(tmp_path: Path) -> None:
    conf, trace, out = tmp_path / "t.conf", tmp_path / "t.csv", tmp_path / "out"
    conf.write_text(CONF, encoding="utf-8")
    tiny_trace(trace)
    assert run_cli(["-c", str(conf), "--simulate", str(trace), "--report-dir",
                    str(out)]).returncode == 0
    assert not (out / "decisions.log").exists()
