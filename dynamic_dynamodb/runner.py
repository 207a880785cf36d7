"""Running cycles: --run-once, the plain loop, signals, configuration reload and back-off."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import signal
import time
import traceback
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from dynamic_dynamodb import logs, paths
from dynamic_dynamodb import metrics as operator_metrics
from dynamic_dynamodb.aws import dynamodb
from dynamic_dynamodb.aws.clients import Clients, error_code, make_clients, resolve_region
from dynamic_dynamodb.aws.ports import Ports
from dynamic_dynamodb.config.loader import match_table
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.config.run_options import RunOptions
from dynamic_dynamodb.engine import AWS_ERRORS, CycleReport, Engine, utcnow
from dynamic_dynamodb.errors import ConfigError, DynamicDynamoDBError
from dynamic_dynamodb.state import (
    UNKNOWN_ACCOUNT,
    State,
    StateLockedError,
    StateStore,
    StateWriteError,
    default_state_path,
    scope_key,
)

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_ERROR, EXIT_FAILURES, EXIT_LOCKED = 0, 1, 3, 4
MAX_BACKOFF_SECONDS = 900
MIN_BACKOFF_SECONDS = 10
SLEEP_SLICE = 0.25  # how often the sleep looks at the stop and reload flags
ACCOUNT_RETRY_SECONDS = 3600  # a failed GetCallerIdentity is tried again at most this often
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
    ):
        self.config = config
        self.run = run
        self._own_ports = ports is None
        # Where the state belongs: account (STS, once per process), region and endpoint.
        self._region = resolve_region(config.global_options.region)[0]
        self._account: str | None = account
        self._sts: Any = None
        self._endpoint: str | None = None
        self._account_tried: float | None = None
        if ports is None:
            region, source = resolve_region(config.global_options.region)
            logger.info("Region %s (from %s)", region, source)
            ports = self._use_clients(make_clients(config.global_options), config)
        self.ports = ports
        self.store = StateStore(state_file or state_path(config, run))
        self.save_failed: str | None = None  # why the last save failed; None once one works
        # A dry run keeps its own state file, but starts from the real instance's counters
        # (read only, never locked or written), so its preview is the real next decision.
        self.preview_of: StateStore | None = None
        if run.dry_run and state_file is None:
            self.preview_of = StateStore(state_path(config, run.as_real_run()))
        self.stop = Flag()
        self.reload_requested = Flag()
        self.reload_config = reload_config
        self.received: list[str] = []  # signal names, logged by the loop (never in a handler)
        self.status_path = paths.status_file(run.pid_file_dir, run.instance)
        self._status_warned = False
        self.exporter: operator_metrics.Exporter | None = None
        self.metrics_server: operator_metrics.MetricsServer | None = None
        # The state is read only under the lock, by cycle(): another process may be writing it.
        self.engine = Engine(config, self.ports, State(), dry_run=run.dry_run,
                             stop=self.stop)  # type: ignore[arg-type]  # Flag quacks like Event
        self._start_metrics()

    # -- state ------------------------------------------------------------------------------
    def _use_clients(self, clients: Clients, config: Config) -> Ports:
        """Adopt new clients (at start, or a reload that changed region or keys): the state
        scope follows them, and the account is asked again."""
        self._region = resolve_region(config.global_options.region)[0]
        self._sts = clients.sts
        self._endpoint = getattr(getattr(clients.dynamodb, "meta", None), "endpoint_url", None)
        self._account, self._account_tried = None, None
        return clients.ports()

    def state_scope(self) -> str:
        """``<account>/<region>[@endpoint]``: the part of the state file this process uses.

        The account comes from STS GetCallerIdentity (no IAM permission needed), asked once
        per process; if that fails, "unknown-account" with a warning, asked again after
        ACCOUNT_RETRY_SECONDS.
        """
        now = time.monotonic()
        if self._account is None and self._sts is not None and (
                self._account_tried is None
                or now - self._account_tried >= ACCOUNT_RETRY_SECONDS):
            first = self._account_tried is None
            self._account_tried = now
            try:
                self._account = str(self._sts.get_caller_identity()["Account"])
            except Exception as exc:  # AWS errors, and answers that are not AWS's at all
                logger.log(logging.WARNING if first else logging.DEBUG,
                           "Cannot tell the AWS account (STS GetCallerIdentity: %s); the state "
                           "is kept under %s/%s until it can", error_code(exc),
                           UNKNOWN_ACCOUNT, self._region)
        return scope_key(self._account or UNKNOWN_ACCOUNT, self._region, self._endpoint)

    def preflight(self) -> None:
        """Before a loop starts: refuse an untrusted or unreadable state file at once (the
        CLI reports it in one line, exit 1), rather than failing every cycle."""
        self.store.preflight()

    def cycle(self) -> CycleReport:
        """One cycle under the state lock; state is loaded before and saved after."""
        with self.store.locked():
            scope = self.state_scope()
            if self.preview_of is not None:
                self.engine.state = self.preview_of.load(scope, read_only=True)
                self.preview_of = None  # later cycles of a dry-run loop go on from their own
            elif self.save_failed is not None and self.engine.state.scope == scope:
                pass  # the file is older than what this process knows: go on from memory
            else:
                self.engine.state = self.store.load(scope)
            return self.engine.run_cycle(finish=self._finish)

    def _finish(self, report: CycleReport) -> None:
        self._save(report)
        self._record(report)
        self._write_status(report)

    def _write_status(self, report: CycleReport) -> None:
        """The last cycle's time and result beside the pid file, for ``--daemon status``."""
        if self.run.dry_run:
            return
        failed = bool(report.errors and report.tables + report.gsis == 0)
        status = {"time": utcnow().isoformat(timespec="seconds"),
                  "result": "failed" if failed else ("errors" if report.errors else "ok"),
                  "summary": report.summary()}
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
        self.exporter = operator_metrics.Exporter(instance=self.run.instance)
        self.engine.collect_statuses = True
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
            self.engine.notify_error(cause, detail)
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

    def _record(self, report: CycleReport) -> None:
        """The cycle's figures into the exporter (and its textfile). A metrics problem never
        stops scaling: it is logged, once per cause."""
        if self.exporter is None:
            return
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
                        status.next_decrease)
                    for status in report.statuses),
            ))
            textfile = self.config.global_options.metrics_textfile
            if textfile:
                self.exporter.write_textfile(textfile)
        except (ValueError, OSError) as exc:
            logger.error("Cannot record the operator metrics: %s", exc)

    def _save(self, report: CycleReport) -> None:
        """Save the state at the end of the cycle, before its summary: a failed save is one
        of the cycle's errors (so --run-once exits 3), logged at ERROR every cycle."""
        self.engine.state.finish_cycle(utcnow())
        try:
            self.store.save(self.engine.state)
        except StateWriteError as exc:
            report.errors += 1
            self.state_not_saved(str(exc))
            return
        if self.save_failed is not None:
            logger.info("State file %s saved again", self.store.path)
        self.save_failed = None

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
        if self._own_ports and _client_settings(config) != _client_settings(old):
            self.ports = self._use_clients(make_clients(config.global_options), config)
            self.engine.ports = self.ports
        self.config = config
        self.engine.config = config
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
                    logger.error("No cycle has succeeded for %d cycles in a row; nothing is "
                                 "being scaled", failures)
                    self._notify_error(
                        "no successful cycle",
                        f"No check cycle has succeeded for {failures} cycles in a row; nothing "
                        f"is being scaled. Last failure: {reason}\n")
                last_reason = reason
                wait = max(0.0, wait - (time.monotonic() - started))
            if self.stop.is_set():
                break
            logger.debug("Sleeping %.1f seconds until the next check", wait)
            self._sleep(wait, started, backing_off=failures > 1)

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
            return EXIT_LOCKED
        except DynamicDynamoDBError as exc:  # an unsafe or unreadable state file: nothing done
            logger.error("%s", exc)
            return EXIT_ERROR
        except AWS_ERRORS as exc:
            logger.error("Cycle failed: %s (%s)", error_code(exc), exc)
            return EXIT_FAILURES
        return EXIT_FAILURES if report.errors else EXIT_OK


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
    if not run.run_once:
        runner.preflight()
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


def resolution_json(config: Config) -> dict[str, Any]:
    """Which section each table resolves to (D22), when AWS can be reached with credentials."""
    options = config.global_options
    credentials = {}
    if options.aws_access_key_id and options.aws_secret_access_key:
        credentials = {"aws_access_key_id": options.aws_access_key_id,
                       "aws_secret_access_key": options.aws_secret_access_key}
    session = boto3.session.Session(region_name=resolve_region(options.region)[0],
                                    **credentials)
    if session.get_credentials() is None:
        return {"resolution": "not shown: no AWS credentials available"}
    client = session.client("dynamodb", config=BotoConfig(
        connect_timeout=3, read_timeout=5, retries={"total_max_attempts": 1}))
    try:
        names = dynamodb.list_tables(client)
    except AWS_ERRORS as exc:
        return {"resolution": f"not shown: AWS not reachable ({error_code(exc)})"}
    resolution = {}
    for name in sorted(names):
        section, _ = match_table(config, name)
        resolution[name] = f"[{section.header}]" if section else None
    return {"resolution": resolution}
