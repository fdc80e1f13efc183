"""The bots' schedule source: TTL cache, single flight, stale-if-error, forced refresh, both loaders."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypedDict, Unpack

import pytest

from common.clock import KYIV, Now
from common.dtek.errors import FetchError
from common.dtek.fake_site import SAMPLE_STREETS, FakeDtekSite, sample_schedule
from common.dtek.fetch import DtekFetcher
from common.dtek.parse import Streets
from common.metrics import Metrics
from common.schedule import RegionSchedule
from common.settings import DtekSettings, SourceSettings
from common.source import (
    CachedSource,
    RefreshTooSoon,
    ScheduleLoader,
    ScrapeLoader,
    SharedDbLoader,
    Snapshot,
    SourceUnavailable,
    create_source,
)
from common.store import ScheduleWriter
from tests.metrics_helpers import by_label
from tests.waiting import wait_until

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=KYIV)
TODAY = NOW.date()


class FakeClock:
    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


class CountingLoader:
    """A loader whose loads can be held open, fail on demand and are counted."""

    mode = "standalone"

    def __init__(self) -> None:
        self.loads = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False

    async def load(self, region: str) -> Snapshot:
        self.loads += 1
        await self.gate.wait()
        if self.fail:
            raise FetchError("HTTP 503")
        schedule = sample_schedule(region, TODAY)
        return Snapshot(schedule, f"v{self.loads}", NOW)

    async def version(self, region: str) -> str | None:
        return None

    async def streets(self, region: str) -> Streets | None:
        return None

    async def aclose(self) -> None:
        pass


class Tuning(TypedDict, total=False):
    """The CachedSource settings a test may choose; the rest keep CachedSource's defaults."""

    force_interval_seconds: float
    failure_cooldown_seconds: float | None
    metrics: Metrics


def cached(
    loader: ScheduleLoader,
    clock: FakeClock,
    now: Now = lambda: NOW,
    ttl_seconds: float = 1800,
    **tuning: Unpack[Tuning],
) -> CachedSource:
    return CachedSource(
        loader, clock=clock, now=now, ttl_seconds=ttl_seconds, stale_after=timedelta(minutes=90), **tuning
    )


async def loaded(pending: Awaitable[Snapshot | None]) -> Snapshot:
    """What a source call returns, when the test has made sure there is data."""
    snapshot = await pending
    assert snapshot is not None
    return snapshot


async def test_single_flight_under_many_concurrent_misses() -> None:
    loader, clock = CountingLoader(), FakeClock()
    source = cached(loader, clock)
    loader.gate.clear()
    waiters = [asyncio.create_task(source.get("kem")) for _ in range(200)]
    await asyncio.sleep(0.01)
    assert loader.loads == 1
    loader.gate.set()
    results = await asyncio.gather(*waiters)
    assert loader.loads == 1
    assert {r.version if r else None for r in results} == {"v1"}


async def test_a_cancelled_caller_does_not_cancel_the_shared_load() -> None:
    loader, clock = CountingLoader(), FakeClock()
    source = cached(loader, clock)
    loader.gate.clear()
    impatient = asyncio.create_task(source.get("kem"))
    patient = asyncio.create_task(source.get("kem"))
    await asyncio.sleep(0.01)
    impatient.cancel()
    loader.gate.set()
    assert (await loaded(patient)).version == "v1"
    assert loader.loads == 1


async def test_ttl_expiry_with_a_fake_clock() -> None:
    loader, clock = CountingLoader(), FakeClock()
    source = cached(loader, clock, ttl_seconds=1800)
    assert (await loaded(source.get("kem"))).version == "v1"
    clock.seconds += 1799
    assert (await loaded(source.get("kem"))).version == "v1"
    assert loader.loads == 1
    clock.seconds += 2
    assert (await loaded(source.get("kem"))).version == "v2"
    assert loader.loads == 2


async def test_stale_if_error_and_cooldown() -> None:
    loader, clock = CountingLoader(), FakeClock()
    source = cached(loader, clock, failure_cooldown_seconds=300)
    good = await loaded(source.get("kem"))
    assert not good.stale
    loader.fail = True
    clock.seconds += 1801
    stale = await loaded(source.get("kem"))
    assert stale.stale
    assert "HTTP 503" in (stale.error or "")
    assert stale.schedule == good.schedule
    assert loader.loads == 2
    for _ in range(5):  # users asking again during the cooldown do not reach upstream
        assert (await loaded(source.get("kem"))).stale
    assert loader.loads == 2
    clock.seconds += 301
    loader.fail = False
    assert not (await loaded(source.get("kem"))).stale
    assert loader.loads == 3


async def test_failure_without_earlier_data_is_unavailable() -> None:
    loader, clock = CountingLoader(), FakeClock()
    loader.fail = True
    source = cached(loader, clock)
    with pytest.raises(SourceUnavailable, match="no schedule for kem yet"):
        await source.get("kem")


