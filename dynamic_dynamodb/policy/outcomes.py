"""Decision outcomes as data: what happened to a dimension, why, and the numbers behind it.

The engine, the simulator, the metrics and the tests branch on these codes; ``notify.py``
alone turns them into 2.5.1's log sentences and SNS text. The enum values are stable strings:
they appear in ``--log-format json`` and may be used as metric labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from dynamic_dynamodb.dimensions import Dimension
from dynamic_dynamodb.policy.budget import Verdict
from dynamic_dynamodb.policy.planner import Plan


class Outcome(Enum):
    """What a check did with one dimension."""

    UNCHANGED = "unchanged"  # between the thresholds, or nothing to do
    FROZEN = "frozen"  # enable-*-autoscaling = false
    SCALED_UP_CONSUMED = "scaled-up-consumed"
    SCALED_UP_THROTTLED = "scaled-up-throttled"
    SCALED_DOWN = "scaled-down"
    CLAMPED_TO_MAX = "clamped-to-max"  # lowered to max-provisioned-* (D3)
    RAISED_TO_MIN = "raised-to-min"  # raised to min-provisioned-* (D3)
    HELD_COUNTING = "held-counting"  # num-*-checks-before-scale-down not reached yet
    HELD_LOW_DEMAND = "held-low-demand"  # target mode: demand not low for long enough yet
    HELD_ZERO_CONSUMED = "held-zero-consumed"  # 0 % consumed and no allow-scaling-down-*-on-0
    HELD_THROTTLED = "held-throttled"  # D8: throttle events in the window
    HELD_INCOMPLETE_METRICS = "held-incomplete-metrics"  # CloudWatch's answer was incomplete
    HELD_CONSUMPTION = "held-consumption"  # D4: the decrease would go below consumption
    HELD_WINDOW = "held-maintenance-window"  # D9
    HELD_RW_TOGETHER = "held-rw-together"  # D6
    HELD_INCREASE_COOLDOWN = "held-increase-cooldown"  # increase-cooldown-minutes
    DEFERRED_QUOTA = "deferred-decrease-quota"  # DynamoDB's quota or our decrease budget
    DEFERRED_PLANNER = "deferred-decrease-planner"  # decrease-planner-percent: worth waiting
    REFUSED_BY_AWS = "refused-by-aws"  # LimitExceededException on a decrease (D14)

    @property
    def changes(self) -> bool:
        return self in _CHANGES


_CHANGES = frozenset({
    Outcome.SCALED_UP_CONSUMED, Outcome.SCALED_UP_THROTTLED, Outcome.SCALED_DOWN,
    Outcome.CLAMPED_TO_MAX, Outcome.RAISED_TO_MIN,
})


class Trigger(Enum):
    """Which rule made a dimension want to move (or not)."""

    NONE = "none"
    DISABLED = "disabled"
    CONSUMED_ABOVE_THRESHOLD = "consumed-above-upper-threshold"
    CONSUMED_SCALE_UP = "increase-consumed-scale"
    THROTTLED_EVENTS = "throttled-events-above-threshold"
    THROTTLED_BY_PROVISIONED_SCALE = "increase-throttled-by-provisioned-scale"
    THROTTLED_BY_CONSUMED_SCALE = "increase-throttled-by-consumed-scale"
    CONSUMED_BELOW_THRESHOLD = "consumed-below-lower-threshold"
    CONSUMED_SCALE_DOWN = "decrease-consumed-scale"
    ZERO_CONSUMED = "zero-consumed"
    TARGET_UTILISATION = "target-utilisation"  # demand / target-*-utilisation
    FORECAST = "predictive-forecast"  # predictive-scaling: the forecast needs more

    @property
    def throttled(self) -> bool:
        return self in (Trigger.THROTTLED_EVENTS, Trigger.THROTTLED_BY_PROVISIONED_SCALE,
                        Trigger.THROTTLED_BY_CONSUMED_SCALE)


@dataclass(frozen=True)
class Refusal:
    """A gate that held a change back, with what the wording needs to explain it."""

    code: Outcome  # one of the HELD_*/DEFERRED_*/REFUSED_* outcomes
    other: Dimension | None = None  # rw-together: the dimension waited for
    until: datetime | None = None  # increase cooldown: when it ends
    verdict: Verdict | None = None  # the decrease quota's verdict
    plans: tuple[Plan, ...] = ()  # the decrease planner's weighing, per deferred dimension
