"""The decision: one pure function for tables and GSIs, reads and writes.

``decide(options, observation, counters, now)`` makes no AWS call, reads no global state and
logs nothing. The engine and the simulator both call it and carry out what it returns. A
decision says what happened as codes (``policy/outcomes.py``) with the numbers behind them;
``notify.py`` turns them into words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import NamedTuple

from dynamic_dynamodb.config.options import DimensionOptions, ResourceOptions
from dynamic_dynamodb.dimensions import DIMENSIONS, READS, WRITES, Dimension
from dynamic_dynamodb.policy import calculators as calc
from dynamic_dynamodb.policy import counters as counting
from dynamic_dynamodb.policy.budget import BudgetRules, decrease_verdict, increase_cooling_down
from dynamic_dynamodb.policy.counters import Counters, LowDemand, low_demand
from dynamic_dynamodb.policy.frozen import frozen_builder
from dynamic_dynamodb.policy.observation import DimensionObservation, Observation
from dynamic_dynamodb.policy.outcomes import Outcome, Refusal, Trigger
from dynamic_dynamodb.policy.planner import Plan, deferred_until, weigh


@dataclass(frozen=True)
class Step:
    """One gate that refused a change, and the target it left (a hard limit may still apply)."""

    refusal: Refusal
    target: int


@dataclass(frozen=True)
class DimensionDecision:
    dimension: Dimension
    current: int
    target: int
    outcome: Outcome
    counter: int  # the counter once this decision is carried out
    counter_if_refused: int  # the counter to keep if a change is refused later (D5)
    trigger: Trigger = Trigger.NONE
    rule: Outcome = Outcome.UNCHANGED  # what the dimension's own rules decided, before limits and gates
    consumed_percent: float = 0.0
    value: float = 0.0  # what the trigger compared: consumed %, throttled %, or throttle events
    threshold: float | None = None  # the threshold it was compared with (None for scale dicts)
    proposed: int | None = None  # the decrease the trigger asked for
    capped_by_aws: int | None = None  # DynamoDB's capacity limit (DescribeLimits) held the increase
    checks: int = 0  # down-scale checks counted so far (check N/M)
    checks_needed: int = 1
    throttle_events: int = 0
    reset_percent: int = 0  # > 0: num-*-checks-reset-percent reset the counter in this check
    limit: Outcome | None = None  # CLAMPED_TO_MAX or RAISED_TO_MIN when a hard limit set the wish
    limit_value: int | None = None
    wished: int | None = None  # the target before the first refusal
    refusals: tuple[Step, ...] = ()
    # The current capacity moved into [min, max]: where the hard limits alone put this
    # dimension (D3). None when autoscaling of the dimension is off (frozen).
    bounded: int | None = None
    # Target mode (target-*-utilisation): the demand in CU/s, the capacity the target needs
    # for it, and the stretch of low demand once carried out / if a change is refused.
    target_percent: float | None = None
    demand: float = 0.0
    needed: int | None = None
    forecast_needed: int | None = None  # predictive-scaling: what the forecast needs
    low: LowDemand | None = None
    low_if_refused: LowDemand | None = None
    low_minutes: float = 0.0
    low_minutes_needed: int = 0
    scheduled_floor: int | None = None  # scheduled-min-provisioned-* in force now

    @property
    def is_increase(self) -> bool:
        return self.target > self.current

    @property
    def is_decrease(self) -> bool:
        return self.target < self.current

    @property
    def wish(self) -> int:
        """The target this dimension wanted before any gate refused it."""
        return self.target if self.wished is None else self.wished

    def refused(self, refusal: Refusal, *, keep_limits: bool = False) -> DimensionDecision:
        """The same decision not carried out: capacity stays and the count is kept (D5).

        With ``keep_limits`` (the policy gates: maintenance windows, rw-together, cooldowns)
        min and max still apply, because they are hard limits (D3): a table above max is
        still lowered to max, one below min still raised to min. Without it (DynamoDB's
        decrease quota) nothing changes.
        """
        target = self.current
        if keep_limits and self.bounded is not None:
            if self.target == self.bounded:
                return self  # nothing but the limit itself: not the gate's to refuse
            target = self.bounded
        steps = (*self.refusals, Step(refusal, target))
        if target == self.current:
            return _decision(self, target=target, counter=self.counter_if_refused,
                             low=self.low_if_refused,
                             outcome=refusal.code, wished=self.wish, refusals=steps)
        return _decision(
            self,
            target=target,
            counter=counting.after_change(),  # the move to the limit is a change carried out
            low=None,
            outcome=Outcome.CLAMPED_TO_MAX if target < self.current else Outcome.RAISED_TO_MIN,
            wished=self.wish,
            refusals=steps,
        )


# DimensionDecision(**values), or dataclasses.replace(base, **values), made about three
# times faster: each decide() makes two or more (policy/frozen.py).
_decision = frozen_builder(DimensionDecision)


@dataclass(frozen=True)
class AlarmLine:
    dimension: Dimension
    consumed_percent: float
    threshold: float


@dataclass(frozen=True)
class Alarm:
    kind: str  # the sns-message-type: "high-throughput-alarm" or "low-throughput-alarm"
    lines: tuple[AlarmLine, ...]


@dataclass(frozen=True)
class Decision:
    reads: DimensionDecision
    writes: DimensionDecision
    alarm: Alarm | None = None
    budget_exhausted: bool = False

    def dimension(self, dimension: Dimension) -> DimensionDecision:
        return self.reads if dimension is READS else self.writes

    @property
    def changed(self) -> bool:
        return (self.reads.target != self.reads.current
                or self.writes.target != self.writes.current)

    @property
    def has_increase(self) -> bool:
        return self.reads.is_increase or self.writes.is_increase

    @property
    def has_decrease(self) -> bool:
        return self.reads.is_decrease or self.writes.is_decrease

    @property
    def counters(self) -> Counters:
        """The counters once this decision is carried out."""
        return Counters(self.reads.counter, self.writes.counter, self.reads.low, self.writes.low)

    def counters_after(self, carried_out: bool) -> Counters:
        """The counters to keep: carried out, or refused later by DynamoDB or an error (D5)."""
        if carried_out or not self.changed:
            return self.counters
        return Counters(self.reads.counter_if_refused, self.writes.counter_if_refused,
                        self.reads.low_if_refused, self.writes.low_if_refused)

    @property
    def planned(self) -> DimensionDecision | None:
        """The dimension whose decrease the planner deferred, if any."""
        for dim in DIMENSIONS:
            change = self.dimension(dim)
            if any(step.refusal.code is Outcome.DEFERRED_PLANNER for step in change.refusals):
                return change
        return None

    @property
    def deferred(self) -> DimensionDecision | None:
        """The dimension whose decrease the quota deferred, if any."""
        for dim in DIMENSIONS:
            change = self.dimension(dim)
            if any(step.refusal.code is Outcome.DEFERRED_QUOTA for step in change.refusals):
                return change
        return None

    def without_decreases(self) -> Decision:
        """Increases only: what is sent again after LimitExceededException (D14)."""
        refusal = Refusal(Outcome.REFUSED_BY_AWS)
        return replace(
            self,
            reads=self.reads.refused(refusal) if self.reads.is_decrease else self.reads,
            writes=self.writes.refused(refusal) if self.writes.is_decrease else self.writes,
        )


def budget_rules(options: ResourceOptions) -> BudgetRules:
    """The decrease quota and cooldown options of a table or GSI, for policy/budget.py."""
    reserved_after = options.reserved_decreases_after
    return BudgetRules(
        max_decreases_per_day=options.max_decreases_per_day,
        reserved_decreases=options.reserved_decreases,
        reserved_after_minute=reserved_after.minute if reserved_after else None,
        decrease_cooldown_minutes=options.decrease_cooldown_minutes,
    )


def next_decrease(options: ResourceOptions, observation: Observation,
                  now: datetime) -> datetime | None:
    """When the quota or a cooldown next allows a decrease; None when one is possible now."""
    verdict = decrease_verdict(observation.ledger, now, budget_rules(options))
    return None if verdict.allowed else verdict.next_possible


def increases_on_throttles(options: DimensionOptions) -> bool:
    """Whether throttle events can make this dimension scale up (2.5.1's throttle options, or
    target mode, whose demand counts throttled units)."""
    return bool(options.enable_autoscaling and options.enable_up_scaling and (
        options.target_utilisation is not None or
        options.throttled_upper_threshold or options.increase_throttled_by_provisioned_scale
        or options.increase_throttled_by_consumed_scale))


def may_want_decrease(options: DimensionOptions, seen: DimensionObservation) -> bool:
    """Whether consumption may make the dimension want a decrease: only then do its throttle
    events matter for the decision (the D8 veto), unless they can trigger an increase.

    A cheap superset of decide_dimension's own test (it ignores the increase that would win
    and the exact size of the decrease), so asking for throttles on its word never changes a
    decision.
    """
    if not (options.enable_autoscaling and options.enable_down_scaling):
        return False
    if seen.provisioned <= _lower_bound(options):  # a decrease never goes below min
        return False
    consumed = seen.consumed_percent
    if consumed == 0 and not options.allow_scaling_down_on_0_percent:
        return False
    if options.target_utilisation is not None:
        # Consumed units alone (no throttles known yet) are at most the demand.
        return _units_for(seen.demand, options.target_utilisation) < seen.provisioned
    if options.decrease_consumed_scale:
        return bool(calc.scale_down_lookup(options.decrease_consumed_scale, consumed))
    return bool(options.lower_threshold) and consumed < options.lower_threshold


def _lower_bound(options: DimensionOptions, now: datetime | None = None) -> int:
    """min-provisioned-* (1 without it), raised by scheduled-min-provisioned-* in force at
    ``now`` (without ``now``: the lowest it can be, for the cheap superset tests)."""
    lowest = options.min_provisioned or 1
    floors = options.scheduled_min_provisioned
    if now is not None and floors is not None:
        floor = floors.floor_at(now) or 0
        if options.max_provisioned is not None:
            floor = min(floor, options.max_provisioned)
        return max(lowest, floor)
    return lowest


# Target mode starts a stretch of low demand only when the demand needs at least this much
# less than there is: minute-to-minute noise around the target is not a reason to scale in.
LOW_TOLERANCE = 0.1


def _units_for(demand: float, target_percent: float) -> int:
    """The capacity at which ``demand`` (CU/s) is ``target_percent`` % utilisation; at least 1.
    The tiny tolerance keeps float noise (80.00000000001) from adding a unit."""
    return max(1, math.ceil(demand * 100 / target_percent - 1e-9))


class _Candidate(NamedTuple):
    target: int
    trigger: Trigger
    value: float
    threshold: float | None = None


def _increase_cap(options: DimensionOptions, seen: DimensionObservation) -> int | None:
    """max-provisioned-*, or DynamoDB's own limit (DescribeLimits) when that is lower."""
    maximum, ceiling = options.max_provisioned, seen.ceiling
    if maximum is None or ceiling is None:
        return ceiling if maximum is None else maximum
    return min(maximum, ceiling)


