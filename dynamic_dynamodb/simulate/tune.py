"""``--tune TRACE``: search the target mode's settings on a trace, keep the cheapest that
throttles no more than a limit, and write it as a configuration file.

The search space is ``SEARCH_SPACE``: INI keys and the values tried for each; every
combination is one candidate. A candidate is the user's configuration with those keys set
(``apply_settings``), loaded by the ordinary loader and replayed by the real engine through
``runner.run_dynamic_dynamodb``, in a pool of ``os.cpu_count()`` processes. The user's
configuration as it is is replayed too, as a reference; aws-target-tracking runs once.

Where the keys go: ``[default_options]``, so that every table and GSI the configuration
manages gets them, and also every ``[table:]``/``[gsi:]`` section that sets one of them or a
threshold option of a tuned dimension (which would otherwise keep its 2.5.1 threshold mode
or its own target, and so not run what was tuned). Threshold options of a tuned dimension
are commented out where the target options are written (the loader refuses both in one
section). The file is edited line by line, not rewritten by configparser, so every other
line and comment stays as it was.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import re
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.pool import Pool
from typing import Any

from dynamic_dynamodb.config.loader import DEFAULT_SECTION, THRESHOLD_FIELDS
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.config.options import DIMENSION_OPTIONS
from dynamic_dynamodb.dimensions import DIMENSIONS
from dynamic_dynamodb.errors import DynamicDynamoDBError
from dynamic_dynamodb.simulate import baselines, report, runner
from dynamic_dynamodb.simulate.report import PolicySummary
from dynamic_dynamodb.simulate.runner import Interrupted, Progress, Settings, SimulationError
from dynamic_dynamodb.simulate.trace import Trace

REFERENCE = "aws-target-tracking"


@dataclass(frozen=True)
class Knob:
    """One INI key of the search and the values tried, as INI text. ``{dim}`` in the key
    stands for both ``reads`` and ``writes``, set to the same value."""

    key: str
    values: tuple[str, ...]
    label: str  # the column heading


SEARCH_SPACE: tuple[Knob, ...] = (
    Knob("target-{dim}-utilisation", ("50", "60", "70", "80", "90"), "target %"),
    Knob("target-{dim}-scale-down-minutes", ("5", "15", "30"), "scale-in min"),
    Knob("predictive-scaling", ("false", "true"), "predictive"),
)


class TuneError(SimulationError):
    pass


Candidate = tuple[str, ...]  # one value per knob of the search space


def candidates(space: Sequence[Knob] = SEARCH_SPACE) -> list[Candidate]:
    """Every combination of the knobs' values, in order."""
    return list(itertools.product(*(knob.values for knob in space)))


def ini_settings(candidate: Candidate, space: Sequence[Knob] = SEARCH_SPACE) -> dict[str, str]:
    """The INI keys and values of a candidate, ``{dim}`` expanded."""
    settings: dict[str, str] = {}
    for knob, value in zip(space, candidate, strict=True):
        if "{dim}" in knob.key:
            for dimension in DIMENSIONS:
                settings[knob.key.format(dim=dimension.name)] = value
        else:
            settings[knob.key] = value
    return settings


def replaced_keys(settings: dict[str, str]) -> set[str]:
    """The threshold options that a target-{dim}-utilisation in ``settings`` replaces."""
    keys: set[str] = set()
    for dimension in DIMENSIONS:
        if f"target-{dimension.name}-utilisation" in settings:
            keys.update(option.key_for(dimension.name) for option in DIMENSION_OPTIONS
                        if option.field in THRESHOLD_FIELDS)
    return keys


# The configuration file's lines, as the loader's configparser reads them.
_SECTION_LINE = re.compile(r"\[\s*(?P<header>.*?)\s*\]\s*$")
_OPTION_LINE = re.compile(r"^(?P<option>[^=:\s][^=:]*?)\s*[=:]")
_RESOURCE_SECTION = re.compile(r"^(table|gsi)\s*:")
MARK = "dynamic-dynamodb --tune"


