"""dynamic-dynamodb's replay split among processes by table is the one-process replay."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynamic_dynamodb.simulate import runner
from dynamic_dynamodb.simulate.model import CapacityModel
from dynamic_dynamodb.simulate.trace import ResourceTrace, Trace
from tests.unit.simulate.helpers import START, config

CONF = """[global]
check-interval: 60
[default_options]
lookback-window-start: 2
lookback-period: 1
reads-upper-threshold: 80
reads-lower-threshold: 40
writes-upper-threshold: 80
writes-lower-threshold: 40
num-read-checks-before-scale-down: 2
[table: .]
[gsi: . table: .]
"""


def trace() -> Trace:
    minutes = 240
    def wave(base: float, high: float, period: int) -> tuple[float, ...]:
        return tuple(high if (minute // period) % 2 else base for minute in range(minutes))
    return Trace(start=START, minutes=minutes, resources=(
        ResourceTrace("a", None, wave(10, 60, 30), wave(5, 20, 45), 20, 10),
        ResourceTrace("a", "by_b", wave(4, 30, 20), wave(2, 9, 50), 10, 5),
        ResourceTrace("b", None, wave(50, 5, 40), wave(8, 1, 25), 40, 10),
        ResourceTrace("c", None, wave(1, 100, 60), wave(30, 3, 35), 10, 30),
    ))


def records(model: CapacityModel) -> object:
    return ([(key, r.consumed, r.throttled, r.capacity_seconds, r.provisioned, r.updates,
              r.decreases, r.limit_exceeded, r.last_decrease, r.last_increase)
             for key, r in model.resources.items()],
            dict(model.outcomes), model.metrics_requested)


def replay(tmp_path: Path, processes: int) -> CapacityModel:
    cfg = config(tmp_path, CONF)
    data = trace()
    managed = runner.managed_resources(cfg, data)
    return runner.run_dynamic_dynamodb(cfg, data, runner.initial_capacity(data, managed),
                                       list(managed.options), runner.Settings(),
                                       processes=processes)


def test_tables_split_among_processes_replay_as_in_one(tmp_path: Path) -> None:
    one = replay(tmp_path, 1)
    assert one.outcomes["accepted"] > 10  # the trace makes it work
    split = replay(tmp_path, 2)
    assert list(split.resources) == ["a", "a:by_b", "b", "c"]
    assert records(split) == records(one)


def test_a_table_and_its_gsis_stay_in_one_process() -> None:
    parts = runner.split_tables(["a", "a:x", "a:y", "b", "c", "d:z"], 2)
    assert sorted(map(sorted, parts)) == [["a", "a:x", "a:y"], ["b", "c", "d:z"]]
    assert runner.split_tables(["a", "a:x"], 2) == [["a", "a:x"]]


def test_when_the_account_cap_may_have_bound_it_replays_in_one_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    one = replay(tmp_path, 1)
    monkeypatch.setattr(CapacityModel, "tables_independent", lambda self: False)
    calls = []
    real = runner._replay

    def counting(*args: object, **kwargs: object) -> CapacityModel:
        calls.append(args[3])
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(runner, "_replay", counting)
    again = replay(tmp_path, 2)
    assert records(again) == records(one)
    assert calls[-1] == ["a", "a:by_b", "b", "c"]  # the whole trace, once more


def test_tables_independent_reads_the_account_cap(tmp_path: Path) -> None:
    model = replay(tmp_path, 1)
    assert model.tables_independent()
    from dataclasses import replace
    model.limits = replace(model.limits, account_max_reads=model.limits.table_max_reads + 50)
    assert not model.tables_independent()
