"""The state table and the lease against in-process moto: what is written, when, conditional
writes that merge a concurrent writer's changes, the lease's election and hand-over, and two
Runners of one instance of which only the leader acts."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from demo.seed import Traffic, create_table, put_traffic
from dynamic_dynamodb.aws.clients import Clients
from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.config.run_options import RunOptions
from dynamic_dynamodb.lease import Lease, LeaseError, LeaseGate, lease_terms
from dynamic_dynamodb.policy.counters import Counters
from dynamic_dynamodb.runner import EXIT_OK, Runner
from dynamic_dynamodb.state import (
    ITEM_TTL,
    STATE_TABLE_KEY,
    StateTableError,
    StateWriteError,
    TableStore,
    create_state_table,
)

UTC = timezone.utc
T0 = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
TABLE = "dd-state"
SCOPE = "123456789012/us-east-1"


def counted(client: Any) -> Counter[str]:
    """Every DynamoDB operation the client sends from now on."""
    calls: Counter[str] = Counter()
    client.meta.events.register("before-call.dynamodb",
                                lambda model, **_: calls.update([model.name]))
    return calls


@pytest.fixture
def ddb(moto_clients: Clients) -> Any:
    create_state_table(moto_clients.dynamodb, TABLE, wait_delay=0.01)
    return moto_clients.dynamodb


def store(client: Any, now: datetime = T0, instance: str = "default") -> TableStore:
    return TableStore(client, TABLE, instance, clock=lambda: now)


def item(client: Any, key: str, instance: str = "default") -> dict[str, Any]:
    return client.get_item(TableName=TABLE, Key={"pk": {"S": f"state#{instance}#{SCOPE}"},
                                                 "sk": {"S": key}}).get("Item", {})


# -- creating and checking the table ---------------------------------------------------------
def test_create_state_table_is_on_demand_with_ttl_and_idempotent(moto_clients: Clients) -> None:
    client = moto_clients.dynamodb
    assert create_state_table(client, TABLE, wait_delay=0.01) is True
    table = client.describe_table(TableName=TABLE)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [(key["AttributeName"], key["KeyType"]) for key in table["KeySchema"]] == list(
        STATE_TABLE_KEY)
    ttl = client.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires")
    assert create_state_table(client, TABLE, wait_delay=0.01) is False


def test_a_table_with_another_key_is_refused_by_name(moto_clients: Clients) -> None:
    create_table(moto_clients.dynamodb, "orders", 5, 5)
    with pytest.raises(StateTableError, match=r"\[global\] state-table: the table orders is "
                                              r"not a state table"):
        create_state_table(moto_clients.dynamodb, "orders", wait_delay=0.01)


def test_a_missing_table_is_one_clear_line(moto_clients: Clients) -> None:
    with pytest.raises(StateTableError) as raised:
        TableStore(moto_clients.dynamodb, "nope", "default", config_path="/etc/dd.conf").preflight()
    assert str(raised.value) == ("/etc/dd.conf: [global] state-table: the table nope does not "
                                 "exist (create it with --create-state-table)")
    with pytest.raises(StateTableError, match="does not exist"):
        TableStore(moto_clients.dynamodb, "nope", "default").load(SCOPE)


def test_a_dry_run_reading_a_missing_table_starts_fresh(
        moto_clients: Clients, caplog: pytest.LogCaptureFixture) -> None:
    state = TableStore(moto_clients.dynamodb, "nope", "default").load(SCOPE, read_only=True)
    assert state.data == {"resources": {}}
    assert "the dry run starts fresh" in caplog.text


# -- what is stored ----------------------------------------------------------------------------
def test_a_saved_state_is_loaded_by_another_process(ddb: Any) -> None:
    first = store(ddb)
    state = first.load(SCOPE)
    state.set_counters("orders", Counters(2, 1))
    state.record_update("orders:by_day", T0, increased=False, decreased=True)
    first.save(state)

    again = store(ddb).load(SCOPE)
    assert again.counters("orders") == Counters(2, 1)
    assert again.own_record("orders:by_day", T0).decreases_today == 1
    saved = item(ddb, "orders")
    assert saved["version"] == {"N": "1"}
    assert int(saved["expires"]["N"]) == int((T0 + ITEM_TTL).timestamp())
    # Another instance, or another scope, sees nothing of it.
    assert store(ddb, instance="other").load(SCOPE).data == {"resources": {}}
    assert store(ddb).load("123456789012/eu-west-1").data == {"resources": {}}


def test_only_changed_items_are_written_and_unchanged_ones_once_a_day(ddb: Any) -> None:
    calls = counted(ddb)
    first = store(ddb)
    state = first.load(SCOPE)
    for key in ("a", "b", "c"):
        state.set_counters(key, Counters(1, 0))
    first.save(state)
    assert calls["PutItem"] == 3

    calls.clear()
    same = store(ddb, T0 + timedelta(hours=23))
    state = same.load(SCOPE)
    state.set_counters("b", Counters(2, 0))
    same.save(state)
    assert calls == Counter({"Query": 1, "PutItem": 1})

    calls.clear()
    later = store(ddb, T0 + timedelta(days=1, minutes=1))
    later.save(later.load(SCOPE))  # nothing changed, but "a" and "c" are a day old
    assert calls == Counter({"Query": 1, "PutItem": 2})


def test_a_forgotten_resource_is_deleted(ddb: Any) -> None:
    first = store(ddb)
    state = first.load(SCOPE)
    state.set_counters("gone", Counters(1, 0))
    state.set_counters("kept", Counters(1, 0))
    first.save(state)
    state = first.load(SCOPE)
    forgotten = state.prune(listed={"kept"}, described={}, not_found={"gone"}, now=T0)
    assert [key for key, _ in forgotten] == ["gone"]
    first.save(state)
    assert item(ddb, "gone") == {}
    assert set(store(ddb).load(SCOPE).data["resources"]) == {"kept"}


def test_two_writers_of_one_item_never_lose_each_others_changes(
        ddb: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    one, two = store(ddb), store(ddb)
    seed = one.load(SCOPE)
    seed.set_counters("orders", Counters(0, 0))
    one.save(seed)

    mine, theirs = one.load(SCOPE), two.load(SCOPE)  # both read version 1
    mine.record_update("orders", T0, increased=False, decreased=True)
    mine.set_counters("orders", Counters(0, 3))
    theirs.record_update("orders", T0 + timedelta(minutes=1), increased=False, decreased=True)
    theirs.mark_budget_notified("orders", T0)
    two.save(theirs)
    calls = counted(ddb)
    one.save(mine)  # its condition (version 1) fails: it reads, merges and writes version 3

    assert calls == Counter({"PutItem": 2, "GetItem": 1})
    assert "changed by another writer since it was read; merging" in caplog.text
    merged = store(ddb).load(SCOPE)
    assert merged.own_record("orders", T0).decreases_today == 2
    assert merged.own_record("orders", T0).last_decrease == T0 + timedelta(minutes=1)
    assert merged.counters("orders") == Counters(0, 3)
    assert merged.budget_notified_today("orders", T0)
    assert item(ddb, "orders")["version"] == {"N": "3"}
    assert mine.own_record("orders", T0).decreases_today == 2  # memory follows the merge


def test_a_save_that_dynamodb_refuses_is_a_one_line_write_error(ddb: Any) -> None:
    first = store(ddb)
    state = first.load(SCOPE)
    ddb.delete_table(TableName=TABLE)
    state.set_counters("orders", Counters(1, 0))
    with pytest.raises(StateWriteError, match=r"^cannot write the state table dd-state: "
                                              r"ResourceNotFoundException"):
        first.save(state)


# -- the lease -------------------------------------------------------------------------------
class Clock:
    """Wall and monotonic time of one host, moved by the test."""

    def __init__(self, start: float = 1_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now


def lease(client: Any, holder: str, clock: Clock, interval: float = 60,
          run_once: bool = False) -> Lease:
    return Lease(client, TABLE, "default", lease_terms(interval, run_once), holder=holder,
                 clock=clock, monotonic=clock)


def test_one_leader_the_other_follows_and_takes_over_when_the_lease_expires(ddb: Any) -> None:
    clock = Clock()
    first, second = lease(ddb, "a", clock), lease(ddb, "b", clock)
    won = first.claim()
    assert (won.leader, won.took_over, won.term) == (True, True, 1)
    lost = second.claim()
    assert (lost.leader, lost.holder, lost.expires_at) == (False, "a", clock.now + 90)
    assert second.seconds_until_expiry() == 90

    clock.now += 60  # the leader renews every interval; the follower still follows
    assert first.claim().leader and not first.claim().took_over
    assert not second.claim().leader

    clock.now += 89.9  # the leader died after that renewal: not yet expired...
    assert not second.claim().leader
    clock.now += 0.1  # ...and now it is: taken over, 1.5 intervals after the last renewal
    taken = second.claim()
    assert (taken.leader, taken.took_over, taken.term) == (True, True, 2)
    # The old leader, back from a pause, finds its renewal refused and follows.
    back = first.claim()
    assert (back.leader, back.holder) == (False, "b")
    assert not first.may_act()


class _Unreachable:
    """A DynamoDB client whose every call fails to connect."""

    def __getattr__(self, name: str) -> Any:
        def fail(**_: Any) -> Any:
            raise EndpointConnectionError(endpoint_url="https://dynamodb.invalid")
        return fail


def test_a_leader_that_cannot_renew_starts_no_update_that_could_outlast_its_lease(
        ddb: Any, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    leader = lease(ddb, "a", clock, interval=60)  # a 90 s lease, a 10 s margin
    leader.claim()
    gate = LeaseGate(stop=_Flag(), lease=leader)
    leader.client = _Unreachable()  # from now on no renewal can be sent
    # The last UpdateTable may start 90 - 10 - 7 s after the renewal was sent: bounded to
    # UPDATE_TABLE_SECONDS (7 s), it ends the skew margin before the lease expires.
    clock.now += 72.9
    assert leader.may_act() and gate.may_act() and not gate.is_set()
    assert "cannot renew the lease of instance default" in caplog.text  # tried, told once
    clock.now += 0.1
    assert not leader.may_act() and not gate.may_act() and gate.is_set()


def test_a_long_cycle_renews_the_lease_once_half_its_acting_time_is_used(ddb: Any) -> None:
    clock = Clock()
    leader = lease(ddb, "a", clock, interval=60)  # acting time 73 s after each renewal
    leader.claim()
    gate = LeaseGate(stop=_Flag(), lease=leader)
    calls = counted(ddb)
    clock.now += 36.4
    assert gate.may_act() and not gate.is_set()
    assert calls["UpdateItem"] == 0  # not due yet: no write
    clock.now += 0.1
    assert gate.may_act()
    assert calls["UpdateItem"] == 1  # the heartbeat
    stored = ddb.get_item(TableName=TABLE, Key=leader.key)["Item"]
    assert float(stored["expires_at"]["N"]) == clock.now + 90
    clock.now += 72.9  # long past the first renewal's deadline: still acting
    assert leader.may_act()


def test_a_leader_that_stalled_past_its_lease_stops_at_the_heartbeat(
        ddb: Any, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    first, second = lease(ddb, "a", clock), lease(ddb, "b", clock)
    first.claim()
    gate = LeaseGate(stop=_Flag(), lease=first)
    clock.now += 90  # "a" stalled (a long GetMetricData, a paused VM); "b" takes over
    assert second.claim().leader
    assert not gate.may_act() and gate.is_set()
    assert not first.held
    assert "the lease is held by another process now" in caplog.text


def test_a_released_lease_is_taken_at_the_next_look(ddb: Any) -> None:
    clock = Clock()
    first, second = lease(ddb, "a", clock), lease(ddb, "b", clock)
    first.claim()
    assert first.release() is True
    assert second.claim().leader
    assert first.release() is False  # no longer held: nothing to release


def test_two_takers_at_once_leave_one_leader(ddb: Any) -> None:
    clock = Clock()
    first, second = lease(ddb, "a", clock), lease(ddb, "b", clock)
    real_read = second.read
    seen: list[int] = []

    def read_before_the_other_wrote() -> Any:
        if not seen:
            seen.append(1)
            assert first.claim().leader  # the other host wins between our read and write
            return None
        return real_read()

    second.read = read_before_the_other_wrote  # type: ignore[method-assign]
    result = second.claim()
    assert (result.leader, result.holder) == (False, "a")


def test_a_run_once_claim_lets_the_next_run_an_interval_later_act(ddb: Any) -> None:
    clock = Clock()
    assert lease(ddb, "cron-a-1", clock, run_once=True).claim().leader
    assert not lease(ddb, "cron-b-1", clock, run_once=True).claim().leader
    clock.now += 60
    assert lease(ddb, "cron-b-2", clock, run_once=True).claim().leader


def test_a_lease_in_a_missing_table_is_a_lease_error(moto_clients: Clients) -> None:
    missing = Lease(moto_clients.dynamodb, "nope", "default", lease_terms(60))
    with pytest.raises(LeaseError, match="cannot read the lease of instance default in the "
                                         "state table nope: ResourceNotFoundException"):
        missing.claim()


class _Flag:
    def __init__(self) -> None:
        self.value = False

    def is_set(self) -> bool:
        return self.value

    def set(self) -> None:
        self.value = True

    def clear(self) -> None:
        self.value = False


# -- two runners of one instance -------------------------------------------------------------
def runner(tmp_path: Path, name: str, *, run_once: bool = False, dry_run: bool = False,
           tables: str = "^orders$", clock: Clock | None = None) -> Runner:
    config_path = tmp_path / "dd.conf"
    config_path.write_text(f"[global]\nstate-table: {TABLE}\ncheck-interval: 60\n"
                           f"[table: {tables}]\nincrease-reads-unit: units\n"
                           "increase-reads-with: 1\nmax-provisioned-reads: 1000\n")
    config = load_config(str(config_path))
    run = RunOptions(pid_file_dir=str(tmp_path / name), instance="default", run_once=run_once,
                     dry_run=dry_run)
    made = Runner(config, run, account="123456789012")
    if clock is not None and made.lease is not None:
        made.lease.clock = made.lease.monotonic = clock
    return made


def read_units(client: Any, table: str = "orders") -> int:
    return int(client.describe_table(TableName=table)["Table"]["ProvisionedThroughput"][
        "ReadCapacityUnits"])


def test_of_two_runners_of_one_instance_only_the_leader_scales(ddb: Any, moto_clients: Clients,
                                                              tmp_path: Path) -> None:
    create_table(ddb, "orders", 100, 100)
    put_traffic(moto_clients.cloudwatch, ddb, Traffic("orders", None, 95, 10))
    first, second = runner(tmp_path, "a"), runner(tmp_path, "b")
    report = first.cycle()
    assert report.updates == 1
    follower = second.cycle()
    assert (follower.tables, follower.updates) == (0, 0)
    assert second.leadership is not None and second.leadership.holder == first.lease.holder  # type: ignore[union-attr]
    assert ddb.describe_table(TableName="orders")["Table"]["ProvisionedThroughput"][
        "ReadCapacityUnits"] == 101
    # The leader's state is in the table, for whoever leads next.
    assert item(ddb, "orders")["version"] == {"N": "1"}
    # A dry run reads the table but writes nothing, not even the lease.
    calls = counted(ddb)
    preview = runner(tmp_path, "c", dry_run=True)
    assert preview.lease is None
    preview.cycle()
    assert not {"PutItem", "UpdateItem", "DeleteItem"} & set(calls)


def test_a_second_run_once_at_the_same_moment_does_nothing(
        ddb: Any, moto_clients: Clients, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    create_table(ddb, "orders", 100, 100)
    put_traffic(moto_clients.cloudwatch, ddb, Traffic("orders", None, 95, 10))
    assert runner(tmp_path, "a", run_once=True).run_once() == EXIT_OK
    assert runner(tmp_path, "b", run_once=True).run_once() == EXIT_OK
    assert "holds the lease until" in caplog.text and "this --run-once did nothing" in caplog.text
    assert ddb.describe_table(TableName="orders")["Table"]["ProvisionedThroughput"][
        "ReadCapacityUnits"] == 101


def test_each_scope_keeps_its_own_versions(ddb: Any) -> None:
    """Several accounts and regions in one process: every scope is loaded, then every scope
    saved; each save writes only its own changes, with no conflict to merge."""
    shared = store(ddb)
    other_scope = "210987654321/eu-west-1"
    for scope in (SCOPE, other_scope):
        state = shared.load(scope)
        state.set_counters("orders", Counters(1, 0))
        shared.save(state)
    here, there = shared.load(SCOPE), shared.load(other_scope)
    here.set_counters("orders", Counters(2, 0))
    calls = counted(ddb)
    shared.save(here)
    shared.save(there)
    assert calls == Counter({"PutItem": 1})
    assert store(ddb).load(SCOPE).counters("orders") == Counters(2, 0)
    assert store(ddb).load(other_scope).counters("orders") == Counters(1, 0)


def test_a_leader_that_lost_its_lease_during_a_cycle_neither_updates_nor_saves(
        ddb: Any, moto_clients: Clients, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """The check right before UpdateTable: the decision took so long that another process
    took the lease; the old leader sends no UpdateTable and does not overwrite the new
    leader's state."""
    create_table(ddb, "orders", 100, 100)
    put_traffic(moto_clients.cloudwatch, ddb, Traffic("orders", None, 95, 10))
    clock = Clock()
    first, second = runner(tmp_path, "a", clock=clock), runner(tmp_path, "b", clock=clock)
    decide = first.engine.decide

    def slow_decide(*args: Any, **kwargs: Any) -> Any:
        clock.now += 90  # the lease expires while this table is being decided...
        assert second._lead()  # ...and the other host takes it
        second.engine.state = second.store.load(SCOPE)
        second.engine.state.set_counters("orders", Counters(7, 0))
        second.store.save(second.engine.state)
        return decide(*args, **kwargs)

    first.engine.decide = slow_decide  # type: ignore[method-assign]
    report = first.cycle()
    assert report.updates == 0
    assert read_units(ddb) == 100  # no UpdateTable reached DynamoDB
    assert "orders - lease no longer held; not updating orders" in caplog.text
    assert "not saving this cycle's state over the new leader's" in caplog.text
    assert store(ddb).load(SCOPE).counters("orders") == Counters(7, 0)  # theirs stands


