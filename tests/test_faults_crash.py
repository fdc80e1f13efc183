"""Crashes: the schedule service killed (SIGKILL) in the middle of its writes, and a bot killed in the middle
of a broadcast to 2,000 recipients, both as real processes.

The service's side is played by ``tests.store_helpers.writer_loop``, which saves one large version after
another (the service's own writer, each version derived from its number), while reader processes load the
schedule all along; the bot's side is the real ``python -m telegram_bot`` against the fake Bot API.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from common.botdb import BotDB
from common.dtek.fake_site import sample_schedule
from common.notifications.outbox import sends_in_flight
from common.store import ScheduleWriter
from tests.conftest import REPO_ROOT, real_kyiv_now
from tests.fakes.telegram import FakeTelegram
from tests.processes import Program, Programs, base_env
from tests.store_helpers.versions import BASE_FETCH, REGION, schedule_for, streets_for
from tests.telegram_harness import SharedDb, publish, with_day
from tests.test_fleet import baseline_rows, is_change_notice, nothing_pending, telegram_env
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e  # processes killed and started again

# --- the service killed while it writes ---------------------------------------------------------------

KILLS = 6
READERS = 2


async def start_python(programs: Programs, name: str, *argv: str) -> Program:
    return await programs.start(name, [sys.executable, *argv], base_env() | {"PYTHONPATH": str(REPO_ROOT)})


def stored_state(path: Path) -> tuple[str, int, str, str]:
    """integrity_check, then the region's version with its content hash and street list, read in one
    snapshot (a plain connection, as an operator's sqlite3 would open the file after the crash)."""
    with sqlite3.connect(path) as connection:
        [(integrity,)] = connection.execute("PRAGMA integrity_check").fetchall()
        connection.execute("BEGIN")
        [(version, content_hash)] = connection.execute(
            "SELECT version, content_hash FROM region_state WHERE region = ?", (REGION,)
        ).fetchall()
        [(streets,)] = connection.execute("SELECT data FROM streets WHERE region = ?", (REGION,)).fetchall()
        connection.execute("COMMIT")
    return integrity, version, content_hash, streets


@pytest.fixture
async def programs(tmp_path: Path) -> AsyncIterator[Programs]:
    async with Programs(tmp_path / "logs") as started:
        yield started


async def test_the_service_killed_while_writing_leaves_an_intact_db_of_whole_versions(
    programs: Programs, tmp_path: Path
) -> None:
    path = tmp_path / "schedules.db"
    async with await ScheduleWriter.open(path) as writer:
        await writer.save(schedule_for(1), streets=streets_for(1), fetched_at=BASE_FETCH, duration_seconds=1)
    readers = [
        await start_python(
            programs, "reader", "-m", "tests.store_helpers.reader_loop", str(path), "1000000", "120"
        )
        for _ in range(READERS)
    ]
    for reader in readers:
        await reader.wait_for_output("ready")

    moments = random.Random(11)  # the same kill moments on every run
    versions = [1]
    for _ in range(KILLS):
        writer_process = await start_python(
            programs, "writer", "-m", "tests.store_helpers.writer_loop", str(path)
        )
        await writer_process.wait_for_output("ready")
        await asyncio.sleep(moments.uniform(0.2, 0.6))  # some versions, then a kill in the middle of one
        await writer_process.kill()
        integrity, version, content_hash, streets = stored_state(path)
        assert integrity == "ok"
        # The last committed version, whole: its content and its streets, not parts of the one cut off.
        assert content_hash == schedule_for(version).content_hash()
        assert json.loads(streets) == streets_for(version)
        versions.append(version)
    assert versions == sorted(versions)  # no committed version was lost
    assert versions[-1] > KILLS  # the writer got on with its work between the kills

    for reader in readers:
        assert await reader.stop() == 0
        report = json.loads(reader.output.strip().splitlines()[-1])
        assert report["torn"] == 0, report  # no reader ever saw a mix of two versions
        assert report["error_count"] == 0, report
        assert report["versions"] > 1, report


# --- the Telegram bot killed in the middle of a broadcast -------------------------------------------------

RECIPIENTS = 2000
RATE = 1000  # TELEGRAM_RATE_LIMIT, so that the kill comes in a fast broadcast
# The outbox worker's sends under way at that rate: the most whose outcome a kill can cut off.
IN_FLIGHT = sends_in_flight(RATE)


async def start_telegram_bot(programs: Programs, env: dict[str, str]) -> Program:
    return await programs.start("telegram-bot", [sys.executable, "-m", "telegram_bot"], env)


async def test_the_telegram_bot_killed_in_a_broadcast_to_2000_chats_delivers_each_after_the_restart(
    telegram: FakeTelegram, shared: SharedDb, programs: Programs, tmp_path: Path
) -> None:
    writer, shared_path = shared
    today = real_kyiv_now().date()  # the process keeps the real clock: the change is tomorrow's, still news
    await publish(writer, sample_schedule("kem", today))
    bot_db = tmp_path / "telegram.db"
    chats = [telegram.user(30_000 + index) for index in range(RECIPIENTS)]
    async with await BotDB.open(bot_db, now=real_kyiv_now) as db:
        for chat in chats:
            await db.ensure_recipient(str(chat.id), "uk")
            await db.subscribe(str(chat.id), "kem", "GPV3.2")
    env = (
        base_env()
        | {"PYTHONPATH": str(REPO_ROOT)}
        | telegram_env(telegram)
        | {
            "DATABASE_URL": str(bot_db),
            "SCHEDULE_DB_URL": str(shared_path),
            "DTEK_REGIONS": "kem",
            "WATCH_INTERVAL_SECONDS": "0.2",
            "TELEGRAM_RATE_LIMIT": str(RATE),
        }
    )
    bot = await start_telegram_bot(programs, env)
    await wait_until(lambda: baseline_rows(bot_db, "kem"), timeout=30, what="the bot's baseline")
    tomorrow = today + timedelta(days=1)
    await publish(writer, with_day(sample_schedule("kem", today), tomorrow, "GPV3.2", "-" * 48))
    await wait_until(lambda: telegram.sent_count >= RECIPIENTS // 4, timeout=30, what="a quarter sent")
    await bot.kill()  # SIGKILL: no graceful stop of the outbox
    sent_at_the_kill = telegram.sent_count
    assert sent_at_the_kill < RECIPIENTS

    await start_telegram_bot(programs, env)
    await wait_until(lambda: nothing_pending(bot_db), timeout=40, what="the rest of the broadcast")
    counts = [sum(map(is_change_notice, chat.messages)) for chat in chats]
    assert min(counts) == 1  # every chat has the notice
    assert sum(counts) - RECIPIENTS <= IN_FLIGHT  # repeats: only the sends under way at the kill
