"""boto3 clients, created once per process, with bounded calls and counted requests."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.retries import standard

from dynamic_dynamodb.aws.autoscaling import ScalingTargets
from dynamic_dynamodb.aws.cloudwatch import CloudWatchMetrics
from dynamic_dynamodb.aws.dynamodb import DynamoDBTables
from dynamic_dynamodb.aws.errors import error_code, error_message
from dynamic_dynamodb.aws.ports import Ports
from dynamic_dynamodb.aws.sns import SnsNotifier

# A hung endpoint costs at most about (CONNECT + READ) × attempts per call, not minutes:
# botocore's defaults are 60 s each.
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 10
# A GetMetricData call with 500 queries can take a while to answer: more time for those.
METRICS_READ_TIMEOUT = 30
MAX_ATTEMPTS = 3  # HTTP requests per call, the first one included
FALLBACK_REGION = "us-east-1"  # 2.5.1's default, used only when the SDK finds none (D29)


@dataclass
class Clients:
    dynamodb: Any
    cloudwatch: Any
    sns: Any
    autoscaling: Any = None
    sts: Any = None  # GetCallerIdentity, once per process: whose state is whose (state.py)
    calls: Counter[str] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)
    # An SNS client for another region (a topic there), made like ``sns``; None: use ``sns``.
    sns_factory: Callable[[str], Any] | None = None
    _counting: bool = field(default=False, repr=False)

    def ports(self) -> Ports:
        """The engine's ports over these clients, sharing their counters."""
        notifier = SnsNotifier(self.sns, client_for_region=self._sns_client)
        ports = Ports(DynamoDBTables(self.dynamodb), CloudWatchMetrics(self.cloudwatch),
                      notifier, self.calls, attempts=self.attempts)
        if self.autoscaling is not None:
            ports.scaling = ScalingTargets(self.autoscaling)
        return ports

    def all(self) -> list[Any]:
        return [client for client in (self.dynamodb, self.cloudwatch, self.sns, self.autoscaling)
                if client is not None]

    def count_calls(self) -> None:
        """Count API operations, and HTTP requests (retries included) per operation."""
        self._counting = True
        for client in self.all():
            self._watch(client)

    def _watch(self, client: Any) -> None:
        client.meta.events.register("before-call", self._count)
        client.meta.events.register("request-created", self._count_attempt)

    def _sns_client(self, region: str) -> Any:
        """An SNS client for a topic in ``region`` (SnsNotifier keeps it), counted like ours."""
        if self.sns_factory is None:
            return self.sns
        client = self.sns_factory(region)
        if self._counting:
            self._watch(client)
        return client

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def _count_attempt(self, operation_name: str = "", **_: Any) -> None:
        self.attempts[operation_name] += 1


def never_retry_limit_exceeded_on_update(client: Any) -> None:
    """botocore's standard retries, except for LimitExceededException on UpdateTable.

    botocore counts LimitExceededException among the throttling errors and retries it (4
    attempts for DynamoDB). For UpdateTable it means a decrease quota, a capacity cap or too
    many table operations: sending the same request again cannot help and only spends time,
    so the engine reads it at once (D26). Throttling and 5xx are still retried by botocore.
    """
    events = client.meta.events
    service = client.meta.service_model.service_id.hyphenize()
    unique_id = f"retry-config-{service}"
    events.unregister(f"needs-retry.{service}", unique_id=unique_id)
    handler = standard.register_retry_handler(
        client, max_attempts=client.meta.config.retries.get("total_max_attempts"))
    events.unregister(f"needs-retry.{service}", unique_id=unique_id)

    def needs_retry(**kwargs: Any) -> Any:
        response = kwargs.get("response")
        parsed = response[1] if isinstance(response, tuple) and len(response) > 1 else {}
        code = (parsed or {}).get("Error", {}).get("Code")
        operation = kwargs.get("operation")
        if code == "LimitExceededException" and getattr(operation, "name", "") == "UpdateTable":
            return None
        return handler.needs_retry(**kwargs)

    events.register(f"needs-retry.{service}", needs_retry, unique_id=unique_id)


def resolve_region(configured: str | None) -> tuple[str, str]:
    """The region to use and where it came from (D29): the configuration or --region, else the
    SDK's own resolution (AWS_REGION, AWS_DEFAULT_REGION, the profile), else us-east-1."""
    if configured:
        return configured, "configuration"
    # Every other AWS SDK reads AWS_REGION; botocore itself reads only AWS_DEFAULT_REGION.
    if os.environ.get("AWS_REGION"):
        return os.environ["AWS_REGION"], "AWS_REGION"
    found = boto3.session.Session().region_name
    if found:
        return found, "the AWS SDK (AWS_DEFAULT_REGION or the profile)"
    return FALLBACK_REGION, "the default (no region configured or found by the AWS SDK)"


def make_clients(global_options: Any) -> Clients:
    """Clients for the configured region and credentials.

    Explicit keys are used only when both are given; otherwise boto3's default chain applies
    (environment, AWS_PROFILE, instance role). AWS_ENDPOINT_URL and its per-service variants
    are honoured by botocore itself. Throttling and 5xx errors are retried by botocore's
    standard retry mode, at most MAX_ATTEMPTS requests per call (AWS_MAX_ATTEMPTS overrides).
    """
    credentials = {}
    if global_options.aws_access_key_id and global_options.aws_secret_access_key:
        credentials = {
            "aws_access_key_id": global_options.aws_access_key_id,
            "aws_secret_access_key": global_options.aws_secret_access_key,
        }
    region, _ = resolve_region(global_options.region)
    session = boto3.session.Session(region_name=region, **credentials)
    retries: dict[str, Any] = {"mode": "standard"}
    if not os.environ.get("AWS_MAX_ATTEMPTS"):  # an explicit value here would override it
        retries["total_max_attempts"] = MAX_ATTEMPTS
    # One connection per parallel request (parallel-requests), or they queue for the pool.
    connections = max(10, int(getattr(global_options, "parallel_requests", 10)))
    boto_config = BotoConfig(retries=retries, connect_timeout=CONNECT_TIMEOUT,
                             read_timeout=READ_TIMEOUT, max_pool_connections=connections)
    clients = Clients(
        dynamodb=session.client("dynamodb", config=boto_config),
        cloudwatch=session.client(
            "cloudwatch", config=boto_config.merge(BotoConfig(read_timeout=METRICS_READ_TIMEOUT))),
        sns=session.client("sns", config=boto_config),
        autoscaling=session.client("application-autoscaling", config=boto_config),
        sts=session.client("sts", config=boto_config),
        sns_factory=lambda other: session.client("sns", region_name=other, config=boto_config),
    )
    never_retry_limit_exceeded_on_update(clients.dynamodb)
    clients.count_calls()
    return clients


__all__ = ["Clients", "error_code", "error_message", "make_clients", "resolve_region"]
