"""``--simulate``'s advice: report.json's ``advice`` list and the same on the terminal."""

from __future__ import annotations

import json
from pathlib import Path

from dynamic_dynamodb.simulate.trace import write_trace
from dynamic_dynamodb.simulate.traces import generate
from tests.conftest import run_cli


def test_the_report_advises_on_demand_for_a_near_idle_bursty_table(tmp_path: Path) -> None:
    conf, trace, out = tmp_path / "t.conf", tmp_path / "t.csv.gz", tmp_path / "out"
    conf.write_text("[table: ^my_table$]\n", encoding="utf-8")
    write_trace(str(trace), generate("near-idle-bursty", days=3))

    result = run_cli(["-c", str(conf), "--simulate", str(trace), "--report-dir", str(out)],
                     timeout=120)

    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    (entry,) = report["advice"]
    assert {key: entry[key] for key in ("table", "gsi", "recommendation")} == {
        "table": "my_table", "gsi": None, "recommendation": "on-demand"}
    # On-demand's cost is the demand at the request prices; the provisioned one is a policy of
    # this very report, for this table (the only one, so its whole cost).
    demand = report["policies"]["on-demand"]
    assert entry["on_demand_cost_usd"] == demand["total_cost_usd"]
    quoted = report["policies"][entry["provisioned_policy"]]
    assert entry["provisioned_cost_usd"] == quoted["total_cost_usd"]
    assert entry["throttled_fraction"] == quoted["throttled_fraction"] > 0.3
    lines = result.stdout.splitlines()
    row = lines[lines.index(next(line for line in lines if line.startswith("On-demand or"))) + 3]
    assert row.split()[:2] == ["my_table", "on-demand"]
    assert row.endswith(entry["reason"])
