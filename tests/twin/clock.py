"""The twin's clock: real time by default, settable and advanceable by tests.

Every time-dependent behaviour of the twin (UPDATING windows, the daily decrease quota and its
00:00 UTC reset, the timestamps it injects into DescribeTable) reads this clock and nothing
else, so a test can cross an hour or a midnight in microseconds. moto's own timestamps
(CreationDateTime, CloudWatch datapoints) keep using real time: the twin does not patch time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _aware_utc(when: datetime | str) -> datetime:
    if isinstance(when, str):
        # The control endpoint passes ISO strings; "Z" is accepted for convenience.
        when = datetime.fromisoformat(when.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError(f"the twin clock needs an aware datetime, got naive {when!r}")
    return when.astimezone(timezone.utc)


class TwinClock:
    """A clock that follows ``source`` (plus an offset) or stays frozen at a set instant.

    ``set(when)`` freezes the clock at ``when``; ``set(when, frozen=False)`` makes it run from
    ``when`` at real speed. ``advance(seconds)`` moves it either way. Thread-safe: the proxy
    reads it from many handler threads while a test moves it.
    """

    def __init__(self, source: Callable[[], datetime] | None = None, *, start: datetime | str | None = None):
        self._source = source or utc_now
        self._offset = timedelta(0)
        self._frozen: datetime | None = _aware_utc(start) if start is not None else None
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return _aware_utc(self._source()) + self._offset

    __call__ = now

    @property
    def frozen(self) -> bool:
        return self._frozen is not None

    def set(self, when: datetime | str, *, frozen: bool = True) -> datetime:
        when = _aware_utc(when)
        with self._lock:
            if frozen:
                self._frozen = when
            else:
                self._frozen = None
                self._offset = when - _aware_utc(self._source())
        return when

    def advance(self, seconds: float) -> datetime:
        step = timedelta(seconds=seconds)
        with self._lock:
            if self._frozen is not None:
                self._frozen += step
            else:
                self._offset += step
        return self.now()

    def unfreeze(self) -> None:
        """Run at real speed again from the current (possibly frozen) instant."""
        self.set(self.now(), frozen=False)
