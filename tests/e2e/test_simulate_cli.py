"""The real ``dynamic-dynamodb --simulate`` command on tiny traces: offline, hand-checked."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

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
