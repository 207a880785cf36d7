"""INI file + command line → a validated, frozen Config. No AWS call happens here."""

from __future__ import annotations

import configparser
import difflib
import os
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from dynamic_dynamodb.config.model import Config, GsiSection, TableSection
from dynamic_dynamodb.config.options import (
    DIMENSION_OPTIONS,
    GLOBAL_OPTIONS,
    LOCATION_OPTIONS,
    LOGGING_OPTIONS,
    RESOURCE_OPTIONS,
    DimensionOptions,
    GlobalOptions,
    LocationOptions,
    LoggingOptions,
    ResourceOptions,
)
from dynamic_dynamodb.config.schema import MESSAGE_TYPES, Kind, Option, parse_value
from dynamic_dynamodb.dimensions import DIMENSIONS, Dimension
from dynamic_dynamodb.errors import ConfigError

Values = TypeVar("Values")

DEFAULT_SECTION = "default_options"
# D20: whitespace is tolerated around the colons; a table regex may itself contain ':'.
_GSI_HEADER = re.compile(r"^gsi\s*:\s*(?P<gsi>.+?)\s+table\s*:\s*(?P<table>.+)$")
_TABLE_HEADER = re.compile(r"^table\s*:\s*(?P<table>.+)$")
_CLI = "command line"


def _section_keys(options: tuple[Option, ...]) -> dict[str, Option]:
    keys: dict[str, Option] = {}
    for option in options:
        keys[option.key] = option
        for alias in option.aliases:
            keys[alias] = option
    return keys


GLOBAL_KEYS = _section_keys(GLOBAL_OPTIONS)
LOGGING_KEYS = _section_keys(LOGGING_OPTIONS)
RESOURCE_KEYS = _section_keys(RESOURCE_OPTIONS)
DIMENSION_KEYS = {
    option.key_for(dimension.name): (dimension, option)
    for dimension in DIMENSIONS
    for option in DIMENSION_OPTIONS
}
SECTION_KEYS = [*RESOURCE_KEYS, *DIMENSION_KEYS]
# Where a table section's tables are: [default_options] and [table:] only, never [gsi:].
LOCATION_KEYS = _section_keys(LOCATION_OPTIONS)
TABLE_SECTION_KEYS = [*SECTION_KEYS, *LOCATION_KEYS]


# Whitespace inside the brackets is allowed and a header may contain ']' (2.5.1 #281).
_SECTION_LINE = re.compile(r"\[\s*(?P<header>.*?)\s*\]\s*$")


def _new_parser() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(
        strict=False,  # repeated sections merge and a repeated option keeps its last value
        comment_prefixes=("#", ";"),
        inline_comment_prefixes=("#", ";"),  # only when preceded by whitespace
        interpolation=None,
        default_section="\0no-default-section",
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign] # option names are case-sensitive
    parser.SECTCRE = _SECTION_LINE
    return parser


def read_ini(path: str, warnings: list[str] | None = None) -> configparser.RawConfigParser:
    """Parse the file; ``warnings`` gets one line per repeated section or option."""
    parser = _new_parser()
    try:
        with open(path, encoding="utf-8-sig") as handle:  # tolerate a BOM from Windows editors
            text = handle.read()
        parser.read_string(text, source=path)
        if warnings is not None:
            warnings.extend(_repeats(path, text))
    except FileNotFoundError:
        raise ConfigError(path, None, None, "file not found") from None
    except IsADirectoryError:
        raise ConfigError(path, None, None, "is a directory, not a configuration file") from None
    except PermissionError:
        raise ConfigError(path, None, None, "permission denied") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(path, None, None, f"not a UTF-8 text file ({exc.reason})") from None
    except configparser.MissingSectionHeaderError as exc:
        # The line itself is not echoed: it may hold a secret (D24).
        raise ConfigError(
            path, None, None, f"line {exc.lineno}: option outside any [section]; the first "
            "line must be a section header such as [global] or [table: REGEX]"
        ) from None
    except configparser.ParsingError as exc:
        lines = ", ".join(str(lineno) for lineno, _ in exc.errors)
        raise ConfigError(path, None, None, f"cannot parse line {lines}: expected "
                          "'option: value' or 'option = value'") from None
    except configparser.Error as exc:
        raise ConfigError(path, None, None, str(exc).splitlines()[0]) from None
    except OSError as exc:
        raise ConfigError(path, None, None, f"cannot read it: {exc.strerror or exc}") from None
    return parser


