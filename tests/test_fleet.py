"""The fleet of compose.yaml run as local processes: each service's command with its environment, the
volumes as folders under tmp, DTEK, Telegram and Discord played by the fakes on 127.0.0.1.

The fakes count DTEK's page requests per program (each gets its own ``DTEK_URL_TEMPLATE``). The processes
keep the real clock, so the published schedules are built from ``real_kyiv_now()``.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import sqlite3
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from datetime import date, timedelta
from functools import partial
from pathlib import Path

import pytest

from common.botdb import BotDB
from common.dtek.fake_site import FakeDtekSite, sample_schedule
from common.store import ScheduleReader
from tests.compose import (
    COMPOSE_FILE,
    ComposeError,
    load_env_example,
    load_fleet,
)
from tests.conftest import REPO_ROOT, real_kyiv_now
from tests.discord_harness import DiscordWorld
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord import FakeMessage as DiscordMessage
from tests.fakes.telegram import FakeMessage, FakeTelegram, FakeUser
from tests.known import known
from tests.processes import Program, Programs, base_env, run
from tests.telegram_harness import with_day
from tests.waiting import wait_until

MANAGE_CHANNELS = 1 << 4
SERVICE, TELEGRAM, DISCORD = "schedule-service", "telegram-bot", "discord-bot"
REGIONS = ("kem", "oem")


def is_change_notice(message: FakeMessage) -> bool:
    return "Графік змінився" in message.content


def rows(db: Path, sql: str, *params: str) -> int:
    """A count from a program's SQLite DB, read-only while the program runs; 0 before the table exists."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
            return int(connection.execute(sql, params).fetchone()[0])
    except sqlite3.OperationalError:  # no file or no table yet
        return 0


def baseline_rows(db: Path, region: str) -> int:
    """The rows of a bot's change-detection baseline: none until it first saw the region's schedule."""
    return rows(db, "SELECT count(*) FROM watch_baseline WHERE region = ?", region)


# --- compose.yaml against the programs (fast) --------------------------------------------------------


def test_compose_names_only_commands_and_variables_the_programs_take(tmp_path: Path) -> None:
    fleet = load_fleet()
    assert set(fleet) == {SERVICE, TELEGRAM, DISCORD}
    assert {service.program for service in fleet.values()} == {
        "schedule_service",
        "telegram_bot",
        "discord_bot",
    }
    env = fleet[TELEGRAM].local_env(tmp_path, load_env_example(), {})
    assert env["SCHEDULE_DB_URL"] == str(tmp_path / "schedules" / "schedules.db")  # the shared volume


def local_envs(compose: Path, volumes: Path) -> list[dict[str, str]]:
    return [service.local_env(volumes, {}, {}) for service in load_fleet(compose).values()]


def test_drift_in_compose_is_an_error(tmp_path: Path) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    for old, new, error in [
        ('["python", "-m", "telegram_bot"]', '["python", "-m", "telegram_bott"]', "is not 'python -m' one"),
        ("DATABASE_URL: /data/discord", "DATABASE_PATH: /data/discord", "does not read ['DATABASE_PATH']"),
        ("discord-data:/data/discord", "discord-data:/data/discord-db", "is on no volume"),
    ]:
        assert old in text
        drifted = tmp_path / "compose.yaml"
        drifted.write_text(text.replace(old, new), encoding="utf-8")
        with pytest.raises(ComposeError, match=re.escape(error)):
            local_envs(drifted, tmp_path)


# --- the fleet end to end ----------------------------------------------------------------------------


@pytest.fixture
async def site() -> AsyncIterator[FakeDtekSite]:
    async with FakeDtekSite() as fake:
        today = real_kyiv_now().date()
        for region in REGIONS:
            fake.publish(sample_schedule(region, today))
        yield fake


@pytest.fixture
async def programs(tmp_path: Path) -> AsyncIterator[Programs]:
    async with Programs(tmp_path / "logs") as started:
        yield started


