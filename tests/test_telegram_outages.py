"""Outages in progress at a saved address, in the Telegram bot end to end: the save button under the /address
answer, /outages, the outage lines of /status and under /schedule, and the alerts of the address watch.
The real aiogram client against the fake Bot API, the fake DTEK site answering getHomeNum."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from common.dtek.address import StreetAddress
from common.dtek.fake_site import FakeDtekSite
from common.views.outages import save_for_alerts
from tests.fakes.telegram import FakeMessage, FakeTelegram, FakeUser
from tests.known import known
from tests.telegram_harness import (
    NOW,
    Clock,
    RunningBot,
    SharedDb,
    answer_address_up_to_the_house,
    make_settings,
    start_bot,
)
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e  # the bot against the fake Bot API

KYIV_CITY, KHRESHCHATYK, VASYLKIVSKA = "м. Київ", "вул. Хрещатик", "вул. Велика Васильківська"
SAVE = "🏠 Зберегти адресу й стежити за відключеннями"
STARTED = NOW - timedelta(hours=1)
EXPECTED_END = NOW + timedelta(hours=3)
REPAIRS = "Аварійні ремонтні роботи"
PLANNED_WORKS = "Планові ремонтні роботи"
# The watch asks DTEK again after this (minutes): a test waits it out between two passes.
WATCH_INTERVAL_MINUTES = 0.001


@pytest.fixture
async def bot(
    telegram: FakeTelegram, dtek: FakeDtekSite, shared: SharedDb, tmp_path: Path
) -> AsyncIterator[RunningBot]:
    """The bot on the shared DB, its address watch asking DTEK again at each pass a test runs."""
    _, path = shared
    settings = make_settings(
        telegram,
        dtek,
        tmp_path,
        schedule_db_url=str(path),
        address_watch_interval_minutes=WATCH_INTERVAL_MINUTES,
    )
    running = await start_bot(settings, Clock(NOW))
    yield running
    await running.stop()


def dtek_time(moment: datetime) -> str:
    """As DTEK's getHomeNum writes a time."""
    return f"{moment:%H:%M %d.%m.%Y}"


def shown(moment: datetime) -> str:
    """As the bot writes it."""
    return f"{moment:%H:%M %d.%m}"


def outage(kind: str, reason: str, end: datetime = EXPECTED_END) -> dict[str, str]:
    """DTEK's fields of an outage in progress; ``kind`` "1" planned works, "2" emergency."""
    return {"type": kind, "sub_type": reason, "start_date": dtek_time(STARTED), "end_date": dtek_time(end)}


async def saved_with_alerts(bot: RunningBot, chat_id: int, street: str, house: str) -> StreetAddress:
    """The chat has saved this Kyiv address with the button (alerts on)."""
    address = StreetAddress("kem", KYIV_CITY, street, house)
    await bot.db.ensure_recipient(str(chat_id), "uk")
    await save_for_alerts(bot.db, str(chat_id), address)
    return address


async def address_answer(user: FakeUser) -> FakeMessage:
    """/address for Khreshchatyk 22A, in the user's private chat: the answer with its buttons."""
    await user.send("/address")
    await user.wait_for_message("Введіть назву населеного пункту")
    await answer_address_up_to_the_house(user)
    await user.send("22А")
    return await user.wait_for_message("Черга:")


def button_texts(message: FakeMessage) -> list[str]:
    return [button.text for row in message.buttons for button in row]


async def command_answer(user: FakeUser, command: str) -> str:
    """The text of the bot's next message after ``command``."""
    await user.send(command)
    return known((await user.wait_for_message()).text)


# --- the save button ----------------------------------------------------------------------------------