_OPTION_LINE = re.compile(r"^(?P<option>[^=:\s][^=:]*?)\s*[=:]")


def _normalised(header: str) -> str:
    return " ".join(header.replace(":", " : ").split())


def _repeats(path: str, text: str) -> list[str]:
    """Warnings for repeated sections and options, naming both lines and what wins.

    2.5.1's parser merged a repeated section and kept an option's last value without a word;
    a working 2.5.1 file must still start, so these are warnings, not errors.
    """
    warnings: list[str] = []
    sections: dict[str, tuple[str, int]] = {}  # normalised header -> (header, first line)
    options: dict[tuple[str, str], int] = {}
    current: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;" or line[0].isspace():
            continue  # blank, comment, or a value continued on an indented line
        line = re.split(r"\s[#;]", line, maxsplit=1)[0].rstrip()  # an inline comment
        header = _SECTION_LINE.match(line)
        if header:
            name = header.group("header")
            key = _normalised(name)
            if key in sections:
                first, first_line = sections[key]
                if first == name:
                    warnings.append(f"{path}: line {number}: section [{name}] repeats line "
                                    f"{first_line}; both are read as one section, and an "
                                    "option given in both keeps the later value")
                else:
                    warnings.append(f"{path}: line {number}: section [{name}] is the same as "
                                    f"[{first}] on line {first_line}; the first one is used, "
                                    "this one never applies")
            else:
                sections[key] = (name, number)
            current = sections[key][0] if sections[key][0] == name else f"{name}@{number}"
            continue
        option = _OPTION_LINE.match(line)
        if option and current is not None:
            where = (current, option.group("option"))
            if where in options:
                warnings.append(f"{path}: [{current}] option {where[1]!r} on line {number} "
                                f"repeats line {options[where]}; the value on line {number} "
                                "is used")
            options[where] = number
    return warnings


MESSAGE_TYPES_KEY = "sns-message-types"


def _known_message_types(text: str, path: str, section: str, warnings: list[str]) -> str:
    """2.5.1 dropped unknown sns-message-types with a warning (its own example used
    ``throughput-alarm``); a working 2.5.1 file must still start, so do the same."""
    items = [item for item in re.split(r"[,\s]+", text) if item]
    unknown = [item for item in items if item not in MESSAGE_TYPES]
    if unknown:
        warnings.append(
            f"{path}: [{section}] sns-message-types: unknown message type(s) "
            f"{', '.join(unknown)} ignored; valid: {', '.join(MESSAGE_TYPES)}")
    return ", ".join(item for item in items if item in MESSAGE_TYPES)


def _unknown_option_warning(path: str, section: str, key: str, known: list[str]) -> str:
    hint = difflib.get_close_matches(key, known, n=1)
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    return f"{path}: [{section}] unknown option {key!r} is ignored{suggestion}"


def _parse(option: Option, raw: str, path: str | None, section: str, key: str) -> Any:
    if not raw.strip():
        if option.default is None and option.kind is not Kind.REGION:
            return None  # an optional option left empty is unset
        raise ConfigError(path, section, key, "has no value; give one or remove the line")
    try:
        return parse_value(option, raw)
    except ValueError as exc:
        raise ConfigError(path, section, key, str(exc)) from None


def _flat(
    keys: Mapping[str, Option],
    raw: Mapping[str, str],
    path: str | None,
    section: str,
    overrides: Mapping[str, Any],
    value_class: type[Values],
) -> Values:
    values: dict[str, Any] = {}
    for key, text in raw.items():
        option = keys.get(key)
        if option is not None:
            values[option.field] = _parse(option, text, path, section, key)
    for name, value in overrides.items():
        if value is not None:
            values[name] = value
    return value_class(**values)


