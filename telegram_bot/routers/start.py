"""/start and the region/group pickers that subscribe a chat."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import CommandStart
from aiogram.types import CallbackQuery, Message

from common.botdb import Recipient
from common.dtek.regions import REGIONS
from common.i18n import Catalog
from common.views import ViewKind
from telegram_bot.context import BotContext
from telegram_bot.keyboards import GroupCb, RegionCb
from telegram_bot.markup import HTML
from telegram_bot.middlewares import MANAGES_CHAT
from telegram_bot.views import ask_group, ask_region_or_group, menu_outdated, send_schedule


async def start(message: Message, ctx: BotContext, t: Catalog) -> None:
    await message.answer(t("bot.welcome"))
    await ask_region_or_group(ctx, message, t, purpose="sub")


async def region_picked(query: CallbackQuery, callback_data: RegionCb, ctx: BotContext, t: Catalog) -> None:
    await query.answer()
    if callback_data.region not in ctx.regions or not isinstance(query.message, Message):
        return
    await ask_group(ctx, query.message, t, callback_data.region, callback_data.purpose)


async def group_picked_to_subscribe(
    query: CallbackQuery, callback_data: GroupCb, bot: Bot, ctx: BotContext, recipient: Recipient, t: Catalog
) -> None:
    message = query.message
    if not isinstance(message, Message) or not await _valid_group(ctx, callback_data):
        await menu_outdated(query, ctx, t)
        return
    await query.answer()
    region, group = callback_data.region, callback_data.group
    added = await ctx.db.subscribe(recipient.id, region, group)
    names = await _names(ctx, region, group, t)
    await message.answer(HTML.escape(t("bot.subscribed" if added else "bot.already_subscribed", **names)))
    await send_schedule(ctx, bot, message.chat.id, recipient, t, region, group, ViewKind.DAYS)


async def group_picked_to_show(
    query: CallbackQuery, callback_data: GroupCb, bot: Bot, ctx: BotContext, recipient: Recipient, t: Catalog
) -> None:
    if not isinstance(query.message, Message) or not await _valid_group(ctx, callback_data):
        await menu_outdated(query, ctx, t)
        return
    await query.answer()
    await send_schedule(
        ctx,
        bot,
        query.message.chat.id,
        recipient,
        t,
        callback_data.region,
        callback_data.group,
        ViewKind.DAYS,
    )


async def _valid_group(ctx: BotContext, data: GroupCb) -> bool:
    if data.region not in ctx.regions:
        return False
    snapshot = await ctx.source.get(data.region)
    return snapshot is not None and data.group in snapshot.schedule.groups


async def _names(ctx: BotContext, region: str, group: str, t: Catalog) -> dict[str, str]:
    snapshot = await ctx.source.get(region)
    return {
        "region": REGIONS[region].name(t.lang),
        "group": snapshot.schedule.group_name(group) if snapshot else group,
    }


def create_router() -> Router:
    router = Router(name="start")
    router.message.register(start, CommandStart())
    router.callback_query.register(
        region_picked, RegionCb.filter(F.region.in_(set(REGIONS)) & F.purpose.in_({"sub", "show"}))
    )
    router.callback_query.register(
        group_picked_to_subscribe, GroupCb.filter(F.purpose == "sub"), flags={MANAGES_CHAT: True}
    )
    router.callback_query.register(group_picked_to_show, GroupCb.filter(F.purpose == "show"))
    return router
