"""The decision: one pure function for tables and GSIs, reads and writes.

``decide(options, observation, counters, now)`` makes no AWS call, reads no global state and
logs nothing. The engine and the simulator both call it and carry out what it returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from dynamic_dynamodb.config.options import DIMENSIONS, READS, WRITES, Dimension
from dynamic_dynamodb.policy import calculators as calc
from dynamic_dynamodb.policy.budget import (
    BudgetRules,
    DecreaseLedger,
    decrease_verdict,
    increase_cooling_down,
)
from dynamic_dynamodb.policy.windows import is_inside, parse_clock, parse_windows


@dataclass(frozen=True)
class DimensionObservation:
    """What CloudWatch and DescribeTable said about one dimension (behaviour file §4.2)."""

    provisioned: int
    consumed_percent: float = 0.0
    throttle_events: int = 0
    throttled_by_provisioned_percent: float = 0.0
    throttled_by_consumed_percent: float = 0.0


@dataclass(frozen=True)
class Observation:
    reads: DimensionObservation
    writes: DimensionObservation
    ledger: DecreaseLedger = field(default_factory=DecreaseLedger)

    def dimension(self, dimension: Dimension) -> DimensionObservation:
        return getattr(self, dimension.name)


@dataclass(frozen=True)
class Counters:
    """Down-scale counters: checks that wanted a decrease since the last reset (D5)."""

    reads: int = 0
    writes: int = 0

    def dimension(self, dimension: Dimension) -> int:
        return getattr(self, dimension.name)


@dataclass(frozen=True)
class DimensionDecision:
    dimension: Dimension
    current: int
    target: int
    reason: str
    counter: int  # the counter once this decision is carried out
    counter_if_refused: int  # the counter to keep if a change is refused later (D5)
    notes: tuple[str, ...] = ()
    # The current capacity moved into [min, max]: where the hard limits alone put this
    # dimension (D3). None when autoscaling of the dimension is off (frozen).
    bounded: int | None = None

    @property
    def is_increase(self) -> bool:
        return self.target > self.current

    @property
    def is_decrease(self) -> bool:
        return self.target < self.current

    def refused(self, why: str, *, keep_limits: bool = False) -> DimensionDecision:
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
        if target == self.current:
            return replace(self, target=target, counter=self.counter_if_refused,
                           reason=f"{self.reason}; not done: {why}")
        limit = "max" if target < self.current else "min"
        name = self.dimension.name
        return replace(
            self,
            target=target,
            counter=0,  # the move to the limit is a change carried out (D5)
            reason=f"{self.reason}; not done: {why}; {limit}-provisioned-{name} still applies, "
                   f"scaling {'down' if target < self.current else 'up'} from {self.current} "
                   f"to {target}",
        )


@dataclass(frozen=True)
class AlarmLine:
    dimension: Dimension
    consumed_percent: float
    threshold: float


@dataclass(frozen=True)
class Alarm:
    kind: str  # "high-throughput-alarm" or "low-throughput-alarm"
    lines: tuple[AlarmLine, ...]


@dataclass(frozen=True)
class Decision:
    reads: DimensionDecision
    writes: DimensionDecision
    alarm: Alarm | None = None
    budget_exhausted: bool = False

    def dimension(self, dimension: Dimension) -> DimensionDecision:
        return getattr(self, dimension.name)

    @property
    def changed(self) -> bool:
        return any(self.dimension(d).target != self.dimension(d).current for d in DIMENSIONS)

    @property
    def has_decrease(self) -> bool:
        return self.reads.is_decrease or self.writes.is_decrease

    @property
    def counters(self) -> Counters:
        return Counters(self.reads.counter, self.writes.counter)

    def without_decreases(self, why: str) -> Decision:
        """Increases only: what is sent again after LimitExceededException (D14)."""
        return replace(
            self,
            **{
                d.name: self.dimension(d).refused(why) if self.dimension(d).is_decrease
                else self.dimension(d)
                for d in DIMENSIONS
            },
        )


def _lower_bound(options: Any) -> int:
    return options.min_provisioned or 1


def _upscale(
    dim: Dimension, options: Any, seen: DimensionObservation
) -> tuple[int, str]:
    """Largest of the up-scale candidates (behaviour file §5.2 step 3), in 2.5.1's order."""
    current, consumed = seen.provisioned, seen.consumed_percent
    maximum = options.max_provisioned
    consumed_unit = options.increase_consumed_unit or options.increase_unit
    consumed_with = options.increase_consumed_with or options.increase_with
    candidates: list[tuple[int, str]] = []

    for metric, value, scale_field, unit_field in (
        ("provisioned", seen.throttled_by_provisioned_percent,
         "increase_throttled_by_provisioned_scale", "increase_throttled_by_provisioned_unit"),
        ("consumed", seen.throttled_by_consumed_percent,
         "increase_throttled_by_consumed_scale", "increase_throttled_by_consumed_unit"),
    ):
        amount = calc.scale_up_lookup(getattr(options, scale_field), value)
        if amount:
            unit = getattr(options, unit_field) or options.increase_unit
            candidates.append((
                calc.increase(unit, current, amount, maximum, consumed),
                f"throttled events at {value:.2f}% of {metric} units match "
                f"increase-throttled-by-{metric}-{dim.name}-scale",
            ))

    scale_amount = calc.scale_up_lookup(options.increase_consumed_scale, consumed)
    if scale_amount:
        candidates.append((
            calc.increase(consumed_unit, current, scale_amount, maximum, consumed),
            f"{consumed:.2f}% consumed matches increase-consumed-{dim.name}-scale",
        ))
    elif (
        not options.increase_consumed_scale
        and options.upper_threshold
        and consumed > options.upper_threshold
    ):
        candidates.append((
            calc.increase(consumed_unit, current, consumed_with, maximum, consumed),
            f"{consumed:.2f}% consumed > {options.upper_threshold:g}% upper threshold",
        ))

    threshold = options.throttled_upper_threshold
    if threshold and seen.throttle_events > threshold:
        # 2.5.1's table-reads rule, now used everywhere (D7): percent steps use the consumed amount.
        amount = consumed_with if options.increase_unit == "percent" else options.increase_with
        candidates.append((
            calc.increase(options.increase_unit, current, amount, maximum, consumed),
            f"{seen.throttle_events} throttle events > {threshold} throttled threshold",
        ))

    best, reason = 0, ""
    for value, why in candidates:
        if value > best:
            best, reason = value, why
    return best, reason


