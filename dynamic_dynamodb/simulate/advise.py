"""``--advise``: on-demand or provisioned, for the configuration's tables, from the last 14
days of their CloudWatch history.

One batched pass of ``--fetch-trace``'s reader (``fetch.fetch_locations``) reads each
account's and region's history with that location's clients; the backtest replays the
location's sections' policy, aws-target-tracking and the static peak on it
(``runner.simulate``), and ``advice.advise`` compares each table and GSI with on-demand,
exactly as the report of ``--simulate`` does. A table without any datapoint in those days is
kept, idle, and advised on-demand (no traffic). Nothing is written.

With several locations every row names its location, ``<account>/<region>/<table>`` (the
same table name may exist in two of them). A location that cannot be read (AssumeRole
denied, an unreachable region) is one error line naming it; the others are advised, and
the exit status is 3 (1 when no location could be read).
"""

from __future__ import annotations

import dataclasses
import signal
import sys
from typing import TextIO

from dynamic_dynamodb.aws.clients import Clients
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.fleet import Location
from dynamic_dynamodb.simulate import advice, fetch, runner
from dynamic_dynamodb.simulate.runner import Interrupted, Progress, Settings

ADVISE_DAYS = 14
EXIT_ERROR = 1  # nothing could be read
EXIT_PARTIAL = 3  # advice printed, but an account or region could not be read


def _always(clients: Clients) -> fetch.ClientsFor:
    def clients_for(_: Location) -> Clients:
        return clients
    return clients_for


def run_advise(config: Config, settings: Settings, *, clients: Clients | None = None,
               clients_for: fetch.ClientsFor | None = None, days: int = ADVISE_DAYS,
               stream: TextIO = sys.stdout) -> int:
    """Print the advice table: 0 when printed; 3 when printed without a location that could
    not be read; 130/143 when interrupted. A failure to read the history of the only
    location is a ``FetchError`` (one line, exit 1). ``clients``: every location's (tests);
    ``clients_for``: each location's (tests)."""
    if clients is not None:
        clients_for = _always(clients)
    progress = Progress(sys.stderr)
    results: list[tuple[fetch.LocationHistory, list[advice.Advice], int]] = []
    try:
        with runner.interruptible():
            try:
                progress.show(f"reading {days} days of CloudWatch history...")
                history = fetch.fetch_locations(config, days, clients_for=clients_for,
                                                keep_silent=True, skip_failed=True)
                for part in history.parts:
                    models, _ = runner.simulate(part.config, part.trace, settings,
                                                parallel=runner.parallel_possible(),
                                                progress=progress)
                    found = advice.advise(models, settings.prices,
                                          acceptable_throttled=settings.acceptable_throttled)
                    if history.several:
                        found = [dataclasses.replace(item, table=f"{part.name}/{item.table}")
                                 for item in found]
                    results.append((part, found, len(models["dynamic-dynamodb"].resources)))
            finally:
                progress.clear()
    except Interrupted as stop:
        print(f"dynamic-dynamodb: interrupted by {signal.Signals(stop.signum).name}",
              file=sys.stderr)
        return 128 + stop.signum
    for line in history.failures:
        print(f"dynamic-dynamodb: error: {line}; "
              f"{'no advice for it' if results else 'no advice'}", file=sys.stderr)
    if not results:
        return EXIT_ERROR
    trace = results[0][0].trace
    where = f" in {len(results)} accounts and regions" if history.several else ""
    print(f"Advice from {trace.minutes} minutes of CloudWatch history from "
          f"{trace.start:%Y-%m-%d %H:%M} UTC, {sum(count for *_, count in results)} table(s) "
          f"and GSI(s){where}; provisioned = the best of the configuration's policy, "
          f"aws-target-tracking (--tt-target {settings.tt_target:g}) and the static peak",
          file=stream)
    every = [item for _, found, _ in results for item in found]
    for line in advice.advice_lines(every):
        print(line, file=stream)
    return EXIT_PARTIAL if history.failures else 0
