"""On-demand or provisioned? Advice per table and GSI from a backtest's replays.

For each resource the backtest replayed, the provisioned side is the best provisioned policy
of the run for that resource: the cheapest (capacity + its CloudWatch share) of those that
throttled no more than aws-target-tracking did there, or the least throttling one when
target tracking is not in the run. The on-demand side is the resource's demand at the
on-demand request prices. On-demand is advised when

* it is cheaper, or
* no provisioned policy of the run kept throttling within ``ACCEPTABLE_THROTTLED_FRACTION``
  at a cost no higher than on-demand's: the bursts are shorter than any reaction, and the
  only provisioned way not to throttle (the peak all the time) costs more than on-demand.

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
    PolicySummary,
    Prices,
    summarise_resource,
)

ON_DEMAND, PROVISIONED = "on-demand", "provisioned"
NOT_PROVISIONED = ("on-demand", "oracle")  # every other policy of a run is a provisioned one
REFERENCE_POLICY = "aws-target-tracking"
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
    """One ``Advice`` per table and GSI of the run, in the replay's order."""
    provisioned = {name: model for name, model in models.items()
                   if name not in NOT_PROVISIONED}
    if not provisioned:
        return []
    first = next(iter(provisioned.values()))
    month = MONTH_MINUTES / first.minutes if first.minutes > 0 else 0.0
    result = []
    for key, resource in first.resources.items():
        figures = {name: summarise_resource(name, model, key, prices)
                   for name, model in provisioned.items()}
        result.append(_advice(resource, figures, provisioned, on_demand_cost(resource, prices),
                              month, acceptable_throttled))
    return result


def _best(figures: dict[str, PolicySummary]) -> str:
    reference = figures.get(REFERENCE_POLICY)
    if reference is None:
        return min(figures, key=lambda name: (figures[name].throttled_fraction,
                                              figures[name].total_cost_usd))
    eligible = [name for name, summary in figures.items()
                if summary.throttled_fraction <= reference.throttled_fraction + 1e-12]
    return min(eligible, key=lambda name: (figures[name].total_cost_usd,
                                           figures[name].throttled_fraction))


def _advice(resource: ResourceModel, figures: dict[str, PolicySummary],
            models: Mapping[str, CapacityModel], on_demand: float, month: float,
            acceptable: float) -> Advice:
    best = _best(figures)
    safe = sorted((name for name, summary in figures.items()
                   if summary.throttled_fraction <= acceptable
                   and summary.total_cost_usd <= on_demand),
                  key=lambda name: figures[name].total_cost_usd)
    quoted = best
    recommendation = (PROVISIONED if on_demand >= figures[best].total_cost_usd and safe
                      else ON_DEMAND)
    summary = figures[quoted]
    cost, demand_cost = summary.total_cost_usd, on_demand
    throttling = f"throttled {summary.throttled_fraction * 100:.2f} %"
    if recommendation == PROVISIONED:
        reason = (f"{quoted} costs ${cost * month:.2f}/month ({throttling}) vs "
                  f"${demand_cost * month:.2f} on-demand")
        if summary.throttled_fraction > acceptable:  # then a policy in ``safe`` does not
            reason += (f"; {safe[0]} throttles {figures[safe[0]].throttled_fraction * 100:.2f} "
                       f"% for ${figures[safe[0]].total_cost_usd * month:.2f}")
    elif demand_cost < cost:
        reason = (f"on-demand costs ${demand_cost * month:.2f}/month vs ${cost * month:.2f} "
                  f"with {quoted} ({throttling})")
    else:
        cheaper = [name for name, item in figures.items() if item.total_cost_usd <= demand_cost]
        leader = min(cheaper or figures, key=lambda name: figures[name].throttled_fraction)
        reason = (f"on-demand costs ${demand_cost * month:.2f}/month vs ${cost * month:.2f} "
                  f"with {quoted}, but every provisioned policy that costs less than "
                  f"on-demand throttled >= {figures[leader].throttled_fraction * 100:.2f} %"
                  f"{_how(resource, leader, models[leader].resources[resource.key])}")
    return Advice(
        table=resource.table, gsi=resource.gsi, recommendation=recommendation,
        provisioned_cost_usd=round(cost, 6), on_demand_cost_usd=round(demand_cost, 6),
        throttled_fraction=summary.throttled_fraction, reason=reason,
        provisioned_policy=quoted,
        provisioned_cost_usd_month=round(cost * month, 2),
        on_demand_cost_usd_month=round(demand_cost * month, 2))


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
