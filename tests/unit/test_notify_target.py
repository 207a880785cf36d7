"""Wording of target mode, scheduled floors and predictive scaling (notify.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from dynamic_dynamodb.config.options import ResourceOptions
from dynamic_dynamodb.notify import consecutive_line, decision_record, reason
from dynamic_dynamodb.policy.counters import Counters, LowDemand
from dynamic_dynamodb.policy.decide import DimensionDecision, decide
from dynamic_dynamodb.policy.forecast import Forecast
from dynamic_dynamodb.policy.observation import DimensionObservation, Observation
from tests.unit.policy.typed_options import resource_options

NOON = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
TARGET = resource_options({"target-reads-utilisation": 80.0,
                           "target-reads-scale-down-minutes": 15})


def reads_of(options: ResourceOptions, reads: DimensionObservation,
             counters: Counters | None = None) -> DimensionDecision:
    return decide(options, Observation(reads, DimensionObservation(100, 50.0)),
                  counters or Counters(), NOON).reads


def test_scale_out_says_the_demand_and_what_the_target_needs() -> None:
    change = reads_of(TARGET, DimensionObservation(100, 120.0))
    assert reason(change) == (
        "Reads: demand 120.00 reads/s (120.00% of 100 provisioned) needs 150 at the 80% "
        "target (target-reads-utilisation), scaling up from 100 to 150")


def test_waiting_says_how_long_the_demand_has_been_low() -> None:
    low = LowDemand(NOON - timedelta(minutes=6), 55, NOON - timedelta(minutes=6))
    change = reads_of(TARGET, DimensionObservation(100, 40.0), Counters(reads_low=low))
    assert reason(change).endswith(
        "; low for 6/15 minutes (target-reads-scale-down-minutes) before scaling in to 55")
    assert consecutive_line(change) == "Low read demand for 6/15 minutes"
    record = decision_record("t", None, change, DimensionObservation(100, 40.0))
    assert (record["outcome"], record["needed"], record["low_minutes"]) == (
        "held-low-demand", 50, 6.0)


def test_a_scheduled_floor_is_named() -> None:
    options = resource_options({"scheduled-min-provisioned-reads": "11:00-13:00=400"})
    change = reads_of(options, DimensionObservation(100, 50.0))
    assert "increasing reads to meet scheduled-min-provisioned-reads (400 reads now)" in \
        reason(change)


def test_pre_warming_says_it_follows_the_forecast() -> None:
    options = resource_options({"target-reads-utilisation": 80.0, "predictive-scaling": True})
    change = reads_of(options, DimensionObservation(100, 50.0, forecast=Forecast(300, 300)))
    assert reason(change).endswith(
        "the forecast for the next minutes (predictive-scaling) needs 300: scaling ahead of "
        "the ramp, scaling up from 100 to 300")
