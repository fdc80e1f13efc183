"""/outages [on|off|forget]: outages in progress at the chat's saved address, and the alerts of them."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from common.botdb import Recipient
from common.i18n import Catalog
from common.views import echo
from common.views.outages import OutagesCommand, outages_answer, read_outages_command
from telegram_bot.context import BotContext
from telegram_bot.markup import HTML
from telegram_bot.middlewares import MANAGES_CHAT


async def outages(message: Message, ctx: BotContext, recipient: Recipient, t: Catalog) -> None:
    lines = await outages_answer(ctx.db, ctx.address, recipient.id, OutagesCommand.SHOW, t)
    await message.answer(HTML.escape("\n".join([*lines, t("bot.outages_hint")])))


async def outages_switch(
    message: Message, command: CommandObject, ctx: BotContext, recipient: Recipient, t: Catalog
) -> None:
    text = command.args or ""
    wanted = read_outages_command(text)
    if wanted is None:
        await message.answer(HTML.escape(t("bot.outages_bad", text=echo(text))))
        return
    lines = await outages_answer(ctx.db, ctx.address, recipient.id, wanted, t)
    await message.answer(HTML.escape("\n".join(lines)))


def create_router() -> Router:
    router = Router(name="outages")
    # Anyone may ask what the chat's saved address shows; switching or forgetting it is for admins.
    router.message.register(outages_switch, Command("outages", magic=F.args), flags={MANAGES_CHAT: True})
    router.message.register(outages, Command("outages"))
    return router
