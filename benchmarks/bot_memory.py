"""Bot memory benchmark: the real bot processes (``python -m telegram_bot`` and ``python -m discord_bot``,
shared mode) with 100,000 subscriptions in their local DB (10,000 with ``--quick``), each against its fake
platform, and as the baseline the same bot with none: its start-up time, its RSS once started and after its
notifier's first passes (the change watch's baseline of every region and the reminder pass's heartbeat), and
the size of its DB file.

"Started" is what the fake sees first of a bot ready for users: the Telegram bot's first ``getUpdates``; the
Discord bot's IDENTIFY on the gateway, which the fake answers with READY (discord.py's login, the Cogs and
the command sync come before it; the interactions the gateway brings are served from then on).

The DB gets the real schema from ``BotDB.open``; the rows then go in with plain sqlite3 in one transaction,
as 100,000 commands would take long: one recipient per subscription, spread over the regions and groups.
Telegram's are chats; Discord's are server channels, as ``/channel`` stores them (``channel:<id>`` with the
server in ``channel_subscriptions``), ten to a server. The fake Discord has no servers, so discord.py's cache
stays empty in both runs: the figures are what the subscriptions cost, not the servers the bot is in.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

import psutil

from benchmarks.parse import mib
from benchmarks.suite import Row, median, ms, ratio, repeats
from common.botdb import BotDB
from common.clock import kyiv_now
from common.dtek.fake_site import sample_schedule
from common.dtek.regions import DEFAULT_REGIONS
from common.sqlite_base import to_text
from common.store import ScheduleWriter
from discord_bot.delivery import channel_recipient
from tests.discord_harness import TOKEN as DISCORD_TOKEN
from tests.fakes.discord import FakeDiscord
from tests.fakes.telegram import FakeTelegram

REPO_ROOT = Path(__file__).resolve().parents[1]
GROUPS = [f"GPV{queue}.{sub}" for queue in range(1, 7) for sub in (1, 2)]  # sample_schedule's groups
# Nothing else of ours leaks into the bot (no TELEGRAM_*, DISCORD_*).
INHERITED = ("PATH", "HOME", "TMPDIR", "LANG")
WATCH_INTERVAL_SECONDS = 0.5  # the default is 60: a first pass soon, the passes after it while we look
TIMEOUT_SECONDS = 120.0
# Discord ids have 19 digits these days, so the DB holds ids as long as a real one's.
FIRST_CHANNEL, FIRST_SERVER = 1_300_000_000_000_000_000, 1_200_000_000_000_000_000
CHANNELS_PER_SERVER = 10


@dataclass(frozen=True, slots=True)
class Fake:
    """A platform's fake while it runs: the environment pointing a bot at it, and whether the bot started."""

    env: dict[str, str]
    started: Callable[[], bool]


@dataclass(frozen=True, slots=True)
class Platform:
    bot: str  # as the table names it: "Telegram bot"
    module: str  # python -m <module>
    fake: Callable[[], AbstractAsyncContextManager[Fake]]
    setting: str  # for the note: the mode, the fake, what "started" is
    recipients: str  # for the note: whose the subscriptions are
    recipient: Callable[[int], str]  # the id of the n-th subscriber
    server: Callable[[int], str] | None = None  # Discord: the server of the n-th subscribed channel


@contextlib.asynccontextmanager
async def fake_telegram() -> AsyncIterator[Fake]:
    async with FakeTelegram() as telegram:
        env = {"TELEGRAM_API_BASE": telegram.base_url, "TELEGRAM_BOT_TOKEN": telegram.token}
        yield Fake(env, lambda: bool(telegram.calls_to("getUpdates")))


@contextlib.asynccontextmanager
async def fake_discord() -> AsyncIterator[Fake]:
    # The bot is another process: this process's discord.py is left alone.
    async with FakeDiscord(token=DISCORD_TOKEN, patch_discord_py=False) as discord:
        env = {
            "DISCORD_API_BASE": discord.api_base,
            "DISCORD_GATEWAY_URL": discord.gateway_url,
            "DISCORD_TOKEN": discord.token,
        }
        yield Fake(env, lambda: bool(discord.identifies))  # the fake sends READY as it takes the IDENTIFY


