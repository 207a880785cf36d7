"""``--simulate``: replay a trace through the real engine and the baselines, then report.

dynamic-dynamodb is not re-implemented here: the daemon's own ``Engine`` runs one
``run_cycle()`` every check-interval of simulated time, against fake DynamoDB/CloudWatch/SNS
clients backed by the capacity model. Discovery, section matching, observation, ``decide``,
the D14 retry, ResourceInUse handling, counters and the decrease ledger are the live code.

SIGINT and SIGTERM stop a run within moments, its worker process included, and leave the
report directory as it was: the report is written aside and moved into place only when whole.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import math
import multiprocessing
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from multiprocessing.connection import Connection
from types import FrameType
from typing import Any, TextIO

from dynamic_dynamodb import fleet
from dynamic_dynamodb.aws.clients import resolve_region
from dynamic_dynamodb.breaker import BreakerResult
from dynamic_dynamodb.config.loader import match_gsi, match_table
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.engine import Engine
from dynamic_dynamodb.errors import DynamicDynamoDBError
from dynamic_dynamodb.log_format import formatter
from dynamic_dynamodb.simulate import advice, baselines, report
from dynamic_dynamodb.simulate.baselines import Limits
from dynamic_dynamodb.simulate.fakes import fake_ports
from dynamic_dynamodb.simulate.model import (
    DEFAULT_NEW_PEAK_DELAY,
    DEFAULT_REQUEST_UNITS,
    DIMENSION_NAMES,
    CapacityModel,
)
from dynamic_dynamodb.simulate.trace import Trace, TraceLimits, parse_duration, read_trace
from dynamic_dynamodb.state import State

INITIAL_UTILISATION = 0.7  # without initial_* columns a resource starts at demand ÷ 0.7


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
WORKER_GRACE_SECONDS = 2.0  # for the worker to die of SIGTERM before it gets SIGKILL


class SimulationError(DynamicDynamoDBError):
    pass


class Interrupted(BaseException):
    """SIGINT or SIGTERM: unwind the run, stop its worker and drop the unfinished report.

    A BaseException, so that no ``except Exception`` on the way swallows it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class Progress:
    """One self-overwriting status line on ``stream`` (stderr) when it is a terminal;
    nothing otherwise, or without a stream."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream
        self.shown = False
        try:
            self.enabled = (stream is not None and stream.isatty()
                            and os.environ.get("TERM") != "dumb")
        except ValueError:  # a closed stream
            self.enabled = False

    def show(self, text: str) -> None:
        if self.enabled and self.stream is not None:
            self.stream.write(f"\r\x1b[K{text}")
            self.stream.flush()
            self.shown = True

    def clear(self) -> None:
        if self.shown and self.stream is not None:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


@dataclass(frozen=True)
class Settings:
    tt_target: float = 70.0
    update_delay: float = 60.0  # seconds
    metric_delay: float = 60.0  # seconds
    new_peak_delay: float = DEFAULT_NEW_PEAK_DELAY  # seconds: a change to a new peak
    request_units: float = DEFAULT_REQUEST_UNITS  # capacity units per request
    prices: report.Prices = field(default_factory=report.Prices)
    trace_limits: TraceLimits = field(default_factory=TraceLimits)
    decision_log: str | None = None  # write dynamic-dynamodb's log of the replay here
    # The advice's bar: the throttled fraction of demand a provisioned policy may keep and
    # still be advised (--max-throttled with --simulate and --advise).
    acceptable_throttled: float = advice.ACCEPTABLE_THROTTLED_FRACTION


@dataclass(frozen=True)
class Managed:
    """The trace's resources that the configuration manages, with their options."""

    options: dict[str, Any]  # key -> ResourceOptions
    skipped: tuple[str, ...]