def _upscale(options: DimensionOptions, seen: DimensionObservation) -> _Candidate | None:
    """Largest of the up-scale candidates (behaviour file §5.2 step 3), in 2.5.1's order."""
    current, consumed = seen.provisioned, seen.consumed_percent
    maximum = _increase_cap(options, seen)
    consumed_unit = options.increase_consumed_unit or options.increase_unit
    consumed_with = options.increase_consumed_with or options.increase_with
    candidates: list[_Candidate] = []

    for trigger, value, scale, unit in (
        (Trigger.THROTTLED_BY_PROVISIONED_SCALE, seen.throttled_by_provisioned_percent,
         options.increase_throttled_by_provisioned_scale,
         options.increase_throttled_by_provisioned_unit),
        (Trigger.THROTTLED_BY_CONSUMED_SCALE, seen.throttled_by_consumed_percent,
         options.increase_throttled_by_consumed_scale,
         options.increase_throttled_by_consumed_unit),
    ):
        amount = calc.scale_up_lookup(scale, value)
        if amount:
            target = calc.increase(unit or options.increase_unit, current, amount, maximum,
                                   consumed)
            candidates.append(_Candidate(target, trigger, value))

    scale_amount = calc.scale_up_lookup(options.increase_consumed_scale, consumed)
    if scale_amount:
        target = calc.increase(consumed_unit, current, scale_amount, maximum, consumed)
        candidates.append(_Candidate(target, Trigger.CONSUMED_SCALE_UP, consumed))
    elif (
        not options.increase_consumed_scale
        and options.upper_threshold
        and consumed > options.upper_threshold
    ):
        target = calc.increase(consumed_unit, current, consumed_with, maximum, consumed)
        candidates.append(_Candidate(target, Trigger.CONSUMED_ABOVE_THRESHOLD, consumed,
                                     options.upper_threshold))

    threshold = options.throttled_upper_threshold
    # Hot-key (key range) throttles never ask for more capacity: it cannot fix them.
    events = seen.capacity_throttle_events
    if threshold and events > threshold:
        # 2.5.1's table-reads rule, now used everywhere (D7): percent steps use the consumed amount.
        amount = consumed_with if options.increase_unit == "percent" else options.increase_with
        target = calc.increase(options.increase_unit, current, amount, maximum, consumed)
        candidates.append(_Candidate(target, Trigger.THROTTLED_EVENTS, events, threshold))

    best: _Candidate | None = None
    for candidate in candidates:
        if candidate.target > (best.target if best else 0):
            best = candidate
    return best


