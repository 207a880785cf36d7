"""How long a quiet table or GSI may go without being checked (``quiet-check-interval``).

GetMetricData bills every metric asked for: at a 60 s check interval the two consumed metrics
of one table alone cost about $0.86 a month. A resource far from every threshold does not
need them every minute, because no decision can come of them: this module says, from one
check's options, observation and decision, until when the next checks may leave it out.

Pure: no I/O, no clock of its own. The rules, in the order they are applied:

- ``quiet-check-interval`` 0 (the default), or less than two check intervals: never quiet.
- Checked again next cycle after anything that is happening: a change, an alarm, throttle
  events, an incomplete metric, a gate holding a change (maintenance window, rw-together,
  cooldown, planner), a scheduled floor, a forecast (predictive-scaling).
- A decrease under way (counting checks, a stretch of low demand, deferred by the quota)
  may be left only while DynamoDB's quota or a cooldown allows no decrease anyway, and only
  until it does again (``next_decrease``): the decrease is then decided at the same check
  as without quiet checks.
- Headroom: the consumption seen must need longer than the quiet time to reach the lowest
  level at which this dimension could scale up (its upper threshold, the first step of its
  consumed scale, its target utilisation, 100 % when throttles can trigger it) or raise an
  alarm, growing by ``GROWTH_PER_MINUTE`` a minute. The window read at the next check then
  still covers the moment it would have crossed, so an increase is decided no later. The
  same in the other direction: falling as fast, it must not reach the level where a decrease
  would start (its lower threshold, the last step of its decrease scale, its target), which
  a quiet check would start later, at the price of capacity. A low-throughput alarm, which
  fires while consumption stays low, is never left out.

What a quiet check gives up: a demand that grows or falls faster than that (a step, a spike)
is seen up to ``quiet-check-interval`` later, with the burst bucket (up to 300 s of unused
capacity) as the cushion. With the option set, throttle metrics are also asked for only where
the consumption says there can be throttles (``throttles_possible``).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from dynamic_dynamodb.config.options import DimensionOptions, ResourceOptions
from dynamic_dynamodb.dimensions import DIMENSIONS
from dynamic_dynamodb.policy.decide import Decision, DimensionDecision, next_decrease
from dynamic_dynamodb.policy.observation import DimensionObservation, Observation
from dynamic_dynamodb.policy.outcomes import Outcome

# Assumption: how fast demand may plausibly grow between two checks (×1.25 a minute doubles
# it in about three minutes). Faster growth is still seen, at most quiet-check-interval late.
GROWTH_PER_MINUTE = 1.25
# Throttling needs consumption near what is provisioned (the burst bucket serves the rest).
THROTTLE_LEVEL_PERCENT = 100.0

_QUIET = frozenset({Outcome.UNCHANGED, Outcome.FROZEN, Outcome.HELD_ZERO_CONSUMED})
# A decrease under way: it may wait (quietly) only while no decrease is possible anyway.
_UNDER_WAY = frozenset({Outcome.HELD_COUNTING, Outcome.HELD_LOW_DEMAND,
                        Outcome.HELD_CONSUMPTION, Outcome.DEFERRED_QUOTA})


def scale_up_level(options: DimensionOptions, provisioned: int = 0,
                   ceiling: int | None = None) -> float | None:
    """The lowest consumption (% of provisioned) at which the dimension could scale up or
    raise its high-throughput alarm; None when nothing can happen however high it goes (an
    increase is impossible at max-provisioned-* or DynamoDB's limit, ``ceiling``)."""
    levels: list[float] = []
    at_most = min((cap for cap in (options.max_provisioned, ceiling) if cap is not None),
                  default=None)
    if (options.enable_autoscaling and options.enable_up_scaling
            and (at_most is None or provisioned < at_most)):
        if options.target_utilisation is not None:
            levels.append(options.target_utilisation)
        else:
            steps = [key for key, value in options.increase_consumed_scale or () if value]
            if steps:
                levels.append(min(steps))
            elif options.upper_threshold:
                levels.append(options.upper_threshold)
            if (options.throttled_upper_threshold or options.increase_throttled_by_provisioned_scale
                    or options.increase_throttled_by_consumed_scale):
                levels.append(THROTTLE_LEVEL_PERCENT)
    if options.upper_alarm_threshold > 0:
        levels.append(options.upper_alarm_threshold)
    return min(levels) if levels else None


def headroom_seconds(options: DimensionOptions, seen: DimensionObservation) -> float:
    """How long consumption growing by GROWTH_PER_MINUTE a minute needs to reach the scale-up
    level: 0 when it is there already, infinite when nothing can scale up."""
    if options.lower_alarm_threshold > 0:
        return 0.0  # a low-throughput alarm is told every check it holds
    level = scale_up_level(options, seen.provisioned, seen.ceiling)
    if level is None:
        return math.inf
    consumed = seen.consumed_percent
    if consumed >= level:
        return 0.0
    if consumed <= 0:
        return math.inf
    return 60.0 * math.log(level / consumed) / math.log(GROWTH_PER_MINUTE)


def scale_down_level(options: DimensionOptions, provisioned: int = 0) -> float | None:
    """The highest consumption (% of provisioned) at which the dimension could start to
    decrease: its lower threshold, the last step of its decrease scale, its target utilisation
    (a stretch of low demand starts below it); None when it cannot decrease (at its minimum,
    or down-scaling off)."""
    if not (options.enable_autoscaling and options.enable_down_scaling):
        return None
    if provisioned and provisioned <= (options.min_provisioned or 1):
        return None
    if options.target_utilisation is not None:
        return options.target_utilisation
    steps = [key for key, value in options.decrease_consumed_scale or () if value]
    if steps:
        return max(steps)
    return options.lower_threshold or None


def falling_seconds(options: DimensionOptions, seen: DimensionObservation) -> float:
    """How long consumption falling by GROWTH_PER_MINUTE a minute needs to reach the level
    where a decrease would start: a quiet check would start it later, and capacity costs."""
    level = scale_down_level(options, seen.provisioned)
    consumed = seen.consumed_percent
    if level is None or consumed <= 0:
        return math.inf  # nothing to decrease, or idle: a decrease waits for consumption
    if consumed <= level:
        return 0.0
    return 60.0 * math.log(consumed / level) / math.log(GROWTH_PER_MINUTE)


def throttles_possible(options: ResourceOptions, seen: DimensionObservation,
                       throttled_before: bool = False) -> bool:
    """Whether the lookback window can hold capacity throttle events, from its consumption.

    A minute with capacity throttles consumed at least what was provisioned (the burst bucket
    was empty, or requests would have been served from it), so a window of N minutes that
    consumed less than 100/N % of the capacity had none. ``throttled_before``: the last check
    of the resource saw throttle events (they come in episodes, and a capacity raised since
    makes the % of the window smaller than what it consumed of the capacity it had then).
    With ``quiet-check-interval`` set, throttle metrics are asked for only then: hot-key
    throttles at low consumption (more capacity cannot fix them) no longer hold a decrease
    back (D8), and throttles just before an increase took effect are seen when consumption
    shows them again.
    """
    level = 100.0 / max(1, options.lookback_period)
    return throttled_before or seen.consumed_percent >= level * (1 - 1e-9)


def _dimension_quiet(options: DimensionOptions, seen: DimensionObservation,
                     change: DimensionDecision, decrease_in: float | None) -> float:
    """Seconds this dimension may go unchecked (0: check it next cycle). ``decrease_in``:
    seconds until a decrease is possible (None: it is possible now)."""
    if seen.throttle_events or not seen.complete or change.target != change.current:
        return 0.0
    if options.scheduled_min_provisioned is not None:
        return 0.0
    if any(step.refusal.code is not Outcome.DEFERRED_QUOTA for step in change.refusals):
        return 0.0
    seconds = headroom_seconds(options, seen)
    if change.outcome in _UNDER_WAY or change.low is not None or change.refusals:
        if decrease_in is None:
            return 0.0
        return min(seconds, decrease_in)
    if change.outcome not in _QUIET:
        return 0.0
    return min(seconds, falling_seconds(options, seen))


def quiet_until(options: ResourceOptions, observation: Observation, decision: Decision,
                now: datetime, check_interval: float) -> datetime | None:
    """Until when the checks after this one may leave the resource out: a whole number of
    check intervals from ``now``, at least two; None when the next check must read it."""
    limit = float(options.quiet_check_interval)
    if check_interval <= 0 or limit < 2 * check_interval:
        return None
    if decision.changed or decision.alarm is not None or decision.budget_exhausted:
        return None
    if options.predictive_scaling:
        return None
    upcoming = next_decrease(options, observation, now)
    decrease_in = None if upcoming is None else (upcoming - now).total_seconds()
    seconds = limit
    for dim in DIMENSIONS:
        seconds = min(seconds, _dimension_quiet(options.dimension(dim), observation.dimension(dim),
                                                decision.dimension(dim), decrease_in))
        if seconds < 2 * check_interval:
            return None
    cycles = math.floor(seconds / check_interval + 1e-9)
    if cycles < 2:
        return None
    return now + timedelta(seconds=cycles * check_interval)
