"""/status (where the data comes from and how fresh it is) and /help."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from common.botdb import Recipient
from common.i18n import Catalog
from common.views import status_lines
from telegram_bot.context import BotContext
from telegram_bot.markup import HTML


async def help_command(message: Message, t: Catalog) -> None:
    await message.answer(HTML.escape(t("bot.help")))


async def status(message: Message, ctx: BotContext, recipient: Recipient, t: Catalog) -> None:
    regions = [region for region, _ in await ctx.db.subscriptions(recipient.id)] or ctx.regions[:1]
    addresses = await ctx.db.saved_addresses(recipient.id)
    lines = await status_lines(
        ctx.source, ctx.source.mode, regions, now=ctx.now(), t=t, lookup=ctx.address, addresses=addresses
    )
    await message.answer(HTML.escape("\n".join(lines)))


def create_router() -> Router:
    router = Router(name="status")
    router.message.register(help_command, Command("help"))
    router.message.register(status, Command("status"))
    return router