class _Rules(NamedTuple):
    """What a dimension's own rules (2.5.1's thresholds, or target mode) want, before the
    hard limits. (A NamedTuple, not a frozen dataclass: made every check, it costs less.)"""

    target: int
    outcome: Outcome = Outcome.UNCHANGED
    trigger: Trigger = Trigger.NONE
    value: float = 0.0
    threshold: float | None = None
    proposed: int | None = None
    counter: int = 0
    counted: int = 0
    capped_by_aws: int | None = None
    low: LowDemand | None = None
    needed: int | None = None
    forecast_needed: int | None = None


def _capped_by_aws(options: DimensionOptions, seen: DimensionObservation, target: int) -> int | None:
    if seen.ceiling is not None and target == seen.ceiling and (
        options.max_provisioned is None or seen.ceiling < options.max_provisioned
    ):
        return seen.ceiling
    return None


def _threshold_rules(options: DimensionOptions, seen: DimensionObservation,
                     counter: int) -> _Rules:
    """2.5.1's rules: thresholds, scale dicts and the down-scale counter (behaviour file §5)."""
    current, consumed = seen.provisioned, seen.consumed_percent
    needed = options.num_checks_before_scale_down
    target, outcome = current, Outcome.UNCHANGED
    trigger, value, threshold = Trigger.NONE, consumed, None
    proposed: int | None = None
    counted = counter
    capped_by_aws: int | None = None
    if options.enable_up_scaling:
        best = _upscale(options, seen)
        if best is not None and best.target > current:
            target, trigger, value, threshold = best.target, best.trigger, best.value, best.threshold
            outcome = Outcome.SCALED_UP_THROTTLED if trigger.throttled else Outcome.SCALED_UP_CONSUMED
            counter = counting.after_change()
            capped_by_aws = _capped_by_aws(options, seen, target)

    if target == current and options.enable_down_scaling:
        lower_unit = options.decrease_consumed_unit or options.decrease_unit
        lower_with = options.decrease_consumed_with or options.decrease_with
        amount = calc.scale_down_lookup(options.decrease_consumed_scale, consumed)
        wanted: int | None = None
        down_trigger, down_threshold = Trigger.NONE, None
        if consumed == 0 and not options.allow_scaling_down_on_0_percent:
            trigger, outcome = Trigger.ZERO_CONSUMED, Outcome.HELD_ZERO_CONSUMED
        elif amount:
            wanted = calc.decrease(lower_unit, current, amount, options.min_provisioned)
            down_trigger = Trigger.CONSUMED_SCALE_DOWN
        elif (
            not options.decrease_consumed_scale
            and options.lower_threshold
            and consumed < options.lower_threshold
        ):
            wanted = calc.decrease(lower_unit, current, lower_with, options.min_provisioned)
            down_trigger, down_threshold = Trigger.CONSUMED_BELOW_THRESHOLD, options.lower_threshold
        if wanted is not None and wanted < current:
            trigger, threshold, proposed = down_trigger, down_threshold, wanted
            if seen.throttle_events > 0:  # D8: never decrease while throttled
                outcome = Outcome.HELD_THROTTLED
            elif not seen.complete:  # an unknown metric is not a low one
                outcome = Outcome.HELD_INCOMPLETE_METRICS
            elif calc.consumed_units(current, consumed) > wanted:  # D4
                counter = counted = counting.counted(counter)
                outcome = Outcome.HELD_CONSUMPTION
            else:
                counter = counted = counting.counted(counter)
                if counter >= needed:
                    target, outcome = wanted, Outcome.SCALED_DOWN
                else:
                    outcome = Outcome.HELD_COUNTING
    return _Rules(target, outcome, trigger, value, threshold, proposed, counter, counted,
                  capped_by_aws)