def test_a_cycle_longer_than_the_acting_time_renews_and_scales_its_last_table(
        ddb: Any, moto_clients: Clients, tmp_path: Path) -> None:
    """Each table takes 30 s to decide; a 60 s interval's lease lets the leader act for 73 s
    after a renewal: without the mid-cycle heartbeat the fourth table would never be scaled
    (every cycle would stop at the same place)."""
    names = ["t1", "t2", "t3", "t4"]
    for name in names:
        create_table(ddb, name, 100, 100)
        put_traffic(moto_clients.cloudwatch, ddb, Traffic(name, None, 95, 10))
    clock = Clock()
    leader = runner(tmp_path, "a", tables="^t[0-9]$", clock=clock)
    decide = leader.engine.decide

    def slow_decide(*args: Any, **kwargs: Any) -> Any:
        clock.now += 30
        return decide(*args, **kwargs)

    leader.engine.decide = slow_decide  # type: ignore[method-assign]
    report = leader.cycle()
    assert (report.updates, report.interrupted) == (4, False)
    assert [read_units(ddb, name) for name in names] == [101] * 4


def test_a_follower_that_cannot_read_the_lease_backs_off_and_says_so(
        ddb: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The lease it last saw has expired and the table cannot be read: the follower waits
    the failure back-off (not 0.1 s, a hot loop), and after error-after-failed-cycles says
    it cannot read the lease rather than "nothing is being scaled"."""
    clock = Clock(time.time())
    leader, follower = runner(tmp_path, "a", clock=clock), runner(tmp_path, "b", clock=clock)
    assert leader._lead() and not follower._lead()
    clock.now += 200  # the view the follower holds has expired
    assert follower.lease is not None
    follower.lease.client = _Unreachable()
    waits: list[float] = []
    told: list[tuple[str, str]] = []

    def sleep(seconds: float, *_: Any, **__: Any) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            follower.stop.set()

    monkeypatch.setattr(follower, "_sleep", sleep)
    monkeypatch.setattr(follower, "_notify_error",
                        lambda cause, detail: told.append((cause, detail)))
    follower._loop()
    # The check interval, then the back-off doubling: never the stale view's 0.1 s.
    assert [round(wait) for wait in waits] == [60, 120, 240]
    assert told and told[0][0] == "cannot read the lease"
    assert "the leader may still be scaling" in told[0][1]
    assert "this process cannot read the lease; the leader may still be scaling" in caplog.text
    assert "nothing is being scaled" not in caplog.text


def test_a_run_once_keeps_its_own_status_file(ddb: Any, tmp_path: Path) -> None:
    """A --run-once sharing a daemon's pid file directory and instance never overwrites the
    daemon's status; --daemon status shows both."""
    from dynamic_dynamodb import daemon

    shared = tmp_path / "run"
    shared.mkdir()
    daemon_status = shared / "dynamic-dynamodb.default.status.json"
    daemon_status.write_text('{"time": "t", "result": "ok", "summary": "the daemon"}')
    once = runner(tmp_path, "run", run_once=True)
    once.run_once()
    pid_path = str(shared / "dynamic-dynamodb.default.pid")
    assert daemon.last_cycle(pid_path) == "last cycle: t, ok (the daemon)"
    line = daemon.last_run_once(pid_path)
    assert line is not None and line.startswith("last --run-once: ") and "Cycle done" in line


def test_a_demand_history_is_an_item_of_its_own_written_only_when_it_changes(ddb: Any) -> None:
    """predictive-scaling's history (~170 KB of JSON for 14 days of 5-minute periods) would
    take a resource's item near DynamoDB's 400 KB limit and be rewritten at every counter
    change: it is kept in "<key>#history", compressed, written when refreshed."""
    history = {"fetched": T0.isoformat(),
               "reads": [round(index * 0.37, 2) for index in range(4032)],
               "writes": [round(index * 0.11, 2) for index in range(4032)]}
    first = store(ddb)
    state = first.load(SCOPE)
    state.set_counters("orders", Counters(1, 0))
    state.set_demand_history("orders", history)
    calls = counted(ddb)
    first.save(state)
    assert calls == Counter({"PutItem": 2})
    main = item(ddb, "orders")
    assert "demand_history" not in main["record"]["S"] and len(main["record"]["S"]) < 1000
    kept = item(ddb, "orders#history")
    assert len(kept["history"]["B"]) < len(json.dumps(history)) / 2  # compressed
    assert int(kept["expires"]["N"]) == int((T0 + ITEM_TTL).timestamp())

    # A counter moves: the small item is written, the history is not.
    calls.clear()
    state.set_counters("orders", Counters(2, 0))
    first.save(state)
    assert calls == Counter({"PutItem": 1})

    # Another process reads the history with the rest (one Query), and saves nothing new.
    other = store(ddb)
    again = other.load(SCOPE)
    assert again.demand_history("orders") == history
    assert again.counters("orders") == Counters(2, 0)
    calls.clear()
    other.save(again)
    assert calls == Counter()
    # Refreshed (once a day): only the history item is written.
    again.set_demand_history("orders", {**history, "fetched": (T0 + timedelta(days=1)).isoformat()})
    other.save(again)
    assert calls == Counter({"PutItem": 1})
    assert store(ddb).load(SCOPE).demand_history("orders")["fetched"].startswith("2026-03-05")

    # A forgotten resource takes its history with it.
    del again.data["resources"]["orders"]
    other.save(again)
    assert item(ddb, "orders") == {} and item(ddb, "orders#history") == {}


def _keyed_table(client: Any, name: str, pk_type: str = "S") -> None:
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": pk_type},
                              {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}])


