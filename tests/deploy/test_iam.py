"""The IAM policy files grant every AWS action the code calls.

The calls are found in the source text: ``.operation(`` for every operation of the services
the tool uses (from botocore's own service models), ``get_paginator("operation")``,
``get_waiter("waiter")``, boto3's S3 transfer methods and botocore's AssumeRole credential
fetcher. A name that several services share (tag_resource, ...) is satisfied by any of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import botocore.session
from botocore import xform_name
from botocore.exceptions import DataNotFoundError

from tests.deploy.support import POLICY, POLICY_EXTRAS, REPO, policy_file, statements

# boto3 service name = IAM action prefix, for each service the tool may call.
SERVICES = ("dynamodb", "cloudwatch", "sns", "application-autoscaling", "sts", "s3", "ssm")
# Operations whose IAM action has another name.
ACTION_NAMES = {"s3:HeadObject": "s3:GetObject", "s3:ListObjectsV2": "s3:ListBucket"}
# Calls that are no API operation of their own name.
INDIRECT = {
    r"\.download_file(obj)?\(": "s3:GetObject",
    r"\.upload_file(obj)?\(": "s3:PutObject",
    r"\bAssumeRoleCredentialFetcher\(": "sts:AssumeRole",
}
NEEDS_NO_PERMISSION = {"sts:GetCallerIdentity"}

CALL = re.compile(r"\.([a-z][a-z0-9_]*)\(")
PAGINATOR = re.compile(r"""get_paginator\(\s*["']([a-z0-9_]+)["']""")
WAITER = re.compile(r"""get_waiter\(\s*["']([a-z0-9_]+)["']""")


@cache
def operations() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """snake_case operation → IAM actions, and snake_case waiter → the actions it polls with."""
    session = botocore.session.get_session()
    actions: dict[str, set[str]] = {}
    waiters: dict[str, set[str]] = {}
    for service in SERVICES:
        for operation in session.get_service_model(service).operation_names:
            action = f"{service}:{operation}"
            actions.setdefault(xform_name(operation), set()).add(ACTION_NAMES.get(action, action))
        try:
            model = session.get_waiter_model(service)
        except DataNotFoundError:  # the service has no waiters
            continue
        for name in model.waiter_names:
            action = f"{service}:{model.get_waiter(name).operation}"
            waiters.setdefault(xform_name(name), set()).add(action)
    return actions, waiters


def called_actions(source: str) -> list[set[str]]:
    """For each AWS call in ``source``: the IAM actions, any one of which it needs."""
    actions, waiters = operations()
    calls = [actions[name] for name in CALL.findall(source) if name in actions]
    calls += [actions[name] for name in PAGINATOR.findall(source) if name in actions]
    calls += [waiters[name] for name in WAITER.findall(source) if name in waiters]
    calls += [{action} for pattern, action in INDIRECT.items() if re.search(pattern, source)]
    return [call for call in calls if not call <= NEEDS_NO_PERMISSION]


def granted(paths: Iterable[Path]) -> set[str]:
    return {action for path in paths for actions in statements(policy_file(path)).values()
            for action in actions}


def test_scanner_finds_calls_and_names_their_actions() -> None:
    source = """
        client.describe_table(TableName=name)
        for page in client.get_paginator("list_tables").paginate(): ...
        client.get_waiter("table_exists").wait(TableName=name)
        sts.get_caller_identity()
        s3.download_file(bucket, key, path)
        client.tag_resource(ResourceArn=arn, Tags=[])
        text.split(",")
    """
    assert called_actions(source) == [
        {"dynamodb:DescribeTable"},
        {"dynamodb:TagResource", "cloudwatch:TagResource", "sns:TagResource",
         "application-autoscaling:TagResource"},
        {"dynamodb:ListTables"},  # the paginator
        {"dynamodb:DescribeTable"},  # the waiter
        {"s3:GetObject"},
    ]


def test_policy_files_grant_every_action_the_code_calls() -> None:
    allowed = granted([POLICY, POLICY_EXTRAS])
    missing: dict[str, Path] = {}
    for path in sorted((REPO / "dynamic_dynamodb").rglob("*.py")):
        for call in called_actions(path.read_text()):
            if not call & allowed:
                missing.setdefault(" or ".join(sorted(call)), path.relative_to(REPO))
    assert not missing, "actions called but not in iam/*.json: " + "; ".join(
        f"{action} (called in {path})" for action, path in missing.items())


def test_core_policy_holds_what_every_cycle_calls() -> None:
    """The tool's own calls of a default configuration are in the core file, not the extras."""
    core = granted([POLICY])
    assert {"dynamodb:ListTables", "dynamodb:DescribeTable", "dynamodb:UpdateTable",
            "dynamodb:DescribeLimits", "cloudwatch:GetMetricData",
            "application-autoscaling:DescribeScalableTargets"} <= core


def test_policy_files_are_allow_statements_with_unique_sids() -> None:
    sids = []
    for path in (POLICY, POLICY_EXTRAS):
        document = policy_file(path)
        assert document["Version"] == "2012-10-17"
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow"
            assert statement["Resource"]
            sids.append(statement["Sid"])
    assert len(sids) == len(set(sids))


def test_state_table_statement_grants_exactly_what_the_state_table_code_calls() -> None:
    """Least privilege on the state table: the StateTable statement is the union of the
    actions state.py (the table store, --create-state-table) and lease.py call."""
    code = REPO / "dynamic_dynamodb"
    called = {action for path in (code / "state.py", code / "lease.py")
              for call in called_actions(path.read_text()) for action in call}
    assert set(statements(policy_file(POLICY_EXTRAS))["StateTable"]) == called
