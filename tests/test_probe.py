"""The change probe (checkDisconUpdate) in process, against the fake DTEK site: what it stores, what it
leaves alone, how it backs off, and that it keeps to its request budget."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from common.clock import KYIV
from common.dtek.fake_site import SAMPLE_STREETS, FakeDtekSite, sample_schedule
from common.dtek.fetch import DtekFetcher
from common.metrics import Metrics
from common.schedule import RegionSchedule
from common.store import ScheduleReader, ScheduleWriter
from schedule_service.probe import ProbeOutcome, probe_region
from schedule_service.scrape import scrape_cycle
from schedule_service.service import run_service
from schedule_service.settings import ServiceSettings
from tests.waiting import wait_until

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=KYIV)
FIRST = sample_schedule("kem", NOW.date())


def _changed(schedule: RegionSchedule) -> RegionSchedule:
    """DTEK's next version: a later update time and a group whose day changed."""
    day = min(schedule.days)
    days = {**schedule.days, day: {**schedule.days[day], "GPV1.1": "-" * 48}}
    assert schedule.updated is not None
    return replace(schedule, updated=schedule.updated + timedelta(hours=2), days=days)


@dataclass
class Rig:
    site: FakeDtekSite
    fetcher: DtekFetcher
    writer: ScheduleWriter
    path: Path

    async def probe(self) -> ProbeOutcome | None:
        stored = await self.load()
        assert stored.schedule.updated is not None
        update = stored.schedule.updated.astimezone(KYIV).strftime("%d.%m.%Y %H:%M")
        return await probe_region("kem", update, checker=self.fetcher, writer=self.writer, now=lambda: NOW)

    async def load(self) -> StoredView:
        async with await ScheduleReader.open(self.path) as reader:
            stored = await reader.load("kem")
            assert stored is not None
            return StoredView(
                stored.schedule, stored.version, [s.outcome for s in await reader.recent_scrapes("kem")]
            )


@dataclass
class StoredView:
    schedule: RegionSchedule
    version: int
    log: list[str]  # scrape-log outcomes, newest first


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with FakeDtekSite() as site:
        site.publish(FIRST, streets=SAMPLE_STREETS)
        settings = ServiceSettings(dtek_url_template=site.url_template, dtek_retry_attempts=1, _env_file=None)
        path = tmp_path / "s.db"
        async with DtekFetcher(settings) as fetcher, await ScheduleWriter.open(path) as writer:
            outcomes = await scrape_cycle(
                ["kem"], fetcher=fetcher, writer=writer, spacing_seconds=0, now=lambda: NOW
            )
            assert [o.outcome for o in outcomes] == ["ok"]
            yield Rig(site, fetcher, writer, path)


async def test_an_unchanged_answer_writes_nothing(rig: Rig) -> None:
    outcome = await rig.probe()
    assert outcome is not None
    assert outcome.outcome == "unchanged"
    stored = await rig.load()
    assert stored.version == 1
    assert stored.log == ["probe-unchanged", "ok"]
    assert (rig.site.hits["kem"], rig.site.probe_calls["kem"], rig.site.ajax_rejected["kem"]) == (1, 1, 0)


async def test_a_changed_answer_is_a_new_version_without_a_page_load(rig: Rig) -> None:
    new = _changed(FIRST)
    rig.site.publish(new, streets={"м. Київ": ["вул. Нова"]})  # the page's new streets are not in the answer
    outcome = await rig.probe()
    assert outcome is not None
    assert outcome.outcome == "changed"
    assert outcome.update == "23.11.2026 09:30"  # what the next probe sends
    stored = await rig.load()
    assert stored.version == 2
    assert stored.schedule.content_hash() == replace(new, updated=stored.schedule.updated).content_hash()
    assert stored.schedule.updated == new.updated
    assert stored.log == ["probe-changed", "ok"]
    assert rig.site.hits["kem"] == 1  # no page load
    async with await ScheduleReader.open(rig.path) as reader:
        assert await reader.streets("kem") == SAMPLE_STREETS  # kept from the last page
        history = await reader.changes("kem", after_version=1)
    assert [(c.group, c.new) for c in history] == [("GPV1.1", "-" * 48)]
    # With the new update text, the next probe finds nothing new.
    again = await probe_region("kem", outcome.update, checker=rig.fetcher, writer=rig.writer, now=lambda: NOW)
    assert again is not None
    assert again.outcome == "unchanged"


async def test_a_stale_token_fails_once_and_waits_for_the_next_page(rig: Rig) -> None:
    rig.site.expire_sessions()
    outcome = await rig.probe()
    assert outcome is not None
    assert outcome.outcome == "rejected"
    assert await rig.probe() is None  # no token left: nothing is sent until a page renews it
    assert rig.site.probe_calls["kem"] == 1
    stored = await rig.load()
    assert (stored.version, stored.log) == (1, ["probe-rejected", "ok"])
    await scrape_cycle(["kem"], fetcher=rig.fetcher, writer=rig.writer, spacing_seconds=0, now=lambda: NOW)
    renewed = await rig.probe()
    assert renewed is not None
    assert renewed.outcome == "unchanged"


@pytest.mark.parametrize(
    ("setup", "kind"),
    [("blocked", "blocked"), ("garbage", "malformed"), ("html-json", "malformed")],
)
async def test_a_failed_probe_keeps_the_good_data(rig: Rig, setup: str, kind: str) -> None:
    rig.site.publish(_changed(FIRST))  # whatever DTEK has, a failed probe must not store anything
    if setup == "blocked":
        rig.site.blocked.add("kem")
    elif setup == "garbage":
        rig.site.probe_text["kem"] = "<html><body>Сервіс тимчасово недоступний</body></html>"
    else:
        rig.site.probe_text["kem"] = '{"result": true, "fact": "oops"}'
    outcome = await rig.probe()
    assert outcome is not None
    assert (outcome.outcome, outcome.ok) == (kind, False)
    stored = await rig.load()
    assert stored.version == 1
    assert stored.schedule.content_hash() == replace(FIRST, updated=stored.schedule.updated).content_hash()
    assert stored.log == [f"probe-{kind}", "ok"]


