"""Helpers of the deployment tests: the repository's files, read as the tools would."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the test virtualenv's commands: cfn-lint, shellcheck, ...
TEMPLATE = REPO / "cloudformation" / "dynamic-dynamodb.yaml"
USER_DATA = REPO / "cloudformation" / "user-data.sh"
UNIT = REPO / "contrib" / "dynamic-dynamodb.service"
POLICY = REPO / "iam" / "dynamic-dynamodb-policy.json"
POLICY_EXTRAS = REPO / "iam" / "dynamic-dynamodb-policy-extras.json"

# A small valid configuration; the tests serve it from S3 or mount it like a container would.
CONFIG = """\
[global]
region: us-east-1
check-interval: 300

[table: ^orders$]
reads-upper-threshold: 90
writes-upper-threshold: 90
"""


def tool(name: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command installed in the test virtualenv (by the test extras)."""
    return subprocess.run([str(BIN / name), *args], input=stdin, capture_output=True, text=True,
                          timeout=120, check=False)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """A CloudFormation template as a dict (short-form !Ref/!Sub tags expanded)."""
    from cfnlint.decode import decode

    template, errors = decode(str(path))
    assert not errors, errors
    assert template is not None
    return template


def statements(document: dict[str, Any]) -> dict[str, list[str]]:
    """Sid → sorted actions of a policy document."""
    return {statement["Sid"]: sorted(statement["Action"]) for statement in document["Statement"]}


def policy_file(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


@dataclass(frozen=True)
class Instruction:
    stage: str
    keyword: str
    arguments: str


def dockerfile() -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, each tagged with its stage."""
    lines = [line for line in (REPO / "Dockerfile").read_text().splitlines()
             if not line.lstrip().startswith("#")]
    instructions, stage = [], ""
    for logical in "\n".join(lines).replace("\\\n", " ").splitlines():
        keyword, _, arguments = logical.strip().partition(" ")
        if not keyword:
            continue
        if keyword.upper() == "FROM":
            stage = arguments.split(" AS ")[-1]
        instructions.append(Instruction(stage, keyword.upper(), arguments.strip()))
    return instructions


def instruction(keyword: str) -> Instruction:
    """The last instruction of that kind (the one Docker uses for CMD, ENTRYPOINT, ...)."""
    return [item for item in dockerfile() if item.keyword == keyword][-1]


def exec_form(item: Instruction) -> list[str]:
    """The JSON array of an exec-form CMD, ENTRYPOINT or HEALTHCHECK ... CMD."""
    return json.loads(item.arguments[item.arguments.index("["):])


def build_context_sources() -> list[str]:
    """The files and folders the Dockerfile copies from the build context."""
    sources = []
    for item in dockerfile():
        if item.keyword == "COPY" and "--from" not in item.arguments:
            sources += item.arguments.split()[:-1]
    return sources
