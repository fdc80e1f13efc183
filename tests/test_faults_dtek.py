"""DTEK misbehaving, in process: the fake site serves one fault per case to the real fetcher, scrape and
writer. The shared DB keeps the last good version, the scrape log names the failure, the service's ``health``
command reports it, and a bot's answer says its data is stale and how old it is. Fixed clocks throughout."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web

from common.clock import KYIV
from common.dtek.fake_site import FakeDtekSite, sample_schedule
from common.dtek.fetch import DtekFetcher
from common.i18n import catalog
from common.source import CachedSource, SharedDbLoader
from common.store import ScheduleReader, ScheduleWriter
from common.views import ScheduleView, ViewKind, load_schedule_view
from schedule_service.cli import health_command
from schedule_service.scrape import scrape_cycle
from schedule_service.settings import ServiceSettings

GOOD_AT = datetime(2026, 11, 23, 6, 0, tzinfo=KYIV)
FAILED_AT = GOOD_AT + timedelta(hours=2)  # past the bots' default STALE_AFTER_MINUTES (90) and health's hour
EN = catalog("en")


class FaultySite(FakeDtekSite):
    """The fake site, plus a DTEK that drops the connection without answering."""

    def __init__(self) -> None:
        super().__init__()
        self.resetting = False

    async def _page(self, request: web.Request) -> web.Response:
        if self.resetting and request.transport is not None:
            request.transport.abort()  # a TCP reset: no status line, no body
        return await super()._page(request)


def _truncated(page: str) -> str:
    return page[: page.index("DisconSchedule.fact = {") + 200]


def _malformed_json(page: str) -> str:
    return page.replace("DisconSchedule.fact = {", "DisconSchedule.fact = {,", 1)


def _restructured(page: str) -> str:
    return page.replace("DisconSchedule", "ScheduleWidget")  # a redesign: the data lives elsewhere now


def _rewritten(change: Callable[[str], str]) -> Callable[[FaultySite], None]:
    def apply(site: FaultySite) -> None:
        site.pages["kem"] = change(site.pages["kem"])

    return apply


def _status(code: int) -> Callable[[FaultySite], None]:
    def apply(site: FaultySite) -> None:
        site.error_status["kem"] = code

    return apply


def _blocked(site: FaultySite) -> None:
    site.blocked.add("kem")


def _hanging(site: FaultySite) -> None:
    site.delay = 5.0  # far past the fetcher's timeout below


def _resetting(site: FaultySite) -> None:
    site.resetting = True


FAULTS = {
    "anti-bot page": (_blocked, "blocked"),
    "403": (_status(403), "fetch-failed"),
    "429": (_status(429), "fetch-failed"),
    "500": (_status(500), "fetch-failed"),
    "timeout": (_hanging, "fetch-failed"),
    "connection reset": (_resetting, "fetch-failed"),
    "truncated HTML": (_rewritten(_truncated), "malformed"),
    "malformed JSON": (_rewritten(_malformed_json), "malformed"),
    "no DisconSchedule": (_rewritten(_restructured), "no-schedule-data"),
}


class Rig:
    def __init__(self, site: FaultySite, path: Path, settings: ServiceSettings) -> None:
        self.site = site
        self.path = path
        self.settings = settings

    async def scrape(self, at: datetime) -> list[str]:
        async with DtekFetcher(self.settings) as fetcher, await ScheduleWriter.open(self.path) as writer:
            outcomes = await scrape_cycle(
                ["kem"], fetcher=fetcher, writer=writer, spacing_seconds=0, now=lambda: at
            )
        return [o.outcome for o in outcomes]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with FaultySite() as site:
        site.publish(sample_schedule("kem", GOOD_AT.date()))
        path = tmp_path / "schedules.db"
        settings = ServiceSettings(
            dtek_url_template=site.url_template,
            dtek_regions=["kem"],
            dtek_retry_attempts=2,
            dtek_retry_base_delay_seconds=0,
            dtek_timeout_seconds=0.3,
            schedule_db_url=str(path),
            _env_file=None,
        )
        found = Rig(site, path, settings)
        assert await found.scrape(GOOD_AT) == ["ok"]
        yield found


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_a_dtek_fault_keeps_the_good_data_and_is_reported_stale(
    rig: Rig, fault: str, capsys: pytest.CaptureFixture[str]
) -> None:
    apply, kind = FAULTS[fault]
    apply(rig.site)
    assert await rig.scrape(FAILED_AT) == [kind]

    async with await ScheduleReader.open(rig.path) as reader:
        stored = await reader.load("kem")
        log = await reader.recent_scrapes("kem")
    assert stored is not None
    assert (stored.version, stored.fetched_at) == (1, GOOD_AT)  # nothing good is overwritten
    assert stored.schedule.days == sample_schedule("kem", GOOD_AT.date()).days
    assert [(entry.outcome, entry.version) for entry in log] == [(kind, 1), ("ok", 1)]

    code = await health_command(rig.settings, 60, any_region=False, now=lambda: FAILED_AT)
    assert code == 1
    assert f"unhealthy: kem: last success 120 min ago, last scrape {kind}" in capsys.readouterr().err

    clock = lambda: FAILED_AT  # noqa: E731 - the bot's clock
    source = CachedSource(
        SharedDbLoader(rig.path, now=clock), ttl_seconds=60, stale_after=timedelta(minutes=90), now=clock
    )
    try:
        answer = await load_schedule_view(
            source, "kem", "GPV3.2", ViewKind.DAYS, now=FAILED_AT, t=EN, pictures=None
        )
    finally:
        await source.aclose()
    assert isinstance(answer, ScheduleView)
    assert answer.stale
    assert "⚠️ Data may be out of date: last fetched 2 hours ago." in answer.rendered.notes