def managed_resources(config: Config, trace: Trace) -> Managed:
    """Match the trace's tables and GSIs to sections exactly as a live run does (D22, D7)."""
    options: dict[str, Any] = {}
    skipped: list[str] = []
    for resource in trace.resources:
        section, _ = match_table(config, resource.table)
        if section is None:
            skipped.append(resource.key)
            continue
        if resource.gsi is None:
            options[resource.key] = section.options
            continue
        gsi_section = match_gsi(section, resource.gsi)
        if gsi_section is None:
            skipped.append(resource.key)
            continue
        options[resource.key] = gsi_section.options
    return Managed(options, tuple(skipped))


def limits_of(options: Any) -> dict[str, Limits]:
    return {dim: Limits(getattr(options, dim).min_provisioned or 1,
                        getattr(options, dim).max_provisioned)
            for dim in DIMENSION_NAMES}


def window_warnings(managed: Managed, settings: Settings) -> list[str]:
    """Windows whose newest minutes CloudWatch has not published yet when the check runs.

    The engine sums what is there and divides by the whole window (D15), so such a window
    reads low, or reads 0 % when it is entirely unpublished."""
    delay = settings.metric_delay / 60.0
    warnings = []
    seen: set[tuple[int, int]] = set()
    for key, options in managed.options.items():
        start, period = options.lookback_window_start, options.lookback_period
        if start < period + delay and (start, period) not in seen:
            seen.add((start, period))
            missing = min(period, math.ceil(period + delay - start))
            warnings.append(
                f"{key}: lookback-window-start {start} with lookback-period {period} and a "
                f"{delay:g}-minute metric delay: the newest {missing} of {period} minute(s) of "
                "every window are not published at check time, so consumption reads low"
                + (" (always 0 %: nothing will ever scale)" if missing >= period else ""))
    return warnings


def initial_capacity(trace: Trace, managed: Managed) -> dict[str, dict[str, int]]:
    initial: dict[str, dict[str, int]] = {}
    for resource in trace.resources:
        if resource.key not in managed.options:
            continue
        limits = limits_of(managed.options[resource.key])
        given = {"reads": resource.initial_reads, "writes": resource.initial_writes}
        initial[resource.key] = {}
        for dim in DIMENSION_NAMES:
            value = given[dim]
            if value is None:
                first = resource.demand(dim)[0]
                value = limits[dim].clamp(math.ceil(first / INITIAL_UTILISATION - 1e-9))
            initial[resource.key][dim] = value
    return initial


def _breaker_closed(*_: Any, **__: Any) -> BreakerResult:
    return BreakerResult(True, "Circuit breaker counts as closed in a simulation")


@contextlib.contextmanager
def quiet_engine(level: int = logging.ERROR) -> Iterator[None]:
    """The engine logs every decision at INFO; a two-week replay would drown in it."""
    root = logging.getLogger("dynamic_dynamodb")
    before = root.level
    root.setLevel(level)
    try:
        yield
    finally:
        root.setLevel(before)


class _SimulatedTime(logging.Filter):
    """Stamp each record with the replay's clock, so the log reads like a live one."""

    def __init__(self, clock: Callable[[], datetime]):
        super().__init__()
        self.clock = clock

    def filter(self, record: logging.LogRecord) -> bool:
        record.created = self.clock().timestamp()
        record.msecs = 0.0
        return True


@contextlib.contextmanager
def decision_log(path: str, config: Config, clock: Callable[[], datetime]) -> Iterator[None]:
    """The engine's own log of the replay (every decision and what was sent) in ``path``, in
    the configuration's log-format (text or json), on simulated time."""
    root = logging.getLogger("dynamic_dynamodb")
    before, propagate = root.level, root.propagate
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(formatter(config.logging, dry_run=False))
    handler.addFilter(_SimulatedTime(clock))
    saved = root.handlers[:]
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False
    try:
        yield
    finally:
        root.handlers = saved
        root.setLevel(before)
        root.propagate = propagate
        handler.close()


def check_interval_seconds(config: Config) -> float:
    interval = float(config.global_options.check_interval or 0)
    # check-interval 0 means "back to back" live; a replay checks once a simulated minute.
    return interval if interval > 0 else 60.0


