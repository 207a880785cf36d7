"""Small traces and configurations for the backtest tests."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from dynamic_dynamodb.config.loader import load_config
from dynamic_dynamodb.config.model import Config
from dynamic_dynamodb.simulate.trace import ResourceTrace, Trace

START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def one_table(reads: list[float], writes: list[float] | None = None, *, table: str = "my_table",
              initial: tuple[int, int] | None = (10, 10), start: datetime = START) -> Trace:
    writes = writes if writes is not None else [1.0] * len(reads)
    resource = ResourceTrace(table, None, tuple(reads), tuple(writes),
                             initial[0] if initial else None, initial[1] if initial else None)
    return Trace(start=start, minutes=len(reads), resources=(resource,))


def config(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "test.conf"
    path.write_text(text, encoding="utf-8")
    return load_config(str(path))
