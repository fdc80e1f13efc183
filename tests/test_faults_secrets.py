"""Secrets: every line both bots log at DEBUG through a whole scenario (start, a command answered, a change
notice delivered, an upstream error, SIGTERM) is free of the token and of the webhook secret; and the bots'
connection to the shared DB cannot write, even after switching off its ``query_only`` guard."""

from __future__ import annotations

import sqlite3
import sys
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from common.botdb import BotDB
from common.dtek.fake_site import sample_schedule
from common.source import SharedDbLoader
from discord_bot.delivery import channel_recipient
from tests.conftest import REPO_ROOT, real_kyiv_now
from tests.discord_harness import GROUPS, DiscordWorld
from tests.fakes.discord import FakeDiscord
from tests.fakes.telegram import FakeTelegram
from tests.known import known
from tests.processes import Program, Programs, base_env
from tests.telegram_harness import SharedDb, publish, with_day
from tests.test_fleet import baseline_rows, discord_env, is_change_notice, posts, telegram_env
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e  # the programs as processes

WEBHOOK_SECRET = "webhook-SECRET-4f1d9c"


def quick_env(db: Path, shared_db: Path) -> dict[str, str]:
    return base_env() | {
        "PYTHONPATH": str(REPO_ROOT),
        "LOG_LEVEL": "DEBUG",
        "DATABASE_URL": str(db),
        "SCHEDULE_DB_URL": str(shared_db),
        "DTEK_REGIONS": "kem",
        "WATCH_INTERVAL_SECONDS": "0.2",
    }


async def publish_today(shared: SharedDb, *, groups: int = 6) -> None:
    """Today's sample by the real clock, which the processes keep."""
    await publish(shared[0], sample_schedule("kem", real_kyiv_now().date(), groups=groups))


async def publish_a_change(shared: SharedDb, bot_db: Path, *, groups: int = 6) -> None:
    """Once the bot has its baseline: a change to tomorrow's 3.2, news whatever the hour."""
    await wait_until(lambda: baseline_rows(bot_db, "kem"), timeout=30, what="the bot's baseline")
    today = real_kyiv_now().date()
    changed = with_day(
        sample_schedule("kem", today, groups=groups), today + timedelta(days=1), "GPV3.2", "-" * 48
    )
    await publish(shared[0], changed)


def assert_no_secret(program: Program, *secrets: str) -> None:
    text = program.output
    assert " DEBUG " in text  # the most talkative level was on
    for secret in secrets:
        assert secret not in text


def update(update_id: int, chat_id: int, text: str) -> dict[str, object]:
    """A private message as Telegram posts it to a webhook."""
    command = text.split()[0]
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 0,
            "chat": {"id": chat_id, "type": "private"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "T", "language_code": "uk"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}],
        },
    }


