"""The simulator and the daemon make the same decision on the same observation.

The backtest runs the daemon's own Engine against fake clients backed by the model; here the
same Engine runs against moto holding exactly the metrics the model published, and both
calls of the one ``decide`` function must see equal observations and return equal decisions.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import dynamic_dynamodb.engine as engine_module
from demo.seed import create_table
from dynamic_dynamodb.aws.model import Capacity
from dynamic_dynamodb.engine import Engine
from dynamic_dynamodb.policy.decide import decide
from dynamic_dynamodb.simulate.model import DEFAULT_LIMITS
from dynamic_dynamodb.simulate.runner import Settings, run_dynamic_dynamodb
from dynamic_dynamodb.state import State
from tests.unit.simulate.helpers import START, config, one_table

CONF = "[table: ^my_table$]\nreads-upper-threshold: 90\nincrease-reads-with: 50\n"


def spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Any, Any]]:
    calls: list[tuple[Any, Any, Any]] = []

    def recording(options: Any, observation: Any, counters: Any, now: Any) -> Any:
        decision = decide(options, observation, counters, now)
        calls.append((observation, now, decision))
        return decision

    monkeypatch.setattr(engine_module, "decide", recording)
    return calls


def test_simulator_and_daemon_decide_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              moto_clients: Any) -> None:
    cfg = config(tmp_path, CONF)
    # 12 CU/s on 10 RCU: the bucket serves it all, so consumed is 120 % with no throttle.
    trace = one_table([12.0] * 20, [4.0] * 20, initial=(10, 10))
    calls = spy(monkeypatch)
    model = run_dynamic_dynamodb(cfg, trace, {"my_table": {"reads": 10, "writes": 10}},
                                 ["my_table"], Settings())
    # Checks at 0, 5, 10 and 15 minutes; the one at 15 is the first with a full window
    # [00:00, 00:05): 120 % > 90 % -> 12 + 50 % = 18 reads.
    simulated = next((call for call in calls if call[2].changed), None)
    assert simulated is not None
    observation, now, decision = simulated
    assert now == START + timedelta(minutes=15)
    assert observation.reads.consumed_percent == pytest.approx(120)
    assert decision.reads.target == 18
    assert model.resources["my_table"].provisioned["reads"] == 18

    # The daemon: the same table and exactly the datapoints the model published, in moto.
    create_table(moto_clients.dynamodb, "my_table", 10, 10)
    resource = model.resources["my_table"]
    data = [
        {"MetricName": name, "Value": series[minute], "Timestamp": START + timedelta(minutes=minute),
         "Dimensions": [{"Name": "TableName", "Value": "my_table"}]}
        for name, series in (("ConsumedReadCapacityUnits", resource.consumed["reads"]),
                             ("ConsumedWriteCapacityUnits", resource.consumed["writes"]))
        for minute in range(10)
    ]
    moto_clients.cloudwatch.put_metric_data(Namespace="AWS/DynamoDB", MetricData=data)
    calls.clear()
    live = moto_clients.ports()
    # moto's DescribeLimits answers 10,000 per table, the model AWS's default of 40,000: the
    # observation carries the resulting ceiling, so both must see the same limits.
    monkeypatch.setattr(live.tables, "describe_limits", lambda: DEFAULT_LIMITS)
    Engine(cfg, live, State(), clock=lambda: now).run_cycle()
    assert len(calls) == 1
    live_observation, live_now, live_decision = calls[0]
    assert live_now == now
    assert (live_observation.reads, live_observation.writes) == (observation.reads,
                                                                 observation.writes)
    assert live_decision == decision
    throughput = moto_clients.dynamodb.describe_table(TableName="my_table")["Table"][
        "ProvisionedThroughput"]
    assert throughput["ReadCapacityUnits"] == 18


def test_a_refused_decrease_reaches_the_engine_as_limit_exceeded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The table's 4 free decreases were spent at 00:00 by someone else, and DescribeTable does
    # not say so (an old API, or a proxy that strips it), so the policy believes it may
    # decrease. The model enforces DynamoDB's rule on its own: the decrease is refused with
    # LimitExceededException and the engine's D14 retry sends the writes increase alone.
    from dynamic_dynamodb.simulate import fakes
    from dynamic_dynamodb.simulate import model as model_module

    real_capacity = fakes.SimTables._capacity

    def without_ledger(self: Any, resource: Any) -> Capacity:
        return replace(real_capacity(self, resource), decreases_today=None, last_decrease=None)

    monkeypatch.setattr(fakes.SimTables, "_capacity", without_ledger)
    real_init = model_module.ResourceModel.__init__

    def spent(self: Any, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        self.decreases_today, self.last_decrease = 4, START

    monkeypatch.setattr(model_module.ResourceModel, "__init__", spent)
    cfg = config(tmp_path, "[global]\ncheck-interval: 60\n[default_options]\n"
                 "lookback-window-start: 2\nlookback-period: 1\n[table: ^my_table$]\n"
                 "decrease-reads-with: 1\ndecrease-reads-unit: units\n"
                 "increase-writes-with: 1\nincrease-writes-unit: units\n")
    trace = one_table([1.0] * 10, [100.0] * 10, initial=(100, 10))
    calls = spy(monkeypatch)
    model = run_dynamic_dynamodb(cfg, trace, {"my_table": {"reads": 100, "writes": 10}},
                                 # Every writes increase here is a new peak: no delay, or
                                 # the checks would meet ResourceInUse instead.
                                 ["my_table"], Settings(update_delay=0, new_peak_delay=0))
    resource = model.resources["my_table"]
    # The checks at 2..9 minutes see data and want reads 100 -> 99 (1 % < 30 %). The first try
    # is refused; the engine remembers it, so the next checks wait an hour instead of retrying.
    wanted = [d for _, _, d in calls if d.reads.is_decrease]
    assert len(wanted) == 1
    assert resource.limit_exceeded == 1
    assert resource.decreases == 0
    assert resource.provisioned["reads"] == 100
    # Writes: 600 % (burst) at 00:02 -> 60 + 1 = 61; at 00:03 the throttled minute vetoes any
    # change, so the retry has nothing left to send; then +1 a check from 00:04 to 00:09.
    assert resource.provisioned["writes"] == 67
    assert resource.updates == 7
