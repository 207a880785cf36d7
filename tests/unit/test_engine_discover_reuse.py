"""Engine.discover reuses a table's group while DescribeTable answers the very same description:
it must still see every change. A new description (capacity, a GSI added or removed, a status),
a table Application Auto Scaling starts (or stops) managing, and a replaced configuration each
give the group a fresh look; what the reuse keeps (the GSIs prune compares with) is kept too.

The fakes (tests/fakes.py) answer DescribeTable with the stored description object until a
change (``add``, an UpdateTable) puts a new one in its place, as a boto3 answer would differ.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from dynamic_dynamodb.breaker import BreakerResult
from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.engine import CycleReport, Engine, TableGroup
from dynamic_dynamodb.policy.counters import Counters
from dynamic_dynamodb.state import State
from tests.fakes import FakeAws

NOON = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
SECTIONS = "[table: ^t]\n[gsi: .* table: ^t]\n"


def config(tmp_path: Path, sections: str = SECTIONS, name: str = "dd.conf") -> Config:
    path = tmp_path / name
    path.write_text("[global]\nparallel-requests: 1\n[default_options]\n"
                    "num-read-checks-before-scale-down: 2\n" + sections)
    return load_config(str(path))


def closed_breaker(*_: object) -> BreakerResult:
    return BreakerResult(True, "closed")


def engine(tmp_path: Path, aws: FakeAws, state: State | None = None) -> Engine:
    return Engine(config(tmp_path), aws.ports(), state or State(), clock=lambda: NOON,
                  breaker_check=closed_breaker)


def discover(runs: Engine) -> tuple[dict[str, TableGroup], CycleReport]:
    report = CycleReport()
    return {group.table: group for group in runs.discover(report)}, report


def members(group: TableGroup) -> dict[str | None, tuple[int, int]]:
    """GSI (None: the table) -> (reads, writes) the group holds."""
    return {resource.gsi: (resource.capacity.reads, resource.capacity.writes)
            for resource in group.resources}


@pytest.fixture
def aws() -> FakeAws:
    fake = FakeAws()
    fake.tables.add("t1", 100, 100, gsis={"g1": (50, 50)})
    fake.tables.add("t2", 100, 100)
    return fake


def test_an_unchanged_description_gives_the_same_group(tmp_path: Path, aws: FakeAws) -> None:
    runs = engine(tmp_path, aws)
    first, _ = discover(runs)
    second, report = discover(runs)
    assert second == first
    assert members(second["t1"]) == {None: (100, 100), "g1": (50, 50)}
    assert report.skipped == report.errors == 0


def test_a_new_capacity_is_seen(tmp_path: Path, aws: FakeAws) -> None:
    runs = engine(tmp_path, aws)
    discover(runs)
    aws.tables.add("t1", 300, 100, gsis={"g1": (50, 70)})  # changed by someone else
    groups, _ = discover(runs)
    assert members(groups["t1"]) == {None: (300, 100), "g1": (50, 70)}
    assert members(groups["t2"]) == {None: (100, 100)}


def test_the_engines_own_update_is_seen_by_the_next_cycle(tmp_path: Path, aws: FakeAws) -> None:
    runs = engine(tmp_path, aws)
    aws.traffic("t1", None, 95, 50)
    assert runs.run_cycle().updates == 1
    assert aws.tables.capacity("t1") == (150, 100)
    groups, _ = discover(runs)
    assert members(groups["t1"]) == {None: (150, 100), "g1": (50, 50)}
    # The next cycle starts from 150: 95 % of it asks for 225, not 150 again.
    aws.traffic("t1", None, 95, 50)
    runs.run_cycle()
    assert aws.tables.capacity("t1") == (225, 100)


def test_a_gsi_added_or_removed_is_seen(tmp_path: Path, aws: FakeAws) -> None:
    state = State()
    runs = engine(tmp_path, aws, state)
    discover(runs)
    aws.tables.add("t1", 100, 100, gsis={"g1": (50, 50), "g2": (20, 30)})
    groups, _ = discover(runs)
    assert members(groups["t1"]) == {None: (100, 100), "g1": (50, 50), "g2": (20, 30)}
    discover(runs)
    aws.tables.add("t1", 100, 100, gsis={"g2": (20, 30)})
    groups, _ = discover(runs)
    assert members(groups["t1"]) == {None: (100, 100), "g2": (20, 30)}


def test_prune_compares_with_the_gsis_of_the_description_in_use(tmp_path: Path,
                                                                aws: FakeAws) -> None:
    state = State()
    state.set_counters("t1:g1", Counters(1, 1))
    runs = engine(tmp_path, aws, state)
    runs.run_cycle()
    runs.run_cycle()  # the description is reused: g1 is still known to exist
    assert "t1:g1" in state.data["resources"]
    aws.tables.add("t1", 100, 100)  # the GSI was deleted
    runs.run_cycle()
    assert "t1:g1" not in state.data["resources"]


def test_a_table_that_becomes_busy_or_on_demand_is_skipped(tmp_path: Path, aws: FakeAws) -> None:
    runs = engine(tmp_path, aws)
    discover(runs)
    aws.tables.tables["t1"] = replace(aws.tables.tables["t1"], status="UPDATING")
    aws.tables.tables["t2"] = replace(aws.tables.tables["t2"], billing_mode="PAY_PER_REQUEST")
    groups, report = discover(runs)
    assert groups == {}
    assert report.skipped == 2


def test_a_failing_describe_after_a_reused_cycle_is_an_error(tmp_path: Path,
                                                             aws: FakeAws) -> None:
    runs = engine(tmp_path, aws)
    discover(runs)
    discover(runs)
    aws.journal.fail("DescribeTable", "AccessDeniedException", subject="t1")
    groups, report = discover(runs)
    assert set(groups) == {"t2"}
    assert report.errors == 1
    groups, report = discover(runs)  # answered again: the table is back
    assert members(groups["t1"]) == {None: (100, 100), "g1": (50, 50)}
    assert report.errors == 0


# -- Application Auto Scaling ---------------------------------------------------------------
# The listing is asked once per cycle, by the first table that needs it: with t1 and t2 both
# unchanged, t1 asks it (inside the reuse) and t2 finds it already there, so both orders are
# covered by making t1, then t2, the autoscaled one.
@pytest.mark.parametrize("target", ["table/t1", "table/t2", "table/t1/index/g1"])
def test_a_table_that_becomes_autoscaled_is_skipped_and_counted(
        tmp_path: Path, aws: FakeAws, target: str, caplog: pytest.LogCaptureFixture) -> None:
    runs = engine(tmp_path, aws)
    discover(runs)
    discover(runs)  # unchanged twice: the groups are the reused ones now
    aws.scaling.targets = {target}
    with caplog.at_level(logging.WARNING):
        groups, report = discover(runs)
    assert report.skipped == 1
    assert "Has an Application Auto Scaling scalable target" in caplog.text
    expected = {"t1": {None: (100, 100), "g1": (50, 50)}, "t2": {None: (100, 100)}}
    if target == "table/t1":
        del expected["t1"][None]
    elif target == "table/t2":
        del expected["t2"]
    else:
        del expected["t1"]["g1"]
    assert {name: members(group) for name, group in groups.items()} == expected
    # Still autoscaled next cycle: skipped and counted again, never reused as managed.
    groups, report = discover(runs)
    assert report.skipped == 1
    assert {name: members(group) for name, group in groups.items()} == expected
    # AWS's scaler let go of it: managed again.
    aws.scaling.targets = set()
    groups, report = discover(runs)
    assert report.skipped == 0
    assert {name: members(group) for name, group in groups.items()} == {
        "t1": {None: (100, 100), "g1": (50, 50)}, "t2": {None: (100, 100)}}


def test_an_autoscaled_table_gets_no_update_although_its_description_is_unchanged(
        tmp_path: Path, aws: FakeAws) -> None:
    runs = engine(tmp_path, aws)
    runs.run_cycle()  # nothing to do: the groups are kept for the next cycle
    aws.traffic("t1", None, 95, 50)
    aws.traffic("t2", None, 95, 50)
    aws.scaling.targets = {"table/t1", "table/t2"}
    report = runs.run_cycle()
    assert "UpdateTable" not in aws.journal.operations()
    assert report.skipped == 2
    assert (report.tables, report.gsis) == (0, 1)  # t1's GSI alone is still checked


def test_a_failing_autoscaling_listing_after_reuse_is_counted(tmp_path: Path,
                                                              aws: FakeAws) -> None:
    runs = engine(tmp_path, aws)
    discover(runs)
    aws.journal.fail("DescribeScalableTargets", "InternalFailure")
    groups, report = discover(runs)
    assert report.errors == 1
    assert set(groups) == {"t1", "t2"}


# -- a replaced configuration ---------------------------------------------------------------
def test_a_replaced_config_is_used_for_unchanged_descriptions(tmp_path: Path,
                                                              aws: FakeAws) -> None:
    runs = engine(tmp_path, aws)
    first, _ = discover(runs)
    assert {resource.section for resource in first["t1"].resources} == {"table: ^t",
                                                                        "gsi: .* table: ^t"}
    # A reload: t1 in its own section with other options, no [gsi:] section, t2 unmatched.
    runs.config = config(tmp_path, "[table: ^t1$]\nmin-provisioned-reads: 120\n",
                         name="reloaded.conf")
    groups, _ = discover(runs)
    assert set(groups) == {"t1"}
    (resource,) = groups["t1"].resources
    assert (resource.gsi, resource.section) == (None, "table: ^t1$")
    assert resource.options is runs.config.tables[0].options
    assert resource.options.reads.min_provisioned == 120
    # And back to the first configuration (a new object again).
    runs.config = config(tmp_path, name="again.conf")
    groups, _ = discover(runs)
    assert {name: members(group) for name, group in groups.items()} == {
        "t1": {None: (100, 100), "g1": (50, 50)}, "t2": {None: (100, 100)}}
    assert all(resource.options.reads.min_provisioned != 120
               for group in groups.values() for resource in group.resources)


def test_a_replaced_config_decides_with_its_options(tmp_path: Path, aws: FakeAws) -> None:
    runs = engine(tmp_path, aws)
    runs.run_cycle()
    runs.run_cycle()
    runs.config = config(tmp_path, "[table: ^t]\nmin-provisioned-reads: 120\n"
                         "[gsi: .* table: ^t]\n", name="reloaded.conf")
    aws.traffic("t2", None, 50, 50)
    runs.run_cycle()
    assert aws.tables.capacity("t2") == (120, 100)  # raised to the new minimum
