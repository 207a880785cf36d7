"""Every sentence the tool says about a decision: log lines (behaviour file §7) and SNS (§8, D19).

Pure: it formats outcome codes and their numbers, never decides and never sends. This is the
one place where wording is made; nothing else branches on text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dynamic_dynamodb.dimensions import DIMENSIONS
from dynamic_dynamodb.policy.budget import FREE_DECREASES, Block, BlockCode, Verdict
from dynamic_dynamodb.policy.decide import Alarm, Decision, DimensionDecision
from dynamic_dynamodb.policy.observation import DimensionObservation
from dynamic_dynamodb.policy.outcomes import Outcome, Refusal, Trigger

SUBJECT_LIMIT = 99  # SNS: subjects "less than 100 characters long"


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


# -- decisions as log lines ---------------------------------------------------------------------
def _trigger_text(change: DimensionDecision) -> str:
    """What the metrics said, in 2.5.1's words (behaviour file §7)."""
    name, value = change.dimension.name, change.value
    trigger = change.trigger
    if trigger in (Trigger.THROTTLED_BY_PROVISIONED_SCALE, Trigger.THROTTLED_BY_CONSUMED_SCALE):
        metric = "provisioned" if trigger is Trigger.THROTTLED_BY_PROVISIONED_SCALE else "consumed"
        return (f"throttled events at {value:.2f}% of {metric} units match "
                f"increase-throttled-by-{metric}-{name}-scale")
    if trigger is Trigger.CONSUMED_SCALE_UP:
        return f"{value:.2f}% consumed matches increase-consumed-{name}-scale"
    if trigger is Trigger.CONSUMED_ABOVE_THRESHOLD:
        return f"{value:.2f}% consumed > {change.threshold:g}% upper threshold"
    if trigger is Trigger.THROTTLED_EVENTS:
        return f"{int(value)} throttle events > {int(change.threshold or 0)} throttled threshold"
    if trigger is Trigger.ZERO_CONSUMED:
        return (f"Down scaling event detected. No action taken as scaling down {name} is not "
                "done when usage is at 0%")
    if trigger is Trigger.CONSUMED_SCALE_DOWN:
        return f"{value:.2f}% consumed matches decrease-consumed-{name}-scale"
    if trigger is Trigger.CONSUMED_BELOW_THRESHOLD:
        return f"{value:.2f}% consumed < {int(change.threshold or 0)}% lower threshold"
    if trigger in (Trigger.TARGET_UTILISATION, Trigger.FORECAST):
        text = (f"demand {change.demand:.2f} {name}/s ({value:.2f}% of {change.current} "
                f"provisioned) needs {change.needed} at the {change.target_percent:g}% "
                f"target (target-{name}-utilisation)")
        if trigger is Trigger.FORECAST:
            text += (f"; the forecast for the next minutes (predictive-scaling) needs "
                     f"{change.forecast_needed}")
            if change.wish > change.current:
                text += ": scaling ahead of the ramp"
        return text
    return f"{change.consumed_percent:.2f}% consumed, no change needed"


def _own_rules_text(change: DimensionDecision) -> str:
    """The trigger and what the dimension's own rules made of a wanted decrease."""
    why = _trigger_text(change)
    if change.proposed is None:
        return why
    counted = f"{change.checks}/{change.checks_needed}"
    if change.rule is Outcome.HELD_THROTTLED:
        return (f"{why}, but not scaling down: {change.throttle_events} throttle events "
                "in the lookback window")
    if change.rule is Outcome.HELD_INCOMPLETE_METRICS:
        return (f"{why}, but not scaling down: CloudWatch did not return complete metrics "
                "for the lookback window")
    if change.rule is Outcome.HELD_CONSUMPTION:
        return (f"{why}, but consumed is over proposed {change.dimension.one} units "
                f"({change.proposed}). Will leave at current setting (check {counted})")
    if change.rule is Outcome.HELD_COUNTING:
        return f"{why}, check {counted} before scaling down"
    if change.target_percent is not None:
        low = (f"low for {change.low_minutes:.0f}/{change.low_minutes_needed} minutes "
               f"(target-{change.dimension.name}-scale-down-minutes)")
        if change.rule is Outcome.HELD_LOW_DEMAND:
            return f"{why}; {low} before scaling in to {change.proposed}"
        return f"{why}; {low}"
    return f"{why} (check {counted})"


