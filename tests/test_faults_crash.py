"""Crashes: the schedule service killed (SIGKILL) in the middle of its writes, and each bot killed in the
middle of a broadcast to 2,000 recipients, all as real processes.

The service's side is played by ``tests.store_helpers.writer_loop``, which saves one large version after
another (the service's own writer, each version derived from its number), while reader processes load the
schedule all along; the bots are the real ``python -m telegram_bot`` against the fake Bot API and
``python -m discord_bot`` against the fake Discord.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path

import pytest

from common.botdb import BotDB
from common.dtek.fake_site import sample_schedule
from common.notifications.outbox import sends_in_flight
from common.store import ScheduleWriter
from discord_bot.alerts import turn_on
from discord_bot.delivery import channel_recipient
from tests.conftest import REPO_ROOT, real_kyiv_now
from tests.fakes.discord import FakeDiscord
from tests.fakes.telegram import FakeTelegram
from tests.processes import Program, Programs, base_env
from tests.store_helpers.versions import BASE_FETCH, REGION, schedule_for, streets_for
from tests.telegram_harness import SharedDb, publish, with_day
from tests.test_discord_resilience import POST, notices
from tests.test_fleet import baseline_rows, discord_env, is_change_notice, nothing_pending, telegram_env
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


# --- a bot killed in the middle of a broadcast ------------------------------------------------------------

RECIPIENTS = 2000
TELEGRAM_RATE = 1000  # TELEGRAM_RATE_LIMIT, so that the kill comes in a fast broadcast
DISCORD_RATE = 200  # DISCORD_RATE_LIMIT: 2,000 posts in some 10 s, with 50 sends under way at most
SERVER_CHANNELS = 500  # Discord's limit of channels in one server
DM_USERS = 500  # the Discord recipients besides the server channels: users' personal alerts by DM


async def broadcast_cut_by_a_kill(
    programs: Programs,
    shared: SharedDb,
    bot_db: Path,
    bot: str,
    bot_env: Mapping[str, str],
    sent: Callable[[], int],
) -> None:
    """Runs ``python -m bot`` on the shared DB, publishes a change of tomorrow's GPV3.2 (the recipients'
    group) once the bot has its baseline, SIGKILLs the bot a quarter into the broadcast, and runs it again
    until its outbox is empty. ``sent``: how many messages the platform has had from the bot so far."""
    writer, shared_path = shared
    today = real_kyiv_now().date()  # the process keeps the real clock: the change is tomorrow's, still news
    await publish(writer, sample_schedule("kem", today))
    env = (
        base_env()
        | {"PYTHONPATH": str(REPO_ROOT)}
        | dict(bot_env)
        | {
            "DATABASE_URL": str(bot_db),
            "SCHEDULE_DB_URL": str(shared_path),
            "DTEK_REGIONS": "kem",
            "WATCH_INTERVAL_SECONDS": "0.2",
        }
    )
    program = await programs.start(bot, [sys.executable, "-m", bot], env)
    await wait_until(lambda: baseline_rows(bot_db, "kem"), timeout=30, what="the bot's baseline")
    tomorrow = today + timedelta(days=1)
    await publish(writer, with_day(sample_schedule("kem", today), tomorrow, "GPV3.2", "-" * 48))
    await wait_until(lambda: sent() >= RECIPIENTS // 4, timeout=30, what="a quarter sent")
    await program.kill()  # SIGKILL: no graceful stop of the outbox
    sent_at_the_kill = sent()
    assert sent_at_the_kill < RECIPIENTS

    await programs.start(bot, [sys.executable, "-m", bot], env)
    await wait_until(lambda: nothing_pending(bot_db), timeout=40, what="the rest of the broadcast")
    assert sent() > sent_at_the_kill  # the restarted bot sent the rest


def assert_each_has_it_repeated_at_most_in_flight(notices_per_recipient: Sequence[int], rate: float) -> None:
    """Every recipient has the notice, and the only repeats are of the sends under way at the kill: at most
    the outbox worker's concurrency at that rate."""
    assert len(notices_per_recipient) == RECIPIENTS
    assert min(notices_per_recipient) == 1
    assert sum(notices_per_recipient) - RECIPIENTS <= sends_in_flight(rate)


async def test_the_telegram_bot_killed_in_a_broadcast_to_2000_chats_delivers_each_after_the_restart(
    telegram: FakeTelegram, shared: SharedDb, programs: Programs, tmp_path: Path
) -> None:
    bot_db = tmp_path / "telegram.db"
    chats = [telegram.user(30_000 + index) for index in range(RECIPIENTS)]
    async with await BotDB.open(bot_db, now=real_kyiv_now) as db:
        for chat in chats:
            await db.ensure_recipient(str(chat.id), "uk")
            await db.subscribe(str(chat.id), "kem", "GPV3.2")
    bot_env = telegram_env(telegram) | {"TELEGRAM_RATE_LIMIT": str(TELEGRAM_RATE)}
    await broadcast_cut_by_a_kill(
        programs, shared, bot_db, "telegram_bot", bot_env, lambda: telegram.sent_count
    )
    received = [sum(map(is_change_notice, chat.messages)) for chat in chats]
    assert_each_has_it_repeated_at_most_in_flight(received, TELEGRAM_RATE)


async def test_the_discord_bot_killed_in_a_broadcast_to_2000_channels_and_dms_delivers_each_after_the_restart(
    discord_fake: FakeDiscord, shared: SharedDb, programs: Programs, tmp_path: Path
) -> None:
    servers = [
        discord_fake.guild(f"server {index}") for index in range((RECIPIENTS - DM_USERS) // SERVER_CHANNELS)
    ]
    channels = [
        server.text_channel(f"черга-{index}") for server in servers for index in range(SERVER_CHANNELS)
    ]
    users = [discord_fake.user(f"user{index}") for index in range(DM_USERS)]
    bot_db = tmp_path / "discord.db"
    async with await BotDB.open(bot_db, now=real_kyiv_now) as db:
        for server in servers:
            for channel in server.channels:
                await db.subscribe_channel(
                    channel_recipient(channel.id), "kem", "GPV3.2", server_id=str(server.id), lang="uk"
                )
        for user in users:  # as /notify on stores them
            await turn_on(db, user.id, "uk", {"kem": "GPV3.2"})
    discord_fake.delay_answers(POST, 0.1)  # Discord's round trip: some 20 posts under way at the kill
    bot_env = discord_env(discord_fake) | {"DISCORD_RATE_LIMIT": str(DISCORD_RATE)}
    await broadcast_cut_by_a_kill(
        programs, shared, bot_db, "discord_bot", bot_env, lambda: len(discord_fake.requests_to(POST))
    )
    places = [*channels, *(user.dm for user in users)]
    assert_each_has_it_repeated_at_most_in_flight([notices(place) for place in places], DISCORD_RATE)