async def test_old_data_is_marked_stale_by_age() -> None:
    loader, clock = CountingLoader(), FakeClock()
    later = NOW + timedelta(minutes=91)
    source = cached(loader, clock, now=lambda: later)
    snapshot = await loaded(source.get("kem"))
    assert snapshot.stale
    assert snapshot.error is None
    assert snapshot.age(later) == timedelta(minutes=91)


async def test_forced_refresh_is_rate_limited_bot_wide() -> None:
    loader, clock = CountingLoader(), FakeClock()
    source = cached(loader, clock, force_interval_seconds=300)
    await source.get("kem")
    assert (await loaded(source.refresh("kem", force=True))).version == "v2"
    with pytest.raises(RefreshTooSoon) as info:
        await source.refresh("oem", force=True)  # another region, same bot-wide limit
    assert 299 <= info.value.retry_after <= 300
    assert loader.loads == 2
    clock.seconds += 301
    assert (await loaded(source.refresh("oem", force=True))).version == "v3"


async def test_lookups_are_counted_as_hits_misses_and_stale() -> None:
    loader, clock, metrics = CountingLoader(), FakeClock(), Metrics()
    source = cached(loader, clock, failure_cooldown_seconds=300, metrics=metrics)
    await source.get("kem")  # loaded
    await source.latest("kem")  # cached
    loader.fail = True
    clock.seconds += 1801
    await source.get("kem")  # the load fails: the last good data, marked stale
    with pytest.raises(SourceUnavailable):
        await source.get("oem")  # a failed load with nothing to fall back on is still a miss
    await source.refresh("kem")  # not a lookup

    counted = by_label(metrics, "dtek_cache_lookups_total", "result", ("hit", "miss", "stale"))
    assert counted == {"hit": 1, "miss": 2, "stale": 1}


# --- shared mode -----------------------------------------------------------------------------------


async def save(db: Path, schedule: RegionSchedule, at: datetime = NOW) -> None:
    async with await ScheduleWriter.open(db) as writer:
        await writer.save(schedule, streets=SAMPLE_STREETS, fetched_at=at, duration_seconds=1.0)


async def test_shared_mode_tolerates_a_missing_file_then_picks_data_up(tmp_path: Path) -> None:
    db = tmp_path / "shared" / "schedules.db"
    source = cached(SharedDbLoader(db, now=lambda: NOW), FakeClock())
    assert await source.get("kem") is None  # "no data yet", not an error
    assert not db.exists()  # the bot never creates the service's file
    await save(db, sample_schedule("kem", TODAY))
    snapshot = await source.get("kem")
    assert snapshot is not None
    assert snapshot.version == "1"
    assert await source.streets("kem") == SAMPLE_STREETS
    await source.aclose()


async def test_shared_mode_cheap_version_check_finds_a_new_version(tmp_path: Path) -> None:
    db = tmp_path / "schedules.db"
    await save(db, sample_schedule("kem", TODAY))
    source = cached(SharedDbLoader(db, now=lambda: NOW), FakeClock())
    assert (await loaded(source.get("kem"))).version == "1"
    changed = sample_schedule("kem", TODAY, groups=2)
    await save(db, changed)
    assert (await loaded(source.get("kem"))).version == "1"  # still cached
    latest = await loaded(source.latest("kem"))
    assert latest.version == "2"
    assert latest.schedule.to_canonical() == changed.to_canonical()
    await source.aclose()


async def test_shared_connection_is_read_only(tmp_path: Path) -> None:
    db = tmp_path / "schedules.db"
    await save(db, sample_schedule("kem", TODAY))
    loader = SharedDbLoader(db, now=lambda: NOW)
    await loader.load("kem")
    assert loader._reader is not None
    connection = loader._reader._db  # the bot's own connection to the shared DB
    with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only|query_only|attempt to write"):
        await connection.execute("DELETE FROM scrapes")
    await loader.aclose()


# --- standalone mode -------------------------------------------------------------------------------


async def test_standalone_mode_scrapes_the_fake_site() -> None:
    async with FakeDtekSite() as site:
        site.publish(sample_schedule("kem", TODAY), streets=SAMPLE_STREETS)
        settings = SourceSettings(dtek_url_template=site.url_template, dtek_retry_attempts=1, _env_file=None)
        source = create_source(settings, now=lambda: NOW)
        assert source.mode == "standalone"
        snapshot = await loaded(source.get("kem"))
        assert snapshot.schedule.days[TODAY]["GPV3.2"] == sample_schedule("kem", TODAY).days[TODAY]["GPV3.2"]
        assert snapshot.version == snapshot.schedule.content_hash()
        assert await source.streets("kem") == SAMPLE_STREETS
        await source.get("kem")
        assert site.hits["kem"] == 1  # served from the cache
        await source.aclose()


