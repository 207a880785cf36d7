"""How many AWS API calls does one check of many tables cost?

Creates N tables with one GSI each on a local moto server, puts CloudWatch traffic on them,
runs the real ``dynamic-dynamodb --run-once`` once, and counts the requests moto received,
by operation, with moto's own request recorder (independent of the tool's own counter,
which is printed next to it). Also prints the wall time of the run.

    .venv/bin/python bench/api_calls.py [--tables 200]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter

import boto3

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from demo.localaws import moto_env, moto_server
from demo.seed import Traffic, create_table, put_traffic

CONFIG = """\
[global]
region: us-east-1

[logging]
log-level: warning

[table: ^bench-]
min-provisioned-reads: 1
max-provisioned-reads: 10000
min-provisioned-writes: 1
max-provisioned-writes: 10000

[gsi: .* table: ^bench-]
min-provisioned-reads: 1
max-provisioned-reads: 10000
min-provisioned-writes: 1
max-provisioned-writes: 10000
"""


def operation(entry: dict) -> str:
    headers = {key.lower(): value for key, value in entry.get("headers", {}).items()}
    target = headers.get("x-amz-target")
    if target:
        return target.rsplit(".", 1)[-1]
    match = re.search(r"/operation/([A-Za-z]+)", entry.get("url", ""))
    if match:
        return match.group(1)
    body = entry.get("body", "")
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    match = re.search(r"(?:^|&)Action=([A-Za-z]+)", body or "")
    return match.group(1) if match else "unknown"


def moto_api(endpoint: str, path: str, method: str = "POST") -> bytes:
    request = urllib.request.Request(f"{endpoint}/moto-api/recorder/{path}", method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=200)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        os.environ["MOTO_RECORDER_FILEPATH"] = os.path.join(scratch, "recording.jsonl")
        with moto_server() as endpoint:
            dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                                    aws_access_key_id="testing", aws_secret_access_key="testing")
            cloudwatch = boto3.client("cloudwatch", endpoint_url=endpoint,
                                      region_name="us-east-1", aws_access_key_id="testing",
                                      aws_secret_access_key="testing")
            for number in range(options.tables):
                name = f"bench-{number:04d}"
                create_table(dynamodb, name, 100, 100, gsis={f"Gsi{number:04d}": (50, 50)})
                # A mix: every third table busy, every third idle, the rest in between.
                busy = {0: 95.0, 1: 10.0, 2: 50.0}[number % 3]
                put_traffic(cloudwatch, dynamodb, Traffic(name, None, busy, 50.0))
                put_traffic(cloudwatch, dynamodb, Traffic(name, f"Gsi{number:04d}", 50.0, busy))
            config_path = os.path.join(scratch, "bench.conf")
            with open(config_path, "w", encoding="utf-8") as handle:
                handle.write(CONFIG)

            moto_api(endpoint, "reset-recording")
            moto_api(endpoint, "start-recording")
            command = [os.path.join(os.path.dirname(sys.executable), "dynamic-dynamodb"),
                       "-c", config_path, "--run-once", "--log-level", "info",
                       "--state-file", os.path.join(scratch, "state.json")]
            started = time.monotonic()
            result = subprocess.run(command, env=moto_env(endpoint), capture_output=True,
                                    text=True, check=False)
            wall = time.monotonic() - started
            moto_api(endpoint, "stop-recording")
            recording = moto_api(endpoint, "download-recording", method="GET").decode()

    counts = Counter(operation(json.loads(line)) for line in recording.splitlines() if line)
    summary = next((line for line in result.stdout.splitlines() if "Cycle done" in line), "")
    resources = options.tables * 2
    print(f"dynamic-dynamodb --run-once over {options.tables} tables with one GSI each "
          f"({resources} resources), exit status {result.returncode}")
    print(f"{'operation':24} {'requests':>9}")
    for name, count in sorted(counts.items()):
        print(f"{name:24} {count:>9}")
    print(f"{'total':24} {sum(counts.values()):>9}")
    print(f"2.5.1's pattern (12 GetMetricStatistics + 8 DescribeTable per resource): "
          f"~{20 * resources} requests")
    print(f"wall time of the run: {wall:.2f} s")
    print(f"the tool's own summary: {summary.split(' - INFO - ')[-1]}")
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
    return 0 if result.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
