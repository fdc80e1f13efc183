"""/quiet: quiet hours. Reminders inside them are dropped; change notices wait until they end."""

from __future__ import annotations

from datetime import time

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from common.botdb import Recipient
from common.i18n import Catalog
from common.views import echo, parse_span, quiet_text, read_quiet
from telegram_bot.context import BotContext
from telegram_bot.keyboards import QuietCb, quiet_picker
from telegram_bot.markup import HTML
from telegram_bot.middlewares import MANAGES_CHAT
from telegram_bot.views import menu_outdated


async def quiet(message: Message, recipient: Recipient, t: Catalog) -> None:
    await message.answer(t("bot.quiet_title", quiet=quiet_text(recipient, t)), reply_markup=quiet_picker(t))


async def quiet_typed(
    message: Message, command: CommandObject, ctx: BotContext, recipient: Recipient, t: Catalog
) -> None:
    text = (command.args or "").strip()
    try:
        span = read_quiet(text)
    except ValueError:
        await message.answer(HTML.escape(t("bot.quiet_bad", text=echo(text))))
        return
    await _save(ctx, recipient, span, message, t)


async def quiet_picked(
    query: CallbackQuery, callback_data: QuietCb, ctx: BotContext, recipient: Recipient, t: Catalog
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
    # Anyone may look at the quiet hours; setting them (`/quiet 23:00-07:00`) is for admins.
    router.message.register(quiet_typed, Command("quiet", magic=F.args), flags={MANAGES_CHAT: True})
    router.message.register(quiet, Command("quiet"))
    router.callback_query.register(quiet_picked, QuietCb.filter(), flags={MANAGES_CHAT: True})
    return router
