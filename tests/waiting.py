"""Waiting in tests for a condition rather than for a fixed time: as quick as the machine allows when it
is idle, and still patient when it is busy."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable


async def wait_until(
    predicate: Callable[[], bool | Awaitable[bool]],
    timeout: float = 5.0,  # noqa: ASYNC109 - a deadline for polling, not for one awaited call
    *,
    what: str = "",
    interval: float = 0.02,
) -> None:
    """Returns once ``predicate()`` (a function or a coroutine function) is true; AssertionError naming
    ``what`` (or the predicate) when it is not within ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout  # the loop's monotonic clock: --clock-at does not move it
    while True:
        result = predicate()
        if await result if inspect.isawaitable(result) else result:
            return
        if loop.time() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what or predicate.__qualname__}")
        await asyncio.sleep(interval)
