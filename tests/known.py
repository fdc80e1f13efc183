"""Reading a value the API types as optional where the test knows it is there."""

from __future__ import annotations

from typing import TypeVar

_T = TypeVar("_T")


def known(value: _T | None) -> _T:
    """``value``, which the test expects to be there at this point: AssertionError if it is None."""
    if value is None:
        raise AssertionError("expected a value, got None")
    return value