async def test_the_telegram_bots_debug_log_of_a_whole_scenario_holds_neither_token_nor_webhook_secret(
    telegram: FakeTelegram, shared: SharedDb, tmp_path: Path, unused_tcp_port: int
) -> None:
    bot_db = tmp_path / "telegram.db"
    await publish_today(shared)
    subscriber, asker = telegram.user(7001), telegram.user(7002)
    async with await BotDB.open(bot_db, now=real_kyiv_now) as db:
        await db.ensure_recipient(str(subscriber.id), "uk")
        await db.subscribe(str(subscriber.id), "kem", "GPV3.2")
    env = quick_env(bot_db, shared[1]) | telegram_env(telegram)
    env |= {
        "TELEGRAM_WEBHOOK_URL": "https://bot.example.invalid/",
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "WEBHOOK_HOST": "127.0.0.1",
        "WEBHOOK_PORT": str(unused_tcp_port),
    }
    async with Programs(tmp_path / "logs") as programs:
        bot = await programs.start("telegram-bot", [sys.executable, "-m", "telegram_bot"], env)
        await bot.wait_for_output("webhook listening on", timeout=30)
        # Upstream errors: the first answer to a command and the first change notice get a 502.
        telegram.fail_next("sendPhoto", 502)
        telegram.fail_next("sendMessage", 502)
        url = f"http://127.0.0.1:{unused_tcp_port}/telegram/webhook"
        async with aiohttp.ClientSession() as session:
            for update_id, secret, status in [
                (1, "wrong", 401),
                (2, WEBHOOK_SECRET, 200),
                (3, WEBHOOK_SECRET, 200),
            ]:
                headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
                async with session.post(
                    url, json=update(update_id, asker.id, "/schedule 3.2"), headers=headers
                ) as answer:
                    assert answer.status == status
        photo = await asker.wait_for_message(lambda message: message.photo is not None, timeout=20)
        assert "Черга 3.2" in known(photo.caption)
        await publish_a_change(shared, bot_db)
        await subscriber.wait_for_message(is_change_notice, timeout=30)
        assert await bot.stop() == 0
    failed = [call.method for call in telegram.calls if call.status == 502]
    assert sorted(failed) == ["sendMessage", "sendPhoto"]  # each answered after the error all the same
    assert_no_secret(bot, telegram.token, telegram.token.partition(":")[2], WEBHOOK_SECRET)


async def test_the_discord_bots_debug_log_of_a_whole_scenario_holds_no_token(
    discord_fake: FakeDiscord, discord_world: DiscordWorld, discord_shared: SharedDb, tmp_path: Path
) -> None:
    bot_db = tmp_path / "discord.db"
    await publish_today(discord_shared, groups=GROUPS)
    async with await BotDB.open(bot_db, now=real_kyiv_now) as db:
        await db.subscribe_channel(
            channel_recipient(discord_world.general.id),
            "kem",
            "GPV3.2",
            server_id=str(discord_world.guild.id),
            lang="uk",
        )
    env = quick_env(bot_db, discord_shared[1]) | discord_env(discord_fake)
    async with Programs(tmp_path / "logs") as programs:
        bot = await programs.start("discord-bot", [sys.executable, "-m", "discord_bot"], env)
        await bot.wait_for_output("connected as", timeout=30)
        interaction = await discord_world.alice.invoke("schedule", channel=discord_world.general, group="3.2")
        await interaction.wait_for_response(timeout=10)
        answer = await interaction.wait_for_original(lambda message: bool(message.embeds), timeout=10)
        assert known(answer.embed)["title"] == "Київ · Черга 3.2"
        # Upstream errors: the notice's post gets a 500 (discord.py tries again), and the gateway moves the
        # session (the bot RESUMEs with its token).
        discord_fake.fail_next("POST /channels/{channel_id}/messages", 500)
        await discord_fake.request_reconnect()
        await wait_until(lambda: len(discord_fake.resumes) == 1, timeout=20, what="the RESUME")
        await publish_a_change(discord_shared, bot_db, groups=GROUPS)
        await wait_until(lambda: posts(discord_world), timeout=30, what="the change notice")
        assert await bot.stop() == 0
    statuses = [
        request.status for request in discord_fake.requests_to("POST /channels/{channel_id}/messages")
    ]
    assert statuses == [500, 200]
    assert discord_fake.resumes[0]["token"] == discord_fake.token  # the token went over the wire, not the log
    assert_no_secret(bot, discord_fake.token)


async def test_the_bots_shared_db_connection_cannot_write(shared: SharedDb) -> None:
    _, path = shared
    loader = SharedDbLoader(path, now=real_kyiv_now)
    try:
        before = known(await loader.load("kem"))  # opened, as a bot opens it
        connection = known(loader._reader)._db
        # Not only the query_only guard: the file itself is open read-only.
        await connection.execute("PRAGMA query_only = OFF")
        for write in ("DELETE FROM day_slots", "UPDATE region_state SET version = 0"):
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                await connection.execute(write)
        assert known(await loader.load("kem")) == before  # nothing changed
    finally:
        await loader.aclose()
