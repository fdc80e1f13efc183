"""/quiet: quiet hours. Reminders inside them are dropped; change notices wait until they end."""

from __future__ import annotations

import re
from datetime import time

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from common.botdb import Recipient
from common.i18n import Catalog
from telegram_bot.context import BotContext
from telegram_bot.keyboards import QuietCb, quiet_picker
from telegram_bot.markup import HTML
from telegram_bot.permissions import may_manage
from telegram_bot.routers.subscriptions import quiet_text
from telegram_bot.views import menu_outdated

_SPAN = re.compile(r"^\s*(\d{1,2})[:.](\d{2})\s*[-–—]\s*(\d{1,2})[:.](\d{2})\s*$")
OFF_WORDS = {"off", "no", "none", "вимк", "вимкнути", "ні", "немає"}


def parse_span(text: str) -> tuple[time, time] | None:
    """``23:00-07:00`` -> (23:00, 07:00); None when it is not such a span of valid times."""
    match = _SPAN.match(text)
    if not match:
        return None
    h1, m1, h2, m2 = map(int, match.groups())
    if max(h1, h2) > 23 or max(m1, m2) > 59:
        return None
    return time(h1, m1), time(h2, m2)


async def quiet(
    message: Message, command: CommandObject, bot: Bot, ctx: BotContext, recipient: Recipient, t: Catalog
) -> None:
    if not command.args:
        await message.answer(
            t("bot.quiet_title", quiet=quiet_text(recipient, t)), reply_markup=quiet_picker(t)
        )
        return
    if not await may_manage(bot, message.chat, message.from_user):
        await message.answer(t("bot.only_admins"))
        return
    text = command.args.strip()
    span = None if text.lower() in OFF_WORDS else parse_span(text)
    if span is None and text.lower() not in OFF_WORDS:
        await message.answer(HTML.escape(t("bot.quiet_bad", text=text[:40])))
        return
    await _save(ctx, recipient, span, message, t)


async def quiet_picked(
    query: CallbackQuery, callback_data: QuietCb, bot: Bot, ctx: BotContext, recipient: Recipient, t: Catalog
) -> None:
    span = None
    if callback_data.start != "off":
        span = parse_span(
            f"{callback_data.start[:2]}:{callback_data.start[2:]}-{callback_data.end[:2]}:{callback_data.end[2:]}"
        )
        if span is None:
            await menu_outdated(query, ctx, t)
            return
    if not isinstance(query.message, Message):
        await query.answer()
        return
    if not await may_manage(bot, query.message.chat, query.from_user):
        await query.answer(t("bot.only_admins"), show_alert=True)
        return
    await query.answer()
    await _save(ctx, recipient, span, query.message, t)


async def _save(
    ctx: BotContext, recipient: Recipient, span: tuple[time, time] | None, message: Message, t: Catalog
) -> None:
    start, end = span if span else (None, None)
    await ctx.db.set_quiet(recipient.id, start, end)
    shown = f"{start:%H:%M}–{end:%H:%M}" if start and end else t("bot.quiet_none")
    await message.answer(t("bot.quiet_saved", quiet=shown))


def create_router() -> Router:
    router = Router(name="quiet")
    router.message.register(quiet, Command("quiet"))
    router.callback_query.register(quiet_picked, QuietCb.filter())
    return router
