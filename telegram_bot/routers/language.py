"""/lang: the chat's language."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from common.botdb import Recipient
from common.i18n import LANGUAGES, Catalog, catalog
from telegram_bot.context import BotContext
from telegram_bot.keyboards import LangCb, language_picker
from telegram_bot.middlewares import MANAGES_CHAT
from telegram_bot.views import menu_outdated


async def lang(message: Message, t: Catalog) -> None:
    await message.answer(t("bot.lang_pick"), reply_markup=language_picker())


async def lang_picked(
    query: CallbackQuery, callback_data: LangCb, ctx: BotContext, recipient: Recipient, t: Catalog
) -> None:
    if callback_data.code not in LANGUAGES or not isinstance(query.message, Message):
        await menu_outdated(query, ctx, t)
        return
    await ctx.db.set_language(recipient.id, callback_data.code)
    await query.answer()
    await query.message.answer(catalog(callback_data.code)("bot.lang_saved"))


def create_router() -> Router:
    router = Router(name="language")
    router.message.register(lang, Command("lang"))
    router.callback_query.register(lang_picked, LangCb.filter(), flags={MANAGES_CHAT: True})
    return router
