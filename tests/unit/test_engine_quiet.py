"""quiet-check-interval in the engine: quiet tables are left out of cycles (no metrics read,
no decision), counted, re-checked when due or when their capacity changes, and the schedule
survives a save and load of the state (--run-once from cron)."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest

from dynamic_dynamodb.aws.model import CapacityChange
from dynamic_dynamodb.engine import Engine
from dynamic_dynamodb.simulate.fakes import fake_ports
from dynamic_dynamodb.simulate.model import CapacityModel
from dynamic_dynamodb.simulate.runner import _breaker_closed
from dynamic_dynamodb.state import State, StateStore
from tests.unit.simulate.helpers import config, one_table

CONF = """[global]
check-interval: 60
[default_options]
lookback-window-start: 2
lookback-period: 1
quiet-check-interval: {quiet}
[table: ^my_table$]
reads-upper-threshold: 80
reads-lower-threshold: 5
writes-upper-threshold: 80
writes-lower-threshold: 5
"""


def engine(tmp_path: Path, quiet: int, reads: float = 20.0, state: State | None = None,
           minutes: int = 30) -> tuple[Engine, CapacityModel]:
    # 20 CU/s on 100 RCU: 20 %, 9 minutes from 80 % growing by a quarter a minute.
    trace = one_table([reads] * minutes, [20.0] * minutes, initial=(100, 100))
    model = CapacityModel(trace, {"my_table": {"reads": 100, "writes": 100}})
    cfg = config(tmp_path, CONF.format(quiet=quiet))
    return Engine(cfg, fake_ports(model), state or State(), clock=model.now_datetime,
                  breaker_check=_breaker_closed), model


def run(engine_: Engine, model: CapacityModel, minutes: range) -> list[int]:
    """The metrics requested in each cycle, one cycle a minute."""
    requested = []
    for minute in minutes:
        model.advance_to(minute * 60.0)
        requested.append(engine_.run_cycle().metrics_requested)
    return requested


def test_a_quiet_table_is_read_every_few_cycles_only(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    every, _ = engine(tmp_path, quiet=0)
    quiet, model = engine(tmp_path, quiet=300)
    assert run(every, every.ports.metrics.model, range(3, 15)) == [2] * 12  # type: ignore[attr-defined]
    with caplog.at_level(logging.DEBUG, logger="dynamic_dynamodb"):
        counts = run(quiet, model, range(3, 15))
    # Read at 3, then quiet for 5 minutes (the option caps the 9 minutes of headroom).
    assert counts == [2, 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0]
    assert "my_table - Quiet: consumption far from every threshold; not read until " \
           "2024-01-01 00:08:00 UTC" in caplog.text
    report = quiet.run_cycle()  # minute 14, quiet
    assert (report.tables, report.quiet) == (0, 1)
    assert "0 tables and 0 GSIs checked (1 quiet, not read)" in report.summary()


def test_near_a_threshold_it_is_read_every_cycle(tmp_path: Path) -> None:
    busy, model = engine(tmp_path, quiet=300, reads=70.0)  # 70 %: 0.6 minutes from 80 %
    assert run(busy, model, range(3, 10)) == [2] * 7


def test_a_capacity_change_makes_it_due_at_once(tmp_path: Path) -> None:
    quiet, model = engine(tmp_path, quiet=300)
    assert run(quiet, model, range(3, 5)) == [2, 0]
    model.update_table("my_table", [CapacityChange(None, 90, 100)])  # someone else's change
    model.advance_to(5 * 60.0 + 61)  # applied after the update delay
    assert quiet.run_cycle().metrics_requested == 2


def test_the_schedule_survives_a_save_and_load(tmp_path: Path) -> None:
    store = StateStore(str(tmp_path / "state.json"))
    first, model = engine(tmp_path, quiet=300)
    assert run(first, model, range(3, 4)) == [2]
    store.save(first.state)
    # A new process (cron's next --run-once) on the same model a minute later.
    again = store.load()
    second, _ = engine(tmp_path, quiet=300, state=again)
    second.ports = first.ports
    second.clock = model.now_datetime
    assert run(second, model, range(4, 9)) == [0, 0, 0, 0, 2]


def test_statuses_of_a_quiet_table_carry_its_capacity_and_no_consumption(tmp_path: Path) -> None:
    quiet, model = engine(tmp_path, quiet=300)
    quiet.collect_statuses = True
    run(quiet, model, range(3, 4))
    model.advance_to(4 * 60.0)
    statuses = quiet.run_cycle().statuses
    assert [(s.dimension, s.provisioned, s.outcome) for s in statuses] == [
        ("reads", 100, "unchanged"), ("writes", 100, "unchanged")]
    assert all(math.isnan(s.consumed_percent) for s in statuses)


def test_state_keeps_the_schedule_per_resource() -> None:
    state = State()
    assert state.quiet_until("t") == (None, None)
    state.set_quiet_until("t", None)
    assert "t" not in state.data["resources"]  # nothing stored for a resource checked always
    from datetime import datetime, timezone
    when = datetime(2024, 1, 1, 0, 5, tzinfo=timezone.utc)
    state.set_quiet_until("t", when, "10/5")
    assert state.quiet_until("t") == (when, "10/5")
    state.set_quiet_until("t", None)
    assert state.quiet_until("t") == (None, None)


def test_getmetricdata_calls_of_a_big_batch_go_through_the_pool(tmp_path: Path) -> None:
    """300 tables: 600 consumed metrics in two GetMetricData calls (then the throttles where
    a decrease may come), in parallel or not, with the same answers and decisions."""
    from dynamic_dynamodb.simulate.trace import ResourceTrace, Trace
    from tests.unit.simulate.helpers import START

    resources = tuple(ResourceTrace(f"t{index:03d}", None, tuple([float(index % 50)] * 10),
                                    tuple([1.0] * 10), 10, 10) for index in range(300))
    trace = Trace(start=START, minutes=10, resources=resources)
    outcomes = []
    for workers in (1, 4):
        model = CapacityModel(trace, {r.key: {"reads": 10, "writes": 10} for r in resources})
        cfg = config(tmp_path, f"[global]\nparallel-requests: {workers}\n[default_options]\n"
                     "lookback-window-start: 2\nlookback-period: 1\n[table: ^t]\n"
                     "reads-upper-threshold: 80\nincrease-reads-with: 50\n")
        ports = fake_ports(model)
        engine_ = Engine(cfg, ports, State(), clock=model.now_datetime,
                         breaker_check=_breaker_closed)
        model.advance_to(4 * 60.0)
        report = engine_.run_cycle()
        outcomes.append((report.metrics_requested, report.calls.get("GetMetricData"),
                         report.updates, {key: dict(r.provisioned) for key, r in
                                          model.resources.items()}))
    assert outcomes[0] == outcomes[1]
    requested, calls = outcomes[0][:2]
    assert requested > 500 and calls == 1 + (requested - 600 + 499) // 500 + 1  # 600 in 2 calls
    assert outcomes[0][2] > 0  # the busy ones scaled up on what was read
