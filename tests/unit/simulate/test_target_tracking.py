"""The emulated AWS target tracking against hand-computed cases, and the other baselines."""

from __future__ import annotations

import pytest

from dynamic_dynamodb.simulate.baselines import (
    Limits,
    run_on_demand,
    run_oracle,
    run_static_peak,
    run_target_tracking,
)
from tests.unit.simulate.helpers import one_table

LIMITS = {"my_table": {"reads": Limits(), "writes": Limits()}}
INITIAL = {"my_table": {"reads": 10, "writes": 2}}


def per_minute(values: list[float]) -> list[float]:
    return [value / 60 for value in values]


def test_scales_out_after_two_high_minutes_to_consumed_over_target() -> None:
    # 10 CU/s on 10 RCU: 600 > 0.7 x 10 x 60 = 420. Minutes 0 and 1 are published at 2 and
    # 3 min (1 min delay), so the alarm fires at 3 min: ceil(600 / 60 / 0.7) = 15, a new peak
    # for the table, so in effect 300 s later (the model's new_peak_delay) at 8 min. Then
    # 600 < 0.7 x 15 x 60 = 630 and 600 > 0.5 x 15 x 60 = 450: it stays.
    trace = one_table([10] * 10, [1] * 10, initial=(10, 2))
    model = run_target_tracking(trace, INITIAL, LIMITS)
    resource = model.resources["my_table"]
    assert per_minute(resource.capacity_seconds["reads"]) == [10] * 8 + [15] * 2
    assert resource.updates == 1
    # Writes at 1 of 2 (50 %): 60 is neither > 84 nor < 60.
    assert per_minute(resource.capacity_seconds["writes"]) == [2] * 10


def test_scales_in_after_fifteen_low_minutes() -> None:
    # After the scale-out to 15, demand drops to 3 CU/s at minute 10: 180 < 0.5 x 15 x 60.
    # Minutes 10..24 are the first 15 low ones, all published at 26 min: ceil(3 / 0.7) = 5,
    # in effect at 27 min.
    trace = one_table([10] * 10 + [3] * 30, [1] * 40, initial=(10, 2))
    model = run_target_tracking(trace, INITIAL, LIMITS)
    capacity = per_minute(model.resources["my_table"].capacity_seconds["reads"])
    assert capacity[26] == 15
    assert capacity[27:] == [5] * 13
    assert model.resources["my_table"].decreases == 1


def test_scale_in_stops_at_the_section_minimum_and_out_at_the_maximum() -> None:
    limits = {"my_table": {"reads": Limits(minimum=8, maximum=12), "writes": Limits()}}
    trace = one_table([10] * 10 + [3] * 30, [1] * 40, initial=(10, 2))
    model = run_target_tracking(trace, INITIAL, limits)
    capacity = per_minute(model.resources["my_table"].capacity_seconds["reads"])
    assert capacity[7:9] == [10, 12]  # 15 capped at max 12, a new peak: at 3 + 5 min
    assert capacity[-1] == 8  # 5 lifted to min 8


def test_target_setting_changes_the_thresholds() -> None:
    # At a 50 % target, 10 CU/s on 20 RCU (50 %) does not breach 0.5 x 20 x 60 = 600 ...
    trace = one_table([10] * 10, [1] * 10, initial=(20, 2))
    initial = {"my_table": {"reads": 20, "writes": 2}}
    calm = run_target_tracking(trace, initial, LIMITS, target=50)
    assert calm.resources["my_table"].updates == 0
    # ... but at a 40 % target it does: ceil(10 / 0.4) = 25.
    busy = run_target_tracking(trace, initial, LIMITS, target=40)
    assert per_minute(busy.resources["my_table"].capacity_seconds["reads"])[-1] == 25


def test_static_peak_provisions_the_peak_and_never_throttles() -> None:
    trace = one_table([1, 7.2, 3], [0, 0, 0.5])
    model = run_static_peak(trace, ["my_table"])
    resource = model.resources["my_table"]
    assert per_minute(resource.capacity_seconds["reads"]) == [8, 8, 8]
    assert per_minute(resource.capacity_seconds["writes"]) == [1, 1, 1]
    assert sum(resource.throttled["reads"]) == 0


def test_on_demand_serves_everything_it_is_asked() -> None:
    trace = one_table([1, 7.5, 3], [0, 0, 0.5])
    resource = run_on_demand(trace, ["my_table"]).resources["my_table"]
    assert resource.consumed["reads"] == [60, 450, 180]
    assert resource.consumed["writes"] == [0, 0, 30]