def test_a_table_whose_keys_are_not_strings_is_refused(moto_clients: Clients) -> None:
    _keyed_table(moto_clients.dynamodb, "numbered", pk_type="N")
    with pytest.raises(StateTableError, match=r"the table numbered is not a state table: its key "
                                              r"is pk \(hash, N\), sk \(range, S\), not pk"):
        TableStore(moto_clients.dynamodb, "numbered", "default").preflight()


def test_a_table_that_is_not_usable_now_is_refused() -> None:
    class Deleting:
        def describe_table(self, TableName: str) -> dict[str, Any]:  # noqa: N803 (boto3's)
            return {"Table": {"TableName": TableName, "TableStatus": "DELETING",
                              "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                            {"AttributeName": "sk", "KeyType": "RANGE"}],
                              "AttributeDefinitions": [
                                  {"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}]}}

    with pytest.raises(StateTableError, match=r"the table dd-state cannot be used now: it is "
                                              r"DELETING$"):
        TableStore(Deleting(), TABLE, "default").preflight()


def test_create_state_table_refuses_a_table_with_ttl_on_another_attribute(
        moto_clients: Clients) -> None:
    client = moto_clients.dynamodb
    _keyed_table(client, TABLE)
    client.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={
        "Enabled": True, "AttributeName": "ttl"})
    with pytest.raises(StateTableError, match=r"the table dd-state has TTL on 'ttl', not "
                                              r"'expires'"):
        create_state_table(client, TABLE, wait_delay=0.01)
    ttl = client.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "ttl"  # left as it was


def test_an_unusable_item_is_said_to_be_removed_and_is_removed(
        ddb: Any, caplog: pytest.LogCaptureFixture) -> None:
    ddb.put_item(TableName=TABLE, Item={"pk": {"S": f"state#default#{SCOPE}"},
                                        "sk": {"S": "orders"}, "record": {"S": "{not json"},
                                        "version": {"N": "3"}})
    first = store(ddb)
    state = first.load(SCOPE)
    assert "ignoring an unusable item" in caplog.text and "removed at the next save" in caplog.text
    first.save(state)
    assert item(ddb, "orders") == {}
