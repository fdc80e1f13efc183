"""Group chats end to end, with the real aiogram client against the fake Bot API: who may change a group's
settings, anonymous admins, the address questions under privacy mode, a group upgraded to a supergroup,
stale address suggestions and the apology's language."""

from __future__ import annotations

import pytest

from common.dtek.fake_site import sample_schedule
from tests.fakes.telegram import AnsweredCallback, FakeChat, FakeTelegram, FakeUser
from tests.known import known
from tests.telegram_harness import TODAY, RunningBot, SharedDb, publish, subscribe, with_day
from tests.waiting import wait_until


async def press_for_answer(user: FakeUser, text: str, chat: FakeChat) -> AnsweredCallback:
    """Presses a button and returns the bot's answer to this very press."""
    query_id = await user.press(text, chat=chat)
    return await user.telegram.wait_until(
        lambda: next((answer for answer in user.answered_callbacks if answer.query_id == query_id), None),
        5.0,
        lambda: f"the press of {text!r} got no answer",
    )


def admins_group(
    telegram: FakeTelegram, chat_id: int, chat_type: str = "supergroup"
) -> tuple[FakeChat, FakeUser, FakeUser]:
    """A group with an admin (2001 + offset) and a plain member."""
    offset = -chat_id % 1000
    admin = telegram.user(2000 + offset, "Admin")
    member = telegram.user(3000 + offset, "Member")
    group = telegram.group(chat_id, admins={admin.id}, chat_type=chat_type)
    return group, admin, member


# --- who may change a group's settings --------------------------------------------------------------


async def test_members_are_refused_admins_are_not(telegram: FakeTelegram, shared_bot: RunningBot) -> None:
    group, admin, member = admins_group(telegram, -100801)
    await member.send("/pictures", chat=group)
    await member.wait_for_message("лише адміністратори", chat=group)
    await member.send("/quiet 23:00-07:00", chat=group)
    await member.wait_for_message("лише адміністратори", chat=group)
    await member.send("/quiet", chat=group)  # looking is for everyone
    await member.wait_for_message("Тихі години", chat=group)
    refusal = await press_for_answer(member, "23:00–07:00", chat=group)
    assert refusal.show_alert
    assert "лише адміністратори" in (refusal.text or "")
    recipient = await shared_bot.db.get_recipient(str(group.id))
    assert recipient is not None
    assert (recipient.pictures, recipient.quiet_hours) == (True, None)

    await admin.press("23:00–07:00", chat=group)
    await admin.wait_for_message("Тихі години: 23:00–07:00", chat=group)
    await admin.send("/pictures", chat=group)
    await admin.wait_for_message("Картинки вимкнено", chat=group)
    await admin.send("/lang", chat=group)
    await admin.wait_for_message("Choose language", chat=group)
    assert (await press_for_answer(member, "English", chat=group)).show_alert
    assert known(await shared_bot.db.get_recipient(str(group.id))).lang == "uk"


async def test_an_anonymous_admin_writes_as_the_group(telegram: FakeTelegram, shared_bot: RunningBot) -> None:
    group, admin, _ = admins_group(telegram, -100802)
    await admin.send_as_group("/pictures", chat=group)
    await admin.wait_for_message("Картинки вимкнено", chat=group)
    assert not known(await shared_bot.db.get_recipient(str(group.id))).pictures
    assert telegram.calls_to("getChatMember") == []  # the message itself says it is from an admin


# --- the address questions under privacy mode --------------------------------------------------------


async def test_address_questions_force_a_reply_in_a_private_mode_group(
    telegram: FakeTelegram, shared_bot: RunningBot
) -> None:
    group, admin, member = admins_group(telegram, -100803)
    group.privacy_mode = True
    await member.send("/address", chat=group)
    question = await member.wait_for_message("Введіть назву населеного пункту", chat=group)
    assert question.forces_reply_from(member.id)
    assert not question.forces_reply_from(admin.id)  # selective: the others keep their keyboard
    await member.send("київ", chat=group)  # not a reply: privacy mode keeps it from the bot
    await member.reply(question, "київ")
    await member.wait_for_message("Оберіть населений пункт", chat=group)
    await member.press("м. Київ", chat=group)
    street = await member.wait_for_message("Введіть назву вулиці", chat=group)
    assert street.forces_reply_from(member.id)
    await member.reply(street, "жодної такої")
    retry = await member.wait_for_message("Нічого не знайдено за «жодної такої»", chat=group)
    assert retry.forces_reply_from(member.id)  # the retry, too, must reach the bot
    await member.reply(retry, "хрещ")
    await member.wait_for_message("Оберіть вулицю", chat=group)
    await member.press("вул. Хрещатик", chat=group)
    house = await member.wait_for_message("Введіть номер будинку", chat=group)
    assert house.forces_reply_from(member.id)
    await member.reply(house, "22А")
    await member.wait_for_message("Черга 2.2, Черга 3.1", chat=group)

    refusal = await press_for_answer(member, "✅ Підписатися на Черга 3.1", chat=group)
    assert refusal.show_alert  # subscribing the group is for admins
    await admin.press("✅ Підписатися на Черга 3.1", chat=group)
    await admin.wait_for_message("Підписано: Київ, Черга 3.1", chat=group)
    assert await shared_bot.db.subscriptions(str(group.id)) == [("kem", "GPV3.1")]
    assert sum("Оберіть населений пункт" in m.content for m in group.messages) == 1


