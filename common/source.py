"""Where the bots get schedules: the shared DB (shared mode) or their own scrape (standalone mode),
behind an in-memory TTL cache with single flight and stale-if-error.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from cachetools import TTLCache

from common.clock import Now, as_utc
from common.dtek.errors import BlockedPageError, DtekError
from common.dtek.fetch import DtekFetcher
from common.dtek.parse import Streets, parse_page, parse_update_answer, update_text
from common.metrics import Metrics
from common.notices import PageNotices, StoredNotices, same_announcement
from common.schedule import RegionSchedule
from common.settings import SourceSettings
from common.store import ScheduleReader, SchemaVersionError, database_path, shown_version

log = logging.getLogger(__name__)

Clock = Callable[[], float]  # monotonic seconds, for the TTL cache and rate limits


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One region's schedule as a bot holds it."""

    schedule: RegionSchedule
    version: str  # changes whenever the content changes
    fetched_at: datetime  # when the data came from DTEK
    stale: bool = False  # the last refresh failed, or the data is older than the stale limit
    error: str | None = None  # why the last refresh failed
    notices: StoredNotices | None = None  # what DTEK says on the page; None: not known

    def age(self, now: datetime) -> timedelta:
        # In UTC: two Kyiv times subtract as wall-clock times, an hour off across the autumn repeated hour.
        return as_utc(now) - as_utc(self.fetched_at)


class SourceUnavailable(Exception):
    """No data could be loaded and there is no earlier data to fall back on."""


class RefreshTooSoon(Exception):
    """A forced refresh was asked for too soon after the previous one."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"a forced refresh is possible again in {retry_after:.0f} s")
        self.retry_after = retry_after


class ScheduleLoader(Protocol):
    mode: str

    async def load(self, region: str) -> Snapshot | None:
        """The region's data now; None when there is none yet (not an error)."""

    async def version(self, region: str) -> str | None:
        """A cheap version check; None when this loader cannot tell without loading."""

    async def streets(self, region: str) -> Streets | None: ...

    async def aclose(self) -> None: ...


class SharedDbLoader:
    """Reads the shared DB the schedule service writes, read-only, tolerating a file that isn't there yet."""

    mode = "shared"

    def __init__(self, path: Path, *, now: Now) -> None:
        self._path = path
        self._now = now
        self._reader: ScheduleReader | None = None
        self._file: tuple[int, int] | None = None  # (device, inode) of the file the reader has open
        self._closed = False

    async def _open(self) -> ScheduleReader | None:
        if self._reader is not None and _file_identity(self._path) != self._file:
            # Deleted or replaced (a restore, a new volume): the open connection would read the old file
            # for ever. The next open reads the new one; a missing one fails, so the cache serves stale data.
            log.warning("shared schedule DB %s was deleted or replaced: opening it again", self._path)
            reader, self._reader = self._reader, None
            await reader.close()
        if self._reader is None and not self._closed:
            identity = _file_identity(self._path)
            try:
                reader = await ScheduleReader.open(self._path)
            except (FileNotFoundError, SchemaVersionError) as exc:
                if self._file is not None and isinstance(exc, FileNotFoundError):
                    raise  # it was there: an error, not "no data yet"
                # The service has not created (or migrated) the file yet: "no data yet", try again later.
                log.info("shared schedule DB not ready: %s", exc)
                return None
            if self._closed or self._reader is not None:  # closed, or opened by another caller, meanwhile
                await reader.close()
            else:
                self._reader, self._file = reader, identity
        return self._reader

    async def load(self, region: str) -> Snapshot | None:
        reader = await self._open()
        stored = await reader.load(region) if reader else None
        if stored is None:
            return None
        version = shown_version(stored.version, stored.notices)
        return Snapshot(stored.schedule, version, stored.fetched_at, notices=stored.notices)

    async def version(self, region: str) -> str | None:
        reader = await self._open()
        if reader is None:
            return None
        return (await reader.shown_versions()).get(region)

    async def streets(self, region: str) -> Streets | None:
        reader = await self._open()
        return await reader.streets(region) if reader else None

    async def aclose(self) -> None:
        self._closed = True  # a load still running must not open a new connection after this
        if self._reader is not None:
            await self._reader.close()
            self._reader = None


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


class PageFetcher(Protocol):
    async def fetch_page(self, region: str) -> str: ...

    async def check_update(self, region: str, update: str) -> dict[str, Any] | None: ...

    async def aclose(self) -> None: ...


# How long a loaded page's session serves the change probe; then the page is loaded again, which renews the
# session and the street list (the probe's answer carries neither).
SESSION_MAX_AGE_SECONDS = 2 * 3600.0


@dataclass(slots=True)
class _Held:
    snapshot: Snapshot
    update: str | None  # DTEK's fact.update of the data held: what the probe sends
    page_loaded: float  # clock time of the page load whose session the probe uses


