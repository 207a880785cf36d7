"""DynamoDB's daily decrease quota and the cooldowns, as pure functions of a ledger and a clock.

DynamoDB's rule, per table and separately per GSI (``reference/landscape.md`` §3): up to 4
decreases at any time of a UTC day; after that one more per hour, provided the last decrease
is at least an hour old; at most ``max-decreases-per-day`` (27 by default; the quota is
adjustable). The count starts again at 00:00 UTC.

On top of the quota, three options can hold a decrease back (all off by default):
``decrease-cooldown-minutes`` (no decrease within N minutes of the last increase or
decrease), ``reserved-decreases`` with ``reserved-decreases-after`` (before that UTC time,
never spend a decrease if doing so would leave fewer than N decreases that can be made one
after another at that time), and, for increases, ``increase-cooldown-minutes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

FREE_DECREASES = 4
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


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
    exhausted: bool = False  # no decrease is possible for the rest of this UTC day
    why: str = ""

    @property
    def message(self) -> str:
        """The deferral log line: ``decrease deferred: N/27 used today, next possible at …``."""
        when = f"{self.next_possible:%H:%M} UTC" if self.next_possible else "unknown"
        return f"decrease deferred: {self.used}/{self.cap} used today, next possible at {when}"


def utc_midnight(now: datetime) -> datetime:
    return datetime.combine(now.astimezone(timezone.utc).date(), time(), tzinfo=timezone.utc)


def used_today(ledger: DecreaseLedger, now: datetime) -> int:
    """Decreases counted against today's quota; the count starts again at 00:00 UTC."""
    if ledger.last_decrease is not None and ledger.last_decrease < utc_midnight(now):
        return 0
    return max(0, ledger.decreases_today)


def _spendable_at(used: int, last: datetime | None, at: datetime, cap: int) -> int:
    """How many decreases could be made one after another at time ``at`` (same UTC day)."""
    if used >= cap:
        return 0
    if used < FREE_DECREASES:
        return min(FREE_DECREASES - used, cap - used)
    return 1 if last is None or at - last >= HOUR else 0


def _blocks(
    ledger: DecreaseLedger, used: int, at: datetime, rules: BudgetRules
) -> list[tuple[datetime, str]]:
    """Every rule that forbids a decrease at ``at``, each with the time it stops forbidding."""
    blocks: list[tuple[datetime, str]] = []
    midnight = utc_midnight(at)
    if used >= rules.max_decreases_per_day:
        blocks.append((midnight + DAY, f"the daily quota of {rules.max_decreases_per_day} is used"))
        return blocks
    if rules.decrease_cooldown_minutes:
        cooldown = timedelta(minutes=rules.decrease_cooldown_minutes)
        recent = max((t for t in (ledger.last_decrease, ledger.last_increase) if t), default=None)
        if recent is not None and at - recent < cooldown:
            blocks.append((recent + cooldown,
                           f"decrease-cooldown-minutes is {rules.decrease_cooldown_minutes}"))
    last = ledger.last_decrease if used else None
    if used >= FREE_DECREASES and last is not None and at - last < HOUR:
        blocks.append((last + HOUR, f"after the first {FREE_DECREASES}, one decrease per hour"))
    if rules.reserved_decreases and rules.reserved_after_minute is not None:
        reserve_from = midnight + timedelta(minutes=rules.reserved_after_minute)
        if at < reserve_from and (
            _spendable_at(used + 1, at, reserve_from, rules.max_decreases_per_day)
            < rules.reserved_decreases
        ):
            blocks.append((reserve_from, f"{rules.reserved_decreases} decrease(s) reserved for "
                                         f"after {reserve_from:%H:%M} UTC"))
    return blocks


def decrease_verdict(ledger: DecreaseLedger, now: datetime, rules: BudgetRules) -> Verdict:
    """May a decrease be sent now? If not, why, and when is the next chance?"""
    used = used_today(ledger, now)
    cap = rules.max_decreases_per_day
    blocks = _blocks(ledger, used, now, rules)
    if not blocks:
        return Verdict(True, used, cap)
    # Waiting for one rule can make another one bind (the reserve does), so step forward
    # until nothing forbids a decrease. Past midnight the count starts again.
    tomorrow = utc_midnight(now) + DAY
    at, pending = now, blocks
    for _ in range(16):  # a handful of distinct times can bind; 16 is far more than enough
        if not pending:
            break
        before, at = at, max(until for until, _ in pending)
        if before < tomorrow < at:  # the count starts again at midnight: re-check from there
            at = tomorrow
        pending = _blocks(ledger, used if at < tomorrow else 0, at, rules)
    last = ledger.last_decrease
    exhausted = used >= cap or (
        used >= FREE_DECREASES and last is not None and last + HOUR >= tomorrow
    )
    return Verdict(False, used, cap, at.astimezone(timezone.utc), exhausted=exhausted,
                   why="; ".join(why for _, why in blocks))


def increase_cooling_down(
    ledger: DecreaseLedger, now: datetime, cooldown_minutes: int
) -> datetime | None:
    """End of the increase cooldown, or None when an increase may be sent now."""
    if not cooldown_minutes or ledger.last_increase is None:
        return None
    ends = ledger.last_increase + timedelta(minutes=cooldown_minutes)
    return ends if now < ends else None
