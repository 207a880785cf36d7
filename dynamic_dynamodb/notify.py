"""SNS subjects and bodies (behaviour file §8, D19). Pure: formats, never sends."""

from __future__ import annotations

from dataclasses import dataclass

from dynamic_dynamodb.config.options import DIMENSIONS
from dynamic_dynamodb.policy.decide import Alarm, Decision

SUBJECT_LIMIT = 100


@dataclass(frozen=True)
class Message:
    types: tuple[str, ...]  # the sns-message-types this message belongs to
    subject: str
    body: str

    def wanted(self, subscribed: tuple[str, ...]) -> bool:
        return any(kind in subscribed for kind in self.types)


def prefix(table: str, gsi: str | None) -> str:
    """The 2.5.1 log and SNS prefix that operators grep for."""
    return f"{table} - " if gsi is None else f"{table} - GSI: {gsi} - "


def _subject(text: str) -> str:
    return text if len(text) <= SUBJECT_LIMIT else text[: SUBJECT_LIMIT - 3] + "..."


def scale_message(table: str, gsi: str | None, decision: Decision) -> Message | None:
    lines, types = [], set()
    for dim in DIMENSIONS:
        change = decision.dimension(dim)
        if change.target == change.current:
            continue
        direction = "UP" if change.is_increase else "DOWN"
        types.add("scale-up" if change.is_increase else "scale-down")
        lines.append(f"{prefix(table, gsi)}{dim.title}: {direction} from {change.current} "
                     f"to {change.target}\n")
    if not lines:
        return None
    what = f"table {table}" if gsi is None else f"GSI {gsi} of table {table}"
    return Message(tuple(sorted(types)), _subject(f"Updated provisioning for {what}"), "".join(lines))


def alarm_message(table: str, gsi: str | None, alarm: Alarm) -> Message:
    high = alarm.kind == "high-throughput-alarm"
    where = f"Table {table}" if gsi is None else f"Table {table} - GSI: {gsi}"
    subject = f"ALARM: {'High' if high else 'Low'} Throughput for {where}"
    comparison = ("was greater than or equal to the upper alarm threshold" if high
                  else "was below the lower alarm threshold")
    body = "".join(
        f"{prefix(table, gsi)}Consumed {line.dimension.one.capitalize()} Capacity "
        f"{line.consumed_percent:f}% {comparison} {float(line.threshold):f}%\n"
        for line in alarm.lines
    )
    return Message((alarm.kind,), _subject(subject), body)


def budget_message(table: str, gsi: str | None, detail: str) -> Message:
    what = f"table {table}" if gsi is None else f"GSI {gsi} of table {table}"
    return Message(
        ("decrease-budget-exhausted",),
        _subject(f"Decrease budget exhausted for {what}"),
        f"{prefix(table, gsi)}{detail}\n",
    )
