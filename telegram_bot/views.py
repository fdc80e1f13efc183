"""Telegram's rendering of the common views: pickers, a group's schedule (picture and text), and the
buttons under a schedule editing the message they sit under."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaPhoto,
    Message,
)

from common.botdb import Recipient
from common.dtek.regions import REGIONS
from common.i18n import Catalog
from common.render.text import TELEGRAM_CAPTION_LIMIT, TELEGRAM_MESSAGE_LIMIT, split_text, to_text
from common.source import Snapshot
from common.views import (
    Notice,
    Picture,
    ScheduleView,
    ViewKind,
    load_schedule_view,
    load_snapshot,
    with_address_outages,
)
from telegram_bot.context import BotContext
from telegram_bot.keyboards import group_picker, region_picker, schedule_buttons
from telegram_bot.markup import HTML

log = logging.getLogger(__name__)

# Sends or edits a photo given Telegram's file_id of the picture or an upload of it.
PhotoCall = Callable[[InputFile | str], Awaitable[Message | bool]]


async def snapshot_or_explain(ctx: BotContext, region: str, message: Message, t: Catalog) -> Snapshot | None:
    """The region's snapshot, or None after telling the user why there is none."""
    snapshot = await load_snapshot(ctx.source, region, t)
    if isinstance(snapshot, Notice):
        await message.answer(HTML.escape(snapshot.text))
        return None
    return snapshot


async def ask_region_or_group(ctx: BotContext, message: Message, t: Catalog, purpose: str) -> None:
    """Starts the picker: regions first, unless only one is configured."""
    if len(ctx.regions) > 1:
        await message.answer(t("bot.pick_region"), reply_markup=region_picker(ctx.regions, purpose, t.lang))
        return
    await ask_group(ctx, message, t, ctx.regions[0], purpose)


async def ask_group(ctx: BotContext, message: Message, t: Catalog, region: str, purpose: str) -> None:
    snapshot = await snapshot_or_explain(ctx, region, message, t)
    if snapshot is None:
        return
    await message.answer(
        HTML.escape(t("bot.pick_group", region=REGIONS[region].name(t.lang))),
        reply_markup=group_picker(snapshot.schedule, region, purpose, t),
    )


async def schedule_answer(
    ctx: BotContext, t: Catalog, recipient_id: str, region: str, group: str, kind: ViewKind, *, picture: bool
) -> ScheduleView | Notice:
    """The view from the cache (never a forced scrape), with its picture when ``picture``, and a note per
    outage in progress at the chat's saved addresses in the group."""
    view = await load_schedule_view(
        ctx.source, region, group, kind, now=ctx.now(), t=t, pictures=ctx.pictures if picture else None
    )
    if isinstance(view, Notice):
        return view
    return await with_address_outages(view, ctx.address, await ctx.db.saved_addresses(recipient_id), t)


async def send_schedule(
    ctx: BotContext,
    bot: Bot,
    chat_id: int,
    recipient: Recipient,
    t: Catalog,
    region: str,
    group: str,
    kind: ViewKind,
) -> None:
    """A group's schedule as new messages: a picture when the chat wants pictures, else text."""
    wants_picture = recipient.pictures and ctx.settings.telegram_pictures
    answer = await schedule_answer(ctx, t, recipient.id, region, group, kind, picture=wants_picture)
    if isinstance(answer, Notice):
        await bot.send_message(chat_id, HTML.escape(answer.text))
        return
    await send_view(ctx, bot, chat_id, answer)


async def send_view(ctx: BotContext, bot: Bot, chat_id: int, view: ScheduleView) -> None:
    """The picture with the text as its caption and the buttons; text too long for a caption follows
    the picture as messages, the buttons under the last."""
    text, buttons = view_html(view), schedule_buttons(view)
    if view.picture is None:
        await send_long_text(bot, chat_id, text, buttons)
        return
    caption = text if fits_caption(text) else None
    markup = buttons if caption else None
    await with_picture(
        ctx, view.picture, lambda photo: bot.send_photo(chat_id, photo, caption=caption, reply_markup=markup)
    )
    if caption is None:
        await send_long_text(bot, chat_id, text, buttons)


async def edit_view(ctx: BotContext, bot: Bot, message: Message, view: ScheduleView) -> None:
    """Shows ``view`` in the message whose button was pressed, keeping the message's form.

    A photo message gets the new picture and caption (only the caption when the view has nothing to draw);
    a text message gets the new text. A view that does not fit the message (text too long for a caption,
    or for one message) is sent as new messages instead. An edit that changes nothing is no error.
    """
    text, buttons = view_html(view), schedule_buttons(view)
    try:
        if message.photo and fits_caption(text):
            await _edit_photo(ctx, message, view.picture, text, buttons)
        elif not message.photo and len(text) <= TELEGRAM_MESSAGE_LIMIT:
            await message.edit_text(text, reply_markup=buttons)
        else:
            await send_view(ctx, bot, message.chat.id, view)
    except TelegramBadRequest as exc:
        if "message is not modified" not in exc.message:
            raise
        # A refresh with nothing new: the message already shows this view.


async def _edit_photo(
    ctx: BotContext, message: Message, picture: Picture | None, caption: str, buttons: InlineKeyboardMarkup
) -> None:
    if picture is None:  # a photo message stays one: the old picture stays, the caption says what is new
        await message.edit_caption(caption=caption, reply_markup=buttons)
        return
    await with_picture(
        ctx,
        picture,
        lambda photo: message.edit_media(InputMediaPhoto(media=photo, caption=caption), reply_markup=buttons),
    )


async def with_picture(ctx: BotContext, picture: Picture, call: PhotoCall) -> None:
    """Makes ``call`` with Telegram's file_id of the picture when one is kept, else with an upload whose
    file_id is then kept (one upload per picture, however many chats ask at once). A file_id Telegram
    rejects is forgotten and the picture uploaded again."""
    file_id = await ctx.db.get_file_id(picture.key)
    if file_id is not None:
        try:
            await call(file_id)
            return
        except TelegramBadRequest as exc:
            if "file identifier" not in exc.message:
                raise
            log.info("Telegram rejected the file_id of picture %s (%s); uploading again", picture.key, exc)
            await ctx.db.forget_file_id(picture.key, file_id)
    async with ctx.uploads(picture.key):
        # Many chats asking for the same new picture at once: the first uploads, the others use its file_id.
        file_id = await ctx.db.get_file_id(picture.key)
        if file_id is None:
            sent = await call(BufferedInputFile(picture.png, filename="schedule.png"))
            if isinstance(sent, Message) and sent.photo:
                await ctx.db.save_file_id(picture.key, sent.photo[-1].file_id)
            return
    await call(file_id)


def view_html(view: ScheduleView) -> str:
    return to_text(view.rendered, HTML)


def fits_caption(text: str) -> bool:
    return len(text) <= TELEGRAM_CAPTION_LIMIT


async def send_long_text(bot: Bot, chat_id: int, text: str, buttons: InlineKeyboardMarkup | None) -> None:
    parts = split_text(text)
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        await bot.send_message(chat_id, part, reply_markup=buttons if last else None)


async def menu_outdated(query: CallbackQuery, ctx: BotContext, t: Catalog) -> None:
    """A stale or forged button: say so politely and offer a fresh menu."""
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(t("bot.menu_outdated"))
        await ask_region_or_group(ctx, query.message, t, purpose="show")