def _target_rules(options: DimensionOptions, seen: DimensionObservation,
                  low: LowDemand | None, now: datetime, predictive: bool) -> _Rules:
    """Target mode: capacity = demand ÷ target. Out in one check; in only after the demand
    stayed low for target-*-scale-down-minutes, straight to the most it needed meanwhile.
    With a forecast (predictive-scaling): out ahead of a forecast ramp, and never in below
    what the near future is forecast to need (both at 100 % of the forecast peak)."""
    current, percent = seen.provisioned, options.target_utilisation or 100.0
    needed = _units_for(seen.demand, percent)
    value = seen.demand * 100 / current if current else 0.0  # utilisation, in %
    ahead, trigger = needed, Trigger.TARGET_UTILISATION
    hold = needed
    forecast = seen.forecast if predictive else None
    forecast_needed: int | None = None
    if forecast is not None:
        # The forecast is met at 100 %, not at the target: it is a peak, not a level, and if
        # the ramp comes higher than forecast the target scales out on the next check (the
        # burst bucket covers the minutes between). Pre-warming to the target would hold a
        # wrong forecast's extra for the whole peak.
        forecast_needed = _units_for(forecast.lead_peak, 100.0)
        if forecast_needed > ahead:
            ahead, trigger = forecast_needed, Trigger.FORECAST
        hold = max(needed, _units_for(forecast.hour_peak, 100.0))
    rules = _Rules(current, trigger=trigger, value=value, threshold=percent, needed=needed,
                   forecast_needed=forecast_needed)
    if options.enable_up_scaling and ahead > current:
        cap = _increase_cap(options, seen)
        target = max(current, min(ahead, cap)) if cap is not None else ahead
        if target > current:
            throttled = seen.capacity_throttle_events > 0 and trigger is Trigger.TARGET_UTILISATION
            return rules._replace(target=target, capped_by_aws=_capped_by_aws(options, seen, target),
                           outcome=(Outcome.SCALED_UP_THROTTLED if throttled
                                    else Outcome.SCALED_UP_CONSUMED))
    # A stretch starts when the demand needs clearly less (beyond minute-to-minute noise),
    # and goes on while it needs less than there is.
    starts = hold < current * (1 - LOW_TOLERANCE)
    if not options.enable_down_scaling or hold >= current or (low is None and not starts):
        return rules  # the demand (or the forecast) needs what there is: not a low stretch
    if seen.consumed_percent == 0 and not options.allow_scaling_down_on_0_percent:
        # An empty window is not known to be low (late metrics, an outage): not counted.
        return rules._replace(trigger=Trigger.ZERO_CONSUMED, outcome=Outcome.HELD_ZERO_CONSUMED,
                       low=low)
    if seen.throttle_events > 0:  # D8: never decrease while throttled; the stretch ends
        return rules._replace(proposed=hold, outcome=Outcome.HELD_THROTTLED)
    if not seen.complete:  # an unknown metric is not a low one
        return rules._replace(proposed=hold, outcome=Outcome.HELD_INCOMPLETE_METRICS, low=low)
    minutes = options.target_scale_down_minutes
    stretch = low_demand(low, now, hold, minutes)
    waited = (now - stretch.since).total_seconds() / 60
    if waited >= minutes and stretch.needed < current:
        return rules._replace(target=stretch.needed, proposed=stretch.needed,
                       outcome=Outcome.SCALED_DOWN, low=stretch)
    return rules._replace(proposed=stretch.needed, outcome=Outcome.HELD_LOW_DEMAND, low=stretch)


