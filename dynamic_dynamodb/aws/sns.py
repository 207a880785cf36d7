"""SNS adapter."""

from __future__ import annotations

from typing import Any

SUBJECT_LIMIT = 100  # SNS rejects longer subjects


def publish(client: Any, topic_arn: str, subject: str, message: str) -> str:
    response = client.publish(TopicArn=topic_arn, Subject=subject[:SUBJECT_LIMIT], Message=message)
    return str(response.get("MessageId", ""))


class SnsNotifier:
    """The NotifierPort over a boto3 SNS client."""

    def __init__(self, client: Any):
        self.client = client

    def publish(self, topic_arn: str, subject: str, message: str) -> str:
        return publish(self.client, topic_arn, subject, message)
