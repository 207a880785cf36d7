"""SNS Publish as AWS wants it: subject rules, FIFO ids, the topic's region."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from dynamic_dynamodb.aws.clients import Clients
from dynamic_dynamodb.aws.sns import (
    FIFO_GROUP_ID,
    SUBJECT_LIMIT,
    SnsNotifier,
    clean_subject,
    publish_request,
    topic_region,
)

NOW = datetime(2026, 3, 2, 10, 0, 30, tzinfo=timezone.utc)
TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"
FIFO = "arn:aws:sns:us-east-1:123456789012:alerts.fifo"


class RecordingSns:
    def __init__(self, region: str = "us-east-1"):
        self.published: list[dict[str, Any]] = []
        self.meta = type("Meta", (), {"region_name": region})()

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        self.published.append(kwargs)
        return {"MessageId": f"{self.meta.region_name}-{len(self.published)}"}


@pytest.mark.parametrize(("subject", "expected"), [
    ("Updated provisioning for table orders", "Updated provisioning for table orders"),
    ("line\nbreak\r\nand\ttab", "line break and tab"),
    ("bell\x07 nul\x00 del\x7f next\x85 sep\u2028para\u2029end", "bell nul del next sep para end"),
    ("  \n padded \n ", "padded"),
    ("é ü ✓ 表", "é ü ✓ 表"),  # UTF-8 text is fine
])
def test_subjects_lose_line_breaks_and_control_characters(subject: str, expected: str) -> None:
    assert clean_subject(subject) == expected


def test_subjects_are_less_than_100_characters() -> None:
    assert SUBJECT_LIMIT == 99
    exact = "x" * 99
    assert clean_subject(exact) == exact
    long = "Updated provisioning for table " + "t" * 150
    cleaned = clean_subject(long)
    assert len(cleaned) == 99
    assert cleaned.endswith("...") and cleaned.startswith("Updated provisioning for table ttt")
    assert len(clean_subject("x" * 100)) == 99


def test_an_empty_subject_is_left_out() -> None:
    assert "Subject" not in publish_request(TOPIC, "\n\t ", "body")


def test_a_standard_topic_gets_no_fifo_parameters() -> None:
    assert publish_request(TOPIC, "s", "body", NOW) == {"TopicArn": TOPIC, "Subject": "s",
                                                        "Message": "body"}


def test_a_fifo_topic_gets_a_group_and_a_deduplication_id() -> None:
    request = publish_request(FIFO, "s", "body", NOW)
    assert request["MessageGroupId"] == FIFO_GROUP_ID == "dynamic-dynamodb"
    dedup = request["MessageDeduplicationId"]
    assert len(dedup) == 64 and dedup.isalnum()  # SNS allows up to 128 characters
    # The same notification within the same minute is the same message (a retried request);
    # another minute or another text is a new one.
    same_minute = datetime(2026, 3, 2, 10, 0, 59, tzinfo=timezone.utc)
    assert publish_request(FIFO, "s", "body", same_minute)["MessageDeduplicationId"] == dedup
    next_minute = datetime(2026, 3, 2, 10, 1, tzinfo=timezone.utc)
    assert publish_request(FIFO, "s", "body", next_minute)["MessageDeduplicationId"] != dedup
    assert publish_request(FIFO, "s", "other", NOW)["MessageDeduplicationId"] != dedup


@pytest.mark.parametrize(("arn", "region"), [
    (TOPIC, "us-east-1"),
    ("arn:aws:sns:eu-west-1:123456789012:alerts.fifo", "eu-west-1"),
    ("arn:aws-cn:sns:cn-north-1:123456789012:a", "cn-north-1"),
    ("not-an-arn", None),
    ("arn:aws:sqs:eu-west-1:123456789012:q", None),
])
def test_the_region_comes_from_the_topic_arn(arn: str, region: str | None) -> None:
    assert topic_region(arn) == region


def test_topics_in_other_regions_go_through_a_client_for_that_region() -> None:
    default = RecordingSns("us-east-1")
    made: list[str] = []

    def factory(region: str) -> RecordingSns:
        made.append(region)
        return RecordingSns(region)

    notifier = SnsNotifier(default, client_for_region=factory, clock=lambda: NOW)
    assert notifier.publish(TOPIC, "s", "m") == "us-east-1-1"
    assert notifier.publish("arn:aws:sns:eu-west-1:1:a", "s", "m") == "eu-west-1-1"
    assert notifier.publish("arn:aws:sns:eu-west-1:1:a", "s", "m") == "eu-west-1-2"
    assert notifier.publish("arn:aws:sns:ap-south-1:1:a", "s", "m") == "ap-south-1-1"
    assert made == ["eu-west-1", "ap-south-1"]  # one client per region, kept
    assert len(default.published) == 1


def test_without_a_factory_every_topic_uses_the_one_client() -> None:
    default = RecordingSns("us-east-1")
    SnsNotifier(default).publish("arn:aws:sns:eu-west-1:1:a", "s\nx", "m")
    assert default.published == [{"TopicArn": "arn:aws:sns:eu-west-1:1:a", "Subject": "s x",
                                   "Message": "m"}]


def test_publish_parameters_pass_botocore_validation() -> None:
    client = boto3.client("sns", region_name="us-east-1", aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    stubber = Stubber(client)
    expected = publish_request(FIFO, "a\nb" + "c" * 200, "body", NOW)
    stubber.add_response("publish", {"MessageId": "id-1"}, expected)
    with stubber:
        assert SnsNotifier(client, clock=lambda: NOW).publish(FIFO, "a\nb" + "c" * 200,
                                                              "body") == "id-1"
    assert len(expected["Subject"]) == 99


def test_clients_route_by_region_and_count_the_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    with mock_aws():
        def client(service: str, region: str = "us-east-1") -> Any:
            return boto3.client(service, region_name=region)

        clients = Clients(dynamodb=client("dynamodb"), cloudwatch=client("cloudwatch"),
                          sns=client("sns"),
                          sns_factory=lambda region: client("sns", region))
        clients.count_calls()
        here = client("sns").create_topic(Name="here")["TopicArn"]
        there = client("sns", "eu-west-1").create_topic(
            Name="there.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
        assert there.startswith("arn:aws:sns:eu-west-1:")
        notifier = clients.ports().notifier
        assert notifier.publish(here, "s", "m")
        # moto keeps topics per region: only a eu-west-1 client finds this one.
        assert notifier.publish(there, "x" * 150, "m")
        assert clients.calls["Publish"] == 2