class ScrapeLoader:
    """Scrapes DTEK itself (standalone mode); the parse runs in a thread to keep the event loop free.

    With ``session_max_age_seconds`` above 0, a load within that time of the last page load asks DTEK's
    change probe (``checkDisconUpdate``, a tiny request on the page's session) instead of reloading the
    800 KB page, as the service does between its full scrapes. A probe that fails other than by a block
    falls back to loading the page; a block is not worth a second request and fails the load.
    """

    mode = "standalone"

    def __init__(
        self,
        fetcher: PageFetcher,
        *,
        now: Now,
        session_max_age_seconds: float = 0.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self._fetcher = fetcher
        self._now = now
        self._session_max_age = session_max_age_seconds
        self._clock = clock
        self._streets: dict[str, Streets] = {}
        self._held: dict[str, _Held] = {}
        self._notices: dict[str, StoredNotices] = {}

    async def load(self, region: str) -> Snapshot:
        held = self._held.get(region)
        if held is not None and self._clock() - held.page_loaded < self._session_max_age:
            probed = await self._probe(region, held)
            if probed is not None:
                return probed
        return await self._load_page(region)

    async def _load_page(self, region: str) -> Snapshot:
        loaded = self._clock()
        html = await self._fetcher.fetch_page(region)
        page = await asyncio.to_thread(parse_page, html, region=region)
        if page.streets is not None:
            self._streets[region] = page.streets
        fetched_at = self._now()
        notices = self._seen(region, page.notices, fetched_at)
        snapshot = Snapshot(page.schedule, page.schedule.content_hash(), fetched_at, notices=notices)
        self._held[region] = _Held(snapshot, update_text(page.schedule.updated), loaded)
        return snapshot

    def _seen(self, region: str, notices: PageNotices, at: datetime) -> StoredNotices:
        """The notices with the announcement's first sighting in this process (the shared DB's rule)."""
        previous = self._notices.get(region)
        announced_at = None
        if notices.announcement is not None:
            same = previous is not None and same_announcement(previous.announcement, notices.announcement)
            announced_at = previous.announced_at if same and previous is not None else at
        self._notices[region] = StoredNotices(notices, announced_at)
        return self._notices[region]

    async def _probe(self, region: str, held: _Held) -> Snapshot | None:
        """The data after a probe; None when the page must be loaded instead."""
        if held.update is None:
            return None
        try:
            answer = await self._fetcher.check_update(region, held.update)
            if answer is None:  # no session left to ask with
                return None
            if not answer["result"]:
                held.snapshot = replace(held.snapshot, fetched_at=self._now())  # confirmed current
                return held.snapshot
            parsed = parse_update_answer(answer, region=region)
        except BlockedPageError:
            raise
        except DtekError as exc:
            log.warning("probe region=%s failed, loading the page instead: %s", region, exc)
            return None
        # The probe's answer has no page: the notices stay those of the last page load.
        notices = held.snapshot.notices
        held.snapshot = Snapshot(
            parsed.schedule, parsed.schedule.content_hash(), self._now(), notices=notices
        )
        held.update = parsed.update or held.update
        log.info("probe region=%s outcome=changed update=%s", region, held.update)
        return held.snapshot

    async def version(self, region: str) -> str | None:
        return None  # only a new scrape can tell; the cache's TTL decides when that happens

    async def streets(self, region: str) -> Streets | None:
        return self._streets.get(region)

    async def aclose(self) -> None:
        await self._fetcher.aclose()


class CachedSource:
    """The TTL cache in front of a loader.

    - Single flight: however many callers miss at once, one load runs and all of them get its result.
    - Stale-if-error: a failed load serves the last good data marked stale; the failure is remembered for
      ``failure_cooldown`` seconds so that users asking again do not hammer DTEK.
    - Forced refreshes are rate-limited across the whole bot.
    - Lookups (:meth:`get`, :meth:`latest`) are counted in ``metrics`` as hits, misses or stale answers;
      a refresh is not a lookup.
    """

    def __init__(
        self,
        loader: ScheduleLoader,
        *,
        ttl_seconds: float,
        stale_after: timedelta,
        force_interval_seconds: float = 300.0,
        failure_cooldown_seconds: float | None = None,
        now: Now,
        clock: Clock = time.monotonic,
        metrics: Metrics | None = None,
    ) -> None:
        self.loader = loader
        self._fresh: TTLCache[str, Snapshot] = TTLCache(maxsize=64, ttl=ttl_seconds, timer=clock)
        self._last_good: dict[str, Snapshot] = {}
        self._failed: dict[str, tuple[float, str]] = {}  # region -> (retry after, error)
        self._inflight: dict[str, asyncio.Task[Snapshot | None]] = {}
        self._stale_after = stale_after
        self._force_interval = force_interval_seconds
        self._failure_cooldown = (
            failure_cooldown_seconds if failure_cooldown_seconds is not None else min(ttl_seconds, 300.0)
        )
        self._last_forced: float | None = None
        self._clock = clock
        self._now = now
        self._lookups = (metrics or Metrics()).cache_lookups

    @property
    def mode(self) -> str:
        return self.loader.mode

    async def get(self, region: str) -> Snapshot | None:
        """The region's schedule: cached, else loaded once. None when there is no data yet.

        Raises ``SourceUnavailable`` when loading fails and nothing was ever loaded.
        """
        cached = self._fresh.get(region)
        if cached is not None:
            return self._counted("hit", self._marked(cached))
        try:
            loaded = await self._load_once(region)
        except SourceUnavailable:
            self._lookups.labels("miss").inc()
            raise
        return self._counted("miss", self._marked(loaded))

    def at_hand(self, region: str) -> bool:
        """Whether :meth:`get` answers without waiting for DTEK: the region's data is cached, or the
        loader reads the local shared DB (fast, cached or not)."""
        return self.mode != ScrapeLoader.mode or region in self._fresh

    async def latest(self, region: str) -> Snapshot | None:
        """Like :meth:`get`, but first asks the loader cheaply whether a newer version exists."""
        cached = self._fresh.get(region)
        version = await self.loader.version(region)
        if cached is not None and version is not None and version != cached.version:
            self._fresh.pop(region, None)
        return await self.get(region)

    async def refresh(self, region: str, *, force: bool = False) -> Snapshot | None:
        """Drops the cached copy and loads again. ``force`` (admins) is rate-limited bot-wide."""
        if force:
            now = self._clock()
            if self._last_forced is not None and now - self._last_forced < self._force_interval:
                raise RefreshTooSoon(self._force_interval - (now - self._last_forced))
            self._last_forced = now
            self._failed.pop(region, None)
        self._fresh.pop(region, None)
        return self._marked(await self._load_once(region))

    async def streets(self, region: str) -> Streets | None:
        streets = await self.loader.streets(region)
        if streets is None and self.mode == "standalone":
            await self.get(region)  # the page carries the streets
            streets = await self.loader.streets(region)
        return streets

    async def aclose(self) -> None:
        for task in self._inflight.values():
            task.cancel()
        await self.loader.aclose()

    async def _load_once(self, region: str) -> Snapshot | None:
        task = self._inflight.get(region)
        if task is None:
            task = asyncio.create_task(self._load(region), name=f"load-{region}")
            self._inflight[region] = task
            task.add_done_callback(lambda _: self._inflight.pop(region, None))
        # shield: a caller that gives up (timeout, cancelled handler) must not cancel everybody's load
        return await asyncio.shield(task)

    async def _load(self, region: str) -> Snapshot | None:
        failed = self._failed.get(region)
        if failed is not None and self._clock() < failed[0]:
            return self._fallback(region, failed[1])
        try:
            snapshot = await self.loader.load(region)
        except (DtekError, sqlite3.Error, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("loading %s failed (%s mode): %s", region, self.mode, error)
            self._failed[region] = (self._clock() + self._failure_cooldown, error)
            return self._fallback(region, error)
        self._failed.pop(region, None)
        if snapshot is not None:
            self._fresh[region] = snapshot
            self._last_good[region] = snapshot
        return snapshot

    def _fallback(self, region: str, error: str) -> Snapshot:
        last = self._last_good.get(region)
        if last is None:
            raise SourceUnavailable(f"no schedule for {region} yet: {error}")
        return replace(last, stale=True, error=error)

    def _counted(self, result: str, snapshot: Snapshot | None) -> Snapshot | None:
        """Counts a lookup as ``result``, or as stale when it serves stale data."""
        self._lookups.labels("stale" if snapshot is not None and snapshot.stale else result).inc()
        return snapshot

    def _marked(self, snapshot: Snapshot | None) -> Snapshot | None:
        if snapshot is None or snapshot.stale:
            return snapshot
        if snapshot.age(self._now()) > self._stale_after:
            return replace(snapshot, stale=True)
        return snapshot


def create_source(settings: SourceSettings, *, now: Now, metrics: Metrics | None = None) -> CachedSource:
    """Shared mode when ``SCHEDULE_DB_URL`` is set, standalone (own scrape) otherwise."""
    loader: ScheduleLoader
    if settings.schedule_db_url:
        loader = SharedDbLoader(database_path(settings.schedule_db_url), now=now)
    else:
        # The probe replaces page loads within a session's life, unless DTEK_PROBE_INTERVAL_SECONDS=0.
        probing = SESSION_MAX_AGE_SECONDS if settings.dtek_probe_interval_seconds > 0 else 0.0
        loader = ScrapeLoader(DtekFetcher(settings), now=now, session_max_age_seconds=probing)
    return CachedSource(
        loader,
        ttl_seconds=settings.cache_duration_minutes * 60,
        stale_after=timedelta(minutes=settings.stale_after_minutes),
        force_interval_seconds=settings.force_refresh_interval_minutes * 60,
        now=now,
        metrics=metrics,
    )
