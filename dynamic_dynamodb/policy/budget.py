"""DynamoDB's daily decrease quota and the cooldowns, as pure functions of a ledger and a clock.

DynamoDB's rule, per table and separately per GSI: up to 4 decreases at any time of a UTC
day; after that one more per hour, provided the last decrease is at least an hour old; at
most ``max-decreases-per-day`` (27 by default; the quota is adjustable).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

FREE_DECREASES = 4
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class DecreaseLedger:
    """What is known of a table's or GSI's recent capacity changes."""

    decreases_today: int = 0
    last_decrease: datetime | None = None
    last_increase: datetime | None = None


@dataclass(frozen=True)
class BudgetRules:
    max_decreases_per_day: int = 27
    reserved_decreases: int = 0
    reserved_after_minute: int | None = None  # minutes after UTC midnight
    decrease_cooldown_minutes: int = 0


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    used: int
    cap: int
    next_possible: datetime | None = None
    exhausted: bool = False  # nothing left for the rest of this UTC day
    why: str = ""


def utc_midnight(now: datetime) -> datetime:
    return datetime.combine(now.astimezone(timezone.utc).date(), time(), tzinfo=timezone.utc)


def used_today(ledger: DecreaseLedger, now: datetime) -> int:
    """Decreases counted against today's quota; the count resets at 00:00 UTC."""
    if ledger.last_decrease is not None and ledger.last_decrease < utc_midnight(now):
        return 0
    return ledger.decreases_today


def _quota_allows(used: int, last: datetime | None, at: datetime, cap: int) -> bool:
    if used >= cap:
        return False
    return used < FREE_DECREASES or last is None or at - last >= HOUR


def _spendable_at(used: int, last: datetime | None, at: datetime, cap: int) -> int:
    """How many decreases could be made one after another at time ``at``."""
    if used >= cap:
        return 0
    if used < FREE_DECREASES:
        return min(FREE_DECREASES - used, cap - used)
    return 1 if last is None or at - last >= HOUR else 0


def decrease_verdict(ledger: DecreaseLedger, now: datetime, rules: BudgetRules) -> Verdict:
    """May a decrease be sent now? Also says when one next could be."""
    used = used_today(ledger, now)
    cap = rules.max_decreases_per_day
    midnight = utc_midnight(now)
    tomorrow = midnight + timedelta(days=1)
    last = ledger.last_decrease if used else None

    if rules.decrease_cooldown_minutes:
        cooldown = timedelta(minutes=rules.decrease_cooldown_minutes)
        recent = max((t for t in (ledger.last_decrease, ledger.last_increase) if t), default=None)
        if recent is not None and now - recent < cooldown:
            return Verdict(False, used, cap, recent + cooldown,
                           why=f"decrease cooldown of {rules.decrease_cooldown_minutes} min")

    if used >= cap:
        return Verdict(False, used, cap, tomorrow, exhausted=True, why="daily decrease quota used")
    if not _quota_allows(used, last, now, cap):
        assert last is not None
        return Verdict(False, used, cap, last + HOUR, why="one decrease per hour after the first 4")

    if rules.reserved_decreases and rules.reserved_after_minute is not None:
        reserve_from = midnight + timedelta(minutes=rules.reserved_after_minute)
        if now < reserve_from:
            spendable = _spendable_at(used + 1, now, reserve_from, cap)
            if spendable < rules.reserved_decreases:
                only_reserve_left = used + rules.reserved_decreases >= cap
                return Verdict(False, used, cap, reserve_from, exhausted=only_reserve_left,
                               why=f"{rules.reserved_decreases} decrease(s) reserved for after "
                                   f"{reserve_from:%H:%M} UTC")
    return Verdict(True, used, cap)


def increase_cooling_down(
    ledger: DecreaseLedger, now: datetime, cooldown_minutes: int
) -> datetime | None:
    """End of the increase cooldown, or None when an increase may be sent now."""
    if not cooldown_minutes or ledger.last_increase is None:
        return None
    ends = ledger.last_increase + timedelta(minutes=cooldown_minutes)
    return ends if now < ends else None
