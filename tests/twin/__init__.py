"""The twin: a stricter AWS test double (moto_server behind an AWS-like HTTP proxy).

moto accepts almost anything at once; real DynamoDB and CloudWatch do not
(/work/shared/reference/aws-behaviour.md). The twin runs ``moto.server.ThreadedMotoServer``
on a free loopback port and a threaded HTTP proxy on another; boto3 or the real CLI talk to the
proxy, so botocore's own retry, timeout and parsing code runs against AWS-shaped answers.

Use::

    from tests.twin import Twin

    with Twin(update_seconds=2, clock=TwinClock(start="2026-03-02T10:00:00Z")) as twin:
        ddb = twin.client("dynamodb")              # endpoint, fake credentials, 1 attempt
        subprocess.run([...], env=twin.env())      # AWS_ENDPOINT_URL=twin.endpoint etc.
        twin.clock.advance(3600)
        assert twin.count("UpdateTable") == 1

Benchmarks under ``bench/`` can do the same after ``sys.path.insert(0, repo_root)``:
``from tests.twin import Twin``; ``Twin(latency=0.025)`` adds 25 ms to every request, served
concurrently (one thread per connection), to see how the product scales against real latency.

Constructor: ``Twin(*, clock=None, host="127.0.0.1", port=0, quiet=True, reset_backend=True,
settings=None, **settings_overrides)`` where ``clock`` is a TwinClock or a callable returning an
aware UTC datetime (default: real time) and the overrides are TwinSettings fields:
``region, update_seconds, new_peak_seconds, show_old_throughput_while_updating, in_use_message,
free_decreases_per_day, max_decreases_per_day, decrease_interval_seconds, table_max_read,
table_max_write, account_max_read, account_max_write, latency``.

Methods: ``start() / stop()`` (or ``with``), ``reset()``, ``configure(**settings)``,
``endpoint``, ``backend_endpoint`` (moto directly: no rules, not counted), ``env()``,
``client(service, attempts=1)``; counters ``calls`` (Counter by operation, every HTTP attempt),
``calls_by_service``, ``count(operation, service=None)``, ``records`` (RequestRecord per
attempt: service, operation, table, attempt, time, status, error, fault), ``reset_counts()``;
clock ``clock.set(when)``, ``clock.advance(seconds)``, ``advance_clock``, ``set_clock``;
behaviours ``fail(operation, code, message, status=400, times=1, service=None, table=None)``,
``deny(operation="GetMetricData")``, ``fail_concurrent_updates(times)``,
``hang(operation, seconds=None, times=1)``, ``drop(operation, times=1)``, ``release_hangs()``,
``metric_status(status, metric_name=, table=, index=, keep=0, paginate=, failing_followups=0,
times=None)``, ``set_global_table(table, regions)``, ``set_decreases(table, count, index=,
last=)``, ``ledger(table)``, ``clear_rules()``; attribute ``latency``.

Control endpoint (for a CLI under test in another process): ``POST {endpoint}/_twin/<method>``
with the keyword arguments as a JSON object (e.g. ``/_twin/advance_clock {"seconds": 3600}``,
``/_twin/configure {"update_seconds": 0}``, ``/_twin/fail_concurrent_updates {"times": 2}``);
``GET /_twin/calls``, ``/_twin/records``, ``/_twin/settings``. Answers ``{"result": ...}``.

Caveat: moto's backends are process-global, so one twin at a time per process; ``start()``
resets moto (``reset_backend=False`` to keep state).
"""

from tests.twin.clock import TwinClock
from tests.twin.server import RequestRecord, Twin
from tests.twin.settings import TwinSettings

__all__ = ["RequestRecord", "Twin", "TwinClock", "TwinSettings"]
