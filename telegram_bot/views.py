"""What several routers show: pickers, a group's schedule (picture and text), the week plan."""

from __future__ import annotations

import logging
from datetime import timedelta

from aiogram import Bot
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message

from common.botdb import Recipient
from common.clock import KYIV
from common.dtek.regions import REGIONS
from common.i18n import Catalog
from common.render.picture import schedule_picture, week_picture
from common.render.text import TELEGRAM_CAPTION_LIMIT, render_schedule, render_week, split_text, to_text
from common.schedule import resolve_group
from common.source import Snapshot, SourceUnavailable
from telegram_bot.context import BotContext
from telegram_bot.keyboards import group_picker, region_picker, schedule_buttons
from telegram_bot.markup import HTML

log = logging.getLogger(__name__)


async def snapshot_or_explain(ctx: BotContext, region: str, message: Message, t: Catalog) -> Snapshot | None:
    """The region's snapshot, or None after telling the user why there is none."""
    try:
        snapshot = await ctx.source.get(region)
    except SourceUnavailable:
        await message.answer(t("bot.unavailable"))
        return None
    if snapshot is None:
        await message.answer(t("bot.no_data_yet"))
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


async def find_group(
    ctx: BotContext, text: str, regions: list[str], message: Message, t: Catalog
) -> tuple[str, str] | None:
    """Resolves a typed group (``3.2``) in the chat's regions; explains the valid ones when it fails."""
    valid: list[str] = []
    for region in regions:
        snapshot = await snapshot_or_explain(ctx, region, message, t)
        if snapshot is None:
            return None
        try:
            return region, resolve_group(snapshot.schedule, text)
        except ValueError:
            valid += [g.removeprefix("GPV") for g in snapshot.schedule.sorted_groups()]
    shown = text if len(text) <= 40 else text[:40] + "…"
    await message.answer(
        HTML.escape(t("bot.unknown_group", text=shown, valid=", ".join(dict.fromkeys(valid))))
    )
    return None


async def send_schedule(
    ctx: BotContext,
    bot: Bot,
    chat_id: int,
    recipient: Recipient,
    t: Catalog,
    region: str,
    group: str,
    view: str,
) -> None:
    """A group's schedule: picture with the text as caption (or text alone), with view buttons."""
    try:
        snapshot = await ctx.source.get(region)
    except SourceUnavailable:
        await bot.send_message(chat_id, t("bot.unavailable"))
        return
    if snapshot is None:
        await bot.send_message(chat_id, t("bot.no_data_yet"))
        return
    schedule = snapshot.schedule
    if group not in schedule.groups:
        await bot.send_message(
            chat_id,
            HTML.escape(t("bot.unknown_group", text=group, valid=", ".join(schedule.sorted_groups()))),
        )
        return
    now = ctx.now()
    today = now.astimezone(KYIV).date()
    tomorrow = today + timedelta(days=1)
    has_tomorrow = group in schedule.days.get(tomorrow, {})
    buttons = schedule_buttons(region, group, t, has_tomorrow=has_tomorrow)
    if view == "week":
        text = to_text(render_week(schedule, group, lang=t.lang), HTML)
        picture = week_picture(ctx.pictures, schedule, group, version=snapshot.version)
        key = f"week|{region}|{group}|{snapshot.version}"
    else:
        days = {"today": [today], "tomorrow": [tomorrow]}.get(view)
        rendered = render_schedule(
            schedule,
            group,
            now=now,
            lang=t.lang,
            fetched_at=snapshot.fetched_at,
            stale=snapshot.stale,
            days=days,
        )
        text = to_text(rendered, HTML)
        picture = schedule_picture(ctx.pictures, schedule, group, version=snapshot.version, now=now)
        key = f"days|{region}|{group}|{snapshot.version}|{today}|{(now.hour * 60 + now.minute) // 30}"
    if picture is not None and recipient.pictures and ctx.settings.telegram_pictures:
        await send_picture(ctx, bot, chat_id, key, picture, text, buttons)
    else:
        await send_long_text(bot, chat_id, text, buttons)


async def send_picture(
    ctx: BotContext, bot: Bot, chat_id: int, key: str, png: bytes, text: str, buttons: InlineKeyboardMarkup
) -> None:
    """Uploads a picture once; later sends reuse Telegram's ``file_id``. Long text follows as a message."""
    caption = text if len(text) <= TELEGRAM_CAPTION_LIMIT else None
    markup = buttons if caption else None
    file_id = await ctx.db.get_file_id(key)
    photo = file_id or BufferedInputFile(png, filename="schedule.png")
    sent = await bot.send_photo(chat_id, photo=photo, caption=caption, reply_markup=markup)
    if file_id is None and sent.photo:
        await ctx.db.save_file_id(key, sent.photo[-1].file_id)
    if caption is None:
        await send_long_text(bot, chat_id, text, buttons)


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
