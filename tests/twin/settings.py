"""The twin's knobs, with AWS's numbers as defaults and where each number comes from.

Sources: ``aws-behaviour.md`` is ``/work/shared/reference/aws-behaviour.md`` (line numbers as
of this writing); "probe notes" are third-party notes from live AWS probes (ack-api-quirks
DynamoDB findings, verified 2026-10-08/09, found in the code search corpus), quoted where used.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

IN_USE_MESSAGE = "Attempt to change a resource which is still in use: Table is being updated: {table}"
# Live probes (DDB-TABLE-370) saw a different text for a throughput change inside a throughput
# UPDATING window; set in_use_message to this to reproduce it instead of aws-behaviour.md:17.
IN_USE_MESSAGE_PROBED = (
    "Attempt to change a resource which is still in use: Table IOPS are currently being updated. "
    "Table: {table}"
)


@dataclass
class TwinSettings:
    # Region for env() and client(); requests carry their own region in the SigV4 scope.
    region: str = "us-east-1"

    # UPDATING windows (aws-behaviour.md:15-21). Probe notes: a throughput change holds
    # UPDATING 1.0-2.0 s (DDB-TABLE-058/370); "raising a table to a new peak can take several
    # minutes" (aws-behaviour.md:20). 30 s is a compromise: tests set what they need.
    update_seconds: float = 2.0
    new_peak_seconds: float = 30.0
    # Probe notes DDB-TABLE-184/370: the UpdateTable response and DescribeTable during
    # UPDATING show the OLD units; the new ones appear when the status is ACTIVE again.
    show_old_throughput_while_updating: bool = True
    in_use_message: str = IN_USE_MESSAGE

    # Decrease quota (aws-behaviour.md:22-28): 4 at any time, then one per 3600 s after the
    # last accepted decrease (probe notes DDB-TABLE-326), at most 27 a day, reset at 00:00 UTC.
    free_decreases_per_day: int = 4
    max_decreases_per_day: int = 27
    decrease_interval_seconds: int = 3600

    # Capacity caps (aws-behaviour.md:39-41): 40,000 per table, 80,000 per account.
    table_max_read: int = 40000
    table_max_write: int = 40000
    account_max_read: int = 80000
    account_max_write: int = 80000

    # Added to every proxied request, served concurrently (scale benchmarks).
    latency: float = 0.0

    def update(self, **changes: Any) -> None:
        known = {f.name: f.type for f in fields(self)}
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise TypeError(
                f"unknown twin setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        for name, value in changes.items():
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
