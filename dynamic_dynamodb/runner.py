"""Running cycles: --run-once, the plain loop, signals, configuration reload and back-off."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from dynamic_dynamodb import logs
from dynamic_dynamodb.aws import dynamodb
from dynamic_dynamodb.aws.clients import Clients, error_code, make_clients
from dynamic_dynamodb.config.loader import match_table
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.engine import AWS_ERRORS, CycleReport, Engine, utcnow
from dynamic_dynamodb.errors import ConfigError, StateError
from dynamic_dynamodb.state import StateStore, default_state_path

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILURES, EXIT_LOCKED = 0, 3, 4
MAX_BACKOFF_SECONDS = 900


def state_path(config: Config, args: argparse.Namespace) -> str:
    return config.global_options.state_file or default_state_path(args.pid_file_dir, args.instance)


class Runner:
    """Owns the clients, the state store and the stop/reload flags of one process."""

    def __init__(
        self,
        config: Config,
        args: argparse.Namespace,
        *,
        clients: Clients | None = None,
        reload_config: Callable[[], Config] | None = None,
    ):
        self.config = config
        self.args = args
        self.clients = clients or make_clients(config.global_options)
        self.store = StateStore(state_path(config, args))
        self.stop = threading.Event()
        self.reload_requested = threading.Event()
        self.reload_config = reload_config
        self.engine = Engine(config, self.clients, self.store.load(), dry_run=args.dry_run,
                             stop=self.stop)

    def cycle(self) -> CycleReport:
        """One cycle under the state lock; state is loaded before and saved after."""
        with self.store.locked():
            self.engine.state = self.store.load()
            try:
                return self.engine.run_cycle()
            finally:
                self.engine.state.finish_cycle(utcnow())
                self.store.save(self.engine.state)

    def install_signal_handlers(self) -> None:
        def request_stop(signum: int, _frame: Any) -> None:
            logger.info("Received %s; finishing the current table, then exiting",
                        signal.Signals(signum).name)
            self.stop.set()

        def request_reload(_signum: int, _frame: Any) -> None:
            logger.info("Received SIGHUP; reloading the configuration before the next cycle")
            self.reload_requested.set()
            self.stop_sleep.set()

        self.stop_sleep = threading.Event()
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGHUP, request_reload)

    def _reload(self) -> None:
        self.reload_requested.clear()
        if self.reload_config is None:
            return
        try:
            config = self.reload_config()
        except ConfigError as exc:
            logger.error("Configuration reload failed, keeping the previous configuration: %s",
                         exc)
            return
        for warning in config.warnings:
            logger.warning("%s", warning)
        self.config = config
        self.engine.config = config
        logger.info("Configuration reloaded from %s", config.path)

    def loop(self) -> int:
        """Cycle every check-interval seconds, measured from cycle starts, until stopped."""
        failures = 0
        while not self.stop.is_set():
            if self.reload_requested.is_set():
                self._reload()
            started = time.monotonic()
            try:
                self.cycle()
                failures = 0
            except StateError as exc:
                logger.error("%s", exc)
                failures += 1
            except AWS_ERRORS as exc:
                failures += 1
                logger.error("Cycle failed: %s (%s)", error_code(exc), exc)
            except Exception:
                failures += 1
                logger.exception("Cycle failed with an unexpected error")
            interval = self.config.global_options.check_interval
            wait = max(0.0, interval - (time.monotonic() - started))
            if failures > 1:
                base = max(interval, 10)
                wait = min(base * 2 ** (failures - 1), max(base, MAX_BACKOFF_SECONDS))
                logger.error("%d cycles in a row failed; backing off, next try in %d s",
                             failures, wait)
            if self.stop.is_set():
                break
            logger.debug("Sleeping %.1f seconds until the next check", wait)
            self._sleep(wait)
        logger.info("Stopped")
        return EXIT_OK

    def _sleep(self, seconds: float) -> None:
        sleeper = getattr(self, "stop_sleep", None)
        deadline = time.monotonic() + seconds
        while not self.stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if sleeper is not None and sleeper.wait(min(remaining, 0.2)):
                sleeper.clear()
                return
            if sleeper is None:
                self.stop.wait(min(remaining, 0.2))

    def run_once(self) -> int:
        try:
            report = self.cycle()
        except StateError as exc:
            logger.error("%s", exc)
            return EXIT_LOCKED
        except AWS_ERRORS as exc:
            logger.error("Cycle failed: %s (%s)", error_code(exc), exc)
            return EXIT_FAILURES
        return EXIT_FAILURES if report.errors else EXIT_OK


def run(config: Config, args: argparse.Namespace) -> int:
    """--run-once, or the plain loop in the foreground."""
    from dynamic_dynamodb.cli import config_from_args

    for warning in logs.setup(config.logging, dry_run=args.dry_run):
        logger.warning("%s", warning)
    runner = Runner(config, args, reload_config=lambda: config_from_args(args))
    if args.run_once:
        return runner.run_once()
    runner.install_signal_handlers()
    return runner.loop()


def resolution_json(config: Config) -> dict[str, Any]:
    """Which section each table resolves to (D22), when AWS can be reached with credentials."""
    session = boto3.session.Session(region_name=config.global_options.region)
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