def decide_dimension(
    dim: Dimension, options: Any, seen: DimensionObservation, counter: int
) -> DimensionDecision:
    """One dimension's wish, before the resource-level gates (windows, rw-together, budget)."""
    current, consumed = seen.provisioned, seen.consumed_percent
    if not options.enable_autoscaling:
        return DimensionDecision(
            dim, current, current, f"{dim.title}: Autoscaling of {dim.name} has been disabled", 0, 0
        )

    notes: list[str] = []
    if options.num_checks_reset_percent and consumed >= options.num_checks_reset_percent:
        counter = 0
        notes.append(
            f"Resetting the number of consecutive {dim.one} checks. Reason: Consumed percent "
            f"{consumed:.2f} is greater than reset percent: {options.num_checks_reset_percent}"
        )

    target, reason = current, f"{consumed:.2f}% consumed, no change needed"
    counted = counter
    if options.enable_up_scaling:
        best, why = _upscale(dim, options, seen)
        if best > current:
            target, reason, counter = best, why, 0

    if target == current and options.enable_down_scaling:
        lower_unit = options.decrease_consumed_unit or options.decrease_unit
        lower_with = options.decrease_consumed_with or options.decrease_with
        amount = calc.scale_down_lookup(options.decrease_consumed_scale, consumed)
        wanted: int | None = None
        if consumed == 0 and not options.allow_scaling_down_on_0_percent:
            reason = (
                f"Down scaling event detected. No action taken as scaling down {dim.name} is not "
                "done when usage is at 0%"
            )
        elif amount:
            wanted = calc.decrease(lower_unit, current, amount, options.min_provisioned)
            why = f"{consumed:.2f}% consumed matches decrease-consumed-{dim.name}-scale"
        elif (
            not options.decrease_consumed_scale
            and options.lower_threshold
            and consumed < options.lower_threshold
        ):
            wanted = calc.decrease(lower_unit, current, lower_with, options.min_provisioned)
            why = f"{consumed:.2f}% consumed < {options.lower_threshold}% lower threshold"
        if wanted is not None and wanted < current:
            needed = options.num_checks_before_scale_down
            if seen.throttle_events > 0:  # D8: never decrease while throttled
                reason = (f"{why}, but not scaling down: {seen.throttle_events} throttle events "
                          "in the lookback window")
            elif calc.consumed_units(current, consumed) > wanted:  # D4
                counter += 1
                counted = counter
                reason = (f"{why}, but consumed is over proposed {dim.one} units ({wanted}). "
                          f"Will leave at current setting (check {counter}/{needed})")
            else:
                counter += 1
                counted = counter
                if counter >= needed:
                    target, reason = wanted, f"{why} (check {counter}/{needed})"
                else:
                    reason = f"{why}, check {counter}/{needed} before scaling down"

    # D3: min and max are hard limits, applied last. Increases are already capped at max, so
    # a target above max means the capacity itself is above max.
    maximum = options.max_provisioned
    minimum = _lower_bound(options)
    if maximum is not None and target > maximum:
        target, reason = maximum, f"{reason}; above max-provisioned-{dim.name} ({maximum})"
    if target < minimum:
        target = minimum
        reason = f"Increasing {dim.name} to meet min-provisioned-{dim.name} limit ({minimum} {dim.name})"

    if target != current:
        direction = "up" if target > current else "down"
        reason = f"{reason}, scaling {direction} from {current} to {target}"
        counter = 0
    bounded = max(minimum, current if maximum is None else min(current, maximum))
    return DimensionDecision(
        dim, current, target, f"{dim.title}: {reason}", counter, counted, tuple(notes), bounded
    )


