"""Soak: run the real daemon with --check-interval 0 against moto_server for N cycles.

Prints the exact command, the daemon's resident memory (VmRSS) after its first cycle and
after the last, and a few points in between. Memory must stay flat over thousands of cycles.

    python bench/soak.py [CYCLES]        (default 500)

Everything runs on 127.0.0.1 with fake credentials; nothing reaches AWS.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config as BotoConfig

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from demo.localaws import moto_env, moto_server  # noqa: E402
from demo.seed import Traffic, create_table, put_traffic  # noqa: E402

CLI = str(Path(sys.executable).with_name("dynamic-dynamodb"))
CONFIG = """\
[global]
check-interval: 0
[logging]
log-level: info
[default_options]
min-provisioned-reads: 5
max-provisioned-reads: 1000
min-provisioned-writes: 5
max-provisioned-writes: 1000
[table: ^soak-]
[gsi: ^by_ table: ^soak-]
"""


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cycles_done(log: Path) -> int:
    try:
        with open(log, "rb") as handle:
            return handle.read().count(b"Cycle done:")
    except FileNotFoundError:
        return 0


def seed(endpoint: str) -> None:
    kwargs = {"endpoint_url": endpoint, "region_name": "us-east-1",
              "aws_access_key_id": "testing", "aws_secret_access_key": "testing",
              "config": BotoConfig(retries={"total_max_attempts": 1})}
    dynamodb = boto3.client("dynamodb", **kwargs)
    cloudwatch = boto3.client("cloudwatch", **kwargs)
    create_table(dynamodb, "soak-busy", 10, 10, gsis={"by_user": (5, 5)})
    create_table(dynamodb, "soak-idle", 100, 100)
    create_table(dynamodb, "soak-steady", 50, 50)
    put_traffic(cloudwatch, dynamodb, Traffic("soak-busy", consumed_read_percent=95,
                                              consumed_write_percent=60))
    put_traffic(cloudwatch, dynamodb, Traffic("soak-busy", gsi="by_user",
                                              consumed_read_percent=80))
    put_traffic(cloudwatch, dynamodb, Traffic("soak-steady", consumed_read_percent=50,
                                              consumed_write_percent=50))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cycles", nargs="?", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=1800,
                        help="give up after this many seconds (default 1800)")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dd-soak-") as scratch, \
            moto_server(os.path.join(scratch, "moto.log")) as endpoint:
        work = Path(scratch)
        seed(endpoint)
        config = work / "soak.conf"
        config.write_text(CONFIG, encoding="utf-8")
        log = work / "soak.log"
        command = [CLI, "-c", str(config), "--daemon", "start", "--pid-file-dir", str(work),
                   "--instance", "soak", "--log-file", str(log)]
        print("command:", shlex.join(command))
        print(f"endpoint: {endpoint} (moto_server on loopback)")
        started = subprocess.run(command, env=moto_env(endpoint), capture_output=True,
                                 text=True, check=False, timeout=120)
        if started.returncode != 0:
            print(started.stdout, started.stderr, sep="\n")
            return 1
        pid = int((work / "dynamic-dynamodb.soak.pid").read_text())
        try:
            deadline = time.monotonic() + options.timeout
            while cycles_done(log) < 1:
                time.sleep(0.05)
            first = rss_kib(pid)
            began = time.monotonic()
            print(f"cycle {1:>6}: RSS {first / 1024:7.1f} MiB (start)")
            checkpoints = sorted({options.cycles * k // 4 for k in (1, 2, 3)} - {0, 1})
            done = 1
            while done < options.cycles:
                if time.monotonic() > deadline:
                    print(f"timed out after {options.timeout:g} s at cycle {done}")
                    return 1
                time.sleep(0.2)
                done = cycles_done(log)
                while checkpoints and done >= checkpoints[0]:
                    print(f"cycle {checkpoints.pop(0):>6}: RSS {rss_kib(pid) / 1024:7.1f} MiB")
            last = rss_kib(pid)
            elapsed = time.monotonic() - began
            print(f"cycle {done:>6}: RSS {last / 1024:7.1f} MiB (end)")
            print(f"{done - 1} cycles in {elapsed:.1f} s ({(done - 1) / elapsed:.1f} cycles/s); "
                  f"RSS change {(last - first) / 1024:+.1f} MiB "
                  f"({(last - first) / first * 100:+.1f} %)")
            errors = log.read_text(encoding="utf-8").count(" - ERROR - ")
            print(f"errors logged: {errors}")
        finally:
            stopped = subprocess.run([CLI, "--daemon", "stop", "--pid-file-dir", str(work),
                                      "--instance", "soak"], capture_output=True, text=True,
                                     check=False, timeout=120)
            if stopped.returncode != 0:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    if b"dynamic-dynamodb" in handle.read():
                        os.kill(pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
