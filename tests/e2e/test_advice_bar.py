"""``--max-throttled`` sets the advice's bar for ``--simulate`` (and ``--advise``): the
throttled fraction a provisioned policy may keep and still be advised."""

from __future__ import annotations

import json
from pathlib import Path

from dynamic_dynamodb.simulate.trace import write_trace
from dynamic_dynamodb.simulate.traces import generate
from tests.conftest import run_cli


def _advice(tmp_path: Path, *extra: str) -> dict[str, object]:
    tmp_path.mkdir()
    conf, trace, out = tmp_path / "t.conf", tmp_path / "t.csv.gz", tmp_path / "out"
    conf.write_text("[table: ^my_table$]\n", encoding="utf-8")
    write_trace(str(trace), generate("burst", days=2))
    result = run_cli(["-c", str(conf), "--simulate", str(trace), "--report-dir", str(out),
                      *extra], timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    bar = extra[extra.index("--max-throttled") + 1] if "--max-throttled" in extra else "1%"
    assert report["settings"]["advice_max_throttled"] == float(bar.rstrip("%")) / 100
    (entry,) = report["advice"]
    return entry  # type: ignore[no-any-return]


def test_a_higher_bar_lets_a_policy_that_throttles_a_little_be_advised(tmp_path: Path) -> None:
    # Two days of the burst trace: every provisioned policy cheaper than on-demand throttles
    # a little over 1 % (1.1-1.2 %), so the default bar advises on-demand; at 5 % the
    # cheapest of them is advised.
    default = _advice(tmp_path / "default")
    assert default["recommendation"] == "on-demand"
    assert 0.01 < default["throttled_fraction"] < 0.05  # type: ignore[operator]
    raised = _advice(tmp_path / "raised", "--max-throttled", "5%")
    assert raised["recommendation"] == "provisioned"
    assert raised["throttled_fraction"] <= 0.05  # type: ignore[operator]
    assert raised["provisioned_cost_usd"] <= raised["on_demand_cost_usd"]  # type: ignore[operator]


def test_a_bar_that_is_not_a_fraction_is_one_error_line(tmp_path: Path) -> None:
    conf, trace = tmp_path / "t.conf", tmp_path / "t.csv.gz"
    conf.write_text("[table: ^my_table$]\n", encoding="utf-8")
    write_trace(str(trace), generate("burst", days=1))
    result = run_cli(["-c", str(conf), "--simulate", str(trace), "--report-dir",
                      str(tmp_path / "out"), "--max-throttled", "150%"], timeout=60)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "dynamic-dynamodb: error: --max-throttled must be between 0 and 1 (0 % and 100 %), "
        "got '150%'"]
    assert not (tmp_path / "out").exists()
