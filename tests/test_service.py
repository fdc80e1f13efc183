"""The schedule service end to end: its CLI run as a real process against the fake DTEK site."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from common.clock import KYIV
from common.dtek.fake_site import FakeDtekSite, sample_schedule
from common.dtek.page_builder import build_page, paragraphs
from common.schedule import RegionSchedule
from common.store import ScheduleReader, SchemaVersionError
from tests.conftest import REPO_ROOT, real_kyiv_now
from tests.metrics_helpers import free_port, taken_port
from tests.processes import Finished, Programs, run
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e  # every test runs the service as a process

TODAY = real_kyiv_now().date()  # the service runs as a process, on the real clock


class Service:
    """Runs ``python -m schedule_service`` with an environment pointing at the fake site and a temp DB."""

    def __init__(self, site: FakeDtekSite, db: Path, regions: str = "kem,oem") -> None:
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "DTEK_URL_TEMPLATE": site.url_template,
            "DTEK_REGIONS": regions,
            "SCHEDULE_DB_URL": f"sqlite:///{db}",
            "REGION_SPACING_SECONDS": "0",
            "DTEK_RETRY_ATTEMPTS": "2",
            "DTEK_RETRY_BASE_DELAY_SECONDS": "0",
            "SCRAPE_INTERVAL_MINUTES": "0.02",
            "SCRAPE_JITTER_SECONDS": "0",
        }

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "schedule_service", *args]

    async def run(self, *args: str, cwd: Path = REPO_ROOT) -> Finished:
        return await run(self.command(*args), self.env, cwd=cwd)


@pytest.fixture
async def site() -> AsyncIterator[FakeDtekSite]:
    async with FakeDtekSite() as fake:
        fake.publish(sample_schedule("kem", TODAY))
        fake.publish(sample_schedule("oem", TODAY, groups=4))
        yield fake


@pytest.fixture
def service(site: FakeDtekSite, tmp_path: Path) -> Service:
    return Service(site, tmp_path / "shared" / "schedules.db")


async def test_once_then_show_matches_parse(site: FakeDtekSite, service: Service, tmp_path: Path) -> None:
    code, _, stderr = await service.run("--once")
    assert code == 0, stderr
    assert "scrape region=kem outcome=ok" in stderr
    assert "scrape region=oem outcome=ok" in stderr

    page_file = tmp_path / "kem.html"
    page_file.write_text(site.pages["kem"], encoding="utf-8")
    code, parsed, _ = await service.run("parse", str(page_file), "--json")
    assert code == 0
    code, shown, _ = await service.run("show", "GPV3.2", "--region", "kem", "--json")
    assert code == 0
    expected = RegionSchedule.from_canonical(json.loads(parsed)).restricted_to("GPV3.2").to_canonical()
    assert json.loads(shown) == expected
    assert set(expected["days"]) == {TODAY.isoformat(), date.fromordinal(TODAY.toordinal() + 1).isoformat()}


async def test_show_rendered_text_and_picture(service: Service, tmp_path: Path) -> None:
    assert (await service.run("--once"))[0] == 0
    code, out, _ = await service.run("show", "3.2", "--region", "kem")
    assert code == 0
    assert out.startswith("Київ · Черга 3.2")
    assert "Сьогодні," in out
    assert "Завтра," in out
    assert "світла немає" in out
    assert "Тижневий план можливих відключень" in out
    picture = tmp_path / "kem-3.2.png"
    code, out, err = await service.run(
        "show", "GPV3.2", "--region", "kem", "--lang", "en", "--png", str(picture)
    )
    assert code == 0, err
    assert out.startswith("Kyiv · Черга 3.2")
    assert "Today," in out
    assert "no power" in out
    assert picture.read_bytes().startswith(b"\x89PNG")


async def test_show_marks_a_suspended_plan_and_tells_dteks_announcement(
    site: FakeDtekSite, service: Service
) -> None:
    site.publish(
        sample_schedule("kem", TODAY),
        announcement=paragraphs("Тижневі графіки призупинено.\nДякуємо!"),
        flags={"showTablePlan": False},
    )
    assert (await service.run("--once"))[0] == 0
    code, out, _ = await service.run("show", "3.2", "--region", "kem")
    assert code == 0
    assert "📢 ДТЕК: Тижневі графіки призупинено.\nПовний текст — у /status." in out
    assert "Тижневий план можливих відключень — не діє зараз" in out
    assert "⚠️ ДТЕК зараз не показує тижневий план на своєму сайті: цей план не діє." in out
    code, out, _ = await service.run("show", "3.2", "--region", "kem", "--lang", "en")
    assert "Weekly plan of possible outages — not in force now" in out


async def test_show_bad_input(service: Service) -> None:
    assert (await service.run("--once"))[0] == 0
    code, out, err = await service.run("show", "9.9", "--region", "kem")
    assert (code, out) == (2, "")
    assert "unknown group '9.9'" in err
    assert "3.2" in err
    code, out, err = await service.run("show", "3.2", "--region", "lviv")
    assert (code, out) == (2, "")
    assert "valid regions: kem, krem, oem, dnem, dem" in err
    code, _, err = await service.run("show", "3.2", "--region", "dem")
    assert code == 2
    assert "regions in the DB: kem, oem" in err


async def test_blocked_region_fails_the_run_and_keeps_good_data(site: FakeDtekSite, service: Service) -> None:
    assert (await service.run("--once"))[0] == 0
    _, before, _ = await service.run("show", "3.2", "--region", "oem", "--json")
    site.blocked.add("oem")
    code, _, stderr = await service.run("--once")
    assert code == 1
    assert "scrape region=oem outcome=blocked" in stderr
    assert "scrape region=kem outcome=ok" in stderr  # one region failing does not stop the others
    code, after, _ = await service.run("show", "3.2", "--region", "oem", "--json")
    assert code == 0
    assert after == before


async def test_nothing_published_is_recorded(site: FakeDtekSite, service: Service) -> None:
    empty = RegionSchedule(region="kem", updated=datetime(2026, 8, 1, 10, 0, tzinfo=KYIV))
    site.pages["kem"] = build_page(empty)
    code, _, stderr = await service.run("--once")
    assert code == 0
    assert "scrape region=kem outcome=nothing-published" in stderr


async def test_health(site: FakeDtekSite, service: Service) -> None:
    # The fixture's 0.02-minute interval would make "recent" mean 2.4 s: too tight on a busy machine.
    service.env["SCRAPE_INTERVAL_MINUTES"] = "30"
    code, _, err = await service.run("health")
    assert code == 1
    assert "no schedule DB" in err
    assert (await service.run("--once"))[0] == 0
    code, out, _ = await service.run("health")
    assert code == 0
    assert "healthy" in out
    code, _, err = await service.run("health", "--max-age-minutes", "0")
    assert code == 1
    assert "kem: last success" in err
    site.blocked.add("kem")
    service.env["DTEK_REGIONS"] = "kem,krem"
    await service.run("--once")
    code, _, err = await service.run("health")
    assert code == 1
    assert "krem: never scraped successfully" in err
    code, out, _ = await service.run("health", "--any-region")  # compose's check: kem is fresh
    assert code == 0
    assert "healthy: 1 region(s)" in out
    assert "krem: never scraped successfully" in out
    code, _, err = await service.run("health", "--any-region", "--max-age-minutes", "0")
    assert code == 1
    assert "kem: last success" in err


async def test_runs_until_sigterm(service: Service, tmp_path: Path) -> None:
    db = Path(service.env["SCHEDULE_DB_URL"].removeprefix("sqlite:///"))
    async with Programs(tmp_path / "logs") as programs:
        process = await programs.start("service", service.command(), service.env)

        async def two_cycles() -> bool:  # the service scrapes every ~1.2 s here
            return await _successful_scrapes(db) >= 4

        await wait_until(two_cycles, timeout=20, interval=0.1)
        assert await _successful_scrapes(db) >= 4
        assert await process.stop() == 0
    assert "service stopped" in process.output


async def test_sigterm_during_a_slow_dtek_page_stops_at_once(
    site: FakeDtekSite, service: Service, tmp_path: Path
) -> None:
    site.delay = 120.0  # longer than compose's 30 s grace period before SIGKILL
    async with Programs(tmp_path / "logs") as programs:
        process = await programs.start("service", service.command(), service.env)
        await wait_until(lambda: site.hits["kem"] >= 1, timeout=20, interval=0.1)
        assert await process.stop(timeout=10) == 0  # killed, and failing, if it waited for the page
    assert "scrape region=kem interrupted: stopping" in process.output
    assert "service stopped" in process.output


async def test_serves_metrics_while_running(service: Service, tmp_path: Path) -> None:
    port = free_port()
    service.env |= {"METRICS_PORT": str(port), "METRICS_HOST": "127.0.0.1"}
    async with Programs(tmp_path / "logs") as programs:
        process = await programs.start("service", service.command(), service.env)
        metrics = await wait_until(_scraped_kem(port), timeout=20, interval=0.1)
        assert 'dtek_data_age_seconds{region="kem"}' in metrics
        assert await process.stop() == 0
    assert f"metrics on :{port}" in process.output


def _scraped_kem(port: int) -> Callable[[], Awaitable[str | None]]:

    async def scraped_kem() -> str | None:
        try:
            async with httpx.AsyncClient() as client:
                text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        except httpx.TransportError:
            return None  # not listening yet
        return text if 'dtek_scrapes_total{outcome="ok",region="kem"}' in text else None

    return scraped_kem


async def test_a_taken_metrics_port_is_one_clear_line(service: Service) -> None:
    with taken_port() as port:
        service.env |= {"METRICS_PORT": str(port), "METRICS_HOST": "127.0.0.1"}
        code, out, err = await service.run()
    assert (code, out) == (2, "")
    assert err == f"error: METRICS_PORT: cannot serve metrics on 127.0.0.1:{port}: address already in use\n"


async def _successful_scrapes(db: Path) -> int:
    try:
        reader = await ScheduleReader.open(db)
    except (FileNotFoundError, SchemaVersionError, sqlite3.Error):
        return 0  # the service has not created or migrated the file yet
    async with reader:
        return sum(s.outcome == "ok" for s in await reader.recent_scrapes(limit=100))


async def test_demo_runs_offline(service: Service, tmp_path: Path) -> None:
    code, out, err = await service.run("demo", cwd=tmp_path)
    assert code == 0, err
    assert (tmp_path / "data" / "demo.db").exists()
    assert "Черга 3.2" in out
    assert "Сьогодні," in out


async def test_invalid_settings_are_one_clear_line(service: Service) -> None:
    service.env["DTEK_REGIONS"] = "kem,atlantis"
    code, out, err = await service.run("--once")
    assert (code, out) == (2, "")
    assert "unknown region 'atlantis'" in err
    assert "Traceback" not in err
    service.env["DTEK_REGIONS"] = "kem"
    service.env["SCHEDULE_DB_URL"] = "postgresql://bot:hunter2@db/schedules"
    code, _, err = await service.run("--once")
    assert code == 2
    assert "SCHEDULE_DB_URL" in err
    assert "hunter2" not in err


async def test_the_running_service_picks_up_a_change_by_probe(
    site: FakeDtekSite, service: Service, tmp_path: Path
) -> None:
    service.env |= {
        "DTEK_REGIONS": "kem",
        "SCRAPE_INTERVAL_MINUTES": "0.5",
        "DTEK_PROBE_INTERVAL_SECONDS": "0.3",
    }
    db = Path(service.env["SCHEDULE_DB_URL"].removeprefix("sqlite:///"))
    async with Programs(tmp_path / "logs") as programs:
        process = await programs.start("service", service.command(), service.env)
        await wait_until(lambda: site.probe_calls["kem"] >= 1, timeout=20, interval=0.05)
        first = sample_schedule("kem", TODAY)
        assert first.updated is not None
        site.publish(replace(first, updated=first.updated + timedelta(hours=1), days={}))

        async def second_version() -> bool:
            async with await ScheduleReader.open(db) as reader:
                return (await reader.versions()).get("kem") == 2

        await wait_until(second_version, timeout=20, interval=0.1)
        assert site.hits["kem"] == 1  # by probe, well before the next page load (30 s)
        assert await process.stop() == 0
    assert "probe region=kem outcome=changed" in process.output
