"""Scrape cycles in process: a stop signal during a slow DTEK answer ends the cycle at once."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest

from common.asyncutil import Stopped, unless_stopped
from common.clock import KYIV
from common.dtek.fake_site import FakeDtekSite, sample_schedule
from common.dtek.fetch import DtekFetcher
from common.dtek.page_builder import paragraphs
from common.settings import DtekSettings
from common.store import ScheduleReader, ScheduleWriter
from schedule_service.scrape import scrape_cycle
from tests.waiting import wait_until

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=KYIV)


async def test_unless_stopped_returns_the_result_or_cancels_the_work() -> None:
    stop = asyncio.Event()
    assert await unless_stopped(asyncio.sleep(0, result="page"), stop) == "page"

    cancelled = asyncio.Event()

    async def slow() -> str:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    asyncio.get_running_loop().call_later(0.05, stop.set)
    with pytest.raises(Stopped):
        await unless_stopped(slow(), stop)
    assert cancelled.is_set()


async def test_a_stop_during_a_slow_page_ends_the_cycle_and_keeps_the_data(tmp_path: Path) -> None:
    stop = asyncio.Event()
    async with FakeDtekSite() as site:
        site.publish(sample_schedule("kem", NOW.date()))
        site.publish(sample_schedule("oem", NOW.date()))
        settings = DtekSettings(dtek_url_template=site.url_template, dtek_retry_attempts=1, _env_file=None)
        path = tmp_path / "s.db"
        async with DtekFetcher(settings) as fetcher, await ScheduleWriter.open(path) as writer:
            first = await scrape_cycle(
                ["kem"], fetcher=fetcher, writer=writer, spacing_seconds=0, now=lambda: NOW
            )
            site.delay = 60.0  # DTEK hangs: the next page takes a minute
            cycle = asyncio.create_task(
                scrape_cycle(
                    ["kem", "oem"],
                    fetcher=fetcher,
                    writer=writer,
                    spacing_seconds=0,
                    stop=stop,
                    now=lambda: NOW,
                )
            )
            await wait_until(lambda: site.hits["kem"] >= 2, timeout=5)  # the slow request is under way
            stop.set()
            outcomes = await asyncio.wait_for(cycle, timeout=5)  # not the minute the page takes
    assert [o.outcome for o in first] == ["ok"]
    assert outcomes == []  # interrupted, not recorded as a failure, and oem never asked
    assert site.hits["oem"] == 0
    async with await ScheduleReader.open(path) as reader:
        stored = await reader.load("kem")
    assert stored is not None  # the good data stays
    assert stored.version == 1


async def test_a_scrape_stores_what_dtek_announces(tmp_path: Path) -> None:
    async with FakeDtekSite() as site:
        site.publish(
            sample_schedule("kem", NOW.date()),
            announcement=paragraphs("Стабілізаційні відключення скасовано.\nДякуємо!"),
            flags={"showTablePlan": False},
        )
        settings = DtekSettings(dtek_url_template=site.url_template, dtek_retry_attempts=1, _env_file=None)
        path = tmp_path / "s.db"
        async with DtekFetcher(settings) as fetcher, await ScheduleWriter.open(path) as writer:
            await scrape_cycle(["kem"], fetcher=fetcher, writer=writer, spacing_seconds=0, now=lambda: NOW)
    async with await ScheduleReader.open(path) as reader:
        stored = await reader.load("kem")
    assert stored is not None
    assert stored.notices is not None
    assert stored.notices.announcement == "Стабілізаційні відключення скасовано.\nДякуємо!"
    assert stored.notices.announced_at == NOW
    assert not stored.notices.plan_in_force
