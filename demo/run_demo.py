"""`make demo`: scale sample tables on a local moto server with the real command. No AWS account."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import boto3

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from demo.localaws import moto_env, moto_server
from demo.seed import Traffic, create_table, put_traffic

HERE = os.path.dirname(os.path.abspath(__file__))
TOPIC = "dynamic-dynamodb-demo"


def capacities(client: object) -> dict[str, tuple[int, int]]:
    result = {}
    for name in sorted(client.list_tables()["TableNames"]):  # type: ignore[attr-defined]
        table = client.describe_table(TableName=name)["Table"]  # type: ignore[attr-defined]
        mode = (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
        throughput = table["ProvisionedThroughput"]
        result[name] = ("on-demand", "") if mode == "PAY_PER_REQUEST" else (
            throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"])
        for index in table.get("GlobalSecondaryIndexes", []):
            gsi = index["ProvisionedThroughput"]
            result[f"{name} / GSI {index['IndexName']}"] = (gsi["ReadCapacityUnits"],
                                                           gsi["WriteCapacityUnits"])
    return result


def main() -> int:
    with moto_server() as endpoint, tempfile.TemporaryDirectory() as scratch:
        env = moto_env(endpoint)
        os.environ.update(env)
        dynamodb = boto3.client("dynamodb", endpoint_url=endpoint)
        cloudwatch = boto3.client("cloudwatch", endpoint_url=endpoint)
        sns = boto3.client("sns", endpoint_url=endpoint)
        sqs = boto3.client("sqs", endpoint_url=endpoint)
        topic = sns.create_topic(Name=TOPIC)["TopicArn"]
        queue = sqs.create_queue(QueueName="demo-notifications")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

        create_table(dynamodb, "demo-busy", 100, 100, gsis={"by_user": (50, 50)})
        create_table(dynamodb, "demo-idle", 200, 200)
        create_table(dynamodb, "demo-throttled", 50, 50)
        create_table(dynamodb, "demo-ondemand", 0, 0, on_demand=True)
        for traffic in (
            Traffic("demo-busy", consumed_read_percent=95, consumed_write_percent=60),
            Traffic("demo-busy", "by_user", consumed_read_percent=97, consumed_write_percent=40),
            Traffic("demo-idle", consumed_read_percent=10, consumed_write_percent=5),
            Traffic("demo-throttled", consumed_read_percent=70, consumed_write_percent=99,
                    write_throttles=120),
        ):
            put_traffic(cloudwatch, dynamodb, traffic)

        before = capacities(dynamodb)
        print(f"moto server: {endpoint}\n")
        print("Sample traffic (5-minute lookback window):")
        print("  demo-busy        reads 95% consumed, writes 60%")
        print("  demo-busy/by_user reads 97% consumed, writes 40%")
        print("  demo-idle        reads 10% consumed, writes 5%")
        print("  demo-throttled   reads 70% consumed, writes 99% with 120 throttle events/min")
        print("  demo-ondemand    PAY_PER_REQUEST\n")
        command = ["dynamic-dynamodb", "-c", os.path.join(HERE, "dynamic-dynamodb.conf"),
                   "--run-once", "--state-file", os.path.join(scratch, "state.json")]
        print("$ " + " ".join(command[:4]) + "\n", flush=True)
        bin_dir = os.path.dirname(sys.executable)
        result = subprocess.run([os.path.join(bin_dir, command[0]), *command[1:]], env=env,
                                check=False)
        after = capacities(dynamodb)

        print(f"\nexit status: {result.returncode}\n")
        print(f"{'resource':32} {'before (R/W)':>14} {'after (R/W)':>14}")
        for name, (reads, writes) in before.items():
            new_reads, new_writes = after[name]
            shown_before = f"{reads}/{writes}" if writes != "" else reads
            shown_after = f"{new_reads}/{new_writes}" if new_writes != "" else new_reads
            print(f"{name:32} {shown_before!s:>14} {shown_after!s:>14}")

        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        print(f"\nSNS notifications published to {TOPIC}: {len(messages)}")
        for message in messages:
            body = json.loads(message["Body"])
            print(f"  [{body.get('Subject')}]")
            for line in body.get("Message", "").splitlines():
                print(f"      {line}")
        print("\nNext, replay two weeks of spiky traffic through the same policy, offline:")
        print("  .venv/bin/dynamic-dynamodb -c examples/recommended.conf "
              "--simulate examples/traces/spike.csv.gz --report-dir /tmp/backtest")
        return result.returncode


if __name__ == "__main__":
    sys.exit(main())
