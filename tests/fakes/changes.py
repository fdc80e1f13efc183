"""What both fake platforms share: waiting for their state to change.

A fake notifies :class:`Changes` whenever something a test or a client may wait for happens (an update, a
bot message, a request); every waiter wakes and re-checks its own condition.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Changes:
    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.closing = False  # the fake is shutting down: waiters give up at once

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def close(self) -> None:
        self.closing = True
        self.notify()

    async def wait(self, seconds: float) -> None:
        """Until the next change, or ``seconds``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)

    async def wait_until(
        self, check: Callable[[], T | None], seconds: float, failure: Callable[[], str]
    ) -> T:
        """check()'s first value other than None, re-checked on every change; AssertionError(failure())
        when none comes within ``seconds`` or the fake closes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (found := check()) is None:
            remaining = deadline - loop.time()
            if remaining <= 0 or self.closing:
                raise AssertionError(failure())
            await self.wait(remaining)
        return found
