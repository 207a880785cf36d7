"""policy/frozen.py: a frozen dataclass built fast is the value its constructor makes."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import datetime, timezone

import pytest

from dynamic_dynamodb.dimensions import READS, WRITES
from dynamic_dynamodb.policy.counters import LowDemand
from dynamic_dynamodb.policy.decide import DimensionDecision, Step, _decision
from dynamic_dynamodb.policy.frozen import frozen_builder
from dynamic_dynamodb.policy.observation import DimensionObservation, _observation
from dynamic_dynamodb.policy.outcomes import Outcome, Refusal, Trigger

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


def _full_values() -> dict[str, object]:
    return dict(dimension=WRITES, current=10, target=7, outcome=Outcome.SCALED_DOWN, counter=0,
                counter_if_refused=3, trigger=Trigger.CONSUMED_BELOW_THRESHOLD,
                rule=Outcome.SCALED_DOWN, consumed_percent=12.5, value=12.5, threshold=30.0,
                proposed=7, checks=3, checks_needed=3, bounded=10,
                low=LowDemand(NOW, 5), low_if_refused=LowDemand(NOW, 6), low_minutes=4.0,
                refusals=(Step(Refusal(Outcome.HELD_WINDOW), 10),))


@pytest.mark.parametrize("values", [
    dict(dimension=READS, current=5, target=5, outcome=Outcome.UNCHANGED, counter=0,
         counter_if_refused=0),
    _full_values(),
])
def test_a_built_decision_is_the_constructed_one(values: dict[str, object]) -> None:
    built, made = _decision(**values), DimensionDecision(**values)  # type: ignore[arg-type]
    assert type(built) is DimensionDecision
    assert built == made
    assert repr(built) == repr(made)
    assert hash(built) == hash(made)
    assert list(vars(built).items()) == list(vars(made).items())  # in field order
    assert pickle.dumps(built) == pickle.dumps(made)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.target = 1  # type: ignore[misc]


def test_a_built_copy_is_dataclasses_replace() -> None:
    made = DimensionDecision(**_full_values())  # type: ignore[arg-type]
    changes = dict(target=10, counter=3, outcome=Outcome.HELD_WINDOW, wished=7)
    assert _decision(made, **changes) == dataclasses.replace(made, **changes)  # type: ignore[arg-type]
    assert made.target == 7  # the base is left as it was


def test_a_built_observation_is_the_constructed_one() -> None:
    values = dict(provisioned=100, consumed_percent=50.0, throttle_events=3, ceiling=400)
    assert _observation(**values) == DimensionObservation(**values)  # type: ignore[arg-type]
    assert repr(_observation(provisioned=1)) == repr(DimensionObservation(1))


def test_unknown_or_missing_fields_are_refused_as_the_constructor_refuses_them() -> None:
    with pytest.raises(TypeError, match="missing fields \\['counter_if_refused'\\]"):
        _decision(dimension=READS, current=5, target=5, outcome=Outcome.UNCHANGED, counter=0)
    with pytest.raises(TypeError, match="unknown fields \\['nonsense'\\]"):
        _observation(provisioned=1, nonsense=2)
    with pytest.raises(TypeError, match="unknown fields"):
        _decision(DimensionDecision(READS, 5, 5, Outcome.UNCHANGED, 0, 0), nonsense=1)


def test_only_plain_dataclasses_are_accepted() -> None:
    @dataclasses.dataclass(frozen=True)
    class WithFactory:
        items: list[int] = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True, slots=True)
    class Slotted:
        value: int

    for cls in (WithFactory, Slotted, int):
        with pytest.raises(TypeError):
            frozen_builder(cls)