async def test_address_answer_saves_the_address_with_subscriptions_and_alerts(
    telegram: FakeTelegram, bot: RunningBot
) -> None:
    user = telegram.user(7101)
    found = await address_answer(user)
    assert known(found.text) == "Адреса: м. Київ, вул. Хрещатик, 22А. Черга: Черга 2.2, Черга 3.1."
    assert button_texts(found) == ["✅ Підписатися на Черга 2.2", "✅ Підписатися на Черга 3.1", SAVE]

    await user.press(SAVE)
    edited = await user.wait_for_message(lambda m: m.message_id == found.message_id and m.edited)
    assert edited.text == (
        "Адреса: м. Київ, вул. Хрещатик, 22А. Черга: Черга 2.2, Черга 3.1.\n\n"
        "🏠 Адресу збережено: м. Київ, вул. Хрещатик, 22А. Підписку на Черга 2.2, Черга 3.1 і сповіщення про"
        " відключення за цією адресою увімкнено.\n"
        "Вимкнути сповіщення: /outages off, видалити адресу: /outages forget."
    )
    assert button_texts(edited) == ["✅ Підписатися на Черга 2.2", "✅ Підписатися на Черга 3.1"]
    assert user.messages[-1].message_id == found.message_id  # the save said so in the answer, no new message
    chat = "7101"
    assert await bot.db.subscriptions(chat) == [("kem", "GPV2.2"), ("kem", "GPV3.1")]
    assert await bot.db.saved_addresses(chat) == [StreetAddress("kem", KYIV_CITY, KHRESHCHATYK, "22А")]
    assert await bot.db.wants_outage_alerts(chat)


async def test_outages_is_in_the_help_and_the_command_menu(telegram: FakeTelegram, bot: RunningBot) -> None:
    user = telegram.user(7105)
    assert "/outages [on|off|forget] — відключення за збереженою адресою" in await command_answer(
        user, "/help"
    )
    await wait_until(lambda: all(telegram.my_commands(lang) for lang in ("uk", "en")))
    assert dict(telegram.my_commands("uk"))["outages"] == "Відключення за збереженою адресою"
    assert dict(telegram.my_commands("en"))["outages"] == "Outages at your saved address"


async def test_an_outdated_or_forged_save_press_changes_nothing(
    telegram: FakeTelegram, bot: RunningBot
) -> None:
    user = telegram.user(7102)
    found = await address_answer(user)
    save = known(found.button(SAVE)).callback_data
    assert save is not None
    # Another generation than the answer's: a forged press, or a button of an earlier answer.
    forged = save.rsplit(":", 1)[0] + f":{found.message_id + 1000}"
    await user.press_data(forged, message=found)
    await user.wait_for_message("Це меню застаріло")
    # A new /address forgets the address found before: the old answer's button is outdated.
    await user.send("/address")
    await user.wait_for_message("Введіть назву населеного пункту")
    await user.press(SAVE, message=found)
    await user.wait_for_message("Це меню застаріло")

    answer = known(user.chat.message(found.message_id))
    assert not answer.edited
    assert answer.button(SAVE) is not None
    chat = "7102"
    assert await bot.db.subscriptions(chat) == []
    assert await bot.db.saved_addresses(chat) == []
    assert not await bot.db.wants_outage_alerts(chat)


async def test_in_a_group_only_admins_switch_or_save_outages(telegram: FakeTelegram, bot: RunningBot) -> None:
    admin, member = telegram.user(7103), telegram.user(7104)
    group = telegram.group(-1007103, admins={admin.id})
    await saved_with_alerts(bot, group.id, VASYLKIVSKA, "5")
    await member.send("/outages off", chat=group)
    await member.wait_for_message("лише адміністратори", chat=group)
    await member.press_data("ad:save:0:1", chat=group)
    refusal = await member.wait_for_callback_answer()
    assert refusal.show_alert
    assert "лише адміністратори" in known(refusal.text)
    assert await bot.db.wants_outage_alerts(str(group.id))
    await member.send("/outages", chat=group)  # anyone may look
    await member.wait_for_message("увімкнено", chat=group)
    await admin.send("/outages off", chat=group)
    await admin.wait_for_message("вимкнено", chat=group)
    assert not await bot.db.wants_outage_alerts(str(group.id))