def build_resource(
    layers: list[tuple[str, Mapping[str, str]]],
    path: str | None,
    subject: str,
    cli_values: Mapping[tuple[str, str], Any] | None = None,
    cross_checks: bool = True,
) -> ResourceOptions:
    """Merge raw layers (lowest precedence first) into ResourceOptions, validating each value."""
    resource_values: dict[str, Any] = {}
    dimension_values: dict[str, dict[str, Any]] = {dim.name: {} for dim in DIMENSIONS}
    origin: dict[tuple[str, str], tuple[str | None, str]] = {}
    for section, raw in layers:
        for key, text in raw.items():
            if key in RESOURCE_KEYS:
                option = RESOURCE_KEYS[key]
                resource_values[option.field] = _parse(option, text, path, section, key)
            elif key in DIMENSION_KEYS:
                dimension, option = DIMENSION_KEYS[key]
                value = _parse(option, text, path, section, key)
                _choose_mode(dimension_values[dimension.name], option.field, section, key,
                             raw, dimension, path)
                dimension_values[dimension.name][option.field] = value
                origin[(dimension.name, option.field)] = (section, key)
    for (dimension_name, field_name), value in (cli_values or {}).items():
        if value is not None:
            dimension_values[dimension_name][field_name] = value
            origin[(dimension_name, field_name)] = (None, _flag(dimension_name, field_name))
    dimensions: dict[str, Any] = {}
    for dimension in DIMENSIONS:
        options = DimensionOptions(**dimension_values[dimension.name])
        if options.target_utilisation is not None and options.target_utilisation > 100:
            where, key = origin.get((dimension.name, TARGET_FIELD),
                                    (subject, f"target-{dimension.name}-utilisation"))
            raise ConfigError(path if where is not None else _CLI, where, key,
                              f"must be at most 100 (%), got {options.target_utilisation:g}")
        low, high = options.min_provisioned, options.max_provisioned
        if low is not None and high is not None and low > high:
            where, key = origin.get(
                (dimension.name, "min_provisioned"), (subject, f"min-provisioned-{dimension.name}")
            )
            raise ConfigError(
                path if where is not None else _CLI,
                where,
                key,
                f"min-provisioned-{dimension.name} ({low}) may not be higher than "
                f"max-provisioned-{dimension.name} ({high}) for {subject}",
            )
        floors = options.scheduled_min_provisioned
        if floors is not None and high is not None and max(f for *_, f in floors.floors) > high:
            where, key = origin.get(
                (dimension.name, "scheduled_min_provisioned"),
                (subject, f"scheduled-min-provisioned-{dimension.name}"))
            raise ConfigError(
                path if where is not None else _CLI, where, key,
                f"a floor of {max(f for *_, f in floors.floors)} is higher than "
                f"max-provisioned-{dimension.name} ({high}) for {subject}")
        dimensions[dimension.name] = options
    resource = ResourceOptions(**resource_values, **dimensions)
    if not cross_checks:
        return resource
    for dimension in DIMENSIONS:
        _check_pairs(resource.dimension(dimension), dimension, origin, path, subject)
    if resource.reserved_decreases and resource.reserved_decreases_after is None:
        raise ConfigError(
            path, layers[-1][0] if layers else _CLI, "reserved-decreases",
            "needs reserved-decreases-after (HH:MM UTC) to say when the reserve may be spent",
        )
    if resource.reserved_decreases >= resource.max_decreases_per_day:
        raise ConfigError(
            path, layers[-1][0] if layers else _CLI, "reserved-decreases",
            f"must be lower than max-decreases-per-day ({resource.max_decreases_per_day})",
        )
    return resource


# 2.5.1's threshold mode: the options that target-{dim}-utilisation replaces.
THRESHOLD_FIELDS = ("upper_threshold", "lower_threshold", "throttled_upper_threshold",
                    "increase_consumed_scale", "decrease_consumed_scale",
                    "increase_throttled_by_provisioned_scale",
                    "increase_throttled_by_consumed_scale")
TARGET_FIELD = "target_utilisation"


