"""Several copies of one instance sharing a state table, run as a user would.

Real ``dynamic-dynamodb`` daemons and ``--run-once`` runs (each with its own pid directory,
as on separate hosts) against the twin (moto_server behind a proxy that records every
request with its time and the access key that signed it: each host has its own), so what
DynamoDB received is counted on the server side: exactly one copy acts at a time (every
UpdateTable before the kill from the first host, every one after from the second, none
refused), and a ``kill -9`` of the leader hands over within two check intervals.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.seed import Traffic, create_table, put_traffic
from dynamic_dynamodb.lease import lease_terms
from tests.conftest import CLI, run_cli, table_capacity
from tests.e2e.test_daemon_support import Daemons, alive, wait_for, write_config
from tests.twin import Twin

# Seconds: a daemon's lease lasts 12 s, renewed every 8 s (the shortest lease is 10 s: it must
# outlast the skew margin and one bounded UpdateTable).
INTERVAL = 8
KEYS = {"host-a": "AKIAHOSTA", "host-b": "AKIAHOSTB"}  # who signed each request
STATE_TABLE = "dd-state"
# Every cycle of the leader adds one read unit: 95 units/s consumed of 100 provisioned stays
# above the 50 % threshold for 90 increases; writes (50 %) never change.
START_READS = 100
SCALING = "reads-upper-threshold: 50\nincrease-reads-unit: units\nincrease-reads-with: 1\n"


@pytest.fixture
def twin() -> Iterator[Twin]:
    with Twin(update_seconds=0, new_peak_seconds=0) as started:
        yield started


class Hosts:
    """Two 'hosts': one directory each for the pid file, the status file and the log."""

    def __init__(self, tmp_path: Path, twin: Twin):
        self.twin = twin
        for name in ("host-a", "host-b"):
            (tmp_path / name).mkdir()
        self.hosts = [Daemons(tmp_path / name, twin.endpoint) for name in ("host-a", "host-b")]
        for name, host in zip(("host-a", "host-b"), self.hosts, strict=True):
            write_config(host.config, check_interval=INTERVAL,
                         extra_global=f"state-table: {STATE_TABLE}\n"
                                      f"aws-access-key-id: {KEYS[name]}\n"
                                      "aws-secret-access-key-id: testing",
                         extra_table=SCALING)
        self.config = self.hosts[0].config
        self.ddb = twin.client("dynamodb")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(["-c", str(self.config), *args], endpoint=self.twin.endpoint, timeout=90)

    def setup_tables(self) -> None:
        created = self.cli("--create-state-table")
        assert created.returncode == 0, created.stderr
        assert f"Created state table {STATE_TABLE} in us-east-1" in created.stdout
        create_table(self.ddb, "t1", START_READS, 100)
        put_traffic(self.twin.client("cloudwatch"), self.ddb, Traffic("t1", None, 95, 50))
        self.twin.reset_counts()

    def updates(self) -> list[float]:
        """When each UpdateTable that DynamoDB accepted arrived (seconds, monotonic order)."""
        return [record.at.timestamp() for record in self.twin.records
                if record.operation == "UpdateTable" and record.status == 200]

    def update_senders(self) -> list[str | None]:
        """Who sent each UpdateTable that DynamoDB accepted, in order."""
        return [record.sender for record in self.twin.records
                if record.operation == "UpdateTable" and record.status == 200]

    def refused_updates(self) -> list[tuple[str | None, int | None, str | None]]:
        """UpdateTables DynamoDB refused: two copies acting in one cycle would both ask for
        the same N + 1, and the second is refused (the capacity is already N + 1)."""
        return [(record.sender, record.status, record.error) for record in self.twin.records
                if record.operation == "UpdateTable" and record.status != 200]

    def reads(self) -> int:
        return table_capacity(self.ddb, "t1")[0]

    def cleanup(self) -> None:
        for host in self.hosts:
            host.cleanup()


@pytest.fixture
def hosts(tmp_path: Path, twin: Twin) -> Iterator[Hosts]:
    pair = Hosts(tmp_path, twin)
    try:
        yield pair
    finally:
        pair.cleanup()


def test_one_of_two_daemons_acts_and_a_killed_leader_is_replaced_within_two_intervals(
        hosts: Hosts) -> None:
    hosts.setup_tables()
    first, second = hosts.hosts
    assert first.daemon("start").returncode == 0
    first.wait_log("leads now")
    assert second.daemon("start").returncode == 0
    second.wait_log("is led by")
    wait_for(lambda: len(hosts.updates()) >= 3, 60, "three cycles of the leader that scaled")

    # Only the leader checks and scales; the follower never ran a cycle.
    assert "Cycle done" not in second.log_text()
    status = first.daemon("status", log=False)
    assert status.returncode == 0
    assert "leader: this daemon" in status.stdout
    status = second.daemon("status", log=False)
    leader_line = next(line for line in status.stdout.splitlines() if line.startswith("leader:"))
    assert f":{first.pid()}:" in leader_line and "stands by" in leader_line

    os.kill(first.pid(), signal.SIGKILL)
    wait_for(lambda: not alive(first.pid()), 10, "the leader to die")
    before = len(hosts.updates())
    second.wait_log("leads now", timeout=4 * INTERVAL)
    wait_for(lambda: len(hosts.updates()) > before + 1, 60, "two cycles of the new leader")

    times = hosts.updates()
    assert len(times) > before >= 3
    # Handed over within two intervals: the gap in scaling around the kill (the lease ran
    # out 1.5 intervals after the leader's last renewal) is shorter than two intervals plus
    # the time one cycle takes to reach UpdateTable.
    handover = times[before] - times[before - 1]
    assert handover < 2 * INTERVAL + 1, f"{handover:.1f} s without a leader"
    # One copy acted at a time: the first host alone until the kill, the second alone after;
    # no UpdateTable was refused (a duplicate would be); each added its one unit.
    senders = hosts.update_senders()
    assert senders == [KEYS["host-a"]] * before + [KEYS["host-b"]] * (len(senders) - before)
    assert hosts.refused_updates() == []
    assert hosts.reads() == START_READS + len(hosts.updates())

    stopped = second.daemon("stop", log=False)
    assert stopped.returncode == 0, stopped.stderr
    assert "released the lease" in second.log_text()


def test_two_run_once_at_the_same_moment_act_once(hosts: Hosts) -> None:
    hosts.setup_tables()
    racers = [subprocess.Popen(
        [CLI, "-c", str(host.config), "--run-once", "--pid-file-dir", str(host.pid_dir)],
        env=hosts.twin.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for host in hosts.hosts]
    outputs = [racer.communicate(timeout=90)[0] for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0], outputs
    assert sum("this --run-once did nothing" in output for output in outputs) == 1, outputs
    assert len(hosts.updates()) == 1
    assert hosts.refused_updates() == []
    assert hosts.reads() == START_READS + 1
    # Once the claim has expired (cron's next minute) the next run acts. The claim lasts
    # lease_terms' run-once duration (at least MIN_LEASE_SECONDS): wait that, plus slack.
    time.sleep(lease_terms(INTERVAL, run_once=True).duration + 1)
    again = hosts.cli("--run-once", "--pid-file-dir", str(hosts.hosts[1].pid_dir))
    assert again.returncode == 0, again.stdout
    assert hosts.reads() == START_READS + 2


def test_create_state_table_twice_and_without_a_name(hosts: Hosts, tmp_path: Path) -> None:
    assert hosts.cli("--create-state-table").returncode == 0
    again = hosts.cli("--create-state-table")
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"Nothing to do: there is already a state table {STATE_TABLE}")
    plain = write_config(tmp_path / "plain.conf")
    unnamed = run_cli(["-c", str(plain), "--create-state-table"], endpoint=hosts.twin.endpoint)
    assert unnamed.returncode == 1
    assert unnamed.stderr == (f"dynamic-dynamodb: error: {plain}: [global]: state-table: "
                              "--create-state-table needs the name of the table: set "
                              "state-table in [global] or give --state-table NAME\n")


def test_a_missing_state_table_is_a_one_line_error(hosts: Hosts) -> None:
    create_table(hosts.ddb, "t1", 10, 10)
    once = hosts.cli("--run-once")
    assert once.returncode == 1
    assert once.stderr == (f"dynamic-dynamodb: error: {hosts.config}: [global] state-table: the "
                           f"table {STATE_TABLE} does not exist (create it with "
                           "--create-state-table)\n")
    start = hosts.hosts[0].daemon("start")
    assert start.returncode == 1
    assert start.stderr.count("\n") == 1 and "does not exist" in start.stderr
    assert "Daemon not started" in start.stderr
    assert hosts.twin.count("UpdateTable") == 0
