"""The decision: one pure function for tables and GSIs, reads and writes.

``decide(options, observation, counters, now)`` makes no AWS call, reads no global state and
logs nothing. The engine and the simulator both call it and carry out what it returns. A
decision says what happened as codes (``policy/outcomes.py``) with the numbers behind them;
``notify.py`` turns them into words.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from dynamic_dynamodb.config.options import DimensionOptions, ResourceOptions
from dynamic_dynamodb.dimensions import DIMENSIONS, READS, WRITES, Dimension
from dynamic_dynamodb.policy import calculators as calc
from dynamic_dynamodb.policy import counters as counting
from dynamic_dynamodb.policy.budget import BudgetRules, decrease_verdict, increase_cooling_down
from dynamic_dynamodb.policy.counters import Counters
from dynamic_dynamodb.policy.observation import DimensionObservation, Observation
from dynamic_dynamodb.policy.outcomes import Outcome, Refusal, Trigger


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
            return replace(self, target=target, counter=self.counter_if_refused,
                           outcome=refusal.code, wished=self.wish, refusals=steps)
        return replace(
            self,
            target=target,
            counter=counting.after_change(),  # the move to the limit is a change carried out
            outcome=Outcome.CLAMPED_TO_MAX if target < self.current else Outcome.RAISED_TO_MIN,
            wished=self.wish,
            refusals=steps,
        )


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
        return any(self.dimension(d).target != self.dimension(d).current for d in DIMENSIONS)

    @property
    def has_increase(self) -> bool:
        return self.reads.is_increase or self.writes.is_increase

    @property
    def has_decrease(self) -> bool:
        return self.reads.is_decrease or self.writes.is_decrease

    @property
    def counters(self) -> Counters:
        """The counters once this decision is carried out."""
        return Counters(self.reads.counter, self.writes.counter)

    def counters_after(self, carried_out: bool) -> Counters:
        """The counters to keep: carried out, or refused later by DynamoDB or an error (D5)."""
        if carried_out or not self.changed:
            return self.counters
        return Counters(self.reads.counter_if_refused, self.writes.counter_if_refused)

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
    """Whether throttle events can make this dimension scale up (2.5.1's throttle options)."""
    return bool(options.enable_autoscaling and options.enable_up_scaling and (
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
    if options.decrease_consumed_scale:
        return bool(calc.scale_down_lookup(options.decrease_consumed_scale, consumed))
    return bool(options.lower_threshold) and consumed < options.lower_threshold


def _lower_bound(options: DimensionOptions) -> int:
    return options.min_provisioned or 1


@dataclass(frozen=True)
class _Candidate:
    target: int
    trigger: Trigger
    value: float
    threshold: float | None = None


def _increase_cap(options: DimensionOptions, seen: DimensionObservation) -> int | None:
    """max-provisioned-*, or DynamoDB's own limit (DescribeLimits) when that is lower."""
    caps = [cap for cap in (options.max_provisioned, seen.ceiling) if cap is not None]
    return min(caps) if caps else None


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


def decide_dimension(
    dim: Dimension, options: DimensionOptions, seen: DimensionObservation, counter: int
) -> DimensionDecision:
    """One dimension's wish, before the resource-level gates (windows, rw-together, budget)."""
    current, consumed = seen.provisioned, seen.consumed_percent
    if not options.enable_autoscaling:
        return DimensionDecision(dim, current, current, Outcome.FROZEN, 0, 0,
                                 trigger=Trigger.DISABLED, rule=Outcome.FROZEN,
                                 consumed_percent=consumed)

    reset_percent = options.num_checks_reset_percent
    reset = counting.reset_by_consumption(counter, consumed, reset_percent)
    reset_percent = reset_percent if reset_percent and consumed >= reset_percent else 0
    counter = reset
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
            if seen.ceiling is not None and target == seen.ceiling and (
                options.max_provisioned is None or seen.ceiling < options.max_provisioned
            ):
                capped_by_aws = seen.ceiling

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

    # D3: min and max are hard limits, applied last. Increases are already capped at max, so
    # a target above max means the capacity itself is above max.
    maximum = options.max_provisioned
    minimum = _lower_bound(options)
    limit: Outcome | None = None
    limit_value: int | None = None
    if maximum is not None and target > maximum:
        target, limit, limit_value = maximum, Outcome.CLAMPED_TO_MAX, maximum
    if target < minimum:
        target, limit, limit_value = minimum, Outcome.RAISED_TO_MIN, minimum
    rule = outcome
    if limit is not None:
        outcome = limit

    if target != current:
        counter = counting.after_change()
    bounded = max(minimum, current if maximum is None else min(current, maximum))
    return DimensionDecision(
        dim, current, target, outcome, counter, counted,
        trigger=trigger, rule=rule, consumed_percent=consumed, value=value, threshold=threshold,
        proposed=proposed, capped_by_aws=capped_by_aws, checks=counted, checks_needed=needed,
        throttle_events=seen.throttle_events, reset_percent=reset_percent,
        limit=limit, limit_value=limit_value, bounded=bounded,
    )


def _alarm(options: ResourceOptions, observation: Observation) -> Alarm | None:
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


def _at_minimum(decision: DimensionDecision, options: DimensionOptions) -> bool:
    """Already at its minimum, and staying there (an increase from the minimum is not)."""
    return not decision.is_increase and decision.target <= _lower_bound(options)


def decide(
    options: ResourceOptions, observation: Observation, counters: Counters, now: datetime
) -> Decision:
    """Decide one table or GSI: targets, outcomes, new counters and any alarm."""
    per_dimension = {
        dim: decide_dimension(
            dim, options.dimension(dim), observation.dimension(dim), counters.dimension(dim)
        )
        for dim in DIMENSIONS
    }
    exhausted = False

    def refuse(refusal: Refusal, *, keep_limits: bool) -> None:
        for dim, decision in per_dimension.items():
            if decision.is_decrease:
                per_dimension[dim] = decision.refused(refusal, keep_limits=keep_limits)

    # D6: decrease only together with the other dimension, or when that one is at its minimum.
    # Decided: a dimension that can never be decreased (autoscaling or down-scaling off) does
    # not hold the other back; waiting for it would block that one's decreases for ever.
    if options.always_decrease_rw_together:
        for dim, other in ((READS, WRITES), (WRITES, READS)):
            mine, theirs = per_dimension[dim], per_dimension[other]
            other_options = options.dimension(other)
            if mine.is_decrease and not (
                theirs.is_decrease
                or _at_minimum(theirs, other_options)
                or not (other_options.enable_autoscaling and other_options.enable_down_scaling)
            ):
                per_dimension[dim] = mine.refused(
                    Refusal(Outcome.HELD_RW_TOGETHER, other=other), keep_limits=True
                )

    windows = options.maintenance_windows
    if (
        any(d.is_decrease for d in per_dimension.values())
        and windows is not None
        and not windows.contains(now)
    ):
        refuse(Refusal(Outcome.HELD_WINDOW), keep_limits=True)

    if any(d.is_decrease for d in per_dimension.values()):
        verdict = decrease_verdict(observation.ledger, now, budget_rules(options))
        if not verdict.allowed:
            # No keep_limits: a move down to max spends a decrease like any other.
            refuse(Refusal(Outcome.DEFERRED_QUOTA, verdict=verdict), keep_limits=False)
            exhausted = verdict.exhausted

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
