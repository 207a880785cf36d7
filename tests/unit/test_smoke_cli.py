"""The command answers --version and --help without touching AWS."""

from dynamic_dynamodb import __version__
from tests.conftest import run_cli


def test_version_prints_2_5_1_style_line() -> None:
    result = run_cli(["--version"])
    assert result.returncode == 0
    assert result.stdout.strip() == f"Dynamic DynamoDB version: {__version__}"


def test_help_lists_every_flag_group() -> None:
    result = run_cli(["--help"])
    assert result.returncode == 0
    for flag in ("--dry-run", "--run-once", "--daemon", "--instance", "--pid-file-dir",
                 "--table-name", "--reads-upper-threshold", "--num-write-checks-reset-percent",
                 "--simulate", "--state-file"):
        assert flag in result.stdout
