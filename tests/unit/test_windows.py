"""Maintenance windows (D9): UTC HH:MM-HH:MM lists, inclusive ends, may wrap midnight."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynamic_dynamodb.windows import is_inside, minute_of_day, parse_clock, parse_windows


def at(clock: str, day: int = 22) -> datetime:
    hours, minutes = clock.split(":")
    return datetime(2026, 11, day, int(hours), int(minutes), tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "windows"),
    [
        ("22:00-23:59", ((1320, 1439),)),
        ("22:00-23:59,00:00-06:00", ((1320, 1439), (0, 360))),
        ("22:00-23:59, 00:00-06:00", ((1320, 1439), (0, 360))),
        ("  9:00 - 10:30 ,  23:00-1:15 ", ((540, 630), (1380, 75))),  # whitespace, one-digit hours
        ("22:00-02:00", ((1320, 120),)),
        ("00:00-23:59", ((0, 1439),)),
        ("12:00-12:00", ((720, 720),)),
    ],
)
def test_parse_windows(text: str, windows: tuple) -> None:
    assert parse_windows(text) == windows


@pytest.mark.parametrize(
    "text",
    [
        "",
        "22:00",  # no end
        "22:00-",
        "-02:00",
        "22:00-23:00-01:00",
        "22:00-23:00,",  # empty item
        "22:00-23:00,,01:00-02:00",
        "24:00-01:00",
        "23:60-23:59",
        "2200-2300",
        "22.00-23.00",
        "10:0-11:00",
        "ten:00-11:00",
        "22:00–23:00",  # an en dash, not a hyphen
    ],
)
def test_malformed_windows_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match=r"HH:MM|between 00:00 and 23:59"):
        parse_windows(text)


def test_error_names_the_bad_part() -> None:
    with pytest.raises(ValueError, match="25:00"):
        parse_windows("01:00-02:00, 25:00-26:00")


@pytest.mark.parametrize(("text", "minutes"), [("0:00", 0), ("9:05", 545), ("09:05", 545),
                                               (" 23:59 ", 1439)])
def test_parse_clock(text: str, minutes: int) -> None:
    assert parse_clock(text) == minutes


@pytest.mark.parametrize(
    ("windows", "clock", "inside"),
    [
        # a plain window, both ends inclusive
        ("09:00-17:00", "08:59", False),
        ("09:00-17:00", "09:00", True),
        ("09:00-17:00", "12:30", True),
        ("09:00-17:00", "17:00", True),
        ("09:00-17:00", "17:01", False),
        # 2.5.1 compared strings, so '9:00' misbehaved at 09:30
        ("9:00-10:00", "09:30", True),
        # wrapping midnight: 2.5.1 never matched these
        ("22:00-02:00", "21:59", False),
        ("22:00-02:00", "22:00", True),
        ("22:00-02:00", "23:30", True),
        ("22:00-02:00", "00:00", True),
        ("22:00-02:00", "01:00", True),
        ("22:00-02:00", "02:00", True),
        ("22:00-02:00", "02:01", False),
        ("22:00-02:00", "12:00", False),
        # several windows; 2.5.1's verified examples
        ("22:00-23:59,00:00-06:00", "23:30", True),
        ("22:00-23:59,00:00-06:00", "06:00", True),
        ("22:00-23:59,00:00-06:00", "06:01", False),
        ("22:00-23:59, 00:00-06:00", "03:00", True),
        ("01:00-02:00, 13:00-14:00", "13:30", True),
        ("01:00-02:00, 13:00-14:00", "12:00", False),
        ("12:00-12:00", "12:00", True),
        ("12:00-12:00", "12:01", False),
        ("00:00-23:59", "23:59", True),
    ],
)
def test_is_inside(windows: str, clock: str, inside: bool) -> None:
    assert is_inside(parse_windows(windows), at(clock)) is inside


def test_minute_resolution_keeps_the_whole_end_minute() -> None:
    windows = parse_windows("22:00-23:59")
    assert is_inside(windows, at("23:59") + timedelta(seconds=59, microseconds=999999))
    assert not is_inside(parse_windows("09:00-10:00"), at("10:00") + timedelta(minutes=1))


def test_times_are_utc_whatever_the_zone_of_now() -> None:
    windows = parse_windows("22:00-23:00")
    paris = timezone(timedelta(hours=1))
    # 23:30 in UTC+1 is 22:30 UTC: inside; 22:30 in UTC+1 is 21:30 UTC: outside.
    assert is_inside(windows, datetime(2026, 11, 22, 23, 30, tzinfo=paris))
    assert not is_inside(windows, datetime(2026, 11, 22, 22, 30, tzinfo=paris))
    assert minute_of_day(datetime(2026, 11, 22, 0, 30, tzinfo=paris)) == 23 * 60 + 30


def test_naive_now_is_taken_as_utc() -> None:
    assert is_inside(parse_windows("22:00-23:00"), datetime(2026, 11, 22, 22, 30))


def test_no_windows_means_never_inside() -> None:
    # decide() only consults windows when the option is set; an empty list matches nothing.
    assert not is_inside((), at("12:00"))


@settings(max_examples=150, deadline=None)
@given(start=st.integers(0, 1439), end=st.integers(0, 1439), minute=st.integers(0, 1439),
       spaces=st.booleans())
def test_a_window_covers_the_minutes_from_start_to_end_going_forward(
    start: int, end: int, minute: int, spaces: bool
) -> None:
    # An independent formulation: walk forward from start, across midnight if need be, to end.
    def clock(value: int) -> str:
        return f"{value // 60}:{value % 60:02d}"  # one-digit hours, as D9 allows

    gap = " - " if spaces else "-"
    windows = parse_windows(f"{clock(start)}{gap}{clock(end)}")
    now = datetime(2026, 11, 22, tzinfo=timezone.utc) + timedelta(minutes=minute)
    assert is_inside(windows, now) is ((minute - start) % 1440 <= (end - start) % 1440)
