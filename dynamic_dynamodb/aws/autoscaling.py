"""Application Auto Scaling adapter: which tables and GSIs AWS's own scaler manages (D27)."""

from __future__ import annotations

from typing import Any


def autoscaled_resources(client: Any) -> frozenset[str]:
    """Resource ids of every DynamoDB scalable target: ``table/NAME``, ``table/NAME/index/GSI``.

    One paginated DescribeScalableTargets listing for the whole account and region.
    """
    found: set[str] = set()
    for page in client.get_paginator("describe_scalable_targets").paginate(
            ServiceNamespace="dynamodb"):
        found.update(str(target["ResourceId"]) for target in page.get("ScalableTargets", []))
    return frozenset(found)


def resource_id(table: str, gsi: str | None) -> str:
    return f"table/{table}" if gsi is None else f"table/{table}/index/{gsi}"


class ScalingTargets:
    """The ScalingTargetsPort over a boto3 application-autoscaling client."""

    def __init__(self, client: Any):
        self.client = client

    def autoscaled(self) -> frozenset[str]:
        return autoscaled_resources(self.client)
