"""Logging set-up: format, dry-run tag, stdout, file mode, rotation, fileConfig, errors."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from dynamic_dynamodb import logs
from dynamic_dynamodb.config.options import LoggingOptions
from dynamic_dynamodb.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def options(**values: object) -> LoggingOptions:
    fields = {"log_file": None, "log_level": "info", "log_config_file": None}
    fields.update(values)
    return LoggingOptions(**fields)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Leave the logging tree as we found it (other tests rely on propagation and caplog)."""
    root, package = logging.getLogger(), logging.getLogger(logs.ROOT)
    saved = (list(root.handlers), root.level, list(package.handlers), package.level,
             package.propagate)
    yield
    logging.captureWarnings(False)
    for logger in (root, package):
        for handler in list(logger.handlers):
            if handler not in saved[0] and handler not in saved[2]:
                handler.close()
            logger.removeHandler(handler)
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    package.handlers[:] = saved[2]
    package.setLevel(saved[3])
    package.propagate = saved[4]


def test_console_goes_to_stdout_in_the_2_5_1_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert logs.setup(options(), console=True) == []
    logging.getLogger("dynamic_dynamodb.engine").info("t1 - hello")
    out, err = capsys.readouterr()
    assert err == ""
    assert out.endswith(" - dynamic_dynamodb.engine - INFO - t1 - hello\n")
    assert out[:4].isdigit()  # asctime first


