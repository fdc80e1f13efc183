"""The benchmark suite still runs: the in-process benchmarks give their rows with figures (numbers are never
asserted: machines are noisy). bot_memory, which starts bot processes, is left to ``python -m benchmarks``; its
DB fill is checked here, as the bots read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import bot_memory, parse, pictures, source
from benchmarks.suite import Row
from common.botdb import BotDB
from common.clock import kyiv_now
from tests.conftest import CAPTURES


def assert_figures(rows: list[Row], expected: list[str]) -> None:
    assert [row.benchmark for row in rows] == expected
    assert all(row.figure and row.note for row in rows)


async def test_parse_is_timed_and_weighed_against_beautifulsoup() -> None:
    if not (CAPTURES / "dnem-2025-12-18.html").exists():
        pytest.skip(f"real capture not found in {CAPTURES}")
    rows = await parse.run(quick=True)
    assert_figures(rows, [parse.TIME_BENCHMARK, parse.MEMORY_BENCHMARK])
    assert all(row.baseline and row.ratio for row in rows)


async def test_pictures_are_timed_cold_and_cached() -> None:
    rows = await pictures.run(quick=True)
    views = ("today and tomorrow", "weekly plan")
    assert_figures(rows, [f"picture of {view}: {kind}" for view in views for kind in ("cold", "cached")])


async def test_source_requests_and_single_flight_are_measured() -> None:
    rows = await source.run(quick=True)
    requests = [f"schedule request: {kind}" for kind in ("cache hit", "miss, shared DB")]
    requests += [f"schedule request: miss, standalone {kind}" for kind in ("scrape", "probe")]
    assert {row.benchmark for row in rows if row.benchmark.startswith("schedule request")} == set(requests)
    flights = [row for row in rows if row.benchmark.startswith("single flight")]
    assert len(flights) == 2 * len(source.CONCURRENCY)  # both modes
    assert all(row.figure and row.note for row in rows)
    assert all("upstream load" in row.figure for row in flights)  # a count of loads, not a timing


async def test_bot_memory_fills_subscriptions_the_bots_read(tmp_path: Path) -> None:
    subscribers = range(1, 31)
    for platform in bot_memory.PLATFORMS:
        path = tmp_path / f"{platform.module}.db"
        await bot_memory.fill(path, platform, len(subscribers))
        db = await BotDB.open(path, now=kyiv_now)
        try:
            assert len(await db.all_subscriptions()) == len(subscribers)
            if platform.server is not None:  # Discord's are server channels, as /channel stores them
                servers = {platform.server(n) for n in subscribers}
                channels = [len(await db.channel_subscriptions(server)) for server in servers]
                assert len(servers) > 1
                assert sum(channels) == len(subscribers)
        finally:
            await db.close()
