"""The option schema: every option dynamic-dynamodb understands, named exactly once.

Parsing, validation, ``--show-config``, the command-line flags and the README's option
reference are all derived from the tables below. Per-dimension options are written once
as templates: ``{dim}`` becomes ``reads``/``writes`` and ``{one}`` becomes ``read``/``write``
(2.5.1 used both spellings, e.g. ``num-read-checks-before-scale-down``).
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from dynamic_dynamodb.policy.windows import parse_clock, parse_windows


class Kind(Enum):
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STR = "str"
    UNIT = "unit"
    SCALE = "scale"
    MESSAGE_TYPES = "message-types"
    WINDOWS = "windows"
    URL = "url"
    LOG_LEVEL = "log-level"
    CLOCK = "clock"


UNITS = ("percent", "units")
LOG_LEVELS = ("debug", "info", "warning", "error")
MESSAGE_TYPES = (
    "scale-up",
    "scale-down",
    "high-throughput-alarm",
    "low-throughput-alarm",
    "decrease-budget-exhausted",
)
TRUE_WORDS = ("1", "yes", "true", "on")
FALSE_WORDS = ("0", "no", "false", "off")


@dataclass(frozen=True)
class Option:
    """One option. ``key`` is its name in the INI file (a template for dimension options)."""

    key: str
    field: str
    kind: Kind
    default: Any
    help: str
    minimum: float | None = None
    cli: bool = False
    secret: bool = False
    aliases: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        """The command-line flag: 2.5.1 spells the secret key's flag like its alias."""
        return f"--{self.aliases[0] if self.aliases else self.key}"

    def key_for(self, dimension: str) -> str:
        one = dimension[:-1]
        return self.key.format(dim=dimension, one=one)


@dataclass(frozen=True)
class Dimension:
    """A capacity dimension. Reads and writes are data, not separate code paths."""

    name: str  # "reads" / "writes": the word used in option names
    one: str  # "read" / "write"
    title: str  # "Reads" / "Writes": the word used in log and SNS lines
    capacity_key: str  # DynamoDB ProvisionedThroughput key
    consumed_metric: str
    throttle_metric: str


READS = Dimension(
    "reads", "read", "Reads", "ReadCapacityUnits", "ConsumedReadCapacityUnits", "ReadThrottleEvents"
)
WRITES = Dimension(
    "writes",
    "write",
    "Writes",
    "WriteCapacityUnits",
    "ConsumedWriteCapacityUnits",
    "WriteThrottleEvents",
)
DIMENSIONS = (READS, WRITES)


GLOBAL_OPTIONS: tuple[Option, ...] = (
    Option("aws-access-key-id", "aws_access_key_id", Kind.STR, None,
           "AWS access key id. Used only together with the secret key; otherwise boto3's default "
           "credential chain (environment, profile, instance role) applies.", secret=True, cli=True),
    Option("aws-secret-access-key-id", "aws_secret_access_key", Kind.STR, None,
           "AWS secret access key (2.5.1's name; 'aws-secret-access-key' is accepted too).",
           secret=True, aliases=("aws-secret-access-key",), cli=True),
    Option("region", "region", Kind.STR, "us-east-1", "AWS region of the tables.", cli=True),
    Option("check-interval", "check_interval", Kind.INT, 300,
           "Seconds between the starts of two check cycles.", minimum=0, cli=True),
    Option("circuit-breaker-url", "circuit_breaker_url", Kind.URL, None,
           "URL polled before scaling each table or GSI; any 2xx answer means proceed. "
           "Used when the resource's own section has no URL."),
    Option("circuit-breaker-timeout", "circuit_breaker_timeout", Kind.FLOAT, 10000.0,
           "Circuit breaker timeout in milliseconds.", minimum=1),
    Option("state-file", "state_file", Kind.STR, None,
           "Where the down-scale counters and the decrease ledger are kept between runs. "
           "Default: <pid-file-dir>/dynamic-dynamodb.<instance>.state.json.", cli=True),
)

LOGGING_OPTIONS: tuple[Option, ...] = (
    Option("log-file", "log_file", Kind.STR, None,
           "Log file, rotated at midnight with 5 backups. Without it, logs go to stdout.",
           cli=True),
    Option("log-level", "log_level", Kind.LOG_LEVEL, "info", "debug, info, warning or error.",
           cli=True),
    Option("log-config-file", "log_config_file", Kind.STR, None,
           "A logging.config.fileConfig file; overrides log-file and log-level.", cli=True),
)

