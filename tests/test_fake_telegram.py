"""The fake Telegram Bot API server, driven by the real aiogram Bot and Dispatcher over real HTTP."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.filters import Command, CommandStart
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
)
from PIL import Image

from tests.fakes.telegram import FakeTelegram, FakeUser
from tests.known import known

BOT_ID = 123456
TOKEN = f"{BOT_ID}:TEST-TOKEN"
GROUP_ID = -1001234567890

QUEUES = InlineKeyboardMarkup(
    inline_keyboard=[
        [
            InlineKeyboardButton(text="Черга 3.1", callback_data="queue:3.1"),
            InlineKeyboardButton(text="Черга 3.2", callback_data="queue:3.2"),
        ]
    ]
)


def make_router() -> Router:
    """A tiny bot: /start offers queues, a press edits that message, /schedule answers in groups too."""
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("<b>Оберіть</b> чергу:", parse_mode="HTML", reply_markup=QUEUES)

    @router.message(Command("schedule"))
    async def schedule(message: Message) -> None:
        await message.answer(f"Розклад для чату {message.chat.id}")

    @router.callback_query(F.data.startswith("queue:"))
    async def choose(callback: CallbackQuery) -> None:
        queue = known(callback.data).removeprefix("queue:")  # the filter matched it
        assert isinstance(callback.message, Message)  # the fake sends every pressed message
        await callback.message.edit_text(f"Обрано чергу {queue}")
        await callback.answer("Збережено")

    @router.callback_query()
    async def unknown(callback: CallbackQuery) -> None:
        await callback.answer("Невідома кнопка", show_alert=True)

    return router


def png(width: int = 4, height: int = 3) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "orange").save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram(bot_id=BOT_ID, username="fake_test_bot") as server:
        yield server


@pytest.fixture
async def bot(telegram: FakeTelegram) -> AsyncIterator[Bot]:
    bot = telegram.make_bot(TOKEN)
    yield bot
    await bot.session.close()


@pytest.fixture
async def polling(telegram: FakeTelegram, bot: Bot) -> AsyncIterator[Dispatcher]:
    """The router above, long-polling the fake until the test ends."""
    dispatcher = Dispatcher()
    dispatcher.include_router(make_router())
    task = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, polling_timeout=1, close_bot_session=False)
    )
    await telegram.wait_for_call("getUpdates")  # polling is running, so stop_polling() may be called
    yield dispatcher
    await dispatcher.stop_polling()
    await task


@pytest.fixture
def alice(telegram: FakeTelegram) -> FakeUser:
    return telegram.user(1001, "Alice", username="alice")


async def test_get_me_answers_the_fake_bot(telegram: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()

    assert (me.id, me.username, me.is_bot) == (BOT_ID, "fake_test_bot", True)
    assert [call.method for call in telegram.calls] == ["getMe"]
    assert telegram.calls[0].ok


async def test_other_tokens_and_unknown_methods_get_bot_api_errors(telegram: FakeTelegram) -> None:
    intruder = telegram.make_bot("999999:WRONG-TOKEN")
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await intruder.get_me()
    finally:
        await intruder.session.close()

    async with aiohttp.ClientSession() as http:
        async with http.post(f"{telegram.base_url}/bot999999:WRONG/getMe") as response:
            assert response.status == 401
            assert await response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        async with http.post(f"{telegram.base_url}/bot{TOKEN}/sendSticker") as response:
            assert response.status == 404
            assert await response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert telegram.calls == []  # refused requests never reach the log


async def test_long_polling_delivers_start_and_the_user_sees_the_keyboard(
    telegram: FakeTelegram, polling: Dispatcher, alice: FakeUser
) -> None:
    await alice.send("/start")

    reply = await alice.wait_for_message("Оберіть чергу")

    assert reply.text == "Оберіть чергу:"  # what the user reads: the HTML is parsed away
    assert reply.source == "<b>Оберіть</b> чергу:"
    assert reply.entities == [{"type": "bold", "offset": 0, "length": 7}]
    assert reply.buttons == [[("Черга 3.1", "queue:3.1"), ("Черга 3.2", "queue:3.2")]]
    assert alice.messages == [reply]
    get_updates = telegram.calls_to("getUpdates")[0].params
    assert set(get_updates["allowed_updates"]) == {"message", "callback_query"}
    assert get_updates["timeout"] == 1


async def test_press_runs_the_callback_handler_and_the_edit_shows_in_place(
    telegram: FakeTelegram, polling: Dispatcher, alice: FakeUser
) -> None:
    await alice.send("/start")
    await alice.wait_for_message("Оберіть")

    await alice.press("Черга 3.2")

    edited = await alice.wait_for_message(lambda message: message.edited)
    assert edited.text == "Обрано чергу 3.2"
    assert edited.buttons == []  # editMessageText without reply_markup drops the keyboard
    answer = await alice.wait_for_callback_answer()
    assert (answer.data, answer.text, answer.show_alert) == ("queue:3.2", "Збережено", False)
    assert [message.text for message in alice.messages] == ["Обрано чергу 3.2"]
    assert alice.messages[0].message_id == edited.message_id
    assert telegram.unanswered_callbacks == []


async def test_forged_callback_data_reaches_the_fallback_handler(
    polling: Dispatcher, alice: FakeUser
) -> None:
    await alice.send("/start")
    await alice.wait_for_message("Оберіть")

    await alice.press_data("admin:drop-all")

    answer = await alice.wait_for_callback_answer()
    assert (answer.data, answer.text, answer.show_alert) == ("admin:drop-all", "Невідома кнопка", True)
    assert alice.messages[0].text == "Оберіть чергу:"  # untouched


async def test_group_command_addressed_to_the_bot(
    telegram: FakeTelegram, polling: Dispatcher, alice: FakeUser
) -> None:
    group = telegram.group(GROUP_ID, "Сусіди")

    await alice.send("/schedule@fake_test_bot", chat=group)

    reply = await alice.wait_for_message(chat=group)
    assert reply.text == f"Розклад для чату {GROUP_ID}"
    assert group.messages == [reply]
    assert alice.messages == []  # nothing in her private chat


async def test_get_updates_waits_for_an_update_and_honours_offset(
    telegram: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    waiting = asyncio.create_task(bot.get_updates(timeout=5))
    await telegram.wait_for_call("getUpdates")
    assert not waiting.done()  # nothing queued: the long poll waits

    started = time.monotonic()
    await alice.send("hello")
    updates = await waiting

    assert time.monotonic() - started < 1.0  # answered when the update came, not at the timeout
    assert [known(update.message).text for update in updates] == ["hello"]
    assert known(known(updates[0].message).from_user).id == alice.id
    assert await bot.get_updates(offset=updates[0].update_id, timeout=0) == updates  # not confirmed yet
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == []

    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert time.monotonic() - started >= 0.9


async def test_command_entities_mark_a_leading_command(bot: Bot, alice: FakeUser) -> None:
    await alice.send("/start@fake_test_bot promo")
    await alice.send("hi /start")

    first, second = await bot.get_updates(timeout=0)

    assert [(e.type, e.offset, e.length) for e in known(known(first.message).entities)] == [
        ("bot_command", 0, 20)
    ]
    assert known(second.message).entities is None


async def test_send_photo_uploads_once_and_reuses_the_file_id(
    telegram: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    picture = png(4, 3)

    first = await bot.send_photo(alice.id, BufferedInputFile(picture, "schedule.png"), caption="Черга 3.2")
    uploaded = known(first.photo)[-1]
    file_id = uploaded.file_id
    second = await bot.send_photo(alice.id, file_id)

    assert (uploaded.width, uploaded.height) == (4, 3)
    assert known(second.photo)[-1].file_id == file_id
    assert telegram.files[file_id].data == picture
    assert telegram.reused_file_ids == [file_id]
    assert [(known(m.photo).reused, m.caption) for m in alice.messages] == [
        (False, "Черга 3.2"),
        (True, None),
    ]
    downloaded = await bot.download(file_id)  # no destination: a BytesIO
    assert known(downloaded).read() == picture  # via {base}/file/bot{token}/{file_path}
    upload_call = telegram.calls_to("sendPhoto")[0]
    assert [upload.data for upload in upload_call.files.values()] == [picture]


async def test_send_photo_refuses_what_is_not_an_image_or_a_known_file_id(bot: Bot, alice: FakeUser) -> None:
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(alice.id, BufferedInputFile(b"not a picture", "x.png"))
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_photo(alice.id, "AgACunknown")


async def test_injected_429_raises_retry_after_once(
    telegram: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    telegram.fail_next("sendMessage", status=429, retry_after=2)

    with pytest.raises(TelegramRetryAfter) as raised:
        await bot.send_message(alice.id, "first")
    await bot.send_message(alice.id, "second")

    assert raised.value.retry_after == 2
    assert [m.text for m in alice.messages] == ["second"]
    assert [(call.status, call.params["text"]) for call in telegram.calls_to("sendMessage")] == [
        (429, "first"),
        (200, "second"),
    ]
    assert (telegram.too_many_requests_count, telegram.sent_count) == (1, 1)


async def test_blocked_user_gets_403_and_others_still_get_messages(
    telegram: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    bob = telegram.user(1002, "Bob", language_code="en")
    telegram.block(alice)

    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(alice.id, "Світло вимкнуть о 18:00")
    await bot.send_message(bob.id, "Power goes off at 18:00")

    assert alice.messages == []
    assert [m.text for m in bob.messages] == ["Power goes off at 18:00"]


async def test_rate_limit_answers_429_beyond_n_sends_per_second(
    telegram: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    telegram.rate_limit(per_second=3)

    results = await asyncio.gather(
        *(bot.send_message(alice.id, f"#{n}") for n in range(4)), return_exceptions=True
    )

    refused = [result for result in results if isinstance(result, TelegramRetryAfter)]
    assert len(refused) == 1
    assert refused[0].retry_after == 1
    assert (telegram.sent_count, telegram.too_many_requests_count) == (3, 1)
    assert telegram.send_times[-1] - telegram.send_times[0] < 1.0


async def test_group_admins_are_configurable_per_chat(
    telegram: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    bob = telegram.user(1002, "Bob")
    group = telegram.group(GROUP_ID, "Сусіди", admins={alice.id}, owner=1003)

    alice_member = await bot.get_chat_member(GROUP_ID, alice.id)
    bob_member = await bot.get_chat_member(GROUP_ID, bob.id)
    admins = await bot.get_chat_administrators(GROUP_ID)
    group.admins.add(bob.id)
    bob_promoted = await bot.get_chat_member(GROUP_ID, bob.id)

    assert (alice_member.status, alice_member.user.first_name) == ("administrator", "Alice")
    assert bob_member.status == "left"
    assert [(a.status, a.user.id) for a in admins] == [("creator", 1003), ("administrator", alice.id)]
    assert bob_promoted.status == "administrator"
    chat = await bot.get_chat(GROUP_ID)
    assert (chat.type, chat.title) == ("supergroup", "Сусіди")


async def test_commands_are_stored_per_language_and_scope(telegram: FakeTelegram, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand(command="start", description="Почати")])
    await bot.set_my_commands([BotCommand(command="start", description="Start")], language_code="en")
    await bot.set_my_commands(
        [BotCommand(command="schedule", description="Розклад")], scope=BotCommandScopeAllGroupChats()
    )

    english = await bot.get_my_commands(language_code="en")

    assert [(c.command, c.description) for c in english] == [("start", "Start")]
    assert telegram.my_commands() == [("start", "Почати")]
    assert telegram.my_commands(scope={"type": "all_group_chats"}) == [("schedule", "Розклад")]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Start", description="capital letter")])


async def test_telegram_refusals_bots_commonly_trigger(bot: Bot, alice: FakeUser) -> None:
    sent = await bot.send_message(alice.id, "Черга 3.2", reply_markup=QUEUES)

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "Черга 3.2", chat_id=alice.id, message_id=sent.message_id, reply_markup=QUEUES
        )
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(alice.id, "Черга 3.2<br>Черга 3.1", parse_mode="HTML")
    too_long = InlineKeyboardButton(text="x", callback_data="x" * 65)
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(alice.id, "x", reply_markup=InlineKeyboardMarkup(inline_keyboard=[[too_long]]))
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(424242, "nobody")
    assert [m.text for m in alice.messages] == ["Черга 3.2"]


async def test_delete_chat_action_and_webhook(telegram: FakeTelegram, bot: Bot, alice: FakeUser) -> None:
    first = await bot.send_message(alice.id, "first")
    await bot.send_message(alice.id, "second")
    await bot.send_chat_action(alice.id, "typing")
    assert await bot.delete_message(alice.id, first.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(alice.id, first.message_id)
    assert [m.text for m in alice.messages] == ["second"]

    await bot.set_webhook("https://example.invalid/hook")
    assert (await bot.get_webhook_info()).url == "https://example.invalid/hook"
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates(timeout=0)
    await bot.delete_webhook()
    assert telegram.webhook_url == ""


async def test_photo_caption_and_media_edits_show_in_place(
    telegram: FakeTelegram, bot: Bot, alice: FakeUser
) -> None:
    sent = await bot.send_photo(alice.id, BufferedInputFile(png(4, 3), "a.png"), caption="old")

    await bot.edit_message_caption(
        chat_id=alice.id, message_id=sent.message_id, caption="<i>new</i>", parse_mode="HTML"
    )
    media = InputMediaPhoto(media=BufferedInputFile(png(8, 6), "b.png"), caption="newer")
    edited = await bot.edit_message_media(media, chat_id=alice.id, message_id=sent.message_id)

    (message,) = alice.messages
    assert (message.caption, known(message.photo).width, message.edit_count) == ("newer", 8, 2)
    assert isinstance(edited, Message)  # not True: that answers an edit of an inline message
    assert known(edited.photo)[-1].file_id == known(message.photo).file_id != known(sent.photo)[-1].file_id
    assert [event.caption for event in alice.chat.events] == ["old", "new", "newer"]
    assert len(telegram.files) == 2
