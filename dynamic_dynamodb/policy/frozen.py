"""Making frozen dataclasses fast, for the values built on every check (decide, observe).

A frozen dataclass's ``__init__`` sets each field with its own ``object.__setattr__`` call:
a DimensionDecision (31 fields) costs about 3x more that way than filling the instance's
``__dict__`` in one go, and a backtest makes hundreds of thousands of them.
``frozen_builder`` does the latter and gives the same value: equal, hashable, printable and
picklable as one made by the constructor, with every field set (defaults included) and
unknown or missing field names refused as ``__init__`` refuses them. What it does not do is check the types of
the values (mypy cannot see through ``**``), so it is meant for the few hot call sites
inside the policy, which the tests cover.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, fields, is_dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def frozen_builder(cls: type[T]) -> Callable[..., T]:
    """``build = frozen_builder(cls)``: ``build(**values)`` is ``cls(**values)`` and
    ``build(base, **values)`` is ``dataclasses.replace(base, **values)``. For frozen
    dataclasses without ``__post_init__``, ``default_factory`` or ``__slots__``. (A closure,
    not an object with ``__call__``: calling that costs as much as is saved.)"""
    if not is_dataclass(cls) or hasattr(cls, "__post_init__") or hasattr(cls, "__slots__"):
        raise TypeError(f"{cls.__name__}: not a plain dataclass")
    every = fields(cls)
    if any(field.default_factory is not MISSING for field in every):
        raise TypeError(f"{cls.__name__}: default_factory fields are not supported")
    names = frozenset(field.name for field in every)
    required = frozenset(field.name for field in every if field.default is MISSING)
    # Every field, in field order (so ``vars()`` reads as the constructor's); the required
    # ones hold a placeholder until the values replace it.
    template = {field.name: field.default for field in every}
    new = object.__new__

    def build(base: T | None = None, /, **values: Any) -> T:
        merged = {**(template if base is None else base.__dict__), **values}
        if len(merged) != len(names) or (base is None and not required <= values.keys()):
            given = set(values) if base is None else set(merged)
            raise TypeError(f"{cls.__name__}: missing fields {sorted(required - given)}, "
                            f"unknown fields {sorted(merged.keys() - names)}")
        made: T = new(cls)
        made.__dict__.update(merged)
        return made

    return build