# Options that apply to a whole table or GSI (not to one dimension).
RESOURCE_OPTIONS: tuple[Option, ...] = (
    Option("lookback-window-start", "lookback_window_start", Kind.INT, 15,
           "How many minutes back the metric window starts.", minimum=1),
    Option("lookback-period", "lookback_period", Kind.INT, 5,
           "Length of the metric window in minutes.", minimum=1),
    Option("maintenance-windows", "maintenance_windows", Kind.WINDOWS, None,
           "UTC windows 'HH:MM-HH:MM, ...' (may wrap midnight). Outside them only increases happen."),
    Option("always-decrease-rw-together", "always_decrease_rw_together", Kind.BOOL, False,
           "Decrease a dimension only when the other one also wants a decrease, or is at its minimum."),
    Option("sns-topic-arn", "sns_topic_arn", Kind.STR, None, "SNS topic for notifications."),
    Option("sns-message-types", "sns_message_types", Kind.MESSAGE_TYPES, (),
           "Comma separated: " + ", ".join(MESSAGE_TYPES) + "."),
    Option("circuit-breaker-url", "circuit_breaker_url", Kind.URL, None,
           "Circuit breaker URL for this table or GSI (falls back to [global])."),
    Option("circuit-breaker-timeout", "circuit_breaker_timeout", Kind.FLOAT, 10000.0,
           "Circuit breaker timeout in milliseconds.", minimum=1),
    Option("max-decreases-per-day", "max_decreases_per_day", Kind.INT, 27,
           "DynamoDB's daily decrease quota for one table or GSI (adjustable at AWS).", minimum=1),
    Option("decrease-cooldown-minutes", "decrease_cooldown_minutes", Kind.INT, 0,
           "No decrease within N minutes of the last increase or decrease. 0 = off.", minimum=0),
    Option("increase-cooldown-minutes", "increase_cooldown_minutes", Kind.INT, 0,
           "No further increase within N minutes of the last one, unless consumption exceeds "
           "provisioning. 0 = off.", minimum=0),
    Option("reserved-decreases", "reserved_decreases", Kind.INT, 0,
           "Before reserved-decreases-after (HH:MM UTC), never spend a decrease that would leave "
           "fewer than N decreases that can be made back to back at that time.", minimum=0),
    Option("reserved-decreases-after", "reserved_decreases_after", Kind.CLOCK, None,
           "HH:MM UTC from which the reserved decreases may be spent."),
)

