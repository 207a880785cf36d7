"""The dynamic-dynamodb command: --show-config, --version, usage errors and config errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dynamic_dynamodb import __version__
from dynamic_dynamodb.cli import build_parser, config_json, main
from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.config.options import (
    DIMENSION_OPTIONS,
    GLOBAL_OPTIONS,
    LOCATION_OPTIONS,
    LOGGING_OPTIONS,
    RESOURCE_OPTIONS,
)
from dynamic_dynamodb.dimensions import DIMENSIONS
from tests.conftest import run_cli

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "example-dynamic-dynamodb.conf"

SECRETS_CONF = """\
[global]
aws-access-key-id: AKIAIOSFODNN7EXAMPLE
aws-secret-access-key-id: wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY
circuit-breaker-url: http://ops:gl0bal-pw@breaker.example.com:8080/up
[table: ^t$]
circuit-breaker-url: https://svc:t4ble-pw@breaker.example.com/t
[gsi: ^g$ table: ^t$]
circuit-breaker-url: https://g5i-token@breaker.example.com/g
"""
SECRETS = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY", "gl0bal-pw",
           "t4ble-pw", "g5i-token", "cl1-secret")


def conf(tmp_path: Path, text: str) -> str:
    path = tmp_path / "dd.conf"
    path.write_text(text, encoding="utf-8")
    return str(path)


def resource_keys() -> set[str]:
    return {option.key for option in RESOURCE_OPTIONS} | {
        option.key_for(dim.name) for dim in DIMENSIONS for option in DIMENSION_OPTIONS}


# ---- --show-config ----------------------------------------------------------------------------

def test_show_config_of_the_example() -> None:
    result = run_cli(["-c", str(EXAMPLE), "--show-config"])
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    shown = json.loads(result.stdout)
    assert shown["config_file"] == str(EXAMPLE)
    assert set(shown["global"]) == {option.key for option in GLOBAL_OPTIONS}
    assert set(shown["logging"]) == {option.key for option in LOGGING_OPTIONS}
    assert list(shown["tables"]) == ["^my_table$", ".*"]  # file order
    table = shown["tables"]["^my_table$"]
    # A table section also shows where its tables are; a GSI is where its table is.
    assert set(table) == resource_keys() | {option.key for option in LOCATION_OPTIONS} | {"gsis"}
    assert table["region"] is None and table["role-session-name"] == "dynamic-dynamodb"
    assert set(table["gsis"]["^my_gsi$"]) == resource_keys()
    # defaults resolved: the catch-all sets only min/max, everything else is filled in
    catch_all = shown["tables"][".*"]
    assert catch_all["max-provisioned-reads"] == 100
    assert catch_all["reads-upper-threshold"] == 90.0
    assert catch_all["increase-consumed-reads-scale"] is None
    assert catch_all["sns-message-types"] == []
    assert "resolution" in shown  # D22: offline here, so it says why it is not shown


def test_show_config_renders_values_as_json_types(tmp_path: Path) -> None:
    path = conf(tmp_path, "[table: ^t$]\nincrease-consumed-reads-scale: {0: 0, 80.5: 10}\n"
                          "sns-message-types: scale-up, scale-down\n"
                          "maintenance-windows: 22:00-02:00\n")
    shown = config_json(load_config(path))
    table = shown["tables"]["^t$"]
    assert table["increase-consumed-reads-scale"] == {"0": 0, "80.5": 10}
    assert table["sns-message-types"] == ["scale-up", "scale-down"]
    assert table["maintenance-windows"] == "22:00-02:00"
    assert table["gsis"] == {}
    json.dumps(shown)  # everything is JSON-serialisable


def test_show_config_masks_secrets(tmp_path: Path) -> None:
    # D24: AWS keys and passwords in circuit-breaker URLs never appear.
    result = run_cli(["-c", conf(tmp_path, SECRETS_CONF), "--show-config",
                      "--aws-secret-access-key", "cl1-secret"])
    assert result.returncode == 0, result.stderr
    for secret in SECRETS:
        assert secret not in result.stdout
        assert secret not in result.stderr
    shown = json.loads(result.stdout)
    assert shown["global"]["aws-access-key-id"] == "***"
    assert shown["global"]["aws-secret-access-key-id"] == "***"
    assert shown["global"]["circuit-breaker-url"] == (
        "http://***:***@breaker.example.com:8080/up")
    table = shown["tables"]["^t$"]
    assert table["circuit-breaker-url"] == "https://***:***@breaker.example.com/t"
    assert table["gsis"]["^g$"]["circuit-breaker-url"] == "https://***:***@breaker.example.com/g"


def test_show_config_command_line_beats_the_file(tmp_path: Path, capsys) -> None:
    path = conf(tmp_path, "[global]\nregion: eu-west-1\ncheck-interval: 60\n"
                          "[logging]\nlog-level: info\n[table: ^t$]\n")
    assert main(["-c", path, "--show-config", "--region", "eu-central-1", "--log-level",
                 "DEBUG"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["global"]["region"] == "eu-central-1"
    assert shown["global"]["check-interval"] == 60  # from the file
    assert shown["logging"]["log-level"] == "debug"


def test_show_config_with_table_name_only(capsys) -> None:
    # D23: the README's basic example, no file and no min/max.
    assert main(["--table-name", "my_table", "--show-config"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["config_file"] is None
    [(regex, table)] = shown["tables"].items()
    assert regex == "my_table"
    assert table["min-provisioned-reads"] is None and table["max-provisioned-writes"] is None
    assert table["increase-reads-unit"] == "percent"


def test_show_config_with_table_name_and_scaling_flags(capsys) -> None:
    assert main(["-t", "my_table", "--show-config", "--reads-upper-threshold", "80",
                 "--increase-writes-unit", "units", "--min-provisioned-reads", "2",
                 "--max-provisioned-reads", "20", "--num-read-checks-before-scale-down", "3"]) == 0
    table = json.loads(capsys.readouterr().out)["tables"]["my_table"]
    assert table["reads-upper-threshold"] == 80
    assert table["increase-writes-unit"] == "units"
    assert (table["min-provisioned-reads"], table["max-provisioned-reads"]) == (2, 20)
    assert table["num-read-checks-before-scale-down"] == 3
    assert table["writes-upper-threshold"] == 90.0


def test_show_config_prints_warnings_on_stderr(tmp_path: Path) -> None:
    result = run_cli(["-c", conf(tmp_path, "[table: ^t$]\nreads-uper-threshold: 80\n"),
                      "--show-config"])
    assert result.returncode == 0
    assert result.stderr.startswith("dynamic-dynamodb: warning: ")
    assert "reads-uper-threshold" in result.stderr and "[table: ^t$]" in result.stderr
    assert len(result.stderr.splitlines()) == 1  # once (2.5.1 printed its warnings twice)
    json.loads(result.stdout)  # stdout stays pure JSON


# ---- --version and usage errors -----------------------------------------------------------------

def test_version() -> None:
    result = run_cli(["--version"])
    assert (result.returncode, result.stdout, result.stderr) == (
        0, f"Dynamic DynamoDB version: {__version__}\n", "")


def test_version_comes_before_any_config_file() -> None:
    result = run_cli(["--version", "-c", "/nonexistent.conf"])
    assert result.returncode == 0
    assert result.stdout.startswith("Dynamic DynamoDB version: ")


def test_python_dash_m() -> None:
    result = subprocess.run([sys.executable, "-m", "dynamic_dynamodb", "--version"],
                            capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0
    assert result.stdout == f"Dynamic DynamoDB version: {__version__}\n"


def test_unknown_daemon_mode_is_rejected() -> None:
    result = run_cli(["--daemon", "bogus", "-t", "x"])
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("dynamic-dynamodb: error: invalid --daemon mode 'bogus'")
    for mode in ("start", "stop", "restart", "foreground"):
        assert mode in last
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--log-level", "verbose"], "argument --log-level"),
        (["--check-interval", "soon"], "argument --check-interval"),
        (["--min-provisioned-reads", "0", "-t", "x"], "at least 1"),
        (["--increase-reads-unit", "percents", "-t", "x"], "'percent' or 'units'"),
        (["--reads-upper-threshold", "nan", "-t", "x"], "finite"),
        (["--no-such-flag"], "unrecognized arguments"),
    ],
)
def test_usage_errors_exit_2(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(argv)
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def test_help_has_the_2_5_1_groups() -> None:
    text = build_parser().format_help()
    for group in ("Daemon options", "DynamoDB options", "Read units scaling properties",
                  "Write units scaling properties"):
        assert f"{group}:" in text


def test_long_options_may_be_abbreviated() -> None:
    # Standard argparse behaviour that 2.5.1 users rely on (#327 used --table).
    assert build_parser().parse_args(["--table", "x"]).table_name == "x"


def test_defaults_of_the_daemon_flags() -> None:
    args = build_parser().parse_args([])
    assert (args.instance, args.pid_file_dir, args.daemon) == ("default", None, None)
    assert (args.dry_run, args.run_once, args.show_config) == (False, False, False)


# ---- configuration errors through the real command ---------------------------------------------

@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[table: ^t$]\nmin-provisioned-reads: 20\nmax-provisioned-reads: 10\n",
         "[table: ^t$]: min-provisioned-reads: "),
        ("[table: ^t$]\nincrease-consumed-reads-scale: {80: 10\n",
         "[table: ^t$]: increase-consumed-reads-scale: "),
        ("[table: ^t$]\n[gsi: ^g$ table: ^nope$]\n", "[gsi: ^g$ table: ^nope$]: "),
        ("[logging]\nlog-level: loud\n[table: ^t$]\n", "[logging]: log-level: "),
        ("[table: ^t(]\n", "[table: ^t(]: "),
    ],
)
def test_config_error_is_one_line_without_traceback(tmp_path: Path, text: str, where: str) -> None:
    path = conf(tmp_path, text)
    result = run_cli(["-c", path, "--show-config"])
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"dynamic-dynamodb: error: {path}: {where}")
    assert "Traceback" not in result.stderr


def test_missing_config_file_via_the_command(tmp_path: Path) -> None:
    path = str(tmp_path / "missing.conf")
    result = run_cli(["-c", path, "--run-once"])
    assert result.returncode == 1
    assert result.stderr == f"dynamic-dynamodb: error: {path}: file not found\n"


def test_config_error_does_not_show_secrets(tmp_path: Path) -> None:
    path = conf(tmp_path, "[global]\ncircuit-breaker-url: http://ops:s3cret-pw@host:port/\n"
                          "[table: ^t$]\n")
    result = run_cli(["-c", path, "--show-config"])
    assert result.returncode == 1
    assert "s3cret-pw" not in result.stderr
    assert f"{path}: [global]: circuit-breaker-url: " in result.stderr


def test_table_name_mode_config_error(capsys) -> None:
    code = main(["-t", "x", "--show-config", "--min-provisioned-writes", "9",
                 "--max-provisioned-writes", "3"])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("dynamic-dynamodb: error: command line: --min-provisioned-writes: ")
    assert len(err.splitlines()) == 1


def test_show_config_names_the_default_state_file(tmp_path: Path) -> None:
    conf = tmp_path / "dd.conf"
    conf.write_text("[table: ^orders$]\n")
    result = run_cli(["-c", str(conf), "--show-config", "--instance", "blue",
                      "--pid-file-dir", str(tmp_path)])
    shown = json.loads(result.stdout)
    assert shown["global"]["state-file"] == (
        f"{tmp_path}/dynamic-dynamodb.blue.state.json (default)")


def test_no_arguments_is_a_usage_error_not_an_endless_loop() -> None:
    result = run_cli([], timeout=20)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "dynamic-dynamodb: error: nothing to do: give a configuration file (-c CONF) or a table "
        "(-t REGEX); see --help")
    assert len(result.stderr.splitlines()) == 2  # the short usage line, then the error


def test_help_documents_every_exit_status() -> None:
    text = run_cli(["--help"]).stdout
    for line in ("0  success", "1  configuration or start-up error", "2  command-line usage",
                 "3  --run-once checked everything", "4  another run holds the state lock",
                 "--daemon status (LSB)"):
        assert line in text
