"""/address settlement street house [region]: which group(s) DTEK puts a house in, with a button per group
to save it as the user's group, and the outage in progress there if DTEK reports one; a 🏠 button saves the
address itself with its group, and turns on alerts by DM of outages there (see discord_bot.cogs.outages).

``settlement`` and ``street`` autocomplete from DTEK's street lists (the street within the settlement
already typed); ``house`` is free text, cut and cleaned. Asking DTEK may take seconds, so the answer is
deferred first. Everything is ephemeral: an address is the user's own business, not the channel's.
With several regions configured, ``region`` picks one (the first configured by default).

The buttons are DynamicItems, so the answer keeps no View in memory. An address may be too long for a
custom_id, so the 🏠 button names a digest of it, and the Cog keeps the addresses it answered with for
``ADDRESS_KEPT_SECONDS``: pressed later, or after a restart, the button asks to run /address again. (A View
with a timeout holding the address would do too, but discord.py drops the DynamicItem templates of a View
that times out, and the save-group buttons of every other answer would stop working with it.)
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import discord
from cachetools import TTLCache
from discord import app_commands
from discord.ext import commands

from common.dtek.address import HouseInfo, StreetAddress, search
from common.dtek.errors import DtekError
from common.i18n import Catalog, catalog
from common.render.text import region_name
from common.source import SourceUnavailable
from common.views import Notice, echo, house_lines, load_snapshot
from common.views.outages import save_for_alerts
from discord_bot.alerts import save_group, settings_recipient
from discord_bot.answers import Answer
from discord_bot.bot import DiscordBot, ThrottledItem, apologise
from discord_bot.cogs.outages import outage_alerts_by_dm
from discord_bot.cogs.schedule import short
from discord_bot.context import DiscordContext
from discord_bot.i18n import catalog_for, language, region_text, text
from discord_bot.pickers import SAVE_ADDRESS, SAVE_GROUP, SELECT_LIMIT, save_address_id, save_group_id

log = logging.getLogger(__name__)

Interaction = discord.Interaction[DiscordBot]
NAME_LIMIT = 100  # characters of a settlement or street option (and of an autocomplete choice)
HOUSE_LIMIT = 20  # characters of a house number
NO_STREET = "-"  # the street "chosen" in a settlement without a street list
MAX_BUTTONS = 25  # five rows of five
ADDRESS_KEPT_SECONDS = 60 * 60  # how long the 🏠 button of an answer works
ADDRESSES_KEPT = 4096  # answers whose 🏠 button works, at most (the oldest go first)
# The options as Discord names them (the English names): interaction.namespace is keyed by these.
REGION_OPTION = catalog("en")("discord.options.region.name")
SETTLEMENT_OPTION = catalog("en")("discord.options.settlement.name")

Streets = Mapping[str, Sequence[str]]


def clean_house(typed: str) -> str:
    """The house number to look up: one line without invisible characters, at most HOUSE_LIMIT long."""
    return echo(typed[: HOUSE_LIMIT * 4], limit=HOUSE_LIMIT)


def resolve(candidates: Iterable[str], typed: str) -> str | None:
    """The candidate named exactly, else the best match of what was typed (the user may not have picked a
    suggestion), else None."""
    names = list(candidates)
    if typed in names:
        return typed
    best = search(names, typed[:NAME_LIMIT], limit=1)
    return best[0] if best else None


def suggestions(candidates: Sequence[str], typed: str) -> list[str]:
    """Up to 25 candidates matching what was typed; the first 25 while nothing is typed yet."""
    fitting = [name for name in candidates if name and len(name) <= NAME_LIMIT]
    if not typed.strip():
        return fitting[:SELECT_LIMIT]
    return search(fitting, typed[:NAME_LIMIT], limit=SELECT_LIMIT)


class AnswerButton(ThrottledItem[discord.ui.Button[discord.ui.View]], template=r"(?!)"):
    """A button under an /address answer; each kind (a subclass) has its template and ``style``."""

    style = discord.ButtonStyle.secondary

    def __init__(self, label: str, custom_id: str) -> None:
        super().__init__(discord.ui.Button(label=label[:80], custom_id=custom_id, style=self.style))

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        label = item.label if isinstance(item, discord.ui.Button) else None
        return cls(label or "?", match.string)


class SaveGroupButton(AnswerButton, template=SAVE_GROUP.pattern):
    """Saves its group as the presser's (``user_groups``)."""

    style = discord.ButtonStyle.success

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot = interaction.client
        assert isinstance(bot, DiscordBot)  # the only client that registers this item
        custom_id = self.item.custom_id or ""
        match = SAVE_GROUP.fullmatch(custom_id)
        assert match is not None  # discord.py matched the template to make this item
        try:
            await save_picked_group(bot.ctx, interaction, match["region"], match["group"])
        except Exception:
            log.exception("the save button %s failed", custom_id)
            await apologise(interaction)


