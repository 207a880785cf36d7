"""Running cycles: --run-once, the plain loop, signals, configuration reload and back-off."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from dynamic_dynamodb import fleet, logs, paths
from dynamic_dynamodb import metrics as operator_metrics
from dynamic_dynamodb.aws import dynamodb
from dynamic_dynamodb.aws.clients import (
    error_code,
    resolve_region,
    role_session,
)
from dynamic_dynamodb.aws.ports import Ports
from dynamic_dynamodb.config.loader import match_table
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.config.run_options import RunOptions
from dynamic_dynamodb.engine import AWS_ERRORS, CycleReport, Engine, utcnow
from dynamic_dynamodb.errors import ConfigError, DynamicDynamoDBError
from dynamic_dynamodb.fleet import Lane, Location, clients_for
from dynamic_dynamodb.lease import Leadership, Lease, LeaseError, LeaseGate, lease_terms
from dynamic_dynamodb.state import (
    ITEM_TTL,
    TTL_ATTRIBUTE,
    UNKNOWN_ACCOUNT,
    State,
    StateLockedError,
    StateStore,
    StateWriteError,
    Store,
    TableStore,
    create_state_table,
    default_state_path,
)

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_ERROR, EXIT_FAILURES, EXIT_LOCKED = 0, 1, 3, 4
MAX_BACKOFF_SECONDS = 900
MIN_BACKOFF_SECONDS = 10
SLEEP_SLICE = 0.25  # how often the sleep looks at the stop and reload flags
# After SIGTERM/SIGINT the current table is finished, but not longer than this: a call to a
# hung endpoint is abandoned, so a stop always completes within systemd's stop timeout.
STOP_GRACE_SECONDS = 8.0


class StopNow(BaseException):
    """Raised (from SIGALRM) into a call that still hangs STOP_GRACE_SECONDS after a stop
    request. A BaseException, so no per-table error handler swallows it."""


def state_path(config: Config, run: RunOptions) -> str:
    """--state-file / [global] state-file, else the instance's default; a dry run has its own."""
    dry_run = run.dry_run
    configured = config.global_options.state_file
    if not configured:
        return default_state_path(run.pid_file_dir, run.instance, dry_run=dry_run)
    if not dry_run:
        return configured
    # A preview never touches (or locks) the real instance's state, configured or not.
    stem, dot, extension = configured.rpartition(".")
    return f"{stem}.dry-run.{extension}" if dot and "/" not in extension else f"{configured}.dry-run"


def state_table_client(global_options: Any) -> Any:
    """A DynamoDB client for [global] state-table: the [global] region and credentials,
    botocore's standard retries, bounded calls (as make_clients)."""
    credentials = {}
    if global_options.aws_access_key_id and global_options.aws_secret_access_key:
        credentials = {"aws_access_key_id": global_options.aws_access_key_id,
                       "aws_secret_access_key": global_options.aws_secret_access_key}
    session = boto3.session.Session(region_name=resolve_region(global_options.region)[0],
                                    **credentials)
    retries: dict[str, Any] = {"mode": "standard"}
    if not os.environ.get("AWS_MAX_ATTEMPTS"):
        retries["total_max_attempts"] = 3
    return session.client("dynamodb", config=BotoConfig(retries=retries, connect_timeout=5,
                                                        read_timeout=10))


def state_store(config: Config, run: RunOptions, state_file: str | None = None,
                client: Any = None) -> Store:
    """The store a real (not dry) run keeps its state in: the state table if [global]
    state-table is set, else the state file."""
    table = config.global_options.state_table
    if table and not run.dry_run:
        return TableStore(client or state_table_client(config.global_options), table,
                          run.instance, config_path=config.path)
    return StateStore(state_file or state_path(config, run))


def backoff_seconds(check_interval: float, failures: int) -> float:
    """Wait after ``failures`` whole-cycle failures in a row: the interval, then doubling."""
    if failures <= 1:
        return float(check_interval)
    base = max(check_interval, MIN_BACKOFF_SECONDS)
    return float(min(base * 2 ** (failures - 1), max(base, MAX_BACKOFF_SECONDS)))


class Flag:
    """A lock-free stop/reload flag, safe to set from a signal handler.

    threading.Event.set() takes a lock that the interrupted main thread may already hold
    (inside Event.wait), which can deadlock a handler; a plain attribute cannot. It keeps
    Event's is_set/set/clear names, which is all Engine uses.
    """

    def __init__(self) -> None:
        self._value = False

    def set(self) -> None:
        self._value = True

    def clear(self) -> None:
        self._value = False

    def is_set(self) -> bool:
        return self._value

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self._value and (remaining := deadline - time.monotonic()) > 0:
            time.sleep(min(remaining, SLEEP_SLICE))
        return self._value


