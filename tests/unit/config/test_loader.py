"""Loading the configuration file: validation errors, warnings, precedence and matching."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynamic_dynamodb.config import loader
from dynamic_dynamodb.config.loader import load_config, match_gsi, match_table
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.config.options import (
    DIMENSION_OPTIONS,
    GLOBAL_OPTIONS,
    LOCATION_OPTIONS,
    LOGGING_OPTIONS,
    RESOURCE_OPTIONS,
)
from dynamic_dynamodb.dimensions import DIMENSIONS
from dynamic_dynamodb.errors import ConfigError
from dynamic_dynamodb.windows import ClockTime

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "example-dynamic-dynamodb.conf"
TABLE = "[table: ^t$]\n"


def write(tmp_path: Path, text: str, name: str = "dd.conf") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def load(tmp_path: Path, text: str, **kwargs: object) -> Config:
    return load_config(write(tmp_path, text), **kwargs)  # type: ignore[arg-type]


def fails(tmp_path: Path, text: str, **kwargs: object) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, **kwargs)  # type: ignore[arg-type]
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}: ")
    assert "\n" not in str(caught.value)  # one line on stderr
    return caught.value


def names(error: ConfigError, section: str | None, option: str | None, *words: str) -> None:
    """The error names file (checked by fails), section and option, and says what is wrong."""
    assert error.section == section
    assert error.option == option
    text = str(error)
    if section:
        assert f"[{section}]" in text
    if option:
        assert f": {option}: " in text
    for word in words:
        assert word in text


# ---- every validation error names the file, the section and the option ---------------------

def test_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.conf")
    with pytest.raises(ConfigError, match="file not found") as caught:
        load_config(path)
    assert caught.value.path == path
    assert str(caught.value) == f"{path}: file not found"


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(str(tmp_path))


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The tests may run as root, where chmod 000 does not stop reading: simulate the refusal.
    path = write(tmp_path, TABLE)

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(loader, "open", refuse, raising=False)
    with pytest.raises(ConfigError, match="permission denied") as caught:
        load_config(path)
    assert caught.value.path == path


def test_not_a_text_file(tmp_path: Path) -> None:
    path = tmp_path / "dd.conf"
    path.write_bytes(b"[table: t]\nreads-upper-threshold: \xff\xfe\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(str(path))


def test_option_outside_a_section(tmp_path: Path) -> None:
    error = fails(tmp_path, "region: us-east-1\n" + TABLE)
    assert "line 1" in str(error) and "outside any [section]" in str(error)


def test_home_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write(tmp_path, TABLE)
    assert load_config("~/dd.conf").path == str(tmp_path / "dd.conf")


@pytest.mark.parametrize(
    ("text", "section"),
    [
        ("[table: my_table(]\n", "table: my_table("),
        (TABLE + "[gsi: [a-z table: ^t$]\n", "gsi: [a-z table: ^t$"),
    ],
)
def test_invalid_regex(tmp_path: Path, text: str, section: str) -> None:
    names(fails(tmp_path, text), section, None, "invalid regular expression")


@pytest.mark.parametrize(
    ("option", "raw", "words"),
    [
        ("increase-reads-unit", "percents", ["'percent' or 'units'", "'percents'"]),
        ("decrease-writes-unit", "unit", ["'percent' or 'units'"]),
        ("increase-consumed-writes-unit", "Percent", ["'percent' or 'units'"]),
        ("reads-lower-threshold", "5.5", ["whole number", "'5.5'"]),
        ("max-provisioned-writes", "lots", ["whole number"]),
        ("reads-upper-threshold", "ninety", ["number", "'ninety'"]),
        ("writes-upper-threshold", "nan", ["finite"]),
        ("circuit-breaker-timeout", "soon", ["number"]),
        ("enable-reads-autoscaling", "maybe", ["true/false", "yes/no", "'maybe'"]),
        ("always-decrease-rw-together", "sometimes", ["true/false"]),
        ("min-provisioned-reads", "0", ["at least 1"]),
        ("lookback-window-start", "0", ["at least 1"]),
        ("increase-consumed-reads-scale", "{0: 0, 80:", ["dict like"]),
        ("increase-consumed-reads-scale", "__import__('os')", ["dict like"]),
        ("decrease-consumed-writes-scale", "{10: 'x'}", ["numbers"]),
        ("increase-throttled-by-provisioned-reads-scale", "[0.5, 20]", ["dict like"]),
        ("maintenance-windows", "22:00-25:00", ["25:00", "00:00 and 23:59"]),
        ("maintenance-windows", "22:00 to 23:00", ["HH:MM-HH:MM"]),
        ("maintenance-windows", "22:00-23:00;01:00-02:00", ["HH:MM"]),
        ("circuit-breaker-url", "localhost:8080/up", ["http", "'localhost:8080/up'"]),
        ("circuit-breaker-url", "http://u:s3cret@host:port/", ["malformed", "***"]),
    ],
)
def test_bad_value_in_a_table_section(tmp_path: Path, option: str, raw: str,
                                      words: list[str]) -> None:
    error = fails(tmp_path, f"{TABLE}{option}: {raw}\n")
    names(error, "table: ^t$", option, *words)
    assert "s3cret" not in str(error)


@pytest.mark.parametrize("section", ["default_options", "gsi: ^g$ table: ^t$"])
def test_bad_value_in_other_resource_sections(tmp_path: Path, section: str) -> None:
    error = fails(tmp_path, f"{TABLE}[{section}]\nreads-lower-threshold: low\n")
    names(error, section, "reads-lower-threshold", "whole number")


@pytest.mark.parametrize(
    ("section", "option", "raw", "words"),
    [
        ("global", "check-interval", "5m", ["whole number"]),
        ("global", "circuit-breaker-url", "htp://x", ["http"]),
        ("global", "circuit-breaker-timeout", "-1", ["at least 1"]),
        ("logging", "log-level", "verbose", ["debug, info, warning, error", "'verbose'"]),
        ("logging", "log-level", "critical", ["debug, info, warning, error"]),
    ],
)
def test_bad_global_and_logging_values(tmp_path: Path, section: str, option: str, raw: str,
                                       words: list[str]) -> None:
    names(fails(tmp_path, f"[{section}]\n{option}: {raw}\n{TABLE}"), section, option, *words)


def test_min_above_max(tmp_path: Path) -> None:
    error = fails(tmp_path, TABLE + "min-provisioned-reads: 20\nmax-provisioned-reads: 10\n")
    names(error, "table: ^t$", "min-provisioned-reads",
          "min-provisioned-reads (20) may not be higher than max-provisioned-reads (10)")


def test_min_above_max_across_layers_names_where_min_is(tmp_path: Path) -> None:
    text = "[default_options]\nmin-provisioned-writes: 20\n[table: ^t$]\nmax-provisioned-writes: 10\n"
    error = fails(tmp_path, text)
    names(error, "default_options", "min-provisioned-writes", "for table ^t$", "(20)", "(10)")


def test_min_above_max_in_a_gsi(tmp_path: Path) -> None:
    text = TABLE + "[gsi: ^g$ table: ^t$]\nmin-provisioned-reads: 5\nmax-provisioned-reads: 4\n"
    names(fails(tmp_path, text), "gsi: ^g$ table: ^t$", "min-provisioned-reads", "for GSI ^g$")


def test_min_equal_to_max_is_fine(tmp_path: Path) -> None:
    config = load(tmp_path, TABLE + "min-provisioned-reads: 7\nmax-provisioned-reads: 7\n")
    assert config.tables[0].options.reads.min_provisioned == 7


def test_gsi_section_without_its_table_section(tmp_path: Path) -> None:
    error = fails(tmp_path, TABLE + "[gsi: ^g$ table: ^other$]\n")
    names(error, "gsi: ^g$ table: ^other$", None, "no [table: ^other$] section")


@pytest.mark.parametrize(
    ("header", "expected"),
    [("gsi: ^g$", "[gsi: REGEX table: REGEX]"), ("gsi: ^g$ table:", "[gsi: REGEX table: REGEX]"),
     ("table:", "[table: REGEX]")],
)
def test_malformed_table_or_gsi_header(tmp_path: Path, header: str, expected: str) -> None:
    # 2.5.1 silently ignored these; a table nobody manages is worth an error.
    names(fails(tmp_path, f"{TABLE}[{header}]\n"), header, None, "malformed", expected)


def test_no_table_section(tmp_path: Path) -> None:
    error = fails(tmp_path, "[global]\nregion: eu-west-1\n")
    assert "no [table: REGEX] section" in str(error)


def test_an_error_in_a_later_section_is_found_too(tmp_path: Path) -> None:
    text = TABLE + "[table: ^u$]\n[table: ^v$]\nincrease-writes-with: x\n"
    names(fails(tmp_path, text), "table: ^v$", "increase-writes-with")


# ---- unknown names are warnings ---------------------------------------------------------------

def test_unknown_option_is_a_warning_naming_it_and_its_section(tmp_path: Path) -> None:
    config = load(tmp_path, TABLE + "reads-uper-threshold: 80\nreads-upper-threshold: 85\n")
    assert config.tables[0].options.reads.upper_threshold == 85
    [warning] = config.warnings
    assert "reads-uper-threshold" in warning
    assert "[table: ^t$]" in warning
    assert "did you mean 'reads-upper-threshold'" in warning


@pytest.mark.parametrize(
    ("section", "key"),
    [("global", "log-level"), ("logging", "region"), ("default_options", "disable-reads-up-scaling"),
     ("gsi: ^g$ table: ^t$", "throughput-alarm")],
)
def test_unknown_options_everywhere(tmp_path: Path, section: str, key: str) -> None:
    config = load(tmp_path, f"{TABLE}[{section}]\n{key}: x\n")
    assert len(config.warnings) == 1
    assert key in config.warnings[0] and f"[{section}]" in config.warnings[0]


def test_unknown_section_is_a_warning(tmp_path: Path) -> None:
    config = load(tmp_path, TABLE + "[tables: ^u$]\nreads-upper-threshold: 80\n")
    [warning] = config.warnings
    assert "[tables: ^u$]" in warning and "[table: REGEX]" in warning
    assert [t.regex for t in config.tables] == ["^t$"]


def test_option_names_are_case_sensitive(tmp_path: Path) -> None:
    config = load(tmp_path, TABLE + "Reads-Upper-Threshold: 80\n")
    assert config.tables[0].options.reads.upper_threshold == 90.0
    assert "Reads-Upper-Threshold" in config.warnings[0]


# ---- precedence -------------------------------------------------------------------------------

def test_built_in_then_default_options_then_section(tmp_path: Path) -> None:
    text = (
        "[default_options]\nreads-upper-threshold: 80\nincrease-writes-unit: units\n"
        "[table: ^a$]\nreads-upper-threshold: 70\n"
        "[table: ^b$]\n"
        "[gsi: ^g$ table: ^a$]\nwrites-lower-threshold: 10\n"
    )
    config = load(tmp_path, text)
    a, b = (section.options for section in config.tables)
    assert a.reads.upper_threshold == 70  # section
    assert b.reads.upper_threshold == 80  # [default_options]
    assert a.writes.increase_unit == b.writes.increase_unit == "units"
    assert a.writes.upper_threshold == 90.0  # built-in
    gsi = config.tables[0].gsis[0].options
    # A GSI section takes [default_options], not its table section (§2.5, Appendix B).
    assert gsi.reads.upper_threshold == 80
    assert gsi.writes.lower_threshold == 10
    assert a.writes.lower_threshold == 30


def test_reads_and_writes_are_separate(tmp_path: Path) -> None:
    config = load(tmp_path, TABLE + "min-provisioned-reads: 3\nmax-provisioned-writes: 9\n")
    options = config.tables[0].options
    assert (options.reads.min_provisioned, options.reads.max_provisioned) == (3, None)
    assert (options.writes.min_provisioned, options.writes.max_provisioned) == (None, 9)


def test_empty_value_means_the_default(tmp_path: Path) -> None:
    text = "[default_options]\nmax-provisioned-reads: 50\n" + TABLE + "max-provisioned-reads:\n"
    assert load(tmp_path, text).tables[0].options.reads.max_provisioned is None


def test_global_and_logging_file_then_command_line(tmp_path: Path) -> None:
    text = ("[global]\nregion: eu-west-1\ncheck-interval: 60\n"
            "[logging]\nlog-level: debug\nlog-file: /tmp/x.log\n" + TABLE)
    config = load(tmp_path, text)
    assert (config.global_options.region, config.global_options.check_interval) == ("eu-west-1", 60)
    assert config.global_options.circuit_breaker_timeout == 10000.0  # built-in
    assert (config.logging.log_level, config.logging.log_file) == ("debug", "/tmp/x.log")

    config = load(tmp_path, text,
                  global_overrides={"region": "ap-south-1", "check_interval": None},
                  logging_overrides={"log_level": "error", "log_file": None})
    assert config.global_options.region == "ap-south-1"  # the command line wins
    assert config.global_options.check_interval == 60  # not given: the file's value
    assert config.logging.log_level == "error"
    assert config.logging.log_file == "/tmp/x.log"


@pytest.mark.parametrize("key", ["aws-secret-access-key-id", "aws-secret-access-key"])
def test_secret_key_under_both_names(tmp_path: Path, key: str) -> None:
    config = load(tmp_path, f"[global]\naws-access-key-id: AKIA\n{key}: s3cret\n{TABLE}")
    assert config.global_options.aws_secret_access_key == "s3cret"
    assert config.warnings == ()


# ---- first match (D22) -------------------------------------------------------------------------

def test_first_matching_section_in_file_order_wins(tmp_path: Path) -> None:
    text = ("[table: my_table]\nreads-upper-threshold: 70\n"
            "[table: my_.*]\nreads-upper-threshold: 80\n"
            "[table: .*]\nreads-upper-threshold: 95\n")
    config = load(tmp_path, text)
    first, later = match_table(config, "my_table")
    assert first is not None and first.header == "table: my_table"
    assert [section.header for section in later] == ["table: my_.*", "table: .*"]
    # re.match: anchored at the start only, so my_table also claims my_table2
    assert match_table(config, "my_table2")[0].header == "table: my_table"
    assert match_table(config, "my_other")[0].header == "table: my_.*"
    assert match_table(config, "xmy_table")[0].header == "table: .*"


def test_no_matching_section(tmp_path: Path) -> None:
    assert match_table(load(tmp_path, "[table: ^t$]\n"), "t2") == (None, [])


def test_catch_all_first_shadows_the_rest(tmp_path: Path) -> None:
    config = load(tmp_path, "[table: .*]\n[table: ^t$]\nreads-upper-threshold: 50\n")
    first, later = match_table(config, "t")
    assert first.regex == ".*" and first.options.reads.upper_threshold == 90.0
    assert [section.regex for section in later] == ["^t$"]


def test_first_matching_gsi_section_wins(tmp_path: Path) -> None:
    # D7: GSIs too; 2.5.1 applied every matching [gsi:] section in turn.
    text = ("[table: ^t$]\n"
            "[gsi: ^idx table: ^t$]\nreads-upper-threshold: 60\n"
            "[gsi: .* table: ^t$]\nreads-upper-threshold: 70\n"
            "[table: ^u$]\n"
            "[gsi: .* table: ^u$]\nreads-upper-threshold: 80\n")
    config = load(tmp_path, text)
    t, u = config.tables
    assert match_gsi(t, "idx_by_date").options.reads.upper_threshold == 60
    assert match_gsi(t, "other").options.reads.upper_threshold == 70
    assert match_gsi(u, "idx_by_date").options.reads.upper_threshold == 80
    assert match_gsi(config.tables[0], "x") is not None
    assert match_gsi(load(tmp_path, TABLE).tables[0], "idx") is None


def test_gsi_section_may_come_before_its_table(tmp_path: Path) -> None:
    config = load(tmp_path, "[gsi: ^g$ table: ^t$]\n[table: ^t$]\n")
    assert [gsi.regex for gsi in config.tables[0].gsis] == ["^g$"]


# ---- -t / --table-name (D23) --------------------------------------------------------------------

def test_table_name_mode_needs_no_file_and_no_min_or_max() -> None:
    config = load_config(None, table_name="my_table")
    [section] = config.tables
    assert section.regex == "my_table"
    assert section.pattern.match("my_table_2")
    for dim in DIMENSIONS:
        values = section.options.dimension(dim)
        assert values.min_provisioned is None and values.max_provisioned is None
        assert values.increase_unit == values.decrease_unit == "percent"
        assert values.upper_threshold == 90.0 and values.lower_threshold == 30


def test_table_name_mode_takes_the_command_line_scaling_options() -> None:
    config = load_config(None, table_name="t", table_overrides={
        ("reads", "min_provisioned"): 5, ("reads", "max_provisioned"): 50,
        ("writes", "increase_unit"): "units", ("writes", "upper_threshold"): None,
    })
    options = config.tables[0].options
    assert (options.reads.min_provisioned, options.reads.max_provisioned) == (5, 50)
    assert options.writes.increase_unit == "units"
    assert options.writes.upper_threshold == 90.0


def test_table_name_mode_ignores_the_files_table_sections(tmp_path: Path) -> None:
    text = ("[global]\nregion: eu-west-1\n[default_options]\nreads-upper-threshold: 50\n"
            "[table: ^t$]\nreads-upper-threshold: 60\n")
    config = load(tmp_path, text, table_name="^t$")
    [section] = config.tables
    assert section.options.reads.upper_threshold == 90.0  # only the command line (D23)
    assert section.gsis == ()
    assert config.global_options.region == "eu-west-1"  # [global] still applies


def test_table_name_mode_with_a_file_without_table_sections(tmp_path: Path) -> None:
    config = load(tmp_path, "[global]\nregion: eu-west-1\n", table_name="t")
    assert [section.regex for section in config.tables] == ["t"]


def test_table_name_mode_still_validates_the_file(tmp_path: Path) -> None:
    error = fails(tmp_path, TABLE + "reads-upper-threshold: high\n", table_name="t")
    names(error, "table: ^t$", "reads-upper-threshold")


def test_table_name_mode_min_above_max_names_the_flags() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, table_name="t", table_overrides={
            ("writes", "min_provisioned"): 20, ("writes", "max_provisioned"): 10})
    assert str(caught.value).startswith("command line: --min-provisioned-writes: ")
    assert "max-provisioned-writes (10)" in str(caught.value)


def test_table_name_mode_invalid_regex() -> None:
    with pytest.raises(ConfigError, match=r"^command line: --table-name: invalid regular"):
        load_config(None, table_name="my_table(")


def test_scaling_flags_without_table_name_are_ignored_with_a_warning(tmp_path: Path) -> None:
    config = load(tmp_path, TABLE, table_overrides={("reads", "upper_threshold"): 50.0,
                                                    ("writes", "min_provisioned"): None})
    assert config.tables[0].options.reads.upper_threshold == 90.0
    [warning] = config.warnings
    assert "--reads-upper-threshold" in warning and "--table-name" in warning
    assert "--min-provisioned-writes" not in warning


def test_neither_file_nor_table_name() -> None:
    config = load_config(None)
    assert config.tables == () and config.path is None
    assert config.global_options.region is None  # D29: the SDK's region, resolved later


# ---- parsing tolerances (D20) and optional sections (D21) ---------------------------------------

def test_colon_or_equals_and_comments(tmp_path: Path) -> None:
    text = """\