# --- /outages -------------------------------------------------------------------------------------------

HINT = (
    "Зберегти адресу: /address. Сповіщення: /outages on або /outages off. Видалити адресу: /outages forget."
)


async def test_outages_shows_switches_and_forgets(telegram: FakeTelegram, bot: RunningBot) -> None:
    user = telegram.user(7201)
    assert await command_answer(user, "/outages") == (
        f"Збережених адрес немає: знайдіть свою адресу і збережіть її кнопкою під відповіддю.\n{HINT}"
    )
    address = await saved_with_alerts(bot, user.id, VASYLKIVSKA, "5")
    assert await command_answer(user, "/outages") == (
        "🔔 Сповіщення про відключення за збереженою адресою: увімкнено.\n"
        "🏠 м. Київ, вул. Велика Васильківська, 5: ДТЕК не повідомляє про відключення.\n"
        f"{HINT}"
    )
    off = await command_answer(user, "/outages off")
    assert off.startswith("🔕 Сповіщення про відключення за адресою вимкнено.")
    assert not await bot.db.wants_outage_alerts("7201")
    assert (await command_answer(user, "/outages")).startswith("🔕 Сповіщення про відключення за збереженою")
    assert (await command_answer(user, "/outages on")).startswith("🔔 Сповіщення увімкнено:")
    assert await bot.db.wants_outage_alerts("7201")

    bad = await command_answer(user, "/outages maybe\u202e<b>x</b>")
    assert bad == (
        "Не вдалося розібрати «maybe<b>x</b>». Напишіть /outages, /outages on, /outages off або /outages forget."
    )
    assert await bot.db.wants_outage_alerts("7201")
    assert await bot.db.saved_addresses("7201") == [address]

    forgotten = await command_answer(user, "/outages forget")
    assert forgotten == "Збережені адреси видалено, сповіщення за ними вимкнено."
    assert await bot.db.saved_addresses("7201") == []
    assert not await bot.db.wants_outage_alerts("7201")


# --- /status and /schedule ------------------------------------------------------------------------------


async def test_status_shows_the_outage_at_each_saved_address(
    telegram: FakeTelegram, dtek: FakeDtekSite, bot: RunningBot
) -> None:
    dtek.outages["kem", KYIV_CITY, KHRESHCHATYK, "1"] = outage("1", PLANNED_WORKS)
    dtek.outages["kem", KYIV_CITY, VASYLKIVSKA, "5"] = outage("2", REPAIRS)
    when = f"Початок: {shown(STARTED)}. Світло очікують: {shown(EXPECTED_END)}."
    expected = {
        (KHRESHCHATYK, "1"): f"🔧 Планові роботи: м. Київ, вул. Хрещатик, 1. {PLANNED_WORKS}. {when}",
        (
            VASYLKIVSKA,
            "5",
        ): f"⚠️ Аварійне відключення: м. Київ, вул. Велика Васильківська, 5. {REPAIRS}. {when}",
        ("просп. Перемоги", "10"): "🏠 м. Київ, просп. Перемоги, 10: ДТЕК не повідомляє про відключення.",
    }
    for chat_id, ((street, house), line) in enumerate(expected.items(), start=7301):
        await saved_with_alerts(bot, chat_id, street, house)
        user = telegram.user(chat_id)
        await user.send("/status")
        status = known((await user.wait_for_message("Режим:")).text)
        assert status.splitlines()[-1] == line


