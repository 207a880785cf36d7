"""One cycle over many tables, each with a GSI, with 25 ms added to every AWS request.

Runs the real ``dynamic-dynamodb --run-once`` against moto_server behind a latency-adding
loopback proxy (bench/latency_proxy.py: concurrent, TCP_NODELAY, read-only answers replayed
from memory after a warm-up run, because moto alone answers only about 120 DescribeTable a
second). The tables see no traffic, so this is a quiet cycle: discovery, metrics and
decisions, no updates. Prints the cycle time the tool reports, the wall time of the command
and its peak memory (maximum RSS), for several table counts and `parallel-requests`
settings. Prints the figures; asserts nothing.

    .venv/bin/python bench/scale.py [--tables 100,1000,2500] [--workers 1,10,32]
        [--latency-ms 25]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.latency_proxy import LatencyProxy  # noqa: E402
from demo.localaws import moto_env, moto_server  # noqa: E402

CLI = str(Path(sys.executable).with_name("dynamic-dynamodb"))
CYCLE = re.compile(r"Cycle done: (\d+) tables and (\d+) GSIs checked.*?(\d+) API calls.*?"
                   r"([\d.]+)s$", re.M)


def create(backend: str, count: int, start: int) -> None:
    """Tables t00000… with one GSI each, straight in moto (no added latency)."""
    import boto3

    ddb = boto3.client("dynamodb", endpoint_url=backend, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    for number in range(start, count):
        ddb.create_table(
            TableName=f"t{number:05d}",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "gk", "AttributeType": "S"}],
            ProvisionedThroughput={"ReadCapacityUnits": 10, "WriteCapacityUnits": 10},
            GlobalSecondaryIndexes=[{
                "IndexName": "by_gk", "KeySchema": [{"AttributeName": "gk", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 10, "WriteCapacityUnits": 10}}])


def run_once(endpoint: str, scratch: Path, workers: int) -> tuple[str, float, float]:
    config = scratch / f"scale-{workers}.conf"
    config.write_text(f"[global]\nparallel-requests: {workers}\n[table: ^t]\n"
                      "[gsi: .* table: ^t]\n")
    started = time.monotonic()
    with open(scratch / "out.txt", "w+") as out, open(scratch / "err.txt", "w+") as err:
        process = subprocess.Popen(
            [CLI, "-c", str(config), "--run-once", "--state-file", str(scratch / "state.json")],
            env=moto_env(endpoint), stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)  # the child's own maximum RSS
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    match = CYCLE.search(stdout)
    if process.returncode != 0 or match is None:
        print(stdout[-2000:] + stderr[-2000:])
        raise SystemExit("the run failed")
    summary = (f"{match.group(1)} tables + {match.group(2)} GSIs, {match.group(3)} API calls, "
               f"cycle {float(match.group(4)):.2f} s")
    return summary, wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default="100,1000,2500")
    parser.add_argument("--workers", default="1,10,32")
    parser.add_argument("--latency-ms", type=float, default=25.0)
    options = parser.parse_args()
    counts = sorted(int(n) for n in options.tables.split(","))
    workers = [int(n) for n in options.workers.split(",")]
    print(f"quiet cycle, {options.latency_ms:g} ms added to every AWS request")
    print(f"{'tables':>7} {'parallel-requests':>18}  cycle (the tool's summary)          "
          f"{'wall':>7} {'peak RSS':>9}")
    with tempfile.TemporaryDirectory() as scratch, moto_server(
            os.path.join(scratch, "moto.log")) as backend:
        proxy = LatencyProxy(backend, options.latency_ms / 1000)
        made = 0
        for count in counts:
            create(backend, count, made)
            made = count
            proxy.cache.clear()  # the listing changed
            run_once(proxy.endpoint, Path(scratch), 32)  # warm the proxy's cache
            for worker_count in workers:
                summary, wall, rss = run_once(proxy.endpoint, Path(scratch), worker_count)
                print(f"{count:>7} {worker_count:>18}  {summary:<37} {wall:>6.2f}s "
                      f"{rss:>6.0f} MiB", flush=True)
        proxy.stop()


if __name__ == "__main__":
    main()
