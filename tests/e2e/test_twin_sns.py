"""The real ``dynamic-dynamodb`` against the twin: SNS notifications as SNS wants them.

A FIFO topic in another region than the one the tool runs in, and a table whose name makes
the subject far longer than SNS allows. moto refuses a FIFO publish without MessageGroupId
and a topic of another region ("NotFound"), but not a long subject: the subject is read back
from an SQS queue subscribed to the topic.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from demo.seed import Traffic, create_table, put_traffic
from tests.conftest import CLI
from tests.twin import Twin
from tests.twin.fixtures import twin

__all__ = ["twin"]

TABLE = "orders_" + "x" * 143  # 150 characters
TOPIC_REGION = "eu-west-1"  # the tool runs in us-east-1


def test_a_fifo_topic_in_another_region_gets_a_short_clean_subject(twin: Twin,
                                                                  tmp_path: Path) -> None:
    assert len(TABLE) == 150
    twin.configure(update_seconds=0, new_peak_seconds=0)
    ddb = twin.client("dynamodb")
    cw = twin.client("cloudwatch")  # a long table name: botocore gzips the PutMetricData body
    create_table(ddb, TABLE, 100, 100)
    put_traffic(cw, ddb, Traffic(TABLE, None, consumed_read_percent=95,
                                 consumed_write_percent=50))
    sns = twin.client("sns", region_name=TOPIC_REGION)
    sqs = twin.client("sqs", region_name=TOPIC_REGION)
    topic = sns.create_topic(Name="capacity.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    assert topic.startswith(f"arn:aws:sns:{TOPIC_REGION}:")
    queue = sqs.create_queue(QueueName="capacity.fifo", Attributes={
        "FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    conf = tmp_path / "dd.conf"
    conf.write_text(f"[global]\nregion: us-east-1\n\n[table: ^orders_x+$]\n"
                    f"sns-topic-arn: {topic}\nsns-message-types: scale-up, scale-down\n")

    result = subprocess.run(
        [CLI, "-c", str(conf), "--run-once", "--state-file", str(tmp_path / "s.json")],
        env=twin.env(), capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Sent SNS notification to {topic}" in result.stdout, result.stdout
    assert "Problem sending SNS notification" not in result.stdout
    assert twin.count("Publish", service="sns") == 1
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    assert len(messages) == 1
    envelope = json.loads(messages[0]["Body"])
    subject = envelope["Subject"]
    assert len(subject) <= 99
    assert subject.startswith("Updated provisioning for table orders_xxx")
    assert subject.endswith("...")
    assert subject.isprintable()
    assert f"{TABLE} - Reads: UP from 100 to 150" in envelope["Message"]