async def test_schedule_notes_an_outage_in_progress_at_a_saved_address_of_the_group(
    telegram: FakeTelegram, dtek: FakeDtekSite, bot: RunningBot
) -> None:
    dtek.outages["kem", KYIV_CITY, KHRESHCHATYK, "22а"] = outage("2", REPAIRS)
    note = (
        f"⚠️ Аварійне відключення: м. Київ, вул. Хрещатик, 22А. {REPAIRS}. Початок: {shown(STARTED)}."
        f" Світло очікують: {shown(EXPECTED_END)}."
    )
    with_outage, without = telegram.user(7401), telegram.user(7402)
    await saved_with_alerts(bot, with_outage.id, KHRESHCHATYK, "22А")
    await saved_with_alerts(bot, without.id, VASYLKIVSKA, "5")

    await with_outage.send("/schedule 3.1")
    schedule = await with_outage.wait_for_message(lambda m: m.photo is not None)
    assert "Київ · Черга 3.1" in known(schedule.caption)
    assert known(schedule.caption).endswith(note)
    # Under another group's schedule the address's outage is no news.
    await with_outage.send("/schedule 3.2")
    other = await with_outage.wait_for_message(lambda m: m.photo is not None)
    assert "Хрещатик" not in known(other.caption)
    # No outage at the saved address: nothing about it under its group's schedule.
    await without.send("/schedule 4.1")
    plain = await without.wait_for_message(lambda m: m.photo is not None)
    assert "Київ · Черга 4.1" in known(plain.caption)
    assert "Васильківська" not in known(plain.caption)


# --- alerts -----------------------------------------------------------------------------------------------


async def watch_pass(bot: RunningBot) -> int:
    """One pass of the address watch once the street is due again; the alerts it queued."""
    await asyncio.sleep(WATCH_INTERVAL_MINUTES * 60 * 2)
    return await bot.app.notifier.watch_addresses()


async def test_outage_alerts_start_move_and_end_once_each(
    telegram: FakeTelegram, dtek: FakeDtekSite, bot: RunningBot
) -> None:
    user = telegram.user(7501)
    await saved_with_alerts(bot, user.id, KHRESHCHATYK, "1")
    house = ("kem", KYIV_CITY, KHRESHCHATYK, "1")
    assert await watch_pass(bot) == 0  # the first look only records that there is no outage

    dtek.outages[house] = outage("2", REPAIRS)
    assert await watch_pass(bot) == 1
    started = await user.wait_for_message("Аварійне відключення")
    assert started.text == (
        "⚠️ Аварійне відключення: м. Київ, вул. Хрещатик, 1\n\n"
        f"{REPAIRS}. Початок: {shown(STARTED)}. Світло очікують: {shown(EXPECTED_END)}."
    )
    assert await watch_pass(bot) == 0  # told once

    later = EXPECTED_END + timedelta(hours=2)
    dtek.outages[house] = outage("2", REPAIRS, end=later)
    assert await watch_pass(bot) == 1
    moved = await user.wait_for_message("Новий час відновлення")
    assert moved.text == (
        f"🕓 Новий час відновлення: м. Київ, вул. Хрещатик, 1\n\nДТЕК тепер очікує світло: {shown(later)}."
    )

    del dtek.outages[house]
    assert await watch_pass(bot) == 1
    ended = await user.wait_for_message("Відключення завершилося")
    assert ended.text == (
        "✅ Відключення завершилося: м. Київ, вул. Хрещатик, 1\n\n"
        "ДТЕК більше не повідомляє про відключення за цією адресою."
    )
    assert await watch_pass(bot) == 0
    assert len(user.messages) == 3


async def test_no_alerts_once_switched_off(
    telegram: FakeTelegram, dtek: FakeDtekSite, bot: RunningBot
) -> None:
    user = telegram.user(7502)
    await saved_with_alerts(bot, user.id, KHRESHCHATYK, "22")
    assert await watch_pass(bot) == 0
    await user.send("/outages off")
    await user.wait_for_message("вимкнено")
    dtek.outages["kem", KYIV_CITY, KHRESHCHATYK, "22"] = outage("2", REPAIRS)
    assert await watch_pass(bot) == 0
    assert len(user.messages) == 1
