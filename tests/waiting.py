"""Waiting in tests for a condition rather than for a fixed time: as quick as the machine allows when it
is idle, and still patient when it is busy."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

T = TypeVar("T")


@overload
async def wait_until(
    predicate: Callable[[], Awaitable[T | None]],
    timeout: float = ...,  # noqa: ASYNC109
    *,
    what: str = ...,
    interval: float = ...,
) -> T: ...


@overload
async def wait_until(
    predicate: Callable[[], T | None],
    timeout: float = ...,  # noqa: ASYNC109
    *,
    what: str = ...,
    interval: float = ...,
) -> T: ...


async def wait_until(
    predicate: Callable[[], T | Awaitable[T | None] | None],
    timeout: float = 5.0,  # noqa: ASYNC109 - a deadline for polling, not for one awaited call
    *,
    what: str = "",
    interval: float = 0.02,
) -> T:
    """Returns ``predicate()``'s first true value (``predicate`` a function or a coroutine function): True
    for a condition, or what a look-up found, e.g. a row that was None so far. AssertionError naming
    ``what`` (or the predicate) when there is none within ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout  # the loop's monotonic clock: --clock-at does not move it
    while True:
        result = predicate()
        value = await result if inspect.isawaitable(result) else result
        if value:
            return value
        if loop.time() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what or predicate.__qualname__}")
        await asyncio.sleep(interval)
