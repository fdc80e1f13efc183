"""DTEK load benchmark: the requests DTEK sees per region and hour in shared mode against standalone mode with
two bots, page loads and probes apart.

Shared mode: the schedule service alone (its real loop, scaled in time as in :mod:`benchmarks.change_probe`,
changes published meanwhile); the bots read the shared DB and load nothing from DTEK (tests/test_fleet.py
checks that the fake site sees no request of theirs). Standalone mode: two bots' schedule sources
(``create_source`` without ``SCHEDULE_DB_URL``: the scrape loader, probing within a page's session), each
driven as a bot drives it: the change feed asks the source every ``WATCH_INTERVAL_SECONDS`` (60), the cache
keeps a load ``CACHE_DURATION_MINUTES`` (30). Both run against the fake DTEK site with every interval divided
by the same scale; the counts are per real hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import common.source as source_module
from benchmarks.change_probe import PROBE_SECONDS, REGION, WATCH_INTERVAL_SECONDS, Result, run_all
from benchmarks.suite import Row, ratio
from common.botdb import BotDB
from common.clock import kyiv_now
from common.dtek.fake_site import FakeDtekSite, sample_schedule
from common.notifications.feed import ChangeFeed
from common.notifications.watcher import Watcher
from common.settings import SourceSettings
from common.source import create_source

SCALE = 300.0  # real time / wall time
CACHE_MINUTES = 30.0  # CACHE_DURATION_MINUTES' default
BOTS = 2
SESSION_MAX_AGE_SECONDS = source_module.SESSION_MAX_AGE_SECONDS


@dataclass(frozen=True)
class Load:
    """What the fake site counted for the region over ``hours`` real hours."""

    hours: float
    pages: int
    warmups: int
    probes: int

    @property
    def pages_per_hour(self) -> float:
        return self.pages / self.hours

    @property
    def probes_per_hour(self) -> float:
        return self.probes / self.hours

    @property
    def requests_per_hour(self) -> float:
        return (self.pages + self.warmups + self.probes) / self.hours


def from_result(result: Result) -> Load:
    return Load(result.hours, result.pages, result.warmups, result.probes)


def bot_settings(site: FakeDtekSite, bot: int, probe_seconds: float) -> SourceSettings:
    """A standalone bot's source settings, its intervals scaled; its page loads count as ``bot{bot}``."""
    return SourceSettings(
        _env_file=None,
        dtek_url_template=site.url_template_for(f"bot{bot}"),
        dtek_regions=[REGION],
        dtek_retry_attempts=1,
        dtek_probe_interval_seconds=probe_seconds / SCALE,
        cache_duration_minutes=CACHE_MINUTES / SCALE,
    )


async def run_standalone_bots(site: FakeDtekSite, probe_seconds: float, wall_seconds: float) -> float:
    """Each bot's source, asked by its change feed, for ``wall_seconds``; the real hours that ran."""
    stop = asyncio.Event()
    with tempfile.TemporaryDirectory() as folder:
        async with contextlib.AsyncExitStack() as stack:
            feeds = []
            for bot in range(1, BOTS + 1):
                source = create_source(bot_settings(site, bot, probe_seconds), now=kyiv_now)
                stack.push_async_callback(source.aclose)
                db = await stack.enter_async_context(
                    await BotDB.open(Path(folder) / f"bot{bot}.db", now=kyiv_now)
                )
                feeds.append(ChangeFeed(source, Watcher(db, now=kyiv_now), [REGION]))
            started = time.monotonic()
            tasks = [
                asyncio.create_task(feed.run(interval_seconds=WATCH_INTERVAL_SECONDS / SCALE, stop=stop))
                for feed in feeds
            ]
            await asyncio.sleep(wall_seconds)
            stop.set()
            await asyncio.gather(*tasks)
            return (time.monotonic() - started) * SCALE / 3600


async def standalone(probe_seconds: float, wall_seconds: float) -> Load:
    # A probe replaces a page load within a page's session life (2 h): scaled down like every interval.
    source_module.SESSION_MAX_AGE_SECONDS = SESSION_MAX_AGE_SECONDS / SCALE
    try:
        async with FakeDtekSite() as site:
            site.publish(sample_schedule(REGION, kyiv_now().date()))
            hours = await run_standalone_bots(site, probe_seconds, wall_seconds)
            return Load(hours, site.hits[REGION], site.hits["/"], site.probe_calls[REGION])
    finally:
        source_module.SESSION_MAX_AGE_SECONDS = SESSION_MAX_AGE_SECONDS


def rows(label: str, shared: Load, alone: Load) -> list[Row]:
    note = (
        f"shared: the service over {shared.hours:.1f} real h; standalone: {BOTS} bots over {alone.hours:.1f} real h; "
        f"time scaled 1/{SCALE:g}; warm-ups (one per session start) in the total only"
    )
    figures = [
        ("page loads", shared.pages_per_hour, alone.pages_per_hour),
        ("probes", shared.probes_per_hour, alone.probes_per_hour),
        ("requests in all", shared.requests_per_hour, alone.requests_per_hour),
    ]
    return [
        Row(
            f"DTEK {what}/h per region, {label}: shared vs standalone with {BOTS} bots",
            f"{value:.2f}",
            f"{baseline:.2f}",
            ratio(value, baseline),
            note,
        )
        for what, value, baseline in figures
        if value or baseline
    ]


async def run(quick: bool) -> list[Row]:
    wall_seconds = 10.0 if quick else 45.0
    probe_on, probe_off = (from_result(result) for result in await run_all(SCALE, wall_seconds))
    return [
        *rows(f"probe on ({PROBE_SECONDS:g} s)", probe_on, await standalone(PROBE_SECONDS, wall_seconds)),
        *rows("probe off", probe_off, await standalone(0.0, wall_seconds)),
    ]