def test_oracle_follows_demand_and_decreases_once_the_hour_ahead_allows() -> None:
    # Demand 5 for an hour, then 1: from minute 60 the next hour never needs more than 1.
    trace = one_table([5] * 60 + [1] * 120, [1] * 180, initial=(5, 1))
    resource = run_oracle(trace, {"my_table": {"reads": 5, "writes": 1}}, ["my_table"]
                          ).resources["my_table"]
    assert per_minute(resource.capacity_seconds["reads"]) == [5] * 60 + [1] * 120
    assert (resource.decreases, resource.updates) == (1, 1)
    assert sum(resource.throttled["reads"]) == 0


def test_oracle_raises_at_once_and_respects_the_decrease_rule() -> None:
    # Demand alternates 1 and 9 every 2 hours: each drop costs one decrease, each rise is free.
    reads = ([9] * 120 + [1] * 120) * 6
    trace = one_table(reads, [1] * len(reads), initial=(9, 1))
    resource = run_oracle(trace, {"my_table": {"reads": 9, "writes": 1}}, ["my_table"]
                          ).resources["my_table"]
    capacity = per_minute(resource.capacity_seconds["reads"])
    assert all(cap >= need for cap, need in zip(capacity, reads, strict=True))
    assert resource.decreases == 6
    # It goes down to 1 an hour into each low period's 2 hours minus the horizon... exactly at
    # the first minute whose next 60 minutes are all low.
    assert capacity[120:240] == [1] * 120
    assert resource.limit_exceeded == 0


def test_oracle_keeps_decreases_for_the_drops_that_matter() -> None:
    # Reads creep down by 1 % a minute (100 -> 96), then to 95 at minute 30; writes jump to 100
    # for minutes 60-69. Spending the 4 free decreases on the reads creep would leave writes
    # at 100 until an hour after the 5th decrease (at minute 64). The oracle plans with a
    # minimum drop as well and keeps the cheaper plan: one decrease at minute 30 (reads to 95,
    # 5 % down), one at minute 70 (writes back to 10).
    reads = [100, 99, 98, 97] + [96] * 26 + [95] * 170
    writes = [10] * 60 + [100] * 10 + [10] * 130
    trace = one_table(reads, writes, initial=(100, 10))
    resource = run_oracle(trace, {"my_table": {"reads": 100, "writes": 10}}, ["my_table"]
                          ).resources["my_table"]
    assert per_minute(resource.capacity_seconds["reads"]) == [100] * 30 + [95] * 170
    assert per_minute(resource.capacity_seconds["writes"]) == writes
    assert resource.decreases == 2
    # With only the greedy plan, writes would stay at 100 until minute 124.
    greedy = run_oracle(trace, {"my_table": {"reads": 100, "writes": 10}}, ["my_table"],
                        thresholds=(0.0,)).resources["my_table"]
    assert per_minute(greedy.capacity_seconds["writes"])[70:124] == [100] * 54
    assert per_minute(greedy.capacity_seconds["writes"])[124] == 10


@pytest.mark.parametrize("shape", ["spike", "burst", "step"])
def test_oracle_is_never_beaten_on_cost_at_zero_throttling(shape: str, tmp_path) -> None:
    from dynamic_dynamodb.simulate.runner import Settings, simulate, summaries_of
    from dynamic_dynamodb.simulate.traces import generate
    from tests.unit.simulate.helpers import config

    trace = generate(shape, days=0.5, seed=3)
    for text in ("[table: ^my_table$]\n", "[global]\ncheck-interval: 60\n[table: ^my_table$]\n"
                 "reads-upper-threshold: 60\nwrites-upper-threshold: 60\n"
                 "increase-reads-with: 200\nincrease-writes-with: 200\n"):
        models, _ = simulate(config(tmp_path, text), trace, Settings())
        summaries = summaries_of(models, Settings().prices)
        oracle = summaries["oracle"]
        assert oracle.throttled_cu == 0
        for name, summary in summaries.items():
            if summary.throttled_cu == 0 and name != "on-demand":
                assert summary.capacity_cost_usd >= oracle.capacity_cost_usd, name


def test_report_png_is_skipped_with_a_message_without_matplotlib(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from dynamic_dynamodb.simulate.report import write_plot

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    trace = one_table([1.0] * 3)
    message = write_plot(str(tmp_path / "report.png"), {"static-peak": run_static_peak(
        trace, ["my_table"])})
    assert message is not None and "matplotlib is not installed" in message
    assert not (tmp_path / "report.png").exists()
