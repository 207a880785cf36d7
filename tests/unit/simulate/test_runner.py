"""Matching trace resources to sections, starting capacities, and the simulator's errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynamic_dynamodb.simulate.runner import (
    Settings,
    SimulationError,
    initial_capacity,
    managed_resources,
    simulate,
)
from dynamic_dynamodb.simulate.trace import ResourceTrace, Trace
from tests.unit.simulate.helpers import START, config

CONF = """
[table: ^orders]
min-provisioned-reads: 20
max-provisioned-writes: 6
[gsi: ^by_day$ table: ^orders]
[table: ^orders_archive$]
"""


def resource(table: str, gsi: str | None = None, reads: float = 7.0, writes: float = 7.0,
             initial: tuple[int | None, int | None] = (None, None)) -> ResourceTrace:
    return ResourceTrace(table, gsi, (reads, 1.0), (writes, 1.0), *initial)


def test_sections_match_as_live_and_starting_capacity_is_demand_over_0_7(tmp_path: Path) -> None:
    trace = Trace(START, 2, (
        resource("orders"),
        resource("orders", "by_day", reads=0.0, writes=1.4),
        resource("orders", "by_customer"),  # no [gsi:] section matches: not managed
        resource("orders_archive", initial=(3, None)),  # ^orders matches first (file order)
        resource("users"),
    ))
    managed = managed_resources(config(tmp_path, CONF), trace)
    assert list(managed.options) == ["orders", "orders:by_day", "orders_archive"]
    assert managed.skipped == ("orders:by_customer", "users")
    initial = initial_capacity(trace, managed)
    # ceil(7 / 0.7) = 10, lifted to min 20 for reads; writes capped at max 6.
    assert initial["orders"] == {"reads": 20, "writes": 6}
    # A GSI section has its own (default) limits: 0 demand still starts at 1; ceil(2) = 2.
    assert initial["orders:by_day"] == {"reads": 1, "writes": 2}
    # initial_read is taken as given; initial_write falls back to the rule.
    assert initial["orders_archive"] == {"reads": 3, "writes": 6}


def test_nothing_to_simulate_is_a_clear_error(tmp_path: Path) -> None:
    trace = Trace(START, 2, (resource("users"),))
    with pytest.raises(SimulationError, match=r"no table or GSI of the trace \(users\)"):
        simulate(config(tmp_path, CONF), trace, Settings())
