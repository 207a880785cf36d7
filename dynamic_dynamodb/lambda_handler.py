"""dynamic-dynamodb as a scheduled AWS Lambda: one check cycle per invocation.

``handler`` (``dynamic_dynamodb.lambda_handler.handler``) reads the configuration from the
location in ``DYNAMIC_DYNAMODB_CONFIG`` (``s3://bucket/key``, or ``ssm:/parameter/name`` for
an SSM parameter, SecureString allowed), runs one cycle exactly as ``--run-once`` does (the
same Runner) and returns a small JSON summary. The state lives in ``[global] state-table``,
which is required: a Lambda has no disk that outlives it. The run-once claim of the lease
(lease.py) makes a duplicate or overlapping invocation do nothing, so EventBridge's
at-least-once delivery never scales twice. No file lock, pid file or log file is used: logs
go to stdout (CloudWatch Logs), and a status file to the temporary directory only.

A configuration that cannot be read or is not valid, a state table or lease that cannot be
used (``--run-once``'s exit 1), and a cycle that could check no table at all raise
HandlerError with one line, so the invocation counts as failed (Lambda's Errors metric). A
cycle in which some tables failed but others were checked returns normally, with
``exit_code`` 3, ``failed`` true and the count in ``errors``: each failing table is logged
at ERROR (and told by SNS after ``error-after-failed-cycles``), and raising would make
Lambda's asynchronous retries run the same cycle again for the tables that did work.

Time: the leader acts (starts an UpdateTable) only while the call would end
``SAVE_MARGIN_SECONDS`` before the invocation's timeout (``context``), so the state is saved
before Lambda stops the invocation. The cadence is the schedule's: with a ``rate(...)``
schedule (``DYNAMIC_DYNAMODB_SCHEDULE``, set by the CloudFormation template), a
``check-interval`` that differs is replaced by the schedule's period, with a warning; with a
``cron(...)`` schedule only the warning can be given.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import tempfile
import time
from typing import Any

import boto3

from dynamic_dynamodb import logs
from dynamic_dynamodb.aws.errors import error_code, error_message
from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.config.run_options import RunOptions
from dynamic_dynamodb.errors import ConfigError, DynamicDynamoDBError
from dynamic_dynamodb.runner import EXIT_FAILURES, EXIT_OK, Runner

logger = logging.getLogger(__name__)

CONFIG_ENV = "DYNAMIC_DYNAMODB_CONFIG"
INSTANCE_ENV = "DYNAMIC_DYNAMODB_INSTANCE"
SCHEDULE_ENV = "DYNAMIC_DYNAMODB_SCHEDULE"  # the EventBridge schedule expression
# Kept free at the end of an invocation: saving the state (a PutItem per changed table or
# GSI) and returning. No UpdateTable is started that could still run then.
SAVE_MARGIN_SECONDS = 5.0
_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class HandlerError(Exception):
    """The invocation cannot run a cycle; the message is one line."""


def fetch_config(location: str, *, s3: Any = None, ssm: Any = None) -> str:
    """The configuration text at ``s3://bucket/key`` or ``ssm:/name``."""
    try:
        if location.startswith("s3://"):
            bucket, _, key = location[len("s3://"):].partition("/")
            if not bucket or not key:
                raise HandlerError(f"{CONFIG_ENV}={location}: expected s3://BUCKET/KEY")
            client = s3 or boto3.client("s3")
            body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            return str(body.decode("utf-8"))
        if location.startswith("ssm:"):
            name = location[len("ssm:"):]
            if not name:
                raise HandlerError(f"{CONFIG_ENV}={location}: expected ssm:/PARAMETER/NAME")
            client = ssm or boto3.client("ssm")
            answer = client.get_parameter(Name=name, WithDecryption=True)
            return str(answer["Parameter"]["Value"])
    except HandlerError:
        raise
    except UnicodeDecodeError:
        raise HandlerError(f"cannot read the configuration {location}: not UTF-8 text") from None
    except Exception as exc:  # AWS errors, no credentials, an endpoint that is not AWS
        raise HandlerError(f"cannot read the configuration {location}: {error_code(exc)} "
                           f"({error_message(exc)})") from None
    raise HandlerError(f"{CONFIG_ENV}={location!r}: expected s3://BUCKET/KEY or "
                       "ssm:/PARAMETER/NAME")