def decide_dimension(
    dim: Dimension, options: DimensionOptions, seen: DimensionObservation, counter: int,
    *, now: datetime | None = None, low: LowDemand | None = None, predictive: bool = False,
) -> DimensionDecision:
    """One dimension's wish, before the resource-level gates (windows, rw-together, budget).

    ``now`` is needed by target mode and scheduled floors; ``low`` is target mode's stretch
    of low demand so far (``Counters.low``).
    """
    current, consumed = seen.provisioned, seen.consumed_percent
    if not options.enable_autoscaling:
        return _decision(dimension=dim, current=current, target=current,
                         outcome=Outcome.FROZEN, counter=0, counter_if_refused=0,
                         trigger=Trigger.DISABLED, rule=Outcome.FROZEN,
                         consumed_percent=consumed)

    reset_percent = options.num_checks_reset_percent
    reset = counting.reset_by_consumption(counter, consumed, reset_percent)
    reset_percent = reset_percent if reset_percent and consumed >= reset_percent else 0
    counter = reset
    target_mode = options.target_utilisation is not None
    if target_mode:
        if now is None:
            raise ValueError("target mode needs the time of the check (now)")
        rules = _target_rules(options, seen, low, now, predictive)
        reset_percent = 0
    else:
        rules = _threshold_rules(options, seen, counter)
    target, outcome, counter = rules.target, rules.outcome, rules.counter
    stretch = rules.low

    # D3: min and max are hard limits, applied last. Increases are already capped at max, so
    # a target above max means the capacity itself is above max.
    maximum = options.max_provisioned
    scheduled = (options.scheduled_min_provisioned.floor_at(now)
                 if options.scheduled_min_provisioned is not None and now is not None else None)
    if scheduled is not None:
        # A floor never asks for more than max-provisioned or DynamoDB's own limit allows.
        cap = _increase_cap(options, seen)
        scheduled = scheduled if cap is None else min(scheduled, cap)
    minimum = max(options.min_provisioned or 1, scheduled or 0)  # _lower_bound(options, now)
    limit: Outcome | None = None
    limit_value: int | None = None
    if maximum is not None and target > maximum:
        target, limit, limit_value = maximum, Outcome.CLAMPED_TO_MAX, maximum
    if target < minimum:
        target, limit, limit_value = minimum, Outcome.RAISED_TO_MIN, minimum
    rule = outcome
    if limit is not None:
        outcome = limit

    low_if_refused = stretch
    if target != current:
        counter = counting.after_change()
        stretch = None
    elif target_mode and rule is Outcome.SCALED_DOWN:
        # The hard limits left nothing to decrease: the stretch has done its work.
        stretch = low_if_refused = None
    bounded = max(minimum, current if maximum is None else min(current, maximum))
    low_minutes = ((now - rules.low.since).total_seconds() / 60
                   if rules.low is not None and now is not None else 0.0)
    return _decision(
        dimension=dim, current=current, target=target, outcome=outcome, counter=counter,
        counter_if_refused=rules.counted, trigger=rules.trigger, rule=rule,
        consumed_percent=consumed, value=rules.value,
        threshold=rules.threshold, proposed=rules.proposed, capped_by_aws=rules.capped_by_aws,
        checks=rules.counted, checks_needed=options.num_checks_before_scale_down,
        throttle_events=seen.throttle_events, reset_percent=reset_percent,
        limit=limit, limit_value=limit_value, bounded=bounded,
        target_percent=options.target_utilisation, demand=seen.demand if target_mode else 0.0,
        needed=rules.needed, forecast_needed=rules.forecast_needed,
        low=stretch, low_if_refused=low_if_refused, low_minutes=low_minutes,
        low_minutes_needed=options.target_scale_down_minutes if target_mode else 0,
        scheduled_floor=scheduled if scheduled is not None and limit_value == scheduled
        else None,
    )


