"""A bot's background work, the same on every platform: watch for schedule changes and fan them out,
queue reminders as they come due, and deliver the outbox at the platform's rate.

It needs a :class:`NotifierStore`: every store of the pipeline's steps, pruning of old history, and a
heartbeat: each reminder pass records that the work goes on and whether the outbox sent anything, which
the bot's health check (``common.health``) reads from outside the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from common.asyncutil import wait_or_stop
from common.changes import ScheduleEvent
from common.clock import KYIV, Now, as_utc
from common.logs import log_failure
from common.metrics import Metrics
from common.notifications.address_watch import AddressWatch
from common.notifications.fanout import (
    EventStore,
    NewsStore,
    ReminderStore,
    fan_out_events,
    fan_out_news,
    queue_reminders,
)
from common.notifications.feed import ChangeFeed
from common.notifications.outbox import OutboxStore, OutboxWorker, Sender
from common.notifications.watcher import Watcher, WatchStore
from common.schedule import RegionSchedule
from common.source import CachedSource, SourceUnavailable

log = logging.getLogger(__name__)

REMINDER_INTERVAL_SECONDS = 60.0
ADDRESS_WATCH_PASS_SECONDS = 60.0  # how often the address watch looks for due streets
HOUSEKEEPING_INTERVAL = timedelta(hours=1)
HISTORY_KEPT = timedelta(days=30)  # sent/dead outbox rows and fanned-out events older than this go


class NotifierStore(WatchStore, EventStore, ReminderStore, NewsStore, OutboxStore, Protocol):
    """Everything the pipeline stores, in one place (the bot's database)."""

    async def prune(self, before: datetime) -> int:
        """Deletes delivery history older than ``before``; returns how many rows went."""
        ...

    async def record_heartbeat(self, at: datetime, *, outbox_progressed: bool) -> None:
        """Notes that the background work went on at ``at``; ``outbox_progressed``: the outbox also got
        somewhere since the previous note."""
        ...

    async def outbox_counts(self) -> Mapping[str, int]:
        """Outbox rows by status."""
        ...


class Notifier:
    def __init__(
        self,
        *,
        db: NotifierStore,
        source: CachedSource,
        sender: Sender,
        regions: Sequence[str],
        rate_per_second: float,
        watch_interval_seconds: float,
        now: Now,
        reminder_interval_seconds: float = REMINDER_INTERVAL_SECONDS,
        metrics: Metrics | None = None,
        address_watch: AddressWatch | None = None,
    ) -> None:
        self._db = db
        self._address_watch = address_watch
        self._source = source
        self._regions = list(regions)
        self._now = now
        self._watch_interval = watch_interval_seconds
        self._reminder_interval = reminder_interval_seconds
        watcher = Watcher(db, now=now)
        self.feed = ChangeFeed(source, watcher, regions)
        self._metrics = metrics or Metrics()
        self.worker = OutboxWorker(
            db, sender, rate_per_second=rate_per_second, now=now, metrics=self._metrics
        )
        self._reminders_until: datetime | None = None
        self._sent_at_last_beat: int | None = None  # None: no beat yet in this run
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._stop.clear()
        self._sent_at_last_beat = None
        self._tasks = [
            asyncio.create_task(self._watch_loop(), name="watch"),
            asyncio.create_task(self._reminder_loop(), name="reminders"),
            asyncio.create_task(self._outbox_loop(), name="outbox"),
        ]
        if self._address_watch is not None:
            self._tasks.append(asyncio.create_task(self._address_loop(), name="address-watch"))

    async def stop(self) -> None:
        self._stop.set()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await asyncio.wait_for(task, timeout=10)
                except TimeoutError:
                    log.warning("background task %s did not stop in time", task.get_name())
        self._tasks = []

    async def abort(self) -> None:
        """Cancels the background work at once, as a killed process ends it: sends under way are
        abandoned and their rows stay pending, to be sent (again) after a restart."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def fan_out(self, _events: Sequence[ScheduleEvent] = ()) -> int:
        """Queues a message per subscriber for every event not yet fanned out (also those of a crash)."""
        names = {region: schedule.groups for region, schedule in (await self._schedules()).items()}
        now = self._now()
        queued = await fan_out_events(
            self._db,
            group_name=lambda region, group: names.get(region, {}).get(group, group),
            today=now.astimezone(KYIV).date(),
            now=now,
        )
        self._metrics.notifications_queued.labels("change").inc(queued)
        return queued

    async def fan_out_news(self) -> int:
        """Queues each region's new announcement for those who asked for it (each text once)."""
        queued = 0
        for region in self._regions:
            try:
                snapshot = await self._source.get(region)
            except SourceUnavailable:
                continue
            if snapshot is not None:
                queued += await fan_out_news(self._db, region, snapshot.notices, now=self._now())
        self._metrics.notifications_queued.labels("news").inc(queued)
        return queued

    async def queue_reminders(self) -> int:
        """Queues the reminders falling due before the next pass; each at most once (dedupe keys)."""
        # UTC: Kyiv wall-clock arithmetic and comparisons would be an hour off in the repeated autumn hour.
        now = as_utc(self._now())
        interval = timedelta(seconds=self._reminder_interval)
        end = now + interval
        previous = self._reminders_until
        # Carry on from the last window, but never reach back more than one pass: a reminder whose time
        # passed while the bot was down is no use. A first pass, or a clock set back, starts afresh.
        start = now - interval if previous is None or previous > end else max(previous, now - interval)
        queued = await queue_reminders(self._db, await self._schedules(), window_start=start, window_end=end)
        self._reminders_until = end
        self._metrics.notifications_queued.labels("reminder").inc(queued)
        return queued

    async def _schedules(self) -> dict[str, RegionSchedule]:
        # All regions at once: a bot that scrapes DTEK itself may wait long for each (retries, timeouts),
        # and one after another they would hold up the reminders and the heartbeat by their sum.
        snapshots = await asyncio.gather(*(self._schedule(region) for region in self._regions))
        return {
            region: schedule for region, schedule in zip(self._regions, snapshots, strict=True) if schedule
        }

    async def _schedule(self, region: str) -> RegionSchedule | None:
        try:
            snapshot = await self._source.get(region)
        except SourceUnavailable:
            return None
        return snapshot.schedule if snapshot is not None else None

    async def _watch_loop(self) -> None:
        await self.feed.run(interval_seconds=self._watch_interval, stop=self._stop, on_events=self._on_events)

    async def _on_events(self, events: list[ScheduleEvent]) -> None:
        # Every pass, not only when there are new events: a fan-out that failed is retried. Announcements
        # change apart from the schedule's version, so they are looked at every pass too (the cache's copy).
        await self.fan_out(events)
        await self.fan_out_news()

    async def watch_addresses(self) -> int:
        """Looks at the saved addresses' streets that are due and queues alerts of outages there."""
        if self._address_watch is None:
            return 0
        queued = await self._address_watch.run_once()
        self._metrics.notifications_queued.labels("outage").inc(queued)
        return queued

    async def _address_loop(self) -> None:
        while not self._stop.is_set():
            await self._guarded(self.watch_addresses)
            await wait_or_stop(self._stop, ADDRESS_WATCH_PASS_SECONDS)

    async def _outbox_loop(self) -> None:
        while not self._stop.is_set():
            try:
                await self.worker.run(self._stop)
            except Exception as exc:  # e.g. the DB unavailable for a while: never let delivery stop for good
                log_failure(log, "outbox worker failed, restarting it", exc)
                await wait_or_stop(self._stop, 5.0)

    async def prune(self) -> int:
        """Deletes delivery history older than ``HISTORY_KEPT`` so the bot's DB does not grow forever."""
        return await self._db.prune(as_utc(self._now()) - HISTORY_KEPT)

    async def beat(self) -> None:
        """Records the heartbeat: the background work goes on, and the outbox progressed if the worker sent
        something since the previous beat. The first beat of a run counts as progress: the worker has only
        just begun, and a health check should give it time before calling a backlog stuck."""
        sent = self.worker.sent
        progressed = self._sent_at_last_beat is None or sent > self._sent_at_last_beat
        await self._db.record_heartbeat(as_utc(self._now()), outbox_progressed=progressed)
        self._sent_at_last_beat = sent

    async def count_outbox(self) -> None:
        """Sets the outbox gauges from the database."""
        for status, count in (await self._db.outbox_counts()).items():
            self._metrics.outbox_messages.labels(status).set(count)

    async def _reminder_loop(self) -> None:
        last_pruned: datetime | None = None
        while not self._stop.is_set():
            await self._guarded(self.queue_reminders)
            await self._guarded(self.count_outbox)  # every pass: a minute's resolution is enough
            if last_pruned is None or as_utc(self._now()) - last_pruned >= HOUSEKEEPING_INTERVAL:
                await self._guarded(self.prune)
                last_pruned = as_utc(self._now())
            # After the pass's work: a pass that hangs stops the heartbeat, which is what it should show.
            await self._guarded(self.beat)
            await wait_or_stop(self._stop, self._reminder_interval)

    async def _guarded(self, step: Callable[[], Awaitable[object]]) -> None:
        try:
            await step()
        except Exception as exc:
            log_failure(log, f"background step {getattr(step, '__name__', step)} failed", exc)
