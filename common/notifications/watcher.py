"""The watcher: checks each new schedule against the baseline last reported to users and logs the events.

The baseline is persisted by a :class:`WatchStore` (the bot's database), so a restart neither forgets what
was reported nor reports it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Protocol

from common.changes import Baseline, ScheduleEvent, detect_changes
from common.clock import Now, as_kyiv
from common.schedule import RegionSchedule


class WatchStore(Protocol):
    """Where the baseline and the event log live."""

    async def load_baseline(self, region: str) -> Baseline | None:
        """The region's baseline; None if the region was never checked."""
        ...

    async def commit_watch(
        self,
        region: str,
        baseline: Mapping[tuple[str, date], str],
        events: Sequence[ScheduleEvent],
        detected_at: datetime,
    ) -> Sequence[int]:
        """Replaces the baseline and logs the events in one transaction; returns the events' ids."""
        ...


class Watcher:
    """Checks schedules against the stored baseline and logs the events it finds."""

    def __init__(self, store: WatchStore, *, now: Now) -> None:
        self._store = store
        self._now = now  # tells today's Kyiv date and stamps detected events
        # Loading and committing are two steps: two checks interleaving could report one change twice.
        self._lock = asyncio.Lock()

    async def check(self, schedule: RegionSchedule) -> list[ScheduleEvent]:
        """Events since the last check; stored with the new baseline in one transaction, then returned."""
        if not schedule.region:
            raise ValueError("cannot watch a schedule without a region")
        async with self._lock:
            baseline = await self._store.load_baseline(schedule.region)
            now = self._now()
            events, current = detect_changes(baseline, schedule, as_kyiv(now).date())
            await self._store.commit_watch(schedule.region, current, events, now)
        return events