def _alarm(options: ResourceOptions, observation: Observation) -> Alarm | None:
    if not (options.reads.upper_alarm_threshold or options.reads.lower_alarm_threshold
            or options.writes.upper_alarm_threshold or options.writes.lower_alarm_threshold):
        return None  # no alarm configured (the usual case)
    high, low = [], []
    for dim in DIMENSIONS:
        dim_options = options.dimension(dim)
        consumed = observation.dimension(dim).consumed_percent
        upper, lower = dim_options.upper_alarm_threshold, dim_options.lower_alarm_threshold
        if 0 < upper <= consumed:
            high.append(AlarmLine(dim, consumed, upper))
        if lower > 0 and consumed < lower:
            low.append(AlarmLine(dim, consumed, lower))
    if high:
        return Alarm("high-throughput-alarm", tuple(high))
    if low:
        return Alarm("low-throughput-alarm", tuple(low))
    return None


def _at_minimum(decision: DimensionDecision, options: DimensionOptions, now: datetime) -> bool:
    """Already at its minimum, and staying there (an increase from the minimum is not)."""
    return not decision.is_increase and decision.target <= _lower_bound(options, now)


def _plan(options: ResourceOptions, observation: Observation,
          per_dimension: dict[Dimension, DimensionDecision], now: datetime) -> Refusal | None:
    """decrease-planner-percent: a refusal when no decrease of this update is worth what it
    costs of the quota; None when one is (the others ride along for free)."""
    plans: list[Plan] = []
    for decision in per_dimension.values():
        if not decision.is_decrease:
            continue
        if decision.target_percent is None or decision.limit is Outcome.CLAMPED_TO_MAX:
            return None  # 2.5.1's rules, or max-provisioned (a hard limit): not planned
        since = decision.low_if_refused.since if decision.low_if_refused else None
        plan = weigh(decision.current, decision.target, observation.ledger, now,
                     budget_rules(options), options.decrease_planner_percent, since)
        if plan.worth_taking:
            return None
        plans.append(plan)
    if not plans:
        return None
    return Refusal(Outcome.DEFERRED_PLANNER, until=deferred_until(plans, now), plans=tuple(plans))