def load(location: str, text: str) -> Config:
    """The configuration, validated as the command validates a file; errors name
    ``location`` instead of the temporary file it was read from."""
    with tempfile.NamedTemporaryFile("w", suffix=".conf", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        try:
            config = load_config(handle.name)
        except ConfigError as exc:
            raise HandlerError(str(ConfigError(location, exc.section, exc.option,
                                               exc.message))) from None
    if not config.global_options.state_table:
        raise HandlerError(str(ConfigError(
            location, "global", "state-table", "is required in AWS Lambda: the counters and "
            "the decrease ledger must outlive the invocation (create the table with "
            "--create-state-table, or let the CloudFormation template create it)")))
    # Logs go to stdout (CloudWatch Logs): a log file on Lambda's read-only disk would fail.
    quiet = dataclasses.replace(config.logging, log_file=None, log_config_file=None)
    return dataclasses.replace(config, path=location, logging=quiet)


def schedule_seconds(expression: str) -> int | None:
    """The period of an EventBridge ``rate(N unit)`` expression; None for ``cron(...)`` or
    anything else."""
    match = _RATE.match(expression.strip())
    if match is None:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]


def on_schedule(config: Config, schedule: str | None) -> Config:
    """The configuration with ``check-interval`` set to the schedule's period: the run-once
    claim lasts half a check-interval, so an interval longer than the schedule makes most
    invocations find the claim still held and do nothing, and a shorter one lets the
    acting time outgrow the invocation. The schedule is what the operator set for the
    cadence; a ``check-interval`` that differs is overridden, with a warning."""
    if not schedule:
        return config
    interval = config.global_options.check_interval
    period = schedule_seconds(schedule)
    if period is None:
        logger.warning("Cannot tell the period of the schedule %s; keeping check-interval %d "
                       "s: set it to the schedule's period, or invocations between do nothing",
                       schedule, interval)
        return config
    if period == interval:
        return config
    logger.warning("check-interval is %d s but the schedule is %s: using %d s, the schedule's "
                   "period (set check-interval: %d to silence this)", interval, schedule,
                   period, period)
    options = dataclasses.replace(config.global_options, check_interval=period)
    return dataclasses.replace(config, global_options=options)


def run(location: str, instance: str = "default", *, act_until: float | None = None,
        schedule: str | None = None) -> dict[str, Any]:
    """One cycle with the configuration at ``location``; the summary the handler returns.
    ``act_until``: the monotonic time by which every UpdateTable must be over (the
    invocation's timeout less SAVE_MARGIN_SECONDS); ``schedule``: the EventBridge schedule
    expression, whose period becomes check-interval (``on_schedule``)."""
    config = load(location, fetch_config(location))
    logs.setup(config.logging, console=True)
    for warning in config.warnings:
        logger.warning("%s", warning)
    config = on_schedule(config, schedule)
    run_options = RunOptions(config_path=location, run_once=True, instance=instance,
                             pid_file_dir=tempfile.gettempdir())
    try:
        runner = Runner(config, run_options)
        runner.preflight()  # a missing state table: one line, nothing done
        if runner.lease is not None:
            runner.lease.cap(act_until)
        code = runner.run_once()
    except DynamicDynamoDBError as exc:
        raise HandlerError(str(exc)) from None
    leadership = runner.leadership
    report = runner.last_report
    if code not in (EXIT_OK, EXIT_FAILURES):  # the state table, the lease, AccessDenied...
        raise HandlerError(f"the cycle failed (exit {code}): "
                           f"{runner.last_error or 'see the log'}")
    if code == EXIT_FAILURES and (report is None or report.tables + report.gsis == 0):
        errors = report.errors if report is not None else 1
        raise HandlerError(f"the cycle failed (exit {code}): {errors} errors and no table or "
                           "GSI could be checked; see the log")
    summary: dict[str, Any] = {
        "instance": instance, "config": location, "exit_code": code,
        "leader": bool(leadership and leadership.leader),
        "lease_holder": leadership.holder if leadership else None,
    }
    if code == EXIT_FAILURES:
        summary["failed"] = True
    if report is not None:
        summary.update(tables=report.tables, gsis=report.gsis, updates=report.updates,
                       errors=report.errors, skipped=report.skipped)
    return summary


def _act_until(context: Any) -> float | None:
    """The monotonic time by which every action must be over: the invocation's remaining
    time less SAVE_MARGIN_SECONDS (None without a Lambda context, as in tests)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return time.monotonic() + remaining() / 1000 - SAVE_MARGIN_SECONDS


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point (EventBridge schedule; the event is not used)."""
    location = os.environ.get(CONFIG_ENV, "").strip()
    if not location:
        raise HandlerError(f"{CONFIG_ENV} is not set: give the configuration's location, "
                           "s3://BUCKET/KEY or ssm:/PARAMETER/NAME")
    act_until = _act_until(context)
    try:
        return run(location, os.environ.get(INSTANCE_ENV, "").strip() or "default",
                   act_until=act_until, schedule=os.environ.get(SCHEDULE_ENV, "").strip())
    except HandlerError as exc:
        logger.error("%s", exc)
        raise
