"""The scheduled-Lambda template: its role grants the policy files' statements (nothing more
for the tool itself), and the stack is created in moto's CloudFormation with the state table,
the function, its schedule and the role's resources resolved. cfn-lint runs on every template
in test_cloudformation.py."""

from __future__ import annotations

import ast
import io
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from dynamic_dynamodb.state import TTL_ATTRIBUTE
from tests.deploy.support import POLICY, POLICY_EXTRAS, REPO, load_template, policy_file, statements

pytestmark = pytest.mark.filterwarnings(
    "ignore:Tried to parse AWS..Lambda..EventInvokeConfig:UserWarning")  # moto skips it

TEMPLATE = REPO / "cloudformation" / "dynamic-dynamodb-lambda.yaml"
DEPLOYMENT_ONLY = {"ReadConfig", "WriteLogs"}  # the function's own, not the tool's
# The stack creates the state table itself: the role needs none of --create-state-table's.
TABLE_CREATION = {"dynamodb:CreateTable", "dynamodb:DescribeTimeToLive",
                  "dynamodb:UpdateTimeToLive"}


def role_statements(template: dict[str, Any]) -> dict[str, Any]:
    resources = template["Resources"]
    granted = statements(resources["Role"]["Properties"]["Policies"][0]["PolicyDocument"])
    granted |= statements(resources["NotifyPolicy"]["Properties"]["PolicyDocument"])
    return granted


def test_role_grants_the_policy_files_statements_and_the_state_tables() -> None:
    granted = role_statements(load_template(TEMPLATE))
    for sid in DEPLOYMENT_ONLY:
        del granted[sid]
    state_table = granted.pop("StateTable")
    assert granted == statements(policy_file(POLICY)), (
        "the Lambda role and iam/dynamic-dynamodb-policy.json must grant the same actions "
        "under the same Sids")
    extras = statements(policy_file(POLICY_EXTRAS))["StateTable"]
    assert state_table == sorted(set(extras) - TABLE_CREATION)


def test_the_function_runs_the_handler_on_a_schedule_without_overlap() -> None:
    resources = load_template(TEMPLATE)["Resources"]
    function = resources["Function"]["Properties"]
    assert function["Handler"] == "dynamic_dynamodb.lambda_handler.handler"
    from dynamic_dynamodb import lambda_handler
    assert callable(lambda_handler.handler)
    assert set(function["Environment"]["Variables"]) == {lambda_handler.CONFIG_ENV,
                                                         lambda_handler.INSTANCE_ENV,
                                                         lambda_handler.SCHEDULE_ENV}
    # The handler keeps SAVE_MARGIN_SECONDS of the timeout free to save the state, and the
    # schedule's period is its check-interval.
    assert function["Environment"]["Variables"][lambda_handler.SCHEDULE_ENV] == {
        "Ref": "Schedule"}
    assert function["Timeout"] > lambda_handler.SAVE_MARGIN_SECONDS
    assert function["Timeout"] < 60  # shorter than the schedule: invocations never overlap
    assert resources["InvokeConfig"]["Properties"]["MaximumRetryAttempts"] == 0


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from moto import mock_aws

    monkeypatch.delenv("AWS_ENDPOINT_URL")
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="dd-code")
        package = io.BytesIO()
        with zipfile.ZipFile(package, "w") as archive:
            archive.writestr("dynamic_dynamodb/lambda_handler.py", "def handler(e, c): ...\n")
        s3.put_object(Bucket="dd-code", Key="dynamic-dynamodb-lambda.zip",
                      Body=package.getvalue())
        yield


def create_stack(**parameters: str) -> dict[str, str]:
    """Create the stack in moto; returns logical id → physical id."""
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(
        StackName="ddl", TemplateBody=TEMPLATE.read_text(), Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": key, "ParameterValue": value}
                    for key, value in {"CodeS3Bucket": "dd-code", **parameters}.items()])
    stack = cloudformation.describe_stacks(StackName="ddl")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    summaries = cloudformation.list_stack_resources(StackName="ddl")["StackResourceSummaries"]
    return {item["LogicalResourceId"]: item["PhysicalResourceId"] for item in summaries}


def policy_resources(role: str) -> dict[str, Any]:
    """Sid → Resource of the role's inline policies (moto returns them as a dict's repr)."""
    iam = boto3.client("iam")
    found = {}
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        document = ast.literal_eval(document) if isinstance(document, str) else document
        found.update({statement["Sid"]: statement["Resource"]
                      for statement in document["Statement"]})
    return found


@pytest.mark.usefixtures("moto_aws")
def test_stack_with_the_configuration_in_s3() -> None:
    ids = create_stack(ConfigLocation="s3://dd-conf/prod/dynamic-dynamodb.conf",
                       Instance="prod", ManagedTablesPattern="orders-*",
                       SnsTopicArn="arn:aws:sns:us-east-1:123456789012:dd")

    ddb = boto3.client("dynamodb")
    table = ddb.describe_table(TableName="dynamic-dynamodb-state")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [(key["AttributeName"], key["KeyType"]) for key in table["KeySchema"]] == [
        ("pk", "HASH"), ("sk", "RANGE")]
    # moto's CloudFormation does not apply TimeToLiveSpecification: read it in the template.
    ttl = load_template(TEMPLATE)["Resources"]["StateTable"]["Properties"]
    assert ttl["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}

    function = boto3.client("lambda").get_function(FunctionName=ids["Function"])["Configuration"]
    assert function["Handler"] == "dynamic_dynamodb.lambda_handler.handler"
    assert function["Runtime"] == "python3.12"
    assert function["Environment"]["Variables"] == {
        "DYNAMIC_DYNAMODB_CONFIG": "s3://dd-conf/prod/dynamic-dynamodb.conf",
        "DYNAMIC_DYNAMODB_INSTANCE": "prod", "DYNAMIC_DYNAMODB_SCHEDULE": "rate(1 minute)"}
    assert function["Role"].endswith(f"/{ids['Role']}")

    events = boto3.client("events")
    rule = events.describe_rule(Name=ids["ScheduleRule"])
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    targets = events.list_targets_by_rule(Rule=ids["ScheduleRule"])["Targets"]
    assert [target["Arn"] for target in targets] == [function["FunctionArn"]]

    resources = policy_resources(ids["Role"])
    assert resources["StateTable"] == table["TableArn"]
    assert resources["ReadConfig"] == "arn:aws:s3:::dd-conf/prod/dynamic-dynamodb.conf"
    assert resources["ScaleTables"] == "arn:aws:dynamodb:us-east-1:123456789012:table/orders-*"
    assert resources["Notify"] == "arn:aws:sns:us-east-1:123456789012:dd"
    # (AWS's Arn of a log group ends in ":*", covering its streams; moto's does not.)
    assert ":log-group:/aws/lambda/ddl-dynamic-dynamodb" in resources["WriteLogs"]


@pytest.mark.usefixtures("moto_aws")
def test_stack_with_the_configuration_in_ssm() -> None:
    ids = create_stack(ConfigLocation="ssm:/dynamic-dynamodb/config")
    resources = policy_resources(ids["Role"])
    assert resources["ReadConfig"] == (
        "arn:aws:ssm:us-east-1:123456789012:parameter/dynamic-dynamodb/config")
    assert "NotifyPolicy" not in ids
    assert "Notify" not in resources
