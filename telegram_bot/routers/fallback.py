"""Last in line: stale or forged buttons and text no other handler took."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.types import CallbackQuery, Message

from common.i18n import Catalog
from telegram_bot.context import BotContext
from telegram_bot.markup import HTML
from telegram_bot.views import menu_outdated


async def outdated_button(query: CallbackQuery, ctx: BotContext, t: Catalog) -> None:
    await menu_outdated(query, ctx, t)


async def anything_else(message: Message, t: Catalog) -> None:
    # Unknown commands, free text, stickers: point to /help instead of staying silent.
    await message.answer(HTML.escape(t("bot.help")))


def create_router() -> Router:
    router = Router(name="fallback")
    router.callback_query.register(outdated_button)
    router.message.register(anything_else, F.chat.type == ChatType.PRIVATE)
    return router
