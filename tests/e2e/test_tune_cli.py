"""The real ``dynamic-dynamodb --tune`` command: the frontier, the file it writes (never over an
existing one without --force), the limit, bad input, and a clean stop on SIGINT."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.simulate.trace import write_trace
from dynamic_dynamodb.simulate.traces import generate
from tests.conftest import CLI, run_cli
from tests.e2e.test_simulate_cli import _living, _processes

CONF = """\
# my settings
[global]
check-interval: 60

[default_options]
lookback-window-start: 4
lookback-period: 1

[table: ^t$]
min-provisioned-reads: 2
"""
HEADER = "timestamp,table,gsi,read_demand,write_demand,initial_read,initial_write\n"


def files(tmp_path: Path, reads: list[float]) -> tuple[Path, Path]:
    conf, trace = tmp_path / "t.conf", tmp_path / "t.csv"
    conf.write_text(CONF, encoding="utf-8")
    rows = [f"2024-03-01T{minute // 60:02d}:{minute % 60:02d}:00Z,t,,{value},1"
            + (",40,2" if minute == 0 else "") for minute, value in enumerate(reads)]
    trace.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return conf, trace


def test_tune_prints_the_frontier_and_writes_the_chosen_configuration(tmp_path: Path) -> None:
    # Two hours of a daily rhythm, compressed: 20 RCU, a ramp to 60, back to 20.
    reads = [20.0] * 40 + [20.0 + minute for minute in range(40)] + [20.0] * 40
    conf, trace = files(tmp_path, reads)
    out = tmp_path / "tuned.conf"

    result = run_cli(["-c", str(conf), "--tune", str(trace), "--tune-out", str(out),
                      "--max-throttled", "100%"], timeout=300)

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Tuning on t.csv: 1 resource(s), 120 minutes, 30 candidates")
    assert lines[1].startswith("Pareto frontier of 30 candidates")
    assert any(line.rstrip().endswith("aws-target-tracking") for line in lines)
    assert any(line.rstrip().endswith("your configuration") for line in lines)
    assert lines[-1] == f"Wrote {out}"
    chosen = re.search(r"^Chosen: target-\*-utilisation=(\d+), "
                       r"target-\*-scale-down-minutes=(\d+), predictive-scaling=(\w+): \$",
                       result.stdout, re.M)
    assert chosen, result.stdout
    # The chosen row is marked in the frontier.
    marked = [line for line in lines if line.startswith("  *")]
    assert len(marked) == 1 and marked[0].split()[-3:] == list(chosen.groups())
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# my settings\n[global]\ncheck-interval: 60\n")
    (table,) = load_config(str(out)).tables
    assert table.options.reads.target_utilisation == float(chosen.group(1))
    assert table.options.writes.target_scale_down_minutes == int(chosen.group(2))
    assert table.options.predictive_scaling is (chosen.group(3) == "true")
    assert table.options.reads.min_provisioned == 2

    again = run_cli(["-c", str(conf), "--tune", str(trace), "--tune-out", str(out)])
    assert again.returncode == 1
    assert again.stderr.splitlines()[-1] == (f"dynamic-dynamodb: error: {out} exists; give "
                                             "--force to overwrite it, or another --tune-out "
                                             "FILE")
    assert out.read_text(encoding="utf-8") == text


def test_no_candidate_within_the_limit_writes_nothing_and_fails(tmp_path: Path) -> None:
    # Idle, then 3 minutes at 500 RCU: every reactive policy throttles most of it.
    conf, trace = files(tmp_path, [1.0] * 30 + [500.0] * 3 + [1.0] * 30)
    out = tmp_path / "tuned.conf"

    result = run_cli(["-c", str(conf), "--tune", str(trace), "--tune-out", str(out),
                      "--max-throttled", "0"], timeout=300)

    assert result.returncode == 1
    assert "Pareto frontier of 30 candidates" in result.stdout
    assert result.stderr.splitlines() == [
        "dynamic-dynamodb: error: no candidate throttles at most 0.000 % of the demand "
        "(--max-throttled); nothing written. Allow more with --max-throttled"]
    assert not out.exists()
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".tuned")] == []


@pytest.mark.parametrize(("args", "message"), [
    (["--tune", "missing.csv"], "dynamic-dynamodb: error: missing.csv: file not found"),
    (["--tune", "TRACE", "--max-throttled", "lots"],
     "dynamic-dynamodb: error: --max-throttled must be a fraction such as 0.005"),
    (["--tune"], "dynamic-dynamodb: error: --tune needs a TRACE, or --fetch-trace DAYS"),
])
def test_bad_input_is_one_line_and_a_failure(tmp_path: Path, args: list[str],
                                             message: str) -> None:
    conf, trace = files(tmp_path, [5.0] * 10)
    args = [str(trace) if arg == "TRACE" else arg for arg in args]
    result = run_cli(["-c", str(conf), *args], cwd=str(tmp_path))
    assert result.returncode in (1, 2)
    assert "Traceback" not in result.stderr
    assert message in result.stderr.splitlines()[-1], result.stderr


def _cpu_ticks(pid: int) -> int:
    """User + system CPU time of a process so far, in clock ticks (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return 0
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def long_tune(tmp_path: Path, action: Callable[[subprocess.Popen[bytes], list[int]], None]
              ) -> tuple[int, str, list[int]]:
    """Start a tune of a week, wait for its workers, ``action(run, workers)``; return the exit
    status, stderr and the workers."""
    conf, trace, out = tmp_path / "t.conf", tmp_path / "t.csv.gz", tmp_path / "tuned.conf"
    conf.write_text("[global]\ncheck-interval: 60\n[table: .*]\n", encoding="utf-8")
    write_trace(str(trace), generate("diurnal", days=7))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    with open(tmp_path / "stdout", "wb") as stdout, open(tmp_path / "stderr", "wb") as stderr:
        run = subprocess.Popen([CLI, "-c", str(conf), "--tune", str(trace), "--tune-out",
                                str(out)], stdout=stdout, stderr=stderr, env=env,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while len(workers) < 2 and run.poll() is None and time.monotonic() < deadline:
            workers = [pid for pid, (parent, _, _) in _processes().items() if parent == run.pid]
            time.sleep(0.01)
        assert workers and run.poll() is None, "the workers never started"
        # Each worker is replaying a candidate: it has used CPU time, so its start-up (which
        # counts the workers the pool started) is done. A worker killed before that holds no
        # candidate: the pool replaces it and the tune rightly goes on.
        while (not all(_cpu_ticks(pid) >= 20 for pid in workers) and run.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.01)
        assert run.poll() is None and time.monotonic() < deadline, "no worker got to work"
        action(run, workers)
        code = run.wait(timeout=20)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    stderr_text = (tmp_path / "stderr").read_text(encoding="utf-8")
    assert "Traceback" not in stderr_text
    assert not out.exists()
    assert list(scratch.iterdir()) == []  # the candidates' files are gone too
    assert not any(_living(pid) for pid in workers)
    return code, stderr_text, workers


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_sigint_stops_the_tune_and_its_workers_and_writes_nothing(tmp_path: Path) -> None:
    # Ctrl-C: the whole foreground group.
    code, stderr, _ = long_tune(tmp_path, lambda run, _: os.killpg(run.pid, signal.SIGINT))
    assert code == 130, stderr
    assert stderr.splitlines()[-1] == "dynamic-dynamodb: interrupted by SIGINT; nothing written"


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_a_worker_that_dies_fails_the_tune_instead_of_hanging_it(tmp_path: Path) -> None:
    code, stderr, _ = long_tune(tmp_path, lambda _, workers: os.kill(workers[0], signal.SIGKILL))
    assert code == 1, stderr
    assert stderr.splitlines()[-1] == ("dynamic-dynamodb: error: a replay process died "
                                       "(killed, or out of memory?); nothing written")