def _alarm(options: Any, observation: Observation) -> Alarm | None:
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


def _at_minimum(decision: DimensionDecision, options: Any) -> bool:
    """Already at its minimum, and staying there (an increase from the minimum is not)."""
    return not decision.is_increase and decision.target <= _lower_bound(options)


def decide(
    options: Any, observation: Observation, counters: Counters, now: datetime
) -> Decision:
    """Decide one table or GSI: targets, reasons, new counters and any alarm."""
    per_dimension = {
        dim.name: decide_dimension(
            dim, options.dimension(dim), observation.dimension(dim), counters.dimension(dim)
        )
        for dim in DIMENSIONS
    }
    exhausted = False

    def refuse(why: str, *, keep_limits: bool) -> None:
        for name, decision in per_dimension.items():
            if decision.is_decrease:
                per_dimension[name] = decision.refused(why, keep_limits=keep_limits)

    # D6: decrease only together with the other dimension, or when that one is at its minimum.
    # Decided: a dimension that can never be decreased (autoscaling or down-scaling off) does
    # not hold the other back; waiting for it would block that one's decreases for ever.
    if options.always_decrease_rw_together:
        for dim, other in ((READS, WRITES), (WRITES, READS)):
            mine, theirs = per_dimension[dim.name], per_dimension[other.name]
            other_options = options.dimension(other)
            if mine.is_decrease and not (
                theirs.is_decrease
                or _at_minimum(theirs, other_options)
                or not (other_options.enable_autoscaling and other_options.enable_down_scaling)
            ):
                per_dimension[dim.name] = mine.refused(
                    f"waiting for {other.name} to get lower than the threshold before scaling down"
                    " (always-decrease-rw-together)",
                    keep_limits=True,
                )

    if (
        any(d.is_decrease for d in per_dimension.values())
        and options.maintenance_windows
        and not is_inside(parse_windows(options.maintenance_windows), now)
    ):
        refuse("outside the maintenance windows; only increases happen", keep_limits=True)

    if any(d.is_decrease for d in per_dimension.values()):
        rules = BudgetRules(
            max_decreases_per_day=options.max_decreases_per_day,
            reserved_decreases=options.reserved_decreases,
            reserved_after_minute=(
                parse_clock(options.reserved_decreases_after)
                if options.reserved_decreases_after else None
            ),
            decrease_cooldown_minutes=options.decrease_cooldown_minutes,
        )
        verdict = decrease_verdict(observation.ledger, now, rules)
        if not verdict.allowed:
            when = f"{verdict.next_possible:%H:%M} UTC" if verdict.next_possible else "unknown"
            # No keep_limits: a move down to max spends a decrease like any other.
            refuse(f"decrease deferred: {verdict.used}/{verdict.cap} used today, "
                   f"next possible at {when} ({verdict.why})", keep_limits=False)
            exhausted = verdict.exhausted

    if options.increase_cooldown_minutes:
        ends = increase_cooling_down(observation.ledger, now, options.increase_cooldown_minutes)
        for name, decision in per_dimension.items():
            over = observation.dimension(decision.dimension).consumed_percent > 100
            if ends is not None and decision.is_increase and not over:
                per_dimension[name] = decision.refused(
                    f"increase-cooldown-minutes runs until {ends:%H:%M} UTC", keep_limits=True
                )

    return Decision(
        per_dimension["reads"], per_dimension["writes"], _alarm(options, observation), exhausted,
    )
