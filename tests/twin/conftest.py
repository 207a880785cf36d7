"""The twin's own fixtures, for the twin's self-tests (the root conftest does not register them)."""

from tests.twin.fixtures import frozen_twin, twin

__all__ = ["frozen_twin", "twin"]
