"""Small asyncio helpers shared by the programs."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class Stopped(Exception):
    """``stop`` was set before the awaited work finished; the work was cancelled."""


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleeps up to ``seconds``; True as soon as ``stop`` is set."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=max(seconds, 0))
    except TimeoutError:
        return False
    return True


async def unless_stopped(work: Awaitable[T], stop: asyncio.Event) -> T:
    """The result of ``work``, or ``Stopped`` as soon as ``stop`` is set (``work`` is then cancelled): a
    slow request must not hold a program past its stop signal, and the container's grace period."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise Stopped
    return task.result()


class KeyedLocks:
    """A lock per key, kept only while someone holds or waits for it (no registry that grows for ever)."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def __call__(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock
