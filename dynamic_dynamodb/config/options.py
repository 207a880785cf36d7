"""Every option dynamic-dynamodb understands, named exactly once, as a typed field.

Each field's metadata (see ``config/schema.py``) carries its INI key, kind, default, help and
validation. Parsing, validation, ``--show-config``, the command-line flags, the example
configuration and the README's option reference are all derived from these classes.
Per-dimension options are written once as templates: ``{dim}`` becomes ``reads``/``writes``
and ``{one}`` becomes ``read``/``write`` (2.5.1 used both spellings, e.g.
``num-read-checks-before-scale-down``).

These are frozen values with no behaviour: the policy reads them, the loader builds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dynamic_dynamodb.config.schema import MESSAGE_TYPES, Kind, Option, Scale, option, options_of
from dynamic_dynamodb.dimensions import READS, Dimension
from dynamic_dynamodb.windows import ClockTime, ScheduledFloors, Windows


@dataclass(frozen=True)
class GlobalOptions:
    """The ``[global]`` section."""

    aws_access_key_id: str | None = option(
        "aws-access-key-id", Kind.STR, None,
        "AWS access key id. Used only together with the secret key; otherwise boto3's default "
        "credential chain (environment, profile, instance role) applies.", secret=True, cli=True)
    aws_secret_access_key: str | None = option(
        "aws-secret-access-key-id", Kind.STR, None,
        "AWS secret access key (2.5.1's name; 'aws-secret-access-key' is accepted too).",
        secret=True, aliases=("aws-secret-access-key",), cli=True)
    region: str | None = option(
        "region", Kind.REGION, None,
        "AWS region of the tables. Unset: the AWS SDK's (AWS_REGION, AWS_DEFAULT_REGION, the "
        "profile), else us-east-1 (2.5.1's default). The region used is logged at start.",
        cli=True)
    check_interval: int = option(
        "check-interval", Kind.INT, 300,
        "Seconds between the starts of two check cycles.", minimum=0, cli=True)
    circuit_breaker_url: str | None = option(
        "circuit-breaker-url", Kind.URL, None,
        "URL polled before scaling each table or GSI; any 2xx answer means proceed. "
        "Used when the resource's own section has no URL.")
    circuit_breaker_timeout: float = option(
        "circuit-breaker-timeout", Kind.FLOAT, 10000.0,
        "Circuit breaker timeout in milliseconds.", minimum=1)
    metrics_port: int | None = option(
        "metrics-port", Kind.INT, None,
        "Serve Prometheus metrics on this port (/metrics) while running as a loop or daemon. "
        "Unset: no server.", minimum=0, cli=True)
    metrics_address: str = option(
        "metrics-address", Kind.STR, "127.0.0.1",
        "Address the metrics server listens on (0.0.0.0 for every interface).", cli=True)
    metrics_textfile: str | None = option(
        "metrics-textfile", Kind.STR, None,
        "Write the same metrics to this file after every cycle (for node_exporter's textfile "
        "collector with --run-once from cron; the name must end in .prom).", cli=True)
    error_after_failed_cycles: int = option(
        "error-after-failed-cycles", Kind.INT, 3,
        "After this many cycles in a row without success, or with a table failing the same "
        "way, log an ERROR and send an 'error' SNS message (once per streak) to the topics "
        "whose sns-message-types include error.", minimum=1)
    parallel_requests: int = option(
        "parallel-requests", Kind.INT, 10,
        "How many DescribeTable requests one cycle makes at once; 1 = one after another. "
        "Throttled requests are retried by botocore with back-off.", minimum=1, cli=True)
    state_file: str | None = option(
        "state-file", Kind.STR, None,
        "Where the down-scale counters and the decrease ledger are kept between runs. "
        "Default: dynamic-dynamodb.<instance>.state.json in /var/lib/dynamic-dynamodb (root), "
        "$XDG_STATE_HOME/dynamic-dynamodb (other users) or $STATE_DIRECTORY; beside the pid "
        "file with --pid-file-dir.", cli=True)
    state_table: str | None = option(
        "state-table", Kind.STR, None,
        "Keep the counters and the decrease ledger in this DynamoDB table (in [global] region, "
        "with the [global] credentials) instead of state-file, and elect one leader among the "
        "daemons and --run-once runs of this instance on every host: only the leader scales "
        "(see 'Running more than one copy'). Create it with --create-state-table. Unset: the "
        "state file, and no leader election.", cli=True)


@dataclass(frozen=True)
class LoggingOptions:
    """The ``[logging]`` section."""

    log_file: str | None = option(
        "log-file", Kind.STR, None,
        "Log file, rotated at midnight with 5 backups. Without it, logs go to stdout.", cli=True)
    log_level: str = option(
        "log-level", Kind.LOG_LEVEL, "info", "debug, info, warning or error.", cli=True)
    log_config_file: str | None = option(
        "log-config-file", Kind.STR, None,
        "A logging.config.fileConfig file; overrides log-file, log-level and log-format.",
        cli=True)
    log_format: str = option(
        "log-format", Kind.LOG_FORMAT, "text",
        "text (2.5.1's lines) or json: one JSON object per log record, and per decision the "
        "resource, dimension, outcome code, current and target capacity and the observation, "
        "for log search indexes.", cli=True)


@dataclass(frozen=True)
class DimensionOptions:
    """The options that exist once per dimension (``reads-…`` and ``writes-…``)."""

    enable_autoscaling: bool = option(
        "enable-{dim}-autoscaling", Kind.BOOL, True,
        "Deprecated but honoured: false freezes the dimension (no min/max enforcement).")
    enable_up_scaling: bool = option(
        "enable-{dim}-up-scaling", Kind.BOOL, True, "Allow increases.")
    enable_down_scaling: bool = option(
        "enable-{dim}-down-scaling", Kind.BOOL, True, "Allow decreases.")
    upper_threshold: float = option(
        "{dim}-upper-threshold", Kind.FLOAT, 90.0,
        "Scale up when consumed % is above this.", minimum=1, cli=True)
    throttled_upper_threshold: int = option(
        "throttled-{dim}-upper-threshold", Kind.INT, 0,
        "Scale up when more throttle events than this were seen. 0 = off.", minimum=0, cli=True)
    lower_threshold: int = option(
        "{dim}-lower-threshold", Kind.INT, 30,
        "Scale down when consumed % is below this.", minimum=1, cli=True)
    increase_with: int = option(
        "increase-{dim}-with", Kind.INT, 50,
        "How much to increase by (see increase-{dim}-unit).", minimum=1, cli=True)
    decrease_with: int = option(
        "decrease-{dim}-with", Kind.INT, 50,
        "How much to decrease by (see decrease-{dim}-unit).", minimum=1, cli=True)
    increase_unit: str = option(
        "increase-{dim}-unit", Kind.UNIT, "percent", "percent or units.", cli=True)
    decrease_unit: str = option(
        "decrease-{dim}-unit", Kind.UNIT, "percent", "percent or units.", cli=True)
    min_provisioned: int | None = option(
        "min-provisioned-{dim}", Kind.INT, None, "Lower limit. Unset: 1.", minimum=1, cli=True)
    max_provisioned: int | None = option(
        "max-provisioned-{dim}", Kind.INT, None,
        "Upper limit. Unset: no cap.", minimum=1, cli=True)
    num_checks_before_scale_down: int = option(
        "num-{one}-checks-before-scale-down", Kind.INT, 1,
        "Checks in a row that must want a decrease before it happens.", minimum=1, cli=True)
    num_checks_reset_percent: int = option(
        "num-{one}-checks-reset-percent", Kind.INT, 0,
        "Reset the down-scale counter when consumed % reaches this. 0 = off.", minimum=0,
        cli=True)
    allow_scaling_down_on_0_percent: bool = option(
        "allow-scaling-down-{dim}-on-0-percent", Kind.BOOL, False,
        "Allow decreases when consumption is exactly 0 %.")
    upper_alarm_threshold: int = option(
        "{dim}-upper-alarm-threshold", Kind.INT, 0,
        "Send a high-throughput-alarm at or above this consumed %. 0 = off.", minimum=0)
    lower_alarm_threshold: int = option(
        "{dim}-lower-alarm-threshold", Kind.INT, 0,
        "Send a low-throughput-alarm below this consumed %. 0 = off.", minimum=0)
    increase_consumed_unit: str | None = option(
        "increase-consumed-{dim}-unit", Kind.UNIT, None,
        "Unit for consumption-based increases. Unset: increase-{dim}-unit.")
    increase_consumed_with: int | None = option(
        "increase-consumed-{dim}-with", Kind.INT, None,
        "Amount for consumption-based increases. Unset or 0: increase-{dim}-with.", minimum=0)
    increase_consumed_scale: Scale | None = option(
        "increase-consumed-{dim}-scale", Kind.SCALE, None,
        "{{consumed %: amount}}; replaces the upper threshold when set.")
    increase_throttled_by_provisioned_unit: str | None = option(
        "increase-throttled-by-provisioned-{dim}-unit", Kind.UNIT, None,
        "Unit for the throttled-by-provisioned scale. Unset: increase-{dim}-unit.")
    increase_throttled_by_provisioned_scale: Scale | None = option(
        "increase-throttled-by-provisioned-{dim}-scale", Kind.SCALE, None,
        "{{throttled events as % of provisioned: amount}}.")
    increase_throttled_by_consumed_unit: str | None = option(
        "increase-throttled-by-consumed-{dim}-unit", Kind.UNIT, None,
        "Unit for the throttled-by-consumed scale. Unset: increase-{dim}-unit.")
    increase_throttled_by_consumed_scale: Scale | None = option(
        "increase-throttled-by-consumed-{dim}-scale", Kind.SCALE, None,
        "{{throttled events as % of consumed: amount}}.")
    decrease_consumed_unit: str | None = option(
        "decrease-consumed-{dim}-unit", Kind.UNIT, None,
        "Unit for decreases. Unset: decrease-{dim}-unit.")
    decrease_consumed_with: int | None = option(
        "decrease-consumed-{dim}-with", Kind.INT, None,
        "Amount for decreases. Unset or 0: decrease-{dim}-with.", minimum=0)
    decrease_consumed_scale: Scale | None = option(
        "decrease-consumed-{dim}-scale", Kind.SCALE, None,
        "{{consumed %: amount}}; replaces the lower threshold when set.")
    target_utilisation: float | None = option(
        "target-{dim}-utilisation", Kind.FLOAT, None,
        "Target mode: keep demand (consumed plus throttled units, per second, over the "
        "lookback window) at this % of provisioned. Scales out in one check to demand / "
        "target; scales in once the demand has needed at least 10 % less than provisioned "
        "for target-{dim}-scale-down-minutes, straight to the most it needed over those "
        "minutes. Replaces the thresholds and scale dicts of this dimension (setting both in "
        "one section is an error; a section's choice replaces the mode it inherits). Unset: "
        "2.5.1's thresholds.", minimum=1)
    target_scale_down_minutes: int = option(
        "target-{dim}-scale-down-minutes", Kind.INT, 15,
        "Target mode: minutes the demand must stay low before scaling in (kept across runs "
        "in the state). 0: scale in on the first low check, to what that check needs.",
        minimum=0)
    scheduled_min_provisioned: ScheduledFloors | None = option(
        "scheduled-min-provisioned-{dim}", Kind.FLOORS, None,
        "Raise min-provisioned-{dim} during UTC windows: 'HH:MM-HH:MM=N, ...' (the "
        "maintenance-window syntax, may wrap midnight; the highest floor wins where windows "
        "overlap). Also in 2.5.1's threshold mode.")


@dataclass(frozen=True)
class LocationOptions:
    """Where a ``[table:]`` section's tables are: region and account (through an IAM role).

    Set in ``[default_options]`` or a ``[table:]`` section, never in a ``[gsi:]`` section: a
    GSI lives where its table does. Sections with the same region and role form one
    (account, region) location, checked with its own clients, state and parallel cycle.
    """

    region: str | None = option(
        "region", Kind.REGION, None,
        "AWS region of the section's tables. Unset: [global] region. The section's regex "
        "matches only the tables of this region (and account, see role-arn).")
    role_arn: str | None = option(
        "role-arn", Kind.ROLE_ARN, None,
        "IAM role (arn:aws:iam::ACCOUNT:role/NAME) to assume with STS for the section's "
        "tables: its account's tables are checked with the role's credentials, renewed "
        "before they expire. Unset: the [global] credentials and their account.")
    external_id: str | None = option(
        "external-id", Kind.EXTERNAL_ID, None,
        "ExternalId to send with AssumeRole, when the role's trust policy requires "
        "sts:ExternalId. Needs role-arn. A shared secret: --show-config masks it.",
        secret=True)
    role_session_name: str = option(
        "role-session-name", Kind.SESSION_NAME, "dynamic-dynamodb",
        "RoleSessionName of the assumed role's sessions (it shows in the target account's "
        "CloudTrail).")


@dataclass(frozen=True)
class ResourceOptions:
    """All options of one table or GSI: resource-wide ones plus one DimensionOptions each."""

    lookback_window_start: int = option(
        "lookback-window-start", Kind.INT, 15,
        "How many minutes back the metric window starts.", minimum=1)
    lookback_period: int = option(
        "lookback-period", Kind.INT, 5, "Length of the metric window in minutes.", minimum=1)
    maintenance_windows: Windows | None = option(
        "maintenance-windows", Kind.WINDOWS, None,
        "UTC windows 'HH:MM-HH:MM, ...' (may wrap midnight). Outside them only increases happen.")
    always_decrease_rw_together: bool = option(
        "always-decrease-rw-together", Kind.BOOL, False,
        "Decrease a dimension only when the other one also wants a decrease, or is at its minimum.")
    sns_topic_arn: str | None = option(
        "sns-topic-arn", Kind.STR, None, "SNS topic for notifications.")
    sns_message_types: tuple[str, ...] = option(
        "sns-message-types", Kind.MESSAGE_TYPES, (),
        "Comma separated: " + ", ".join(MESSAGE_TYPES) + ".")
    circuit_breaker_url: str | None = option(
        "circuit-breaker-url", Kind.URL, None,
        "Circuit breaker URL for this table or GSI (falls back to [global]).")
    circuit_breaker_timeout: float = option(
        "circuit-breaker-timeout", Kind.FLOAT, 10000.0,
        "Circuit breaker timeout in milliseconds.", minimum=1)
    max_decreases_per_day: int = option(
        "max-decreases-per-day", Kind.INT, 27,
        "DynamoDB's daily decrease quota for one table or GSI (adjustable at AWS).", minimum=1)
    decrease_cooldown_minutes: int = option(
        "decrease-cooldown-minutes", Kind.INT, 0,
        "No decrease within N minutes of the last increase or decrease. 0 = off.", minimum=0)
    increase_cooldown_minutes: int = option(
        "increase-cooldown-minutes", Kind.INT, 0,
        "No further increase within N minutes of the last one, unless consumption exceeds "
        "provisioning. 0 = off.", minimum=0)
    reserved_decreases: int = option(
        "reserved-decreases", Kind.INT, 0,
        "Before reserved-decreases-after (HH:MM UTC), never spend a decrease that would leave "
        "fewer than N decreases that can be made back to back at that time.", minimum=0)
    reserved_decreases_after: ClockTime | None = option(
        "reserved-decreases-after", Kind.CLOCK, None,
        "HH:MM UTC from which the reserved decreases may be spent.")
    decrease_planner_percent: float = option(
        "decrease-planner-percent", Kind.FLOAT, 0.0,
        "Decrease planner for target mode: a decrease must free units × (60 + minutes the "
        "demand has been low) worth at least this % of the capacity for as long as it uses up "
        "the quota (until the next decrease is possible, at least the rest of the UTC day "
        "shared among the decreases left; a drop by half is always worth it). Smaller drops "
        "wait for bigger ones, and the wait is logged with its end; a decrease that rides "
        "along in the same update costs nothing. 0 = off: every allowed decrease is made at "
        "once.", minimum=0)
    predictive_scaling: bool = option(
        "predictive-scaling", Kind.BOOL, False,
        "Target mode: forecast demand from this resource's own history at the same time of "
        "day and day of week (with a trend), fetched once a day (6 metric series) and kept in the "
        "state; scale out ahead of a forecast ramp (looking a check-interval plus the 5 "
        "minutes an increase takes to land ahead, at least 10 minutes), and never scale in "
        "below the forecast until the next check's look-ahead ends.")
    quiet_check_interval: int = option(
        "quiet-check-interval", Kind.INT, 0,
        "Seconds a quiet table or GSI may go unchecked (no metrics read: fewer GetMetricData "
        "metrics billed). Quiet: nothing changed, no throttles, no decrease under way unless "
        "DynamoDB's quota holds it (then until the quota frees), and consumption so far from "
        "every trigger (scale-up, alarm, and where a decrease would start) that changing by a "
        "quarter a minute it cannot reach one sooner. Checked again at once if its capacity "
        "changes; kept in the state (cron runs too). With it set, throttle metrics are read "
        "only where consumption makes throttles possible (hot-key throttles at low "
        "consumption no longer hold a decrease back). 0 = check every cycle; at most 86400 "
        "(a day).", minimum=0, maximum=86400)
    reads: DimensionOptions = field(default_factory=DimensionOptions)
    writes: DimensionOptions = field(default_factory=DimensionOptions)

    def dimension(self, dimension: Dimension) -> DimensionOptions:
        return self.reads if dimension is READS else self.writes


GLOBAL_OPTIONS: tuple[Option, ...] = options_of(GlobalOptions)
LOGGING_OPTIONS: tuple[Option, ...] = options_of(LoggingOptions)
RESOURCE_OPTIONS: tuple[Option, ...] = options_of(ResourceOptions)
DIMENSION_OPTIONS: tuple[Option, ...] = options_of(DimensionOptions)
LOCATION_OPTIONS: tuple[Option, ...] = options_of(LocationOptions)