TELEGRAM = Platform(
    "Telegram bot",
    "telegram_bot",
    fake_telegram,
    "shared mode, fake Bot API; started: its first getUpdates",
    "one chat per subscription",
    recipient=str,
)
DISCORD = Platform(
    "Discord bot",
    "discord_bot",
    fake_discord,
    "shared mode, fake Discord with no servers; started: READY",
    f"one server channel per subscription, {CHANNELS_PER_SERVER} to a server",
    recipient=lambda n: channel_recipient(FIRST_CHANNEL + n),
    server=lambda n: str(FIRST_SERVER + n // CHANNELS_PER_SERVER),
)
PLATFORMS = (TELEGRAM, DISCORD)


@dataclass(frozen=True, slots=True)
class Measured:
    startup: float  # seconds from spawn to "started"
    rss_started: int  # bytes
    rss_after_passes: int
    db_size: int


async def run(quick: bool) -> list[Row]:
    size = 10_000 if quick else 100_000
    times = repeats(quick, 3, 1)
    rows = []
    for platform in PLATFORMS:
        empty = [await measured(platform, 0) for _ in range(times)]
        full = [await measured(platform, size) for _ in range(times)]
        rows += figure_rows(platform, size, empty, full)
    return rows


def figure_rows(platform: Platform, size: int, empty: list[Measured], full: list[Measured]) -> list[Row]:
    """One bot's rows: each figure's median with ``size`` subscriptions against the median with none."""
    note = f"median of {len(full)}; {platform.setting}; baseline: no subscriptions"
    figures: list[tuple[str, Callable[[Measured], float], Callable[[float], str], str]] = [
        ("start-up", lambda m: m.startup, ms, note),
        ("RSS once started", lambda m: m.rss_started, mib, note),
        ("RSS after the notifier's first passes", lambda m: m.rss_after_passes, mib, note),
        ("DB size", lambda m: m.db_size, mib, f"{platform.recipients}; baseline: the empty DB"),
    ]
    rows = []
    for name, figure, unit, why in figures:
        value, baseline = median([figure(m) for m in full]), median([figure(m) for m in empty])
        rows.append(
            Row(
                f"{platform.bot} {name}, {size:,} subscriptions",
                unit(value),
                unit(baseline),
                ratio(value, baseline),
                why,
            )
        )
    return rows


async def measured(platform: Platform, subscriptions: int) -> Measured:
    """One start of the bot with ``subscriptions`` in its DB, until its notifier's first passes."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        shared, bot_db = root / "schedules.db", root / "bot.db"
        await write_schedules(shared)
        await fill(bot_db, platform, subscriptions)
        db_size = bot_db.stat().st_size
        async with (
            platform.fake() as fake,
            bot_process(root, platform.module, fake.env, shared, bot_db) as (process, started),
        ):
            await until(fake.started, f"the {platform.bot} to start")
            startup = time.perf_counter() - started
            rss_started = process.memory_info().rss
            await until(lambda: passes_done(bot_db), "the notifier's first passes")
            await asyncio.sleep(2 * WATCH_INTERVAL_SECONDS)  # a few passes more: what a running bot holds
            return Measured(startup, rss_started, process.memory_info().rss, db_size)


async def write_schedules(path: Path) -> None:
    """The shared DB as the service leaves it: a sample schedule of every region."""
    async with await ScheduleWriter.open(path) as writer:
        for region in DEFAULT_REGIONS:
            schedule = sample_schedule(region, kyiv_now().date())
            await writer.save(schedule, streets=None, fetched_at=kyiv_now(), duration_seconds=1.0)


async def fill(path: Path, platform: Platform, subscriptions: int) -> None:
    """The bot's DB with the real schema and ``subscriptions`` recipients, one subscription each."""
    db = await BotDB.open(path, now=kyiv_now)
    await db.close()
    created = to_text(kyiv_now())
    pairs = [(region, group) for region in DEFAULT_REGIONS for group in GROUPS]
    rows = [(platform.recipient(n), *pairs[n % len(pairs)]) for n in range(1, subscriptions + 1)]
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        connection.executemany(
            "INSERT INTO recipients (id, lang, created_at) VALUES (?, 'uk', ?)",
            ((recipient, created) for recipient, _, _ in rows),
        )
        connection.executemany("INSERT INTO subscriptions (recipient_id, region, grp) VALUES (?, ?, ?)", rows)
        if platform.server is not None:
            server = platform.server
            connection.executemany(
                "INSERT INTO channel_subscriptions (recipient_id, region, grp, server_id) VALUES (?, ?, ?, ?)",
                ((*row, server(n)) for n, row in enumerate(rows, 1)),
            )


@contextlib.asynccontextmanager
async def bot_process(
    folder: Path, module: str, platform_env: dict[str, str], shared: Path, bot_db: Path
) -> AsyncIterator[tuple[psutil.Process, float]]:
    """``python -m module`` running in ``folder`` (no developer's .env there), and when it was spawned."""
    env = {name: os.environ[name] for name in INHERITED if name in os.environ} | platform_env
    env |= {
        "PYTHONPATH": str(REPO_ROOT),
        "DATABASE_URL": str(bot_db),
        "SCHEDULE_DB_URL": str(shared),
        "DTEK_REGIONS": ",".join(DEFAULT_REGIONS),
        "WATCH_INTERVAL_SECONDS": str(WATCH_INTERVAL_SECONDS),
    }
    with (folder / "bot.log").open("wb") as log:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            cwd=folder,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    try:
        yield psutil.Process(process.pid), started
    finally:
        await stopped(process)


async def stopped(process: asyncio.subprocess.Process) -> None:
    """SIGTERM as a container gets, then a kill if it lingers."""
    if process.returncode is None:
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), 20)
    except TimeoutError:
        process.kill()
        await process.wait()


def passes_done(bot_db: Path) -> bool:
    """Whether the bot's notifier has recorded a heartbeat and the watch's baseline of every region."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{bot_db}?mode=ro", uri=True)) as connection:
            beats = connection.execute("SELECT count(*) FROM meta WHERE key = 'heartbeat'").fetchone()[0]
            regions = connection.execute("SELECT count(DISTINCT region) FROM watch_baseline").fetchone()[0]
    except sqlite3.OperationalError:  # locked by the bot's writer for a moment
        return False
    return bool(beats) and regions == len(DEFAULT_REGIONS)


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)
