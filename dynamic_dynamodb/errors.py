"""Typed errors raised at the boundaries."""

from __future__ import annotations


class DynamicDynamoDBError(Exception):
    """Base class: the CLI turns these into one clear line and a non-zero exit."""


class ConfigError(DynamicDynamoDBError):
    """A configuration problem, naming the file, the section and the option."""

    def __init__(self, path: str | None, section: str | None, option: str | None, message: str):
        self.path = path
        self.section = section
        self.option = option
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [self.path, f"[{self.section}]" if self.section else None, self.option]
        where = [part for part in parts if part]
        message = " ".join(self.message.split())  # always one line
        return f"{': '.join(where)}: {message}" if where else message


class StateError(DynamicDynamoDBError):
    """The state file cannot be used (for example, another process holds its lock)."""
