"""/schedule and /week, and the buttons under a schedule (refresh from cache, day, week)."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from common.botdb import Recipient
from common.i18n import Catalog
from common.views import Notice, Problem, ViewKind, find_group, preferred_regions
from telegram_bot.context import BotContext
from telegram_bot.keyboards import ViewCb
from telegram_bot.markup import HTML
from telegram_bot.views import ask_region_or_group, edit_view, menu_outdated, schedule_answer, send_schedule


async def schedule_command(
    message: Message, command: CommandObject, bot: Bot, ctx: BotContext, recipient: Recipient, t: Catalog
) -> None:
    kind = ViewKind.WEEK if command.command == "week" else ViewKind.DAYS
    subscriptions = await ctx.db.subscriptions(recipient.id)
    if command.args:
        regions = preferred_regions((region for region, _ in subscriptions), ctx.regions)
        found = await find_group(ctx.source, command.args, regions, t)
        if isinstance(found, Notice):
            await message.answer(HTML.escape(found.text))
            return
        await send_schedule(ctx, bot, message.chat.id, recipient, t, found.region, found.group, kind)
        return
    if not subscriptions:
        await ask_region_or_group(ctx, message, t, purpose="show")
        return
    for region, group in subscriptions:
        await send_schedule(ctx, bot, message.chat.id, recipient, t, region, group, kind)


async def change_view(
    query: CallbackQuery, callback_data: ViewCb, bot: Bot, ctx: BotContext, recipient: Recipient, t: Catalog
) -> None:
    """Edits the schedule the button sits under into the chosen view; a photo message keeps its picture form."""
    message = query.message
    if not isinstance(message, Message) or callback_data.region not in ctx.regions:
        await menu_outdated(query, ctx, t)
        return
    view = await schedule_answer(
        ctx,
        t,
        recipient.id,
        callback_data.region,
        callback_data.group,
        callback_data.view,
        picture=bool(message.photo),
    )
    if isinstance(view, Notice):
        if view.problem is Problem.UNKNOWN_GROUP:
            await menu_outdated(query, ctx, t)
        else:  # no data at the moment: say so where the spinner was, the message stays as it is
            await query.answer(view.text, show_alert=True)
        return
    await query.answer()
    await edit_view(ctx, bot, message, view)


def create_router() -> Router:
    router = Router(name="schedule")
    router.message.register(schedule_command, Command("schedule", "week"))
    router.callback_query.register(change_view, ViewCb.filter())
    return router
