"""The engine against in-process moto: the happy paths of a real cycle."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from demo.seed import Traffic, create_table, put_traffic
from dynamic_dynamodb.aws.clients import Clients
from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.engine import Engine
from dynamic_dynamodb.state import State
from tests.conftest import capacity

TOPIC_NAME = "scaling"
TOPIC = f"arn:aws:sns:us-east-1:{DEFAULT_ACCOUNT_ID}:{TOPIC_NAME}"
BASE = """\
[default_options]
min-provisioned-reads: 5
max-provisioned-reads: 1000
min-provisioned-writes: 5
max-provisioned-writes: 1000
"""


def make_config(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "dd.conf"
    path.write_text(BASE + text)
    return load_config(str(path))


def sent(clients: Clients) -> list[tuple[str, str]]:
    topic = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].topics[TOPIC]
    return [(subject, message) for _, message, subject, *_ in topic.sent_notifications]


def test_table_scales_up_and_its_gsi_scales_down(moto_clients: Clients, tmp_path: Path) -> None:
    create_table(moto_clients.dynamodb, "orders", 100, 100, gsis={"by_user": (200, 200)})
    put_traffic(moto_clients.cloudwatch, moto_clients.dynamodb,
                Traffic("orders", consumed_read_percent=95, consumed_write_percent=50))
    put_traffic(moto_clients.cloudwatch, moto_clients.dynamodb,
                Traffic("orders", "by_user", consumed_read_percent=10, consumed_write_percent=50))
    config = make_config(tmp_path, "[table: ^orders$]\n[gsi: ^by_user$ table: ^orders$]\n")

    report = Engine(config, moto_clients.ports(), State()).run_cycle()

    assert capacity(moto_clients, "orders") == (150, 100)
    assert capacity(moto_clients, "orders", "by_user") == (100, 200)
    assert (report.tables, report.gsis, report.updates, report.errors) == (1, 1, 2, 0)


def test_first_matching_section_wins_and_overlap_is_warned(
    moto_clients: Clients, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    create_table(moto_clients.dynamodb, "orders", 100, 100)
    put_traffic(moto_clients.cloudwatch, moto_clients.dynamodb,
                Traffic("orders", consumed_read_percent=95, consumed_write_percent=50))
    config = make_config(
        tmp_path,
        "[table: ^ord]\nmax-provisioned-reads: 120\n[table: .*]\nmax-provisioned-reads: 900\n",
    )
    with caplog.at_level(logging.WARNING, logger="dynamic_dynamodb"):
        Engine(config, moto_clients.ports(), State()).run_cycle()

    assert capacity(moto_clients, "orders") == (120, 100)  # the first section's max
    warnings = [r.getMessage() for r in caplog.records if "more than one section" in r.getMessage()]
    assert warnings == [
        "orders - Table orders matches more than one section; using [table: ^ord], ignoring "
        "[table: .*]"
    ]


def test_sns_messages_are_published_with_2_5_1_wording(
    moto_clients: Clients, tmp_path: Path
) -> None:
    moto_clients.sns.create_topic(Name=TOPIC_NAME)
    create_table(moto_clients.dynamodb, "orders", 100, 100, gsis={"by_user": (100, 100)})
    put_traffic(moto_clients.cloudwatch, moto_clients.dynamodb,
                Traffic("orders", consumed_read_percent=95, consumed_write_percent=10))
    put_traffic(moto_clients.cloudwatch, moto_clients.dynamodb,
                Traffic("orders", "by_user", consumed_read_percent=10, consumed_write_percent=50))
    options = (f"sns-topic-arn: {TOPIC}\n"
               "sns-message-types: scale-up, scale-down, high-throughput-alarm\n"
               "reads-upper-alarm-threshold: 90\n")
    config = make_config(tmp_path, f"[table: ^orders$]\n{options}"
                                   f"[gsi: ^by_user$ table: ^orders$]\n{options}")

    Engine(config, moto_clients.ports(), State()).run_cycle()

    assert sent(moto_clients) == [
        ("ALARM: High Throughput for Table orders",
         "orders - Consumed Read Capacity 95.000000% was greater than or equal to the upper "
         "alarm threshold 90.000000%\n"),
        ("Updated provisioning for table orders",
         "orders - Reads: UP from 100 to 150\norders - Writes: DOWN from 100 to 50\n"),
        ("Updated provisioning for GSI by_user of table orders",
         "orders - GSI: by_user - Reads: DOWN from 100 to 50\n"),
    ]


def test_dry_run_changes_nothing_publishes_nothing_but_counts_as_applied(
    moto_clients: Clients, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    moto_clients.sns.create_topic(Name=TOPIC_NAME)
    create_table(moto_clients.dynamodb, "orders", 100, 100)
    put_traffic(moto_clients.cloudwatch, moto_clients.dynamodb,
                Traffic("orders", consumed_read_percent=95, consumed_write_percent=10))
    config = make_config(
        tmp_path,
        f"[table: ^orders$]\nsns-topic-arn: {TOPIC}\n"
        "sns-message-types: scale-up, scale-down, high-throughput-alarm\n"
        "reads-upper-alarm-threshold: 90\nnum-write-checks-before-scale-down: 1\n",
    )
    state = State()
    with caplog.at_level(logging.INFO, logger="dynamic_dynamodb"):
        report = Engine(config, moto_clients.ports(), state, dry_run=True).run_cycle()

    assert capacity(moto_clients, "orders") == (100, 100)
    assert sent(moto_clients) == []  # neither the scale message nor the alarm (D11, D18)
    assert report.updates == 0
    messages = [r.getMessage() for r in caplog.records]
    assert ("orders - Dry run: would update reads 100 -> 150 and writes 100 -> 50; nothing sent"
            in messages)
    # D5: a decrease that would be applied in dry-run resets the counter.
    assert state.counters("orders").writes == 0


def test_on_demand_tables_are_skipped(
    moto_clients: Clients, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    create_table(moto_clients.dynamodb, "payg", 0, 0, on_demand=True)
    config = make_config(tmp_path, "[table: .*]\n")
    with caplog.at_level(logging.INFO, logger="dynamic_dynamodb"):
        report = Engine(config, moto_clients.ports(), State()).run_cycle()

    assert (report.tables, report.skipped, report.errors) == (0, 1, 0)
    assert "payg - Table is PAY_PER_REQUEST (on-demand); not scaling it" in [
        r.getMessage() for r in caplog.records]
    assert moto_clients.calls["UpdateTable"] == 0


def test_discovery_follows_list_tables_pagination_past_100(
    moto_clients: Clients, tmp_path: Path
) -> None:
    for number in range(130):
        create_table(moto_clients.dynamodb, f"t{number:03d}", 10, 10)
    config = make_config(tmp_path, "[table: ^t1]\n[table: .*]\n")

    report = Engine(config, moto_clients.ports(), State()).run_cycle()

    assert report.tables == 130
    assert moto_clients.calls["ListTables"] == 2
    assert moto_clients.calls["DescribeTable"] == 130
    # A quiet cycle asks consumed units only (2 per table): 260 queries in one call.
    assert moto_clients.calls["GetMetricData"] == 1
    assert moto_clients.calls.get("GetMetricStatistics", 0) == 0


def test_unmatched_sections_are_warned_every_cycle(
    moto_clients: Clients, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    create_table(moto_clients.dynamodb, "orders", 10, 10)
    config = make_config(tmp_path, "[table: ^orders$]\n[table: ^missing$]\n[table: ^gone]\n")
    engine = Engine(config, moto_clients.ports(), State())
    with caplog.at_level(logging.WARNING, logger="dynamic_dynamodb"):
        engine.run_cycle()
        engine.run_cycle()
    warnings = [r.getMessage() for r in caplog.records if "No tables matching" in r.getMessage()]
    assert warnings == ["No tables matching the following configured tables found: "
                        "^missing$, ^gone"] * 2


@pytest.mark.parametrize(
    ("clock", "windows", "expected_reads"),
    [
        (datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc), "22:00-02:00", 50),  # inside, wraps
        (datetime(2026, 3, 1, 1, 59, tzinfo=timezone.utc), "22:00-02:00", 50),  # after midnight
        (datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc), "22:00-02:00", 100),  # outside
        (datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc), "9:00-10:00", 50),  # one-digit hour
    ],
)
def test_maintenance_windows_follow_the_clock(
    moto_clients: Clients, tmp_path: Path, clock: datetime, windows: str, expected_reads: int
) -> None:
    create_table(moto_clients.dynamodb, "orders", 100, 100)
    put_traffic(moto_clients.cloudwatch, moto_clients.dynamodb,
                Traffic("orders", consumed_read_percent=10, consumed_write_percent=95), now=clock)
    config = make_config(tmp_path, f"[table: ^orders$]\nmaintenance-windows: {windows}\n")

    Engine(config, moto_clients.ports(), State(), clock=lambda: clock).run_cycle()

    # Writes always go up; the read decrease happens only inside a window.
    assert capacity(moto_clients, "orders") == (expected_reads, 150)


@pytest.mark.parametrize(("provisioned", "percent"), [(100, 30), (9, 30), (13, 90), (21, 90),
                                                       (1000, 29), (33, 70)])
def test_consumed_percent_is_exact_at_thresholds(provisioned: int, percent: int) -> None:
    from fractions import Fraction

    from dynamic_dynamodb.policy.observation import observe_dimension

    seconds = 300
    consumed_sum = float(Fraction(percent, 100) * provisioned * seconds)
    # Float arithmetic gives (3510 / 300) / 13 * 100 == 89.99999999999999, below a 90 % threshold.
    seen = observe_dimension(provisioned, consumed_sum, 0.0, seconds)
    assert seen.consumed_percent == float(percent)


def test_division_by_zero_never_happens() -> None:
    from dynamic_dynamodb.policy.observation import observe_dimension

    assert observe_dimension(0, 50.0, 3.0, 300).consumed_percent == 0.0  # on-demand-like
    zero_consumed = observe_dimension(10, 0.0, 5.0, 300)
    assert zero_consumed.throttled_by_consumed_percent == 0.0
    assert zero_consumed.throttle_events == 5
    nothing = observe_dimension(10, None, None, 300)
    assert (nothing.consumed_percent, nothing.throttle_events) == (0.0, 0)