def test_dry_run_tag_comes_before_the_message(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup(options(), dry_run=True)
    logging.getLogger("dynamic_dynamodb.engine").warning("t1 - hello")
    assert capsys.readouterr().out.endswith(" - WARNING - dryrun - t1 - hello\n")


def test_log_level_filters(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup(options(log_level="warning"))
    logging.getLogger("dynamic_dynamodb.x").info("quiet")
    logging.getLogger("dynamic_dynamodb.x").error("loud")
    out = capsys.readouterr().out
    assert "quiet" not in out and "loud" in out


def test_log_file_and_directory_are_created_0640_even_with_umask_0(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "d.log"
    old = os.umask(0)
    try:
        logs.setup(options(log_file=str(path)), console=False)
    finally:
        os.umask(old)
    logging.getLogger("dynamic_dynamodb.x").info("into the file")
    assert "into the file" in path.read_text()
    assert mode(path) == 0o640
    assert mode(path.parent) & 0o007 == 0


def test_existing_file_loses_extra_bits_but_a_stricter_mode_is_kept(tmp_path: Path) -> None:
    loose, strict = tmp_path / "loose.log", tmp_path / "strict.log"
    for path, bits in ((loose, 0o666), (strict, 0o600)):
        path.write_text("")
        os.chmod(path, bits)
        logs.setup(options(log_file=str(path)), console=False)
    assert mode(loose) == 0o640
    assert mode(strict) == 0o600


def test_rollover_at_midnight_with_a_frozen_clock(tmp_path: Path) -> None:
    path = tmp_path / "d.log"
    start = datetime(2026, 3, 1, 23, 59, 0)
    # The handler takes its first rollover time from an existing file's mtime.
    path.write_text("")
    os.utime(path, (start.timestamp(), start.timestamp()))
    old = os.umask(0)
    try:
        with time_machine.travel(start, tick=False) as clock:
            logs.setup(options(log_file=str(path)), console=False)
            log = logging.getLogger("dynamic_dynamodb.x")
            log.info("before midnight")
            for day in range(7):
                clock.move_to(start + timedelta(days=day, minutes=2))
                log.info("day %d", day)
    finally:
        os.umask(old)
    backups = sorted(p.name for p in tmp_path.iterdir() if p.name != "d.log")
    assert len(backups) == 5  # backupCount 5
    assert backups[-1] == "d.log.2026-03-07"
    assert "day 6" in path.read_text()
    for name in backups:
        assert mode(tmp_path / name) & 0o137 == 0  # never group-writable or world-anything
    assert mode(path) == 0o640


def test_unopenable_log_file_is_a_start_up_error(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    with pytest.raises(ConfigError, match=r"log-file: cannot open .*not a directory"):
        logs.setup(options(log_file=str(tmp_path / "afile" / "d.log")))
    with pytest.raises(ConfigError, match="log-file: cannot open"):
        logs.setup(options(log_file=str(tmp_path / "afile" / "deeper" / "d.log")))


def test_detached_without_a_file_warns_that_logs_go_nowhere(tmp_path: Path) -> None:
    assert logs.setup(options(), console=False) == [logs.NOWHERE]
    assert logs.setup(options(log_file=str(tmp_path / "d.log")), console=False) == []


def test_detached_third_party_and_python_warnings_reach_the_log_file(tmp_path: Path) -> None:
    path = tmp_path / "d.log"
    logs.setup(options(log_file=str(path)), console=False)
    logging.getLogger("botocore.credentials").warning("a botocore warning")
    logging.getLogger("urllib3").info("chatter below WARNING stays out")
    warnings.warn("a deprecation", UserWarning, stacklevel=1)
    text = path.read_text()
    assert "botocore.credentials - WARNING - a botocore warning" in text
    assert "chatter" not in text
    assert "py.warnings - WARNING" in text and "a deprecation" in text


def test_example_logging_conf_loads_with_fileconfig(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(REPO / "example-logging.conf", tmp_path)
    monkeypatch.chdir(tmp_path)
    logging.config.fileConfig("example-logging.conf", disable_existing_loggers=False)
    logging.getLogger("dynamic_dynamodb.engine").info("t1 - via the example")
    for handler in logging.getLogger("dynamic_dynamodb").handlers:
        handler.flush()
    assert "dynamic_dynamodb.engine - INFO - t1 - via the example" in (
        tmp_path / "dynamic-dynamodb.log").read_text()


def test_log_config_file_overrides_level_and_file(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(REPO / "example-logging.conf", tmp_path)
    monkeypatch.chdir(tmp_path)
    ignored = tmp_path / "ignored.log"
    warnings = logs.setup(options(log_config_file="example-logging.conf",
                                  log_file=str(ignored), log_level="error"), console=False)
    assert warnings == []
    logging.getLogger("dynamic_dynamodb.x").info("info passes the example's INFO level")
    assert not ignored.exists()
    assert "info passes" in (tmp_path / "dynamic-dynamodb.log").read_text()


def test_invalid_or_missing_log_config_file_is_a_start_up_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.conf"
    bad.write_text("[loggers]\nkeys=root\n")
    with pytest.raises(ConfigError, match="invalid logging configuration"):
        logs.setup(options(log_config_file=str(bad)))
    with pytest.raises(ConfigError, match="file not found"):
        logs.setup(options(log_config_file=str(tmp_path / "missing.conf")))


def test_setup_twice_does_not_duplicate_handlers(tmp_path: Path) -> None:
    for _ in range(3):
        logs.setup(options(log_file=str(tmp_path / "d.log")), console=False)
    assert len(logging.getLogger(logs.ROOT).handlers) == 1
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_dynamic_dynamodb", False)]
    assert len(ours) == 1
    logging.getLogger("dynamic_dynamodb.x").info("once")
    assert (tmp_path / "d.log").read_text().count("once") == 1


def test_json_format_is_one_object_per_record_with_the_decision(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.setup(LoggingOptions(log_format="json"), dry_run=True)
    logger = logging.getLogger("dynamic_dynamodb.engine")
    logger.info("%s%s", "t - ", "Reads: held", extra={"decision": {"outcome": "held-counting"}})
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    logs.reset()
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first["message"] == "t - Reads: held"
    assert first["decision"] == {"outcome": "held-counting"}
    assert (first["level"], first["logger"], first["dry_run"]) == (
        "INFO", "dynamic_dynamodb.engine", True)
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exception"]


def test_a_link_planted_at_the_log_file_is_refused_and_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "victim"
    link = tmp_path / "logs" / "dd.log"
    link.parent.mkdir()
    os.symlink(target, link)
    with pytest.raises(ConfigError) as caught:
        logs.setup(LoggingOptions(log_file=str(link)), console=False)
    assert "refusing to use the log file" in str(caught.value)
    assert "symbolic link" in str(caught.value)
    assert not target.exists() and not target.parent.exists()


def test_a_log_file_of_another_user_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give the file away")
    log = tmp_path / "dd.log"
    log.write_text("")
    os.chown(log, 65534, 65534)
    with pytest.raises(ConfigError) as caught:
        logs.setup(LoggingOptions(log_file=str(log)), console=False)
    assert "owned by uid 65534" in str(caught.value)
