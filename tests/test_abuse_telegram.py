"""Abuse of the Telegram bot end to end: a flooding user is throttled without slowing the others, forged
button data and odd command arguments change nothing, admin commands stay the admins'.

Already covered elsewhere: forged and stale buttons of unknown groups get a fresh menu
(test_telegram_bot.py::test_forged_and_stale_buttons_get_a_fresh_menu), a non-admin's /stats and a second
forced refresh within FORCE_REFRESH_INTERVAL_MINUTES are refused
(test_telegram_bot.py::test_admin_stats_and_rate_limited_refresh), group members may not change a group's
settings (test_telegram_chats.py::test_members_are_refused_admins_are_not).
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from common.dtek.fake_site import FakeDtekSite
from tests.fakes.telegram import FakeTelegram
from tests.metrics_helpers import sample
from tests.telegram_harness import NOW, FrozenClock, RunningBot, SharedDb, make_settings, start_bot, subscribe
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

BURST = 10  # USER_RATE_LIMIT_BURST's default; 20 a minute refill one every 3 s
NOTICE = "Забагато запитів. Зачекайте 3 с"
HELP = "/schedule"  # in the answer to /help


@pytest.fixture
async def frozen_bot(
    telegram: FakeTelegram, dtek: FakeDtekSite, shared: SharedDb, tmp_path: Path
) -> AsyncIterator[RunningBot]:
    settings = make_settings(telegram, dtek, tmp_path, schedule_db_url=str(shared[1]))
    bot = await start_bot(settings, FrozenClock(NOW))
    yield bot
    await bot.stop()


def dump(bot: RunningBot) -> list[str]:
    """Every row of the bot's DB as SQL, the outbox's bookkeeping included."""
    with sqlite3.connect(bot.app.settings.database_url) as db:
        return list(db.iterdump())


def answers_to(telegram: FakeTelegram, chat_id: int) -> list[float]:
    """When each sendMessage to this chat arrived (monotonic seconds)."""
    return [call.at for call in telegram.calls_to("sendMessage") if call.params.get("chat_id") == chat_id]


async def test_a_flooding_user_is_throttled_and_the_others_are_answered_promptly(
    telegram: FakeTelegram, frozen_bot: RunningBot
) -> None:
    flooder = telegram.user(3000)
    others = [telegram.user(3001 + n) for n in range(10)]
    sent_at: dict[int, float] = {}
    loop = asyncio.get_running_loop()
    for n in range(100):  # 100 commands within a second, the others' among them
        await flooder.send("/help")
        if n % 10 == 5:
            other = others[n // 10]
            sent_at[other.id] = loop.time()
            await other.send("/help")
    for other in others:
        await other.wait_for_message(HELP, timeout=15)
    latencies = [answers_to(telegram, other.id)[0] - sent_at[other.id] for other in others]

    metrics = frozen_bot.app.ctx.metrics
    await wait_until(lambda: sample(metrics, "dtek_updates_total", kind="message") == 110, 15)
    await wait_until(lambda: len(flooder.messages) == BURST + 1, 10, what="the flooder's answers")
    texts = [message.content for message in flooder.messages]
    assert sum(HELP in text for text in texts) == BURST
    assert [text for text in texts if HELP not in text] == [NOTICE + " і спробуйте знову."]
    assert sample(metrics, "dtek_requests_throttled_total") == 100 - BURST  # what an operator sees
    print(
        f"\nothers' latency during a flood of 100 commands: median {statistics.median(latencies) * 1000:.0f} ms,"
        f" max {max(latencies) * 1000:.0f} ms"
    )
    assert max(latencies) < 10  # generous: the machine may be busy; the point is they were all answered

    frozen_bot.clock.set(NOW + timedelta(seconds=3))  # one request's worth refilled
    await flooder.send("/help")
    await flooder.wait_for_message(HELP)


async def test_every_throttled_press_is_answered_so_its_spinner_stops(
    telegram: FakeTelegram, frozen_bot: RunningBot
) -> None:
    user = telegram.user(3100)
    for _ in range(BURST):
        await user.send("/help")
    await wait_until(lambda: len(user.messages) == BURST, 10)
    for _ in range(3):
        await user.press_data("totally-unknown")
    answers = [await user.wait_for_callback_answer() for _ in range(3)]
    assert [answer.text for answer in answers] == [NOTICE + " і спробуйте знову.", None, None]
    assert len(user.messages) == BURST  # no fresh menu: the presses did not reach the handlers


async def test_group_chatter_does_not_count_against_a_member(
    telegram: FakeTelegram, frozen_bot: RunningBot
) -> None:
    member = telegram.user(3200)
    group = telegram.group(-100320, admins=set())
    for n in range(BURST * 3):
        await member.send(f"chatting {n}", chat=group)
    await member.send("/help", chat=group)
    await member.wait_for_message(HELP, chat=group)
    assert not any(NOTICE in message.content for message in group.messages)


FORGED = [
    "gr:sub:kem:GPV3.2' OR 1=1; DROP TABLE subscriptions; --",
    "gr:sub:kem:" + "9" * 10_000,
    "vw:kem:GPV3.2\x00\u202e\x07:day",
    "un:kem:GPV3.2",  # another chat is subscribed to it; this user is not
    "ld:off:99999999999999999999999",
    "qt:2500:9999",
    "lg:xx",
    "ad:save:0:4242",  # an address this chat was never offered
    "rg:sub:nowhere",
]


async def test_forged_button_data_gets_an_answer_and_changes_nothing(
    telegram: FakeTelegram, shared_bot: RunningBot
) -> None:
    victim, user = telegram.user(3301), telegram.user(3302)
    await subscribe(shared_bot, victim.id)
    await user.send("/help")
    await user.wait_for_message(HELP)  # the user's chat is known from here on
    before = dump(shared_bot)
    for data in FORGED:
        await user.press_data(data)
        answer = await user.wait_for_callback_answer()
        assert answer.data == data
        await user.wait_for_message("Це меню застаріло")  # and a fresh menu, as for any stale button
    assert dump(shared_bot) == before
    assert [m.content for m in user.messages if "\x00" in m.content or "\u202e" in m.content] == []


ODD_ARGUMENTS = [
    "3.2' OR 1=1; DROP TABLE subscriptions; --",
    "3" * 4000,  # a message holds at most 4096 characters
    "3.2\x00\u202e\x07\x1b[31m",
    "-100500",  # another chat's id
]


@pytest.mark.parametrize("odd", ODD_ARGUMENTS, ids=["sql", "4000-characters", "controls", "a-chat-id"])
async def test_odd_command_arguments_get_a_clear_answer_and_change_nothing(
    telegram: FakeTelegram, shared_bot: RunningBot, odd: str
) -> None:
    user, admin = telegram.user(3401), telegram.user(1)
    await user.send("/help")
    await user.wait_for_message(HELP)
    await admin.send("/help")
    await admin.wait_for_message(HELP)
    before = dump(shared_bot)
    await user.send(f"/schedule {odd}")
    unknown = await user.wait_for_message("Невідома черга «")
    await admin.send(f"/refresh {odd}")
    refused = await admin.wait_for_message(lambda m: HELP not in m.content)
    for answer in (unknown.content, refused.content):
        assert len(answer) < 600
        assert not any((ord(c) < 32 and c != "\n") or c == "\u202e" for c in answer)
    assert "Дані оновлено" not in refused.content
    assert dump(shared_bot) == before


async def test_only_admin_ids_reach_admin_commands(telegram: FakeTelegram, shared_bot: RunningBot) -> None:
    stranger = telegram.user(3501)
    group = telegram.group(-100350, admins={stranger.id})  # an admin of a group is no admin of the bot
    await stranger.send("/refresh")
    await stranger.wait_for_message("лише для адміністраторів")
    await stranger.send("/refresh", chat=group)
    await stranger.wait_for_message("лише для адміністраторів", chat=group)
    await stranger.send_as_group("/stats", chat=group)
    await stranger.wait_for_message("лише для адміністраторів", chat=group)
    admin = telegram.user(1)
    await admin.send("/refresh")
    await admin.wait_for_message("Дані оновлено (kem)")  # the refusals took no forced refresh's turn
