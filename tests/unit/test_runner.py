"""The loop: back-off, isolation of failures, stop and reload from signals, interruptible sleep."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from dynamic_dynamodb import runner as runner_module
from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.config.run_options import RunOptions
from dynamic_dynamodb.engine import CycleReport
from dynamic_dynamodb.errors import ConfigError, StateError
from dynamic_dynamodb.runner import Flag, Runner, backoff_seconds
from tests.fakes import FakeTables


@pytest.fixture(autouse=True)
def _propagate(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(logging.getLogger("dynamic_dynamodb"), "propagate", True)
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def make_config(tmp_path: Path, check_interval: int = 300) -> Config:
    path = tmp_path / "dd.conf"
    path.write_text(f"[global]\ncheck-interval: {check_interval}\n[table: ^t1$]\n")
    return load_config(str(path))


def make_runner(tmp_path: Path, config: Config | None = None, **kwargs: Any) -> Runner:
    args = RunOptions(dry_run=False, pid_file_dir=str(tmp_path), instance="test")
    return Runner(config or make_config(tmp_path), args, ports=FakeTables.ports(), **kwargs)


def test_backoff_doubles_from_the_interval_up_to_15_minutes() -> None:
    assert [backoff_seconds(300, n) for n in (1, 2, 3, 4)] == [300, 600, 900, 900]
    assert [backoff_seconds(0, n) for n in (1, 2, 3, 4, 10)] == [0, 20, 40, 80, 900]
    assert backoff_seconds(3600, 2) == 3600  # never shorter than the interval itself


def test_failures_are_logged_once_per_cycle_with_back_off_and_recovery(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    runner = make_runner(tmp_path)
    outcomes: list[Any] = [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
        KeyError("surprise"),
        KeyError("surprise"),
        StateError("another dynamic-dynamodb process holds the lock"),
        CycleReport(tables=1),
    ]
    waits: list[float] = []

    def cycle() -> CycleReport:
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def sleep(seconds: float, *_: Any, **__: Any) -> None:
        waits.append(round(seconds))
        if not outcomes:
            runner.stop.set()

    told: list[tuple[str, int]] = []
    runner.engine.notify_error = (  # type: ignore[method-assign]
        lambda cause, detail: told.append((cause, int(detail.split(" for ")[1].split()[0]))))
    runner.cycle = cycle  # type: ignore[method-assign]
    runner._sleep = sleep  # type: ignore[method-assign]
    caplog.set_level(logging.INFO, "dynamic_dynamodb")
    assert runner.loop() == 0
    assert waits == [300, 600, 900, 900, 300]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    lines = [r.getMessage() for r in errors if r.getMessage().startswith("Cycle failed")]
    assert len(lines) == 4  # one per failed cycle, no flood
    assert "EndpointConnectionError" in lines[0]
    assert lines[1].startswith("Cycle failed again (2 in a row): unexpected KeyError")
    assert "next try in 600 s" in lines[1]
    tracebacks = [r.getMessage() for r in errors if "Traceback" in r.getMessage()]
    assert len(tracebacks) == 1  # the new error's traceback, once, not on each repeat
    assert "Cycle succeeded again after 4 failed cycles" in caplog.text
    # error-after-failed-cycles (3): at the third failure in a row, once
    assert told == [("no successful cycle", 3)]
    assert "No cycle has succeeded for 3 cycles in a row" in caplog.text


def test_a_cycle_where_nothing_could_be_checked_counts_as_failed(tmp_path: Path) -> None:
    runner = make_runner(tmp_path)
    runner.cycle = lambda: CycleReport(errors=2)  # type: ignore[method-assign]
    assert runner._guarded_cycle() is not None
    runner.cycle = lambda: CycleReport(tables=2, errors=1)  # type: ignore[method-assign]
    assert runner._guarded_cycle() is None  # partial failures are per table (D12)


def test_sigterm_stops_the_sleep_at_once_and_the_loop_exits_0(tmp_path: Path) -> None:
    runner = make_runner(tmp_path)
    runner.install_signal_handlers()
    cycles: list[float] = []
    runner.cycle = lambda: cycles.append(time.monotonic()) or CycleReport()  # type: ignore
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
    started = time.monotonic()
    assert runner.loop() == 0
    assert time.monotonic() - started < 5  # not the 300 s check interval
    assert len(cycles) == 1


def test_sigint_is_a_stop_request_not_a_keyboard_interrupt(tmp_path: Path) -> None:
    runner = make_runner(tmp_path)
    runner.install_signal_handlers()
    os.kill(os.getpid(), signal.SIGINT)
    assert runner.stop.is_set()
    assert runner.received == ["SIGINT"]


def test_stop_during_a_cycle_ends_the_loop_after_it(tmp_path: Path) -> None:
    runner = make_runner(tmp_path)
    runner.install_signal_handlers()
    count = 0

    def cycle() -> CycleReport:
        nonlocal count
        count += 1
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while "checking"
        return CycleReport(tables=1, interrupted=True)

    runner.cycle = cycle  # type: ignore[method-assign]
    assert runner.loop() == 0
    assert count == 1


def test_sighup_reloads_in_the_sleep_and_a_shorter_interval_applies_at_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    old = make_config(tmp_path, 300)
    new = dataclasses.replace(old, global_options=dataclasses.replace(
        old.global_options, check_interval=1))
    runner = make_runner(tmp_path, old, reload_config=lambda: new)
    runner.install_signal_handlers()
    cycles: list[float] = []

    def cycle() -> CycleReport:
        cycles.append(time.monotonic())
        if len(cycles) == 2:
            runner.stop.set()
        return CycleReport()

    runner.cycle = cycle  # type: ignore[method-assign]
    caplog.set_level(logging.INFO, "dynamic_dynamodb")
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGHUP)).start()
    started = time.monotonic()
    assert runner.loop() == 0
    assert time.monotonic() - started < 10
    assert runner.config is new and runner.engine.config is new
    assert "Received SIGHUP" in caplog.text
    assert "Configuration reloaded from" in caplog.text


def test_an_invalid_new_config_is_logged_in_full_and_the_old_one_kept(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    old = make_config(tmp_path)

    def broken() -> Config:
        raise ConfigError("/etc/dd.conf", "table: ^t1$", "reads-upper-threshold",
                          "expected a number, got 'lots'")

    runner = make_runner(tmp_path, old, reload_config=broken)
    runner.reload_requested.set()
    caplog.set_level(logging.INFO, "dynamic_dynamodb")
    runner._reload()
    assert runner.config is old and runner.engine.config is old
    assert not runner.reload_requested.is_set()
    assert ("Configuration reload failed, keeping the previous configuration: /etc/dd.conf: "
            "[table: ^t1$]: reads-upper-threshold: expected a number, got 'lots'") in caplog.text


def test_an_unexpected_reload_error_keeps_the_old_config_with_its_traceback(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    old = make_config(tmp_path)

    def broken() -> Config:
        raise PermissionError(13, "Permission denied")

    runner = make_runner(tmp_path, old, reload_config=broken)
    runner._reload()
    assert runner.config is old
    assert "Permission denied" in caplog.text and "Traceback" in caplog.text


def test_flag_is_lock_free_and_waits(tmp_path: Path) -> None:
    flag = Flag()
    assert not flag.wait(0.05)
    threading.Timer(0.1, flag.set).start()
    assert flag.wait(5)
    flag.clear()
    assert not flag.is_set()


def test_relative_config_paths_are_made_absolute(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    config = dataclasses.replace(
        config,
        logging=dataclasses.replace(config.logging, log_file="logs/d.log"),
        global_options=dataclasses.replace(config.global_options, state_file="s.json"))
    fixed = runner_module.absolute_paths(config, "/srv/dd")
    assert fixed.logging.log_file == "/srv/dd/logs/d.log"
    assert fixed.global_options.state_file == "/srv/dd/s.json"
    assert fixed.logging.log_config_file is None