def check_count(config: Config, trace: Trace) -> int:
    """How many engine cycles a replay of the trace runs."""
    return math.ceil(trace.minutes * 60.0 / check_interval_seconds(config))


def run_dynamic_dynamodb(config: Config, trace: Trace, initial: dict[str, dict[str, int]],
                         keys: list[str], settings: Settings,
                         on_check: Callable[[int], None] | None = None, *,
                         processes: int = 1) -> CapacityModel:
    """The engine's replay of the trace. With ``processes`` > 1 the tables are split among
    that many forked processes, each replaying its own tables through its own engine: tables
    share only the account's capacity caps, so the merged model is the one-process replay
    whenever those never came close to binding (``CapacityModel.tables_independent``);
    otherwise the trace is replayed again in one process. A decision log is never split (its
    lines would not be in time order)."""
    parts = [] if settings.decision_log else split_tables(keys, processes)
    if len(parts) < 2:
        return _replay(config, trace, initial, keys, settings, on_check)
    children = [_ForkedReplay(config, trace, initial, part, settings) for part in parts[1:]]
    try:
        for child in children:
            child.start()
        models = [_replay(config, trace, initial, parts[0], settings, on_check)]
        models += [child.result() for child in children]
    finally:
        for child in children:
            child.stop()
    merged = CapacityModel.merged(models, keys)
    if merged.tables_independent():
        return merged
    return _replay(config, trace, initial, keys, settings, on_check)


def split_tables(keys: list[str], parts: int) -> list[list[str]]:
    """``keys`` in at most ``parts`` lists of about as many resources each; a table and its
    GSIs stay together (one UpdateTable changes them, and a GSI's UPDATING blocks its table)."""
    tables: dict[str, list[str]] = {}
    for key in keys:
        tables.setdefault(key.partition(":")[0], []).append(key)
    groups: list[list[str]] = [[] for _ in range(max(1, min(parts, len(tables))))]
    for members in sorted(tables.values(), key=len, reverse=True):
        min(groups, key=len).extend(members)
    return [group for group in groups if group]


