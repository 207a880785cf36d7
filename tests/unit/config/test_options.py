"""The option schema: every 2.5.1 option once, typed values, safe scale dicts, masked secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamic_dynamodb.config.options import (
    DIMENSION_OPTIONS,
    GLOBAL_OPTIONS,
    LOCATION_OPTIONS,
    LOGGING_OPTIONS,
    RESOURCE_OPTIONS,
)
from dynamic_dynamodb.config.schema import (
    MESSAGE_TYPES,
    Kind,
    Option,
    mask_url,
    parse_scale,
    parse_value,
    render,
)
from dynamic_dynamodb.dimensions import DIMENSIONS
from dynamic_dynamodb.windows import ClockTime, Windows

# Behaviour file §2.3 and §2.4: every option 2.5.1 reads from a config file.
ORIGINAL_GLOBAL = {"aws-access-key-id", "aws-secret-access-key-id", "region", "check-interval",
                   "circuit-breaker-url", "circuit-breaker-timeout"}
ORIGINAL_LOGGING = {"log-file", "log-level", "log-config-file"}
ORIGINAL_SECTION = {
    "maintenance-windows", "always-decrease-rw-together", "sns-topic-arn", "sns-message-types",
    "lookback-window-start", "lookback-period", "circuit-breaker-url", "circuit-breaker-timeout",
} | {
    template.format(dim=dim, one=dim[:-1])
    for dim in ("reads", "writes")
    for template in (
        "enable-{dim}-autoscaling", "enable-{dim}-up-scaling", "enable-{dim}-down-scaling",
        "{dim}-lower-threshold", "{dim}-upper-threshold", "throttled-{dim}-upper-threshold",
        "increase-{dim}-with", "decrease-{dim}-with", "increase-{dim}-unit", "decrease-{dim}-unit",
        "min-provisioned-{dim}", "max-provisioned-{dim}",
        "allow-scaling-down-{dim}-on-0-percent",
        "num-{one}-checks-before-scale-down", "num-{one}-checks-reset-percent",
        "{dim}-upper-alarm-threshold", "{dim}-lower-alarm-threshold",
        "increase-throttled-by-provisioned-{dim}-unit",
        "increase-throttled-by-provisioned-{dim}-scale",
        "increase-throttled-by-consumed-{dim}-unit", "increase-throttled-by-consumed-{dim}-scale",
        "increase-consumed-{dim}-unit", "increase-consumed-{dim}-with",
        "increase-consumed-{dim}-scale",
        "decrease-consumed-{dim}-unit", "decrease-consumed-{dim}-with",
        "decrease-consumed-{dim}-scale",
    )
}
# §1.1: the eleven scaling flags per dimension.
ORIGINAL_CLI = {"{dim}-upper-threshold", "throttled-{dim}-upper-threshold", "{dim}-lower-threshold",
                "increase-{dim}-with", "decrease-{dim}-with", "increase-{dim}-unit",
                "decrease-{dim}-unit", "min-provisioned-{dim}", "max-provisioned-{dim}",
                "num-{one}-checks-before-scale-down", "num-{one}-checks-reset-percent"}


def section_keys() -> set[str]:
    keys = {option.key for option in RESOURCE_OPTIONS}
    keys |= {option.key_for(dim.name) for dim in DIMENSIONS for option in DIMENSION_OPTIONS}
    return keys


def test_every_2_5_1_option_is_in_the_schema() -> None:
    assert not ORIGINAL_GLOBAL - {option.key for option in GLOBAL_OPTIONS}
    assert not ORIGINAL_LOGGING - {option.key for option in LOGGING_OPTIONS}
    assert not ORIGINAL_SECTION - section_keys()


def test_every_option_is_named_once() -> None:
    for group in (GLOBAL_OPTIONS, LOGGING_OPTIONS, RESOURCE_OPTIONS + DIMENSION_OPTIONS):
        keys = [option.key for option in group] + [a for option in group for a in option.aliases]
        fields = [option.field for option in group]
        assert len(keys) == len(set(keys))
        assert len(fields) == len(set(fields))
    for option in DIMENSION_OPTIONS:
        assert "{dim}" in option.key or "{one}" in option.key
        assert option.key_for("reads") != option.key_for("writes")


def test_the_eleven_scaling_flags_per_dimension() -> None:
    flags = {option.key for option in DIMENSION_OPTIONS if option.cli}
    assert flags == ORIGINAL_CLI


@pytest.mark.parametrize(
    ("key", "default"),
    [  # §2.3/§2.4 built-in defaults (units default to percent: D23's -t mode needs them)
        ("{dim}-upper-threshold", 90.0), ("{dim}-lower-threshold", 30),
        ("throttled-{dim}-upper-threshold", 0), ("increase-{dim}-with", 50),
        ("decrease-{dim}-with", 50), ("increase-{dim}-unit", "percent"),
        ("min-provisioned-{dim}", None), ("max-provisioned-{dim}", None),  # D2
        ("num-{one}-checks-before-scale-down", 1), ("num-{one}-checks-reset-percent", 0),
        ("enable-{dim}-autoscaling", True), ("enable-{dim}-up-scaling", True),
        ("enable-{dim}-down-scaling", True), ("allow-scaling-down-{dim}-on-0-percent", False),
        ("{dim}-upper-alarm-threshold", 0), ("{dim}-lower-alarm-threshold", 0),
        ("increase-consumed-{dim}-scale", None), ("decrease-consumed-{dim}-unit", None),
    ],
)
def test_dimension_defaults(key: str, default: object) -> None:
    option = next(option for option in DIMENSION_OPTIONS if option.key == key)
    assert option.default == default


def test_resource_and_global_defaults() -> None:
    defaults = {option.key: option.default for option in RESOURCE_OPTIONS}
    assert defaults["lookback-window-start"] == 15
    assert defaults["lookback-period"] == 5
    assert defaults["circuit-breaker-timeout"] == 10000.0
    assert defaults["sns-message-types"] == ()
    assert defaults["always-decrease-rw-together"] is False
    globals_ = {option.key: option.default for option in GLOBAL_OPTIONS}
    assert globals_["region"] is None  # D29: the SDK's resolution, then us-east-1
    assert globals_["check-interval"] == 300
    assert {option.key: option.default for option in LOGGING_OPTIONS}["log-level"] == "info"


def option(key: str) -> Option:
    for candidate in GLOBAL_OPTIONS + LOGGING_OPTIONS + RESOURCE_OPTIONS + DIMENSION_OPTIONS:
        if key in (candidate.key, candidate.key_for("reads")):
            return candidate
    raise KeyError(key)


# ---- values -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("key", "raw", "value"),
    [
        ("reads-lower-threshold", "30", 30),
        ("reads-lower-threshold", " 25 ", 25),
        ("reads-upper-threshold", "90", 90.0),
        ("reads-upper-threshold", "90.5", 90.5),
        ("enable-reads-autoscaling", "true", True),
        ("enable-reads-autoscaling", "Yes", True),
        ("enable-reads-autoscaling", "ON", True),
        ("enable-reads-autoscaling", "1", True),
        ("enable-reads-autoscaling", "False", False),
        ("enable-reads-autoscaling", "no", False),
        ("enable-reads-autoscaling", "off", False),
        ("enable-reads-autoscaling", "0", False),
        ("increase-reads-unit", "units", "units"),
        ("increase-reads-unit", "percent", "percent"),
        ("log-level", "DEBUG", "debug"),
        ("log-level", "Warning", "warning"),
        ("sns-message-types", "scale-up, scale-down", ("scale-up", "scale-down")),
        ("sns-message-types", " high-throughput-alarm ,low-throughput-alarm,",
         ("high-throughput-alarm", "low-throughput-alarm")),
        ("maintenance-windows", "22:00-23:59, 00:00-06:00",
         Windows("22:00-23:59, 00:00-06:00", ((1320, 1439), (0, 360)))),
        ("reserved-decreases-after", " 9:05 ", ClockTime("9:05", 545)),
        ("circuit-breaker-url", "http://localhost:8080/up", "http://localhost:8080/up"),
        ("circuit-breaker-url", "https://u:p@example.com/x?y=1", "https://u:p@example.com/x?y=1"),
        ("circuit-breaker-timeout", "2500", 2500.0),
        ("check-interval", "0", 0),
    ],
)
def test_parse_value(key: str, raw: str, value: object) -> None:
    assert parse_value(option(key), raw) == value


@pytest.mark.parametrize(
    ("key", "raw", "accepted"),
    [
        ("reads-lower-threshold", "5.5", "whole number"),  # 2.5.1's getint rejects it too
        ("reads-lower-threshold", "thirty", "whole number"),
        ("reads-lower-threshold", "0", "at least 1"),  # §2.6: 0 cannot disable down-scaling
        ("min-provisioned-reads", "0", "at least 1"),
        ("max-provisioned-reads", "-5", "at least 1"),
        ("num-read-checks-before-scale-down", "0", "at least 1"),
        ("lookback-window-start", "0", "at least 1"),
        ("reads-upper-threshold", "ninety", "a number"),
        ("reads-upper-threshold", "0.5", "at least 1"),
        ("reads-upper-threshold", "nan", "finite"),
        ("reads-upper-threshold", "inf", "finite"),
        ("circuit-breaker-timeout", "-infinity", "finite"),
        ("enable-reads-autoscaling", "maybe", "true/false"),
        ("enable-reads-autoscaling", "2", "true/false"),
        ("increase-reads-unit", "percents", "'percent' or 'units'"),
        ("increase-reads-unit", "Units", "'percent' or 'units'"),
        ("decrease-consumed-reads-unit", "capacity", "'percent' or 'units'"),  # 2.5.1 took anything
        ("log-level", "verbose", "debug, info, warning, error"),
        ("sns-message-types", "scale-up, throughput-alarm", "throughput-alarm"),
        ("maintenance-windows", "22:00-25:00", "between 00:00 and 23:59"),
        ("maintenance-windows", "22:00", "HH:MM-HH:MM"),
        ("circuit-breaker-url", "localhost:8080", "http"),
        ("circuit-breaker-url", "ftp://example.com/", "http"),
        ("circuit-breaker-url", "http://", "http"),
        ("circuit-breaker-url", "http://host:port/", "malformed"),
        ("circuit-breaker-url", "http://[::1/", "malformed"),
    ],
)
def test_parse_value_rejects(key: str, raw: str, accepted: str) -> None:
    with pytest.raises(ValueError, match=accepted):
        parse_value(option(key), raw)


def test_unknown_message_type_error_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError) as caught:
        parse_value(option("sns-message-types"), "scale-up, throughput-alarm, bad2")
    message = str(caught.value)
    assert "throughput-alarm, bad2" in message
    for valid in MESSAGE_TYPES:
        assert valid in message


# ---- scale dicts: parsed as data, never evaluated --------------------------------------------

@pytest.mark.parametrize(
    ("text", "scale"),
    [
        ("{0: 0, 0.25: 5, 0.5: 10, 1: 20, 2: 50, 5: 100}",
         ((0, 0), (0.25, 5), (0.5, 10), (1, 20), (2, 50), (5, 100))),
        ("{20: 10, 10: 30, 5: 50}", ((5, 50), (10, 30), (20, 10))),  # sorted by key
        ("{90: 2.7}", ((90, 2.7),)),
        ("{-1: 5, 1e2: 1}", ((-1, 5), (100.0, 1))),
        ("  {1: 2,}  ", ((1, 2),)),
        ("{}", ()),
        ("{1: 2, 1: 3}", ((1, 3),)),  # a repeated key keeps its last value, like Python
    ],
)
def test_parse_scale(text: str, scale: tuple) -> None:
    assert parse_scale(text) == scale
    assert parse_value(option("increase-consumed-reads-scale"), text) == scale


@pytest.mark.parametrize(
    "text",
    [
        "{0: 0, 80:",  # syntax error (2.5.1: traceback)
        "[1, 2]",
        "(1, 2)",
        "{1, 2}",
        "80",
        "{'a': 1}",
        "{1: 'ten'}",
        "{1: None}",
        "{True: 5}",
        "{1: [5]}",
        "{1: 2 + 3}",
        "{1: -5}",  # a negative amount
        "{1e999: 5}",  # inf
        "{1: 1e999}",
        "{**{1: 2}}",
        "__import__('os')",
        "__import__('os').system('true')",
        "{1: __import__('os').getpid()}",
        "{1: (lambda: 5)()}",
        "{1: 2}; import os",
        "dict(a=1)",
    ],
)
def test_malformed_or_unsafe_scale_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match=r"dict|numbers|negative|finite"):
        parse_scale(text)


def test_scale_text_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for text in (f"__import__('pathlib').Path({str(marker)!r}).touch()",
                 f"{{1: __import__('pathlib').Path({str(marker)!r}).touch()}}"):
        with pytest.raises(ValueError):
            parse_scale(text)
    assert not marker.exists()


# ---- secrets (D24) ------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:s3cret@host:8080/up", "http://***:***@host:8080/up"),
        ("https://token@host/up", "https://***:***@host/up"),
        ("HTTPS://user:s3cret@host/up", "HTTPS://***:***@host/up"),
        ("http://user:p@ss@host/up", "http://***:***@host/up"),  # '@' inside the password
        ("http://host/up", "http://host/up"),
        ("http://host/up?x=1", "http://host/up?***"),  # a query may hold a token
        ("https://h/up?token=s3cret#frag", "https://h/up?***#frag"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        "http://user:s3cret/x@host/",  # a '/' in the password makes urlsplit misread it
        "http://user:s3cret#x@host/",
        "http://user:s3cret@[::1/",  # too broken to parse at all
        "ftp://user:s3cret@host/",
    ],
)
def test_mask_url_never_shows_a_password(url: str) -> None:
    assert "s3cret" not in mask_url(url)


def test_url_errors_do_not_show_the_password() -> None:
    for url in ("http://user:s3cret@host:port/", "ftp://user:s3cret@host/",
                "http://user:s3cret@[::1/"):
        with pytest.raises(ValueError) as caught:
            parse_value(option("circuit-breaker-url"), url)
        assert "s3cret" not in str(caught.value)
        assert "***" in str(caught.value)


def test_render() -> None:
    assert render(option("aws-secret-access-key-id"), "wJalrXUtnFEMI") == "***"
    assert render(option("aws-access-key-id"), "AKIAEXAMPLE") == "***"
    assert render(option("aws-access-key-id"), None) is None
    assert render(option("circuit-breaker-url"), "http://u:pw@h/") == "http://***:***@h/"
    assert render(option("increase-consumed-reads-scale"), parse_scale("{0.5: 10, 80: 25}")) == {
        "0.5": 10, "80": 25}
    assert render(option("sns-message-types"), ("scale-up",)) == ["scale-up"]
    assert render(option("reads-upper-threshold"), 90.0) == 90.0


def test_kinds_are_all_used() -> None:
    used = {o.kind for o in GLOBAL_OPTIONS + LOGGING_OPTIONS + RESOURCE_OPTIONS + DIMENSION_OPTIONS
            + LOCATION_OPTIONS}
    assert used == set(Kind)


numbers = st.integers(0, 10**6) | st.floats(0, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(numbers, numbers, max_size=6))
def test_any_dict_literal_of_numbers_parses_to_its_sorted_items(scale: dict) -> None:
    parsed = parse_scale(repr(scale))
    assert parsed == tuple(sorted(scale.items()))
    # and --show-config renders it back to the same mapping
    assert {float(key): value for key, value in
            render(option("increase-consumed-reads-scale"), parsed).items()} == {
        float(key): value for key, value in scale.items()}


ALL_OPTIONS = GLOBAL_OPTIONS + LOGGING_OPTIONS + RESOURCE_OPTIONS + DIMENSION_OPTIONS
values = st.text(max_size=40) | st.sampled_from(
    ["9" * 5000, "1e309", "-0", "0x10", "1_000", "{1: 2", "{" * 50, "\x00", "http://[", "24:00",
     "True", "None", "{1: 1e308 * 10}", "http://u:p@h:-1/", "12:00-"])


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(ALL_OPTIONS), values)
def test_any_text_gives_a_value_or_a_value_error(option: Option, text: str) -> None:
    # Nothing else may escape: the CLI turns ValueError into one line, anything else would
    # be a traceback.
    try:
        parse_value(option, text)
    except ValueError as exc:
        assert str(exc)
        assert "\n" not in str(exc)
