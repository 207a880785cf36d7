"""The Dockerfile: hadolint-clean, a build context that holds what it copies, and its command
line and health check run as the container would run them (no Docker engine needed)."""

from __future__ import annotations

import fnmatch
import os
import signal
import subprocess
import time
from pathlib import Path

from demo.localaws import moto_env
from tests.deploy.support import (
    BIN,
    CONFIG,
    REPO,
    build_context_sources,
    dockerfile,
    exec_form,
    instruction,
    tool,
)

CONFIG_DIR = "/etc/dynamic-dynamodb"
STATE_DIR = "/var/lib/dynamic-dynamodb"


def test_hadolint_is_clean() -> None:
    result = tool("hadolint", str(REPO / "Dockerfile"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerignore_lets_in_what_the_dockerfile_copies() -> None:
    """.dockerignore excludes everything, then lets in exactly the build's sources."""
    rules = [line for line in (REPO / ".dockerignore").read_text().splitlines()
             if line and not line.startswith("#")]
    assert rules[0] == "*"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert allowed == set(build_context_sources())
    assert all((REPO / source).exists() for source in allowed)
    excluded = [rule for rule in rules[1:] if not rule.startswith("!")]
    assert not any(fnmatch.fnmatch(source, rule) for rule in excluded for source in allowed)


def test_image_runs_as_a_non_root_user_with_the_config_mounted() -> None:
    user = instruction("USER")
    assert user.stage == dockerfile()[-1].stage, "USER must be set in the final stage"
    assert user.arguments.split(":")[0] not in ("0", "root")
    command = exec_form(instruction("ENTRYPOINT")) + exec_form(instruction("CMD"))
    assert command[:3] == ["dynamic-dynamodb", "--config", f"{CONFIG_DIR}/dynamic-dynamodb.conf"]
    assert command[-2:] == ["--daemon", "foreground"]


def container_paths(arguments: list[str], root: Path) -> list[str]:
    """The container's paths moved under ``root``, as if it were the container's file system."""
    return [argument.replace(CONFIG_DIR, f"{root}{CONFIG_DIR}")
                    .replace(STATE_DIR, f"{root}{STATE_DIR}") for argument in arguments]


def health_check(root: Path) -> int:
    """The HEALTHCHECK command, with the image's environment; its exit status."""
    environment = dict(os.environ)
    for item in dockerfile():
        if item.keyword == "ENV" and item.stage != "build":
            environment.update(pair.partition("=")[::2] for pair in item.arguments.split())
    command = container_paths(exec_form(instruction("HEALTHCHECK")), root)
    return subprocess.run(command, env=environment, timeout=30, check=False).returncode


def test_command_line_runs_the_daemon_and_the_health_check_follows_it(
        tmp_path: Path, moto_endpoint: str) -> None:
    (tmp_path / CONFIG_DIR[1:]).mkdir(parents=True)
    (tmp_path / STATE_DIR[1:]).mkdir(parents=True)
    (tmp_path / CONFIG_DIR[1:] / "dynamic-dynamodb.conf").write_text(CONFIG)
    assert health_check(tmp_path) != 0  # no state file yet

    command = container_paths(exec_form(instruction("ENTRYPOINT"))
                              + exec_form(instruction("CMD")), tmp_path)
    env = {**moto_env(moto_endpoint), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    daemon = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    state = tmp_path / STATE_DIR[1:] / "state.json"
    try:
        deadline = time.monotonic() + 20
        while not state.exists() and daemon.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        written = state.exists()
        healthy = written and health_check(tmp_path) == 0
        if written:
            old = time.time() - 3600
            os.utime(state, (old, old))  # as if the daemon had been stuck for an hour
        healthy_when_stale = written and health_check(tmp_path) == 0
    finally:
        daemon.send_signal(signal.SIGTERM)  # docker stop
        output, _ = daemon.communicate(timeout=30)
    assert written, f"no state file after the first cycle; the daemon said:\n{output}"
    assert healthy
    assert not healthy_when_stale
    assert daemon.returncode == 0, output
    assert "Daemon started in foreground" in output
