"""The ``dynamic-dynamodb`` command: argparse, exit codes and dispatch."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from dynamic_dynamodb import __version__
from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.config.options import (
    DIMENSION_OPTIONS,
    GLOBAL_OPTIONS,
    LOCATION_OPTIONS,
    LOGGING_OPTIONS,
    RESOURCE_OPTIONS,
)
from dynamic_dynamodb.config.run_options import RunOptions
from dynamic_dynamodb.config.schema import Option, parse_value, render
from dynamic_dynamodb.dimensions import DIMENSIONS
from dynamic_dynamodb.errors import DynamicDynamoDBError

EXIT_OK = 0
EXIT_ERROR = 1  # configuration or start-up error
EXIT_USAGE = 2  # argparse
EXIT_FAILURES = 3  # --run-once checked everything, but something failed (D12)
EXIT_LOCKED = 4  # another process holds the state lock
EXIT_INTERRUPTED = 130  # SIGINT, as shells report it
FETCHED = "\0fetched"  # --tune without TRACE: on the history --fetch-trace DAYS reads

DAEMON_MODES = ("start", "stop", "restart", "foreground", "fg", "status")

DESCRIPTION = "Dynamic DynamoDB - Auto provisioning AWS DynamoDB"
EPILOG = """\
modes:
  dynamic-dynamodb -c CONF                  check every check-interval seconds until Ctrl-C
  dynamic-dynamodb -c CONF --run-once       one check, then exit (for cron); exit 3 if anything failed
  dynamic-dynamodb -c CONF --dry-run ...    decide and log, but never UpdateTable or publish to SNS
  dynamic-dynamodb -c CONF --daemon start   detach; also stop, restart, status, foreground (fg)
  dynamic-dynamodb -c CONF --show-config    print the effective configuration as JSON
  dynamic-dynamodb -c CONF --create-state-table
                                            create [global] state-table (several hosts, one leader)
  dynamic-dynamodb -c CONF --simulate TRACE.csv --report-dir DIR
                                            replay a traffic trace offline and compare policies
  dynamic-dynamodb -c CONF --fetch-trace DAYS --trace-out FILE
                                            write a trace from CloudWatch history
  dynamic-dynamodb -c CONF --tune TRACE.csv [--max-throttled F] [--tune-out FILE]
                                            search the target mode's settings on a trace
  dynamic-dynamodb -c CONF --advise         on-demand or provisioned, from 14 days of history

exit status:
  0  success
  1  configuration or start-up error (one line names the file, section and option)
  2  command-line usage error
  3  --run-once checked everything it could, but something failed: an AWS call, an SNS
     publish, the circuit breaker, the state file; or a stop abandoned a hung call;
     --advise printed advice, but an account or region could not be read
  4  another run holds the state lock; nothing was done
  --daemon status (LSB): 0 running, 1 stale pid file, 3 not running, 4 unknown
