"""cloudformation/user-data.sh: shellcheck-clean, and run against a scratch root.

The run is real except for what would change this machine or depends on it: systemctl,
useradd, chown, getent, service and dnf are stubs on PATH that record their arguments. The
configuration and the wheel come from moto's S3 (moto_server on 127.0.0.1); pip fetches the
dependencies from the package index.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3

from demo.localaws import moto_env
from dynamic_dynamodb import __version__
from tests.deploy.support import CONFIG, UNIT, USER_DATA, tool

# Stub → exit status: no dynamic-dynamodb user yet, and dnf is not needed (python and service
# are there).
STUBS = {"getent": 2, "useradd": 0, "chown": 0, "systemctl": 0, "service": 0, "dnf": 1}


def test_user_data_is_shellcheck_clean() -> None:
    result = tool("shellcheck", str(USER_DATA))
    assert result.returncode == 0, result.stdout


def stub_commands(directory: Path, log: Path) -> None:
    """Commands that only record how they were called."""
    directory.mkdir()
    for name, status in STUBS.items():
        stub = directory / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >>"{log}"\nexit {status}\n')
        stub.chmod(0o755)


def test_user_data_installs_and_starts_the_service(tmp_path: Path, moto_endpoint: str,
                                                   wheel: Path) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="config-bucket")
    s3.put_object(Bucket="config-bucket", Key="ddb/dynamic-dynamodb.conf", Body=CONFIG.encode())
    s3.upload_file(str(wheel), "config-bucket", f"ddb/{wheel.name}")

    root, log = tmp_path / "root", tmp_path / "calls.log"
    stub_commands(tmp_path / "stubs", log)
    env = {
        **moto_env(moto_endpoint),
        "PATH": f"{tmp_path / 'stubs'}{os.pathsep}{os.environ['PATH']}",
        "DDB_ROOT": str(root),
        "DDB_PYTHON": sys.executable,
        "DDB_CONFIG_URL": "s3://config-bucket/ddb/dynamic-dynamodb.conf",
        "DDB_S3_REGION": "us-east-1",
        "DDB_PACKAGE": f"s3://config-bucket/ddb/{wheel.name}",
        "DDB_CHECK_INTERVAL": "120",
    }
    result = subprocess.run(["bash", str(USER_DATA)], env=env, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr

    config = root / "etc/dynamic-dynamodb/dynamic-dynamodb.conf"
    assert config.read_text() == CONFIG
    assert oct(config.stat().st_mode & 0o777) == "0o640"
    unit = root / "etc/systemd/system/dynamic-dynamodb.service"
    assert unit.read_text() == UNIT.read_text()
    exec_start = next(line for line in UNIT.read_text().splitlines()
                      if line.startswith("ExecStart="))
    drop_in = unit.with_name("dynamic-dynamodb.service.d") / "check-interval.conf"
    assert drop_in.read_text() == f"[Service]\nExecStart=\n{exec_start} --check-interval 120\n"

    # The unit's command: /usr/local/bin/dynamic-dynamodb, from the wheel, in its virtualenv.
    command = root / "usr/local/bin/dynamic-dynamodb"
    assert command.resolve() == root / "opt/dynamic-dynamodb/bin/dynamic-dynamodb"
    version = subprocess.run([str(command), "--version"], capture_output=True, text=True,
                             timeout=60, check=True)
    assert __version__ in version.stdout + version.stderr

    calls = log.read_text().splitlines()
    assert calls == [
        "getent passwd dynamic-dynamodb",
        "useradd --system --home-dir /var/lib/dynamic-dynamodb --shell /usr/sbin/nologin "
        "dynamic-dynamodb",
        f"chown root:dynamic-dynamodb {root}/etc/dynamic-dynamodb",
        f"chown root:dynamic-dynamodb {config}",
        "systemctl daemon-reload",
        "systemctl enable --now dynamic-dynamodb.service",
    ]
