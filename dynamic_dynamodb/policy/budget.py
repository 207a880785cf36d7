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

import functools
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from enum import Enum

FREE_DECREASES = 4
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True)
class DecreaseLedger:
    """What is known of a table's or GSI's recent capacity changes."""

    decreases_today: int = 0
    last_decrease: datetime | None = None
    last_increase: datetime | None = None
    # DynamoDB refused a decrease and said when the next one can be made: nothing before.
    blocked_until: datetime | None = None


@dataclass(frozen=True)
class OwnRecord:
    """What this tool itself remembers of a resource's changes (kept in the state)."""

    decreases_today: int = 0
    last_decrease: datetime | None = None
    last_increase: datetime | None = None
    decrease_refused: datetime | None = None  # the last LimitExceeded refusal of a decrease
    next_decrease: datetime | None = None  # "Next decrease can be made at …" of that refusal


def merge_ledger(
    own: OwnRecord,
    now: datetime,
    reported_decreases_today: int | None = None,
    reported_last_decrease: datetime | None = None,
    reported_last_increase: datetime | None = None,
) -> DecreaseLedger:
    """DynamoDB's own figures where it gave them, merged with this tool's record.

    DynamoDB counts every decrease (the console's too); this tool's record covers endpoints
    that omit the fields (moto drops them after any update) and a DescribeTable answer that
    lags behind an update just made. The larger count and the latest times win, so a decrease
    DynamoDB would refuse is never sent.
    """
    # The time of the check matters only through its UTC day and whether DynamoDB's "next
    # decrease at" has passed: the merge itself is cached on those (every check of a table
    # merges the same figures again).
    pending = own.next_decrease is not None and own.next_decrease > now
    return _merged(own, utc_midnight(now), pending, reported_decreases_today,
                   reported_last_decrease, reported_last_increase)


@functools.lru_cache(maxsize=4096)
def _merged(
    own: OwnRecord,
    midnight: datetime,
    pending: bool,
    reported_decreases_today: int | None,
    reported_last_decrease: datetime | None,
    reported_last_increase: datetime | None,
) -> DecreaseLedger:
    reported_today = 0
    if reported_decreases_today is not None and (
        reported_last_decrease is None or reported_last_decrease >= midnight
    ):
        reported_today = int(reported_decreases_today)
    used = max(own.decreases_today, reported_today)
    last = _latest(reported_last_decrease, own.last_decrease)
    refused = own.decrease_refused
    blocked_until = None
    if pending and own.next_decrease is not None:
        # DynamoDB said when (its own clock, D26): wait exactly until then, no guess.
        blocked_until = own.next_decrease.astimezone(timezone.utc)
    elif refused is not None and refused >= midnight and own.next_decrease is None:
        # DynamoDB said no without a time we could read: the free decreases are gone, and
        # the next try waits an hour, instead of failing again every cycle.
        used = max(used, FREE_DECREASES)
        last = _latest(last, refused)
    return DecreaseLedger(
        decreases_today=used,
        last_decrease=last,
        last_increase=_latest(reported_last_increase, own.last_increase),
        blocked_until=blocked_until,
    )


def _latest(first: datetime | None, second: datetime | None) -> datetime | None:
    """The later of two moments (in UTC); None when neither is known."""
    if first is None or second is None:
        known = first if second is None else second
        return None if known is None else known.astimezone(timezone.utc)
    return max(first.astimezone(timezone.utc), second.astimezone(timezone.utc))


class BlockCode(Enum):
    """Why a decrease may not be sent now."""

    DAILY_QUOTA = "daily-quota"  # max-decreases-per-day are used
    HOURLY = "hourly"  # after the first four, one an hour
    DECREASE_COOLDOWN = "decrease-cooldown"  # decrease-cooldown-minutes
    RESERVED = "reserved"  # reserved-decreases before reserved-decreases-after
    REFUSED_BY_AWS = "refused-by-aws"  # DynamoDB's "Next decrease can be made at …"


@dataclass(frozen=True)
class Block:
    code: BlockCode
    until: datetime  # when this rule stops forbidding a decrease
    amount: int = 0  # the quota, the cooldown minutes, or the reserved count


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
    blocks: tuple[Block, ...] = ()  # every rule that forbids a decrease now


@functools.lru_cache(maxsize=256)
def utc_midnight(now: datetime) -> datetime:
    """00:00 UTC of ``now``'s UTC day. Cached: a check asks it for the same ``now`` for
    every table and GSI (datetimes are immutable)."""
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
) -> list[Block]:
    """Every rule that forbids a decrease at ``at``, each with the time it stops forbidding."""
    blocks: list[Block] = []
    midnight = utc_midnight(at)
    if used >= rules.max_decreases_per_day:
        blocks.append(Block(BlockCode.DAILY_QUOTA, midnight + DAY, rules.max_decreases_per_day))
        return blocks
    if ledger.blocked_until is not None and at < ledger.blocked_until:
        blocks.append(Block(BlockCode.REFUSED_BY_AWS, ledger.blocked_until))
    if rules.decrease_cooldown_minutes:
        cooldown = timedelta(minutes=rules.decrease_cooldown_minutes)
        recent = max((t for t in (ledger.last_decrease, ledger.last_increase) if t), default=None)
        if recent is not None and at - recent < cooldown:
            blocks.append(Block(BlockCode.DECREASE_COOLDOWN, recent + cooldown,
                                rules.decrease_cooldown_minutes))
    last = ledger.last_decrease if used else None
    if used >= FREE_DECREASES and last is not None and at - last < HOUR:
        blocks.append(Block(BlockCode.HOURLY, last + HOUR, FREE_DECREASES))
    if rules.reserved_decreases and rules.reserved_after_minute is not None:
        reserve_from = midnight + timedelta(minutes=rules.reserved_after_minute)
        if at < reserve_from and (
            _spendable_at(used + 1, at, reserve_from, rules.max_decreases_per_day)
            < rules.reserved_decreases
        ):
            blocks.append(Block(BlockCode.RESERVED, reserve_from, rules.reserved_decreases))
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
        before, at = at, max(block.until for block in pending)
        if before < tomorrow < at:  # the count starts again at midnight: re-check from there
            at = tomorrow
        pending = _blocks(ledger, used if at < tomorrow else 0, at, rules)
    last = ledger.last_decrease
    exhausted = used >= cap or (
        used >= FREE_DECREASES and last is not None and last + HOUR >= tomorrow
    ) or (ledger.blocked_until is not None and ledger.blocked_until >= tomorrow)
    return Verdict(False, used, cap, at.astimezone(timezone.utc), exhausted=exhausted,
                   blocks=tuple(blocks))


def increase_cooling_down(
    ledger: DecreaseLedger, now: datetime, cooldown_minutes: int
) -> datetime | None:
    """End of the increase cooldown, or None when an increase may be sent now."""
    if not cooldown_minutes or ledger.last_increase is None:
        return None
    ends = ledger.last_increase + timedelta(minutes=cooldown_minutes)
    return ends if now < ends else None
