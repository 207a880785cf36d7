"""boto3 clients, created once per process, with bounded calls and counted requests."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session
from botocore.config import Config as BotoConfig
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    CredentialProvider,
    CredentialResolver,
    DeferredRefreshableCredentials,
)
from botocore.exceptions import NoCredentialsError
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
# UpdateTable has a client of its own, bounded tighter: a leader starts one only when it ends
# before its lease could expire (lease.py), so its worst case must be short and known. Two
# requests (a throttled or 5xx one is retried once), each at most 1 s to connect and 2 s to
# read, and at most 1 s of back-off between them: UPDATE_TABLE_SECONDS (7 s) in all. DynamoDB
# answers UpdateTable in milliseconds; one that fails is tried again at the next cycle.
UPDATE_CONNECT_TIMEOUT = 1
UPDATE_READ_TIMEOUT = 2
UPDATE_MAX_ATTEMPTS = 2
UPDATE_MAX_BACKOFF = 1.0  # also when a response asks for more (x-amz-retry-after)
UPDATE_TABLE_SECONDS = float(UPDATE_MAX_ATTEMPTS * (UPDATE_CONNECT_TIMEOUT + UPDATE_READ_TIMEOUT)
                             + (UPDATE_MAX_ATTEMPTS - 1) * UPDATE_MAX_BACKOFF)
FALLBACK_REGION = "us-east-1"  # 2.5.1's default, used only when the SDK finds none (D29)


@dataclass
class Clients:
    dynamodb: Any
    cloudwatch: Any
    sns: Any
    autoscaling: Any = None
    sts: Any = None  # GetCallerIdentity, once per process: whose state is whose (state.py)
    # UpdateTable's own client (UPDATE_TABLE_SECONDS at most per call); None: ``dynamodb``.
    dynamodb_update: Any = None
    calls: Counter[str] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)
    # An SNS client for another region (a topic there), made like ``sns``; None: use ``sns``.
    sns_factory: Callable[[str], Any] | None = None
    _counting: bool = field(default=False, repr=False)

    def ports(self) -> Ports:
        """The engine's ports over these clients, sharing their counters."""
        notifier = SnsNotifier(self.sns, client_for_region=self._sns_client)
        ports = Ports(DynamoDBTables(self.dynamodb, update_client=self.dynamodb_update),
                      CloudWatchMetrics(self.cloudwatch),
                      notifier, self.calls, attempts=self.attempts)
        if self.autoscaling is not None:
            ports.scaling = ScalingTargets(self.autoscaling)
        return ports

    def all(self) -> list[Any]:
        return [client for client in (self.dynamodb, self.dynamodb_update, self.cloudwatch,
                                      self.sns, self.autoscaling)
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


def never_retry_limit_exceeded_on_update(client: Any, max_backoff: float | None = None) -> None:
    """botocore's standard retries, except for LimitExceededException on UpdateTable.

    botocore counts LimitExceededException among the throttling errors and retries it (4
    attempts for DynamoDB). For UpdateTable it means a decrease quota, a capacity cap or too
    many table operations: sending the same request again cannot help and only spends time,
    so the engine reads it at once (D26). Throttling and 5xx are still retried by botocore.
    ``max_backoff``: wait at most this long before a retry (UpdateTable's own client, whose
    worst case must stay within UPDATE_TABLE_SECONDS).
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
        delay = handler.needs_retry(**kwargs)
        if delay is not None and max_backoff is not None:
            return min(delay, max_backoff)
        return delay

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


@dataclass(frozen=True)
class AssumedRole:
    """An IAM role to reach another account's tables through: STS AssumeRole."""

    arn: str
    external_id: str | None = None
    session_name: str = "dynamic-dynamodb"

    @property
    def account(self) -> str:
        """The role's account id (``arn:aws:iam::ACCOUNT:role/NAME``)."""
        return self.arn.split(":")[4]


class _AssumedRoleProvider(CredentialProvider):  # type: ignore[misc]
    """botocore's own refreshing credentials for a role: the first API call assumes it, and
    botocore assumes it again shortly before the credentials expire (RefreshableCredentials).
    A failed AssumeRole raises the STS error (AccessDenied, say) from the call that needed
    the credentials, and is tried again by the next call."""

    METHOD = "assume-role"

    def __init__(self, fetcher: AssumeRoleCredentialFetcher, source: Any) -> None:
        self._fetcher = fetcher
        self._source = source

    def _refresh(self) -> dict[str, Any]:
        if self._source is None:
            raise NoCredentialsError()
        result: dict[str, Any] = self._fetcher.fetch_credentials()
        return result

    def load(self) -> DeferredRefreshableCredentials:
        return DeferredRefreshableCredentials(refresh_using=self._refresh, method=self.METHOD)


def role_session(base: boto3.session.Session, role: AssumedRole, region: str,
                 boto_config: BotoConfig,
                 on_client: Callable[[Any], None] | None = None) -> boto3.session.Session:
    """A session with the role's credentials, assumed with ``base``'s credentials (STS in the
    role's region: the regional endpoint, as AWS recommends). ``on_client`` sees each STS
    client made for it (to count the AssumeRole calls)."""
    extra_args: dict[str, Any] = {"RoleSessionName": role.session_name}
    if role.external_id:
        extra_args["ExternalId"] = role.external_id

    def sts_client(service: str, **kwargs: Any) -> Any:
        client = base.client(service, region_name=region, config=boto_config, **kwargs)
        if on_client is not None:
            on_client(client)
        return client

    source = base.get_credentials()
    fetcher = AssumeRoleCredentialFetcher(sts_client, source, role.arn, extra_args=extra_args)
    assumed = botocore.session.Session()
    assumed.register_component("credential_provider",
                               CredentialResolver([_AssumedRoleProvider(fetcher, source)]))
    return boto3.session.Session(botocore_session=assumed, region_name=region)


def make_clients(global_options: Any, *, region: str | None = None,
                 role: AssumedRole | None = None) -> Clients:
    """Clients for the configured region and credentials.

    ``region`` overrides the configured one; with ``role``, the clients use the role's
    credentials (STS AssumeRole with the configured ones, renewed before they expire).

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
    region = region or resolve_region(global_options.region)[0]
    session = boto3.session.Session(region_name=region, **credentials)
    retries: dict[str, Any] = {"mode": "standard"}
    if not os.environ.get("AWS_MAX_ATTEMPTS"):  # an explicit value here would override it
        retries["total_max_attempts"] = MAX_ATTEMPTS
    # One connection per parallel request (parallel-requests), or they queue for the pool.
    connections = max(10, int(getattr(global_options, "parallel_requests", 10)))
    boto_config = BotoConfig(retries=retries, connect_timeout=CONNECT_TIMEOUT,
                             read_timeout=READ_TIMEOUT, max_pool_connections=connections)
    # SNS topics are the operator's: published to with our own credentials, also for the
    # tables of a role's account.
    own = session
    counted: list[Clients] = []
    if role is not None:
        def count_sts(client: Any) -> None:
            for owner in counted:
                owner._watch(client)

        session = role_session(session, role, region, boto_config, count_sts)
    clients = Clients(
        dynamodb=session.client("dynamodb", config=boto_config),
        dynamodb_update=session.client("dynamodb", config=boto_config.merge(BotoConfig(
            connect_timeout=UPDATE_CONNECT_TIMEOUT, read_timeout=UPDATE_READ_TIMEOUT,
            retries={"mode": "standard", "total_max_attempts": UPDATE_MAX_ATTEMPTS}))),
        cloudwatch=session.client(
            "cloudwatch", config=boto_config.merge(BotoConfig(read_timeout=METRICS_READ_TIMEOUT))),
        sns=own.client("sns", config=boto_config),
        autoscaling=session.client("application-autoscaling", config=boto_config),
        sts=session.client("sts", config=boto_config),
        sns_factory=lambda other: own.client("sns", region_name=other, config=boto_config),
    )
    never_retry_limit_exceeded_on_update(clients.dynamodb)
    never_retry_limit_exceeded_on_update(clients.dynamodb_update, UPDATE_MAX_BACKOFF)
    clients.count_calls()
    counted.append(clients)
    return clients


__all__ = ["AssumedRole", "Clients", "error_code", "error_message", "make_clients",
           "resolve_region", "role_session"]