async def test_address_questions_stay_plain_in_a_private_chat(
    telegram: FakeTelegram, shared_bot: RunningBot
) -> None:
    user = telegram.user(7101)
    await user.send("/address")
    question = await user.wait_for_message("Введіть назву населеного пункту")
    assert question.reply_markup is None
    assert question.text == "Введіть назву населеного пункту (наприклад, Київ):"


# --- stale address suggestions ---------------------------------------------------------------------


async def test_a_button_of_an_older_suggestion_list_is_out_of_date(
    telegram: FakeTelegram, shared_bot: RunningBot
) -> None:
    user = telegram.user(7102)
    await user.send("/address")
    await user.wait_for_message("Введіть назву населеного пункту")
    await user.send("київ")
    kyiv_list = await user.wait_for_message("Оберіть населений пункт")
    await user.send("гатне")
    await user.wait_for_message("Оберіть населений пункт")
    await user.press("м. Київ", message=user.chat.message(kyiv_list.message_id))  # the same index, older list
    await user.wait_for_message("Це меню застаріло")
    await user.press("с. Гатне")
    await user.wait_for_message("Введіть номер будинку")  # Гатне has no street list

    await user.send("/address")  # a new conversation: the old lists stay out of date
    await user.wait_for_message("Введіть назву населеного пункту")
    await user.send("гатне")
    await user.wait_for_message("Оберіть населений пункт")
    await user.press("м. Київ", message=user.chat.message(kyiv_list.message_id))
    await user.wait_for_message("Це меню застаріло")


# --- a group upgraded to a supergroup --------------------------------------------------------------


async def test_an_upgraded_group_keeps_its_settings_under_the_new_id(
    telegram: FakeTelegram, shared_bot: RunningBot
) -> None:
    group, admin, _ = admins_group(telegram, -804, chat_type="group")
    await subscribe(shared_bot, group.id, lang="en")
    await shared_bot.db.set_leads(str(group.id), 15, None)

    supergroup = telegram.migrate_to_supergroup(group, -1000000000804, by=admin)

    moved = await wait_until(lambda: shared_bot.db.get_recipient(str(supergroup.id)))
    assert (moved.lang, moved.lead_off_minutes) == ("en", 15)
    await admin.send("/my", chat=supergroup)
    my = await admin.wait_for_message("Your subscriptions", chat=supergroup)
    assert "Kyiv · Черга 3.2" in known(my.text)
    assert await shared_bot.db.subscriptions(str(supergroup.id)) == [("kem", "GPV3.2")]
    assert await shared_bot.db.get_recipient(str(group.id)) is None  # not brought back by its announcement


async def test_a_notice_to_an_upgraded_group_follows_it(
    telegram: FakeTelegram, shared: SharedDb, shared_bot: RunningBot
) -> None:
    writer, _ = shared
    group, admin, _ = admins_group(telegram, -805, chat_type="group")
    await subscribe(shared_bot, group.id)
    await wait_until(lambda: shared_bot.db.load_baseline("kem"))  # the watcher knows the current schedule
    supergroup = telegram.migrate_to_supergroup(group, -1000000000805, by=admin, announce=False)

    await publish(writer, with_day(sample_schedule("kem", TODAY), TODAY, "GPV3.2", "-" * 48))

    await admin.wait_for_message("Графік змінився", chat=supergroup)
    refused = [call for call in telegram.calls_to("sendMessage") if call.params["chat_id"] == group.id]
    assert [call.status for call in refused] == [400]
    assert await shared_bot.db.get_recipient(str(group.id)) is None
    assert await shared_bot.db.subscriptions(str(supergroup.id)) == [("kem", "GPV3.2")]


# --- the apology's language ------------------------------------------------------------------------


async def test_the_apology_speaks_the_chats_language(
    telegram: FakeTelegram, shared_bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    group, admin, _ = admins_group(telegram, -100806)
    await subscribe(shared_bot, group.id, lang="en")  # the admin's Telegram speaks Ukrainian
    monkeypatch.setattr(shared_bot.db, "subscriptions", broken)
    await admin.send("/my", chat=group)
    await admin.wait_for_message("Sorry, something went wrong", chat=group)


async def test_without_a_chat_record_the_apology_speaks_the_users_language(
    telegram: FakeTelegram, shared_bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    user = telegram.user(7103, language_code="en")
    monkeypatch.setattr(shared_bot.db, "ensure_recipient", broken)
    await user.send("/my")
    await user.wait_for_message("Sorry, something went wrong")
