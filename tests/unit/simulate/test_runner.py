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


def test_a_window_cloudwatch_has_not_published_is_flagged(tmp_path: Path) -> None:
    from dynamic_dynamodb.simulate.runner import window_warnings

    conf = ("[default_options]\nlookback-window-start: 2\nlookback-period: 1\n"
            "[table: ^fresh$]\n[table: ^slow$]\nlookback-window-start: 3\nlookback-period: 3\n")
    trace = Trace(START, 2, (resource("fresh"), resource("slow")))
    managed = managed_resources(config(tmp_path, conf), trace)
    # 1-minute delay: [now-2, now-1) is published; [now-3, now) lacks its newest minute.
    assert window_warnings(managed, Settings(metric_delay=60)) == [
        "slow: lookback-window-start 3 with lookback-period 3 and a 1-minute metric delay: the "
        "newest 1 of 3 minute(s) of every window are not published at check time, so "
        "consumption reads low"]
    # 2-minute delay: the one-minute window is never there at all.
    blind = window_warnings(managed, Settings(metric_delay=120))
    assert blind[0].startswith("fresh: lookback-window-start 2")
    assert blind[0].endswith("(always 0 %: nothing will ever scale)")