@dataclass
class _Section:
    header: str | None  # None: the lines before the first section
    start: int  # index of the header line
    options: list[tuple[str, int, int]]  # (key, first line, end line exclusive)


def _sections(lines: list[str]) -> list[_Section]:
    sections = [_Section(None, -1, [])]
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        if not stripped or stripped[0] in "#;" or line[0].isspace():
            index += 1
            continue
        bare = re.split(r"\s[#;]", line, maxsplit=1)[0].rstrip()
        header = _SECTION_LINE.match(bare)
        if header:
            sections.append(_Section(header.group("header"), index, []))
            index += 1
            continue
        option = _OPTION_LINE.match(bare)
        end = index + 1
        while end < len(lines) and lines[end][:1].isspace() and lines[end].strip():
            end += 1  # a value continued on indented lines
        if option:
            sections[-1].options.append((option.group("option").strip(), index, end))
        index = end
    return sections


def apply_settings(text: str, settings: dict[str, str], trace_name: str = "") -> str:
    """``text`` (a configuration file) with ``settings`` in [default_options] and in every
    [table:]/[gsi:] section that would otherwise override them; see the module's doc."""
    lines = text.splitlines()
    replaced = replaced_keys(settings)
    tuned = set(settings)
    note = f"# {MARK}{' on ' + trace_name if trace_name else ''}:"
    edits: dict[int, list[str]] = {}  # line index -> its replacement lines
    inserts: dict[int, list[str]] = {}  # after this line index
    has_default = False
    for section in _sections(lines):
        if section.header is None:
            continue
        is_default = section.header == DEFAULT_SECTION
        has_default = has_default or is_default
        keys = {key for key, _, _ in section.options}
        if not is_default and not (_RESOURCE_SECTION.match(section.header)
                                   and keys & (tuned | replaced)):
            continue
        for key, first, end in section.options:
            if key in tuned:
                edits[first] = [f"{key}: {settings[key]}"]
            elif key in replaced:
                edits[first] = [f"# {lines[first]}"]
            else:
                continue
            for continued in range(first + 1, end):
                edits[continued] = ([f"# {lines[continued]}"] if key in replaced else [])
        missing = [key for key in settings if key not in keys]
        commented = any(key in replaced for key in keys)
        if missing or commented:
            inserts[section.start] = [
                note + (" target mode; the threshold options it replaces are commented out"
                        if commented else " target mode"),
                *(f"{key}: {settings[key]}" for key in missing)]
    out: list[str] = []
    for index, line in enumerate(lines):
        out.extend(edits.get(index, [line]))
        out.extend(inserts.get(index, []))
    if not has_default:
        out += ["", f"[{DEFAULT_SECTION}]", f"{note} target mode",
                *(f"{key}: {value}" for key, value in settings.items())]
    return "\n".join(out) + "\n"


def parse_fraction(text: str) -> float:
    """``--max-throttled``: a fraction of the demand (0.005) or a percentage (0.5%)."""
    try:
        return runner.parse_fraction(text)
    except SimulationError as exc:
        raise TuneError(str(exc)) from None


@dataclass(frozen=True)
class Point:
    name: str
    candidate: Candidate | None  # None: not a candidate (the reference, the user's file)
    summary: PolicySummary

    @property
    def cost(self) -> float:
        return self.summary.total_cost_usd

    @property
    def throttled(self) -> float:
        return self.summary.throttled_fraction


def pareto(points: Sequence[Point]) -> list[Point]:
    """The points no other point beats on both cost and throttled fraction, cheapest first."""
    frontier: list[Point] = []
    for point in sorted(points, key=lambda p: (p.cost, p.throttled)):
        if not frontier or point.throttled < frontier[-1].throttled - 1e-12:
            frontier.append(point)
    return frontier