def _choose_mode(values: dict[str, Any], field_name: str, section: str, key: str,
                 raw: Mapping[str, str], dimension: Dimension, path: str | None) -> None:
    """A dimension scales on 2.5.1's thresholds or on a target utilisation, never both.

    Both in one section is an error naming both options; a section that chooses one mode
    replaces the other mode it inherits from [default_options].
    """
    if field_name == TARGET_FIELD:
        clashing = [option.key_for(dimension.name) for option in DIMENSION_OPTIONS
                    if option.field in THRESHOLD_FIELDS
                    and option.key_for(dimension.name) in raw]
        if clashing:
            raise ConfigError(path, section, key, f"{key} and {clashing[0]} are both set: "
                              f"a dimension scales either on a target utilisation or on "
                              f"thresholds; remove one of them")
        for name in THRESHOLD_FIELDS:
            values.pop(name, None)
    elif field_name in THRESHOLD_FIELDS:
        values.pop(TARGET_FIELD, None)


def _check_pairs(options: DimensionOptions, dimension: Dimension,
                 origin: Mapping[tuple[str, str], tuple[str | None, str]], path: str | None,
                 subject: str) -> None:
    """A lower threshold must be below its upper one: otherwise every check both wants to
    scale up and down, and which wins depends on the order of the checks."""
    pairs = []
    if not options.increase_consumed_scale and not options.decrease_consumed_scale:
        pairs.append(("lower_threshold", options.lower_threshold,
                      "upper_threshold", options.upper_threshold))
    if options.lower_alarm_threshold and options.upper_alarm_threshold:
        pairs.append(("lower_alarm_threshold", options.lower_alarm_threshold,
                      "upper_alarm_threshold", options.upper_alarm_threshold))
    for low_field, low, high_field, high in pairs:
        if low and high and low >= high:
            low_key = _flag(dimension.name, low_field)[2:]
            high_key = _flag(dimension.name, high_field)[2:]
            section, key = origin.get((dimension.name, low_field),
                                      origin.get((dimension.name, high_field), (subject, low_key)))
            raise ConfigError(
                path if section is not None else _CLI, section, key,
                f"{low_key} ({low:g}) must be lower than {high_key} ({high:g}) for {subject}")


def _flag(dimension_name: str, field_name: str) -> str:
    """The command-line flag of a dimension option, e.g. ``--min-provisioned-reads``."""
    option = next(option for option in DIMENSION_OPTIONS if option.field == field_name)
    return f"--{option.key_for(dimension_name)}"


def build_location(layers: list[tuple[str, Mapping[str, str]]], path: str | None,
                   header: str) -> LocationOptions:
    """The region and role of a [table:] section: built-in < [default_options] < the section."""
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for section, raw in layers:
        for key, text in raw.items():
            if key in LOCATION_KEYS:
                option = LOCATION_KEYS[key]
                values[option.field] = _parse(option, text, path, section, key)
                origin[option.field] = section
    location = LocationOptions(**values)
    if location.external_id and not location.role_arn:
        given = origin["external_id"]
        where = "" if given == header else f" (from [{given}])"
        raise ConfigError(path, header, "external-id",
                          f"is set{where} but the section has no role-arn; an ExternalId is only "
                          "sent when assuming a role: add role-arn or remove external-id")
    return location


def _compile(path: str | None, section: str, regex: str) -> re.Pattern[str]:
    try:
        return re.compile(regex)
    except re.error as exc:
        raise ConfigError(path, section, None, f"invalid regular expression {regex!r}: {exc}") from None