async def test_misses_while_dtek_holds_its_answer_share_one_page_load() -> None:
    async with FakeDtekSite() as site:
        site.publish(sample_schedule("kem", TODAY))
        template = site.url_template_for("bot")
        settings = SourceSettings(dtek_url_template=template, dtek_retry_attempts=1, _env_file=None)
        source = create_source(settings, now=lambda: NOW)
        site.answering.clear()
        waiters = [asyncio.create_task(source.get("kem")) for _ in range(50)]
        await wait_until(lambda: site.client_hits["bot"] == 1)
        site.answering.set()
        versions = {snapshot.version if snapshot else None for snapshot in await asyncio.gather(*waiters)}
        assert versions == {sample_schedule("kem", TODAY).content_hash()}
        assert site.client_hits == {"bot": 1}  # the page, counted for its client and its region
        assert site.hits["kem"] == 1
        await source.aclose()


async def test_standalone_block_serves_last_good_data_marked_stale() -> None:
    async with FakeDtekSite() as site:
        site.publish(sample_schedule("kem", TODAY))
        fetcher = DtekFetcher(
            DtekSettings(dtek_url_template=site.url_template, dtek_retry_attempts=1, _env_file=None)
        )
        clock = FakeClock()
        source = cached(ScrapeLoader(fetcher, now=lambda: NOW), clock)
        good = await loaded(source.get("kem"))
        site.blocked.add("kem")
        clock.seconds += 1801
        stale = await loaded(source.get("kem"))
        assert stale.stale
        assert "blocked" in (stale.error or "")
        assert stale.schedule == good.schedule
        await source.aclose()


def test_settings_choose_the_mode(tmp_path: Path) -> None:
    shared = create_source(
        SourceSettings(schedule_db_url=f"sqlite:///{tmp_path}/s.db", _env_file=None), now=lambda: NOW
    )
    assert shared.mode == "shared"
    assert (
        create_source(SourceSettings(schedule_db_url="  ", _env_file=None), now=lambda: NOW).mode
        == "standalone"
    )
    with pytest.raises(ValueError, match="SQLite"):
        create_source(
            SourceSettings(schedule_db_url="postgresql://u:p@h/db", _env_file=None), now=lambda: NOW
        )


def test_snapshot_age() -> None:
    snapshot = Snapshot(RegionSchedule(region="kem", updated=None), "1", NOW)
    assert snapshot.age(NOW + timedelta(hours=2)) == timedelta(hours=2)


def test_snapshot_age_across_the_repeated_autumn_hour() -> None:
    first_pass = datetime(2026, 10, 25, 3, 50, tzinfo=KYIV)  # 00:50 UTC
    snapshot = Snapshot(RegionSchedule(region="kem", updated=None), "1", first_pass)
    assert snapshot.age(datetime(2026, 10, 25, 3, 20, tzinfo=KYIV, fold=1)) == timedelta(minutes=30)


async def test_standalone_probes_instead_of_reloading_the_page_while_the_session_is_fresh() -> None:
    async with FakeDtekSite() as site:
        first = sample_schedule("kem", TODAY)
        site.publish(first, streets=SAMPLE_STREETS)
        fetcher = DtekFetcher(
            DtekSettings(dtek_url_template=site.url_template, dtek_retry_attempts=1, _env_file=None)
        )
        clock = FakeClock()
        loader = ScrapeLoader(fetcher, now=lambda: NOW, session_max_age_seconds=7200, clock=clock)
        source = cached(loader, clock)
        assert (await loaded(source.get("kem"))).version == first.content_hash()
        clock.seconds += 1801  # the cache expires: a probe, not the page
        assert (await loaded(source.get("kem"))).version == first.content_hash()
        assert (site.hits["kem"], site.probe_calls["kem"]) == (1, 1)

        assert first.updated is not None
        changed = replace(first, updated=first.updated + timedelta(hours=1), days={})
        site.publish(changed)
        clock.seconds += 1801
        assert (await loaded(source.get("kem"))).version == changed.content_hash()
        assert (site.hits["kem"], site.probe_calls["kem"]) == (1, 2)
        assert await source.streets("kem") == SAMPLE_STREETS  # from the page, kept

        site.expire_sessions()  # a stale token: the probe gets 400, the page is loaded instead
        clock.seconds += 1801
        assert (await loaded(source.get("kem"))).version == changed.content_hash()
        assert (site.hits["kem"], site.probe_calls["kem"]) == (2, 3)

        clock.seconds += 7201  # the session is too old to probe with: the page again
        await source.get("kem")
        assert (site.hits["kem"], site.probe_calls["kem"]) == (3, 3)
        await source.aclose()
