"""/news on|off: DTEK's new announcements for the regions the chat follows, each text once."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from common.botdb import Recipient
from common.i18n import Catalog
from common.views import echo, read_switch
from telegram_bot.context import BotContext
from telegram_bot.markup import HTML
from telegram_bot.middlewares import MANAGES_CHAT


async def news(message: Message, ctx: BotContext, recipient: Recipient, t: Catalog) -> None:
    wanted = await ctx.db.wants_news(recipient.id)
    await message.answer(HTML.escape(t("bot.news_state", state=t("bot.yes") if wanted else t("bot.no"))))


async def news_switch(
    message: Message, command: CommandObject, ctx: BotContext, recipient: Recipient, t: Catalog
) -> None:
    text = command.args or ""
    wanted = read_switch(text)
    if wanted is None:
        await message.answer(HTML.escape(t("bot.news_bad", text=echo(text))))
        return
    await ctx.db.set_news(recipient.id, wanted)
    await message.answer(HTML.escape(t("bot.news_on" if wanted else "bot.news_off")))


def create_router() -> Router:
    router = Router(name="news")
    # Anyone may ask whether the chat gets the news; switching it is for admins.
    router.message.register(news_switch, Command("news", magic=F.args), flags={MANAGES_CHAT: True})
    router.message.register(news, Command("news"))
    return router