class Fleet:
    """The services of compose.yaml with the environment this test gives them."""

    def __init__(self, tmp_path: Path, site: FakeDtekSite, overrides: Mapping[str, str]) -> None:
        self.services = load_fleet()
        self.volumes = tmp_path / "volumes"
        self.site = site
        self.dotenv = load_env_example()  # stands in for env_file: .env
        self.overrides = overrides
        # The programs' working folder, as /app in the image: no .env of a developer's checkout is read.
        self.workdir = tmp_path / "app"
        self.workdir.mkdir()

    def env(self, name: str, *, without: tuple[str, ...] = ()) -> dict[str, str]:
        # Each program its own DTEK address, so that the fake site tells their requests apart.
        overrides = {**self.overrides, "DTEK_URL_TEMPLATE": self.site.url_template_for(name)}
        return (
            base_env()
            | {"PYTHONPATH": str(REPO_ROOT)}
            | self.services[name].local_env(self.volumes, self.dotenv, overrides, without=without)
        )

    def path(self, name: str, variable: str) -> Path:
        return Path(self.env(name)[variable])

    async def start(self, programs: Programs, name: str) -> Program:
        return await programs.start(
            name, self.services[name].local_command(), self.env(name), cwd=self.workdir
        )

    async def start_standalone(self, programs: Programs, name: str) -> Program:
        """A bot as compose defines it minus the shared DB: it scrapes DTEK itself."""
        env = self.env(name, without=("SCHEDULE_DB_URL",))
        return await programs.start(name, self.services[name].local_command(), env, cwd=self.workdir)

    async def health(self, name: str) -> tuple[int, str]:
        """The service's compose healthcheck, run as compose runs it (with the service's environment)."""
        service = self.services[name]
        done = await run(
            service.local_health_command(), self.env(name), cwd=self.workdir, timeout=service.health_timeout
        )
        return done.code, done.stdout + done.stderr


# What a developer's .env would set to run the programs quickly against the fakes.
QUICK = {
    "DTEK_REGIONS": ",".join(REGIONS),
    "SCRAPE_INTERVAL_MINUTES": "0.05",  # a cycle every 3 s: a change reaches the shared DB quickly
    "SCRAPE_JITTER_SECONDS": "0",
    "REGION_SPACING_SECONDS": "0",
    "WATCH_INTERVAL_SECONDS": "0.2",
}


def telegram_env(telegram: FakeTelegram) -> dict[str, str]:
    return {"TELEGRAM_API_BASE": telegram.base_url, "TELEGRAM_BOT_TOKEN": telegram.token}


def discord_env(discord: FakeDiscord) -> dict[str, str]:
    return {
        "DISCORD_API_BASE": discord.api_base,
        "DISCORD_GATEWAY_URL": discord.gateway_url,
        "DISCORD_TOKEN": discord.token,
    }


async def healthy(fleet: Fleet, name: str) -> bool:
    return (await fleet.health(name))[0] == 0


async def versions(db: Path) -> dict[str, int]:
    async with await ScheduleReader.open(db) as reader:
        return await reader.versions()