class _ForkedReplay:
    """One share of the tables replayed in a forked child (os.fork: it also works inside a
    daemonic worker, which multiprocessing does not let have children)."""

    def __init__(self, config: Config, trace: Trace, initial: dict[str, dict[str, int]],
                 keys: list[str], settings: Settings):
        self.job = (config, trace, initial, keys, settings)
        self.pid: int | None = None
        self.reader: int | None = None

    def start(self) -> None:
        reader, writer = os.pipe()
        parent = os.getpid()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            pid = os.fork()
        except BaseException:
            os.close(reader)
            os.close(writer)
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            raise
        if pid == 0:  # the child: replay, write the pickled model, exit without clean-up
            code = 0
            try:
                os.close(reader)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
                _die_with_parent(parent)
                try:
                    outcome: tuple[str, Any] = ("model", _replay(*self.job))
                except Exception as exc:
                    outcome = ("error", SimulationError(f"the dynamic-dynamodb replay failed: "
                                                        f"{exc!r}"))
                with os.fdopen(writer, "wb") as stream:
                    pickle.dump(outcome, stream, protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        os.close(writer)
        self.pid, self.reader = pid, reader

    def result(self) -> CapacityModel:
        assert self.reader is not None and self.pid is not None
        with os.fdopen(self.reader, "rb") as stream:
            self.reader = None
            data = stream.read()
        _, status = os.waitpid(self.pid, 0)
        self.pid = None
        if not data:
            raise SimulationError(f"a dynamic-dynamodb replay process died (exit status "
                                  f"{os.waitstatus_to_exitcode(status)})")
        kind, value = pickle.loads(data)
        if kind == "error":
            raise value
        return value  # type: ignore[no-any-return]

    def stop(self) -> None:
        """Kill the child if it still runs (the run was interrupted or failed), and reap it."""
        if self.reader is not None:
            os.close(self.reader)
            self.reader = None
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = None


def _replay(config: Config, trace: Trace, initial: dict[str, dict[str, int]],
            keys: list[str], settings: Settings,
            on_check: Callable[[int], None] | None = None) -> CapacityModel:
    model = CapacityModel(trace, initial, update_delay=settings.update_delay,
                          metric_delay=settings.metric_delay, keys=keys,
                          new_peak_delay=settings.new_peak_delay,
                          request_units=settings.request_units)
    # The simulated AWS answers at once: a pool of workers would only cost time.
    config = replace(config, global_options=replace(config.global_options, parallel_requests=1))
    engine = Engine(config, fake_ports(model), State(), clock=model.now_datetime,
                    breaker_check=_breaker_closed)
    interval = check_interval_seconds(config)
    check = 0
    logged = (decision_log(settings.decision_log, config, model.now_datetime)
              if settings.decision_log else quiet_engine())
    with logged:
        while check * interval < model.end:
            model.advance_to(check * interval)
            engine.run_cycle()
            check += 1
            if on_check is not None:
                on_check(check)
        model.advance_to(model.end)
    return model


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """SIGINT and SIGTERM raise ``Interrupted`` in the main thread (Ctrl-C otherwise waited
    for the worker, and SIGTERM killed this process alone, leaving the worker orphaned)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set in the main thread
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        # Once: the clean-up that follows (a few seconds at most) must not be cut short.
        for number in STOP_SIGNALS:
            signal.signal(number, signal.SIG_IGN)
        raise Interrupted(signum)

    previous = {number: signal.signal(number, stop) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _die_with_parent(parent: int) -> None:
    """Even if the run is killed outright (SIGKILL), its worker must not replay on alone."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, ctypes.c_ulong(signal.SIGTERM))  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before prctl
        os._exit(1)


def _replay_in_worker(connection: Connection, parent: int, job: tuple[Any, ...],
                      checks: Any) -> None:
    """The forked worker: replay, send the model (or the exception) back, exit. ``checks``
    (shared memory) counts the engine cycles done, for the progress line."""
    # The parent decides what SIGINT means (it is sent the whole process group on Ctrl-C);
    # SIGTERM, from the parent or anyone, ends this process at once.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    _die_with_parent(parent)
    try:
        config, trace, initial, keys, settings = job
        outcome: tuple[str, Any] = ("model", run_dynamic_dynamodb(
            config, trace, initial, keys, settings,
            on_check=lambda done: setattr(checks, "value", done), processes=replay_processes()))
    except Exception as exc:  # handed to the parent, which raises it
        outcome = ("error", exc)
    try:
        connection.send(outcome)
    except Exception:  # an exception that does not pickle
        connection.send(("error", SimulationError(f"the dynamic-dynamodb replay failed: "
                                                  f"{outcome[1]!r}")))
    connection.close()


class ReplayWorker:
    """dynamic-dynamodb's replay in a forked process (the configuration's generated
    dataclasses do not pickle; a forked child inherits them), stopped with the run."""

    def __init__(self, job: tuple[Any, ...]):
        context = multiprocessing.get_context("fork")
        self._results, sender = context.Pipe(duplex=False)
        self._sender = sender
        self.checks = context.Value("q", 0, lock=False)
        # daemon: should all else fail, multiprocessing terminates it when this process exits.
        self.process = context.Process(target=_replay_in_worker, name="dynamic-dynamodb replay",
                                       args=(sender, os.getpid(), job, self.checks),
                                       daemon=True)

    def start(self) -> None:
        # Blocked across the fork, so that the child never runs this process's handlers.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            self.process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            self._sender.close()

    def result(self, progress: Progress | None = None, checks: int = 0) -> CapacityModel:
        while progress is not None and progress.enabled and not self._results.poll(0.25):
            progress.show(f"replaying dynamic-dynamodb: "
                          f"{min(100, 100 * self.checks.value // max(checks, 1))} %")
        try:
            kind, value = self._results.recv()
        except EOFError:
            self.process.join()
            code = self.process.exitcode
            if code is not None and -code in STOP_SIGNALS:
                # The signal went to the process group and reached the worker first.
                raise Interrupted(-code) from None
            raise SimulationError(f"the dynamic-dynamodb replay process died (exit status "
                                  f"{code})") from None
        self.process.join()
        if kind == "error":
            raise value
        return value  # type: ignore[no-any-return]

    def stop(self) -> None:
        """Terminate the worker if it still runs, and reap it."""
        self._sender.close()
        if self.process.pid is None:  # never started
            self._results.close()
            return
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(WORKER_GRACE_SECONDS)
            if self.process.is_alive():
                self.process.kill()
        self.process.join()
        self._results.close()


def simulate(config: Config, trace: Trace, settings: Settings, *, parallel: bool = False,
             meanwhile: Callable[[dict[str, CapacityModel]], None] | None = None,
             progress: Progress | None = None,
             ) -> tuple[dict[str, CapacityModel], Managed]:
    """Every policy on the trace. ``parallel`` replays dynamic-dynamodb (the slow one: the
    whole engine runs every check) in a second process while this one runs the baselines,
    then ``meanwhile(baselines)``."""
    progress = progress or Progress()
    managed = managed_resources(config, trace)
    if not managed.options:
        names = ", ".join(resource.key for resource in trace.resources)
        raise SimulationError(f"no table or GSI of the trace ({names}) matches a section of the "
                              "configuration; nothing to simulate")
    keys = list(managed.options)
    initial = initial_capacity(trace, managed)
    limits = {key: limits_of(options) for key, options in managed.options.items()}
    worker = None
    if parallel and "fork" in multiprocessing.get_all_start_methods():
        worker = ReplayWorker((config, trace, initial, keys, settings))
    try:
        if worker is not None:
            worker.start()
        progress.show("replaying the baselines..." if worker is not None else "replaying...")
        others = {
            "aws-target-tracking": baselines.run_target_tracking(
                trace, initial, limits, target=settings.tt_target,
                update_delay=settings.update_delay, metric_delay=settings.metric_delay,
                new_peak_delay=settings.new_peak_delay, request_units=settings.request_units),
            "static-peak": baselines.run_static_peak(trace, keys),
            "on-demand": baselines.run_on_demand(trace, keys),
            "oracle": baselines.run_oracle(
                trace, initial, keys, weights={"reads": settings.prices.rcu_hour,
                                               "writes": settings.prices.wcu_hour}),
        }
        if meanwhile is not None:
            meanwhile(others)
        first = (worker.result(progress, check_count(config, trace)) if worker is not None
                 else run_dynamic_dynamodb(config, trace, initial, keys, settings))
    finally:
        if worker is not None:
            with report.signals_held():  # a second signal must not leave the worker running
                worker.stop()
    return {"dynamic-dynamodb": first, **others}, managed


# For the other long offline commands (--tune, --advise): the same signal handling and the
# same guard against a worker outliving its parent.
interruptible = _interruptible
die_with_parent = _die_with_parent


def parallel_possible() -> bool:
    return (os.cpu_count() or 1) > 1


def replay_processes() -> int:
    """How many processes share dynamic-dynamodb's replay in a backtest: one per CPU."""
    return max(1, os.cpu_count() or 1)


def summaries_of(models: dict[str, CapacityModel], prices: report.Prices
                 ) -> dict[str, report.PolicySummary]:
    return {name: report.summarise_policy(name, model, prices) for name, model in models.items()}


def parse_fraction(text: str) -> float:
    """``--max-throttled``: a fraction of the demand (0.005) or a percentage (0.5%)."""
    raw = text.strip()
    scale = 1.0
    if raw.endswith("%"):
        raw, scale = raw[:-1].strip(), 0.01
    try:
        value = float(raw) * scale
    except ValueError:
        raise SimulationError(f"--max-throttled must be a fraction such as 0.005 or a "
                              f"percentage such as 0.5%, got {text!r}") from None
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise SimulationError(f"--max-throttled must be between 0 and 1 (0 % and 100 %), "
                              f"got {text!r}")
    return value


def settings_from_args(args: argparse.Namespace) -> Settings:
    for flag in ("update_delay", "metric_delay", "new_peak_delay", "request_units",
                 "price_rcu_hour", "price_wcu_hour", "price_read_million",
                 "price_write_million", "price_metrics_thousand", "price_alarm_month"):
        value = getattr(args, flag)
        if not math.isfinite(value) or value < 0:
            raise SimulationError(f"--{flag.replace('_', '-')} must be a finite number >= 0, "
                                  f"got {value}")
    if not 0 < args.tt_target <= 100:
        raise SimulationError("--tt-target must be a percentage in (0, 100]")
    try:
        max_gap = parse_duration(args.max_trace_gap)
    except ValueError as exc:
        raise SimulationError(f"--max-trace-gap: {exc}") from None
    limit = getattr(args, "max_throttled", None)
    return Settings(
        acceptable_throttled=(advice.ACCEPTABLE_THROTTLED_FRACTION if limit is None
                              else parse_fraction(limit)),
        tt_target=args.tt_target,
        update_delay=args.update_delay * 60.0,
        metric_delay=args.metric_delay * 60.0,
        new_peak_delay=args.new_peak_delay * 60.0,
        request_units=args.request_units,
        prices=report.Prices(args.price_rcu_hour, args.price_wcu_hour, args.price_read_million,
                             args.price_write_million, args.price_metrics_thousand,
                             args.price_alarm_month),
        trace_limits=TraceLimits(max_gap=max_gap, fill_gaps=args.fill_trace_gaps),
    )


def locations_warning(config: Config) -> str | None:
    """For a backtest (--simulate, --tune) of a configuration whose sections name several
    accounts and regions: a trace does not record where a table is, so each of its tables is
    matched against every section, where a live run matches only its location's."""
    count = len(fleet.locations(config, resolve_region(config.global_options.region)[0]))
    if count < 2:
        return None
    return (f"the configuration's sections name {count} accounts and regions, but a trace "
            "does not record where a table is: the backtest matches each table against every "
            "section in file order, not only its own location's as a live run does (a name "
            "that --fetch-trace found in several locations is <table>.<account>.<region>)")


def run_simulation(config: Config, args: argparse.Namespace) -> int:
    """``--simulate``: 0 when the report is written; 130 after SIGINT and 143 after SIGTERM
    (128 + the signal, as a shell reports it), with the worker stopped and no report change."""
    warning = locations_warning(config)
    if warning:
        print(f"dynamic-dynamodb: warning: {warning}", file=sys.stderr)
    staged = report.StagedReport(args.report_dir)
    progress = Progress(sys.stderr)
    try:
        with _interruptible():
            try:
                return _run_simulation(config, args, staged, progress)
            finally:
                with report.signals_held():  # a second signal must not cut the clean-up short
                    progress.clear()
                    staged.discard()
    except Interrupted as stop:
        name = signal.Signals(stop.signum).name
        outcome = (f"after writing the report to {args.report_dir}" if staged.committed else
                   f"before the report was complete; {args.report_dir} is left as it was")
        print(f"dynamic-dynamodb: interrupted by {name} {outcome}", file=sys.stderr)
        return 128 + stop.signum
    except BrokenPipeError:  # ... | head: stdout is gone; so is any use of the report
        with contextlib.suppress(OSError):  # and Python's final flush must not complain
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SimulationError("the output was closed (broken pipe); no report written") from None


def _run_simulation(config: Config, args: argparse.Namespace, staged: report.StagedReport,
                    progress: Progress) -> int:
    settings = settings_from_args(args)
    if args.decision_log:
        settings = replace(settings, decision_log=staged.path("decisions.log"))
    progress.show(f"reading {args.simulate}...")
    trace = read_trace(args.simulate, settings.trace_limits)

    part = ".timeline.baselines.part"

    def write_baselines(others: dict[str, CapacityModel]) -> None:
        # Written while dynamic-dynamodb is still replaying in the other process.
        with _writing_report(args.report_dir), \
                open(staged.path(part), "w", encoding="utf-8", newline="") as handle:
            report.write_timeline_rows(handle, others)

    models, managed = simulate(config, trace, settings, parallel=parallel_possible(),
                               meanwhile=write_baselines, progress=progress)
    progress.clear()
    for key in managed.skipped:
        print(f"dynamic-dynamodb: warning: {key} matches no section of the configuration; "
              "left out of the backtest", file=sys.stderr)
    for warning in window_warnings(managed, settings):
        print(f"dynamic-dynamodb: warning: {warning}", file=sys.stderr)
    summaries = summaries_of(models, settings.prices)
    first = next(iter(models.values()))
    print(f"Backtest of {args.simulate}: {len(first.resources)} resource(s), "
          f"{trace.minutes} minutes from {trace.start:%Y-%m-%d %H:%M} UTC, check-interval "
          f"{check_interval_seconds(config):g} s")
    for line in report.table_lines(summaries):
        print(line)
    for line in report.cloudwatch_lines(summaries, settings.prices, len(first.resources),
                                        trace.minutes):
        print(line)
    oracle = summaries["oracle"]
    for name, summary in summaries.items():
        if (name not in ("oracle", "on-demand") and summary.throttled_cu == 0
                and summary.capacity_cost_usd < oracle.capacity_cost_usd):
            print(f"note: {name} costs less than the oracle without throttling: it rides "
                  "the burst bucket, which the oracle does not")
    advised = advice.advise(models, settings.prices,
                            acceptable_throttled=settings.acceptable_throttled)
    for line in advice.advice_lines(advised):
        print(line)

    extra = {
        "trace": os.path.abspath(args.simulate),
        "start": trace.start.isoformat(),
        "minutes": trace.minutes,
        "resources": list(first.resources),
        "skipped": list(managed.skipped),
        "advice": advice.advice_json(advised),
        "settings": {
            "check_interval_seconds": check_interval_seconds(config),
            "tt_target": settings.tt_target,
            "advice_max_throttled": settings.acceptable_throttled,
            "update_delay_minutes": settings.update_delay / 60.0,
            "metric_delay_minutes": settings.metric_delay / 60.0,
            "prices": {"rcu_hour": settings.prices.rcu_hour,
                       "wcu_hour": settings.prices.wcu_hour,
                       "read_million": settings.prices.read_million,
                       "write_million": settings.prices.write_million,
                       "metrics_thousand": settings.prices.metrics_thousand,
                       "alarm_month": settings.prices.alarm_month},
            "alarms_per_dimension": report.ALARMS_PER_DIMENSION,
            "month_days": report.MONTH_MINUTES // (24 * 60),
        },
    }
    progress.show(f"writing the report to {args.report_dir}...")
    with _writing_report(args.report_dir):
        report.write_json(staged.path("report.json"), report.report_json(summaries, extra))
        report.write_timeline(staged.path("timeline.csv"),
                              {"dynamic-dynamodb": models["dynamic-dynamodb"]},
                              append=staged.path(part))
        message = report.write_plot(staged.path("report.png"), models)
        staged.commit()
    progress.clear()
    written = ["report.json", "timeline.csv"]
    if message:
        print(f"dynamic-dynamodb: {message}", file=sys.stderr)
    else:
        written.append("report.png")
    if args.decision_log:
        written.append("decisions.log")
    print(f"Wrote {', '.join(written[:-1])} and {written[-1]} to {args.report_dir}")
    return 0


@contextlib.contextmanager
def _writing_report(directory: str) -> Iterator[None]:
    """An OSError in here is the report's (a full disk, a read-only directory), and one line."""
    try:
        yield
    except OSError as exc:
        raise SimulationError(f"cannot write the report in {directory}: "
                              f"{exc.strerror or exc}") from None
