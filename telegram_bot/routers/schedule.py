"""/schedule and /week, and the buttons under a schedule (refresh from cache, day, week)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from common.botdb import Recipient
from common.i18n import Catalog
from telegram_bot.context import BotContext
from telegram_bot.keyboards import ViewCb
from telegram_bot.views import ask_region_or_group, find_group, menu_outdated, send_schedule

VIEWS = {"days", "today", "tomorrow", "week"}


async def schedule_command(
    message: Message, command: CommandObject, bot: Bot, ctx: BotContext, recipient: Recipient, t: Catalog
) -> None:
    view = "week" if command.command == "week" else "days"
    if command.args:
        found = await find_group(ctx, command.args.strip(), ctx.regions, message, t)
        if found:
            await send_schedule(ctx, bot, message.chat.id, recipient, t, *found, view)
        return
    subscriptions = await ctx.db.subscriptions(recipient.id)
    if not subscriptions:
        await ask_region_or_group(ctx, message, t, purpose="show")
        return
    for region, group in subscriptions:
        await send_schedule(ctx, bot, message.chat.id, recipient, t, region, group, view)


async def change_view(
    query: CallbackQuery, callback_data: ViewCb, bot: Bot, ctx: BotContext, recipient: Recipient, t: Catalog
) -> None:
    snapshot = await ctx.source.get(callback_data.region) if callback_data.region in ctx.regions else None
    if (
        not isinstance(query.message, Message)
        or snapshot is None
        or callback_data.group not in snapshot.schedule.groups
    ):
        await menu_outdated(query, ctx, t)
        return
    await query.answer()
    # From the cache, never a forced scrape: any user may press this as often as they like.
    await send_schedule(
        ctx,
        bot,
        query.message.chat.id,
        recipient,
        t,
        callback_data.region,
        callback_data.group,
        callback_data.view,
    )


def create_router() -> Router:
    router = Router(name="schedule")
    router.message.register(schedule_command, Command("schedule", "week"))
    router.callback_query.register(change_view, ViewCb.filter(F.view.in_(VIEWS)))
    return router