class SaveAddressButton(AnswerButton, template=SAVE_ADDRESS.pattern):
    """Saves the address found, with its group, and turns on outage alerts."""

    style = discord.ButtonStyle.primary

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot = interaction.client
        assert isinstance(bot, DiscordBot)  # the only client that registers this item
        cog = bot.get_cog(AddressCog.__cog_name__)
        assert isinstance(cog, AddressCog)  # the Cog registers this item while loaded
        try:
            await cog.save_address(interaction, self.item.custom_id or "")
        except Exception:
            log.exception("the save-address button failed")
            await apologise(interaction)


@dataclass(frozen=True, slots=True)
class FoundAddress:
    """An address an /address answer found, as its 🏠 button saves it."""

    address: StreetAddress
    group: str  # the house's group (the first, should DTEK give several)
    name: str  # the group's display name


async def save_picked_group(
    ctx: DiscordContext, interaction: discord.Interaction[Any], region: str, group: str
) -> None:
    """Saves the group if the schedule still has it; an ephemeral word either way."""
    t = catalog_for(interaction)
    answer = Answer(interaction, edit=False, ephemeral=True)
    if region not in ctx.regions:
        await answer.notice(t("discord.menu_outdated"))
        return
    await answer.defer_unless_at_hand(ctx.source, [region])  # the schedule may have to be scraped
    snapshot = await load_snapshot(ctx.source, region, t)
    if isinstance(snapshot, Notice):
        await answer.notice(snapshot.text)
        return
    if group not in snapshot.schedule.sorted_groups():
        await answer.notice(t("discord.menu_outdated"))
        return
    await save_group(ctx.db, interaction.user.id, region, group)  # DM alerts, if on, follow
    await answer.text(t("discord.saved", region=region_name(region, t.lang), group=group.removeprefix("GPV")))