def choose(points: Sequence[Point], limit: float) -> Point | None:
    """The cheapest candidate whose throttled fraction is within ``limit``."""
    within = [point for point in points if point.throttled <= limit + 1e-12]
    return min(within, key=lambda p: (p.cost, p.throttled)) if within else None


# What a forked worker of the pool inherits: the trace, the settings and the configurations.
_JOB: dict[str, Any] = {}


def _worker_start() -> None:
    started = _JOB["started"]
    with started.get_lock():  # more starts than workers: the pool replaced a dead one
        started.value += 1
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C means
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, runner.STOP_SIGNALS)
    runner.die_with_parent(_JOB["parent"])


def _replay(index: int) -> tuple[int, PolicySummary]:
    config: Config = _JOB["configs"][index]
    trace: Trace = _JOB["trace"]
    settings: Settings = _JOB["settings"]
    progress = _JOB["progress"]
    try:
        managed = runner.managed_resources(config, trace)
        initial = runner.initial_capacity(trace, managed)
        model = runner.run_dynamic_dynamodb(
            config, trace, initial, list(managed.options), settings,
            on_check=lambda done: progress.__setitem__(index, done))
    except DynamicDynamoDBError:
        raise
    except Exception as exc:  # one line in the parent, not a traceback from a pool thread
        raise TuneError(f"the replay of candidate {index} failed: {exc!r}") from None
    return index, report.summarise_policy("dynamic-dynamodb", model, settings.prices)




def _workers_died() -> bool:
    """A worker died (killed, out of memory): its candidate is lost, and ``Pool`` would
    quietly start another worker and wait for that result for ever."""
    return bool(_JOB["started"].value > _JOB["workers"])


@contextlib.contextmanager
def _pool(configs: list[Config], trace: Trace, settings: Settings, progress: Any
          ) -> Iterator[Pool]:
    context = multiprocessing.get_context("fork")
    workers = min(os.cpu_count() or 1, len(configs))
    _JOB.update(configs=configs, trace=trace, settings=settings, progress=progress,
                parent=os.getpid(), workers=workers, started=context.Value("i", 0))
    # Blocked across the forks, so that no worker runs this process's handlers.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, runner.STOP_SIGNALS)
    try:
        pool = context.Pool(workers, initializer=_worker_start)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    try:
        yield pool
    finally:
        with report.signals_held():
            pool.terminate()
            pool.join()
        _JOB.clear()


def _bar(fraction: float, width: int = 30) -> str:
    filled = round(fraction * width)
    return f"[{'#' * filled}{'.' * (width - filled)}] {fraction * 100:3.0f} %"


@dataclass(frozen=True)
class TuneResult:
    reference: Point  # aws-target-tracking
    mine: Point  # the configuration as it is
    points: list[Point]  # the candidates
    frontier: list[Point]
    limit: float
    chosen: Point | None


def tune(config: Config, candidate_configs: list[Config], candidate_list: list[Candidate],
         trace: Trace, settings: Settings, *, max_throttled: float | None = None,
         progress: Progress | None = None) -> TuneResult:
    """Replay ``config`` and every candidate (in parallel), aws-target-tracking once; pick."""
    progress = progress or Progress()
    managed = runner.managed_resources(config, trace)
    if not managed.options:
        names = ", ".join(resource.key for resource in trace.resources)
        raise TuneError(f"no table or GSI of the trace ({names}) matches a section of the "
                        "configuration; nothing to tune")
    configs = [config, *candidate_configs]
    checks = runner.check_count(config, trace) * len(configs)
    context = multiprocessing.get_context("fork")
    done = context.Array("q", len(configs), lock=False)
    results: dict[int, PolicySummary] = {}
    with _pool(configs, trace, settings, done) as pool:
        pending = pool.imap_unordered(_replay, range(len(configs)))
        progress.show("replaying aws-target-tracking...")
        initial = runner.initial_capacity(trace, managed)
        limits = {key: runner.limits_of(options) for key, options in managed.options.items()}
        tracking = baselines.run_target_tracking(
            trace, initial, limits, target=settings.tt_target,
            update_delay=settings.update_delay, metric_delay=settings.metric_delay,
            new_peak_delay=settings.new_peak_delay, request_units=settings.request_units)
        reference = Point(REFERENCE, None,
                          report.summarise_policy(REFERENCE, tracking, settings.prices))
        while len(results) < len(configs):
            try:
                index, summary = pending.next(timeout=0.25)
                results[index] = summary
            except multiprocessing.TimeoutError:
                if _workers_died():
                    raise TuneError("a replay process died (killed, or out of memory?); "
                                    "nothing written") from None
            if progress.enabled:
                progress.show(f"tuning: {len(results)}/{len(configs)} replays "
                              f"{_bar(min(1.0, sum(done) / max(checks, 1)))}")
    progress.clear()
    mine = Point("your configuration", None, results[0])
    points = [Point(_label(candidate), candidate, results[index + 1])
              for index, candidate in enumerate(candidate_list)]
    limit = reference.throttled if max_throttled is None else max_throttled
    return TuneResult(reference, mine, points, pareto(points), limit, choose(points, limit))


