"""On-demand or provisioned? Advice per table and GSI from a backtest's replays.

The billing mode is per table, so each table is decided once, with its GSIs: costs are
summed over the table and its GSIs, and a policy's throttling is the worst of theirs. The
on-demand side is their demand at the on-demand request prices. Provisioned is advised iff
some provisioned policy of the run kept throttling within ``ACCEPTABLE_THROTTLED_FRACTION``
at a cost (capacity + its CloudWatch share) no higher than on-demand's; the cheapest such is
the one quoted. Otherwise on-demand, because

* it is cheaper than every provisioned policy that throttles acceptably, or
* every provisioned policy that costs less throttled more: the bursts are shorter than any
  reaction, and the only provisioned way not to throttle (the peak all the time) costs more.

A table (and its GSIs) without any demand in the trace is advised on-demand: it costs $0.
Each GSI keeps its own entry, with its own share of the figures and its table's
recommendation.

The oracle is not a policy anyone can run, so it never counts as a provisioned option.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from dynamic_dynamodb.simulate.model import DIMENSION_NAMES, CapacityModel, ResourceModel
from dynamic_dynamodb.simulate.report import (
    MONTH_MINUTES,
    THROTTLE_EPSILON,
    Prices,
    summarise_resource,
)

ON_DEMAND, PROVISIONED = "on-demand", "provisioned"
NOT_PROVISIONED = ("on-demand", "oracle")  # every other policy of a run is a provisioned one
# Throttling a provisioned table may keep and still count as "not throttling": 1 % of the
# demand, which SDK retries mostly absorb.
ACCEPTABLE_THROTTLED_FRACTION = 0.01


@dataclass(frozen=True)
class Advice:
    table: str
    gsi: str | None
    recommendation: str  # "on-demand" | "provisioned"
    provisioned_cost_usd: float  # over the trace, capacity + CloudWatch
    on_demand_cost_usd: float  # over the trace
    throttled_fraction: float  # of the provisioned policy quoted, for this resource
    reason: str
    provisioned_policy: str  # which policy of the run the provisioned figures are
    provisioned_cost_usd_month: float  # the same per 30-day month
    on_demand_cost_usd_month: float

    @property
    def key(self) -> str:
        return self.table if self.gsi is None else f"{self.table}:{self.gsi}"


def on_demand_cost(resource: ResourceModel, prices: Prices) -> float:
    """Every unit of the resource's demand at the on-demand request prices (USD)."""
    return sum(sum(resource.demand[dim]) * 60.0 * prices.per_unit(dim)
               for dim in DIMENSION_NAMES)


def throttle_spells(resource: ResourceModel) -> list[int]:
    """The lengths in minutes of the runs of consecutive throttled minutes (any dimension)."""
    throttled = [any(resource.throttled[dim][minute] > THROTTLE_EPSILON
                     for dim in DIMENSION_NAMES)
                 for minute in range(len(resource.throttled[DIMENSION_NAMES[0]]))]
    return [sum(1 for _ in run) for hit, run in itertools.groupby(throttled) if hit]


BURST_FACTOR = 2.0  # a burst: demand above twice the resource's median demand
BURST_FLOOR = 1.0  # CU/s; and above this, so that noise on an idle table is no burst
# Bursts up to this long can be over before a policy's reaction (a check, the metric delay,
# then the update delay, or the new-peak delay) takes effect.
SHORT_BURST_MINUTES = 10


def demand_bursts(resource: ResourceModel) -> list[int]:
    """The lengths in minutes of the runs of consecutive minutes in which some dimension's
    demand is above ``BURST_FACTOR`` times its median (and above ``BURST_FLOOR``)."""
    levels = {dim: max(BURST_FLOOR, BURST_FACTOR * statistics.median(resource.demand[dim]))
              for dim in DIMENSION_NAMES if resource.demand[dim]}
    high = [any(resource.demand[dim][minute] > level for dim, level in levels.items())
            for minute in range(len(resource.demand[DIMENSION_NAMES[0]]))]
    return [sum(1 for _ in run) for busy, run in itertools.groupby(high) if busy]


def advise(models: Mapping[str, CapacityModel], prices: Prices, *,
           acceptable_throttled: float = ACCEPTABLE_THROTTLED_FRACTION) -> list[Advice]:
    """One ``Advice`` per table and GSI of the run, in the replay's order.

    The billing mode is per table, so the decision is made once per table, from the summed
    costs of the table and its GSIs; a GSI's entry carries its table's recommendation."""
    provisioned = {name: model for name, model in models.items()
                   if name not in NOT_PROVISIONED}
    if not provisioned:
        return []
    first = next(iter(provisioned.values()))
    month = MONTH_MINUTES / first.minutes if first.minutes > 0 else 0.0
    groups: dict[str, list[ResourceModel]] = {}
    for resource in first.resources.values():
        groups.setdefault(resource.table, []).append(resource)
    decided = {table: _decide(members, provisioned, prices, month, acceptable_throttled)
               for table, members in groups.items()}
    result = []
    for key, resource in first.resources.items():
        decision = decided[resource.table]
        own = summarise_resource(decision.policy, provisioned[decision.policy], key, prices)
        reason = decision.reason
        if resource.gsi is not None:
            reason = "follows its table: billing mode is per table" + (
                "" if resource.table in first.resources else f"; {decision.reason}")
        demand_cost = on_demand_cost(resource, prices)
        result.append(Advice(
            table=resource.table, gsi=resource.gsi, recommendation=decision.recommendation,
            provisioned_cost_usd=round(own.total_cost_usd, 6),
            on_demand_cost_usd=round(demand_cost, 6),
            throttled_fraction=own.throttled_fraction, reason=reason,
            provisioned_policy=decision.policy,
            provisioned_cost_usd_month=round(own.total_cost_usd * month, 2),
            on_demand_cost_usd_month=round(demand_cost * month, 2)))
    return result