# Options that exist once per dimension.
DIMENSION_OPTIONS: tuple[Option, ...] = (
    Option("enable-{dim}-autoscaling", "enable_autoscaling", Kind.BOOL, True,
           "Deprecated but honoured: false freezes the dimension (no min/max enforcement)."),
    Option("enable-{dim}-up-scaling", "enable_up_scaling", Kind.BOOL, True, "Allow increases."),
    Option("enable-{dim}-down-scaling", "enable_down_scaling", Kind.BOOL, True, "Allow decreases."),
    Option("{dim}-upper-threshold", "upper_threshold", Kind.FLOAT, 90.0,
           "Scale up when consumed % is above this.", minimum=1, cli=True),
    Option("throttled-{dim}-upper-threshold", "throttled_upper_threshold", Kind.INT, 0,
           "Scale up when more throttle events than this were seen. 0 = off.", minimum=0, cli=True),
    Option("{dim}-lower-threshold", "lower_threshold", Kind.INT, 30,
           "Scale down when consumed % is below this.", minimum=1, cli=True),
    Option("increase-{dim}-with", "increase_with", Kind.INT, 50,
           "How much to increase by (see increase-{dim}-unit).", minimum=1, cli=True),
    Option("decrease-{dim}-with", "decrease_with", Kind.INT, 50,
           "How much to decrease by (see decrease-{dim}-unit).", minimum=1, cli=True),
    Option("increase-{dim}-unit", "increase_unit", Kind.UNIT, "percent", "percent or units.",
           cli=True),
    Option("decrease-{dim}-unit", "decrease_unit", Kind.UNIT, "percent", "percent or units.",
           cli=True),
    Option("min-provisioned-{dim}", "min_provisioned", Kind.INT, None,
           "Lower limit. Unset: 1.", minimum=1, cli=True),
    Option("max-provisioned-{dim}", "max_provisioned", Kind.INT, None,
           "Upper limit. Unset: no cap.", minimum=1, cli=True),
    Option("num-{one}-checks-before-scale-down", "num_checks_before_scale_down", Kind.INT, 1,
           "Checks in a row that must want a decrease before it happens.", minimum=1, cli=True),
    Option("num-{one}-checks-reset-percent", "num_checks_reset_percent", Kind.INT, 0,
           "Reset the down-scale counter when consumed % reaches this. 0 = off.", minimum=0,
           cli=True),
    Option("allow-scaling-down-{dim}-on-0-percent", "allow_scaling_down_on_0_percent", Kind.BOOL,
           False, "Allow decreases when consumption is exactly 0 %."),
    Option("{dim}-upper-alarm-threshold", "upper_alarm_threshold", Kind.INT, 0,
           "Send a high-throughput-alarm at or above this consumed %. 0 = off.", minimum=0),
    Option("{dim}-lower-alarm-threshold", "lower_alarm_threshold", Kind.INT, 0,
           "Send a low-throughput-alarm below this consumed %. 0 = off.", minimum=0),
    Option("increase-consumed-{dim}-unit", "increase_consumed_unit", Kind.UNIT, None,
           "Unit for consumption-based increases. Unset: increase-{dim}-unit."),
    Option("increase-consumed-{dim}-with", "increase_consumed_with", Kind.INT, None,
           "Amount for consumption-based increases. Unset or 0: increase-{dim}-with.", minimum=0),
    Option("increase-consumed-{dim}-scale", "increase_consumed_scale", Kind.SCALE, None,
           "{{consumed %: amount}}; replaces the upper threshold when set."),
    Option("increase-throttled-by-provisioned-{dim}-unit", "increase_throttled_by_provisioned_unit",
           Kind.UNIT, None, "Unit for the throttled-by-provisioned scale. Unset: increase-{dim}-unit."),
    Option("increase-throttled-by-provisioned-{dim}-scale",
           "increase_throttled_by_provisioned_scale", Kind.SCALE, None,
           "{{throttled events as % of provisioned: amount}}."),
    Option("increase-throttled-by-consumed-{dim}-unit", "increase_throttled_by_consumed_unit",
           Kind.UNIT, None, "Unit for the throttled-by-consumed scale. Unset: increase-{dim}-unit."),
    Option("increase-throttled-by-consumed-{dim}-scale", "increase_throttled_by_consumed_scale",
           Kind.SCALE, None, "{{throttled events as % of consumed: amount}}."),
    Option("decrease-consumed-{dim}-unit", "decrease_consumed_unit", Kind.UNIT, None,
           "Unit for decreases. Unset: decrease-{dim}-unit."),
    Option("decrease-consumed-{dim}-with", "decrease_consumed_with", Kind.INT, None,
           "Amount for decreases. Unset or 0: decrease-{dim}-with.", minimum=0),
    Option("decrease-consumed-{dim}-scale", "decrease_consumed_scale", Kind.SCALE, None,
           "{{consumed %: amount}}; replaces the lower threshold when set."),
)

