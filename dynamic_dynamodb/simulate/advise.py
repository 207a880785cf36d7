"""``--advise``: on-demand or provisioned, for the configuration's tables, from the last 14
days of their CloudWatch history.

One batched pass of ``--fetch-trace``'s reader (``fetch.fetch_history``) builds the trace;
the backtest replays the configuration's policy, aws-target-tracking and the static peak on
it (``runner.simulate``), and ``advice.advise`` compares each table and GSI with on-demand,
exactly as the report of ``--simulate`` does. A table without any datapoint in those days is
kept, idle, and advised on-demand (no traffic). Nothing is written.
"""

from __future__ import annotations

import signal
import sys
from typing import TextIO

from dynamic_dynamodb.aws.clients import Clients
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.simulate import advice, fetch, runner
from dynamic_dynamodb.simulate.runner import Interrupted, Progress, Settings

ADVISE_DAYS = 14


def run_advise(config: Config, settings: Settings, *, clients: Clients | None = None,
               days: int = ADVISE_DAYS, stream: TextIO = sys.stdout) -> int:
    """Print the advice table: 0 when printed; 130/143 when interrupted. A failure to read
    the history is a ``FetchError`` (one line, exit 1)."""
    progress = Progress(sys.stderr)
    try:
        with runner.interruptible():
            try:
                progress.show(f"reading {days} days of CloudWatch history...")
                trace = fetch.fetch_history(config, days, clients, keep_silent=True)
                models, _ = runner.simulate(config, trace, settings,
                                            parallel=runner.parallel_possible(),
                                            progress=progress)
            finally:
                progress.clear()
    except Interrupted as stop:
        print(f"dynamic-dynamodb: interrupted by {signal.Signals(stop.signum).name}",
              file=sys.stderr)
        return 128 + stop.signum
    first = models["dynamic-dynamodb"]
    print(f"Advice from {trace.minutes} minutes of CloudWatch history from "
          f"{trace.start:%Y-%m-%d %H:%M} UTC, {len(first.resources)} table(s) and GSI(s); "
          "provisioned = the best of the configuration's policy, aws-target-tracking "
          f"(--tt-target {settings.tt_target:g}) and the static peak", file=stream)
    for line in advice.advice_lines(advice.advise(models, settings.prices)):
        print(line, file=stream)
    return 0