def _when(moment: datetime | None) -> str:
    return f"{moment:%H:%M} UTC" if moment else "unknown"


def block_text(block: Block) -> str:
    if block.code is BlockCode.DAILY_QUOTA:
        return f"the daily quota of {block.amount} is used"
    if block.code is BlockCode.DECREASE_COOLDOWN:
        return f"decrease-cooldown-minutes is {block.amount}"
    if block.code is BlockCode.HOURLY:
        return f"after the first {FREE_DECREASES}, one decrease per hour"
    if block.code is BlockCode.REFUSED_BY_AWS:
        return f"DynamoDB said the next decrease can be made at {block.until:%H:%M} UTC"
    return f"{block.amount} decrease(s) reserved for after {block.until:%H:%M} UTC"


def verdict_text(verdict: Verdict) -> str:
    """``decrease deferred: N/27 used today, next possible at HH:MM UTC``."""
    return (f"decrease deferred: {verdict.used}/{verdict.cap} used today, next possible at "
            f"{_when(verdict.next_possible)}")


def planner_text(refusal: Refusal) -> str:
    """Why the decrease planner deferred a decrease, and until when (decrease-planner-percent)."""
    parts = []
    for plan in refusal.plans:
        parts.append(
            f"frees {plan.freed} of {plan.current} units for {plan.hold_minutes:.0f} minutes "
            f"of the quota, worth {plan.worth:.0f} unit-minutes after {plan.waited_minutes:.0f} "
            f"minutes low, below the {plan.price:.0f} a decrease costs ({plan.percent:g}% of "
            f"the capacity for as long); worth waiting for a drop of at least "
            f"{plan.smallest_worth_taking} units")
    return (f"decrease deferred by the planner until {_when(refusal.until)}: "
            + "; ".join(parts))


def refusal_text(refusal: Refusal) -> str:
    code = refusal.code
    if code is Outcome.HELD_RW_TOGETHER:
        other = refusal.other.name if refusal.other else "the other dimension"
        return (f"waiting for {other} to get lower than the threshold before scaling down "
                "(always-decrease-rw-together)")
    if code is Outcome.HELD_WINDOW:
        return "outside the maintenance windows; only increases happen"
    if code is Outcome.HELD_INCREASE_COOLDOWN:
        return f"increase-cooldown-minutes runs until {_when(refusal.until)}"
    if code is Outcome.DEFERRED_PLANNER:
        return planner_text(refusal)
    if code is Outcome.DEFERRED_QUOTA and refusal.verdict is not None:
        blocks = "; ".join(block_text(block) for block in refusal.verdict.blocks)
        return f"{verdict_text(refusal.verdict)} ({blocks})"
    return "refused by DynamoDB (LimitExceededException)"


def _direction(current: int, target: int) -> str:
    return "up" if target > current else "down"


def reason(change: DimensionDecision) -> str:
    """The decision line of one dimension, e.g. ``Reads: 95.00% consumed > 90% upper …``."""
    dim, current = change.dimension, change.current
    if change.rule is Outcome.FROZEN:
        return f"{dim.title}: Autoscaling of {dim.name} has been disabled"
    text = _own_rules_text(change)
    if change.capped_by_aws is not None:
        text = (f"{text}; capped at {change.capped_by_aws} by DynamoDB's capacity limit "
                "(DescribeLimits)")
    if change.limit is Outcome.CLAMPED_TO_MAX:
        text = f"{text}; above max-provisioned-{dim.name} ({change.limit_value})"
    elif change.limit is Outcome.RAISED_TO_MIN and change.scheduled_floor is not None:
        text = (f"{text}; increasing {dim.name} to meet scheduled-min-provisioned-{dim.name} "
                f"({change.scheduled_floor} {dim.name} now)")
    elif change.limit is Outcome.RAISED_TO_MIN:
        text = (f"Increasing {dim.name} to meet min-provisioned-{dim.name} limit "
                f"({change.limit_value} {dim.name})")
    if change.wish != current:
        text = f"{text}, scaling {_direction(current, change.wish)} from {current} to {change.wish}"
    for step in change.refusals:
        text = f"{text}; not done: {refusal_text(step.refusal)}"
        if step.target != current:
            limit = "max" if step.target < current else "min"
            text = (f"{text}; {limit}-provisioned-{dim.name} still applies, scaling "
                    f"{_direction(current, step.target)} from {current} to {step.target}")
    return f"{dim.title}: {text}"