def _label(candidate: Candidate, space: Sequence[Knob] = SEARCH_SPACE) -> str:
    return ", ".join(f"{knob.key.replace('{dim}', '*')}={value}"
                     for knob, value in zip(space, candidate, strict=True))


def result_lines(result: TuneResult, space: Sequence[Knob] = SEARCH_SPACE) -> list[str]:
    """The terminal table: the Pareto frontier, aws-target-tracking, the user's file, the
    chosen candidate marked."""
    knobs = "".join(f" {knob.label:>{max(len(knob.label), 5)}}" for knob in space)
    header = (f"  {'':1} {'total $':>9} {'capacity $':>10} {'CloudWatch $':>12} "
              f"{'throttled %':>11} {'thr. min':>8}{knobs}")
    lines = [f"Pareto frontier of {len(result.points)} candidates (cost over the trace, "
             "capacity + CloudWatch; * = chosen):", header, "  " + "-" * (len(header) - 2)]

    def row(point: Point, name: str | None = None) -> str:
        s = point.summary
        mark = "*" if point is result.chosen else ""
        cells = (name or "") if point.candidate is None else "".join(
            f" {value:>{max(len(knob.label), 5)}}"
            for knob, value in zip(space, point.candidate, strict=True))
        return (f"  {mark:1} {s.total_cost_usd:>9.2f} {s.capacity_cost_usd:>10.2f} "
                f"{s.cloudwatch_cost_usd:>12.2f} {s.throttled_fraction * 100:>10.3f}% "
                f"{s.throttled_minutes:>8d}{cells if point.candidate is not None else ''}"
                + (f"  {name}" if point.candidate is None else ""))

    lines += [row(point) for point in result.frontier]
    if result.chosen is not None and result.chosen not in result.frontier:
        lines.append(row(result.chosen))
    lines += ["", row(result.reference, REFERENCE), row(result.mine, "your configuration")]
    return lines


def write_no_clobber(path: str, text: str, *, force: bool) -> None:
    """Write ``path`` whole or not at all; an existing file only with ``force``."""
    directory = os.path.dirname(os.path.abspath(path))
    with report.signals_held():
        handle, staged = tempfile.mkstemp(prefix=".tuned-", dir=directory)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            if force:
                os.replace(staged, path)
            else:
                os.link(staged, path)  # fails if the file exists, atomically
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(staged)


def _versus(cost: float, other: float) -> str:
    if other <= 0 or abs(cost - other) < 0.005:
        return "the same as"
    change = abs(1 - cost / other) * 100
    return f"{change:.1f} % {'less' if cost < other else 'more'} than"


def default_out(config_path: str) -> str:
    stem = os.path.basename(config_path)
    stem = stem[:-5] if stem.endswith(".conf") else stem
    return f"{stem}.tuned.conf"


