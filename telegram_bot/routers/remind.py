"""/remind: lead times before power goes off and before it returns, set separately."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from common.botdb import Recipient
from common.i18n import Catalog
from common.views import lead_text
from telegram_bot.context import BotContext
from telegram_bot.keyboards import LEAD_CHOICES, LeadCb, lead_picker
from telegram_bot.middlewares import MANAGES_CHAT
from telegram_bot.views import menu_outdated


async def remind(message: Message, recipient: Recipient, t: Catalog) -> None:
    await message.answer(
        _title(recipient.lead_off_minutes, recipient.lead_on_minutes, t),
        reply_markup=lead_picker(t, recipient.lead_off_minutes, recipient.lead_on_minutes),
    )


async def lead_picked(
    query: CallbackQuery, callback_data: LeadCb, ctx: BotContext, recipient: Recipient, t: Catalog
) -> None:
    if (
        not isinstance(query.message, Message)
        or callback_data.minutes not in LEAD_CHOICES
        or callback_data.which not in ("off", "on")
    ):
        await menu_outdated(query, ctx, t)
        return
    minutes = callback_data.minutes or None
    current = await ctx.db.get_recipient(recipient.id) or recipient  # another press may have just saved
    off = minutes if callback_data.which == "off" else current.lead_off_minutes
    on = minutes if callback_data.which == "on" else current.lead_on_minutes
    await ctx.db.set_leads(recipient.id, off, on)
    await query.answer(t("bot.remind_saved", off=lead_text(off, t), on=lead_text(on, t)))
    if (off, on) != (current.lead_off_minutes, current.lead_on_minutes):  # Telegram refuses a no-op edit
        await query.message.edit_text(_title(off, on, t), reply_markup=lead_picker(t, off, on))


def _title(off: int | None, on: int | None, t: Catalog) -> str:
    return (
        t("bot.remind_title", off=lead_text(off, t), on=lead_text(on, t))
        + f"\n{t('bot.remind_off_row')} 🔴  {t('bot.remind_on_row')} 🟢"
    )


def create_router() -> Router:
    router = Router(name="remind")
    router.message.register(remind, Command("remind"))
    router.callback_query.register(lead_picked, LeadCb.filter(), flags={MANAGES_CHAT: True})
    return router