def _file_tables(
    path: str | None,
    raw_sections: Mapping[str, Mapping[str, str]],
    table_headers: list[tuple[str, str]],
    gsi_headers: list[tuple[str, str, str]],
) -> list[TableSection]:
    """The [table:] sections in file order, each with its [gsi:] sections, all validated."""
    defaults_raw = raw_sections.get(DEFAULT_SECTION, {})
    # Validate [default_options] on its own so its errors name it.
    # Options that depend on each other may be split between [default_options] and a section,
    # so only the merged sections get the cross-option checks.
    build_resource([(DEFAULT_SECTION, defaults_raw)], path, DEFAULT_SECTION, cross_checks=False)

    def section_options(header: str, subject: str) -> ResourceOptions:
        """built-in < [default_options] < the section itself (GSIs skip their table section)."""
        layers = [(DEFAULT_SECTION, defaults_raw), (header, raw_sections[header])]
        return build_resource(layers, path, subject)

    gsis_by_table: dict[str, list[GsiSection]] = {}
    known_tables = {regex for _, regex in table_headers}
    for header, gsi_regex, table_regex in gsi_headers:
        for key in raw_sections[header]:
            if key in LOCATION_KEYS:
                raise ConfigError(path, header, key, f"cannot be set for a GSI: a GSI is where "
                                  f"its table is; set it in [table: {table_regex}]")
        if table_regex not in known_tables:
            raise ConfigError(
                path, header, None,
                f"no [table: {table_regex}] section; the table regex of a GSI section must "
                "be written exactly as in its table section",
            )
        gsis_by_table.setdefault(table_regex, []).append(
            GsiSection(
                header,
                gsi_regex,
                table_regex,
                _compile(path, header, gsi_regex),
                section_options(header, f"GSI {gsi_regex}"),
            )
        )
    return [
        TableSection(
            header,
            regex,
            _compile(path, header, regex),
            section_options(header, f"table {regex}"),
            tuple(gsis_by_table.get(regex, ())),
            build_location([(DEFAULT_SECTION, defaults_raw), (header, raw_sections[header])],
                           path, header),
        )
        for header, regex in table_headers
    ]


def load_config(
    path: str | None,
    *,
    global_overrides: Mapping[str, Any] | None = None,
    logging_overrides: Mapping[str, Any] | None = None,
    table_name: str | None = None,
    table_overrides: Mapping[tuple[str, str], Any] | None = None,
) -> Config:
    """Load and validate the configuration. Raises ConfigError naming file, section and option.

    Precedence: built-in default < [default_options] < [table:]/[gsi:] section; for [global]
    and [logging]: built-in < file < command line. With ``table_name`` (``-t``), the table
    comes from the command line only (D23) and the file's table sections are not used.
    """
    warnings: list[str] = []
    raw_sections: dict[str, dict[str, str]] = {}
    order: list[str] = []
    shown_path = path
    if path is not None:
        shown_path = os.path.expanduser(path)
        parser = read_ini(shown_path, warnings)
        for header in parser.sections():
            raw_sections[header] = dict(parser.items(header))
            order.append(header)

    global_raw = raw_sections.get("global", {})
    logging_raw = raw_sections.get("logging", {})
    table_headers: list[tuple[str, str]] = []
    gsi_headers: list[tuple[str, str, str]] = []
    for header in order:
        raw = raw_sections[header]
        if header == "global":
            known: list[str] = list(GLOBAL_KEYS)
        elif header == "logging":
            known = list(LOGGING_KEYS)
        elif header == DEFAULT_SECTION:
            known = TABLE_SECTION_KEYS
        elif match := _GSI_HEADER.match(header):
            gsi_headers.append((header, match.group("gsi").strip(), match.group("table").strip()))
            known = TABLE_SECTION_KEYS  # a location option there is an error, not a typo
        elif match := _TABLE_HEADER.match(header):
            table_headers.append((header, match.group("table").strip()))
            known = TABLE_SECTION_KEYS
        elif re.match(r"(table|gsi)\s*:", header):
            kind = header.split(":", 1)[0].strip()
            expected = "[table: REGEX]" if kind == "table" else "[gsi: REGEX table: REGEX]"
            raise ConfigError(shown_path, header, None,
                              f"malformed section header; expected {expected}")
        else:
            warnings.append(
                f"{shown_path}: unknown section [{header}] is ignored; expected [global], "
                "[logging], [default_options], [table: REGEX] or [gsi: REGEX table: REGEX]"
            )
            continue
        for key in raw:
            if key not in known:
                warnings.append(_unknown_option_warning(str(shown_path), header, key, known))
        if MESSAGE_TYPES_KEY in raw:
            raw[MESSAGE_TYPES_KEY] = _known_message_types(
                raw[MESSAGE_TYPES_KEY], str(shown_path), header, warnings)

    global_options = _flat(
        GLOBAL_KEYS, global_raw, shown_path, "global",
        global_overrides or {}, GlobalOptions,
    )
    logging_options = _flat(
        LOGGING_KEYS, logging_raw, shown_path, "logging",
        logging_overrides or {}, LoggingOptions,
    )

    # The file's table and GSI sections are validated in every mode, -t included: a broken
    # file is reported at start-up rather than when someone drops -t.
    tables = _file_tables(shown_path, raw_sections, table_headers, gsi_headers)
    if table_name is not None:
        if not table_name.strip():
            raise ConfigError(_CLI, None, "--table-name", "needs a regular expression; an empty "
                              "one would match every table")
        try:
            pattern = re.compile(table_name)
        except re.error as exc:
            raise ConfigError(
                _CLI, None, "--table-name", f"invalid regular expression {table_name!r}: {exc}"
            ) from None
        options = build_resource([], _CLI, f"table {table_name}", table_overrides)
        # D23: only the command line; the file's table sections are not used.
        tables = [TableSection(f"table: {table_name}", table_name, pattern, options)]
    else:
        ignored = [_flag(*key) for key, value in (table_overrides or {}).items()
                   if value is not None]
        if ignored:
            warnings.append(
                f"{_CLI}: {', '.join(ignored)} only apply with --table-name; the configuration "
                "file's table sections are used instead"
            )
        if path is not None and not tables:
            raise ConfigError(
                shown_path, None, None,
                "no [table: REGEX] section found; add at least one, or use --table-name",
            )
    for section in tables:
        for header, options in ((section.header, section.options),
                                *((gsi.header, gsi.options) for gsi in section.gsis)):
            warning = _window_too_recent(options)
            if warning:
                warnings.append(f"{shown_path or _CLI}: [{header}] {warning}")
            warnings.extend(f"{shown_path or _CLI}: [{header}] {warning}"
                            for warning in _target_only_unused(options))
    return Config(shown_path, global_options, logging_options, tuple(tables), tuple(warnings))


