"""The engine against in-memory fakes of its ports: pipeline order, error isolation, counters.

No moto, no network: ``tests/fakes.py`` journals every call, so the order of the pipeline
(discover → observe → decide → act → notify) and what happens around a failing call are
checked directly. The decisions themselves are the policy's (tests/unit/policy).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from dynamic_dynamodb.aws.model import CapacityLimits
from dynamic_dynamodb.breaker import BreakerResult
from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.engine import Engine
from dynamic_dynamodb.policy.counters import Counters
from dynamic_dynamodb.state import State, StateStore
from tests.fakes import FakeAws

NOON = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
TOPIC = "arn:aws:sns:us-east-1:123456789012:ops"


def config(tmp_path: Path, extra: str = "") -> Config:
    path = tmp_path / "dd.conf"
    path.write_text(
        "[global]\nparallel-requests: 1\n"  # calls in a fixed order (the pool is tested apart)
        "[default_options]\n"
        f"sns-topic-arn: {TOPIC}\n"
        "sns-message-types: scale-up, scale-down\n"
        "num-read-checks-before-scale-down: 2\n"
        f"{extra}\n"
        "[table: ^t]\n[gsi: .* table: ^t]\n")
    return load_config(str(path))


def engine(tmp_path: Path, aws: FakeAws, state: State | None = None, *, extra: str = "",
           dry_run: bool = False, breaker_open: bool = False) -> Engine:
    def breaker(*_: object) -> BreakerResult:
        return BreakerResult(not breaker_open, "breaker says so")

    url = "circuit-breaker-url: http://127.0.0.1:9/up\n" if breaker_open else ""
    return Engine(config(tmp_path, extra + url), aws.ports(), state or State(), dry_run=dry_run,
                  clock=lambda: NOON, breaker_check=breaker)


@pytest.fixture
def aws() -> FakeAws:
    fake = FakeAws()
    fake.tables.add("t1", 100, 100, gsis={"g1": (50, 50)})
    fake.tables.add("t2", 100, 100)
    fake.traffic("t1", None, 95, 50)  # reads up
    fake.traffic("t1", "g1", 50, 95)  # GSI writes up
    fake.traffic("t2", None, 95, 50)  # reads up
    return fake


def test_pipeline_order_discover_observe_decide_act_notify(tmp_path: Path, aws: FakeAws) -> None:
    report = engine(tmp_path, aws).run_cycle()
    assert aws.journal.calls == [
        ("ListTables",),
        ("DescribeTable", "t1"),
        ("DescribeTable", "t2"),
        ("DescribeScalableTargets",),  # one listing per cycle
        ("DescribeLimits",),  # at start-up, then once a day
        ("GetMetricData",),  # one batch for every resource of the cycle
        ("UpdateTable", "t1,t1:g1"),  # one request for the table and its GSI (D25)
        ("Publish", TOPIC),
        ("Publish", TOPIC),
        ("UpdateTable", "t2"),
        ("Publish", TOPIC),
    ]
    assert (report.tables, report.gsis, report.updates, report.errors) == (2, 1, 3, 0)
    assert report.calls == {"ListTables": 1, "DescribeTable": 2, "DescribeScalableTargets": 1,
                            "DescribeLimits": 1, "GetMetricData": 1, "UpdateTable": 2,
                            "Publish": 3}
    assert aws.tables.capacity("t1") == (150, 100)
    assert aws.tables.capacity("t1", "g1") == (50, 75)


def test_a_failing_describe_skips_only_that_table(tmp_path: Path, aws: FakeAws,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    aws.journal.fail("DescribeTable", "AccessDeniedException", subject="t1")
    with caplog.at_level(logging.ERROR):
        report = engine(tmp_path, aws).run_cycle()
    assert aws.tables.capacity("t2") == (150, 100)
    assert aws.tables.capacity("t1") == (100, 100)
    assert report.errors == 1
    assert "t1 - DescribeTable failed: AccessDeniedException" in caplog.text


def test_a_failing_update_never_stops_the_others(tmp_path: Path, aws: FakeAws,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    aws.journal.fail("UpdateTable", "ValidationException", subject="t1,t1:g1")
    with caplog.at_level(logging.ERROR):
        report = engine(tmp_path, aws).run_cycle()
    assert aws.tables.capacity("t1") == (100, 100)
    assert aws.tables.capacity("t1", "g1") == (50, 50)  # the same request: nothing applied
    assert aws.tables.capacity("t2") == (150, 100)
    assert (report.updates, report.errors) == (1, 1)
    assert "t1 - UpdateTable failed: ValidationException" in caplog.text
    assert aws.journal.operations().count("Publish") == 1  # no SNS for the failed update


def test_a_metrics_failure_fails_the_cycle_without_any_update(tmp_path: Path,
                                                              aws: FakeAws) -> None:
    aws.journal.fail("GetMetricData", "InternalServiceError")
    report = engine(tmp_path, aws).run_cycle()
    assert "UpdateTable" not in aws.journal.operations()
    assert report.errors == 3  # every resource of the cycle went unchecked


def test_dry_run_sends_nothing(tmp_path: Path, aws: FakeAws) -> None:
    report = engine(tmp_path, aws, dry_run=True).run_cycle()
    assert set(aws.journal.operations()) == {"ListTables", "DescribeTable", "GetMetricData",
                                             "DescribeScalableTargets", "DescribeLimits"}
    assert report.updates == 0


def test_counters_count_a_wanted_decrease_and_reset_when_it_is_applied(
    tmp_path: Path, aws: FakeAws,
) -> None:
    aws.traffic("t2", None, 10, 50)
    state = State()
    engine(tmp_path, aws, state).run_cycle()
    assert state.counters("t2") == Counters(1, 0)
    assert aws.tables.capacity("t2") == (100, 100)
    engine(tmp_path, aws, state).run_cycle()
    assert aws.tables.capacity("t2") == (50, 100)
    assert state.counters("t2") == Counters(0, 0)


def test_a_decrease_refused_by_dynamodb_keeps_the_count(tmp_path: Path, aws: FakeAws) -> None:
    aws.traffic("t2", None, 10, 50)
    state = State()
    state.set_counters("t2", Counters(1, 0))
    aws.journal.fail("UpdateTable", "ResourceInUseException", subject="t2")
    engine(tmp_path, aws, state).run_cycle()
    assert aws.tables.capacity("t2") == (100, 100)
    assert state.counters("t2") == Counters(2, 0)  # counted, not reset (D5)


def test_limit_exceeded_on_a_decrease_retries_with_the_increases_only(
    tmp_path: Path, aws: FakeAws,
) -> None:
    aws.traffic("t2", None, 10, 95)  # reads down (check 2/2), writes up
    state = State()
    state.set_counters("t2", Counters(1, 0))
    aws.journal.fail("UpdateTable", "LimitExceededException", subject="t2")
    report = engine(tmp_path, aws, state).run_cycle()
    assert aws.tables.capacity("t2") == (100, 150)
    assert aws.journal.calls.count(("UpdateTable", "t2")) == 2
    assert report.errors == 0
    assert state.own_record("t2", NOON).decrease_refused == NOON
    assert state.counters("t2") == Counters(2, 0)


def test_an_open_breaker_resets_counters_and_skips(tmp_path: Path, aws: FakeAws) -> None:
    state = State()
    state.set_counters("t2", Counters(1, 1))
    report = engine(tmp_path, aws, state, breaker_open=True).run_cycle()
    assert "UpdateTable" not in aws.journal.operations()
    assert state.counters("t2") == Counters(0, 0)
    assert report.skipped == 3


def test_not_active_and_on_demand_tables_are_skipped(tmp_path: Path, aws: FakeAws) -> None:
    aws.tables.add("t3", 100, 100, status="UPDATING")
    aws.tables.add("t4", 0, 0, billing_mode="PAY_PER_REQUEST")
    report = engine(tmp_path, aws).run_cycle()
    assert ("UpdateTable", "t3") not in aws.journal.calls
    assert ("UpdateTable", "t4") not in aws.journal.calls
    assert report.skipped == 2


def test_a_table_missing_from_the_listing_is_forgotten_only_after_a_day(
        tmp_path: Path, aws: FakeAws) -> None:
    state = State()
    state.set_counters("gone", Counters(2, 0))
    engine(tmp_path, aws, state).run_cycle()  # one listing without it is no proof
    assert state.data["resources"]["gone"]["missing_since"] == NOON.isoformat()
    assert state.counters("gone") == Counters(2, 0)
    later = Engine(config(tmp_path), aws.ports(), state, clock=lambda: NOON + timedelta(days=1))
    later.run_cycle()
    assert "gone" not in state.data["resources"]


def test_a_table_dynamodb_says_does_not_exist_is_forgotten_at_once(
        tmp_path: Path, aws: FakeAws) -> None:
    state = State()
    state.set_counters("t2", Counters(2, 0))
    aws.journal.fail("DescribeTable", "ResourceNotFoundException", subject="t2")
    engine(tmp_path, aws, state).run_cycle()
    assert "t2" not in state.data["resources"]


def quota_refusal(next_at: str) -> str:
    return ("Subscriber limit exceeded: Provisioned throughput decreases are limited within a "
            "given UTC day. After the first 4 decreases, each subsequent decrease in the same UTC "
            "day can be performed at most once every 3600 seconds. Number of decreases today: 4. "
            "Last decrease at Sunday, November 22, 2026 at 11:40:00 AM Coordinated Universal "
            f"Time. Next decrease can be made at {next_at}")


def test_a_quota_refusal_waits_for_the_time_dynamodb_names(tmp_path: Path, aws: FakeAws) -> None:
    aws.traffic("t2", None, 10, 95)
    state = State()
    state.set_counters("t2", Counters(1, 0))
    aws.journal.fail("UpdateTable", "LimitExceededException", subject="t2",
                     message=quota_refusal("Sunday, November 22, 2026 at 12:40:00 PM "
                                           "Coordinated Universal Time"))
    engine(tmp_path, aws, state).run_cycle()
    assert aws.tables.capacity("t2") == (100, 150)  # the increase went through alone
    record = state.own_record("t2", NOON)
    assert record.next_decrease == datetime(2026, 11, 22, 12, 40, tzinfo=timezone.utc)
    # The next cycle does not even try the decrease before 12:40 ...
    aws.traffic("t2", None, 10, 50)
    engine(tmp_path, aws, state).run_cycle()
    assert ("UpdateTable", "t2") not in aws.journal.calls[-3:]
    assert aws.tables.capacity("t2") == (100, 150)


def test_too_many_operations_is_not_a_quota_refusal(tmp_path: Path, aws: FakeAws) -> None:
    aws.traffic("t2", None, 10, 50)
    state = State()
    state.set_counters("t2", Counters(1, 0))
    aws.journal.fail("UpdateTable", "LimitExceededException", subject="t2",
                     message="Subscriber limit exceeded: Only 10 tables can be created, updated, "
                             "or deleted simultaneously")
    report = engine(tmp_path, aws, state).run_cycle()
    assert aws.journal.calls.count(("UpdateTable", "t2")) == 1  # no retry this cycle
    assert state.own_record("t2", NOON).decrease_refused is None  # no quota penalty
    assert state.counters("t2") == Counters(2, 0)
    assert report.errors == 0 and report.skipped == 1
    engine(tmp_path, aws, state).run_cycle()  # next cycle: tried again, and done
    assert aws.tables.capacity("t2") == (50, 100)


def test_increases_stop_at_dynamodbs_capacity_limits(tmp_path: Path, aws: FakeAws,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    aws.tables.limits = CapacityLimits(120, 40000, 80000, 80000)
    with caplog.at_level(logging.WARNING):
        engine(tmp_path, aws).run_cycle()
    assert aws.tables.capacity("t1") == (120, 100)
    assert aws.tables.capacity("t2") == (120, 100)
    assert "t1 - Reads: increase capped at 120 by DynamoDB's capacity limit" in caplog.text


def test_the_account_limit_leaves_room_for_what_is_provisioned(tmp_path: Path,
                                                               aws: FakeAws) -> None:
    # 250 reads provisioned in all (t1 100, g1 50, t2 100): 40 more fit under 290.
    aws.tables.limits = CapacityLimits(40000, 40000, 290, 80000)
    engine(tmp_path, aws).run_cycle()
    assert aws.tables.capacity("t1")[0] == 140
    assert aws.tables.capacity("t2")[0] == 140


def test_global_tables_and_autoscaled_resources_are_left_alone(
    tmp_path: Path, aws: FakeAws, caplog: pytest.LogCaptureFixture,
) -> None:
    aws.tables.add("t3", 100, 100, replicas=("eu-west-1", "us-east-1"))
    aws.traffic("t3", None, 95, 50)
    aws.scaling.targets = {"table/t2", "table/t1/index/g1"}
    with caplog.at_level(logging.INFO):
        report = engine(tmp_path, aws).run_cycle()
    updates = [call for call in aws.journal.calls if call[0] == "UpdateTable"]
    assert updates == [("UpdateTable", "t1")]  # t1 itself only: its GSI and t2 are AWS's
    assert "t3 - Table is a global table (replicas in eu-west-1, us-east-1)" in caplog.text
    assert "t2 - Has an Application Auto Scaling scalable target" in caplog.text
    assert "t1 - GSI: g1 - Has an Application Auto Scaling scalable target" in caplog.text
    assert report.skipped == 3


def test_denied_scalable_targets_listing_is_a_warning_once(
    tmp_path: Path, aws: FakeAws, caplog: pytest.LogCaptureFixture,
) -> None:
    aws.journal.fail("DescribeScalableTargets", "AccessDeniedException", times=2)
    runs = engine(tmp_path, aws)
    with caplog.at_level(logging.WARNING):
        first = runs.run_cycle()
        runs.run_cycle()
    assert first.errors == 0
    assert caplog.text.count("Cannot list Application Auto Scaling targets") == 1
    assert aws.journal.operations().count("DescribeScalableTargets") == 2  # asked each cycle
    assert aws.tables.capacity("t2") == (150, 100)  # scaled anyway


def test_a_table_with_an_updating_index_gets_no_update(tmp_path: Path, aws: FakeAws,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    description = aws.tables.tables["t1"]
    aws.tables.tables["t1"] = replace(description, gsis=tuple(
        replace(index, status="UPDATING") for index in description.gsis))
    with caplog.at_level(logging.INFO):
        report = engine(tmp_path, aws).run_cycle()
    assert not [call for call in aws.journal.calls if call == ("UpdateTable", "t1")]
    assert "t1 - Table is busy (GSI g1), not ACTIVE; skipping it and its GSIs" in caplog.text
    assert report.skipped == 1


def test_incomplete_metrics_hold_decreases_but_not_increases(
    tmp_path: Path, aws: FakeAws, caplog: pytest.LogCaptureFixture,
) -> None:
    aws.traffic("t2", None, 10, 95)
    aws.metrics.incomplete.add(("t2", None, "ReadThrottleEvents"))
    state = State()
    state.set_counters("t2", Counters(1, 0))
    with caplog.at_level(logging.WARNING):
        engine(tmp_path, aws, state).run_cycle()
    assert aws.tables.capacity("t2") == (100, 150)
    assert "t2 - Reads: CloudWatch did not return complete ReadThrottleEvents" in caplog.text


def test_hot_key_throttles_never_ask_for_capacity(tmp_path: Path, aws: FakeAws,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    aws.traffic("t2", None, 50, 50)
    aws.metrics.set("t2", None, "ReadThrottleEvents", 40)
    aws.metrics.set("t2", None, "ReadKeyRangeThroughputThrottleEvents", 40)
    aws.metrics.set("t2", None, "ConsumedReadCapacityUnits", 1500, stat="SampleCount")
    with caplog.at_level(logging.WARNING):
        engine(tmp_path, aws, extra="throttled-reads-upper-threshold: 10").run_cycle()
    assert aws.tables.capacity("t2") == (100, 100)
    assert "t2 - Reads: 40 of 40 throttle events were hot-key (key range) throttles" in caplog.text
    # a quiet cycle makes one metrics call; throttles make a second one, for that resource only
    assert aws.journal.operations().count("GetMetricData") == 2


@pytest.mark.parametrize("workers", [1, 4])
def test_tables_are_described_in_parallel_but_logged_in_name_order(
    tmp_path: Path, workers: int, caplog: pytest.LogCaptureFixture,
) -> None:
    aws = FakeAws()
    names = [f"t{n:02d}" for n in range(12)]
    for name in reversed(names):
        aws.tables.add(name, 100, 100)
        aws.traffic(name, None, 95, 50)
    aws.journal.fail("DescribeTable", "AccessDeniedException", subject="t05")
    path = tmp_path / "dd.conf"
    path.write_text(f"[global]\nparallel-requests: {workers}\n[table: ^t]\n")
    with caplog.at_level(logging.INFO):
        report = Engine(load_config(str(path)), aws.ports(), State(), dry_run=True,
                        clock=lambda: NOON).run_cycle()
    assert report.errors == 1 and report.tables == 11
    updating = [record.getMessage().split(" - ")[0] for record in caplog.records
                if "Updating provisioning" in record.getMessage()]
    assert updating == [name for name in names if name != "t05"]
    assert "t05 - DescribeTable failed: AccessDeniedException" in caplog.text
    assert aws.journal.operations().count("DescribeTable") == 12


def test_a_quiet_cycle_asks_two_metrics_per_resource(tmp_path: Path, aws: FakeAws) -> None:
    # t1 reads up, its GSI writes up, t2 reads up: no decrease wanted, no throttle option.
    report = engine(tmp_path, aws).run_cycle()
    assert report.metrics_requested == 3 * 2
    assert aws.journal.operations().count("GetMetricData") == 1


def test_throttles_are_asked_where_a_decrease_is_wanted_and_still_veto_it(
    tmp_path: Path, aws: FakeAws,
) -> None:
    aws.traffic("t2", None, 10, 50)  # reads want a decrease (counter 1/2 -> 2/2)
    aws.metrics.set("t2", None, "ReadThrottleEvents", 3)
    state = State()
    state.set_counters("t2", Counters(1, 0))
    report = engine(tmp_path, aws, state).run_cycle()
    assert aws.tables.capacity("t2") == (100, 100)  # D8: throttled, no decrease
    # 6 consumed metrics, then t2's read throttles, then its request count and hot keys
    assert report.metrics_requested == 6 + 1 + 2
    assert aws.journal.operations().count("GetMetricData") == 3


def test_throttles_are_always_asked_where_they_can_trigger_an_increase(
    tmp_path: Path, aws: FakeAws,
) -> None:
    report = engine(tmp_path, aws, extra="throttled-writes-upper-threshold: 5").run_cycle()
    assert report.metrics_requested == 3 * 3  # consumed reads and writes, write throttles


def error_streak_config(tmp_path: Path) -> Path:
    """A config that tells a streak of 2 failures to the error topic."""
    path = tmp_path / "dd.conf"
    path.write_text("[global]\nerror-after-failed-cycles: 2\nparallel-requests: 1\n"
                    f"[table: ^t]\nsns-topic-arn: {TOPIC}\nsns-message-types: error\n")
    return path


def test_a_table_failing_the_same_way_is_told_once_per_streak(
    tmp_path: Path, aws: FakeAws, caplog: pytest.LogCaptureFixture,
) -> None:
    path = error_streak_config(tmp_path)
    runs = Engine(load_config(str(path)), aws.ports(), State(), clock=lambda: NOON)
    aws.journal.fail("DescribeTable", "AccessDeniedException", subject="t2", times=5)
    with caplog.at_level(logging.ERROR):
        for _ in range(4):
            runs.run_cycle()
    errors = [call for call in aws.notifier.published if "error" in call[1]]
    assert errors == [(TOPIC, "dynamic-dynamodb error: t2: DescribeTable failing",
                       "t2 - DescribeTable has failed with AccessDeniedException in 2 checks in "
                       "a row; that table or GSI is not being scaled. The log has the details.\n")]
    assert "t2 - DescribeTable has failed with AccessDeniedException in 2 cycles in a row" \
        in caplog.text


def test_a_streak_counts_across_cron_runs_through_the_state(
    tmp_path: Path, aws: FakeAws, caplog: pytest.LogCaptureFixture,
) -> None:
    path = error_streak_config(tmp_path)
    store = StateStore(str(tmp_path / "state.json"))
    aws.journal.fail("DescribeTable", "AccessDeniedException", subject="t2", times=5)
    with caplog.at_level(logging.ERROR):
        for _ in range(3):  # three --run-once processes: a new engine each, the state between
            state = store.load()
            Engine(load_config(str(path)), aws.ports(), state, clock=lambda: NOON).run_cycle()
            store.save(state)
    errors = [call for call in aws.notifier.published if "error" in call[1]]
    assert [subject for _, subject, _ in errors] == [
        "dynamic-dynamodb error: t2: DescribeTable failing"]
    assert "in 2 cycles in a row" in caplog.text


def test_process_wide_errors_go_to_every_topic_that_wants_them(tmp_path: Path,
                                                               aws: FakeAws) -> None:
    path = tmp_path / "dd.conf"
    path.write_text(f"[table: ^t1]\nsns-topic-arn: {TOPIC}\nsns-message-types: error\n"
                    f"[table: ^t2]\nsns-topic-arn: {TOPIC}2\nsns-message-types: scale-up\n")
    Engine(load_config(str(path)), aws.ports(), State()).notify_error("no successful cycle",
                                                                       "detail\n")
    assert aws.notifier.published == [
        (TOPIC, "dynamic-dynamodb error: no successful cycle", "detail\n")]
