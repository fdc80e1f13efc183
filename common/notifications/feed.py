"""The change feed: the loop that hands new schedule snapshots to the watcher.

Shared mode asks the shared DB for each region's version every ``interval`` (cheap) and reloads only a
region whose version moved; standalone mode lets the cache's TTL decide when the bot scrapes again.
Either way a snapshot reaches :meth:`Watcher.check` once per version.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from common.asyncutil import wait_or_stop
from common.changes import ScheduleEvent
from common.notifications.watcher import Watcher
from common.source import CachedSource, SourceUnavailable

log = logging.getLogger(__name__)

EventHandler = Callable[[list[ScheduleEvent]], Awaitable[None]]


class ChangeFeed:
    def __init__(self, source: CachedSource, watcher: Watcher, regions: Sequence[str]) -> None:
        self._source = source
        self._watcher = watcher
        self._regions = list(regions)
        self._checked: dict[str, str] = {}  # region -> version last given to the watcher

    async def poll(self) -> list[ScheduleEvent]:
        """One pass over every region; returns the events found (already logged in the bot's DB)."""
        events: list[ScheduleEvent] = []
        for region in self._regions:
            try:
                snapshot = await self._source.latest(region)
            except SourceUnavailable as exc:
                log.info("no schedule for %s yet: %s", region, exc)
                continue
            if snapshot is None or snapshot.error or self._checked.get(region) == snapshot.version:
                continue  # nothing yet, a failed refresh (same old data), or a version already checked
            found = await self._watcher.check(snapshot.schedule)
            self._checked[region] = snapshot.version
            if found:
                log.info("region %s version %s: %d schedule event(s)", region, snapshot.version, len(found))
            events.extend(found)
        return events

    async def run(
        self, *, interval_seconds: float, stop: asyncio.Event, on_events: EventHandler | None = None
    ) -> None:
        """Polls until ``stop`` is set, calling ``on_events`` after every pass (also with no new events,
        so that work left by an earlier failure is retried); a failing pass is logged and the loop goes on."""
        while not stop.is_set():
            try:
                events = await self.poll()
                if on_events is not None:
                    await on_events(events)
            except Exception:
                log.exception("change feed pass failed")
            await wait_or_stop(stop, interval_seconds)