class Runner:
    """Owns the AWS ports, the state store and the stop/reload flags of one process."""

    def __init__(
        self,
        config: Config,
        run: RunOptions,
        *,
        ports: Ports | None = None,
        reload_config: Callable[[], Config] | None = None,
        state_file: str | None = None,
        account: str | None = None,
        ports_for: Callable[[Location], Ports] | None = None,
    ):
        """``ports``: the first location's ports (tests, the simulator); ``ports_for``: every
        other location's (tests). Otherwise each location gets its own clients (fleet.py)."""
        self.config = config
        self.run = run
        self._own_ports = ports is None
        self._given_ports = ports
        self._ports_for = ports_for
        self._account = account  # of the first location; else STS tells (fleet.Lane.scope)
        if ports is None:
            region, source = resolve_region(config.global_options.region)
            logger.info("Region %s (from %s)", region, source)
        # With [global] state-table: the state in the table, and a lease that makes one
        # process of the instance (on any host) the leader; a dry run reads the table and
        # never writes it (not even the lease): its own state stays in its .dry-run file.
        table = config.global_options.state_table
        table_client = state_table_client(config.global_options) if table else None
        self.store: Store = state_store(config, run, state_file, table_client)
        self.lease: Lease | None = None
        self.leadership: Leadership | None = None
        if table and not run.dry_run:
            self.lease = Lease(table_client, table, run.instance,
                               lease_terms(config.global_options.check_interval, run.run_once),
                               mode="run-once" if run.run_once else "daemon")
        self.save_failed: str | None = None  # why the last save failed; None once one works
        self.last_report: CycleReport | None = None  # of the last cycle that ran (the Lambda's)
        self.last_error: str | None = None  # why --run-once exited 1 or 4 (the Lambda's)
        # A dry run keeps its own state file, but starts from the real instance's counters
        # (read only, never locked or written), so its preview is the real next decision.
        self.preview_of: Store | None = None
        if run.dry_run and table:
            self.preview_of = state_store(config, run.as_real_run(), None, table_client)
        elif run.dry_run and state_file is None:
            self.preview_of = StateStore(state_path(config, run.as_real_run()))
        self.stop = Flag()
        self.reload_requested = Flag()
        self.reload_config = reload_config
        self.received: list[str] = []  # signal names, logged by the loop (never in a handler)
        # A --run-once has a status file of its own, so that one sharing a daemon's pid file
        # directory never overwrites what --daemon status says of the daemon.
        self.status_path = (paths.run_once_status_file(run.pid_file_dir, run.instance)
                            if run.run_once else
                            paths.status_file(run.pid_file_dir, run.instance))
        self.lease_unreadable: str | None = None  # why the last claim failed; None once one works
        self.lanes_running = False  # a forced stop left a location's thread running
        self._status_warned = False
        self.exporter: operator_metrics.Exporter | None = None
        self.metrics_server: operator_metrics.MetricsServer | None = None
        # The state is read only under the lock, by cycle(): another process may be writing it.
        # A leader's engine also stops acting when its lease could run out (LeaseGate).
        self.gate = LeaseGate(self.stop, self.lease) if self.lease is not None else None
        # One lane (engine, clients, state scope) per (account, region) location; the first
        # is the one a configuration of a single location always had.
        self.lanes: list[Lane] = self._make_lanes(config, {})
        self._start_metrics()

    @property
    def engine(self) -> Engine:
        """The first location's engine: the only one, unless several locations are in use."""
        return self.lanes[0].engine

    @property
    def ports(self) -> Ports:
        return self.lanes[0].engine.ports

    # -- locations ---------------------------------------------------------------------------
    def _make_lanes(self, config: Config, old: dict[Location, Lane]) -> list[Lane]:
        """A lane per location; one already running (in ``old``) keeps its engine (its
        one-time warnings, limits and failure streaks) and takes the new configuration."""
        default_region = resolve_region(config.global_options.region)[0]
        places = fleet.locations(config, default_region)
        several = len(places) > 1
        lanes = []
        for index, location in enumerate(places):
            engine_config = (fleet.restricted(config, location, default_region) if several
                             else config)
            if location in old:
                lane = old[location]
                lane.engine.config = engine_config
                lanes.append(lane)
                continue
            sts, endpoint = None, None
            if index == 0 and self._given_ports is not None:
                ports = self._given_ports
            elif self._ports_for is not None:
                ports = self._ports_for(location)
            else:
                clients = clients_for(config, location, default_region)
                ports, sts = clients.ports(), clients.sts
                endpoint = getattr(getattr(clients.dynamodb, "meta", None), "endpoint_url", None)
            engine = Engine(engine_config, ports, State(), dry_run=self.run.dry_run,
                            stop=self.gate or self.stop,  # type: ignore[arg-type]  # quacks like Event
                            may_act=self.gate.may_act if self.gate is not None else None)
            engine.collect_statuses = getattr(self, "exporter", None) is not None
            lanes.append(Lane(location, engine, sts=sts, endpoint=endpoint,
                              account=self._account if index == 0 else None))
        for lane in lanes:
            lane.labelled(several)
        if several:
            logger.info("Checking %d accounts and regions at once: %s", len(lanes),
                        "; ".join(lane.location.describe() for lane in lanes))
        return lanes

    # -- state ------------------------------------------------------------------------------
    def state_scope(self) -> str:
        """``<account>/<region>[@endpoint]``: the part of the state the first location uses
        (fleet.Lane.scope: the account from STS, once per process)."""
        return self.lanes[0].scope()

    def preflight(self) -> None:
        """Before a loop starts: refuse an untrusted or unreadable state file at once (the
        CLI reports it in one line, exit 1), rather than failing every cycle."""
        self.store.preflight()

    def cycle(self) -> CycleReport:
        """One cycle under the state lock; state is loaded before and saved after. With a
        state table, only the lease holder runs it; a follower only looks at the lease."""
        with self.store.locked():
            if self.lease is not None and not self._lead():
                return CycleReport()
            if len(self.lanes) > 1:
                return self._locations_cycle()
            self._load(self.engine, self.state_scope())
            self.preview_of = None  # later cycles of a dry-run loop go on from their own
            return self.engine.run_cycle(finish=self._finish)

    def _load(self, engine: Engine, scope: str) -> None:
        """``scope``'s state into ``engine``: from the store, or, for a dry run's first
        cycle, read only from the real instance's."""
        if self.preview_of is not None:
            engine.state = self.preview_of.load(scope, read_only=True)
        elif self.save_failed is not None and engine.state.scope == scope:
            pass  # the file is older than what this process knows: go on from memory
        else:
            engine.state = self.store.load(scope)

    def _locations_cycle(self) -> CycleReport:
        """One cycle of every location, in parallel threads (at most
        fleet.MAX_PARALLEL_LOCATIONS at once). Each has its own scope of the state (loaded
        and saved here, in this thread: the store is not shared between threads), its log
        lines name its account and region, and its failure (AssumeRole denied, say) is its
        own: the others go on."""
        for lane in self.lanes:
            self._load(lane.engine, lane.scope())
        self.preview_of = None
        started, began = time.monotonic(), utcnow()
        reports: list[CycleReport] = []
        results: dict[int, CycleReport] = {}
        begun: set[int] = set()
        try:
            reports = self._run_lanes(results, begun)
        finally:
            # A forced stop (StopNow) can leave a location's thread running, still changing
            # its state and perhaps sending an UpdateTable: its state is not saved (it would
            # be serialised while it changes), and the lease is not released (loop()).
            running = begun - set(results)
            self.lanes_running = bool(running)
            if running:
                reports = [results.get(id(lane)) or CycleReport(interrupted=True)
                           for lane in self.lanes]
            report = fleet.combined(reports, began, time.monotonic() - started)
            self.last_report = report
            self._save(report, [lane for lane in self.lanes if id(lane) not in running])
        self._record(report, [(lane.name().partition("/")[0], lane.location.region)
                              for lane, lane_report in zip(self.lanes, reports, strict=True)
                              for _ in lane_report.statuses])
        self._write_status(report)
        logger.info("All %d accounts and regions: %s", len(self.lanes), report.summary())
        return report

    def _run_lanes(self, results: dict[int, CycleReport],
                   begun: set[int]) -> list[CycleReport]:
        """Every lane's cycle in worker threads; ``results`` and ``begun`` (by ``id(lane)``)
        say, also after a forced stop, which lanes finished and which started."""
        pending = list(self.lanes)
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    if not pending or self.stop.is_set():
                        return
                    lane = pending.pop(0)
                    begun.add(id(lane))
                results[id(lane)] = self._lane_cycle(lane)

        workers = [threading.Thread(target=work, name=f"location-{number}", daemon=True)
                   for number in range(min(fleet.MAX_PARALLEL_LOCATIONS, len(self.lanes)))]
        for worker in workers:
            worker.start()
        for worker in workers:
            while worker.is_alive():  # short joins: the main thread stays open to signals
                worker.join(SLEEP_SLICE)
        return [results.get(id(lane)) or CycleReport(interrupted=True) for lane in self.lanes]

    def _lane_cycle(self, lane: Lane) -> CycleReport:
        """One location's cycle, in this thread. A failure of the whole location is one
        error line per cycle; after error-after-failed-cycles in a row, also an ``error``
        SNS message to its sections' topics."""
        finished: list[CycleReport] = []
        trace = None
        with logs.location(lane.label):
            try:
                lane.engine.run_cycle(finish=finished.append)
                report = finished[0]
                reason = (f"{report.errors} errors and no table or GSI could be checked"
                          if report.errors and report.tables + report.gsis == 0 else None)
            except AWS_ERRORS as exc:
                report = finished[0] if finished else CycleReport(errors=1)
                operation = str(getattr(exc, "operation_name", "") or "AWS")
                report.failures[(operation, error_code(exc))] += 1
                reason = f"{error_code(exc)} ({' '.join(str(exc).split())})"  # one line
            except Exception as exc:
                report = finished[0] if finished else CycleReport(errors=1)
                reason = f"unexpected {type(exc).__name__}: {exc}"
                trace = "".join(traceback.format_exception(exc)).rstrip()
            self._lane_outcome(lane, reason, trace)
        return report

    def _lane_outcome(self, lane: Lane, reason: str | None, trace: str | None) -> None:
        if reason is None:
            if lane.failures > 1:
                logger.info("Cycle succeeded again after %d failed cycles", lane.failures)
            lane.failures = 0
            return
        lane.failures += 1
        logger.error("Cycle failed for this account and region: %s", reason)
        if trace and lane.failures == 1:
            logger.error("%s", trace)
        if lane.failures == self.config.global_options.error_after_failed_cycles:
            account, _, region = lane.name().partition("/")
            detail = (f"No check cycle has succeeded for {lane.failures} cycles in a row in "
                      f"AWS account {account}, region {region}; its tables are not being "
                      f"scaled. Last failure: {reason}\n")
            try:
                lane.engine.notify_error("no successful cycle", detail)
            except Exception as exc:  # telling must never stop the others
                logger.error("Cannot send the error notification: %s", exc)

    def _lead(self) -> bool:
        """Claim the lease (renew or take it); True if this process leads this cycle.
        LeaseError (one line) if the table cannot be asked: the cycle then does nothing."""
        assert self.lease is not None
        before = self.leadership
        try:
            leadership = self.lease.claim()
        except LeaseError as exc:
            # What this process last saw of the lease is no guide any more: without this, a
            # follower would look again the moment that stale view "expires" (a hot loop)
            # instead of waiting for the failure back-off.
            self.leadership = None
            self.lease.forget()
            self.lease_unreadable = str(exc)
            raise
        self.lease_unreadable = None
        self.leadership = leadership
        instance = self.run.instance
        if leadership.leader:
            if self.gate is not None:
                self.gate.rearm()
            if leadership.took_over:
                self.save_failed = None  # another process may have written the state since
                logger.info("Instance %s: this process (%s) leads now (lease term %d, until %s, "
                            "renewed every cycle); scaling from this cycle", instance,
                            self.lease.holder, leadership.term, _epoch_text(leadership.expires_at))
            return True
        changed = before is None or before.leader or before.holder != leadership.holder
        if before is not None and before.leader:
            logger.warning("Instance %s: lost the lease to %s; not scaling", instance,
                           leadership.holder or "nobody")
        logger.log(logging.INFO if changed else logging.DEBUG,
                   "Instance %s is led by %s (lease until %s); this process does not scale, "
                   "and takes over if the lease expires", instance, leadership.holder,
                   _epoch_text(leadership.expires_at))
        self._write_status(None)
        return False

    def follower_wait(self, wait: float) -> float:
        """A follower looks again when the lease it saw expires, if that comes first."""
        if self.lease is None or self.leadership is None or self.leadership.leader:
            return wait
        until = self.lease.seconds_until_expiry()
        return wait if until is None else min(wait, until + 0.1)

    def release_lease(self) -> None:
        """A clean stop of a leading daemon: the lease is released, so a follower takes over
        at its next look instead of waiting for the lease to expire."""
        if self.lease is None or self.run.run_once:
            return
        if self.lanes_running:
            logger.warning("Instance %s: not releasing the lease: a location's thread may still "
                           "be updating a table; the lease expires by itself",
                           self.run.instance)
            return
        if self.lease.release():
            logger.info("Instance %s: released the lease", self.run.instance)

    def _finish(self, report: CycleReport) -> None:
        self.last_report = report
        self._save(report)
        self._record(report)
        self._write_status(report)

    def _write_status(self, report: CycleReport | None) -> None:
        """The last cycle's time and result beside the pid file, for ``--daemon status``
        (``report`` None: a follower's look at the lease), and who leads."""
        if self.run.dry_run:
            return
        if report is None:
            status: dict[str, Any] = {"time": utcnow().isoformat(timespec="seconds"),
                                      "result": "standing by", "summary": "not the leader"}
        else:
            failed = bool(report.errors and report.tables + report.gsis == 0)
            status = {"time": utcnow().isoformat(timespec="seconds"),
                      "result": "failed" if failed else ("errors" if report.errors else "ok"),
                      "summary": report.summary()}
        if self.lease is not None and self.leadership is not None:
            status["lease"] = self.leadership.as_status(self.lease.holder)
        try:
            paths.make_directory(os.path.dirname(self.status_path), "the pid file directory")
            paths.write_private(self.status_path, json.dumps(status) + "\n", "the status file")
        except (OSError, DynamicDynamoDBError) as exc:
            self._warn_status(str(exc))

    # -- operator metrics --------------------------------------------------------------------
    def _start_metrics(self) -> None:
        """The Prometheus exporter, if metrics-port or metrics-textfile is set. A port that
        cannot be served is a one-line start-up error (ConfigError)."""
        options = self.config.global_options
        if options.metrics_port is None and not options.metrics_textfile:
            return
        # Several locations: the per-table series carry account and region (a table name
        # can exist in more than one); one location keeps the series it always had.
        self.exporter = operator_metrics.Exporter(instance=self.run.instance,
                                                  locations=len(self.lanes) > 1)
        for lane in self.lanes:
            lane.engine.collect_statuses = True
        if options.metrics_textfile:
            self.exporter.resume_from_textfile(options.metrics_textfile)
        if options.metrics_port is not None and not self.run.run_once:
            try:
                self.metrics_server = self.exporter.serve(options.metrics_port,
                                                          options.metrics_address)
            except operator_metrics.MetricsServerError as exc:
                raise ConfigError(None, "global", "metrics-port", str(exc)) from None
            logger.info("Serving metrics on http://%s:%d/metrics", options.metrics_address,
                        self.metrics_server.port)

    def _notify_error(self, cause: str, detail: str) -> None:
        try:
            for lane in self.lanes:  # each location's engine knows its own sections' topics
                lane.engine.notify_error(cause, detail)
        except Exception as exc:  # telling must never stop the loop
            logger.error("Cannot send the error notification: %s", exc)

    def _warn_status(self, problem: str) -> None:
        if not self._status_warned:
            self._status_warned = True
            logger.warning("Cannot record the last cycle for --daemon status: %s", problem)

    def stop_metrics(self) -> None:
        if self.metrics_server is not None:
            self.metrics_server.stop()
            self.metrics_server = None

    def _record(self, report: CycleReport,
                locations: list[tuple[str, str]] | None = None) -> None:
        """The cycle's figures into the exporter (and its textfile). A metrics problem never
        stops scaling: it is logged, once per cause. ``locations``: the (account, region) of
        each of ``report.statuses``, when several locations are checked."""
        if self.exporter is None:
            return
        if locations is None and self.exporter.locations:  # several at start, one since
            where = (self.lanes[0].name().partition("/")[0], self.lanes[0].location.region)
            locations = [where] * len(report.statuses)
        started = report.started or utcnow()
        try:
            self.exporter.record(operator_metrics.CycleFigures(
                started=started, duration_seconds=report.duration,
                succeeded=not (report.errors and report.tables + report.gsis == 0),
                tables=report.tables, gsis=report.gsis, errors=report.errors,
                updates=report.updates, calls=dict(report.calls),
                attempts=dict(report.attempts), failures=dict(report.failures),
                update_results=dict(report.update_results),
                metrics_requested=report.metrics_requested,
                dimensions=tuple(
                    operator_metrics.DimensionStatus(
                        status.table, status.gsi, status.dimension, status.provisioned,
                        status.consumed_percent if status.complete else math.nan,
                        status.throttle_events, status.outcome, status.decreases_today,
                        status.next_decrease, *(locations[index] if locations else ()))
                    for index, status in enumerate(report.statuses)),
            ))
            textfile = self.config.global_options.metrics_textfile
            if textfile:
                self.exporter.write_textfile(textfile)
        except (ValueError, OSError) as exc:
            logger.error("Cannot record the operator metrics: %s", exc)

    def _save(self, report: CycleReport, lanes: list[Lane] | None = None) -> None:
        """Save the state at the end of the cycle, before its summary: a failed save is one
        of the cycle's errors (so --run-once exits 3), logged at ERROR every cycle. Each
        location (of ``lanes``, default all) is saved even if another's save fails.

        A leader that lost its lease during the cycle (another process holds it now) saves
        nothing: the new leader's counters and ledger stand, and this process's changes
        since its last save are dropped (the merge would otherwise put them on top)."""
        if self.lease is not None and not self._still_leading():
            logger.warning("Instance %s: the lease passed to another process during this "
                           "cycle; not saving this cycle's state over the new leader's",
                           self.run.instance)
            return
        now = utcnow()
        problems: list[str] = []
        for lane in self.lanes if lanes is None else lanes:  # each location's own scope
            lane.engine.state.finish_cycle(now)
            try:
                self.store.save(lane.engine.state)
            except StateWriteError as exc:
                report.errors += 1
                problems.append(str(exc))
        if problems:
            self.state_not_saved("; ".join(dict.fromkeys(problems)))
            return
        if self.save_failed is not None:
            logger.info("The %s is saved again", self.store.where)
        self.save_failed = None

    def _still_leading(self) -> bool:
        """At the save: does this process still hold the lease? Renewed here if that is due
        (so a leader that merely ran long finds out whether another took over); a renewal
        that cannot be sent leaves it holding (the store's merge keeps both writers')."""
        assert self.lease is not None
        self.lease.heartbeat()
        return self.lease.held

    def state_not_saved(self, reason: str) -> None:
        """A save failed (``reason`` is one line). Here is where an ``error`` notification
        would be sent."""
        self.save_failed = reason
        logger.error("%s; the counters and decrease record live in this process only until a "
                     "save works", reason)

    # -- signals ----------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT: finish the current table, then exit. SIGHUP: reload the config.

        Handlers only set flags: logging from a handler can hit a reentrant write on the
        same stream, so the loop logs what was received at its next look (within 0.25 s
        when sleeping, after the current table when checking).
        """
        def request_stop(signum: int, _frame: Any) -> None:
            self.received.append(signal.Signals(signum).name)
            if not self.stop.is_set():
                self.stop.set()
                # A blocking socket read returns to Python for a signal handler (PEP 475): if
                # the current table is not done within the grace time, the alarm interrupts it.
                signal.setitimer(signal.ITIMER_REAL, STOP_GRACE_SECONDS)

        def stop_now(_signum: int, _frame: Any) -> None:
            raise StopNow

        def request_reload(signum: int, _frame: Any) -> None:
            self.received.append(signal.Signals(signum).name)
            self.reload_requested.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGHUP, request_reload)
        signal.signal(signal.SIGALRM, stop_now)

    @staticmethod
    def disarm_stop_alarm() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)

    def _abandoned(self) -> None:
        logger.warning("A call to AWS did not return within %g s of the stop request; exiting "
                       "without waiting for it (the state of the tables checked so far is "
                       "saved)", STOP_GRACE_SECONDS)

    def _log_received(self) -> None:
        while self.received:
            name = self.received.pop(0)
            if name == "SIGHUP":
                logger.info("Received SIGHUP; reloading the configuration before the next cycle")
            else:
                logger.info("Received %s; finishing the current table, then exiting", name)

    # -- reload -----------------------------------------------------------------------------
    def _reload(self) -> None:
        self.reload_requested.clear()
        self._log_received()
        if self.reload_config is None:
            logger.warning("Configuration reload is not available in this mode; ignoring SIGHUP")
            return
        try:
            config = self.reload_config()
        except Exception as exc:  # a bad file must never stop the daemon
            logger.error("Configuration reload failed, keeping the previous configuration: %s",
                         exc)
            if not isinstance(exc, ConfigError):
                logger.error("%s", "".join(traceback.format_exception(exc)).rstrip())
            return
        for warning in config.warnings:
            logger.warning("%s", warning)
        old = self.config
        if config.logging != old.logging:
            logger.warning("The [logging] options changed; they take effect at the next restart")
        if config.global_options.state_file != old.global_options.state_file:
            logger.warning("state-file changed; it takes effect at the next restart")
        if config.global_options.state_table != old.global_options.state_table:
            logger.warning("state-table changed; it takes effect at the next restart")
        if self.lease is not None:  # the lease follows check-interval from the next renewal
            self.lease.terms = lease_terms(config.global_options.check_interval,
                                           self.run.run_once)
        # A location whose clients stay the same keeps its engine; new keys or a new default
        # region make new clients (and a new account lookup) for every location.
        renew = self._own_ports and _client_settings(config) != _client_settings(old)
        self.lanes = self._make_lanes(
            config, {} if renew else {lane.location: lane for lane in self.lanes})
        if self.exporter is not None and self.exporter.locations != (len(self.lanes) > 1):
            logger.warning("The configuration now has %s; the metrics' account and region "
                           "labels follow at the next restart",
                           "several accounts and regions" if len(self.lanes) > 1
                           else "one account and region")
        self.config = config
        logger.info("Configuration reloaded from %s; it applies from the next cycle",
                    config.path)

    # -- the loop ---------------------------------------------------------------------------
    def _guarded_cycle(self) -> tuple[str, str | None] | None:
        """Run one cycle. None if it worked; else (one-line reason, traceback or None)."""
        try:
            report = self.cycle()
        except DynamicDynamoDBError as exc:  # the state lock, an unsafe or unreadable file
            return str(exc), None
        except AWS_ERRORS as exc:
            return f"{error_code(exc)} ({exc})", None
        except Exception as exc:
            return (f"unexpected {type(exc).__name__}: {exc}",
                    "".join(traceback.format_exception(exc)).rstrip())
        if report.errors and report.tables + report.gsis == 0:
            return f"{report.errors} errors and no table or GSI could be checked", None
        return None

    def loop(self) -> int:
        """Cycle every check-interval seconds, measured from cycle starts, until stopped.

        No exception ends the loop (D12). After repeated failures of a whole cycle the wait
        doubles up to 15 minutes, with one error line per failed cycle.
        """
        try:
            self._loop()
        except StopNow:
            self._abandoned()
        finally:
            self.disarm_stop_alarm()
            self.stop_metrics()
            self.release_lease()
        self._log_received()
        logger.info("Stopped")
        return EXIT_OK

    def _loop(self) -> None:
        failures = 0
        last_reason: str | None = None
        while not self.stop.is_set():
            if self.reload_requested.is_set():
                self._reload()
            started = time.monotonic()
            failure = self._guarded_cycle()
            self._log_received()
            interval = self.config.global_options.check_interval
            if failure is None:
                if failures > 1:
                    logger.info("Cycle succeeded again after %d failed cycles", failures)
                failures, last_reason = 0, None
                wait = max(0.0, interval - (time.monotonic() - started))
            else:
                failures += 1
                reason, trace = failure
                wait = backoff_seconds(interval, failures)
                if failures == 1:
                    logger.error("Cycle failed: %s", reason)
                else:
                    logger.error("Cycle failed again (%d in a row): %s; backing off, next try "
                                 "in %d s", failures, reason, wait)
                if trace and reason != last_reason:
                    logger.error("%s", trace)  # a new error gets its traceback, once
                if failures == self.config.global_options.error_after_failed_cycles:
                    self._no_successful_cycle(failures, reason)
                last_reason = reason
                wait = max(0.0, wait - (time.monotonic() - started))
            if self.stop.is_set():
                break
            wait = self.follower_wait(wait)
            logger.debug("Sleeping %.1f seconds until the next check", wait)
            self._sleep(wait, started, backing_off=failures > 1)

    def _no_successful_cycle(self, failures: int, reason: str) -> None:
        """error-after-failed-cycles whole cycles failed in a row: ERROR, and an ``error``
        SNS message. When it is the lease that cannot be read, this copy cannot tell whether
        another one leads and scales: it says so rather than "nothing is being scaled"."""
        if self.lease_unreadable is not None:
            logger.error("No cycle has succeeded for %d cycles in a row: this process cannot "
                         "read the lease; the leader may still be scaling", failures)
            holder = self.lease.holder if self.lease is not None else "-"
            self._notify_error(
                "cannot read the lease",
                f"This copy of instance {self.run.instance} ({holder}) has not been able to "
                f"read its lease for {failures} cycles in a row: it cannot read the lease; "
                "the leader may still be scaling (if another copy holds the lease), but this "
                f"copy neither scales nor can take over. Last failure: {reason}\n")
            return
        logger.error("No cycle has succeeded for %d cycles in a row; nothing is being scaled",
                     failures)
        self._notify_error(
            "no successful cycle",
            f"No check cycle has succeeded for {failures} cycles in a row; nothing is being "
            f"scaled. Last failure: {reason}\n")

    def _sleep(self, seconds: float, cycle_started: float | None = None,
               backing_off: bool = False) -> None:
        """Sleep, waking for a stop at once; a reload is applied here and may move the end."""
        deadline = time.monotonic() + seconds
        while not self.stop.is_set():
            if self.reload_requested.is_set():
                before = self.config.global_options.check_interval
                self._reload()
                after = self.config.global_options.check_interval
                if after != before and cycle_started is not None and not backing_off:
                    deadline = cycle_started + after
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(remaining, SLEEP_SLICE))
        self._log_received()

    def run_once(self) -> int:
        try:
            report = self.cycle()
        except StopNow:
            self._abandoned()
            return EXIT_FAILURES
        except StateLockedError as exc:
            logger.error("%s", exc)
            self.last_error = str(exc)
            return EXIT_LOCKED
        except DynamicDynamoDBError as exc:  # an unsafe or unreadable state file: nothing done
            logger.error("%s", exc)
            self.last_error = str(exc)
            return EXIT_ERROR
        except AWS_ERRORS as exc:
            logger.error("Cycle failed: %s (%s)", error_code(exc), exc)
            return EXIT_FAILURES
        if self.leadership is not None and not self.leadership.leader:
            logger.info("Another run of instance %s (%s) holds the lease until %s; this "
                        "--run-once did nothing", self.run.instance, self.leadership.holder,
                        _epoch_text(self.leadership.expires_at))
        return EXIT_FAILURES if report.errors else EXIT_OK


def _epoch_text(epoch: float | None) -> str:
    if epoch is None:
        return "unknown"
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")


def _client_settings(config: Config) -> tuple[Any, ...]:
    options = config.global_options
    return options.region, options.aws_access_key_id, options.aws_secret_access_key


def make_runner(config: Config, run: RunOptions, reload_config: Callable[[], Config], *,
                state_file: str | None = None, base_dir: str | None = None) -> Runner:
    """A Runner whose SIGHUP reloads the configuration with ``reload_config``.

    ``base_dir``: resolve relative paths of a reloaded configuration against this directory
    (the daemon runs in "/", but its paths are relative to where it was started).
    """
    def reload() -> Config:
        fresh = reload_config()
        return absolute_paths(fresh, base_dir) if base_dir else fresh

    return Runner(config, run, reload_config=reload, state_file=state_file)


def absolute_paths(config: Config, base_dir: str) -> Config:
    """The same configuration with log-file, log-config-file and state-file made absolute."""
    def absolute(path: str | None) -> str | None:
        return os.path.join(base_dir, os.path.expanduser(path)) if path else path

    logging_options = dataclasses.replace(
        config.logging, log_file=absolute(config.logging.log_file),
        log_config_file=absolute(config.logging.log_config_file))
    global_options = dataclasses.replace(
        config.global_options, state_file=absolute(config.global_options.state_file))
    return dataclasses.replace(config, logging=logging_options, global_options=global_options)


def run(config: Config, run: RunOptions, reload_config: Callable[[], Config]) -> int:
    """--run-once, or the plain loop in the foreground."""
    for warning in logs.setup(config.logging, dry_run=run.dry_run):
        logger.warning("%s", warning)
    runner = make_runner(config, run, reload_config,
                         state_file=os.path.abspath(state_path(config, run)))
    if not run.run_once or config.global_options.state_table:
        runner.preflight()  # a missing state table: one line, exit 1, also for --run-once
    # Also for --run-once (cron, `timeout`): a signal finishes the current table first.
    runner.install_signal_handlers()
    if run.run_once:
        try:
            code = runner.run_once()
        finally:
            runner.disarm_stop_alarm()
        runner._log_received()
        return code
    return runner.loop()


def create_table_command(config: Config) -> int:
    """``--create-state-table``: create [global] state-table, or say that it is there.
    A missing option or a refusal is a one-line ConfigError or StateError (exit 1)."""
    options = config.global_options
    if not options.state_table:
        raise ConfigError(config.path, "global", "state-table",
                          "--create-state-table needs the name of the table: set state-table "
                          "in [global] or give --state-table NAME")
    region = resolve_region(options.region)[0]
    created = create_state_table(state_table_client(options), options.state_table)
    what = "Created" if created else "Nothing to do: there is already a"
    print(f"{what} state table {options.state_table} in {region} (on-demand, items expire "
          f"by TTL on '{TTL_ATTRIBUTE}' after {ITEM_TTL.days} days unused)", flush=True)
    return EXIT_OK


def resolution_json(config: Config) -> dict[str, Any]:
    """Which section each table resolves to (D22), when AWS can be reached with credentials."""
    options = config.global_options
    credentials = {}
    if options.aws_access_key_id and options.aws_secret_access_key:
        credentials = {"aws_access_key_id": options.aws_access_key_id,
                       "aws_secret_access_key": options.aws_secret_access_key}
    default_region = resolve_region(options.region)[0]
    session = boto3.session.Session(region_name=default_region, **credentials)
    if session.get_credentials() is None:
        return {"resolution": "not shown: no AWS credentials available"}
    quick = BotoConfig(connect_timeout=3, read_timeout=5, retries={"total_max_attempts": 1})
    places = fleet.locations(config, default_region)
    if places == (Location(default_region),):
        return {"resolution": _resolution(config, session, default_region, quick)}
    # Several accounts or regions: per location, its sections and what its tables resolve to.
    shown: dict[str, Any] = {}
    for location in places:
        reached = session if location.role is None else role_session(
            session, location.role, location.region, quick)
        if location.role is not None:
            account = location.role.account
        else:
            try:
                account = str(reached.client("sts", region_name=location.region, config=quick)
                              .get_caller_identity()["Account"])
            except AWS_ERRORS:
                account = UNKNOWN_ACCOUNT
        sections = fleet.restricted(config, location, default_region)
        shown[f"{account}/{location.region}"] = {
            "reached with": location.describe(),
            "sections": [f"[{section.header}]" for section in sections.tables],
            "tables": _resolution(sections, reached, location.region, quick),
        }
    return {"resolution": shown}


def _resolution(config: Config, session: Any, region: str,
                quick: BotoConfig) -> dict[str, str | None] | str:
    """Each table of ``region`` (through ``session``) and the section it resolves to."""
    client = session.client("dynamodb", region_name=region, config=quick)
    try:
        names = dynamodb.list_tables(client)
    except AWS_ERRORS as exc:
        return f"not shown: AWS not reachable ({error_code(exc)})"
    resolution: dict[str, str | None] = {}
    for name in sorted(names):
        section, _ = match_table(config, name)
        resolution[name] = f"[{section.header}]" if section else None
    return resolution
