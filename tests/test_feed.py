"""Change detection end to end: the service's writer changes the shared DB, the bot's feed reports it once."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

from common.botdb import BotDB
from common.changes import EventKind, ScheduleEvent
from common.clock import KYIV
from common.dtek.fake_site import FakeDtekSite, sample_schedule
from common.notifications.feed import ChangeFeed
from common.notifications.watcher import Watcher
from common.schedule import RegionSchedule
from common.settings import SourceSettings
from common.source import CachedSource, SharedDbLoader, create_source
from common.store import ScheduleWriter
from tests.waiting import wait_until

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=KYIV)
TODAY = NOW.date()
TOMORROW = TODAY + timedelta(days=1)


def with_slots(schedule: RegionSchedule, day: date, group: str, slots: str) -> RegionSchedule:
    days = {d: dict(groups) for d, groups in schedule.days.items()}
    days.setdefault(day, {})[group] = slots
    return replace(schedule, days=days)


def only_today(schedule: RegionSchedule) -> RegionSchedule:
    return replace(schedule, days={TODAY: schedule.days[TODAY]})


async def publish(writer: ScheduleWriter, schedule: RegionSchedule) -> None:
    await writer.save(schedule, streets=None, fetched_at=NOW, duration_seconds=1.0)


def shared_feed(db: Path, bot_db: BotDB) -> tuple[ChangeFeed, CachedSource]:
    source = CachedSource(
        SharedDbLoader(db, now=lambda: NOW), ttl_seconds=1800, stale_after=timedelta(hours=2), now=lambda: NOW
    )
    return ChangeFeed(source, Watcher(bot_db, now=lambda: NOW), ["kem"]), source


async def test_shared_db_change_is_reported_once_and_survives_restart(tmp_path: Path) -> None:
    shared, local = tmp_path / "schedules.db", tmp_path / "bot.db"
    base = sample_schedule("kem", TODAY)
    async with await ScheduleWriter.open(shared) as writer:
        feed_db = await BotDB.open(local, now=lambda: NOW)
        feed, source = shared_feed(shared, feed_db)
        assert await feed.poll() == []  # no data yet: fine
        await publish(writer, only_today(base))
        assert await feed.poll() == []  # first sight of the region: baseline only

        await publish(writer, base)  # tomorrow published
        events = await feed.poll()
        assert {(e.kind, e.day) for e in events} == {(EventKind.PUBLISHED, TOMORROW)}
        assert len(events) == len(base.groups)
        assert await feed.poll() == []  # same version: not again

        changed = with_slots(base, TODAY, "GPV3.2", "-" * 48)
        await publish(writer, changed)
        events = await feed.poll()
        assert [(e.kind, e.group) for e in events] == [(EventKind.CHANGED, "GPV3.2")]
        await feed_db.close()
        await source.aclose()

        # The bot restarts; meanwhile the service commits another change.
        await publish(writer, with_slots(changed, TOMORROW, "GPV1.1", "?" * 48))
        feed_db = await BotDB.open(local, now=lambda: NOW)
        restarted, source = shared_feed(shared, feed_db)
        events = await restarted.poll()
        assert [(e.kind, e.group, e.day) for e in events] == [(EventKind.CHANGED, "GPV1.1", TOMORROW)]
        assert await restarted.poll() == []
        pending = await feed_db.pending_events()
        assert [p.event.kind for p in pending].count(EventKind.CHANGED) == 2
        await feed_db.close()
        await source.aclose()


async def test_run_loop_hands_events_over_and_stops(tmp_path: Path) -> None:
    shared = tmp_path / "schedules.db"
    base = sample_schedule("kem", TODAY)
    received: list[ScheduleEvent] = []

    async def on_events(events: list[ScheduleEvent]) -> None:
        received.extend(events)

    async with (
        await ScheduleWriter.open(shared) as writer,
        await BotDB.open(tmp_path / "bot.db", now=lambda: NOW) as bot_db,
    ):
        await publish(writer, base)
        feed, source = shared_feed(shared, bot_db)
        stop = asyncio.Event()
        task = asyncio.create_task(feed.run(interval_seconds=0.05, stop=stop, on_events=on_events))

        async def baseline_taken() -> bool:
            return await bot_db.load_baseline("kem") is not None

        await wait_until(baseline_taken)
        await publish(writer, with_slots(base, TODAY, "GPV2.1", "+" * 48))
        await wait_until(lambda: bool(received))
        stop.set()
        await asyncio.wait_for(task, timeout=5)
        await source.aclose()
    assert [(e.kind, e.group) for e in received] == [(EventKind.CHANGED, "GPV2.1")]


async def test_standalone_refresh_feeds_the_same_watcher(tmp_path: Path) -> None:
    base = sample_schedule("kem", TODAY)
    async with FakeDtekSite() as site, await BotDB.open(tmp_path / "bot.db", now=lambda: NOW) as bot_db:
        site.publish(only_today(base))
        settings = SourceSettings(dtek_url_template=site.url_template, dtek_retry_attempts=1, _env_file=None)
        source = create_source(settings, now=lambda: NOW)
        feed = ChangeFeed(source, Watcher(bot_db, now=lambda: NOW), ["kem"])
        assert await feed.poll() == []
        assert base.updated is not None
        site.publish(replace(base, updated=base.updated + timedelta(hours=1)))  # DTEK dates each change
        assert await feed.poll() == []  # still cached: the bot does not scrape before the TTL ends
        await source.refresh("kem")
        events = await feed.poll()
        assert {e.kind for e in events} == {EventKind.PUBLISHED}
        # One request to DTEK: the change probe on the page's session, not a second page load.
        assert (site.hits["kem"], site.probe_calls["kem"]) == (1, 1)
        await source.aclose()