class AddressCog(commands.Cog, name="address"):
    def __init__(self, bot: DiscordBot) -> None:
        self.bot = bot
        self.ctx = bot.ctx
        # custom_id of a 🏠 button -> the address it saves
        self.found_addresses: TTLCache[str, FoundAddress] = TTLCache(ADDRESSES_KEPT, ADDRESS_KEPT_SECONDS)
        # The region option offers the configured regions, or is left out when there is only one. Choices
        # are fixed when a command is defined, so this instance's copy of the command gets its own.
        params = self.address._params
        if len(self.ctx.regions) > 1:
            choices: list[app_commands.Choice[str | int | float]] = [
                app_commands.Choice(name=region_text(r), value=r) for r in self.ctx.regions[:25]
            ]
            params["region"] = dataclasses.replace(params["region"], choices=choices)
        else:
            del params["region"]

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(SaveGroupButton, SaveAddressButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(SaveGroupButton, SaveAddressButton)

    @app_commands.command(
        name=text("discord.commands.address.name"), description=text("discord.commands.address.description")
    )
    @app_commands.rename(
        settlement=text("discord.options.settlement.name"),
        street=text("discord.options.street.name"),
        house=text("discord.options.house.name"),
        region=text("discord.options.region.name"),
    )
    @app_commands.describe(
        settlement=text("discord.options.settlement.description"),
        street=text("discord.options.street.description"),
        house=text("discord.options.house.description"),
        region=text("discord.options.region.description"),
    )
    @app_commands.choices(region=[app_commands.Choice(name="-", value="-")])  # replaced per instance
    async def address(
        self,
        interaction: Interaction,
        settlement: app_commands.Range[str, 1, NAME_LIMIT],
        street: app_commands.Range[str, 1, NAME_LIMIT],
        house: app_commands.Range[str, 1, HOUSE_LIMIT],
        region: str | None = None,
    ) -> None:
        t = catalog_for(interaction)
        await interaction.response.defer(thinking=True, ephemeral=True)  # DTEK may take seconds
        answer, view = await self.answer(t, self.region(region), settlement, street, house)
        if view is None:
            await interaction.followup.send(answer, ephemeral=True)
        else:
            await interaction.followup.send(answer, view=view, ephemeral=True)

    @address.autocomplete("settlement")
    async def settlement_choices(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        streets = await self.streets(self.region(getattr(interaction.namespace, REGION_OPTION, None)))
        return [app_commands.Choice(name=name, value=name) for name in suggestions(list(streets), current)]

    @address.autocomplete("street")
    async def street_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        namespace = interaction.namespace
        streets = await self.streets(self.region(getattr(namespace, REGION_OPTION, None)))
        settlement = resolve(streets, str(getattr(namespace, SETTLEMENT_OPTION, None) or ""))
        if settlement is None:
            return []
        named = [street for street in streets[settlement] if street]
        if not named:
            choice = catalog_for(interaction)("discord.address.no_streets_choice")
            return [app_commands.Choice(name=choice, value=NO_STREET)]
        return [app_commands.Choice(name=name, value=name) for name in suggestions(named, current)]

    def region(self, chosen: object) -> str:
        return chosen if isinstance(chosen, str) and chosen in self.ctx.regions else self.ctx.regions[0]

    async def streets(self, region: str) -> Streets:
        """The region's settlements and their streets; none while the source has none."""
        try:
            return await self.ctx.source.streets(region) or {}
        except SourceUnavailable:
            return {}

    async def answer(
        self, t: Catalog, region: str, settlement: str, street: str, house: str
    ) -> tuple[str, discord.ui.View | None]:
        """The answer's text and its buttons (none for an answer without groups)."""
        streets = await self.streets(region)
        if not streets:
            return t("bot.address_no_streets"), None
        place = resolve(streets, settlement)
        if place is None:
            return _md(t("discord.address.no_settlement", text=echo(settlement))), None
        named = [name for name in streets[place] if name]
        road = resolve(named, street) if named else ""
        if road is None:
            return _md(t("discord.address.no_street", text=echo(street), settlement=place)), None
        number = clean_house(house)
        try:
            info = await self.ctx.address.groups_for(region, place, road, number) if number else None
        except DtekError as exc:
            log.warning("address lookup in %s failed: %s", region, exc)
            return t("bot.address_unavailable"), None
        if info is None:
            return _md(t("bot.address_not_found", house=echo(house))), None
        address = StreetAddress(region, place, road, number)
        if not info.groups:
            return _md(f"{address}. {t('bot.address_no_group')}"), None
        return await self.found(t, address, info)

    async def found(self, t: Catalog, address: StreetAddress, info: HouseInfo) -> tuple[str, discord.ui.View]:
        region = address.region
        snapshot = await load_snapshot(self.ctx.source, region, t)
        names = [
            snapshot.schedule.group_name(group)
            if not isinstance(snapshot, Notice)
            else group.removeprefix("GPV")
            for group in info.groups
        ]
        lines = house_lines(info, str(address), names, t)
        view = discord.ui.View(timeout=None)
        for group, name in list(zip(info.groups, names, strict=True))[: MAX_BUTTONS - 1]:
            view.add_item(
                SaveGroupButton(t("discord.address.save", group=name), save_group_id(region, group))
            )
        custom_id = save_address_id(*address.street_key, address.house)
        self.found_addresses[custom_id] = FoundAddress(address, info.groups[0], names[0])
        view.add_item(SaveAddressButton(t("discord.address.save_address"), custom_id))
        return _md("\n".join(lines)), view

    async def save_address(self, interaction: discord.Interaction[Any], custom_id: str) -> None:
        """The 🏠 button: the address and its group saved, outage alerts by DM on once a DM reached the
        user (else they are told how to let DMs through); an ephemeral word either way."""
        t = catalog_for(interaction)
        found = self.found_addresses.get(custom_id)
        if found is None:  # pressed long after the answer, or after a restart
            await interaction.response.send_message(t("discord.menu_outdated"), ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)  # a DM goes first
        db, user, lang = self.ctx.db, interaction.user, language(interaction.locale)
        address = _md(str(found.address))
        follows = await save_group(db, user.id, found.address.region, found.group)  # DM alerts follow
        recipient = await settings_recipient(db, user.id, lang)
        await save_for_alerts(db, recipient.id, found.address)
        lines = [t("discord.outages.saved", address=address, groups=_md(found.name))]
        if follows:
            lines.append(t("discord.alerts_follow", group=short(found.group)))
        dm_text = t("discord.outages.dm", address=address)
        reached = await outage_alerts_by_dm(self.ctx, user, lang, dm_text, "the save-address button")
        lines.append(t("discord.outages.by_dm") if reached else t("discord.outages.dms_closed"))
        await interaction.followup.send("\n".join(lines), ephemeral=True)


def _md(line: str) -> str:
    """Text with DTEK's names and the user's echoed text, safe in Discord markdown."""
    return discord.utils.escape_markdown(line)


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, DiscordBot)
    await bot.add_cog(AddressCog(bot))