# DynamoDB's one-minute datapoints arrive "with a short delay of up to a few minutes"
# (reference/aws-behaviour.md): a window that ends closer to now is empty or partial.
CLOUDWATCH_DELAY_MINUTES = 3


def _target_only_unused(options: ResourceOptions) -> list[str]:
    """Options of target mode set where both dimensions are in 2.5.1's threshold mode: they
    do nothing there."""
    if any(options.dimension(dim).target_utilisation is not None for dim in DIMENSIONS):
        return []
    unused = []
    if options.predictive_scaling:
        unused.append("predictive-scaling: true")
    if options.decrease_planner_percent > 0:
        unused.append(f"decrease-planner-percent: {options.decrease_planner_percent:g}")
    return [f"{setting} does nothing here: it works only in target mode, and both reads and "
            "writes scale on thresholds (set target-reads-utilisation or "
            "target-writes-utilisation, or remove it)" for setting in unused]


def _window_too_recent(options: ResourceOptions) -> str | None:
    gap = options.lookback_window_start - options.lookback_period
    if gap >= CLOUDWATCH_DELAY_MINUTES:
        return None
    return (f"the metric window (lookback-window-start {options.lookback_window_start}, "
            f"lookback-period {options.lookback_period}) ends {max(gap, 0)} minute(s) before "
            f"now; CloudWatch publishes DynamoDB's metrics up to a few minutes late, so it "
            f"reads low or empty. Keep lookback-window-start at least lookback-period + "
            f"{CLOUDWATCH_DELAY_MINUTES}")


def match_table(config: Config, table_name: str) -> tuple[TableSection | None, list[TableSection]]:
    """First matching table section in file order (D22), and the later ones that also match."""
    matches = [section for section in config.tables if section.pattern.match(table_name)]
    if not matches:
        return None, []
    return matches[0], matches[1:]


def match_gsi(section: TableSection, gsi_name: str) -> GsiSection | None:
    """First matching [gsi:] section attached to the table's section (D7)."""
    for gsi in section.gsis:
        if gsi.pattern.match(gsi_name):
            return gsi
    return None
