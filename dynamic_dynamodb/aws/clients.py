"""boto3 clients, created once per process, plus a per-operation call counter."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from dynamic_dynamodb.aws.cloudwatch import CloudWatchMetrics
from dynamic_dynamodb.aws.dynamodb import DynamoDBTables
from dynamic_dynamodb.aws.ports import Ports
from dynamic_dynamodb.aws.sns import SnsNotifier


@dataclass
class Clients:
    dynamodb: Any
    cloudwatch: Any
    sns: Any
    calls: Counter[str] = field(default_factory=Counter)

    def ports(self) -> Ports:
        """The engine's ports over these clients, sharing their call counter."""
        return Ports(DynamoDBTables(self.dynamodb), CloudWatchMetrics(self.cloudwatch),
                     SnsNotifier(self.sns), self.calls)

    def count_calls(self) -> None:
        """Count API operations (not HTTP retries) made through these clients."""
        for client in (self.dynamodb, self.cloudwatch, self.sns):
            client.meta.events.register("before-call", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1


def make_clients(global_options: Any) -> Clients:
    """Clients for the configured region and credentials.

    Explicit keys are used only when both are given; otherwise boto3's default chain applies
    (environment, AWS_PROFILE, instance role). AWS_ENDPOINT_URL and its per-service variants
    are honoured by botocore itself. Throttling and 5xx errors are retried by botocore's
    standard retry mode (AWS_MAX_ATTEMPTS still applies).
    """
    credentials = {}
    if global_options.aws_access_key_id and global_options.aws_secret_access_key:
        credentials = {
            "aws_access_key_id": global_options.aws_access_key_id,
            "aws_secret_access_key": global_options.aws_secret_access_key,
        }
    session = boto3.session.Session(region_name=global_options.region, **credentials)
    boto_config = BotoConfig(retries={"mode": "standard"}, connect_timeout=10, read_timeout=30)
    clients = Clients(
        dynamodb=session.client("dynamodb", config=boto_config),
        cloudwatch=session.client("cloudwatch", config=boto_config),
        sns=session.client("sns", config=boto_config),
    )
    clients.count_calls()
    return clients


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError, or the exception's class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__
