"""Target mode, scheduled floors, the decrease planner and predictive scaling in the INI file."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "dd.conf"
    path.write_text(text, encoding="utf-8")
    return load_config(str(path))


def test_target_options_load(tmp_path: Path) -> None:
    config = load(tmp_path, "[table: ^t$]\ntarget-reads-utilisation: 75\n"
                  "target-reads-scale-down-minutes: 5\ndecrease-planner-percent: 12.5\n"
                  "predictive-scaling: true\n"
                  "scheduled-min-provisioned-writes: 11:55-13:00=500, 22:00-01:00=50\n")
    options = config.tables[0].options
    assert options.reads.target_utilisation == 75.0
    assert options.reads.target_scale_down_minutes == 5
    assert options.writes.target_utilisation is None  # the other dimension keeps 2.5.1's mode
    assert options.decrease_planner_percent == 12.5
    assert options.predictive_scaling is True
    floors = options.writes.scheduled_min_provisioned
    assert floors is not None and floors.floors == ((715, 780, 500), (1320, 60, 50))
    assert config.warnings == ()


def test_target_and_threshold_in_one_section_is_an_error_naming_both(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "[table: ^t$]\nreads-upper-threshold: 80\ntarget-reads-utilisation: 70\n")
    message = str(caught.value)
    assert caught.value.section == "table: ^t$"
    assert "target-reads-utilisation" in message and "reads-upper-threshold" in message
    assert str(tmp_path / "dd.conf") in message


def test_a_scale_dict_counts_as_threshold_mode(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="decrease-consumed-writes-scale"):
        load(tmp_path, "[gsi: ^g$ table: ^t$]\ntarget-writes-utilisation: 70\n"
                       "decrease-consumed-writes-scale: {10: 50}\n[table: ^t$]\n")


def test_a_section_choosing_one_mode_replaces_the_inherited_other(tmp_path: Path) -> None:
    config = load(tmp_path, "[default_options]\nreads-upper-threshold: 80\n"
                  "target-writes-utilisation: 70\n"
                  "[table: ^a$]\ntarget-reads-utilisation: 60\n"
                  "[table: ^b$]\nwrites-lower-threshold: 20\n")
    first, second = (section.options for section in config.tables)
    assert first.reads.target_utilisation == 60.0
    assert first.writes.target_utilisation == 70.0
    assert second.writes.target_utilisation is None
    assert second.writes.lower_threshold == 20
    assert second.reads.upper_threshold == 80


@pytest.mark.parametrize(("line", "wanted"), [
    ("target-reads-utilisation: 0", "at least 1"),
    ("target-reads-utilisation: 120", "at most 100"),
    ("target-reads-scale-down-minutes: -1", "at least 0"),
    ("scheduled-min-provisioned-reads: 11:00-12:00", "HH:MM-HH:MM=N"),
    ("scheduled-min-provisioned-reads: 11:00-25:00=5", "between 00:00 and 23:59"),
    ("scheduled-min-provisioned-reads: 11:00-12:00=0", "at least 1"),
    ("scheduled-min-provisioned-reads: 11:00-12:00=lots", "whole number"),
    ("decrease-planner-percent: -5", "at least 0"),
    ("predictive-scaling: maybe", "true/false"),
])
def test_bad_values_name_file_section_and_option(tmp_path: Path, line: str, wanted: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f"[table: ^t$]\n{line}\n")
    assert caught.value.section == "table: ^t$"
    assert caught.value.option == line.split(":")[0]
    assert wanted in str(caught.value)


def test_a_scheduled_floor_above_the_maximum_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "[default_options]\nmax-provisioned-reads: 100\n"
             "[table: ^t$]\nscheduled-min-provisioned-reads: 08:00-09:00=50, 11:00-13:00=500\n")
    assert caught.value.section == "table: ^t$"
    assert caught.value.option == "scheduled-min-provisioned-reads"
    assert "a floor of 500 is higher than max-provisioned-reads (100)" in str(caught.value)


def test_recommended_configuration_uses_target_mode() -> None:
    config = load_config(str(REPO / "examples" / "recommended.conf"))
    for section in config.tables:
        for options in (section.options, *(gsi.options for gsi in section.gsis)):
            assert options.reads.target_utilisation is not None
            assert options.writes.target_utilisation is not None
