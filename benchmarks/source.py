"""Source benchmark: what a bot's schedule request costs (``CachedSource.get``), answered from the in-memory
cache, from the shared DB on a miss (shared mode), and on a miss in standalone mode from a scrape of the local
fake DTEK site (the page load and parse) or from DTEK's change probe (what a standalone bot does within a
page's session); then single flight: N concurrent requests on a cold cache and how many upstream loads they
caused.

Sources come from ``create_source`` as the bots build them. A miss is a new ``CachedSource`` (an empty cache)
over the same loader, so that the loader keeps what a running bot keeps: its DB connection, its HTTP client.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from benchmarks.suite import Row, median, ms, percentile, repeats
from common.clock import kyiv_now
from common.dtek.fake_site import SAMPLE_STREETS, FakeDtekSite, sample_schedule
from common.dtek.parse import Streets
from common.settings import SourceSettings
from common.source import CachedSource, ScheduleLoader, Snapshot, create_source
from common.store import ScheduleWriter

REGION = "kem"
CONCURRENCY = (1, 100, 1000)


class CountingLoader:
    """Passes everything to the real loader and counts its loads: the upstream loads of shared mode."""

    def __init__(self, inner: ScheduleLoader) -> None:
        self.inner = inner
        self.mode = inner.mode
        self.loads = 0

    async def load(self, region: str) -> Snapshot | None:
        self.loads += 1
        return await self.inner.load(region)

    async def version(self, region: str) -> str | None:
        return await self.inner.version(region)

    async def streets(self, region: str) -> Streets | None:
        return await self.inner.streets(region)

    async def aclose(self) -> None:
        await self.inner.aclose()


def cold(source: CachedSource, loader: ScheduleLoader | None = None) -> CachedSource:
    """A source with an empty cache over ``source``'s loader (or ``loader``), as ``create_source`` sets it."""
    return CachedSource(
        loader or source.loader, ttl_seconds=1800, stale_after=timedelta(minutes=90), now=kyiv_now
    )


@contextlib.asynccontextmanager
async def shared_source() -> AsyncIterator[CachedSource]:
    """Shared mode over a temporary DB that the real writer filled with a sample schedule."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "schedules.db"
        async with await ScheduleWriter.open(path) as writer:
            schedule = sample_schedule(REGION, kyiv_now().date())
            await writer.save(schedule, streets=SAMPLE_STREETS, fetched_at=kyiv_now(), duration_seconds=1.0)
        settings = SourceSettings(schedule_db_url=str(path), _env_file=None)
        source = create_source(settings, now=kyiv_now)
        try:
            yield source
        finally:
            await source.aclose()


@contextlib.asynccontextmanager
async def standalone_source(site: FakeDtekSite, *, probing: bool) -> AsyncIterator[CachedSource]:
    """Standalone mode scraping the fake site, without retry delays; ``probing``: DTEK's change probe on."""
    settings = SourceSettings(
        dtek_url_template=site.url_template,
        dtek_regions=[REGION],
        dtek_retry_base_delay_seconds=0,
        dtek_retry_max_delay_seconds=0,
        dtek_probe_interval_seconds=300 if probing else 0,
        _env_file=None,
    )
    source = create_source(settings, now=kyiv_now)
    try:
        yield source
    finally:
        await source.aclose()


async def latencies(request: Callable[[], Awaitable[Snapshot | None]], times: int) -> list[float]:
    """Seconds each of ``times`` requests took; each must be answered with a schedule."""
    durations = []
    for _ in range(times):
        started = time.perf_counter()
        snapshot = await request()
        durations.append(time.perf_counter() - started)
        if snapshot is None:
            raise RuntimeError("the source answered without a schedule")
    return durations


async def misses(source: CachedSource, times: int) -> list[float]:
    """Latency of ``times`` requests, each on an empty cache (built beforehand: not part of the request)."""
    fresh = iter([cold(source) for _ in range(times)])
    return await latencies(lambda: next(fresh).get(REGION), times)


def latency_row(benchmark: str, durations: list[float], note: str) -> Row:
    return Row(
        benchmark,
        ms(median(durations)),
        note=f"median of {len(durations)}, p99 {ms(percentile(durations, 0.99))}; {note}",
    )


async def run(quick: bool) -> list[Row]:
    rows: list[Row] = []
    async with shared_source() as source:
        await source.get(REGION)
        hits = await latencies(lambda: source.get(REGION), repeats(quick, 20_000, 1000))
        rows.append(latency_row("schedule request: cache hit", hits, "shared mode; standalone is the same"))
        rows.append(
            latency_row(
                "schedule request: miss, shared DB",
                await misses(source, repeats(quick, 500, 30)),
                "read of the shared SQLite DB",
            )
        )
        rows += await single_flight_shared(source)
    async with FakeDtekSite() as site:
        site.publish(sample_schedule(REGION, kyiv_now().date()), streets=SAMPLE_STREETS)
        async with standalone_source(site, probing=False) as source:
            await source.get(REGION)  # the first request also opens the connection and warms up the site
            scraped = await misses(source, repeats(quick, 100, 5))
            rows.append(
                latency_row(
                    "schedule request: miss, standalone scrape",
                    scraped,
                    "fake DTEK site on 127.0.0.1: page load and parse, connection open",
                )
            )
            rows += await single_flight_standalone(source, site)
        async with standalone_source(site, probing=True) as source:
            await source.get(REGION)  # the page load whose session the probes use
            probed = await misses(source, repeats(quick, 100, 5))
            rows.append(
                latency_row(
                    "schedule request: miss, standalone probe",
                    probed,
                    "DTEK's change probe on the fake site, data unchanged",
                )
            )
    return rows


async def concurrent(source: CachedSource, count: int) -> float:
    """Seconds until ``count`` concurrent requests on ``source`` were all answered with a schedule."""
    started = time.perf_counter()
    answers = await asyncio.gather(*(source.get(REGION) for _ in range(count)))
    elapsed = time.perf_counter() - started
    if any(answer is None for answer in answers):
        raise RuntimeError("a request was answered without a schedule")
    return elapsed


def flight_row(mode: str, count: int, loads: int, elapsed: float) -> Row:
    return Row(
        f"single flight, {mode}: {plural(count, 'concurrent cold request')}",
        plural(loads, "upstream load"),
        note=f"all answered in {ms(elapsed)}; without single flight: {plural(count, 'load')}",
    )


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


async def single_flight_shared(source: CachedSource) -> list[Row]:
    rows = []
    for count in CONCURRENCY:
        loader = CountingLoader(source.loader)
        elapsed = await concurrent(cold(source, loader), count)
        rows.append(flight_row("shared DB", count, loader.loads, elapsed))
    return rows


async def single_flight_standalone(source: CachedSource, site: FakeDtekSite) -> list[Row]:
    rows = []
    for count in CONCURRENCY:
        before = site.hits[REGION]
        elapsed = await concurrent(cold(source), count)
        rows.append(flight_row("standalone", count, site.hits[REGION] - before, elapsed))
    return rows
