"""The down-scale counters (D5): checks in a row that wanted a decrease.

A decrease happens only once ``num-*-checks-before-scale-down`` checks in a row wanted one.
The rules, all here:

* +1 on each check that wants a decrease (``counted``);
* reset when consumed % reaches ``num-*-checks-reset-percent`` (``reset_by_consumption``);
* reset when capacity changes: an increase, or a decrease carried out (or that would be, in a
  dry run) (``after_change``);
* reset when the circuit breaker is open (``after_breaker_open``);
* **kept** when a decrease is refused (maintenance window, rw-together, decrease quota, API
  error): the decision carries the count to keep in that case (``counter_if_refused``).

Target mode (``target-*-utilisation``) counts time, not checks: ``LowDemand`` remembers since
when the demand has needed less capacity than the dimension has, and the most capacity it
needed meanwhile, so a scale-in goes straight to a size that held for the whole stretch. It
follows the same rules: reset by a change carried out, kept when a decrease is refused.

Counters outlive the process (the state file), so ``--run-once`` from cron counts across runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dynamic_dynamodb.dimensions import READS, Dimension


@dataclass(frozen=True)
class LowDemand:
    """Target mode: a stretch of checks whose demand needed less than the capacity.

    The most capacity the demand needed is kept in two buckets of the scale-down time each:
    the current one (from ``bucket_since``) and the one before, so the size a scale-in goes
    to covers at least the last scale-down time, never stays stuck on the level the stretch
    began at, and needs four whole numbers of state. A scale-down time of 0 minutes covers
    this check alone: the stretch keeps only since when it lasts, and a scale-in (also one
    refused before) goes to what this check needs.
    """

    since: datetime  # the first check of the stretch
    peak: int  # the most capacity the target needed in the current bucket
    bucket_since: datetime | None = None  # start of the current bucket (None: ``since``)
    previous_peak: int = 0  # the most it needed in the bucket before (0: none yet)

    @property
    def needed(self) -> int:
        """The most capacity the demand needed over the last one to two buckets."""
        return max(self.peak, self.previous_peak)

@dataclass(frozen=True)
class Counters:
    """Down-scale counters of one table or GSI."""

    reads: int = 0
    writes: int = 0
    reads_low: LowDemand | None = None
    writes_low: LowDemand | None = None

    def dimension(self, dimension: Dimension) -> int:
        return self.reads if dimension is READS else self.writes

    def low(self, dimension: Dimension) -> LowDemand | None:
        return self.reads_low if dimension is READS else self.writes_low


def low_demand(low: LowDemand | None, now: datetime, needed: int,
               bucket_minutes: float = 0.0) -> LowDemand:
    """The stretch of low demand once this check, which needed ``needed`` units, is counted
    (``bucket_minutes``: the scale-down time)."""
    if low is None:
        return LowDemand(now, needed, now)
    if bucket_minutes <= 0:
        # No time to cover but this check's: what the checks before needed is forgotten.
        return LowDemand(low.since, needed, now)
    bucket_since = low.bucket_since or low.since
    if (now - bucket_since).total_seconds() >= bucket_minutes * 60:
        return LowDemand(low.since, needed, now, low.peak)
    return LowDemand(low.since, max(low.peak, needed), bucket_since, low.previous_peak)


def reset_by_consumption(counter: int, consumed_percent: float, reset_percent: int) -> int:
    """0 when consumption reached num-*-checks-reset-percent (0 = off), else unchanged."""
    return 0 if reset_percent and consumed_percent >= reset_percent else counter


def counted(counter: int) -> int:
    """One more check that wanted a decrease."""
    return counter + 1


def after_change() -> int:
    """Capacity changed (up, or down carried out): counting starts again."""
    return 0


def after_breaker_open() -> Counters:
    """The circuit breaker is open: the resource was not checked, counting starts again."""
    return Counters()