def _has_decrease(per_dimension: dict[Dimension, DimensionDecision]) -> bool:
    return per_dimension[READS].is_decrease or per_dimension[WRITES].is_decrease


def _refuse(per_dimension: dict[Dimension, DimensionDecision], refusal: Refusal, *,
            keep_limits: bool) -> None:
    """A gate refused the decreases: every dimension that wants one is refused."""
    for dim, decision in per_dimension.items():
        if decision.is_decrease:
            per_dimension[dim] = decision.refused(refusal, keep_limits=keep_limits)


def decide(
    options: ResourceOptions, observation: Observation, counters: Counters, now: datetime
) -> Decision:
    """Decide one table or GSI: targets, outcomes, new counters and any alarm."""
    predictive = options.predictive_scaling
    reads = decide_dimension(READS, options.reads, observation.reads, counters.reads,
                             now=now, low=counters.reads_low, predictive=predictive)
    writes = decide_dimension(WRITES, options.writes, observation.writes, counters.writes,
                              now=now, low=counters.writes_low, predictive=predictive)
    if not (reads.target < reads.current or writes.target < writes.current or (
            options.increase_cooldown_minutes
            and (reads.target > reads.current or writes.target > writes.current))):
        # Every gate below holds back decreases, or (the cooldown) increases: none applies.
        return Decision(reads, writes, _alarm(options, observation), False)
    per_dimension = {READS: reads, WRITES: writes}
    exhausted = False
    # D6: decrease only together with the other dimension, or when that one is at its minimum.
    # Decided: a dimension that can never be decreased (autoscaling or down-scaling off) does
    # not hold the other back; waiting for it would block that one's decreases for ever.
    if options.always_decrease_rw_together:
        for dim, other in ((READS, WRITES), (WRITES, READS)):
            mine, theirs = per_dimension[dim], per_dimension[other]
            other_options = options.dimension(other)
            if mine.is_decrease and not (
                theirs.is_decrease
                or _at_minimum(theirs, other_options, now)
                or not (other_options.enable_autoscaling and other_options.enable_down_scaling)
            ):
                per_dimension[dim] = mine.refused(
                    Refusal(Outcome.HELD_RW_TOGETHER, other=other), keep_limits=True
                )

    windows = options.maintenance_windows
    if _has_decrease(per_dimension) and windows is not None and not windows.contains(now):
        _refuse(per_dimension, Refusal(Outcome.HELD_WINDOW), keep_limits=True)

    if _has_decrease(per_dimension):
        verdict = decrease_verdict(observation.ledger, now, budget_rules(options))
        if not verdict.allowed:
            # No keep_limits: a move down to max spends a decrease like any other.
            _refuse(per_dimension, Refusal(Outcome.DEFERRED_QUOTA, verdict=verdict),
                    keep_limits=False)
            exhausted = verdict.exhausted

    if options.decrease_planner_percent and _has_decrease(per_dimension):
        planned = _plan(options, observation, per_dimension, now)
        if planned is not None:
            _refuse(per_dimension, planned, keep_limits=True)

    if options.increase_cooldown_minutes:
        ends = increase_cooling_down(observation.ledger, now, options.increase_cooldown_minutes)
        for dim, decision in per_dimension.items():
            over = observation.dimension(dim).consumed_percent > 100
            if ends is not None and decision.is_increase and not over:
                per_dimension[dim] = decision.refused(
                    Refusal(Outcome.HELD_INCREASE_COOLDOWN, until=ends), keep_limits=True
                )

    return Decision(per_dimension[READS], per_dimension[WRITES], _alarm(options, observation),
                    exhausted)