# --- the service loop ------------------------------------------------------------------------------------


@dataclass
class Running:
    site: FakeDtekSite
    path: Path
    metrics: Metrics
    stop: asyncio.Event
    started: float

    async def version(self) -> int:
        async with await ScheduleReader.open(self.path) as reader:
            return (await reader.versions()).get("kem", 0)


@pytest.fixture
async def running(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Running]:
    """The service loop in process, scaled down: by default a full scrape every 1.5 s, a probe every 0.1 s."""
    probe_seconds, garbage, scrape_minutes = getattr(request, "param", (0.1, False, 0.025))
    async with FakeDtekSite() as site:
        site.publish(FIRST)
        if garbage:
            site.probe_text["kem"] = "not json"
        settings = ServiceSettings(
            dtek_url_template=site.url_template,
            dtek_regions=["kem"],
            dtek_retry_attempts=1,
            dtek_probe_interval_seconds=probe_seconds,
            scrape_interval_minutes=scrape_minutes,
            scrape_jitter_seconds=0,
            region_spacing_seconds=0,
            _env_file=None,
        )
        path = tmp_path / "s.db"
        stop = asyncio.Event()
        metrics = Metrics()
        async with DtekFetcher(settings) as fetcher, await ScheduleWriter.open(path) as writer:
            service = asyncio.create_task(
                run_service(
                    settings,
                    fetcher=fetcher,
                    writer=writer,
                    stop=stop,
                    now=lambda: NOW,
                    random_fraction=lambda: 1.0,  # the longest jitter: the budget must hold even so
                    metrics=metrics,
                )
            )
            try:
                yield Running(site, path, metrics, stop, time.monotonic())
            finally:
                stop.set()
                await asyncio.wait_for(service, timeout=5)


@pytest.mark.parametrize("running", [(0.2, False, 0.05)], indirect=True)  # 3 s: time to spare
async def test_the_service_picks_up_a_change_by_probe(running: Running) -> None:
    await wait_until(lambda: running.site.probe_calls["kem"] >= 1, timeout=5)
    running.site.publish(_changed(FIRST))

    async def changed() -> bool:
        return await running.version() == 2

    await wait_until(changed, timeout=5)
    assert running.site.hits["kem"] == 1  # picked up by a probe, within the 3 s before the next page load
    probes = running.metrics.registry.get_sample_value
    assert probes("dtek_probes_total", {"region": "kem", "outcome": "changed"}) == 1
    assert (probes("dtek_probes_total", {"region": "kem", "outcome": "unchanged"}) or 0) >= 1


async def test_the_service_keeps_to_its_request_budget(running: Running) -> None:
    await wait_until(lambda: running.site.hits["kem"] >= 2, timeout=10)  # a whole cycle of probes
    elapsed = time.monotonic() - running.started
    running.stop.set()
    site = running.site
    # At most one probe per probe interval and one page per scrape interval, plus the one starting each.
    assert site.probe_calls["kem"] <= elapsed / 0.1 + 1
    assert site.hits["kem"] <= elapsed / 1.5 + 1
    assert site.probe_calls["kem"] >= 5  # and it did probe: about 1.5 s / (0.1 s + 10 % jitter)
    assert site.hits["/"] == 1  # one warm-up: the probes reuse the page's session


@pytest.mark.parametrize("running", [(0.05, True, 0.025)], indirect=True)
async def test_failed_probes_back_off(running: Running) -> None:
    await wait_until(lambda: running.site.hits["kem"] >= 2, timeout=10)  # one whole cycle of 1.5 s
    calls = running.site.probe_calls["kem"]
    # Waits of 0.05, 0.1, 0.2, 0.4, 0.8 s (+10 %) after each failure: about 4 calls before the next page
    # load, not the 25 or so of a fixed 0.05 s.
    assert 2 <= calls <= 5, calls
    assert await running.version() == 1
    samples = running.metrics.registry.get_sample_value
    assert samples("dtek_probes_total", {"region": "kem", "outcome": "malformed"}) == calls


@pytest.mark.parametrize("running", [(0.0, False, 0.025)], indirect=True)
async def test_a_zero_interval_turns_the_probe_off(running: Running) -> None:
    await wait_until(lambda: running.site.hits["kem"] >= 2, timeout=10)
    assert running.site.probe_calls["kem"] == 0


@pytest.mark.parametrize("running", [(1.3, False, 0.025)], indirect=True)
async def test_no_probe_comes_right_before_a_full_scrape(running: Running) -> None:
    # A probe due 1.43 s after the page (1.3 s + 10 % jitter) would come 0.07 s before the next one at 1.5 s.
    await wait_until(lambda: running.site.hits["kem"] >= 2, timeout=10)
    assert running.site.probe_calls["kem"] == 0


async def test_without_a_page_session_a_probe_sends_nothing() -> None:
    async with FakeDtekSite() as site:
        site.publish(FIRST)
        settings = ServiceSettings(dtek_url_template=site.url_template, _env_file=None)
        async with DtekFetcher(settings) as fetcher:
            assert await fetcher.check_update("kem", "23.11.2026 07:30") is None
    assert (site.hits["/"], site.hits["kem"], site.ajax_calls["kem"]) == (0, 0, 0)  # not even a warm-up
