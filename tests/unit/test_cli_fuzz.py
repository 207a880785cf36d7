"""No input ever gives a traceback: random command lines and random configuration files go
through the real argument parsing, validation and configuration loading up to the dispatch,
which is replaced by a stub so that nothing reaches AWS or starts a loop."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamic_dynamodb import cli, daemon, runner
from dynamic_dynamodb.simulate import fetch
from dynamic_dynamodb.simulate import runner as simulate_runner

FLAGS = ["-c", "--config", "--dry-run", "--run-once", "--show-config", "--daemon", "--instance",
         "--pid-file-dir", "-r", "--region", "-t", "--table-name", "--check-interval",
         "--log-level", "--log-format", "--state-file", "--reads-upper-threshold",
         "--min-provisioned-reads", "--max-provisioned-writes", "--increase-reads-unit",
         "--simulate", "--report-dir", "--fetch-trace", "--trace-out", "--tt-target",
         "--max-trace-gap", "--num-read-checks-before-scale-down"]
VALUES = st.one_of(st.sampled_from(["", "0", "-1", "1e999", "nan", "start", "fg", "..", "/",
                                    "us-east-1", "bad region", "{1: 2}", "percent", "[", "^t$",
                                    "json", "CONF"]),
                   st.text(max_size=12))
ARGV = st.lists(st.one_of(st.sampled_from(FLAGS), VALUES), max_size=8)
CONFIG_TEXT = st.one_of(
    st.binary(max_size=200).map(lambda data: data.decode("utf-8", "replace")),
    st.lists(st.sampled_from([
        "[global]", "[logging]", "[default_options]", "[table: ^t$]", "[gsi: ^g$ table: ^t$]",
        "[table: (]", "region:", "region: x y", "check-interval: -5", "log-format: xml",
        "reads-upper-threshold: 20", "reads-lower-threshold: 95", "maintenance-windows: 25:00",
        "sns-message-types: bogus", "circuit-breaker-url: ftp://x", "max-provisioned-reads: 0",
        "increase-consumed-reads-scale: {1: ", "  continued", "key without value", "= 3",
    ]), max_size=10).map("\n".join),
)


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    def done(*_: object, **__: object) -> int:
        return 0

    monkeypatch.setattr(runner, "run", done)
    monkeypatch.setattr(runner, "resolution_json", lambda _config: {})
    monkeypatch.setattr(daemon, "control", done)
    monkeypatch.setattr(simulate_runner, "run_simulation", done)
    monkeypatch.setattr(fetch, "fetch_trace", done)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=ARGV, text=CONFIG_TEXT)
def test_any_command_line_and_config_file_gives_an_exit_status_never_a_traceback(
    stubbed: None, tmp_path: Path, argv: list[str], text: str,
) -> None:
    conf = tmp_path / "fuzz.conf"
    conf.write_text(text, encoding="utf-8")
    argv = [str(conf) if arg == "CONF" else arg for arg in argv]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exit_:  # argparse: --help, --version, usage errors
            code = exit_.code if isinstance(exit_.code, int) else 2
    assert code in (0, 1, 2, 3, 4)
    if code == 1:
        assert err.getvalue().count("\n") >= 1
        assert "Traceback" not in err.getvalue()
