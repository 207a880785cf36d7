"""SNS subjects and bodies: 2.5.1's wording, D19's GSI subject and 100-character limit."""

from __future__ import annotations

from dynamic_dynamodb.config.options import READS, WRITES
from dynamic_dynamodb.notify import alarm_message, budget_message, prefix, scale_message
from dynamic_dynamodb.policy.decide import Alarm, AlarmLine, Decision, DimensionDecision


def decision(reads: tuple[int, int], writes: tuple[int, int]) -> Decision:
    return Decision(
        DimensionDecision(READS, reads[0], reads[1], "", 0, 0),
        DimensionDecision(WRITES, writes[0], writes[1], "", 0, 0),
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


def test_subjects_never_exceed_100_characters() -> None:
    long_table = "t" * 150
    for message in (
        scale_message(long_table, "g" * 80, decision((1, 2), (1, 1))),
        alarm_message(long_table, None, Alarm("low-throughput-alarm",
                                              (AlarmLine(READS, 1.0, 5),))),
        budget_message(long_table, None, "x"),
    ):
        assert message is not None
        assert len(message.subject) == 100
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


def test_budget_message_has_its_own_type() -> None:
    message = budget_message("orders", "by_user", "decrease deferred: 27/27 used today")
    assert message.types == ("decrease-budget-exhausted",)
    assert message.subject == "Decrease budget exhausted for GSI by_user of table orders"
    assert message.body == "orders - GSI: by_user - decrease deferred: 27/27 used today\n"
