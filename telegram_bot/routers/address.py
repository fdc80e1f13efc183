"""/address: settlement, street and house, then DTEK's answer which group(s) the house is in, with a button
per group to subscribe and one to save the address for outage alerts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple
from typing import Any

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, ForceReply, Message, User
from aiogram.utils.keyboard import InlineKeyboardBuilder

from common.botdb import Recipient
from common.dtek.address import StreetAddress, search
from common.dtek.errors import DtekError
from common.i18n import Catalog
from common.views import echo, house_lines
from common.views.outages import save_for_alerts, saved_text
from telegram_bot.context import BotContext
from telegram_bot.keyboards import AddressCb, GroupCb, RegionCb, choice_list, region_picker, without_button
from telegram_bot.markup import HTML
from telegram_bot.middlewares import MANAGES_CHAT
from telegram_bot.views import menu_outdated

MAX_INPUT = 100  # longer text is no address; cut it before searching or echoing it


class AddressForm(StatesGroup):
    settlement = State()
    street = State()
    house = State()


async def cancel(message: Message, state: FSMContext, t: Catalog) -> None:
    await state.clear()
    await message.answer(t("bot.cancel"))


async def address_command(message: Message, state: FSMContext, ctx: BotContext, t: Catalog) -> None:
    await begin(message, message.from_user, state, ctx, t)


async def address_button(query: CallbackQuery, state: FSMContext, ctx: BotContext, t: Catalog) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await begin(query.message, query.from_user, state, ctx, t)


async def begin(message: Message, user: User | None, state: FSMContext, ctx: BotContext, t: Catalog) -> None:
    await state.clear()
    if len(ctx.regions) > 1:
        await message.answer(t("bot.pick_region"), reply_markup=region_picker(ctx.regions, "addr", t.lang))
        return
    await ask_settlement(message, user, state, ctx.regions[0], t)


async def region_picked(
    query: CallbackQuery, callback_data: RegionCb, state: FSMContext, ctx: BotContext, t: Catalog
) -> None:
    if callback_data.region not in ctx.regions or not isinstance(query.message, Message):
        await menu_outdated(query, ctx, t)
        return
    await query.answer()
    await ask_settlement(query.message, query.from_user, state, callback_data.region, t)


async def ask_settlement(
    message: Message, user: User | None, state: FSMContext, region: str, t: Catalog
) -> None:
    await state.set_state(AddressForm.settlement)
    await state.set_data({"region": region})
    await ask(message, user, t("bot.address_settlement"))


async def ask(message: Message, user: User | None, question: str) -> None:
    """Asks ``user`` to type the next part of the address. In a group a bot in privacy mode receives only
    commands and replies to its own messages, so there the question makes the user's app reply to it."""
    if message.chat.type == ChatType.PRIVATE or user is None:
        await message.answer(question)
        return
    # Selective: the reply field opens for the mentioned user alone, not for the whole group.
    mention = f'<a href="{user.url}">{HTML.escape(user.full_name)}</a>'
    await message.answer(f"{mention}\n{question}", reply_markup=ForceReply(selective=True))


async def settlement_typed(message: Message, state: FSMContext, ctx: BotContext, t: Catalog) -> None:
    region = (await state.get_data())["region"]
    streets = await ctx.source.streets(region) or {}
    if not streets:
        await state.clear()
        await message.answer(t("bot.address_no_streets"))
        return
    await offer(message, state, t, "city", streets, t("bot.address_pick_settlement"))


async def settlement_picked(
    query: CallbackQuery, callback_data: AddressCb, state: FSMContext, ctx: BotContext, t: Catalog
) -> None:
    data = await state.get_data()
    settlement = _choice(data, callback_data)
    if settlement is None or not isinstance(query.message, Message):
        await menu_outdated(query, ctx, t)
        return
    await query.answer()
    streets = (await ctx.source.streets(data["region"]) or {}).get(settlement, [])
    await state.update_data(settlement=settlement)
    if not [s for s in streets if s]:  # a settlement without a street list: straight to the house
        await state.update_data(street="")
        await state.set_state(AddressForm.house)
        await ask(query.message, query.from_user, t("bot.address_house"))
        return
    await state.set_state(AddressForm.street)
    await ask(query.message, query.from_user, t("bot.address_street"))


async def street_typed(message: Message, state: FSMContext, ctx: BotContext, t: Catalog) -> None:
    data = await state.get_data()
    streets = (await ctx.source.streets(data["region"]) or {}).get(data["settlement"], [])
    await offer(message, state, t, "street", streets, t("bot.address_pick_street"))


async def street_picked(
    query: CallbackQuery, callback_data: AddressCb, state: FSMContext, ctx: BotContext, t: Catalog
) -> None:
    street = _choice(await state.get_data(), callback_data)
    if street is None or not isinstance(query.message, Message):
        await menu_outdated(query, ctx, t)
        return
    await query.answer()
    await state.update_data(street=street)
    await state.set_state(AddressForm.house)
    await ask(query.message, query.from_user, t("bot.address_house"))


