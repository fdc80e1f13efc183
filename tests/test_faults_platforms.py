"""Telegram and Discord misbehaving around a running bot: a broadcast through bursts of 429 (with
retry_after), 5xx and blocked chats; a long poll whose connection drops; a gateway connection cut without a
close frame. Nothing is lost, nothing goes twice, blocked recipients are deactivated."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.dtek.fake_site import sample_schedule
from discord_bot.delivery import channel_recipient
from tests.discord_harness import GROUPS, NOW, Clock, DiscordWorld, discord_settings, start_bot
from tests.discord_harness import TODAY as DISCORD_TODAY
from tests.fakes.discord import CallbackType, FakeDiscord
from tests.fakes.telegram import FakeTelegram
from tests.known import known
from tests.telegram_harness import TODAY, RunningBot, SharedDb, publish, subscribe, with_day
from tests.test_discord_resilience import CHANGED, notices, outbox_empty
from tests.test_fleet import is_change_notice
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e  # the bots against the fake platforms

SUBSCRIBERS = 30
BLOCKED = 3


async def test_a_broadcast_through_429_and_5xx_bursts_and_blocked_chats_reaches_everyone_else_once(
    telegram: FakeTelegram, shared: SharedDb, shared_bot: RunningBot
) -> None:
    chats = [telegram.user(8000 + index) for index in range(SUBSCRIBERS)]
    for chat in chats:
        await subscribe(shared_bot, chat.id)
    blocked, reachable = chats[:BLOCKED], chats[BLOCKED:]
    for chat in blocked:
        telegram.block(chat)
    telegram.fail_next("sendMessage", 429, retry_after=1, count=4)  # a burst of flood control
    telegram.fail_next("sendMessage", 502, count=4)  # then Telegram's servers in trouble
    telegram.rate_limit(10)  # and flood control at 10 messages a second throughout

    await publish(shared[0], with_day(sample_schedule("kem", TODAY), TODAY, "GPV3.2", "-" * 48))
    await wait_until(
        lambda: all(any(map(is_change_notice, chat.messages)) for chat in reachable),
        timeout=40,
        what="the broadcast",
    )
    await wait_until(shared_bot.outbox_empty, timeout=10)
    assert [sum(map(is_change_notice, chat.messages)) for chat in reachable] == [1] * len(reachable)
    for chat in blocked:
        assert chat.messages == []
        assert not known(await shared_bot.db.get_recipient(str(chat.id))).active
        assert await shared_bot.db.subscriptions(str(chat.id)) == [("kem", "GPV3.2")]  # kept for a return
    statuses = [call.status for call in telegram.calls_to("sendMessage")]
    assert statuses.count(502) == 4
    assert statuses.count(429) >= 4
    assert (await shared_bot.db.outbox_counts())["dead"] == BLOCKED  # the blocked chats' rows, dropped


async def test_a_long_poll_whose_connection_drops_is_polled_again_and_no_update_is_lost(
    telegram: FakeTelegram, shared_bot: RunningBot
) -> None:
    user = telegram.user(8101)

    def waiting_polls() -> int | None:
        polls = [call for call in telegram.calls_to("getUpdates") if call.status is None]
        return len(polls) or None

    await wait_until(waiting_polls, timeout=10, what="a long poll under way")
    polls = len(telegram.calls_to("getUpdates"))
    assert telegram.drop_connections() >= 1
    await user.send("/schedule 3.2")  # while the bot has no poll under way
    photo = await user.wait_for_message(lambda message: message.photo is not None, timeout=15)
    assert "Черга 3.2" in known(photo.caption)
    assert len(telegram.calls_to("getUpdates")) > polls  # polled again after the drop
    await user.send("/help")
    await user.wait_for_message("/schedule", timeout=10)
    assert sum(message.photo is not None for message in user.messages) == 1  # answered once


async def test_a_gateway_connection_cut_resumes_and_delivery_and_commands_go_on(
    discord_fake: FakeDiscord, discord_world: DiscordWorld, discord_shared: SharedDb, tmp_path: Path
) -> None:
    settings = discord_settings(
        discord_fake, tmp_path, schedule_db_url=str(discord_shared[1]), watch_interval_seconds=0.1
    )
    general = discord_world.general
    async with start_bot(settings, Clock(NOW)) as bot:
        db = bot.ctx.db
        await db.subscribe_channel(
            channel_recipient(general.id), "kem", "GPV3.2", server_id=str(discord_world.guild.id), lang="uk"
        )
        await wait_until(lambda: db.load_baseline("kem"))
        discord_fake.drop_gateway()  # no close frame: the bot learns it from the dead connection
        await publish(
            discord_shared[0],
            with_day(sample_schedule("kem", DISCORD_TODAY, groups=GROUPS), DISCORD_TODAY, "GPV3.2", CHANGED),
        )
        await wait_until(lambda: len(discord_fake.resumes) == 1, timeout=20, what="the RESUME")
        assert len(discord_fake.identifies) == 1  # resumed, not identified again
        await wait_until(lambda: notices(general) == 1, timeout=20, what="the change notice")
        interaction = await discord_world.alice.invoke("schedule", channel=general, group="3.2")
        assert (await interaction.wait_for_response(timeout=10)).type == CallbackType.CHANNEL_MESSAGE
        await wait_until(lambda: outbox_empty(bot))
    assert notices(general) == 1
