"""The tuner's parts: the search space, the configuration it writes, the frontier and the pick."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.simulate import tune
from dynamic_dynamodb.simulate.report import PolicySummary
from dynamic_dynamodb.simulate.runner import Settings

USER_CONF = """\
# My tables; do not lose this comment.
[global]
check-interval: 60

[default_options]
# Scale up at 80 %.
reads-upper-threshold: 80
reads-lower-threshold: 30   ; inline comment
increase-consumed-reads-scale: {80: 10,
    90: 20}
min-provisioned-reads: 5

[table: ^orders$]
writes-upper-threshold: 70
max-provisioned-writes: 900

[table: ^audit$]
min-provisioned-writes: 2

[gsi: ^by_customer$ table: ^orders$]
predictive-scaling: false
"""

SETTINGS = {"target-reads-utilisation": "70", "target-writes-utilisation": "70",
            "target-reads-scale-down-minutes": "15", "target-writes-scale-down-minutes": "15",
            "predictive-scaling": "true"}


def test_the_search_space_is_every_combination_with_both_dimensions_set() -> None:
    every = tune.candidates()
    assert len(every) == 5 * 3 * 2
    assert len(set(every)) == len(every)
    assert tune.ini_settings(("80", "30", "true")) == {
        "target-reads-utilisation": "80", "target-writes-utilisation": "80",
        "target-reads-scale-down-minutes": "30", "target-writes-scale-down-minutes": "30",
        "predictive-scaling": "true"}


def test_written_configuration_keeps_everything_else_and_runs_the_tuned_settings(
        tmp_path: Path) -> None:
    text = tune.apply_settings(USER_CONF, SETTINGS, "spike.csv.gz")
    lines = text.splitlines()

    # Untouched: comments, other options, sections, in order.
    for kept in ("# My tables; do not lose this comment.", "check-interval: 60",
                 "# Scale up at 80 %.", "min-provisioned-reads: 5", "max-provisioned-writes: 900",
                 "[table: ^audit$]", "min-provisioned-writes: 2"):
        assert kept in lines
    # The threshold options the target mode replaces are commented out, continuation too.
    assert "# reads-upper-threshold: 80" in lines
    assert "# reads-lower-threshold: 30   ; inline comment" in lines
    assert "# increase-consumed-reads-scale: {80: 10," in lines and "#     90: 20}" in lines
    assert "# writes-upper-threshold: 70" in lines
    path = tmp_path / "tuned.conf"
    path.write_text(text, encoding="utf-8")
    config = load_config(str(path))
    orders, audit = config.tables
    gsi = orders.gsis[0]
    # [default_options] carries the settings to [table: ^audit$]; [table: ^orders$] had a
    # threshold of its own and the GSI its own predictive-scaling, so they get them too.
    for options in (orders.options, audit.options, gsi.options):
        assert options.predictive_scaling is True
        for dim in ("reads", "writes"):
            assert getattr(options, dim).target_utilisation == 70
            assert getattr(options, dim).target_scale_down_minutes == 15
    # The user's thresholds (reads 80, orders' writes 70) are no longer in force.
    assert orders.options.reads.upper_threshold != 80
    assert orders.options.writes.upper_threshold != 70
    assert orders.options.writes.max_provisioned == 900
    assert audit.options.reads.min_provisioned == 5
    section_of = {line: index for index, line in enumerate(lines)}
    assert section_of["[table: ^orders$]"] < section_of["# writes-upper-threshold: 70"]
    assert lines[section_of["[table: ^audit$]"] + 1] == "min-provisioned-writes: 2"
    assert lines[section_of["[default_options]"] + 1].startswith(
        "# dynamic-dynamodb --tune on spike.csv.gz: target mode")


def test_without_default_options_the_section_is_added(tmp_path: Path) -> None:
    text = tune.apply_settings("[table: ^t$]\nmin-provisioned-reads: 3\n", SETTINGS)
    assert text.startswith("[table: ^t$]\nmin-provisioned-reads: 3\n\n[default_options]\n")
    path = tmp_path / "t.conf"
    path.write_text(text, encoding="utf-8")
    (table,) = load_config(str(path)).tables
    assert table.options.reads.target_utilisation == 70
    assert table.options.reads.min_provisioned == 3


def summary(cost: float, throttled: float) -> PolicySummary:
    return PolicySummary(throttled_cu=throttled * 1000, throttled_fraction=throttled,
                         throttled_minutes=0, capacity_cost_usd=cost, cloudwatch_cost_usd=0,
                         total_cost_usd=cost, wasted_fraction=0, decreases=0, limit_exceeded=0,
                         updates=0, demand_cu=1000, served_cu=1000)


def test_frontier_and_choice() -> None:
    points = [tune.Point(name, (name,), summary(cost, throttled)) for name, cost, throttled in (
        ("a", 10.0, 0.02), ("b", 12.0, 0.01), ("c", 12.5, 0.015), ("d", 15.0, 0.0),
        ("e", 16.0, 0.0), ("f", 9.0, 0.05))]

    assert [point.name for point in tune.pareto(points)] == ["f", "a", "b", "d"]
    assert tune.choose(points, 0.012).name == "b"  # type: ignore[union-attr]
    assert tune.choose(points, 0.0).name == "d"  # type: ignore[union-attr]
    assert tune.choose(points, 1.0).name == "f"  # type: ignore[union-attr]
    assert tune.choose([points[0]], 0.01) is None


@pytest.mark.parametrize(("text", "value"), [("0.005", 0.005), ("0.5%", 0.005), (" 2 % ", 0.02),
                                             ("0", 0.0), ("1", 1.0)])
def test_max_throttled_takes_a_fraction_or_a_percentage(text: str, value: float) -> None:
    assert tune.parse_fraction(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["abc", "1.5", "-0.1", "nan", "200%", ""])
def test_max_throttled_refuses_what_is_not_a_fraction(text: str) -> None:
    with pytest.raises(tune.TuneError, match=r"^--max-throttled must be"):
        tune.parse_fraction(text)


def test_an_existing_output_is_refused_before_any_replay_and_kept_without_force(
        tmp_path: Path) -> None:
    out = tmp_path / "tuned.conf"
    out.write_text("mine\n", encoding="utf-8")
    request = tune.TuneRequest(str(tmp_path / "c.conf"), "t.csv", str(out), False, None,
                               Settings())
    with pytest.raises(tune.TuneError, match=r"tuned\.conf exists; give --force"):
        tune.check_out(request)
    with pytest.raises(FileExistsError):
        tune.write_no_clobber(str(out), "new\n", force=False)
    assert out.read_text(encoding="utf-8") == "mine\n"
    tune.write_no_clobber(str(out), "new\n", force=True)
    assert out.read_text(encoding="utf-8") == "new\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tuned.conf"]
