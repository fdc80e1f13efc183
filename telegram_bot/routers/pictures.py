"""/pictures: schedules as a picture with a caption, or as text alone."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from common.botdb import Recipient
from common.i18n import Catalog
from telegram_bot.context import BotContext
from telegram_bot.middlewares import MANAGES_CHAT


async def toggle_pictures(message: Message, ctx: BotContext, recipient: Recipient, t: Catalog) -> None:
    pictures = not recipient.pictures
    await ctx.db.set_pictures(recipient.id, pictures)
    await message.answer(t("bot.pictures_on" if pictures else "bot.pictures_off"))


def create_router() -> Router:
    router = Router(name="pictures")
    router.message.register(toggle_pictures, Command("pictures"), flags={MANAGES_CHAT: True})
    return router
