"""Admin commands (``ADMIN_IDS``): /stats and a rate-limited forced refresh."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from common.dtek.regions import REGIONS, validate_region
from common.i18n import Catalog
from common.source import RefreshTooSoon, SourceUnavailable
from common.views.echo import echo
from telegram_bot.context import BotContext
from telegram_bot.markup import HTML


def is_admin(message: Message, ctx: BotContext) -> bool:
    return message.from_user is not None and message.from_user.id in ctx.settings.admin_ids


async def admin_command(message: Message, command: CommandObject, ctx: BotContext, t: Catalog) -> None:
    if not is_admin(message, ctx):
        await message.answer(t("bot.not_admin"))
        return
    if command.command == "stats":
        await message.answer(HTML.escape(await stats_text(ctx, t)))
        return
    await refresh(message, command.args, ctx, t)


async def stats_text(ctx: BotContext, t: Catalog) -> str:
    stats = await ctx.db.stats()
    outbox = stats.outbox
    lines = [
        t(
            "bot.stats",
            active=stats.active_recipients,
            inactive=stats.inactive_recipients,
            subscriptions=sum(stats.subscriptions.values()),
            sent=outbox.get("sent", 0),
            pending=outbox.get("pending", 0),
            dead=outbox.get("dead", 0),
        )
    ]
    if stats.subscriptions:
        lines.append(t("bot.stats_groups"))
        lines += [
            f"{region} {group}: {count}" for (region, group), count in sorted(stats.subscriptions.items())
        ]
    return "\n".join(lines)


async def refresh(message: Message, args: str | None, ctx: BotContext, t: Catalog) -> None:
    try:
        region = validate_region(args) if args else ctx.regions[0]
    except ValueError:  # answered in the chat's language, the typed text made safe and short
        valid = ", ".join(REGIONS)
        await message.answer(HTML.escape(t("bot.unknown_region", text=echo(args or ""), valid=valid)))
        return
    try:
        await ctx.source.refresh(region, force=True)
    except RefreshTooSoon as exc:
        await message.answer(t("bot.refresh_too_soon", seconds=int(exc.retry_after) + 1))
        return
    except SourceUnavailable:
        await message.answer(t("bot.unavailable"))
        return
    await message.answer(t("bot.refreshed", region=region))


def create_router() -> Router:
    router = Router(name="admin")
    router.message.register(admin_command, Command("stats", "refresh"))
    return router
