"""The decrease planner: spend DynamoDB's scarce decreases where they save most.

DynamoDB allows 4 decreases at any time of a UTC day, then one an hour, 27 a day, per table
and per GSI (``policy/budget.py``). A decrease spent on a small drop can be missing when the
big one comes, so each allowed decrease is weighed before it is made (``decrease-planner-
percent`` = p):

* **hold**: how long this decrease uses up the quota, in minutes: until the next decrease would
  be possible after it (an hour once the free ones are used; midnight for the last one), and at
  least the rest of the UTC day shared among the decreases left, so the early free decreases
  are priced as the scarce thing they are;
* **price** = p % of the current capacity × hold: what a decrease must be worth, never more
  than half the capacity for an hour (a drop by half or more is always worth its decrease);
* **worth** = the units it frees × (60 + the minutes the demand has already stayed low): an
  hour of saving, plus the saving already lost by waiting (the ski-rental rule: a small drop
  that lasts is taken in the end, a big one at once).

The decrease is made when its worth reaches its price; otherwise it waits, until the moment
its worth would reach the price if the demand stays where it is. Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from dynamic_dynamodb.policy.budget import (
    DAY,
    BudgetRules,
    DecreaseLedger,
    decrease_verdict,
    used_today,
    utc_midnight,
)

HOUR_MINUTES = 60
MAX_PRICE = 0.5  # a decrease never has to free more than half the capacity for an hour


@dataclass(frozen=True)
class Plan:
    """The planner's weighing of one dimension's decrease."""

    current: int
    target: int
    hold_minutes: float  # how long this decrease uses up the quota
    waited_minutes: float  # how long the demand has already stayed low
    percent: float  # decrease-planner-percent

    @property
    def freed(self) -> int:
        return self.current - self.target

    @property
    def worth(self) -> float:
        """Unit-minutes: the units freed for an hour, plus what waiting already cost."""
        return self.freed * (HOUR_MINUTES + self.waited_minutes)

    @property
    def price(self) -> float:
        """Unit-minutes: p % of the capacity for as long as the decrease holds the quota."""
        return self.current * min(self.percent / 100 * self.hold_minutes,
                                  MAX_PRICE * HOUR_MINUTES)

    @property
    def worth_taking(self) -> bool:
        return self.freed > 0 and self.worth >= self.price

    @property
    def wait_minutes(self) -> float:
        """Minutes until the worth reaches the price, if the demand stays where it is."""
        if self.worth_taking or self.freed <= 0:
            return 0.0
        return (self.price - self.worth) / self.freed

    @property
    def smallest_worth_taking(self) -> int:
        """The smallest drop that would be taken now."""
        return math.ceil(self.price / (HOUR_MINUTES + self.waited_minutes))


def hold_minutes(ledger: DecreaseLedger, now: datetime, rules: BudgetRules) -> float:
    """How long a decrease made now uses up the quota (see the module's docstring)."""
    used = used_today(ledger, now)
    after = replace(ledger, decreases_today=used + 1, last_decrease=now, blocked_until=None)
    verdict = decrease_verdict(after, now, rules)
    lockout = 0.0
    if not verdict.allowed and verdict.next_possible is not None:
        lockout = (verdict.next_possible - now).total_seconds() / 60
    rest_of_day = (utc_midnight(now) + DAY - now).total_seconds() / 60
    left = max(0, rules.max_decreases_per_day - used - 1)  # decreases left after this one
    share = rest_of_day / (left + 1)
    return max(lockout, share, 1.0)


def weigh(current: int, target: int, ledger: DecreaseLedger, now: datetime,
          rules: BudgetRules, percent: float, low_since: datetime | None) -> Plan:
    """The planner's view of a decrease from ``current`` to ``target`` now."""
    waited = 0.0 if low_since is None else max(0.0, (now - low_since).total_seconds() / 60)
    return Plan(current, target, hold_minutes(ledger, now, rules), waited, percent)


def deferred_until(plans: list[Plan], now: datetime) -> datetime:
    """When the first of these deferred decreases becomes worth taking (demand unchanged)."""
    wait = min(plan.wait_minutes for plan in plans)
    return now + timedelta(minutes=math.ceil(wait))
