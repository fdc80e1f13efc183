"""/status (where the data comes from and how fresh it is) and /help."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from common.botdb import Recipient
from common.clock import KYIV
from common.i18n import Catalog
from common.render.text import age_text
from common.source import SourceUnavailable
from telegram_bot.context import BotContext
from telegram_bot.markup import HTML


async def help_command(message: Message, t: Catalog) -> None:
    await message.answer(HTML.escape(t("bot.help")))


async def status(message: Message, ctx: BotContext, recipient: Recipient, t: Catalog) -> None:
    mode = t(f"bot.mode_{ctx.source.mode}")
    regions = [region for region, _ in await ctx.db.subscriptions(recipient.id)] or ctx.regions[:1]
    lines = []
    for region in dict.fromkeys(regions):
        try:
            snapshot = await ctx.source.get(region)
        except SourceUnavailable:
            snapshot = None
        if snapshot is None:
            lines.append(t("bot.status_none", mode=mode, region=region))
            continue
        updated = snapshot.schedule.updated
        lines.append(
            t(
                "bot.status",
                mode=mode,
                age=age_text(snapshot.age(ctx.now()), t.lang),
                updated=f"{updated.astimezone(KYIV):%d.%m.%Y %H:%M}" if updated else "—",
                stale=t("bot.status_stale") if snapshot.stale else t("bot.status_fresh"),
            )
        )
    await message.answer("\n".join(lines))


def create_router() -> Router:
    router = Router(name="status")
    router.message.register(help_command, Command("help"))
    router.message.register(status, Command("status"))
    return router
