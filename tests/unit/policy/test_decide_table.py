"""The decision table: one row per behaviour of Appendix A and §5, corrected by the decisions.

Every row is loaded from an INI text in which a ``[table:]`` and a ``[gsi:]`` section carry the
same options, and ``decide`` runs for both. The decision has no notion of table or GSI (D7):
the same options give the same decision. Baseline, as in Appendix A: upper 90, lower 30,
±50 %, percent units, min 1, max 100000, one check before scale-down, no scale-down at 0 %,
and writes at 100 provisioned and 50 % consumed unless a row says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.config.model import ResourceOptions
from dynamic_dynamodb.config.options import READS, WRITES
from dynamic_dynamodb.policy.budget import DecreaseLedger
from dynamic_dynamodb.policy.decide import (
    Counters,
    Decision,
    DimensionObservation,
    Observation,
    decide,
)

NOON = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)

BASELINE = """\
[default_options]
min-provisioned-reads: 1
max-provisioned-reads: 100000
min-provisioned-writes: 1
max-provisioned-writes: 100000
"""


def load_table_and_gsi(tmp_path: Path, options: dict[str, str]) -> list[ResourceOptions]:
    """The same option lines in a [table:] and a [gsi:] section, through the real loader."""
    lines = "".join(f"{key}: {value}\n" for key, value in options.items())
    path = tmp_path / "rows.conf"
    path.write_text(f"{BASELINE}[table: ^t$]\n{lines}[gsi: ^g$ table: ^t$]\n{lines}")
    config = load_config(str(path))
    assert config.warnings == ()  # every option name in the rows is a real option
    table = config.tables[0].options
    gsi = config.tables[0].gsis[0].options
    assert table == gsi
    return [table, gsi]


def seen(provisioned: int, consumed: float = 50.0, throttles: int = 0, by_provisioned: float = 0.0,
         by_consumed: float = 0.0) -> DimensionObservation:
    return DimensionObservation(provisioned, consumed, throttles, by_provisioned, by_consumed)


@dataclass(frozen=True)
class Row:
    reads: DimensionObservation
    expected: tuple[int, int]  # (reads, writes) targets
    options: dict[str, str] = field(default_factory=dict)
    writes: DimensionObservation = field(default_factory=lambda: seen(100, 50))
    counters: tuple[int, int] = (0, 0)
    expected_counters: tuple[int, int] = (0, 0)
    now: datetime = NOON
    ledger: DecreaseLedger = field(default_factory=DecreaseLedger)


def row(name: str, *args: Any, **kwargs: Any) -> Any:
    return pytest.param(Row(*args, **kwargs), id=name)


N3 = {"num-read-checks-before-scale-down": "3"}
ROWS = [
    # ---- Appendix A, in its order -------------------------------------------------------
    row("up percent", seen(100, 95), (150, 100)),
    row("up consumption-based", seen(100, 150), (225, 100)),  # base 150, +75
    row("up units", seen(100, 95), (107, 100),
        {"increase-reads-unit": "units", "increase-reads-with": "7"}),
    row("down", seen(100, 20), (50, 100)),
    row("down at 0 %", seen(100, 0), (100, 100)),
    row("down at 0 % allowed", seen(100, 0), (50, 100),
        {"allow-scaling-down-reads-on-0-percent": "true"}),
    row("N=3, counter 0", seen(100, 20), (100, 100), N3, expected_counters=(1, 0)),
    row("N=3, counter 2", seen(100, 20), (50, 100), N3, counters=(2, 0)),
    row("between thresholds", seen(100, 50), (100, 100), N3, counters=(2, 0),
        expected_counters=(2, 0)),
    row("reset percent", seen(100, 50), (100, 100),
        {**N3, "num-read-checks-reset-percent": "40"}, counters=(2, 0)),
    row("reset percent, exactly", seen(100, 40), (100, 100),
        {**N3, "num-read-checks-reset-percent": "40"}, counters=(2, 0)),
    # D3: 2.5.1's consumption guard refused to raise the table to max ("no update").
    row("max cap bug (D3)", seen(10, 150), (12, 100), {"max-provisioned-reads": "12"}),
    row("max cap ok", seen(10, 95), (12, 100), {"max-provisioned-reads": "12"}),
    row("above max", seen(600, 50), (500, 100), {"max-provisioned-reads": "500"}),
    # D3: 2.5.1 left a busy table above max ("no update").
    row("above max, busy (D3)", seen(600, 90), (500, 100), {"max-provisioned-reads": "500"}),
    row("below min", seen(5, 50), (10, 100), {"min-provisioned-reads": "10"}),
    row("below min, busy", seen(5, 300), (23, 100), {"min-provisioned-reads": "10"}),
    row("down blocked by guard (D4)", seen(100, 45), (100, 100),
        {"reads-lower-threshold": "50", "decrease-reads-with": "60"}, expected_counters=(1, 0)),
    # "throttle count, table" → 110 and "throttle count, GSI" → 150 in 2.5.1. D7: a GSI
    # behaves exactly like a table, so both give 110.
    row("throttle count, table and GSI (D7)", seen(100, 50, throttles=10), (110, 100),
        {"throttled-reads-upper-threshold": "5", "increase-consumed-reads-with": "10"}),
    row("consumed dict", seen(100, 85), (110, 100),
        {"increase-consumed-reads-scale": "{0: 0, 80: 10, 95: 50}"}),
    row("consumed dict, no key hit", seen(100, 96), (100, 100),
        {"increase-consumed-reads-scale": "{97: 10}"}),
    row("TP dict", seen(100, 50, by_provisioned=1.0), (120, 100),
        {"increase-throttled-by-provisioned-reads-scale": "{0.5: 20, 2: 100}"}),
    row("max of candidates", seen(100, 95, by_provisioned=3.0), (200, 100),
        {"increase-throttled-by-provisioned-reads-scale": "{0.5: 20, 2: 100}"}),
    row("TC dict units", seen(100, 50, by_consumed=10), (103, 100),
        {"increase-throttled-by-consumed-reads-scale": "{5: 3}",
         "increase-throttled-by-consumed-reads-unit": "units"}),
    row("dict float units", seen(100, 95), (102, 100),
        {"increase-consumed-reads-scale": "{90: 2.7}", "increase-consumed-reads-unit": "units"}),
    # 2.5.1 dropped decrease-consumed-* for GSIs; D7 keeps them.
    row("decrease dict (D7)", seen(100, 15), (90, 100),
        {"decrease-consumed-reads-scale": "{20: 10, 10: 30, 5: 50}"}),
    # "writes throttled at max": table → no update (#319), GSI → (100, 50) in 2.5.1. D8: no
    # decrease while there are throttle events, for every dimension of tables and GSIs alike.
    row("writes throttled at max, table and GSI (D8)", seen(100, 50),
        (100, 100), {"throttled-writes-upper-threshold": "1", "max-provisioned-writes": "100"},
        writes=seen(100, 20, throttles=3)),
    row("writes throttled, up-scaling off (D8)", seen(100, 50), (100, 100),
        {"throttled-writes-upper-threshold": "1", "enable-writes-up-scaling": "false"},
        writes=seen(100, 20, throttles=3)),
    row("percent float artefact up (D1)", seen(100, 95), (107, 100), {"increase-reads-with": "7"}),
    row("percent float artefact down (D1)", seen(100, 20), (71, 100), {"decrease-reads-with": "29"}),
    # D6: decrease only together with the other dimension; 2.5.1 gave (50, 100). The refused
    # decrease keeps its count (D5).
    row("rw-together, R down W same (D6)", seen(100, 20), (100, 100),
        {"always-decrease-rw-together": "true"}, expected_counters=(1, 0)),
    row("rw-together, R down W up", seen(100, 20), (100, 150),
        {"always-decrease-rw-together": "true"}, writes=seen(100, 95), expected_counters=(1, 0)),
    row("rw-together, both down", seen(100, 20), (50, 50),
        {"always-decrease-rw-together": "true"}, writes=seen(100, 20)),
    row("autoscaling off", seen(5, 50), (5, 100),
        {"enable-reads-autoscaling": "false", "min-provisioned-reads": "10"}, counters=(3, 3),
        expected_counters=(0, 3)),
    row("up-scaling off, below min", seen(5, 95), (10, 100),
        {"enable-reads-up-scaling": "false", "min-provisioned-reads": "10"}),
    # "circuit breaker open": the breaker is asked before decide() runs; an open breaker skips
    # the resource and resets its counters in the engine (D5, D10), so it is not a decide() row.
    row("upper float threshold, at", seen(100, 90.0), (100, 100), {"reads-upper-threshold": "90.0"}),
    row("upper float threshold, above", seen(100, 90.01), (150, 100),
        {"reads-upper-threshold": "90.0"}),
    row("lower exact", seen(100, 30), (100, 100)),
    row("units decrease below 1", seen(3, 10), (1, 100),
        {"decrease-reads-unit": "units", "decrease-reads-with": "5", "min-provisioned-reads": "1"}),
    # 2.5.1 got there through its 2 × current min relic; D3 makes min the floor directly.
    row("decrease with min 2x cap", seen(5, 10), (100, 100), {"min-provisioned-reads": "100"}),
    row("tiny table, 1", seen(1, 1), (1, 100)),
    row("tiny table, 3", seen(3, 1), (2, 100)),
    row("writes consumption-based", seen(100, 50), (100, 23), writes=seen(10, 150)),
    # "alarm": the targets here; the alarm itself in test_alarm_row below.
    row("alarm", seen(100, 95), (150, 50),
        {"reads-upper-alarm-threshold": "90", "writes-lower-alarm-threshold": "10",
         "sns-topic-arn": "arn:aws:sns:us-east-1:123456789012:t"},
        writes=seen(100, 5)),

    # ---- D3: min and max are hard limits while autoscaling is enabled --------------------
    row("consumption never lifts above max (D3)", seen(100, 300), (120, 100),
        {"max-provisioned-reads": "120"}),
    row("above max, wants a decrease further (D3)", seen(600, 20), (300, 100),
        {"max-provisioned-reads": "500"}),
    row("above max, decrease not yet due: lowered to max (D3)", seen(600, 20), (500, 100),
        {"max-provisioned-reads": "500", **N3}),
    # §5.5 says a disabled down-scaling also stops the max clamp; D3 wins.
    row("above max, down-scaling off: lowered to max (D3)", seen(600, 20), (500, 100),
        {"max-provisioned-reads": "500", "enable-reads-down-scaling": "false"}),
    row("above max, autoscaling off: frozen (D3)", seen(600, 20), (600, 100),
        {"max-provisioned-reads": "500", "enable-reads-autoscaling": "false"}),
    row("below min, autoscaling off: frozen (D3)", seen(5, 95), (5, 100),
        {"min-provisioned-reads": "10", "enable-reads-autoscaling": "false"}),
    row("decrease stops at min (D3)", seen(100, 5), (80, 100), {"min-provisioned-reads": "80"}),
    row("no limits configured (D2)", seen(100000, 95), (150000, 100),
        {"max-provisioned-reads": "", "min-provisioned-reads": ""}),

    # ---- D4: the consumption guard only blocks decreases -----------------------------------
    row("guard does not touch increases (D4)", seen(100, 150), (225, 100),
        {"reads-lower-threshold": "50"}),
    row("guard: decrease to exactly consumption passes (D4)", seen(100, 40), (40, 100),
        {"reads-lower-threshold": "50", "decrease-reads-with": "60"}),
    row("guard: decrease dict below consumption blocked (D4)", seen(100, 15), (100, 100),
        {"decrease-consumed-reads-scale": "{20: 90}"}, expected_counters=(1, 0)),

    # ---- D8: no decrease while any throttle events, threshold or not -----------------------
    row("reads down with throttles, no threshold (D8)", seen(100, 20, throttles=1), (100, 100)),
    row("writes down with throttles below threshold (D8)", seen(100, 50), (100, 100),
        {"throttled-writes-upper-threshold": "10"}, writes=seen(100, 20, throttles=3)),
    row("throttle count over threshold scales up writes", seen(100, 50), (100, 150),
        {"throttled-writes-upper-threshold": "1"}, writes=seen(100, 20, throttles=3)),
    row("throttle count in units", seen(100, 50, throttles=10), (105, 100),
        {"throttled-reads-upper-threshold": "5", "increase-reads-unit": "units",
         "increase-reads-with": "5", "increase-consumed-reads-with": "10"}),
    row("throttle count exactly at threshold: no up", seen(100, 50, throttles=5), (100, 100),
        {"throttled-reads-upper-threshold": "5"}),

    # ---- §5.5 enable flags -----------------------------------------------------------------
    row("up-scaling off", seen(100, 95), (100, 100), {"enable-reads-up-scaling": "false"}),
    row("down-scaling off", seen(100, 20), (100, 100), {"enable-reads-down-scaling": "false"}),
    row("down-scaling off keeps the counter", seen(100, 20), (100, 100),
        {"enable-reads-down-scaling": "false", **N3}, counters=(2, 0), expected_counters=(2, 0)),
    row("writes flags are the writes' own", seen(100, 95), (150, 100),
        {"enable-writes-up-scaling": "false"}, writes=seen(100, 95)),

    # ---- D16 dicts replace the thresholds ------------------------------------------------
    row("consumed dict scales up below the upper threshold", seen(100, 85), (110, 100),
        {"increase-consumed-reads-scale": "{80: 10}"}),
    row("consumed dict value 0 means no scaling", seen(100, 95), (100, 100),
        {"increase-consumed-reads-scale": "{0: 0}"}),
    row("decrease dict replaces the lower threshold", seen(100, 25), (100, 100),
        {"decrease-consumed-reads-scale": "{10: 30}"}),
    row("decrease-consumed with and unit", seen(100, 20), (90, 100),
        {"decrease-consumed-reads-with": "10", "decrease-consumed-reads-unit": "units"}),
    row("increase-consumed with and unit", seen(100, 95), (110, 100),
        {"increase-consumed-reads-with": "10", "increase-consumed-reads-unit": "units"}),

    # ---- D5 counters -----------------------------------------------------------------------
    row("counter counts checks that want a decrease", seen(100, 20), (100, 100), N3,
        counters=(1, 0), expected_counters=(2, 0)),
    row("an increase resets the counter", seen(100, 95), (150, 100), N3, counters=(2, 0)),
    row("an applied decrease resets the counter", seen(100, 20), (50, 100), N3, counters=(5, 0)),
    row("reset percent below: counter kept", seen(100, 39), (100, 100),
        {**N3, "num-read-checks-reset-percent": "40"}, counters=(2, 0), expected_counters=(2, 0)),
    # Decided: a check that wanted a decrease but saw throttle events neither counts nor
    # resets (D8 vetoes the decrease; D5 lists no reset for it).
    row("throttle veto keeps the counter as is (D5, D8)", seen(100, 20, throttles=2), (100, 100),
        N3, counters=(2, 0), expected_counters=(2, 0)),
    row("writes count separately", seen(100, 50), (100, 100),
        {"num-write-checks-before-scale-down": "2"}, writes=seen(100, 20), counters=(4, 0),
        expected_counters=(4, 1)),
]


def observe(spec: Row) -> Observation:
    return Observation(spec.reads, spec.writes, spec.ledger)


def targets(decision: Decision) -> tuple[int, int]:
    return decision.reads.target, decision.writes.target


@pytest.mark.parametrize("spec", ROWS)
def test_decision_row(spec: Row, tmp_path: Path) -> None:
    for options in load_table_and_gsi(tmp_path, spec.options):
        decision = decide(options, observe(spec), Counters(*spec.counters), spec.now)
        assert targets(decision) == spec.expected
        assert decision.counters == Counters(*spec.expected_counters)
        for dim in (READS, WRITES):
            change = decision.dimension(dim)
            assert change.current == observe(spec).dimension(dim).provisioned
            assert change.reason.startswith(dim.title)


# ---- reasons say why ----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("options", "reads", "words"),
    [
        ({}, seen(100, 95), ["upper threshold", "scaling up from 100 to 150"]),
        ({}, seen(100, 20), ["lower threshold", "scaling down from 100 to 50"]),
        ({}, seen(100, 0), ["0%"]),
        ({}, seen(100, 20, throttles=3), ["throttle events"]),
        ({"reads-lower-threshold": "50", "decrease-reads-with": "60"}, seen(100, 45),
         ["consumed is over proposed"]),
        ({"throttled-reads-upper-threshold": "5"}, seen(100, 50, throttles=9),
         ["throttle events > 5"]),
        ({"max-provisioned-reads": "500"}, seen(600, 50), ["max-provisioned-reads (500)"]),
        ({"min-provisioned-reads": "10"}, seen(5, 50), ["min-provisioned-reads"]),
        ({"enable-reads-autoscaling": "false"}, seen(100, 95), ["Autoscaling of reads has been disabled"]),
        ({"increase-throttled-by-provisioned-reads-scale": "{1: 20}"}, seen(100, 50, by_provisioned=2),
         ["increase-throttled-by-provisioned-reads-scale"]),
    ],
)
def test_reasons_name_the_cause(options: dict, reads: DimensionObservation, words: list[str],
                                tmp_path: Path) -> None:
    for resource in load_table_and_gsi(tmp_path, options):
        reason = decide(resource, Observation(reads, seen(100)), Counters(), NOON).reads.reason
        for word in words:
            assert word in reason


# ---- maintenance windows (D9): outside all windows only increases happen ------------------

def utc(clock: str) -> datetime:
    hours, minutes = clock.split(":")
    return NOON.replace(hour=int(hours), minute=int(minutes))


@pytest.mark.parametrize(
    ("windows", "clock", "reads", "writes", "expected", "expected_counters"),
    [
        ("11:00-13:00", "12:00", seen(100, 20), seen(100), (50, 100), (0, 0)),
        ("11:00-13:00", "11:00", seen(100, 20), seen(100), (50, 100), (0, 0)),  # inclusive
        ("11:00-13:00", "13:00", seen(100, 20), seen(100), (50, 100), (0, 0)),
        ("11:00-13:00", "13:01", seen(100, 20), seen(100), (100, 100), (1, 0)),
        ("01:00-02:00", "12:00", seen(100, 20), seen(100), (100, 100), (1, 0)),
        ("01:00-02:00", "12:00", seen(100, 95), seen(100), (150, 100), (0, 0)),  # increases only
        ("01:00-02:00", "12:00", seen(100, 20), seen(100, 95), (100, 150), (1, 0)),
        ("01:00-02:00", "12:00", seen(100, 95), seen(100, 20), (150, 100), (0, 1)),
        ("22:00-02:00", "23:30", seen(100, 20), seen(100), (50, 100), (0, 0)),  # wraps midnight
        ("22:00-02:00", "00:00", seen(100, 20), seen(100), (50, 100), (0, 0)),
        ("22:00-02:00", "02:00", seen(100, 20), seen(100), (50, 100), (0, 0)),
        ("22:00-02:00", "02:01", seen(100, 20), seen(100), (100, 100), (1, 0)),
        ("22:00-02:00", "21:59", seen(100, 20), seen(100), (100, 100), (1, 0)),
        ("22:00-23:59, 0:00-6:00", "03:00", seen(100, 20), seen(100), (50, 100), (0, 0)),
        ("9:00-10:00", "09:30", seen(100, 20), seen(100), (50, 100), (0, 0)),  # one-digit hour
        # Decided (D3 over D9): max is a hard limit, so a table above max is lowered to max
        # even outside the windows; only the part of a decrease below max waits for a window.
        ("01:00-02:00", "12:00", seen(600, 50), seen(100), (500, 100), (0, 0)),
        ("01:00-02:00", "12:00", seen(600, 20), seen(100), (500, 100), (0, 0)),
        # Below min is an increase, never held back.
        ("01:00-02:00", "12:00", seen(5, 20), seen(100), (10, 100), (0, 0)),
    ],
)
def test_maintenance_window_gate(windows: str, clock: str, reads: DimensionObservation,
                                 writes: DimensionObservation, expected: tuple[int, int],
                                 expected_counters: tuple[int, int], tmp_path: Path) -> None:
    options = {"maintenance-windows": windows, "max-provisioned-reads": "500",
               "min-provisioned-reads": "10"}
    for resource in load_table_and_gsi(tmp_path, options):
        decision = decide(resource, Observation(reads, writes), Counters(), utc(clock))
        assert targets(decision) == expected
        assert decision.counters == Counters(*expected_counters)
        wanted_down = reads.consumed_percent < 30 and reads.provisioned > 10
        inside = expected[0] == 50
        assert ("outside the maintenance windows" in decision.reads.reason) == (
            wanted_down and not inside)


def test_refused_decrease_keeps_its_count_until_a_window_opens(tmp_path: Path) -> None:
    # D5 (#223): a decrease refused outside the window keeps the count, so the first check
    # inside the window decreases at once instead of starting from zero.
    options = {"maintenance-windows": "01:00-02:00", "num-read-checks-before-scale-down": "3"}
    for resource in load_table_and_gsi(tmp_path, options):
        counters = Counters()
        low = Observation(seen(100, 20), seen(100))
        history = []
        for clock in ("23:40", "23:50", "00:00", "00:10", "00:20", "01:00"):
            decision = decide(resource, low, counters, utc(clock))
            counters = decision.counters
            history.append((decision.reads.target, counters.reads))
        assert history == [(100, 1), (100, 2), (100, 3), (100, 4), (100, 5), (50, 0)]


# ---- rw-together (D6) -----------------------------------------------------------------------

RW = {"always-decrease-rw-together": "true", "min-provisioned-writes": "10",
      "min-provisioned-reads": "10"}


@pytest.mark.parametrize(
    ("reads", "writes", "counters", "options", "expected", "expected_counters"),
    [
        (seen(100, 20), seen(100, 50), (0, 0), {}, (100, 100), (1, 0)),
        (seen(100, 50), seen(100, 20), (0, 0), {}, (100, 100), (0, 1)),
        (seen(100, 20), seen(100, 20), (0, 0), {}, (50, 50), (0, 0)),
        (seen(100, 20), seen(100, 95), (0, 0), {}, (100, 150), (1, 0)),
        # the other dimension already at its minimum: the decrease goes ahead
        (seen(100, 20), seen(10, 50), (0, 0), {}, (50, 10), (0, 0)),
        (seen(100, 20), seen(10, 5), (0, 0), {}, (50, 10), (0, 0)),
        # ... but not when that one is being increased from its minimum
        (seen(100, 20), seen(10, 95), (0, 0), {}, (100, 15), (1, 0)),
        # the other wants a decrease but is still counting: wait, keeping the count (D5)
        (seen(100, 20), seen(100, 20), (2, 0), {"num-write-checks-before-scale-down": "3"},
         (100, 100), (3, 1)),
        (seen(100, 20), seen(100, 20), (3, 2), {"num-write-checks-before-scale-down": "3"},
         (50, 50), (0, 0)),
        # the other cannot decrease (throttled, D8): wait
        (seen(100, 20), seen(100, 20, throttles=1), (0, 0), {}, (100, 100), (1, 0)),
        # Decided: the other dimension can never decrease (frozen, or down-scaling off), so
        # waiting for it would block for ever: the decrease goes ahead alone.
        (seen(100, 20), seen(100, 20), (0, 0), {"enable-writes-autoscaling": "false"},
         (50, 100), (0, 0)),
        (seen(100, 20), seen(100, 20), (0, 0), {"enable-writes-down-scaling": "false"},
         (50, 100), (0, 0)),
        (seen(100, 20), seen(100, 50), (0, 0), {"enable-writes-up-scaling": "false"},
         (100, 100), (1, 0)),
        # increases are never held back by rw-together
        (seen(100, 95), seen(100, 50), (0, 0), {}, (150, 100), (0, 0)),
        # a table above max is lowered to max regardless (D3)
        (seen(600, 50), seen(100, 50), (0, 0), {"max-provisioned-reads": "500"},
         (500, 100), (0, 0)),
    ],
)
def test_rw_together_gate(reads: DimensionObservation, writes: DimensionObservation,
                          counters: tuple[int, int], options: dict[str, str],
                          expected: tuple[int, int], expected_counters: tuple[int, int],
                          tmp_path: Path) -> None:
    for resource in load_table_and_gsi(tmp_path, {**RW, **options}):
        decision = decide(resource, Observation(reads, writes), Counters(*counters), NOON)
        assert targets(decision) == expected
        assert decision.counters == Counters(*expected_counters)


def test_rw_together_off_decreases_alone(tmp_path: Path) -> None:
    for resource in load_table_and_gsi(tmp_path, {}):
        decision = decide(resource, Observation(seen(100, 20), seen(100, 50)), Counters(), NOON)
        assert targets(decision) == (50, 100)


# ---- the decrease budget, where decide() uses it ------------------------------------------

def test_exhausted_budget_defers_decreases_but_not_increases(tmp_path: Path) -> None:
    ledger = DecreaseLedger(decreases_today=27, last_decrease=NOON - timedelta(hours=1))
    for resource in load_table_and_gsi(tmp_path, {"num-read-checks-before-scale-down": "2"}):
        decision = decide(resource, Observation(seen(100, 20), seen(100, 95), ledger),
                          Counters(reads=1), NOON)
        assert targets(decision) == (100, 150)
        assert decision.counters == Counters(2, 0)  # the refused decrease keeps its count (D5)
        assert decision.budget_exhausted
        assert "decrease deferred" in decision.reads.reason


def test_exhausted_budget_also_holds_a_move_down_to_max(tmp_path: Path) -> None:
    # DynamoDB itself refuses decreases once the day's quota is used, so there is no point in
    # sending one: the table stays above max until the quota allows (D3 cannot beat AWS).
    ledger = DecreaseLedger(decreases_today=27, last_decrease=NOON - timedelta(hours=1))
    for resource in load_table_and_gsi(tmp_path, {"max-provisioned-reads": "500"}):
        decision = decide(resource, Observation(seen(600, 50), seen(100), ledger), Counters(), NOON)
        assert targets(decision) == (600, 100)
        assert decision.without_decreases("LimitExceededException").reads.target == 600


@pytest.mark.parametrize(
    ("reads", "expected"),
    [
        (seen(100, 95), (100, 100)),  # held by the cooldown
        (seen(100, 150), (225, 100)),  # consumption above provisioning: not held
        (seen(5, 50), (10, 100)),  # below min: min is a hard limit (D3)
        (seen(5, 95), (10, 100)),  # the increase waits, the limit does not
    ],
)
def test_increase_cooldown_keeps_the_limits(reads: DimensionObservation, expected: tuple[int, int],
                                            tmp_path: Path) -> None:
    ledger = DecreaseLedger(last_increase=NOON - timedelta(minutes=5))
    options = {"increase-cooldown-minutes": "30", "min-provisioned-reads": "10"}
    for resource in load_table_and_gsi(tmp_path, options):
        decision = decide(resource, Observation(reads, seen(100), ledger), Counters(reads=2), NOON)
        assert targets(decision) == expected
        # a held increase keeps the count; a change carried out resets it (D5)
        assert decision.reads.counter == (2 if expected[0] == reads.provisioned else 0)


# ---- alarms (§5.7, D18) -----------------------------------------------------------------------

def test_alarm_row(tmp_path: Path) -> None:
    # Appendix A "alarm": reads 95 % ≥ 90 (high), writes 5 % < 10 (low): one high alarm only.
    options = {"reads-upper-alarm-threshold": "90", "writes-lower-alarm-threshold": "10"}
    for resource in load_table_and_gsi(tmp_path, options):
        decision = decide(resource, Observation(seen(100, 95), seen(100, 5)), Counters(), NOON)
        assert decision.alarm is not None
        assert decision.alarm.kind == "high-throughput-alarm"
        assert [(line.dimension, line.consumed_percent, line.threshold)
                for line in decision.alarm.lines] == [(READS, 95, 90)]


@pytest.mark.parametrize(
    ("options", "reads", "writes", "kind", "lines"),
    [
        ({}, 99, 1, None, []),  # thresholds 0 = off
        ({"reads-upper-alarm-threshold": "90"}, 90, 50, "high-throughput-alarm", [READS]),
        ({"reads-upper-alarm-threshold": "90"}, 89.99, 50, None, []),
        ({"reads-lower-alarm-threshold": "10"}, 9.99, 50, "low-throughput-alarm", [READS]),
        ({"reads-lower-alarm-threshold": "10"}, 10, 50, None, []),
        ({"reads-upper-alarm-threshold": "80", "writes-upper-alarm-threshold": "80"}, 85, 95,
         "high-throughput-alarm", [READS, WRITES]),
        ({"reads-lower-alarm-threshold": "10", "writes-lower-alarm-threshold": "10"}, 5, 5,
         "low-throughput-alarm", [READS, WRITES]),
        # a high alarm suppresses the low one, whichever dimension raises which
        ({"writes-upper-alarm-threshold": "80", "reads-lower-alarm-threshold": "10"}, 5, 85,
         "high-throughput-alarm", [WRITES]),
        ({"writes-lower-alarm-threshold": "10"}, 50, 0, "low-throughput-alarm", [WRITES]),
        # alarms are evaluated even when autoscaling of that dimension is off (§5.7)
        ({"enable-reads-autoscaling": "false", "reads-upper-alarm-threshold": "90"}, 95, 50,
         "high-throughput-alarm", [READS]),
    ],
)
def test_alarms(options: dict[str, str], reads: float, writes: float, kind: str | None,
                lines: list, tmp_path: Path) -> None:
    for resource in load_table_and_gsi(tmp_path, options):
        decision = decide(resource, Observation(seen(100, reads), seen(100, writes)), Counters(),
                          NOON)
        if kind is None:
            assert decision.alarm is None
        else:
            assert decision.alarm is not None
            assert decision.alarm.kind == kind
            assert [line.dimension for line in decision.alarm.lines] == lines
