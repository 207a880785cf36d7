"""UpdateTable requests and cycles to scale a table with 3 GSIs that all need more capacity.

Runs the real ``dynamic-dynamodb --run-once`` against the twin (tests/twin: moto behind an
AWS-like layer that keeps a table UPDATING after a change and refuses a second UpdateTable
meanwhile), one cycle per check interval, until the table and every GSI are scaled.
Goal: 1 request, 1 cycle. Prints the figures; asserts nothing.

    .venv/bin/python bench/update_requests.py [--update-seconds 120] [--interval 60]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo.seed import Traffic, create_table, put_traffic  # noqa: E402
from tests.twin import Twin, TwinClock  # noqa: E402

CLI = str(Path(sys.executable).with_name("dynamic-dynamodb"))
CONFIG = "[table: ^orders$]\n[gsi: .* table: ^orders$]\n"
GSIS = ("by_a", "by_b", "by_c")


def capacities(ddb: object) -> list[int]:
    table = ddb.describe_table(TableName="orders")["Table"]  # type: ignore[attr-defined]
    found = [table["ProvisionedThroughput"]["ReadCapacityUnits"]]
    found += [index["ProvisionedThroughput"]["ReadCapacityUnits"]
              for index in table["GlobalSecondaryIndexes"]]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update-seconds", type=float, default=120,
                        help="how long the twin keeps a table UPDATING after a change")
    parser.add_argument("--interval", type=float, default=60, help="check interval, seconds")
    parser.add_argument("--max-cycles", type=int, default=10)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, Twin(
        clock=TwinClock(start="2026-03-02T10:00:00+00:00"), update_seconds=options.update_seconds,
        new_peak_seconds=options.update_seconds, show_old_throughput_while_updating=False,
    ) as twin:
        config = Path(scratch) / "dd.conf"
        config.write_text(CONFIG)
        ddb, cloudwatch = twin.client("dynamodb"), twin.client("cloudwatch")
        create_table(ddb, "orders", 100, 100, gsis={gsi: (100, 100) for gsi in GSIS})
        for gsi in (None, *GSIS):
            put_traffic(cloudwatch, ddb, Traffic("orders", gsi, 95, 50))
        twin.reset_counts()
        cycles = 0
        while cycles < options.max_cycles:
            cycles += 1
            result = subprocess.run(
                [CLI, "-c", str(config), "--run-once", "--state-file",
                 str(Path(scratch) / "state.json")],
                env=twin.env(), capture_output=True, text=True, check=False)
            if result.returncode != 0:
                print(result.stdout + result.stderr)
                raise SystemExit(f"cycle {cycles} failed")
            if all(units >= 150 for units in capacities(ddb)):
                break
            twin.clock.advance(options.interval)
        in_use = sum(1 for record in twin.records
                     if record.operation == "UpdateTable" and record.error == "ResourceInUseException")
        print(f"table + {len(GSIS)} GSIs, all needing more reads; UPDATING lasts "
              f"{options.update_seconds:g} s, checks every {options.interval:g} s")
        print(f"  UpdateTable requests: {twin.count('UpdateTable')} (ResourceInUse refusals: "
              f"{in_use})")
        print(f"  cycles until all four are scaled: {cycles}")


if __name__ == "__main__":
    main()