def decision_lines(change: DimensionDecision) -> list[str]:
    """The log lines of one dimension's decision: the counter reset note, then the reason."""
    lines = []
    if change.reset_percent:
        lines.append(
            f"Resetting the number of consecutive {change.dimension.one} checks. Reason: "
            f"Consumed percent {change.consumed_percent:.2f} is greater than reset percent: "
            f"{change.reset_percent}"
        )
    lines.append(reason(change))
    return lines


def resource_lines(decision: Decision, inside_window: bool | None) -> list[str]:
    """2.5.1's lines about a whole table or GSI (behaviour file §5.8, §7.1), kept for grep.

    ``inside_window`` is None without maintenance windows.
    """
    lines = []
    if decision.changed:
        lines.append(f"Changing provisioning to {decision.reads.target} read units and "
                     f"{decision.writes.target} write units")
    held = any(step.refusal.code is Outcome.HELD_WINDOW
               for dim in DIMENSIONS for step in decision.dimension(dim).refusals)
    if held:
        lines.append("We are outside a maintenace window. Will only perform up scaling "
                     "activites")  # sic: 2.5.1's wording, grepped for
    elif inside_window and decision.changed:
        lines.append("Current time is within maintenance window")
    return lines


def consecutive_line(change: DimensionDecision) -> str:
    if change.target_percent is not None:
        minutes = change.low_minutes if change.low is not None else 0.0
        return (f"Low {change.dimension.one} demand for {minutes:.0f}/"
                f"{change.low_minutes_needed} minutes")
    return f"Consecutive {change.dimension.one} checks {change.counter}/{change.checks_needed}"


def retry_lines(decision: Decision) -> list[str]:
    """After LimitExceededException, per resource (behaviour file §7.1 step 3)."""
    return ["Retrying to update provisioning, excluding any decreases. Setting new reads to "
            f"{decision.reads.target} and new writes to {decision.writes.target}"]


def decision_record(table: str, gsi: str | None, change: DimensionDecision,
                    seen: DimensionObservation) -> dict[str, object]:
    """One dimension's decision as data, for ``--log-format json`` (no wording in it)."""
    return {
        "table": table,
        "gsi": gsi,
        "dimension": change.dimension.name,
        "outcome": change.outcome.value,
        "trigger": change.trigger.value,
        "current": change.current,
        "target": change.target,
        "refused_by": [step.refusal.code.value for step in change.refusals],
        "checks": change.checks,
        "checks_needed": change.checks_needed,
        **({"demand": change.demand, "needed": change.needed,
            "target_percent": change.target_percent,
            "forecast_needed": change.forecast_needed,
            "low_minutes": change.low_minutes}
           if change.target_percent is not None else {}),
        "observation": {
            "provisioned": seen.provisioned,
            "consumed_percent": seen.consumed_percent,
            "throttle_events": seen.throttle_events,
            "throttled_by_provisioned_percent": seen.throttled_by_provisioned_percent,
            "throttled_by_consumed_percent": seen.throttled_by_consumed_percent,
        },
    }


# -- SNS --------------------------------------------------------------------------------------
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


def error_notification(cause: str, detail: str) -> Message:
    """sns-message-types ``error``: something keeps failing and needs a person."""
    return Message(("error",), _subject(f"dynamic-dynamodb error: {cause}"), detail)


def budget_message(table: str, gsi: str | None, decision: Decision) -> Message:
    """decrease-budget-exhausted: the deferral line of the dimension the quota held back."""
    deferred = decision.deferred
    detail = reason(deferred) if deferred else "the daily decrease budget is used up"
    what = f"table {table}" if gsi is None else f"GSI {gsi} of table {table}"
    return Message(
        ("decrease-budget-exhausted",),
        _subject(f"Decrease budget exhausted for {what}"),
        f"{prefix(table, gsi)}{detail}\n",
    )