async def house_typed(message: Message, state: FSMContext, ctx: BotContext, t: Catalog) -> None:
    data = await state.get_data()
    house = (message.text or "").strip()[:20]
    region, settlement, street = data["region"], data["settlement"], data["street"]
    try:
        info = await ctx.address.groups_for(region, settlement, street, house)
    except DtekError:
        await message.answer(t("bot.address_unavailable"))
        return
    if info is None:
        await ask(message, message.from_user, HTML.escape(t("bot.address_not_found", house=echo(house))))
        return
    await state.clear()
    address = StreetAddress(region, settlement, street, echo(house))
    if not info.groups:
        await message.answer(HTML.escape(f"{address}. {t('bot.address_no_group')}"))
        return
    snapshot = await ctx.source.get(region)
    names = [snapshot.schedule.group_name(g) if snapshot else g for g in info.groups]
    lines = house_lines(info, str(address), names, t)
    builder = InlineKeyboardBuilder()
    for group, name in zip(info.groups, names, strict=True):
        builder.button(
            text=t("bot.address_subscribe", group=name),
            callback_data=GroupCb(purpose="sub", region=region, group=group),
        )
    # The address stays in the FSM state, the button carries only its generation (see offer()).
    builder.button(
        text=t("bot.address_save"), callback_data=AddressCb(step="save", generation=message.message_id)
    )
    builder.adjust(1)
    found = {"address": list(astuple(address)), "groups": info.groups, "names": names}
    await state.update_data(found=found, found_generation=message.message_id)
    await message.answer(HTML.escape("\n".join(lines)), reply_markup=builder.as_markup())


async def save_found(
    query: CallbackQuery,
    callback_data: AddressCb,
    state: FSMContext,
    ctx: BotContext,
    recipient: Recipient,
    t: Catalog,
) -> None:
    """The save button under the answer: subscribes the chat to the house's group(s), saves the address with
    its outage alerts on, and says so in the answer, whose save button goes."""
    data = await state.get_data()
    found: dict[str, Any] | None = data.get("found")
    message = query.message
    if (
        found is None
        or data.get("found_generation") != callback_data.generation
        or not isinstance(message, Message)
        or message.text is None
    ):
        await menu_outdated(query, ctx, t)
        return
    address = StreetAddress(*found["address"])
    if address.region not in ctx.regions:
        await menu_outdated(query, ctx, t)
        return
    await query.answer()
    for group in found["groups"]:
        await ctx.db.subscribe(recipient.id, address.region, group)
    await save_for_alerts(ctx.db, recipient.id, address)
    saved = f"{saved_text(address, found['names'], t)}\n{t('bot.address_saved_hint')}"
    await message.edit_text(
        f"{message.html_text}\n\n{HTML.escape(saved)}",
        reply_markup=without_button(message.reply_markup, callback_data.pack()),
    )


async def offer(
    message: Message, state: FSMContext, t: Catalog, step: str, candidates: Iterable[str], title: str
) -> None:
    """Suggestions for the typed text as buttons; their texts stay in the FSM state, the buttons carry
    only an index (callback data is limited to 64 bytes) and the list's generation: the id of the message
    it answers, unique in the chat, so a button of an older list never picks from this one."""
    choices = search(candidates, (message.text or "")[:MAX_INPUT])
    if not choices:
        await ask(
            message, message.from_user, HTML.escape(t("bot.address_nothing", text=echo(message.text or "")))
        )
        return
    await state.update_data(choices=choices, generation=message.message_id)
    await message.answer(title, reply_markup=choice_list(step, choices, message.message_id))


def _choice(data: dict[str, Any], button: AddressCb) -> str | None:
    """The suggestion the button stands for; None for a button of another list than the latest."""
    choices: list[str] = data.get("choices") or []
    if button.generation != data.get("generation") or not 0 <= button.index < len(choices):
        return None
    return choices[button.index]


def create_router() -> Router:
    router = Router(name="address")
    router.message.register(cancel, Command("cancel"), StateFilter(AddressForm))
    router.message.register(address_command, Command("address"))
    router.callback_query.register(address_button, AddressCb.filter(F.step == "start"))
    router.callback_query.register(region_picked, RegionCb.filter(F.purpose == "addr"))
    router.message.register(settlement_typed, AddressForm.settlement, F.text, ~F.text.startswith("/"))
    router.callback_query.register(
        settlement_picked, AddressCb.filter(F.step == "city"), AddressForm.settlement
    )
    router.message.register(street_typed, AddressForm.street, F.text, ~F.text.startswith("/"))
    router.callback_query.register(street_picked, AddressCb.filter(F.step == "street"), AddressForm.street)
    router.message.register(house_typed, AddressForm.house, F.text, ~F.text.startswith("/"))
    # Any state: the conversation ended with the answer, whose found address stays in the FSM data.
    router.callback_query.register(save_found, AddressCb.filter(F.step == "save"), flags={MANAGES_CHAT: True})
    return router
