"""The Telegram renderer of the common views end to end: the real aiogram client against the fake Bot API,
schedules from a real shared DB. The buttons under a schedule edit the message they sit under; cached
file_ids Telegram rejects are uploaded again; typed text comes back without invisible characters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Protocol, Unpack

import pytest

from common.dtek.fake_site import FakeDtekSite, sample_schedule
from tests.fakes.telegram import FakeMessage, FakeTelegram, FakeUser
from tests.known import known
from tests.telegram_harness import (
    NOW,
    TODAY,
    Clock,
    RunningBot,
    SettingsValues,
    SharedDb,
    answer_address_up_to_the_house,
    make_settings,
    publish,
    start_bot,
)


class StartBot(Protocol):
    """The ``start`` fixture: starts the bot, with settings overrides as keywords."""

    async def __call__(self, **overrides: Unpack[SettingsValues]) -> RunningBot: ...


@pytest.fixture
async def start(
    telegram: FakeTelegram, dtek: FakeDtekSite, shared: SharedDb, tmp_path: Path
) -> AsyncIterator[StartBot]:
    """Starts the bot on the shared DB (settings overrides as keywords); stops it after the test."""
    _, path = shared
    running: list[RunningBot] = []

    async def start_with(**overrides: Unpack[SettingsValues]) -> RunningBot:
        settings: SettingsValues = {"schedule_db_url": str(path), **overrides}
        bot = await start_bot(make_settings(telegram, dtek, tmp_path, **settings), Clock(NOW))
        running.append(bot)
        return bot

    yield start_with
    for bot in running:
        await bot.stop()


async def photo_schedule(user: FakeUser, command: str = "/schedule 3.2") -> FakeMessage:
    await user.send(command)
    return await user.wait_for_message(lambda m: m.photo is not None)


async def press_and_wait_for_edit(
    user: FakeUser, label: str, message: FakeMessage, expected: str
) -> FakeMessage:
    """Presses ``label`` under ``message`` and waits until that very message shows ``expected``."""
    await user.press(label, message=user.chat.message(message.message_id))
    return await user.wait_for_message(
        lambda m: m.message_id == message.message_id and m.edited and expected in m.content
    )


def failed(telegram: FakeTelegram, method: str) -> list[str]:
    return [call.description or "" for call in telegram.calls_to(method) if call.status not in (None, 200)]


# --- the buttons edit the message they sit under -----------------------------------------------------


async def test_buttons_replace_the_picture_and_caption_of_the_same_message(
    telegram: FakeTelegram, start: StartBot
) -> None:
    await start()
    user = telegram.user(8001, language_code="en")
    schedule = await photo_schedule(user)
    assert "Today, Mon 23.11" in known(schedule.caption)
    assert "Tomorrow, Tue 24.11" in known(schedule.caption)
    tomorrow = await press_and_wait_for_edit(user, "Tomorrow", schedule, "Tomorrow, Tue 24.11")
    assert "Today," not in known(tomorrow.caption)
    assert known(tomorrow.photo).file_id != known(schedule.photo).file_id
    assert [text for row in tomorrow.buttons for text, _ in row] == [
        "🔄 Refresh",
        "📅 Week",
        "Today",
        "Tomorrow",
    ]
    week = await press_and_wait_for_edit(user, "📅 Week", schedule, "Weekly plan of possible outages")
    assert "Monday" in known(week.caption)
    assert known(week.photo).file_id not in (known(schedule.photo).file_id, known(tomorrow.photo).file_id)
    back = await press_and_wait_for_edit(user, "🔄 Refresh", schedule, "Today, Mon 23.11")
    assert "Tomorrow, Tue 24.11" in known(back.caption)
    assert back.photo == schedule.photo  # the main view's picture again, by its kept file_id
    assert [m.message_id for m in user.messages] == [schedule.message_id]  # no new message
    assert len(telegram.calls_to("sendPhoto")) == 1
    assert [call.ok for call in telegram.calls_to("editMessageMedia")] == [True, True, True]


async def test_refresh_with_nothing_new_is_quiet(
    telegram: FakeTelegram, start: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    await start()
    user = telegram.user(8002)
    schedule = await photo_schedule(user)
    await user.press("🔄 Оновити")
    await user.wait_for_callback_answer()
    await telegram.wait_until(
        lambda: failed(telegram, "editMessageMedia") or None, 5, lambda: "the refresh made no edit"
    )
    assert "message is not modified" in failed(telegram, "editMessageMedia")[0]
    # The bot goes on as usual: the next press edits the same message, and nothing else was sent.
    await press_and_wait_for_edit(user, "Завтра", schedule, "Завтра, вт 24.11")
    assert [m.message_id for m in user.messages] == [schedule.message_id]
    assert not any("Вибачте" in m.content for m in user.messages)
    assert not [record for record in caplog.records if "handler failed" in record.getMessage()]
    assert telegram.unanswered_callbacks == []


async def test_text_messages_are_edited_as_text(telegram: FakeTelegram, start: StartBot) -> None:
    await start()
    user = telegram.user(8003)
    await user.send("/pictures")
    await user.wait_for_message("Картинки вимкнено")
    await user.send("/schedule 3.2")
    schedule = await user.wait_for_message("Київ · Черга 3.2")
    assert schedule.photo is None
    tomorrow = await press_and_wait_for_edit(user, "Завтра", schedule, "Завтра, вт 24.11")
    assert tomorrow.photo is None
    assert "Сьогодні" not in known(tomorrow.text)
    await press_and_wait_for_edit(user, "📅 Тиждень", schedule, "Тижневий план")
    assert [call.ok for call in telegram.calls_to("editMessageText")] == [True, True]
    assert telegram.calls_to("sendPhoto") == []
    assert user.messages[-1].message_id == schedule.message_id


async def test_a_photo_message_keeps_its_picture_when_the_view_has_none(
    telegram: FakeTelegram, shared: SharedDb, start: StartBot
) -> None:
    writer, _ = shared
    await publish(writer, replace(sample_schedule("kem", TODAY), week={}))  # no weekly plan to draw
    await start()
    user = telegram.user(8004, language_code="en")
    schedule = await photo_schedule(user)
    week = await press_and_wait_for_edit(user, "📅 Week", schedule, "Weekly plan of possible outages")
    assert week.photo == schedule.photo
    assert "Monday" not in known(week.caption)
    assert [call.ok for call in telegram.calls_to("editMessageCaption")] == [True]
    assert telegram.calls_to("editMessageMedia") == []


# --- file_ids Telegram rejects -----------------------------------------------------------------------


async def test_a_rejected_file_id_is_forgotten_and_the_picture_sent_again(
    telegram: FakeTelegram, start: StartBot
) -> None:
    await start()
    first = await photo_schedule(telegram.user(8101))
    telegram.files.clear()  # Telegram no longer knows the file_ids it gave (say, after a token change)
    second = await photo_schedule(telegram.user(8102))
    assert failed(telegram, "sendPhoto") == ["Bad Request: wrong file identifier/HTTP URL specified"]
    assert not known(second.photo).reused
    assert known(second.photo).file_id != known(first.photo).file_id
    third = await photo_schedule(telegram.user(8103))
    assert known(third.photo).reused  # the new upload's file_id was kept in place of the rejected one
    assert known(third.photo).file_id == known(second.photo).file_id


async def test_a_rejected_file_id_in_an_edit_is_uploaded_again(
    telegram: FakeTelegram, start: StartBot
) -> None:
    await start()
    alice, bob = telegram.user(8201), telegram.user(8202)
    await press_and_wait_for_edit(alice, "Завтра", await photo_schedule(alice), "Завтра, вт 24.11")
    bobs = await photo_schedule(bob)
    telegram.files.clear()
    tomorrow = await press_and_wait_for_edit(bob, "Завтра", bobs, "Завтра, вт 24.11")
    assert not known(tomorrow.photo).reused
    statuses = [call.status for call in telegram.calls_to("editMessageMedia")]
    assert statuses == [200, 400, 200]  # alice's upload; bob's kept file_id refused, then his upload
    assert [m.message_id for m in bob.messages] == [bobs.message_id]
    carol = telegram.user(8203)
    again = await press_and_wait_for_edit(carol, "Завтра", await photo_schedule(carol), "Завтра, вт 24.11")
    assert known(again.photo).reused
    assert known(again.photo).file_id == known(tomorrow.photo).file_id


# --- /schedule 3.2 in the chat's own regions first ---------------------------------------------------


async def test_a_typed_group_is_looked_up_in_the_chats_regions_first(
    telegram: FakeTelegram, shared: SharedDb, start: StartBot
) -> None:
    writer, _ = shared
    await publish(writer, sample_schedule("dnem", TODAY))
    bot = await start(dtek_regions=["kem", "dnem"])
    dnipro, elsewhere = telegram.user(8301), telegram.user(8302)
    await bot.db.ensure_recipient(str(dnipro.id), "uk")
    await bot.db.subscribe(str(dnipro.id), "dnem", "GPV1.1")
    assert known((await photo_schedule(dnipro)).caption).startswith("Дніпро · Черга 3.2")
    assert known((await photo_schedule(elsewhere)).caption).startswith("Київ · Черга 3.2")


# --- typed text is echoed safely ---------------------------------------------------------------------


async def test_typed_text_comes_back_without_invisible_characters(
    telegram: FakeTelegram, start: StartBot
) -> None:
    await start()
    user = telegram.user(8401)
    await user.send("/schedule \x00\x01\u202e9.9\u2066")
    unknown = await user.wait_for_message("Невідома черга")
    assert known(unknown.text).startswith("Невідома черга «9.9». Доступні черги: 1.1, 1.2")
    await user.send("/schedule " + "9" * 100)
    assert "«" + "9" * 39 + "…»" in known((await user.wait_for_message("Невідома черга")).text)
    await user.send("/quiet \u202e25:00-07:00\x07")
    assert "«25:00-07:00»" in known((await user.wait_for_message("Не вдалося розібрати")).text)
    await user.send("/address")
    await user.wait_for_message("Введіть назву населеного пункту")
    await user.send("\u202dНемає\u200f\nтакого\x1b")
    assert "«Немає такого»" in known((await user.wait_for_message("Нічого не знайдено")).text)
    await answer_address_up_to_the_house(user)
    await user.send("\u2067999\u2069\x00")
    assert "Будинок «999» не знайдено" in known((await user.wait_for_message("не знайдено в графіках")).text)
