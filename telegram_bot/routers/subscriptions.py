"""/subscribe, /unsubscribe and /my: several groups per chat, in several regions."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from common.botdb import Recipient
from common.dtek.regions import REGIONS
from common.i18n import Catalog
from common.views import settings_line
from telegram_bot.context import BotContext
from telegram_bot.keyboards import UnsubCb, unsubscribe_picker
from telegram_bot.markup import HTML
from telegram_bot.middlewares import MANAGES_CHAT
from telegram_bot.views import ask_region_or_group, menu_outdated


async def subscribe(message: Message, ctx: BotContext, t: Catalog) -> None:
    await ask_region_or_group(ctx, message, t, purpose="sub")


async def unsubscribe(message: Message, ctx: BotContext, recipient: Recipient, t: Catalog) -> None:
    labels = await subscription_labels(ctx, recipient, t)
    if not labels:
        await message.answer(t("bot.no_subscriptions"))
        return
    await message.answer(t("bot.pick_unsubscribe"), reply_markup=unsubscribe_picker(labels))


async def unsubscribe_picked(
    query: CallbackQuery, callback_data: UnsubCb, ctx: BotContext, recipient: Recipient, t: Catalog
) -> None:
    if not isinstance(query.message, Message):
        await menu_outdated(query, ctx, t)
        return
    removed = await ctx.db.unsubscribe(recipient.id, callback_data.region, callback_data.group)
    if not removed:
        await menu_outdated(query, ctx, t)
        return
    await query.answer()
    region = (
        REGIONS[callback_data.region].name(t.lang)
        if callback_data.region in REGIONS
        else callback_data.region
    )
    await query.message.answer(
        HTML.escape(t("bot.unsubscribed", region=region, group=callback_data.group.removeprefix("GPV")))
    )


async def my_subscriptions(message: Message, ctx: BotContext, recipient: Recipient, t: Catalog) -> None:
    labels = await subscription_labels(ctx, recipient, t)
    lines = [f"<b>{t('bot.my_title')}</b>"]
    lines += [f"• {HTML.escape(label)}" for _, _, label in labels] or [t("bot.no_subscriptions")]
    lines += ["", settings_line(recipient, t)]
    await message.answer("\n".join(lines))


async def subscription_labels(
    ctx: BotContext, recipient: Recipient, t: Catalog
) -> list[tuple[str, str, str]]:
    """(region, group, "Київ · Черга 3.2") for each of the chat's subscriptions."""
    labels = []
    for region, group in await ctx.db.subscriptions(recipient.id):
        snapshot = await ctx.source.get(region) if region in ctx.regions else None
        name = snapshot.schedule.group_name(group) if snapshot else group
        region_name = REGIONS[region].name(t.lang) if region in REGIONS else region
        labels.append((region, group, f"{region_name} · {name}"))
    return labels


def create_router() -> Router:
    router = Router(name="subscriptions")
    router.message.register(subscribe, Command("subscribe"), flags={MANAGES_CHAT: True})
    router.message.register(unsubscribe, Command("unsubscribe"), flags={MANAGES_CHAT: True})
    router.callback_query.register(unsubscribe_picked, UnsubCb.filter(), flags={MANAGES_CHAT: True})
    router.message.register(my_subscriptions, Command("my"))
    return router