# a full-line comment
; another one
[table: ^t$]
reads-upper-threshold = 80 # inline
reads-lower-threshold: 20 ; inline too
sns-topic-arn: arn:aws:sns:us-east-1:1:topic#not-a-comment
circuit-breaker-url: http://host/up#fragment
    # an indented comment
writes-upper-threshold=70
"""
    config = load(tmp_path, text)
    options = config.tables[0].options
    assert options.reads.upper_threshold == 80
    assert options.reads.lower_threshold == 20
    assert options.writes.upper_threshold == 70
    assert options.sns_topic_arn == "arn:aws:sns:us-east-1:1:topic#not-a-comment"
    assert options.circuit_breaker_url == "http://host/up#fragment"
    assert config.warnings == ()


@pytest.mark.parametrize(
    "header",
    ["[table: ^t$]", "[table:^t$]", "[  table:   ^t$  ]", "[table : ^t$]", "[table:\t^t$]"],
)
def test_whitespace_in_table_headers(tmp_path: Path, header: str) -> None:
    config = load(tmp_path, f"{header}\n[gsi: ^g$ table: ^t$]\n")
    assert [section.regex for section in config.tables] == ["^t$"]
    assert [gsi.regex for gsi in config.tables[0].gsis] == ["^g$"]


@pytest.mark.parametrize(
    "header",
    ["[gsi: ^g$ table: ^t$]", "[gsi:^g$ table:^t$]", "[ gsi:  ^g$   table:  ^t$ ]",
     "[gsi : ^g$ table : ^t$]"],
)
def test_whitespace_in_gsi_headers(tmp_path: Path, header: str) -> None:
    config = load(tmp_path, f"[table: ^t$]\n{header}\nreads-upper-threshold: 60\n")
    [gsi] = config.tables[0].gsis
    assert (gsi.regex, gsi.table_regex) == ("^g$", "^t$")
    assert gsi.options.reads.upper_threshold == 60


def test_values_may_continue_on_indented_lines(tmp_path: Path) -> None:
    text = ("[table: ^t$]\nincrease-consumed-reads-scale: {0: 0,\n    80: 10,\n    95: 50}\n"
            "maintenance-windows: 22:00-23:59,\n    00:00-06:00\n")
    options = load(tmp_path, text).tables[0].options
    assert options.reads.increase_consumed_scale == ((0, 0), (80, 10), (95, 50))
    assert options.maintenance_windows is not None
    assert options.maintenance_windows.text.split() == ["22:00-23:59,", "00:00-06:00"]
    assert options.maintenance_windows.spans == ((22 * 60, 23 * 60 + 59), (0, 6 * 60))


def test_comment_after_a_section_header(tmp_path: Path) -> None:
    config = load(tmp_path, "[table: ^t$]  # production\n[gsi: ^g$ table: ^t$] ; by date\n")
    assert [(t.regex, [g.regex for g in t.gsis]) for t in config.tables] == [("^t$", ["^g$"])]


def test_table_regex_may_contain_a_colon(tmp_path: Path) -> None:
    # 2.5.1 silently ignored [table: a:b].
    config = load(tmp_path, "[table: ns:orders]\n[gsi: by:date table: ns:orders]\n")
    [section] = config.tables
    assert section.regex == "ns:orders"
    assert [gsi.regex for gsi in section.gsis] == ["by:date"]
    assert match_table(config, "ns:orders")[0] is section


def test_header_may_contain_brackets(tmp_path: Path) -> None:
    config = load(tmp_path, "[table: ^t[0-9]$]\n")
    assert config.tables[0].regex == "^t[0-9]$"
    assert match_table(config, "t7")[0] is not None


def test_repeated_sections_merge_and_the_last_value_wins(tmp_path: Path) -> None:
    text = ("[table: ^t$]\nreads-upper-threshold: 80\n"
            "[table: ^t$]\nreads-upper-threshold: 70\nwrites-upper-threshold: 60\n")
    config = load(tmp_path, text)
    [section] = config.tables
    assert (section.options.reads.upper_threshold, section.options.writes.upper_threshold) == (70, 60)


def test_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "bom.conf"
    path.write_bytes("\ufeff[table: ^t$]\nreads-upper-threshold: 80\n".encode())
    assert load_config(str(path)).tables[0].options.reads.upper_threshold == 80


def test_global_and_logging_are_optional(tmp_path: Path) -> None:
    # D21: 2.5.1 crashed with UnboundLocalError without them.
    config = load(tmp_path, TABLE)
    assert config.global_options.region is None
    assert config.global_options.check_interval == 300
    assert config.logging.log_level == "info"
    assert config.warnings == ()


# ---- the example configuration ------------------------------------------------------------------

def schema_keys() -> dict[str, set[str]]:
    return {
        "global": {option.key for option in GLOBAL_OPTIONS},
        "logging": {option.key for option in LOGGING_OPTIONS},
        "section": {option.key for option in RESOURCE_OPTIONS + LOCATION_OPTIONS}
        | {option.key_for(dim.name) for dim in DIMENSIONS for option in DIMENSION_OPTIONS},
    }


def example_keys(text: str) -> dict[str, set[str]]:
    """Option names per kind of section, written either active or commented out (#key: ...)."""
    found: dict[str, set[str]] = {"global": set(), "logging": set(), "section": set()}
    kind = "section"
    for line in text.splitlines():
        header = re.match(r"\[\s*([^:\]]+)", line)
        if header:
            name = header.group(1).strip()
            kind = name if name in ("global", "logging") else "section"
            continue
        option = re.match(r"^#?([a-z0-9-]+)\s*[:=]", line)
        if option:
            found[kind].add(option.group(1))
    return found


def test_example_configuration_is_valid_and_quiet() -> None:
    config = load_config(str(EXAMPLE))
    assert config.warnings == ()
    assert [section.regex for section in config.tables][-1] == ".*"  # the catch-all comes last
    assert any(section.gsis for section in config.tables)


def test_example_configuration_shows_every_option() -> None:
    found = example_keys(EXAMPLE.read_text(encoding="utf-8"))
    for kind, keys in schema_keys().items():
        assert keys <= found[kind], f"missing from the example [{kind}]: {keys - found[kind]}"


def test_example_values_are_valid_when_uncommented(tmp_path: Path) -> None:
    # The commented-out examples must be usable as they are: uncomment every option line.
    text = EXAMPLE.read_text(encoding="utf-8")
    uncommented = re.sub(r"(?m)^#([a-z0-9-]+\s*[:=])", r"\1", text)
    assert uncommented != text
    config = load(tmp_path, uncommented)
    assert config.warnings == ()
    first = config.tables[0].options
    assert first.maintenance_windows and first.sns_message_types and first.reads.increase_consumed_scale


SECTION_LINES = st.lists(
    st.sampled_from(["[global]", "[logging]", "[default_options]", "[table: ^t$]", "[table:]",
                     "[gsi: ^g$ table: ^t$]", "[gsi: x table: ^nope$]", "[ table : a:b ]", "[x",
                     "region: eu-west-1", "log-level: LOUD", "reads-upper-threshold: 80",
                     "min-provisioned-reads: 9", "max-provisioned-reads: 3", "  continued",
                     "increase-consumed-reads-scale: {1: 2", "= value", "novalue", "# c", ""])
    | st.text(max_size=30),
    max_size=12,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(SECTION_LINES)
def test_any_file_loads_or_fails_with_a_config_error(tmp_path: Path, lines: list[str]) -> None:
    # Never a traceback: whatever the file holds, the result is a Config or a ConfigError.
    path = tmp_path / "fuzz.conf"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    try:
        load_config(str(path))
    except ConfigError as exc:
        assert exc.path == str(path)
        assert "\n" not in str(exc)


def test_an_unparsable_line_is_reported_without_echoing_its_secret(tmp_path: Path) -> None:
    path = tmp_path / "leak.conf"
    path.write_text("[global]\naws-secret-access-key-id wJalrXUtnFEMI/K7MDENG\n[table: ^t$]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert "line 2" in str(caught.value)
    assert "wJalrXUtnFEMI" not in str(caught.value)


def test_options_that_depend_on_each_other_may_be_split_across_default_and_section(
    tmp_path: Path,
) -> None:
    path = tmp_path / "split.conf"
    path.write_text("[default_options]\nreserved-decreases: 2\n"
                    "[table: ^a$]\nreserved-decreases-after: 20:00\n")
    table = load_config(str(path)).tables[0].options
    assert (table.reserved_decreases, table.reserved_decreases_after) == (
        2, ClockTime("20:00", 20 * 60))


def test_a_path_through_a_file_is_a_one_line_error(tmp_path: Path) -> None:
    regular = tmp_path / "afile"
    regular.write_text("")
    with pytest.raises(ConfigError) as caught:
        load_config(str(regular / "dd.conf"))
    assert str(caught.value) == f"{regular / 'dd.conf'}: cannot read it: Not a directory"


def test_a_continuation_line_in_a_list_stays_one_line(tmp_path: Path) -> None:
    path = tmp_path / "mt.conf"
    path.write_text("[table: ^a$]\nsns-message-types: scale-up,\n  scale-down\n")
    assert load_config(str(path)).tables[0].options.sns_message_types == ("scale-up", "scale-down")
    path.write_text("[table: ^a$]\nsns-message-types: scale-up\n  bogus\n")
    config = load_config(str(path))
    assert config.tables[0].options.sns_message_types == ("scale-up",)
    assert len(config.warnings) == 1 and "\n" not in config.warnings[0]


def test_an_unknown_message_type_is_a_warning_and_is_dropped_as_in_2_5_1(tmp_path: Path) -> None:
    # 2.5.1's own example used "throughput-alarm": its users' files must still start.
    path = tmp_path / "mt.conf"
    path.write_text("[default_options]\nsns-message-types: scale-up, throughput-alarm\n"
                    "[table: ^a$]\n")
    config = load_config(str(path))
    assert config.tables[0].options.sns_message_types == ("scale-up",)
    assert config.warnings == (
        f"{path}: [default_options] sns-message-types: unknown message type(s) throughput-alarm "
        "ignored; valid: scale-up, scale-down, high-throughput-alarm, low-throughput-alarm, "
        "decrease-budget-exhausted, error",)


def test_the_decision_table_rows_mean_the_same_through_the_loader(tmp_path: Path) -> None:
    """The policy tests build typed options in memory; the same lines in an INI file, in a
    [table:] and in a [gsi:] section (D7), must load to exactly those values."""
    from tests.unit.policy.test_decide_table import BASELINE, ROWS, baseline

    def text(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return str(value).lower()
        return str(value)

    for param in ROWS:
        values = {**BASELINE, **param.values[0].options}
        lines = "".join(f"{key}: {text(value)}\n" for key, value in values.items())
        path = tmp_path / "row.conf"
        path.write_text(f"[table: ^t$]\n{lines}[gsi: ^g$ table: ^t$]\n{lines}")
        config = load_config(str(path))
        assert config.warnings == (), param.id
        table, gsi = config.tables[0].options, config.tables[0].gsis[0].options
        assert table == gsi == baseline(param.values[0].options), param.id


@pytest.mark.parametrize("region", ["us east 1", "-us-east-1", "us_east_1", "eu-west-1-"])
def test_a_region_name_the_sdk_would_reject_is_a_config_error(tmp_path: Path, region: str) -> None:
    error = fails(tmp_path, f"[global]\nregion: {region}\n" + TABLE)
    assert "[global]: region: expected an AWS region name such as us-east-1" in str(error)


def test_a_metric_window_that_ends_too_close_to_now_is_a_warning(tmp_path: Path) -> None:
    config = load(tmp_path, "[table: ^t$]\nlookback-window-start: 3\nlookback-period: 2\n"
                            "[gsi: ^g$ table: ^t$]\nlookback-window-start: 9\n")
    [warning] = config.warnings
    assert "[table: ^t$] the metric window (lookback-window-start 3, lookback-period 2) ends " \
        "1 minute(s) before now" in warning


def test_repeated_sections_and_options_are_warnings_naming_both_lines(tmp_path: Path) -> None:
    config = load(tmp_path, "[table: ^t$]  # production\nreads-upper-threshold: 80\n"
                            "reads-upper-threshold: 85\n"
                            "[table:  ^t$]\nreads-lower-threshold: 10\n"
                            "[table: ^t$]\nwrites-upper-threshold: 70\n")
    path = tmp_path / "dd.conf"
    assert config.warnings == (
        f"{path}: [table: ^t$] option 'reads-upper-threshold' on line 3 repeats line 2; the "
        "value on line 3 is used",
        f"{path}: line 4: section [table:  ^t$] is the same as [table: ^t$] on line 1; the first "
        "one is used, this one never applies",
        f"{path}: line 6: section [table: ^t$] repeats line 1; both are read as one section, and "
        "an option given in both keeps the later value",
    )
    options = config.tables[0].options
    assert (options.reads.upper_threshold, options.writes.upper_threshold) == (85, 70)


@pytest.mark.parametrize(("lines", "message"), [
    ("reads-lower-threshold: 90\n", "reads-lower-threshold (90) must be lower than "
                                    "reads-upper-threshold (90) for table ^t$"),
    ("writes-upper-threshold: 20\n", "writes-lower-threshold (30) must be lower than "
                                     "writes-upper-threshold (20) for table ^t$"),
    ("reads-upper-alarm-threshold: 10\nreads-lower-alarm-threshold: 50\n",
     "reads-lower-alarm-threshold (50) must be lower than reads-upper-alarm-threshold (10)"),
])
def test_a_lower_threshold_at_or_above_its_upper_one_is_an_error(
    tmp_path: Path, lines: str, message: str,
) -> None:
    error = fails(tmp_path, f"[table: ^t$]\n{lines}")
    assert message in str(error)
    assert "[table: ^t$]" in str(error)


def test_scale_dicts_replace_the_thresholds_so_their_pair_is_not_checked(tmp_path: Path) -> None:
    config = load(tmp_path, "[table: ^t$]\nreads-lower-threshold: 95\n"
                            "decrease-consumed-reads-scale: {10: 20}\n")
    assert config.tables[0].options.reads.lower_threshold == 95


@pytest.mark.parametrize("key", ["reads-upper-threshold", "check-interval", "region",
                                 "log-level", "sns-message-types"])
def test_an_empty_value_is_an_error_unless_the_option_may_be_unset(tmp_path: Path,
                                                                   key: str) -> None:
    section = {"check-interval": "global", "region": "global", "log-level": "logging"}.get(
        key, "table: ^t$")
    text = f"[{section}]\n{key}:\n" + ("" if section.startswith("table") else TABLE)
    error = fails(tmp_path, text)
    assert f"[{section}]: {key}: has no value; give one or remove the line" in str(error)


def test_an_optional_option_left_empty_is_unset(tmp_path: Path) -> None:
    config = load(tmp_path, "[table: ^t$]\nmax-provisioned-reads:\nsns-topic-arn:\n")
    assert config.tables[0].options.reads.max_provisioned is None
    assert config.tables[0].options.sns_topic_arn is None


def test_an_empty_table_name_is_an_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, table_name=" ")
    assert "--table-name: needs a regular expression" in str(caught.value)


@pytest.mark.parametrize("value", ["86401", "1000000000000"])
def test_quiet_check_interval_is_at_most_a_day(tmp_path: Path, value: str) -> None:
    # 10**12 seconds used to pass, then overflow datetime arithmetic in the cycle.
    error = fails(tmp_path, f"[table: ^t$]\nquiet-check-interval: {value}\n")
    names(error, "table: ^t$", "quiet-check-interval", "at most 86400", value)
    assert load(tmp_path, "[table: ^t$]\nquiet-check-interval: 86400\n").tables[0].options \
        .quiet_check_interval == 86400


@pytest.mark.parametrize(("line", "shown"), [
    ("predictive-scaling: true", "predictive-scaling: true"),
    ("decrease-planner-percent: 5", "decrease-planner-percent: 5"),
])
def test_target_mode_options_in_a_threshold_section_are_a_warning(
        tmp_path: Path, line: str, shown: str) -> None:
    config = load(tmp_path, f"[table: ^t$]\n{line}\n"
                  "[table: ^u$]\ntarget-writes-utilisation: 70\n" + line + "\n")
    warned = [warning for warning in config.warnings if "does nothing here" in warning]
    assert len(warned) == 1  # [table: ^u$] has a dimension in target mode
    assert "[table: ^t$]" in warned[0] and shown in warned[0]
