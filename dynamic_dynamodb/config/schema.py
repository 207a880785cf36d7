"""How an option is described and how its text becomes a typed value.

``config/options.py`` declares every option once, as a typed field of a frozen dataclass whose
metadata is an :class:`Option` made by :func:`option`. This module holds that description,
the conversion of INI/CLI text to values (``parse_value``), their JSON view for
``--show-config`` (``render``) and the masking of secrets in URLs (D24).
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import Field, dataclass, fields, replace
from dataclasses import field as dataclass_field
from enum import Enum
from typing import Any, TypeVar
from urllib.parse import urlsplit

from dynamic_dynamodb.windows import ClockTime, ScheduledFloors, Windows

T = TypeVar("T")
Scale = tuple[tuple[float, float], ...]


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
    LOG_FORMAT = "log-format"
    REGION = "region"
    CLOCK = "clock"
    FLOORS = "scheduled-floors"
    ROLE_ARN = "role-arn"
    EXTERNAL_ID = "external-id"
    SESSION_NAME = "session-name"


UNITS = ("percent", "units")
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")
MESSAGE_TYPES = (
    "scale-up",
    "scale-down",
    "high-throughput-alarm",
    "low-throughput-alarm",
    "decrease-budget-exhausted",
    "error",
)
TRUE_WORDS = ("1", "yes", "true", "on")
FALSE_WORDS = ("0", "no", "false", "off")


@dataclass(frozen=True)
class Option:
    """One option. ``key`` is its name in the INI file (a template for dimension options)."""

    key: str
    kind: Kind
    default: Any
    help: str
    minimum: float | None = None
    cli: bool = False
    secret: bool = False
    aliases: tuple[str, ...] = ()
    field: str = ""  # the dataclass field it describes; set by options_of()
    maximum: float | None = None

    @property
    def flag(self) -> str:
        """The command-line flag: 2.5.1 spells the secret key's flag like its alias."""
        return f"--{self.aliases[0] if self.aliases else self.key}"

    def key_for(self, dimension: str) -> str:
        one = dimension[:-1]
        return self.key.format(dim=dimension, one=one)


def option(
    key: str,
    kind: Kind,
    default: T,
    help: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    cli: bool = False,
    secret: bool = False,
    aliases: tuple[str, ...] = (),
) -> T:
    """A dataclass field that carries its INI key, kind, default, help and validation."""
    described = Option(key, kind, default, help, minimum, cli, secret, aliases,
                       maximum=maximum)
    result: T = dataclass_field(default=default, metadata={"option": described})
    return result


def options_of(value_class: type) -> tuple[Option, ...]:
    """The options a value class declares, in declaration order, each knowing its field."""
    found: list[Option] = []
    declared: tuple[Field[Any], ...] = fields(value_class)
    for declared_field in declared:
        described = declared_field.metadata.get("option")
        if isinstance(described, Option):
            found.append(replace(described, field=declared_field.name))
    return tuple(found)


_REGION = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")
# IAM's own rules: a role ARN (the partitions STS serves), an ExternalId, a RoleSessionName.
_ROLE_ARN = re.compile(r"^arn:aws(?:-cn|-us-gov)?:iam::\d{12}:role/[\w+=,.@/-]{1,512}$", re.ASCII)
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$", re.ASCII)
_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$", re.ASCII)
_QUERY = re.compile(r"\?[^#]*")
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
    if kind is Kind.REGION:
        # botocore's own rule for region names: anything else fails inside the SDK later.
        if not _REGION.match(text):
            raise ValueError(f"expected an AWS region name such as us-east-1, got {text!r}")
        return text
    if kind is Kind.ROLE_ARN:
        if not _ROLE_ARN.match(text):
            raise ValueError(f"expected an IAM role ARN such as arn:aws:iam::123456789012:role/"
                             f"dynamic-dynamodb (12-digit account id), got {text!r}")
        return text
    if kind is Kind.EXTERNAL_ID:
        if not _EXTERNAL_ID.match(text):
            raise ValueError("expected 2 to 1224 characters of letters, digits and _+=,.@:/-")
        return text
    if kind is Kind.SESSION_NAME:
        if not _SESSION_NAME.match(text):
            raise ValueError(f"expected 2 to 64 characters of letters, digits and _+=,.@-, "
                             f"got {text!r}")
        return text
    if kind is Kind.LOG_FORMAT:
        if text.lower() not in LOG_FORMATS:
            raise ValueError(f"expected one of {', '.join(LOG_FORMATS)}, got {text!r}")
        return text.lower()
    if kind is Kind.LOG_LEVEL:
        if text.lower() not in LOG_LEVELS:
            raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {text!r}")
        return text.lower()
    if kind is Kind.SCALE:
        return parse_scale(text)
    if kind is Kind.MESSAGE_TYPES:
        return parse_message_types(text)
    if kind is Kind.WINDOWS:
        return Windows.parse(text)  # keeps the text, so --show-config shows it as written
    if kind is Kind.CLOCK:
        return ClockTime.parse(text)
    if kind is Kind.FLOORS:
        return ScheduledFloors.parse(text)  # keeps the text, like maintenance windows
    if kind is Kind.URL:
        return parse_url(text)
    return text


def _check_minimum(option: Option, value: float) -> Any:
    if option.minimum is not None and value < option.minimum:
        raise ValueError(f"must be at least {option.minimum:g}, got {_number_text(value)}")
    if option.maximum is not None and value > option.maximum:
        raise ValueError(f"must be at most {option.maximum:g}, got {_number_text(value)}")
    return value


def parse_scale(text: str) -> Scale:
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

    The user and password of ``scheme://user:password@host`` are replaced by ``***``, and so
    is a query string (``?token=…``): tokens travel there too. When an '@' appears only after
    the host part, it may be a password that urlsplit mis-read (an unencoded '/', '?' or '#'
    in it), so everything up to the last '@' is hidden.
    """
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        netloc = ""
    if "@" in netloc:
        start = url.index(netloc)
        host = netloc.rpartition("@")[2]
        masked = f"{url[:start]}***:***@{host}{url[start + len(netloc):]}"
    else:
        masked = _SECRET_IN_URL.sub(r"\1***:***@", url)
    return _QUERY.sub("?***", masked)


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
    if option.kind in (Kind.WINDOWS, Kind.CLOCK, Kind.FLOORS):
        return value.text
    return value
