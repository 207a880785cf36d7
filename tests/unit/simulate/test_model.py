"""The DynamoDB capacity model: burst bucket, throttling, update delays, the decrease rule,
one UpdateTable for a table and its GSIs, UPDATING and ResourceInUse."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from dynamic_dynamodb.aws.dynamodb import LimitCause, classify_limit_exceeded, parse_aws_time
from dynamic_dynamodb.aws.model import CapacityChange, CapacityLimits
from dynamic_dynamodb.simulate.model import CapacityModel, ModelError, aws_date
from dynamic_dynamodb.simulate.trace import ResourceTrace, Trace
from tests.unit.simulate.helpers import START, one_table


def model_of(reads: list[float], *, initial: int = 10, update_delay: float = 60.0,
             start: datetime | None = None, new_peak_delay: float | None = None,
             **options: Any) -> CapacityModel:
    """One table; a new peak takes no longer than any update unless ``new_peak_delay``."""
    kwargs = {"start": start} if start else {}
    trace = one_table(reads, initial=(initial, initial), **kwargs)
    return CapacityModel(trace, {"my_table": {"reads": initial, "writes": initial}},
                         update_delay=update_delay,
                         new_peak_delay=update_delay if new_peak_delay is None else new_peak_delay,
                         **options)


def test_burst_drains_then_throttles_then_refills() -> None:
    # 10 RCU: the bucket starts full at 300 s x 10 = 3,000 CU. Demand 20 CU/s takes 600 CU a
    # minute beyond capacity, so 5 minutes empty it and the 6th throttles 600 CU.
    model = model_of([20] * 6 + [0] + [20, 20])
    model.advance_to(model.end)
    resource = model.resources["my_table"]
    assert resource.throttled["reads"][:5] == [0.0] * 5
    assert resource.throttled["reads"][5] == pytest.approx(600)
    assert resource.consumed["reads"][5] == pytest.approx(600)
    # An idle minute puts 600 unused CU back in the bucket: one more full minute is served.
    assert resource.throttled["reads"][6] == 0
    assert resource.consumed["reads"][7] == pytest.approx(1200)
    assert resource.throttled["reads"][7] == 0
    assert resource.throttled["reads"][8] == pytest.approx(600)


def test_bucket_never_holds_more_than_300_seconds() -> None:
    # Ten idle minutes would add 6,000 CU; the bucket stays at 3,000, so the burst that follows
    # is served for exactly 5 minutes.
    model = model_of([0] * 10 + [20] * 6)
    model.advance_to(model.end)
    throttled = model.resources["my_table"].throttled["reads"]
    assert throttled[10:15] == [0.0] * 5
    assert throttled[15] == pytest.approx(600)


def test_throttling_beyond_capacity_and_burst() -> None:
    # 25 CU/s on 10 RCU: 900 CU short a minute; the 3,000 CU bucket covers 3 minutes and 300
    # CU of the 4th, which throttles 600 CU.
    model = model_of([25] * 4)
    model.advance_to(model.end)
    resource = model.resources["my_table"]
    assert resource.throttled["reads"] == pytest.approx([0, 0, 0, 600])
    assert resource.consumed["reads"] == pytest.approx([1500, 1500, 1500, 900])
    assert resource.capacity_seconds["reads"] == pytest.approx([600] * 4)


def test_update_takes_effect_after_the_delay_and_blocks_a_second_update() -> None:
    model = model_of([5] * 4)
    model.advance_to(30)
    model.update("my_table", 20, 10)
    assert model.table_updating("my_table")
    with pytest.raises(ModelError) as refused:
        model.update("my_table", 30, 10)
    assert refused.value.code == "ResourceInUseException"
    model.advance_to(model.end)
    capacity = model.resources["my_table"].capacity_seconds["reads"]
    # Effective at 90 s: minute 1 is half at 10 and half at 20 RCU.
    assert capacity == pytest.approx([600, 30 * 10 + 30 * 20, 1200, 1200])
    assert not model.table_updating("my_table")
    assert model.resources["my_table"].updates == 1


def test_decrease_rule_four_free_then_hourly_and_reset_at_utc_midnight() -> None:
    start = datetime(2024, 1, 1, 22, 0, tzinfo=timezone.utc)
    model = model_of([1] * 240, initial=100, update_delay=0, start=start)
    resource = model.resources["my_table"]

    def decrease_at(hour: int, minute: int) -> None:
        at = datetime(2024, 1, 1 if hour >= 22 else 2, hour, minute, tzinfo=timezone.utc)
        model.advance_to((at - start) / timedelta(seconds=1))
        model.update("my_table", resource.provisioned["reads"] - 1, 100)

    for minute in range(4):  # the 4 free ones, back to back
        decrease_at(22, minute)
    with pytest.raises(ModelError) as refused:
        decrease_at(22, 10)
    assert refused.value.code == "LimitExceededException"
    decrease_at(23, 3)  # an hour after the 4th
    with pytest.raises(ModelError):
        decrease_at(23, 30)
    # 00:00 UTC: a new day, 4 free again, even though the last one was 57 minutes ago.
    for minute in range(4):
        decrease_at(0, minute)
    with pytest.raises(ModelError):
        decrease_at(0, 5)
    assert resource.decreases == 9
    assert resource.limit_exceeded == 3
    assert resource.provisioned["reads"] == 91


def test_an_increase_is_never_limited_by_the_decrease_rule() -> None:
    model = model_of([1] * 10, initial=100, update_delay=0)
    for step in range(4):  # spend the 4 free decreases
        model.advance_to(step * 60)
        model.update("my_table", 99 - step, 100)
    model.advance_to(300)
    with pytest.raises(ModelError):
        model.update("my_table", 90, 100)
    model.update("my_table", 96, 150)  # more writes, same reads: accepted
    model.advance_to(360)
    model.update("my_table", 500, 150)
    resource = model.resources["my_table"]
    assert resource.provisioned == {"reads": 500, "writes": 150}
    assert (resource.updates, resource.decreases, resource.limit_exceeded) == (6, 4, 1)


def test_the_models_decrease_rule_agrees_with_the_policys_budget_on_a_grid() -> None:
    """Two independent implementations of DynamoDB's rule, so neither can hide the other's bug."""
    from dynamic_dynamodb.policy.budget import BudgetRules, DecreaseLedger, decrease_verdict
    from dynamic_dynamodb.simulate.model import aws_allows_decrease

    now = datetime(2026, 5, 6, 12, 0, tzinfo=timezone.utc)
    checked = 0
    for count in range(0, 30):
        for minutes_ago in (None, 0, 1, 30, 59, 60, 61, 90, 11 * 60 + 59, 12 * 60, 13 * 60, 26 * 60):
            last = None if minutes_ago is None else now - timedelta(minutes=minutes_ago)
            if last is None and count:
                continue
            policy = decrease_verdict(DecreaseLedger(count, last), now, BudgetRules()).allowed
            assert aws_allows_decrease(count, last, now) == policy, (count, minutes_ago)
            checked += 1
    assert checked > 300


# -- one UpdateTable for a table and its GSIs ---------------------------------------------------
def table_with_gsi(minutes: int = 240, *, start: datetime = START, update_delay: float = 0.0,
                   new_peak_delay: float | None = None, **options: Any) -> CapacityModel:
    """``my_table`` (100/100) with the GSI ``my_gsi`` (50/50), both idle at 1 CU/s."""
    trace = Trace(start=start, minutes=minutes, resources=(
        ResourceTrace("my_table", None, (1.0,) * minutes, (1.0,) * minutes, 100, 100),
        ResourceTrace("my_table", "my_gsi", (1.0,) * minutes, (1.0,) * minutes, 50, 50),
    ))
    return CapacityModel(trace, {"my_table": {"reads": 100, "writes": 100},
                                 "my_table:my_gsi": {"reads": 50, "writes": 50}},
                         update_delay=update_delay,
                         new_peak_delay=update_delay if new_peak_delay is None else new_peak_delay,
                         **options)


def capacities(model: CapacityModel) -> dict[str, tuple[int, int]]:
    return {key: (r.provisioned["reads"], r.provisioned["writes"])
            for key, r in model.resources.items()}


def test_one_request_changes_the_table_and_its_gsi_together() -> None:
    model = table_with_gsi()
    model.update_table("my_table", [CapacityChange(None, 90, 120),
                                    CapacityChange("my_gsi", 40, 60)])
    assert capacities(model) == {"my_table": (90, 120), "my_table:my_gsi": (40, 60)}
    table, gsi = model.resources["my_table"], model.resources["my_table:my_gsi"]
    # Each resource's decrease is counted on its own ledger; one request, two changes.
    assert (table.decreases_today, gsi.decreases_today) == (1, 1)
    assert (table.updates, gsi.updates) == (1, 1)
    assert model.outcomes == {"accepted": 1}


def test_a_combined_request_is_all_or_nothing_when_the_gsi_is_over_its_quota() -> None:
    model = table_with_gsi()
    gsi = model.resources["my_table:my_gsi"]
    for minute in range(4):  # the GSI spends its 4 free decreases; the table has all of its own
        model.advance_to(minute * 60)
        model.update_table("my_table", [CapacityChange("my_gsi", 49 - minute, 50)])
    last = model.now_datetime()
    model.advance_to(30 * 60)
    before = capacities(model)
    with pytest.raises(ModelError) as refused:
        model.update_table("my_table", [CapacityChange(None, 90, 100),
                                        CapacityChange("my_gsi", 40, 50)])
    assert refused.value.code == "LimitExceededException"
    # AWS's wording, which the engine reads back for the next allowed time.
    assert refused.value.message == (
        "Subscriber limit exceeded: Provisioned throughput decreases are limited within a given "
        "UTC day. After the first 4 decreases, each subsequent decrease in the same UTC day can "
        "be performed at most once every 3600 seconds. Number of decreases today: 4. Last "
        "decrease at Monday, January 1, 2024 at 12:03:00 AM Coordinated Universal Time. Next "
        "decrease can be made at Monday, January 1, 2024 at 1:03:00 AM Coordinated Universal "
        "Time")
    verdict = classify_limit_exceeded(refused.value.message)
    assert verdict.cause is LimitCause.DECREASE_QUOTA
    assert verdict.next_decrease == last + timedelta(hours=1)
    # Nothing applied: not the table's decrease either, and its ledger is untouched.
    assert capacities(model) == before
    table = model.resources["my_table"]
    assert (table.decreases_today, table.decreases, table.last_decrease) == (0, 0, None)
    assert (table.limit_exceeded, gsi.limit_exceeded) == (0, 1)
    assert not model.table_updating("my_table")
    # The table alone may decrease (its quota is its own), and at the named time both may.
    model.update_table("my_table", [CapacityChange(None, 90, 100)])
    model.advance_to((verdict.next_decrease - START).total_seconds())
    model.update_table("my_table", [CapacityChange(None, 80, 100),
                                    CapacityChange("my_gsi", 40, 50)])
    assert capacities(model) == {"my_table": (80, 100), "my_table:my_gsi": (40, 50)}


def test_an_increase_with_a_refused_decrease_in_the_same_request_is_refused_too() -> None:
    model = table_with_gsi()
    for minute in range(4):
        model.advance_to(minute * 60)
        model.update_table("my_table", [CapacityChange(None, 99 - minute, 100)])
    model.advance_to(600)
    with pytest.raises(ModelError) as refused:
        model.update_table("my_table", [CapacityChange(None, 90, 100),
                                        CapacityChange("my_gsi", 500, 500)])
    assert refused.value.code == "LimitExceededException"
    assert model.resources["my_table:my_gsi"].provisioned == {"reads": 50, "writes": 50}
    # Raising one dimension while lowering the other is a decrease as well.
    with pytest.raises(ModelError):
        model.update_table("my_table", [CapacityChange(None, 200, 90)])


def test_the_quota_message_names_the_later_time_when_both_are_over_quota() -> None:
    model = table_with_gsi()
    for minute in range(4):  # the table's last decrease at 00:03, the GSI's at 00:13
        model.advance_to(minute * 60)
        model.update_table("my_table", [CapacityChange(None, 99 - minute, 100)])
        model.advance_to((minute + 10) * 60)
        model.update_table("my_table", [CapacityChange("my_gsi", 49 - minute, 50)])
    with pytest.raises(ModelError) as refused:
        model.update_table("my_table", [CapacityChange(None, 90, 100),
                                        CapacityChange("my_gsi", 40, 50)])
    verdict = classify_limit_exceeded(refused.value.message)
    assert verdict.next_decrease == START + timedelta(minutes=73)
    assert "Last decrease at Monday, January 1, 2024 at 12:13:00 AM" in refused.value.message
    assert [r.limit_exceeded for r in model.resources.values()] == [1, 1]


def test_after_27_decreases_the_next_one_is_at_utc_midnight() -> None:
    start = datetime(2026, 10, 8, 20, 0, tzinfo=timezone.utc)  # a Thursday
    model = model_of([1.0] * 600, initial=1000, update_delay=0, start=start)
    resource = model.resources["my_table"]
    resource.decreases_today, resource.last_decrease = 27, start - timedelta(hours=2)
    model.touch()
    with pytest.raises(ModelError) as refused:
        model.update("my_table", 900, 1000)
    assert "Number of decreases today: 27" in refused.value.message
    assert refused.value.message.endswith(
        "Next decrease can be made at Friday, October 9, 2026 at 12:00:00 AM Coordinated "
        "Universal Time")
    assert classify_limit_exceeded(refused.value.message).next_decrease == datetime(
        2026, 10, 9, tzinfo=timezone.utc)


def test_aws_date_is_written_as_dynamodb_writes_it_and_parses_back() -> None:
    moment = datetime(2026, 10, 9, 1, 21, 34, tzinfo=timezone.utc)
    assert aws_date(moment) == "Friday, October 9, 2026 at 1:21:34 AM Coordinated Universal Time"
    assert aws_date(moment.replace(hour=13)).endswith("at 1:21:34 PM Coordinated Universal Time")
    assert aws_date(moment.replace(hour=0)).endswith("at 12:21:34 AM Coordinated Universal Time")
    for hour in range(24):
        assert parse_aws_time(aws_date(moment.replace(hour=hour))) == moment.replace(hour=hour)


# -- UPDATING and ResourceInUse -----------------------------------------------------------------
def test_a_gsi_only_change_puts_only_that_index_in_updating() -> None:
    model = table_with_gsi(update_delay=60)
    model.update_table("my_table", [CapacityChange("my_gsi", 40, 50)])
    table, gsi = model.resources["my_table"], model.resources["my_table:my_gsi"]
    assert (table.updating, gsi.updating) == (False, True)
    assert model.table_updating("my_table")  # the table takes no UpdateTable meanwhile
    with pytest.raises(ModelError) as refused:
        model.update_table("my_table", [CapacityChange(None, 200, 100)])
    assert refused.value.code == "ResourceInUseException"
    assert refused.value.message == ("Attempt to change a resource which is still in use: Table "
                                     "is being updated: my_table")
    assert table.resource_in_use == 1
    assert gsi.provisioned["reads"] == 50  # the old capacity until the change takes effect
    model.advance_to(60)
    assert (table.updating, gsi.updating) == (False, False)
    assert gsi.provisioned["reads"] == 40
    model.update_table("my_table", [CapacityChange(None, 200, 100)])
    assert (table.updating, gsi.updating) == (True, False)


def test_a_table_change_puts_the_table_in_updating_and_refuses_a_gsi_change() -> None:
    model = table_with_gsi(update_delay=60)
    model.advance_to(30)
    model.update_table("my_table", [CapacityChange(None, 100, 120)])
    assert (model.resources["my_table"].updating,
            model.resources["my_table:my_gsi"].updating) == (True, False)
    with pytest.raises(ModelError) as refused:
        model.update_table("my_table", [CapacityChange("my_gsi", 60, 50)])
    assert refused.value.code == "ResourceInUseException"
    assert model.outcomes == {"accepted": 1, "ResourceInUseException": 1}
    model.advance_to(89)
    assert model.table_updating("my_table")
    model.advance_to(90)
    assert not model.table_updating("my_table")


def test_refusals_before_the_quota_unknown_index_same_value_and_caps() -> None:
    model = table_with_gsi(limits=CapacityLimits(1000, 1000, 1500, 1500))
    with pytest.raises(ModelError) as refused:
        model.update_table("nope", [CapacityChange(None, 5, 5)])
    assert (refused.value.code, refused.value.message) == (
        "ResourceNotFoundException", "Requested resource not found: Table: nope not found")
    with pytest.raises(ModelError) as refused:
        model.update_table("my_table", [CapacityChange("other", 5, 5)])
    assert (refused.value.code, refused.value.message) == (
        "ResourceNotFoundException", "Requested resource not found: Index: other not found")
    with pytest.raises(ModelError) as refused:
        model.update_table("my_table", [CapacityChange(None, 110, 100),
                                        CapacityChange("my_gsi", 50, 50)])
    assert refused.value.code == "ValidationException"
    assert refused.value.message.startswith(
        "The provisioned throughput for the index my_gsi will not change.")
    with pytest.raises(ModelError) as refused:
        model.update_table("my_table", [CapacityChange(None, 1001, 100)])
    assert refused.value.code == "LimitExceededException"
    assert classify_limit_exceeded(refused.value.message).cause is LimitCause.CAPACITY_CAP
    with pytest.raises(ModelError) as refused:  # 1,000 + 600 reads > 1,500 for the account
        model.update_table("my_table", [CapacityChange(None, 1000, 100),
                                        CapacityChange("my_gsi", 600, 50)])
    assert refused.value.code == "LimitExceededException"
    assert refused.value.message.startswith("This request would have caused the "
                                            "ReadCapacityUnits limit to be exceeded")
    assert classify_limit_exceeded(refused.value.message).cause is LimitCause.CAPACITY_CAP
    model.update_table("my_table", [CapacityChange(None, 1000, 100),  # 1,500: at the limit
                                    CapacityChange("my_gsi", 500, 50)])
    model.update_table("my_table", [CapacityChange(None, 100, 100),
                                    CapacityChange("my_gsi", 50, 50)])
    with pytest.raises(ModelError) as refused:
        model.update_table("my_table", [])
    assert refused.value.code == "ValidationException"
    assert capacities(model) == {"my_table": (100, 100), "my_table:my_gsi": (50, 50)}
    assert model.outcomes["accepted"] == 2
    assert model.outcomes["LimitExceededException"] == 2


# -- a new peak takes longer --------------------------------------------------------------------
def test_a_new_peak_takes_new_peak_delay_and_an_earlier_level_update_delay() -> None:
    model = model_of([1.0] * 60, initial=10, update_delay=60, new_peak_delay=300)
    resource = model.resources["my_table"]
    model.update("my_table", 20, 10)  # above the 10 it has had: a new peak
    model.advance_to(299)
    assert resource.provisioned["reads"] == 10 and resource.updating
    model.advance_to(300)
    assert resource.provisioned["reads"] == 20 and not resource.updating
    model.update("my_table", 15, 10)  # a decrease: the usual delay
    model.advance_to(360)
    assert resource.provisioned["reads"] == 15
    model.update("my_table", 20, 10)  # back up to a level it has had
    model.advance_to(420)
    assert resource.provisioned["reads"] == 20
    model.update("my_table", 20, 11)  # one dimension above its peak is enough
    model.advance_to(480)
    assert resource.updating
    model.advance_to(720)
    assert resource.provisioned == {"reads": 20, "writes": 11}
    assert resource.peak == {"reads": 20, "writes": 11}


def test_a_new_peak_is_never_quicker_than_an_ordinary_update() -> None:
    model = model_of([1.0] * 10, initial=10, update_delay=120, new_peak_delay=30)
    model.update("my_table", 50, 10)
    model.advance_to(119)
    assert model.resources["my_table"].provisioned["reads"] == 10
    model.advance_to(120)
    assert model.resources["my_table"].provisioned["reads"] == 50


def test_the_default_new_peak_delay_is_several_minutes() -> None:
    trace = one_table([1.0] * 10, initial=(10, 10))
    model = CapacityModel(trace, {"my_table": {"reads": 10, "writes": 10}})
    assert (model.update_delay, model.new_peak_delay) == (60.0, 300.0)
    assert model.limits == CapacityLimits(40000, 40000, 80000, 80000)
    assert model.request_units == {"reads": 1.0, "writes": 1.0}


@pytest.mark.parametrize("options", [{"request_units": 0}, {"request_units": -1.0},
                                     {"request_units": {"reads": 1.0}},
                                     {"request_units": float("nan")},
                                     {"new_peak_delay": -1.0}, {"update_delay": -5.0}])
def test_bad_model_settings_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        model_of([1.0], **options)
