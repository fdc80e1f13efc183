"""Bot memory benchmark: the real Telegram bot process (``python -m telegram_bot``, shared mode) with
100,000 subscriptions in its local DB (10,000 with ``--quick``) against the fake Bot API, and as the baseline
the same bot with none: its start-up time (spawn until its first ``getUpdates``), its RSS once started and
after its notifier's first passes (the change watch's baseline of every region and the reminder pass's
heartbeat), and the size of its DB file.

The DB gets the real schema from ``BotDB.open``; the rows then go in with plain sqlite3 in one transaction
(one chat per subscription, spread over the regions and groups), as 100,000 commands would take long.
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
from tests.fakes.telegram import FakeTelegram

REPO_ROOT = Path(__file__).resolve().parents[1]
GROUPS = [f"GPV{queue}.{sub}" for queue in range(1, 7) for sub in (1, 2)]  # sample_schedule's groups
INHERITED = ("PATH", "HOME", "TMPDIR", "LANG")  # nothing else of ours leaks into the bot (no TELEGRAM_*)
WATCH_INTERVAL_SECONDS = 0.5  # the default is 60: a first pass soon, the passes after it while we look
TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class Measured:
    startup: float  # seconds from spawn to the first getUpdates
    rss_started: int  # bytes
    rss_after_passes: int
    db_size: int


async def run(quick: bool) -> list[Row]:
    size = 10_000 if quick else 100_000
    times = repeats(quick, 3, 1)
    empty = [await measured(0) for _ in range(times)]
    full = [await measured(size) for _ in range(times)]
    note = f"median of {times}; Telegram bot, shared mode, fake Bot API; baseline: no subscriptions"
    figures: list[tuple[str, Callable[[Measured], float], Callable[[float], str], str]] = [
        ("bot start-up", lambda m: m.startup, ms, note),
        ("bot RSS once started", lambda m: m.rss_started, mib, note),
        ("bot RSS after the notifier's first passes", lambda m: m.rss_after_passes, mib, note),
        ("bot DB size", lambda m: m.db_size, mib, "one chat per subscription; baseline: the empty DB"),
    ]
    rows = []
    for name, figure, unit, why in figures:
        value, baseline = median([figure(m) for m in full]), median([figure(m) for m in empty])
        rows.append(
            Row(f"{name}, {size:,} subscriptions", unit(value), unit(baseline), ratio(value, baseline), why)
        )
    return rows


async def measured(subscriptions: int) -> Measured:
    """One start of the bot with ``subscriptions`` in its DB, until its notifier's first passes."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        shared, bot_db = root / "schedules.db", root / "telegram.db"
        await write_schedules(shared)
        await fill(bot_db, subscriptions)
        db_size = bot_db.stat().st_size
        async with (
            FakeTelegram() as telegram,
            bot_process(root, telegram, shared, bot_db) as (process, started),
        ):
            await until(lambda: bool(telegram.calls_to("getUpdates")), "the bot's first getUpdates")
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


async def fill(path: Path, subscriptions: int) -> None:
    """The bot's DB with the real schema and ``subscriptions`` chats, one subscription each."""
    db = await BotDB.open(path, now=kyiv_now)
    await db.close()
    created = to_text(kyiv_now())
    pairs = [(region, group) for region in DEFAULT_REGIONS for group in GROUPS]
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        connection.executemany(
            "INSERT INTO recipients (id, lang, created_at) VALUES (?, 'uk', ?)",
            ((str(chat), created) for chat in range(1, subscriptions + 1)),
        )
        connection.executemany(
            "INSERT INTO subscriptions (recipient_id, region, grp) VALUES (?, ?, ?)",
            ((str(chat), *pairs[chat % len(pairs)]) for chat in range(1, subscriptions + 1)),
        )


@contextlib.asynccontextmanager
async def bot_process(
    folder: Path, telegram: FakeTelegram, shared: Path, bot_db: Path
) -> AsyncIterator[tuple[psutil.Process, float]]:
    """The Telegram bot running in ``folder`` (no developer's .env there), and when it was spawned."""
    env = {name: os.environ[name] for name in INHERITED if name in os.environ} | {
        "PYTHONPATH": str(REPO_ROOT),
        "TELEGRAM_API_BASE": telegram.base_url,
        "TELEGRAM_BOT_TOKEN": telegram.token,
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
            "telegram_bot",
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
