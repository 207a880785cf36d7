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

Counters outlive the process (the state file), so ``--run-once`` from cron counts across runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from dynamic_dynamodb.dimensions import READS, Dimension


@dataclass(frozen=True)
class Counters:
    """Down-scale counters of one table or GSI."""

    reads: int = 0
    writes: int = 0

    def dimension(self, dimension: Dimension) -> int:
        return self.reads if dimension is READS else self.writes


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