_SECRET_IN_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*:/*).*@", re.DOTALL)


def parse_value(option: Option, raw: str) -> Any:
    """Convert one raw INI/CLI string to the option's type.

    Raises ValueError whose message says what is accepted.
    """
    text = raw.strip()
    kind = option.kind
    if kind is Kind.INT:
        try:
            value: Any = int(text)
        except ValueError:
            raise ValueError(f"expected a whole number, got {text!r}") from None
        return _check_minimum(option, value)
    if kind is Kind.FLOAT:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):  # float() takes 'nan' and 'inf'; no threshold can be either
            raise ValueError(f"expected a finite number, got {text!r}")
        return _check_minimum(option, value)
    if kind is Kind.BOOL:
        lowered = text.lower()
        if lowered in TRUE_WORDS:
            return True
        if lowered in FALSE_WORDS:
            return False
        raise ValueError(f"expected true/false (also yes/no, on/off, 1/0), got {text!r}")
    if kind is Kind.UNIT:
        if text not in UNITS:
            raise ValueError(f"expected 'percent' or 'units', got {text!r}")
        return text
    if kind is Kind.LOG_LEVEL:
        if text.lower() not in LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {text!r}")
        return text.lower()
    if kind is Kind.SCALE:
        return parse_scale(text)
    if kind is Kind.MESSAGE_TYPES:
        return parse_message_types(text)
    if kind is Kind.WINDOWS:
        parse_windows(text)  # validates; the raw text is kept so --show-config shows it as written
        return text
    if kind is Kind.CLOCK:
        parse_clock(text)
        return text
    if kind is Kind.URL:
        return parse_url(text)
    return text


def _check_minimum(option: Option, value: float) -> Any:
    if option.minimum is not None and value < option.minimum:
        raise ValueError(f"must be at least {option.minimum:g}, got {_number_text(value)}")
    return value


def parse_scale(text: str) -> tuple[tuple[float, float], ...]:
    """Parse a scale dict such as ``{0: 0, 0.25: 5, 1: 20}`` without ever evaluating code."""
    text = text.strip()
    try:
        node = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # e.g. NUL bytes, deep nesting
        raise ValueError(
            f"expected a dict like {{0: 0, 0.5: 10, 1: 20}}, got {text!r}"
        ) from None
    if not isinstance(node, ast.Dict):
        raise ValueError(f"expected a dict like {{0: 0, 0.5: 10, 1: 20}}, got {text!r}")
    pairs: dict[float, float] = {}
    for key_node, value_node in zip(node.keys, node.values, strict=True):
        key = _number(key_node, text)
        value = _number(value_node, text)
        if value < 0:
            raise ValueError(f"scale amounts must not be negative, got {value:g} in {text!r}")
        pairs[key] = value  # a repeated key keeps its last value, as in a Python dict literal
    return tuple(sorted(pairs.items()))


def _number(node: ast.expr | None, text: str) -> float:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_number(node.operand, text)
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, (int, float))
        and not isinstance(node.value, bool)
    ):
        if not math.isfinite(node.value):  # 1e999 is a float literal for inf
            raise ValueError(f"scale dict numbers must be finite, in {text!r}")
        return node.value
    raise ValueError(f"scale dict keys and values must be numbers, in {text!r}")


def parse_message_types(text: str) -> tuple[str, ...]:
    # Commas or whitespace (an indented continuation line is still one list).
    items = tuple(item for item in re.split(r"[,\s]+", text) if item)
    unknown = [item for item in items if item not in MESSAGE_TYPES]
    if unknown:
        raise ValueError(
            f"unknown message type(s) {', '.join(unknown)}; valid: {', '.join(MESSAGE_TYPES)}"
        )
    return items


def parse_url(text: str) -> str:
    accepted = "expected http[s]://[user:password@]host[:port][/path]"
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or parts.port > 0  # .port raises on a malformed port
    except ValueError:
        raise ValueError(f"malformed URL {mask_url(text)!r}; {accepted}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{accepted}, got {mask_url(text)!r}")
    if not port_ok:
        raise ValueError(f"malformed port in URL {mask_url(text)!r}; {accepted}")
    return text


def mask_url(url: str) -> str:
    """Hide credentials embedded in a URL (D24), also in URLs too broken to parse.

    The user and password of ``scheme://user:password@host`` are replaced by ``***``. When an
    '@' appears only after the host part, it may be a password that urlsplit mis-read (an
    unencoded '/', '?' or '#' in it), so everything up to the last '@' is hidden.
    """
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        netloc = ""
    if "@" in netloc:
        start = url.index(netloc)
        host = netloc.rpartition("@")[2]
        return f"{url[:start]}***:***@{host}{url[start + len(netloc):]}"
    return _SECRET_IN_URL.sub(r"\1***:***@", url)


def _number_text(number: float) -> str:
    """80.0 → '80', 0.25 → '0.25', 100000.5 → '100000.5' (never rounded, unlike :g)."""
    return str(int(number)) if float(number).is_integer() else repr(float(number))


def render(option: Option, value: Any) -> Any:
    """A JSON-friendly view of a value, with secrets masked (D24)."""
    if value is None:
        return None
    if option.secret:
        return "***"
    if option.kind is Kind.URL:
        return mask_url(value)
    if option.kind is Kind.SCALE:
        return {_number_text(key): amount for key, amount in value}
    if option.kind is Kind.MESSAGE_TYPES:
        return list(value)
    return value
