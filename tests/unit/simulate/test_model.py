"""The DynamoDB capacity model: burst bucket, throttling, update delay, the decrease rule."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dynamic_dynamodb.simulate.model import CapacityModel, ModelError
from tests.unit.simulate.helpers import one_table


def model_of(reads: list[float], *, initial: int = 10, update_delay: float = 60.0,
             start: datetime | None = None) -> CapacityModel:
    kwargs = {"start": start} if start else {}
    trace = one_table(reads, initial=(initial, initial), **kwargs)
    return CapacityModel(trace, {"my_table": {"reads": initial, "writes": initial}},
                         update_delay=update_delay)


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