@dataclass(frozen=True)
class TuneRequest:
    config_path: str
    trace_name: str  # for the file's comment and the header line
    out: str
    force: bool
    max_throttled: float | None
    settings: Settings


def check_out(request: TuneRequest) -> None:
    """Before minutes of replay: refuse an output that cannot or must not be written."""
    directory = os.path.dirname(os.path.abspath(request.out))
    if os.path.exists(request.out) and not request.force:
        raise TuneError(f"{request.out} exists; give --force to overwrite it, or another "
                        "--tune-out FILE")
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
        raise TuneError(f"cannot write {request.out}: {directory} is not a writable directory")


def run_tune(config: Config, trace: Trace, request: TuneRequest,
             load_candidate: Callable[[str], Config], stream: Any = sys.stdout) -> int:
    """``--tune``: print the frontier and write the chosen configuration; 0 when written, 1
    when no candidate is within the limit, 130/143 when interrupted (nothing written)."""
    check_out(request)
    try:
        with open(request.config_path, encoding="utf-8-sig") as handle:
            text = handle.read()
    except OSError as exc:
        raise TuneError(f"cannot read {request.config_path}: {exc.strerror or exc}") from None
    candidate_list = candidates()
    texts = [apply_settings(text, ini_settings(candidate), request.trace_name)
             for candidate in candidate_list]
    progress = Progress(sys.stderr)
    try:
        with runner.interruptible(), tempfile.TemporaryDirectory(prefix="dd-tune-") as scratch:
            try:
                configs = []
                for number, candidate_text in enumerate(texts):
                    path = os.path.join(scratch, f"candidate-{number}.conf")
                    with open(path, "w", encoding="utf-8") as handle:
                        handle.write(candidate_text)
                    configs.append(load_candidate(path))
                result = tune(config, configs, candidate_list, trace, request.settings,
                              max_throttled=request.max_throttled, progress=progress)
            finally:
                progress.clear()
    except Interrupted as stop:
        name = signal.Signals(stop.signum).name
        print(f"dynamic-dynamodb: interrupted by {name}; nothing written", file=sys.stderr)
        return 128 + stop.signum
    minutes = trace.minutes
    print(f"Tuning on {request.trace_name}: {len(trace.resources)} resource(s), {minutes} "
          f"minutes, {len(candidate_list)} candidates of the target mode, "
          f"{os.cpu_count() or 1} processes", file=stream)
    for line in result_lines(result):
        print(line, file=stream)
    given = ("--max-throttled" if request.max_throttled is not None
             else "aws-target-tracking's, the default")
    if result.chosen is None:
        raise TuneError(f"no candidate throttles at most {result.limit * 100:.3f} % of the "
                        f"demand ({given}); nothing written. Allow more with --max-throttled")
    chosen = result.chosen
    print(f"Chosen: {chosen.name}: ${chosen.cost:.2f} "
          f"({_versus(chosen.cost, result.reference.cost)} aws-target-tracking), throttled "
          f"{chosen.throttled * 100:.3f} % (limit {result.limit * 100:.3f} %, {given})",
          file=stream)
    mine = result.mine
    if mine.throttled <= result.limit + 1e-12 and mine.cost < chosen.cost:
        print(f"note: your configuration as it is costs less (${mine.cost:.2f}, throttled "
              f"{mine.throttled * 100:.3f} %) than every target-mode candidate within the "
              "limit; the best candidate is written all the same", file=stream)
    assert chosen.candidate is not None
    try:
        write_no_clobber(request.out, texts[candidate_list.index(chosen.candidate)],
                         force=request.force)
    except FileExistsError:
        raise TuneError(f"{request.out} appeared meanwhile; give --force to overwrite it, or "
                        "another --tune-out FILE") from None
    except OSError as exc:
        raise TuneError(f"cannot write {request.out}: {exc.strerror or exc}") from None
    print(f"Wrote {request.out}", file=stream)
    return 0
