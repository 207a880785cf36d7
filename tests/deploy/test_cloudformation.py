"""The CloudFormation template: linted, in step with its sources, and created in moto."""

from __future__ import annotations

import ast
import base64
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.deploy.support import (
    POLICY,
    REPO,
    TEMPLATE,
    UNIT,
    USER_DATA,
    load_template,
    policy_file,
    statements,
    tool,
)

AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
DEPLOYMENT_ONLY = {"ReadConfig"}  # the role's statements that are not the tool's own


def user_data_parts(template: dict[str, Any]) -> list[Any]:
    """The three parts of the user data: the header, user-data.sh, the footer."""
    data = template["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    return data["UserData"]["Fn::Base64"]["Fn::Join"][1]


def test_cfn_lint_is_clean_on_every_template() -> None:
    templates = sorted((REPO / "cloudformation").glob("*.yaml"))
    assert TEMPLATE in templates
    result = tool("cfn-lint", *map(str, templates))
    assert result.returncode == 0, result.stdout + result.stderr


def test_template_embeds_user_data_sh_verbatim() -> None:
    header, embedded, _ = user_data_parts(load_template())
    delimiter = header["Fn::Sub"].rsplit("<<", 1)[1].strip().strip("'")
    assert delimiter not in USER_DATA.read_text(), "the here-document's end marker is in the script"
    assert embedded == USER_DATA.read_text(), (
        "the user data in cloudformation/dynamic-dynamodb.yaml differs from "
        "cloudformation/user-data.sh: paste the script into the template's `- |` block again")


def test_user_data_installs_the_contrib_unit_verbatim() -> None:
    script = USER_DATA.read_text()
    unit = re.search(r"<<'UNIT'\n(.*?)^UNIT$", script, re.S | re.M)
    assert unit, "no <<'UNIT' here-document in user-data.sh"
    assert unit.group(1) == UNIT.read_text(), (
        "the unit written by cloudformation/user-data.sh differs from "
        "contrib/dynamic-dynamodb.service: copy the unit into the here-document again")


def test_role_grants_the_policy_files_statements() -> None:
    resources = load_template()["Resources"]
    granted = statements(resources["Role"]["Properties"]["Policies"][0]["PolicyDocument"])
    granted |= statements(resources["NotifyPolicy"]["Properties"]["PolicyDocument"])
    for sid in DEPLOYMENT_ONLY:
        del granted[sid]
    assert granted == statements(policy_file(POLICY)), (
        "the instance role and iam/dynamic-dynamodb-policy.json must grant the same actions "
        "under the same Sids")


@pytest.fixture
def ami(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """In-process moto; yields the AMI id of the public SSM parameter the template resolves.

    moto ships AWS's public /aws/service/ami-amazon-linux-latest/* parameters (read only).
    """
    from moto import mock_aws

    monkeypatch.delenv("AWS_ENDPOINT_URL")
    with mock_aws():
        yield boto3.client("ssm").get_parameter(Name=AMI_PARAMETER)["Parameter"]["Value"]


def create_stack(**parameters: str) -> dict[str, str]:
    """Create the stack in moto; returns its outputs."""
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(
        StackName="ddb", TemplateBody=TEMPLATE.read_text(), Capabilities=["CAPABILITY_IAM"],
        Parameters=[{"ParameterKey": key, "ParameterValue": value}
                    for key, value in parameters.items()],
    )
    stack = cloudformation.describe_stacks(StackName="ddb")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}


def resource_ids() -> dict[str, str]:
    summaries = boto3.client("cloudformation").list_stack_resources(StackName="ddb")
    return {item["LogicalResourceId"]: item["PhysicalResourceId"]
            for item in summaries["StackResourceSummaries"]}


def role_policies(role: str) -> dict[str, dict[str, Any]]:
    """The inline policies of the role, by name."""
    iam = boto3.client("iam")
    documents = {}
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        # moto returns the inline policy of a CloudFormation role as the repr of a dict.
        documents[name] = ast.literal_eval(document) if isinstance(document, str) else document
    return documents


def launch_template_data() -> dict[str, Any]:
    versions = boto3.client("ec2").describe_launch_template_versions(
        LaunchTemplateId=resource_ids()["LaunchTemplate"])["LaunchTemplateVersions"]
    return versions[-1]["LaunchTemplateData"]


def test_stack_with_every_parameter(ami: str) -> None:
    outputs = create_stack(
        S3Bucket="s3://config-bucket/dynamic-dynamodb/", S3BucketRegion="eu-west-1",
        PackageSource="s3://config-bucket/dynamic-dynamodb/dynamic_dynamodb-3.0.0-py3-none-any.whl",
        CheckInterval="120", ManagedTablesPattern="orders-*", KeyPair="ops",
        SshLocation="192.0.2.0/24",
        SnsTopicArn="arn:aws:sns:us-east-1:123456789012:dynamic-dynamodb",
    )
    ids = resource_ids()
    assert set(outputs) == {"InstanceId", "RoleName", "RoleArn", "LogLocation"}
    assert outputs["InstanceId"] == ids["Instance"]
    assert outputs["RoleName"] == ids["Role"]
    assert "journalctl -u dynamic-dynamodb" in outputs["LogLocation"]

    # The instance: the AMI from the SSM parameter, its profile holding the role.
    instance = boto3.client("ec2").describe_instances(InstanceIds=[ids["Instance"]])
    instance = instance["Reservations"][0]["Instances"][0]
    assert instance["ImageId"] == ami
    assert instance["InstanceType"] == "t3.micro"
    assert instance["KeyName"] == "ops"
    assert {"Key": "Name", "Value": "dynamic-dynamodb"} in instance["Tags"]
    profile = boto3.client("iam").get_instance_profile(InstanceProfileName=ids["InstanceProfile"])
    assert instance["IamInstanceProfile"]["Arn"] == profile["InstanceProfile"]["Arn"]
    assert [role["RoleName"] for role in profile["InstanceProfile"]["Roles"]] == [ids["Role"]]

    # SSH only from the given range.
    group = boto3.client("ec2").describe_security_groups(GroupIds=[ids["SecurityGroup"]])
    ingress = group["SecurityGroups"][0]["IpPermissions"]
    assert [(rule["FromPort"], rule["IpRanges"][0]["CidrIp"]) for rule in ingress] == [
        (22, "192.0.2.0/24")]

    # The role's policies, with the parameters resolved.
    documents = role_policies(ids["Role"])
    assert set(documents) == {"dynamic-dynamodb", "dynamic-dynamodb-notify"}
    resources = {statement["Sid"]: statement["Resource"]
                 for document in documents.values() for statement in document["Statement"]}
    assert resources["ScaleTables"] == "arn:aws:dynamodb:us-east-1:123456789012:table/orders-*"
    assert resources["Notify"] == "arn:aws:sns:us-east-1:123456789012:dynamic-dynamodb"
    assert resources["ReadConfig"] == [
        "arn:aws:s3:::config-bucket/dynamic-dynamodb/dynamic-dynamodb.conf",
        "arn:aws:s3:::config-bucket/dynamic-dynamodb/*.whl",
    ]

    # IMDSv2 only, and the user data with the parameters filled in.
    data = launch_template_data()
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    user_data = base64.b64decode(data["UserData"]).decode()
    assert USER_DATA.read_text() in user_data
    for line in ("DDB_CONFIG_URL='s3://config-bucket/dynamic-dynamodb/dynamic-dynamodb.conf'",
                 "DDB_S3_REGION='eu-west-1'", "DDB_CHECK_INTERVAL='120'",
                 "--stack 'ddb'", "--resource Instance --region 'us-east-1'"):
        assert line in user_data


@pytest.mark.usefixtures("ami")
def test_stack_with_defaults() -> None:
    create_stack(S3Bucket="s3://config-bucket/")
    ids = resource_ids()
    assert "SshIngress" not in ids
    assert "NotifyPolicy" not in ids
    group = boto3.client("ec2").describe_security_groups(GroupIds=[ids["SecurityGroup"]])
    assert group["SecurityGroups"][0]["IpPermissions"] == []
    instance = boto3.client("ec2").describe_instances(InstanceIds=[ids["Instance"]])
    assert "KeyName" not in instance["Reservations"][0]["Instances"][0]
    assert set(role_policies(ids["Role"])) == {"dynamic-dynamodb"}
    user_data = base64.b64decode(launch_template_data()["UserData"]).decode()
    for line in ("DDB_CONFIG_URL='s3://config-bucket/dynamic-dynamodb.conf'",
                 "DDB_S3_REGION='us-east-1'", "DDB_PACKAGE='dynamic-dynamodb>=3'",
                 "DDB_CHECK_INTERVAL=''"):
        assert line in user_data
    # The whole user data, as the instance gets it, is a clean shell script too.
    result = tool("shellcheck", "--shell=bash", "-", stdin=user_data)
    assert result.returncode == 0, result.stdout


def test_role_has_session_manager_access() -> None:
    """moto's CloudFormation does not attach ManagedPolicyArns, so this reads the template."""
    role = load_template()["Resources"]["Role"]["Properties"]
    assert role["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"}]