"""


def _converter(option: Option) -> Any:
    def convert(text: str) -> Any:
        try:
            return parse_value(option, text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = option.kind.value
    return convert


def _option(name: str, options: tuple[Option, ...]) -> Option:
    return next(option for option in options if option.field == name)


def _add_option_flag(group: Any, option: Option, *short: str) -> None:
    """A flag for a [global]/[logging] option; it overrides the file."""
    default = "unset" if option.default is None else option.default
    text = f"{option.help} (default: {default}; overrides [{_section_of(option)}] {option.key})"
    group.add_argument(*short, option.flag, dest=option.field, type=_converter(option),
                       metavar=option.field.upper(), help=text.replace("%", "%%"))


def _section_of(option: Option) -> str:
    return "logging" if option in LOGGING_OPTIONS else "global"


def _instance_name(text: str) -> str:
    """--instance is part of file names (paths.check_instance)."""
    from dynamic_dynamodb.paths import check_instance

    try:
        return check_instance(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dynamic-dynamodb",
        usage="%(prog)s (-c CONF | -t REGEX) [options]   (all options: --help)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    general = parser
    general.add_argument("-c", "--config", help="Read configuration from a configuration file")
    general.add_argument("--dry-run", action="store_true",
                         help="Run without making any changes to your DynamoDB table")
    general.add_argument("--run-once", action="store_true",
                         help="Run once and then exit Dynamic DynamoDB, instead of looping")
    general.add_argument("--show-config", action="store_true",
                         help="Parse config files, print the parsed config as JSON and exit")
    general.add_argument("--create-state-table", action="store_true",
                         help="Create the [global] state-table (on-demand billing, TTL on "
                              "stale items) in the [global] region and exit; nothing is done "
                              "if it exists already")
    general.add_argument("--version", action="version",
                         version=f"Dynamic DynamoDB version: {__version__}",
                         help="Print current version number")
    for option in (*GLOBAL_OPTIONS, *LOGGING_OPTIONS):
        if option.cli and option.field != "region":
            _add_option_flag(general, option)

    daemon = parser.add_argument_group("Daemon options")
    daemon.add_argument("--daemon", metavar="MODE",
                        help="Run as a daemon: start, stop, restart, status, or foreground (fg) "
                             "for systemd and supervisord")
    daemon.add_argument("--instance", default="default", type=_instance_name,
                        help="Name of the instance, to run several side by side: letters, "
                             "digits, '.', '_' and '-', not starting with a dot (default: "
                             "default)")
    daemon.add_argument("--pid-file-dir", default=None,
                        help="Directory of the pid file; the state file defaults to the same "
                             "directory (default: $RUNTIME_DIRECTORY under systemd, else "
                             "/run/dynamic-dynamodb for root, $XDG_RUNTIME_DIR/dynamic-dynamodb "
                             "for other users)")

    dynamodb = parser.add_argument_group("DynamoDB options")
    _add_option_flag(dynamodb, _option("region", GLOBAL_OPTIONS), "-r")
    dynamodb.add_argument("-t", "--table-name",
                          help="Table(s) to manage, as a regular expression matched at the start "
                               "of the name. Only the scaling options below apply (no config "
                               "file table sections).")

    for dimension in DIMENSIONS:
        group = parser.add_argument_group(f"{dimension.one.capitalize()} units scaling properties")
        for option in DIMENSION_OPTIONS:
            if option.cli:
                key = option.key_for(dimension.name)
                default = "unset" if option.default is None else option.default
                text = f"{option.help.format(dim=dimension.name)} (default: {default})"
                group.add_argument(f"--{key}", type=_converter(option),
                                   help=text.replace("%", "%%"))

    backtest = parser.add_argument_group("Backtest (offline, no AWS call)")
    backtest.add_argument("--simulate", metavar="TRACE.csv",
                          help="Replay a traffic trace through the policy and compare with AWS "
                               "target tracking, static peak, on-demand and an oracle")
    backtest.add_argument("--report-dir", default="backtest-report",
                          help="Where --simulate writes report.json, timeline.csv and report.png "
                               "(default: backtest-report)")
    backtest.add_argument("--tt-target", type=float, default=70.0,
                          help="Target utilisation %% of the emulated AWS target tracking "
                               "(default: 70)")
    backtest.add_argument("--update-delay", type=float, default=1.0,
                          help="Minutes before an UpdateTable takes effect (default: 1)")
    backtest.add_argument("--metric-delay", type=float, default=1.0,
                          help="Minutes before a CloudWatch datapoint is visible (default: 1)")
    backtest.add_argument("--new-peak-delay", type=float, default=5.0,
                          help="Minutes before an UpdateTable to a new peak (above the most the "
                               "table or GSI has had) takes effect: DynamoDB adds partitions "
                               "then (default: 5)")
    backtest.add_argument("--request-units", type=float, default=1.0,
                          help="Average capacity units per request: throttle events count "
                               "requests, so throttled units / this = events (default: 1)")
    backtest.add_argument("--price-rcu-hour", type=float, default=0.00013,
                          help="USD per provisioned RCU-hour (default: 0.00013, us-east-1)")
    backtest.add_argument("--price-wcu-hour", type=float, default=0.00065,
                          help="USD per provisioned WCU-hour (default: 0.00065, us-east-1)")
    backtest.add_argument("--price-read-million", type=float, default=0.125,
                          help="USD per million on-demand read units (default: 0.125)")
    backtest.add_argument("--price-write-million", type=float, default=0.625,
                          help="USD per million on-demand write units (default: 0.625)")
    backtest.add_argument("--price-metrics-thousand", type=float, default=0.01,
                          help="USD per 1,000 CloudWatch metrics requested with GetMetricData "
                               "(default: 0.01; never in the free tier)")
    backtest.add_argument("--price-alarm-month", type=float, default=0.10,
                          help="USD per CloudWatch alarm-month, for the 4 alarms AWS target "
                               "tracking keeps per table or GSI dimension; prorated over the "
                               "trace, 30-day months (default: 0.10)")
    backtest.add_argument("--max-trace-gap", metavar="DURATION", default="2d",
                          help="Refuse a --simulate trace with no row at all for longer than "
                               "this: hours (48) or a duration like 90m, 36h, 2d (default: 2d)")
    backtest.add_argument("--fill-trace-gaps", action="store_true",
                          help="Accept longer gaps in a --simulate trace: each table and GSI "
                               "keeps its last demand across them, as for any missing minute")
    backtest.add_argument("--decision-log", action="store_true",
                          help="Also write DIR/decisions.log: dynamic-dynamodb's own log of the "
                               "replay (every decision and update, on the trace's clock), in the "
                               "configuration's log-format (text or json). Slower.")
    backtest.add_argument("--fetch-trace", type=int, metavar="DAYS",
                          help="Write a trace of the last DAYS days (1-15) of CloudWatch history "
                               "for the configured tables, of every configured account and "
                               "region; if one cannot be read (AssumeRole denied, region "
                               "unreachable): one error line naming it, exit 1, no file")
    backtest.add_argument("--trace-out", metavar="FILE", help="Output file for --fetch-trace")
    backtest.add_argument("--tune", metavar="TRACE", nargs="?", const=FETCHED,
                          help="Search the target mode's settings on the trace (or, without "
                               "TRACE, with --fetch-trace DAYS, on fetched history) and write "
                               "the cheapest configuration that throttles no more than "
                               "--max-throttled to --tune-out")
    backtest.add_argument("--max-throttled", metavar="F",
                          help="The throttled fraction of demand allowed, 0.005 or 0.5%%. "
                               "--tune: the candidates' limit (default: what "
                               "aws-target-tracking throttles); --simulate and --advise: "
                               "the most a provisioned policy may throttle and still be "
                               "advised (default: 1%%)")
    backtest.add_argument("--tune-out", metavar="FILE",
                          help="Where --tune writes the configuration (default: CONF's name "
                               "with .tuned.conf, in the current directory)")
    backtest.add_argument("--force", action="store_true",
                          help="--tune: overwrite an existing --tune-out file")
    backtest.add_argument("--advise", action="store_true",
                          help="On-demand or provisioned? Advice per table and GSI from the "
                               "last 14 days of CloudWatch history, of every configured account "
                               "and region; one that cannot be read is one error line naming "
                               "it, the others are advised (exit 3)")
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    global_overrides = {option.field: getattr(args, option.field)
                        for option in GLOBAL_OPTIONS if option.cli}
    logging_overrides = {option.field: getattr(args, option.field)
                         for option in LOGGING_OPTIONS if option.cli}
    table_overrides = {
        (dimension.name, option.field): getattr(
            args, option.key_for(dimension.name).replace("-", "_")
        )
        for dimension in DIMENSIONS
        for option in DIMENSION_OPTIONS
        if option.cli
    }
    return load_config(
        args.config,
        global_overrides=global_overrides,
        logging_overrides=logging_overrides,
        table_name=args.table_name,
        table_overrides=table_overrides,
    )


def _resource_json(options: Any) -> dict[str, Any]:
    shown = {option.key: render(option, getattr(options, option.field))
             for option in RESOURCE_OPTIONS}
    for dimension in DIMENSIONS:
        values = options.dimension(dimension)
        for option in DIMENSION_OPTIONS:
            shown[option.key_for(dimension.name)] = render(option, getattr(values, option.field))
    return shown


def config_json(config: Config) -> dict[str, Any]:
    """The effective configuration with defaults resolved and secrets masked (D24)."""
    tables = {}
    for section in config.tables:
        shown = _resource_json(section.options)
        shown.update({option.key: render(option, getattr(section.location, option.field))
                      for option in LOCATION_OPTIONS})  # region unset: [global]'s
        shown["gsis"] = {gsi.regex: _resource_json(gsi.options) for gsi in section.gsis}
        tables[section.regex] = shown
    return {
        "config_file": config.path,
        "global": {option.key: render(option, getattr(config.global_options, option.field))
                   for option in GLOBAL_OPTIONS},
        "logging": {option.key: render(option, getattr(config.logging, option.field))
                    for option in LOGGING_OPTIONS},
        "tables": tables,
    }


def _fail(message: str, code: int = EXIT_ERROR) -> int:
    print(f"dynamic-dynamodb: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.daemon is not None and args.daemon not in DAEMON_MODES:
        parser.error(f"invalid --daemon mode {args.daemon!r}; valid modes are start, stop, "
                     "restart, status and foreground (fg)")
    if args.create_state_table and (args.dry_run or args.run_once or args.daemon):
        parser.error("--create-state-table runs alone: it creates the table and exits (a dry "
                     "run never writes the state table)")
    if args.tune == FETCHED and args.fetch_trace is None:
        parser.error("--tune needs a TRACE, or --fetch-trace DAYS to tune on fetched history")
    if (args.tune is not None or args.advise) and args.config is None:
        parser.error(f"{'--tune' if args.tune is not None else '--advise'} needs a "
                     "configuration file (-c CONF)")
    if args.fetch_trace is not None and not args.trace_out and args.tune != FETCHED:
        parser.error("--fetch-trace needs --trace-out FILE")
    if args.fetch_trace is not None and not 1 <= args.fetch_trace <= 15:
        parser.error("--fetch-trace takes 1 to 15 days (CloudWatch keeps 1-minute data 15 days)")
    if args.config is None and args.table_name is None and args.daemon not in ("stop", "status"):
        # 2.5.1 looped for ever over zero tables here; nothing useful can happen.
        parser.error("nothing to do: give a configuration file (-c CONF) or a table "
                     "(-t REGEX); see --help")
    try:
        return _dispatch(args)
    except DynamicDynamoDBError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:  # before a mode installed its own handling (while loading)
        print("dynamic-dynamodb: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _absolute(path: str | None) -> str | None:
    return os.path.abspath(os.path.expanduser(path)) if path else path


def _with_absolute_paths(args: argparse.Namespace) -> argparse.Namespace:
    """The same arguments with file names resolved against the directory started in.

    A daemon runs in "/" and reloads its configuration there (SIGHUP), so the reload must
    not depend on the working directory.
    """
    paths = {name: _absolute(getattr(args, name))
             for name in ("config", "log_file", "log_config_file", "state_file")}
    return argparse.Namespace(**{**vars(args), **paths})


def run_options(args: argparse.Namespace) -> RunOptions:
    """The frozen value that travels below the CLI instead of the argparse Namespace."""
    return RunOptions(
        config_path=args.config,
        dry_run=args.dry_run,
        run_once=args.run_once,
        daemon=args.daemon,
        instance=args.instance,
        pid_file_dir=args.pid_file_dir,
    )


def _tune(config: Config, args: argparse.Namespace) -> int:
    from dynamic_dynamodb.simulate import tune
    from dynamic_dynamodb.simulate.fetch import fetch_history, fetch_trace
    from dynamic_dynamodb.simulate.runner import locations_warning, settings_from_args
    from dynamic_dynamodb.simulate.trace import read_trace

    settings = settings_from_args(args)
    warning = locations_warning(config)
    if warning:
        print(f"dynamic-dynamodb: warning: {warning}", file=sys.stderr)
    request = tune.TuneRequest(
        config_path=args.config,
        trace_name=(f"the last {args.fetch_trace} day(s) of history" if args.tune == FETCHED
                    else os.path.basename(args.tune)),
        out=args.tune_out or tune.default_out(args.config), force=args.force,
        max_throttled=(None if args.max_throttled is None
                       else tune.parse_fraction(args.max_throttled)),
        settings=settings)
    tune.check_out(request)  # before minutes of fetching or replaying
    if args.tune == FETCHED:
        if args.trace_out:  # also keep the history, for --simulate later
            stopped = fetch_trace(config, args.fetch_trace, args.trace_out)
            if stopped:
                return stopped
            trace = read_trace(args.trace_out, settings.trace_limits)
        else:
            trace = fetch_history(config, args.fetch_trace)
    else:
        trace = read_trace(args.tune, settings.trace_limits)

    def load_candidate(path: str) -> Config:
        return config_from_args(argparse.Namespace(**{**vars(args), "config": path}))

    return tune.run_tune(config, trace, request, load_candidate)


def _dispatch(args: argparse.Namespace) -> int:
    run = run_options(args)
    if args.daemon in ("stop", "status"):
        from dynamic_dynamodb import daemon

        return daemon.control(run)
    config = config_from_args(args)
    for warning in config.warnings:
        print(f"dynamic-dynamodb: warning: {warning}", file=sys.stderr)

    reload_args = _with_absolute_paths(args)

    def reload_config() -> Config:
        return config_from_args(reload_args)

    if args.show_config:
        from dynamic_dynamodb.runner import resolution_json, state_path

        shown = config_json(config)
        if shown["global"]["state-file"] is None:
            shown["global"]["state-file"] = f"{state_path(config, run)} (default)"
        shown.update(resolution_json(config))
        print(json.dumps(shown, indent=2))
        return EXIT_OK
    if args.create_state_table:
        from dynamic_dynamodb.runner import create_table_command

        return create_table_command(config)
    if args.simulate:
        from dynamic_dynamodb.simulate.runner import run_simulation

        return run_simulation(config, args)
    if args.tune is not None:
        return _tune(config, args)
    if args.advise:
        from dynamic_dynamodb.simulate.advise import run_advise
        from dynamic_dynamodb.simulate.runner import settings_from_args

        return run_advise(config, settings_from_args(args))
    if args.fetch_trace is not None:
        from dynamic_dynamodb.simulate.fetch import fetch_trace

        return fetch_trace(config, args.fetch_trace, args.trace_out)
    if args.daemon is not None:
        from dynamic_dynamodb import daemon

        return daemon.control(run, config, reload_config)
    from dynamic_dynamodb.runner import run as run_checks

    return run_checks(config, run, reload_config)