@pytest.mark.e2e
async def test_the_fleet_serves_and_notifies_from_the_one_scraper_and_survives_a_service_restart(
    site: FakeDtekSite,
    telegram: FakeTelegram,
    discord_fake: FakeDiscord,
    discord_world: DiscordWorld,
    programs: Programs,
    tmp_path: Path,
) -> None:
    fleet = Fleet(tmp_path, site, QUICK | telegram_env(telegram) | discord_env(discord_fake))
    shared_db = fleet.path(SERVICE, "SCHEDULE_DB_URL")
    mod = discord_fake.user("moderator")
    discord_world.guild.add_member(mod, discord_world.guild.role("Модератори", MANAGE_CHANNELS))

    # The bots start once the service is healthy, as compose's depends_on has it.
    service = await fleet.start(programs, SERVICE)
    await wait_until(lambda: healthy(fleet, SERVICE), timeout=30, what="the service's health check")
    telegram_bot, discord_bot = await fleet.start(programs, TELEGRAM), await fleet.start(programs, DISCORD)

    # Both bots answer from the shared DB.
    alice = telegram.user(5001)
    await alice.send("/schedule 3.2")
    photo = await alice.wait_for_message(lambda m: m.photo is not None, timeout=30)
    assert "Київ · Черга 3.2" in known(photo.caption)
    await discord_bot.wait_for_output("connected as")
    interaction = await discord_world.alice.invoke("schedule", channel=discord_world.general, group="3.2")
    await interaction.wait_for_response()
    assert known(known(interaction.original).embed)["title"] == "Київ · Черга 3.2"

    # Subscriptions by command: a Telegram chat, a Discord channel.
    await subscribe_on_telegram(telegram.user(5002))
    subscribed = await mod.invoke("subscribe-channel", channel=discord_world.general, group="3.2")
    await subscribed.wait_for_response()
    assert "отримуватиме зміни графіка: Київ, черга 3.2" in known(subscribed.original).content
    for bot in (TELEGRAM, DISCORD):  # a change before a bot's first look would be its baseline, not news
        db = fleet.path(bot, "DATABASE_URL")
        await wait_until(partial(baseline_rows, db, "kem"), timeout=10, what=f"{bot}'s baseline")

    tomorrow = real_kyiv_now().date() + timedelta(days=1)  # tomorrow: still news if midnight passes
    await publish_change(site, tomorrow, "+" * 28 + "-" * 4 + "+" * 16)
    await expect_change_notices(fleet, telegram, discord_world, says="00:30–04:00: тепер світло є", count=1)

    # SIGTERM and a restart of the service lose nothing, and the bots answer meanwhile.
    before = await versions(shared_db)
    assert await service.stop() == 0
    assert "service stopped" in service.output
    await alice.send("/schedule 3.2")
    assert "Київ · Черга 3.2" in known((await alice.wait_for_message(lambda m: m.photo is not None)).caption)
    service = await fleet.start(programs, SERVICE)
    await service.wait_for_output("scrape region=oem outcome=ok")
    assert "scrape region=kem outcome=ok" in service.output
    assert await versions(shared_db) == before  # the same content scraped again: the same version
    await publish_change(site, tomorrow, "-" * 8 + "+" * 40)
    # The second change arrives, and no repeat of the first came before it.
    await expect_change_notices(
        fleet, telegram, discord_world, says="00:00–04:00: тепер світла немає", count=2
    )

    checks = await asyncio.gather(*(fleet.health(name) for name in (SERVICE, TELEGRAM, DISCORD)))
    assert [code for code, _ in checks] == [0, 0, 0], checks
    # docker compose stops the fleet with SIGTERM: every program exits cleanly.
    assert list(await asyncio.gather(service.stop(), telegram_bot.stop(), discord_bot.stop())) == [0, 0, 0]

    # DTEK heard only from the service: one page request per scrape it logged, one warm-up request to "/"
    # per region and run, and not one page request from the bots' own DTEK addresses.
    scrapes = sum(p.output.count("scrape region=") for p in programs.started if p.name == SERVICE)
    assert site.client_hits == {SERVICE: scrapes}
    assert sum(site.hits[region] for region in REGIONS) == scrapes  # no page by any other address
    assert site.hits["/"] == 2 * len(REGIONS)
    assert sum(site.ajax_calls.values()) == 0


async def subscribe_on_telegram(user: FakeUser, *, regions: int = len(REGIONS)) -> None:
    await user.send("/subscribe")
    if regions > 1:
        await user.wait_for_message("Оберіть регіон", timeout=10)
        await user.press("Київ")
    await user.wait_for_message("Оберіть свою чергу", timeout=10)
    await user.press("Черга 3.2")
    await user.wait_for_message("Підписано: Київ, Черга 3.2")


_CHANGE_MINUTES = itertools.count(1)


async def publish_change(site: FakeDtekSite, day: date, slots: str) -> None:
    changed = with_day(sample_schedule("kem", real_kyiv_now().date()), day, "GPV3.2", slots)
    assert changed.updated is not None
    # DTEK dates each change (fact.update): what its change probe compares.
    site.publish(replace(changed, updated=changed.updated + timedelta(minutes=next(_CHANGE_MINUTES))))


async def expect_change_notices(
    fleet: Fleet, telegram: FakeTelegram, world: DiscordWorld, *, says: str, count: int
) -> None:
    """Waits for the change notice that ``says`` this in the Telegram subscriber's chat and the Discord
    channel, and for both bots' outboxes to empty, then checks that each place has ``count`` change
    notices in all: a repeat would be one more."""
    subscriber = telegram.user(5002)
    await subscriber.wait_for_message(lambda m: is_change_notice(m) and says in m.content, timeout=20)
    await wait_until(lambda: any(says in str(m.embed) for m in posts(world)), timeout=20, what=says)
    for bot_db in (fleet.path(TELEGRAM, "DATABASE_URL"), fleet.path(DISCORD, "DATABASE_URL")):
        await wait_until(partial(nothing_pending, bot_db), timeout=20, what=f"{bot_db.name} sent all")
    assert sum(map(is_change_notice, subscriber.messages)) == count
    assert len(posts(world)) == count
    assert sum(map(is_change_notice, telegram.user(5001).messages)) == 0  # not subscribed


