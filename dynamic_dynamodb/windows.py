"""UTC times of day and maintenance windows (D9), parsed once when the configuration loads.

``HH:MM-HH:MM[, HH:MM-HH:MM ...]``: one-digit hours and whitespace are accepted, a window may
wrap midnight (``22:00-02:00``) and both ends are inclusive. A shared value type: the option
schema parses it, the policy asks whether a moment lies inside. The original text is kept so
``--show-config`` shows what was written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
MINUTES_PER_DAY = 24 * 60


def parse_clock(text: str) -> int:
    """``HH:MM`` (one-digit hours allowed) → minutes after midnight. Raises ValueError."""
    match = _CLOCK.match(text)
    if not match:
        raise ValueError(f"expected a time as HH:MM, got {text.strip()!r}")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours > 23 or minutes > 59:
        raise ValueError(f"expected a time between 00:00 and 23:59, got {text.strip()!r}")
    return hours * 60 + minutes


def parse_windows(text: str) -> tuple[tuple[int, int], ...]:
    """Parse a maintenance window list into (start, end) minute pairs. Raises ValueError."""
    windows = []
    for part in text.split(","):
        if not part.strip():
            raise ValueError(f"empty window in {text!r}; expected HH:MM-HH:MM[, HH:MM-HH:MM ...]")
        if part.count("-") != 1:
            raise ValueError(
                f"expected a window as HH:MM-HH:MM, got {part.strip()!r} in {text!r}"
            )
        start, end = part.split("-")
        windows.append((parse_clock(start), parse_clock(end)))
    return tuple(windows)


def minute_of_day(now: datetime) -> int:
    utc = now.astimezone(timezone.utc) if now.tzinfo else now
    return utc.hour * 60 + utc.minute


def is_inside(windows: tuple[tuple[int, int], ...], now: datetime) -> bool:
    """True when ``now`` (UTC, minute resolution) lies inside any window; ends are inclusive."""
    minute = minute_of_day(now)
    for start, end in windows:
        if start <= end:
            if start <= minute <= end:
                return True
        elif minute >= start or minute <= end:  # wraps midnight, e.g. 22:00-02:00
            return True
    return False


@dataclass(frozen=True)
class ClockTime:
    """A UTC time of day as written (``text``) and as minutes after midnight."""

    text: str
    minute: int

    @classmethod
    def parse(cls, text: str) -> ClockTime:
        return cls(text.strip(), parse_clock(text))


@dataclass(frozen=True)
class Windows:
    """A list of UTC windows as written (``text``) and as (start, end) minute pairs."""

    text: str
    spans: tuple[tuple[int, int], ...]

    @classmethod
    def parse(cls, text: str) -> Windows:
        return cls(text.strip(), parse_windows(text))

    def contains(self, now: datetime) -> bool:
        return is_inside(self.spans, now)


@dataclass(frozen=True)
class ScheduledFloors:
    """``HH:MM-HH:MM=N[, HH:MM-HH:MM=N ...]``: a minimum capacity of N during each UTC window.

    The windows are maintenance-window spans (may wrap midnight, both ends inclusive); where
    windows overlap the highest floor applies. The text is kept as written.
    """

    text: str
    floors: tuple[tuple[int, int, int], ...]  # (start minute, end minute, floor)

    @classmethod
    def parse(cls, text: str) -> ScheduledFloors:
        floors = []
        for part in text.split(","):
            window, equals, amount = part.partition("=")
            if not equals:
                raise ValueError(f"expected HH:MM-HH:MM=N, got {part.strip()!r} in {text!r}")
            try:
                floor = int(amount.strip())
            except ValueError:
                raise ValueError(f"expected a whole number of capacity units after '=', got "
                                 f"{amount.strip()!r} in {text!r}") from None
            if floor < 1:
                raise ValueError(f"a scheduled floor must be at least 1, got {floor} in {text!r}")
            ((start, end),) = parse_windows(window)
            floors.append((start, end, floor))
        return cls(text.strip(), tuple(floors))

    def floor_at(self, now: datetime) -> int | None:
        """The highest floor whose window contains ``now``; None outside every window."""
        inside = [floor for start, end, floor in self.floors if is_inside(((start, end),), now)]
        return max(inside) if inside else None
