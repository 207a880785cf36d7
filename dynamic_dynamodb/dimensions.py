"""Capacity dimensions: reads and writes are data flowing through one code path, not two copies.

A shared value type: the configuration schema, the policy, the engine and the simulator all
import it, and it imports nothing of ours.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, eq=False)
class Dimension:
    """A capacity dimension. Reads and writes are data, not separate code paths.

    There are exactly two, READS and WRITES: they compare by identity (fast, and hot: every
    decision asks for its dimension many times)."""

    name: str  # "reads" / "writes": the word used in option names
    one: str  # "read" / "write"
    title: str  # "Reads" / "Writes": the word used in log and SNS lines
    capacity_key: str  # DynamoDB ProvisionedThroughput key
    consumed_metric: str
    throttle_metric: str
    key_range_throttle_metric: str  # throttles of a hot key range (partition), not capacity


READS = Dimension(
    "reads", "read", "Reads", "ReadCapacityUnits", "ConsumedReadCapacityUnits",
    "ReadThrottleEvents", "ReadKeyRangeThroughputThrottleEvents",
)
WRITES = Dimension(
    "writes", "write", "Writes", "WriteCapacityUnits", "ConsumedWriteCapacityUnits",
    "WriteThrottleEvents", "WriteKeyRangeThroughputThrottleEvents",
)
DIMENSIONS = (READS, WRITES)


def other(dimension: Dimension) -> Dimension:
    """The other dimension of the same resource."""
    return WRITES if dimension is READS else READS