async def nothing_pending(bot_db: Path) -> bool:
    """The bot has sent all it queued (read as its health check reads: read-only, from outside)."""
    async with await BotDB.open_read_only(bot_db, now=real_kyiv_now) as db:
        return (await db.outbox_counts())["pending"] == 0


def posts(world: DiscordWorld) -> list[DiscordMessage]:
    """The channel's change notices (the bot's own posts, not answers to commands)."""
    return [m for m in world.general.messages if m.interaction is None and "змінився" in str(m.embed)]


# --- the Telegram bot alone --------------------------------------------------------------------------

CROWD = 500
STANDALONE = {
    "DTEK_REGIONS": "kem",
    # The test holds DTEK's answer until the crowd is in: a request timing out would be sent again.
    "DTEK_TIMEOUT_SECONDS": "60",
}


def photo_of(user: FakeUser) -> FakeMessage | None:
    return next((message for message in user.messages if message.photo is not None), None)


@pytest.mark.e2e
async def test_the_telegram_bot_alone_loads_the_page_once_for_500_users_and_notifies_subscribers_once(
    site: FakeDtekSite, telegram: FakeTelegram, programs: Programs, tmp_path: Path
) -> None:
    fleet = Fleet(tmp_path, site, QUICK | telegram_env(telegram) | STANDALONE)
    db = fleet.path(TELEGRAM, "DATABASE_URL")
    crowd = [telegram.user(20_000 + index) for index in range(CROWD)]
    for user in crowd:  # queued before the bot starts: they reach it together, on a cold cache
        await user.send("/schedule 3.2")
    site.answering.clear()
    bot = await fleet.start_standalone(programs, TELEGRAM)
    await wait_until(lambda: rows(db, "SELECT count(*) FROM recipients") == CROWD, timeout=30)
    assert site.client_hits[TELEGRAM] == 1  # the page DTEK has not answered yet: one request
    site.answering.set()
    await wait_until(lambda: all(photo_of(user) for user in crowd), timeout=40, what="every answer")
    assert {known(known(photo_of(user)).caption).split("\n")[0] for user in crowd} == {"Київ · Черга 3.2"}
    assert site.client_hits[TELEGRAM] == 1
    assert site.hits["/"] == 1  # its one warm-up, before that page

    subscribers = crowd[:3]
    for user in subscribers:
        await subscribe_on_telegram(user, regions=1)
    assert await bot.stop() == 0
    # Again with a 2-second cache: its expiry is when a standalone bot looks at DTEK again.
    fleet.overrides = {**fleet.overrides, "CACHE_DURATION_MINUTES": "0.03"}
    await fleet.start_standalone(programs, TELEGRAM)
    await wait_until(lambda: site.client_hits[TELEGRAM] >= 2, timeout=30, what="the restarted bot's load")
    await publish_change(site, real_kyiv_now().date() + timedelta(days=1), "+" * 28 + "-" * 4 + "+" * 16)
    for user in subscribers:
        await user.wait_for_message(is_change_notice, timeout=20)
    # Past the page load, a look at DTEK is a change probe on the page's session (only this bot asks).
    loads = site.client_hits[TELEGRAM] + site.probe_calls["kem"]
    # Two more loads: the pass after the first of them found nothing new to say.
    await wait_until(
        lambda: site.client_hits[TELEGRAM] + site.probe_calls["kem"] >= loads + 2,
        timeout=20,
        what="two more loads",
    )
    await wait_until(lambda: rows(db, "SELECT count(*) FROM outbox WHERE status = 'pending'") == 0)
    assert [sum(map(is_change_notice, user.messages)) for user in subscribers] == [1] * len(subscribers)
    assert sum(is_change_notice(m) for user in crowd for m in user.messages) == len(subscribers)