@dataclass(frozen=True)
class _Option:
    """One provisioned policy for a table and its GSIs together."""
    cost: float  # summed, capacity + CloudWatch share
    throttled: float  # the worst throttled fraction of the table and its GSIs
    worst: str  # the key of the resource that throttled that much


@dataclass(frozen=True)
class _Decision:
    recommendation: str
    policy: str  # the provisioned policy quoted
    reason: str


def _options(members: list[ResourceModel], models: Mapping[str, CapacityModel],
             prices: Prices) -> dict[str, _Option]:
    options = {}
    for name, model in models.items():
        parts = {member.key: summarise_resource(name, model, member.key, prices)
                 for member in members}
        worst = max(parts, key=lambda key: parts[key].throttled_fraction)
        options[name] = _Option(sum(part.total_cost_usd for part in parts.values()),
                                parts[worst].throttled_fraction, worst)
    return options


def _decide(members: list[ResourceModel], models: Mapping[str, CapacityModel], prices: Prices,
            month: float, acceptable: float) -> _Decision:
    """Provisioned iff some provisioned policy throttled no more than ``acceptable`` (in the
    table and in each of its GSIs) at a cost no higher than on-demand's: the cheapest such.
    Otherwise on-demand: it is cheaper, or every cheaper policy throttled too much."""
    options = _options(members, models, prices)
    demand_cost = sum(on_demand_cost(member, prices) for member in members)
    gsis = sum(1 for member in members if member.gsi is not None)
    whole = f"the table and its {gsis} GSI(s): " if gsis else ""
    if all(sum(member.demand[dim]) <= 0 for member in members for dim in DIMENSION_NAMES):
        days = models[next(iter(models))].minutes / 1440
        cheapest = min(options, key=lambda name: options[name].cost)
        return _Decision(ON_DEMAND, cheapest, f"{whole}no traffic in {days:g} day{'' if days == 1 else 's'}")
    cheaper = [name for name, option in options.items() if option.cost <= demand_cost]
    fine = sorted((name for name in cheaper if options[name].throttled <= acceptable),
                  key=lambda name: (options[name].cost, options[name].throttled))
    if fine:
        option = options[fine[0]]
        return _Decision(PROVISIONED, fine[0], (
            f"{whole}{fine[0]} costs ${option.cost * month:.2f}/month (throttled "
            f"{option.throttled * 100:.2f} %) vs ${demand_cost * month:.2f} on-demand"))
    if cheaper:
        leader = min(cheaper, key=lambda name: (options[name].throttled, options[name].cost))
        option = options[leader]
        worst = next(member for member in members if member.key == option.worst)
        return _Decision(ON_DEMAND, leader, (
            f"{whole}on-demand costs ${demand_cost * month:.2f}/month vs "
            f"${option.cost * month:.2f} with {leader}, but every provisioned policy that "
            f"costs less than on-demand throttled >= {option.throttled * 100:.2f} %"
            f"{_how(worst, leader, models[leader].resources[worst.key])}"))
    quoted = min(options, key=lambda name: (options[name].throttled > acceptable,
                                            options[name].cost))
    option = options[quoted]
    return _Decision(ON_DEMAND, quoted, (
        f"{whole}on-demand costs ${demand_cost * month:.2f}/month vs "
        f"${option.cost * month:.2f} with {quoted} (throttled "
        f"{option.throttled * 100:.2f} %)"))


def _how(resource: ResourceModel, leader: str, replayed: ResourceModel) -> str:
    """How the least throttling policy (``leader``) throttled: through whole short bursts,
    or in the first minutes of longer ones."""
    spells, bursts = throttle_spells(replayed), demand_bursts(resource)
    if not spells:
        return ""
    spell, burst = statistics.median(spells), statistics.median(bursts) if bursts else 0
    if bursts and spell >= 0.8 * burst and burst <= SHORT_BURST_MINUTES:
        return (f": its {len(bursts)} bursts of {burst:g} min (median) are shorter than any "
                "reaction")
    if bursts and spell >= 0.8 * burst:
        return (f" ({leader}: throughout {len(bursts)} bursts of {burst:g} min (median), "
                "longer than a reaction takes: a max-provisioned below the peak?)")
    return (f" ({leader}: in {len(spells)} spells of {spell:g} min (median)"
            + (f" as {len(bursts)} bursts of {burst:g} min began)" if bursts else ")"))


def advice_json(advice: list[Advice]) -> list[dict[str, Any]]:
    """report.json's ``advice`` list."""
    return [asdict(item) for item in advice]


def advice_lines(advice: list[Advice]) -> list[str]:
    """The terminal table: one line per table or GSI."""
    if not advice:
        return []
    width = max(20, *(len(item.key) for item in advice))
    header = (f"{'table or GSI':<{width}} {'advice':<11} {'provisioned $/mo':>16} "
              f"{'on-demand $/mo':>14} {'throttled %':>11}  reason")
    lines = ["On-demand or provisioned (costs per 30-day month, CloudWatch included):", header,
             "-" * len(header)]
    for item in advice:
        lines.append(f"{item.key:<{width}} {item.recommendation:<11} "
                     f"{item.provisioned_cost_usd_month:>16.2f} "
                     f"{item.on_demand_cost_usd_month:>14.2f} "
                     f"{item.throttled_fraction * 100:>10.3f}%  {item.reason}")
    return lines
