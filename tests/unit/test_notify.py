"""SNS subjects and bodies: 2.5.1's wording, D19's GSI subject, subjects under 100 characters."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from dynamic_dynamodb.dimensions import READS, WRITES
from dynamic_dynamodb.notify import alarm_message, budget_message, prefix, scale_message
from dynamic_dynamodb.policy.budget import DecreaseLedger
from dynamic_dynamodb.policy.counters import Counters
from dynamic_dynamodb.policy.decide import Alarm, AlarmLine, Decision, DimensionDecision, decide
from dynamic_dynamodb.policy.observation import DimensionObservation, Observation
from dynamic_dynamodb.policy.outcomes import Outcome
from tests.unit.policy.typed_options import resource_options

NOON = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def decision(reads: tuple[int, int], writes: tuple[int, int]) -> Decision:
    return Decision(
        DimensionDecision(READS, reads[0], reads[1], Outcome.UNCHANGED, 0, 0),
        DimensionDecision(WRITES, writes[0], writes[1], Outcome.UNCHANGED, 0, 0),
    )


def test_prefixes_are_the_ones_operators_grep_for() -> None:
    assert prefix("orders", None) == "orders - "
    assert prefix("orders", "by_user") == "orders - GSI: by_user - "


def test_scale_message_lists_changed_dimensions_reads_first() -> None:
    message = scale_message("orders", None, decision((10, 20), (10, 5)))
    assert message is not None
    assert message.subject == "Updated provisioning for table orders"
    assert message.body == "orders - Reads: UP from 10 to 20\norders - Writes: DOWN from 10 to 5\n"
    assert message.types == ("scale-down", "scale-up")
    assert message.wanted(("scale-up",)) and not message.wanted(("high-throughput-alarm",))


def test_gsi_subject_names_the_table_too() -> None:
    message = scale_message("orders", "by_user", decision((10, 10), (10, 20)))
    assert message is not None
    assert message.subject == "Updated provisioning for GSI by_user of table orders"
    assert message.body == "orders - GSI: by_user - Writes: UP from 10 to 20\n"


def test_no_change_means_no_message() -> None:
    assert scale_message("orders", None, decision((10, 10), (10, 10))) is None


def test_subjects_stay_under_100_characters() -> None:
    long_table = "t" * 150
    for message in (
        scale_message(long_table, "g" * 80, decision((1, 2), (1, 1))),
        alarm_message(long_table, None, Alarm("low-throughput-alarm",
                                              (AlarmLine(READS, 1.0, 5),))),
        budget_message(long_table, None, decision((1, 1), (1, 1))),
    ):
        assert message is not None
        assert len(message.subject) == 99  # SNS: "less than 100 characters long"
        assert message.subject.endswith("...")


def test_alarm_bodies_use_2_5_1_wording_and_six_decimals() -> None:
    high = alarm_message("orders", "by_user", Alarm("high-throughput-alarm", (
        AlarmLine(READS, 95.0, 90), AlarmLine(WRITES, 91.5, 90))))
    assert high.subject == "ALARM: High Throughput for Table orders - GSI: by_user"
    assert high.body == (
        "orders - GSI: by_user - Consumed Read Capacity 95.000000% was greater than or equal to "
        "the upper alarm threshold 90.000000%\n"
        "orders - GSI: by_user - Consumed Write Capacity 91.500000% was greater than or equal to "
        "the upper alarm threshold 90.000000%\n"
    )
    low = alarm_message("orders", None, Alarm("low-throughput-alarm", (
        AlarmLine(WRITES, 5.0, 10),)))
    assert low.subject == "ALARM: Low Throughput for Table orders"
    assert low.body == ("orders - Consumed Write Capacity 5.000000% was below the lower alarm "
                        "threshold 10.000000%\n")
    assert low.types == ("low-throughput-alarm",)


def test_budget_message_has_its_own_type_and_says_which_decrease_waits() -> None:
    spent = DecreaseLedger(decreases_today=27, last_decrease=NOON - timedelta(hours=1))
    options = resource_options({"num-read-checks-before-scale-down": 1})
    held = decide(options, Observation(DimensionObservation(100, 10.0), DimensionObservation(100, 50.0),
                                       spent), Counters(), NOON)
    message = budget_message("orders", "by_user", held)
    assert message.types == ("decrease-budget-exhausted",)
    assert message.subject == "Decrease budget exhausted for GSI by_user of table orders"
    assert message.body == (
        "orders - GSI: by_user - Reads: 10.00% consumed < 30% lower threshold (check 1/1), "
        "scaling down from 100 to 50; not done: decrease deferred: 27/27 used today, next "
        "possible at 00:00 UTC (the daily quota of 27 is used)\n")
