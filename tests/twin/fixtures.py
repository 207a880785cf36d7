"""pytest fixtures for the twin. Import them where needed (tests/twin/conftest.py does)::

from tests.twin.fixtures import twin, frozen_twin  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.twin import Twin, TwinClock

# A Monday morning, far from midnight, so quota tests do not cross 00:00 UTC by accident.
FROZEN_START = "2026-03-02T10:00:00+00:00"


@pytest.fixture
def twin() -> Iterator[Twin]:
    """A started twin on real time; ``twin.env()`` is the environment for a child process."""
    with Twin() as started:
        yield started


@pytest.fixture
def frozen_twin() -> Iterator[Twin]:
    """A started twin whose clock stands still at FROZEN_START until the test moves it."""
    with Twin(clock=TwinClock(start=FROZEN_START)) as started:
        yield started
