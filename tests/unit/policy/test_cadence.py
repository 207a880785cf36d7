"""quiet-check-interval: when a table or GSI may go unchecked, and for how long (cadence.py)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from dynamic_dynamodb.policy.budget import DecreaseLedger
from dynamic_dynamodb.policy.cadence import (
    GROWTH_PER_MINUTE,
    headroom_seconds,
    quiet_until,
    scale_up_level,
    throttles_possible,
)
from dynamic_dynamodb.policy.counters import Counters
from dynamic_dynamodb.policy.decide import decide
from dynamic_dynamodb.policy.observation import Observation, observe_dimension
from tests.unit.policy.typed_options import resource_options

NOW = datetime(2024, 1, 3, 12, 0, tzinfo=timezone.utc)
THRESHOLDS = {"reads-upper-threshold": 80, "reads-lower-threshold": 5,
              "writes-upper-threshold": 80, "writes-lower-threshold": 5,
              "increase-reads-with": 50, "increase-writes-with": 50,
              "decrease-reads-with": 30, "decrease-writes-with": 30,
              "quiet-check-interval": 600}


def observation(reads: float, writes: float = 40.0, *, provisioned: int = 100,
                throttles: float | None = None, ledger: DecreaseLedger | None = None,
                complete: bool = True) -> Observation:
    """Consumption as % of ``provisioned`` over a one-minute window."""
    def seen(percent: float) -> Any:
        return observe_dimension(provisioned, percent * provisioned * 60 / 100, throttles, 60,
                                 complete=complete)
    return Observation(seen(reads), seen(writes), ledger or DecreaseLedger())


def until(values: dict[str, Any], seen: Observation, counters: Counters | None = None,
          interval: float = 60) -> datetime | None:
    options = resource_options(values)
    decision = decide(options, seen, counters or Counters(), NOW)
    return quiet_until(options, seen, decision, NOW, interval)


def test_off_by_default_and_below_two_check_intervals() -> None:
    assert until({**THRESHOLDS, "quiet-check-interval": 0}, observation(5, 5)) is None
    assert until({**THRESHOLDS, "quiet-check-interval": 119}, observation(5, 5)) is None
    assert until(THRESHOLDS, observation(5, 5), interval=0) is None


@pytest.mark.parametrize(("reads", "writes", "minutes"), [
    (40, 40, 3),  # ln(80/40) / ln(1.25) = 3.1 minutes to the upper threshold (9.3 to 5 %)
    (60, 30, 0),  # 1.3 minutes from 80 %: the next check must read it
    (30, 30, 4),  # 4.4 minutes
    (25, 30, 4),  # the dimension nearer its trigger decides (5.2 and 4.4 minutes)
    (21, 21, 5),  # 5.99 minutes: whole check intervals only
])
def test_quiet_for_as_long_as_consumption_needs_to_reach_the_trigger(
        reads: float, writes: float, minutes: int) -> None:
    got = until(THRESHOLDS, observation(reads, writes))
    assert got == (NOW + timedelta(minutes=minutes) if minutes else None)
    if minutes:  # and growing by GROWTH_PER_MINUTE it really needs that long
        assert min(reads, writes) * GROWTH_PER_MINUTE ** minutes <= 80


def test_never_longer_than_the_option() -> None:
    assert until({**THRESHOLDS, "reads-upper-threshold": 0, "writes-upper-threshold": 0,
                  "quiet-check-interval": 300}, observation(30, 30)) == NOW + timedelta(minutes=5)
    assert until({**THRESHOLDS, "quiet-check-interval": 150},
                 observation(30, 30)) == NOW + timedelta(minutes=2)


def test_a_check_with_anything_going_on_is_followed_by_the_next() -> None:
    assert until(THRESHOLDS, observation(95, 40)) is None  # scaled up
    assert until(THRESHOLDS, observation(40, 40, throttles=3)) is None  # throttled
    assert until(THRESHOLDS, observation(40, 40, complete=False)) is None  # unknown
    # Below the lower threshold: a decrease is under way (counting, or made).
    assert until({**THRESHOLDS, "num-read-checks-before-scale-down": 3},
                 observation(3, 40)) is None
    assert until(THRESHOLDS, observation(3, 40)) is None
    # An alarm is told every check.
    assert until({**THRESHOLDS, "reads-upper-alarm-threshold": 30}, observation(35, 35)) is None
    assert until({**THRESHOLDS, "reads-lower-alarm-threshold": 10}, observation(35, 35)) is None
    assert until({**THRESHOLDS, "predictive-scaling": True}, observation(5, 5)) is None


def test_not_quiet_where_a_fall_in_demand_would_soon_start_a_decrease() -> None:
    values = {**THRESHOLDS, "reads-upper-threshold": 0, "writes-upper-threshold": 0,
              "reads-lower-threshold": 20, "writes-lower-threshold": 20}
    assert until(values, observation(30, 30)) is None  # 1.8 minutes from 20 %
    assert until(values, observation(60, 60)) == NOW + timedelta(minutes=4)  # 4.9 minutes
    # At its minimum it cannot decrease: nothing to wait for.
    assert until({**values, "min-provisioned-reads": 100, "min-provisioned-writes": 100},
                 observation(30, 30)) == NOW + timedelta(minutes=10)


def test_a_decrease_held_by_the_quota_waits_quietly_until_the_quota_frees() -> None:
    # 4 decreases today, the last 20 minutes ago: the next is possible in 40 minutes.
    ledger = DecreaseLedger(decreases_today=4, last_decrease=NOW - timedelta(minutes=20))
    values = {**THRESHOLDS, "reads-lower-threshold": 35, "writes-lower-threshold": 35,
              "quiet-check-interval": 3600}
    seen = observation(30, 30, ledger=ledger)
    # Headroom to 80 %: 4.4 minutes; the quota alone would allow 40.
    assert until(values, seen) == NOW + timedelta(minutes=4)
    quiet = {**values, "reads-upper-threshold": 0, "writes-upper-threshold": 0}
    assert until(quiet, seen) == NOW + timedelta(minutes=40)
    # The quota allows a decrease now: the count goes on next check.
    assert until(quiet, observation(30, 30)) is None


def test_scale_up_level_per_mode() -> None:
    options = resource_options(THRESHOLDS)
    assert scale_up_level(options.reads) == 80
    scaled = resource_options({"increase-consumed-reads-scale": {70: 10, 90: 20},
                               "reads-upper-threshold": 95})
    assert scale_up_level(scaled.reads) == 70  # the scale replaces the threshold
    throttle = resource_options({"reads-upper-threshold": 0,
                                 "increase-throttled-by-consumed-reads-scale": {1: 50}})
    assert scale_up_level(throttle.reads) == 100  # throttling needs what is provisioned
    target = resource_options({"target-reads-utilisation": 70})
    assert scale_up_level(target.reads) == 70
    capped = resource_options({**THRESHOLDS, "max-provisioned-reads": 100})
    assert scale_up_level(capped.reads, provisioned=100) is None  # at max: cannot go up
    assert scale_up_level(capped.reads, provisioned=99) == 80
    assert scale_up_level(options.reads, provisioned=100, ceiling=100) is None
    frozen = resource_options({"enable-reads-up-scaling": False})
    assert scale_up_level(frozen.reads) is None


def test_headroom_seconds() -> None:
    options = resource_options(THRESHOLDS)
    seen = observation(40).reads
    assert headroom_seconds(options.reads, seen) == pytest.approx(
        60 * math.log(2) / math.log(GROWTH_PER_MINUTE))
    assert headroom_seconds(options.reads, observation(0).reads) == math.inf
    assert headroom_seconds(options.reads, observation(85).reads) == 0


def test_throttles_are_possible_only_where_consumption_reached_the_capacity() -> None:
    one_minute = resource_options({"lookback-period": 1})
    five_minutes = resource_options({"lookback-period": 5})
    assert not throttles_possible(one_minute, observation(99.9).reads)
    assert throttles_possible(one_minute, observation(100).reads)
    # One throttled minute of five is at least 20 % of the window.
    assert throttles_possible(five_minutes, observation(20).reads)
    assert not throttles_possible(five_minutes, observation(19.9).reads)
    # An episode goes on until a check sees none.
    assert throttles_possible(one_minute, observation(10).reads, throttled_before=True)
