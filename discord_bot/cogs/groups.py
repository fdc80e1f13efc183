"""/groups: a picker of the groups DTEK publishes, answering with the picked group's schedule.

With several regions it asks for the region first (a select), then shows a select of the region's groups
a page of 25 at a time, with Previous/Next buttons past 25 (a select holds 25 options). The picker is
ephemeral; the schedule it answers with is the same message /schedule gives. Every component carries its
state in its custom_id (discord_bot.pickers), so a picker still works after a restart; one whose region
or group has gone since it was drawn says it is out of date.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Self

import discord
from discord import app_commands
from discord.ext import commands

from common.i18n import Catalog
from common.render.text import region_name
from common.views import Notice, Problem, ViewKind, load_snapshot, preferred_regions
from discord_bot.answers import Answer, show_schedule
from discord_bot.bot import DiscordBot, ThrottledItem, apologise
from discord_bot.context import DiscordContext
from discord_bot.i18n import catalog_for, text
from discord_bot.pickers import (
    GROUP_PAGE,
    GROUP_SELECT,
    REGION_SELECT,
    group_page_id,
    group_select_id,
    page_of,
)

log = logging.getLogger(__name__)

AnyInteraction = discord.Interaction[Any]
Select = discord.ui.Select[discord.ui.View]


async def _guarded(
    interaction: AnyInteraction, what: str, handle: Callable[[DiscordContext], Awaitable[None]]
) -> None:
    """Runs a component's handler on the bot's context; a failure is logged and apologised for (discord.py
    would only log it, and the user would see "interaction failed")."""
    bot = interaction.client
    assert isinstance(bot, DiscordBot)  # the only client that registers these items
    try:
        await handle(bot.ctx)
    except Exception:
        log.exception("the picker component %s failed", what)
        await apologise(interaction)


async def _outdated(answer: Answer) -> None:
    await answer.notice(catalog_for(answer.interaction)("discord.menu_outdated"))


def _select_of(item: discord.ui.Item[Any], custom_id: str) -> Select:
    return item if isinstance(item, discord.ui.Select) else discord.ui.Select(custom_id=custom_id)


class RegionSelect(ThrottledItem[Select], template=REGION_SELECT.pattern):
    """The region select of /groups: picking a region turns the picker into that region's groups."""

    @classmethod
    async def from_custom_id(
        cls, interaction: AnyInteraction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(_select_of(item, match.string))

    async def callback(self, interaction: AnyInteraction) -> None:
        async def handle(ctx: DiscordContext) -> None:
            region = self.item.values[0] if self.item.values else ""
            answer = Answer(interaction, edit=True)  # the picker turns into the region's groups
            if region not in ctx.regions:
                await _outdated(answer)
                return
            await _show_page(ctx, answer, region, 0)

        await _guarded(interaction, self.item.custom_id, handle)


class GroupSelect(ThrottledItem[Select], template=GROUP_SELECT.pattern):
    """A page of a region's groups: picking one answers with its schedule."""

    @classmethod
    async def from_custom_id(
        cls, interaction: AnyInteraction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        return cls(_select_of(item, match.string))

    async def callback(self, interaction: AnyInteraction) -> None:
        match = GROUP_SELECT.fullmatch(self.item.custom_id)
        assert match is not None  # discord.py matched the template to make this item

        async def handle(ctx: DiscordContext) -> None:
            region, group = match["region"], self.item.values[0] if self.item.values else ""
            answer = Answer(interaction, edit=False)  # the schedule comes as a new message
            if region not in ctx.regions:
                await _outdated(answer)
                return
            await answer.defer_unless_at_hand(ctx.source, [region])  # the schedule may have to be scraped
            snapshot = await load_snapshot(ctx.source, region, catalog_for(interaction))
            if isinstance(snapshot, Notice):
                await answer.notice(snapshot.text)
                return
            if group not in snapshot.schedule.sorted_groups():
                await _outdated(answer)
                return
            await show_schedule(ctx, answer, region, group, ViewKind.DAYS)

        await _guarded(interaction, self.item.custom_id, handle)


class GroupPageButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=GROUP_PAGE.pattern
):
    """Previous or Next under a group select: turns the picker to the page its custom_id names."""

    def __init__(self, label: str, custom_id: str) -> None:
        super().__init__(
            discord.ui.Button(label=label, custom_id=custom_id, style=discord.ButtonStyle.secondary, row=1)
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: AnyInteraction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        label = item.label if isinstance(item, discord.ui.Button) else None
        return cls(label or "?", match.string)

    async def callback(self, interaction: AnyInteraction) -> None:
        custom_id = self.item.custom_id or ""
        match = GROUP_PAGE.fullmatch(custom_id)
        assert match is not None  # discord.py matched the template to make this item

        async def handle(ctx: DiscordContext) -> None:
            answer = Answer(interaction, edit=True)  # the picker turns to the page
            if match["region"] not in ctx.regions:
                await _outdated(answer)
                return
            await _show_page(ctx, answer, match["region"], int(match["page"]))

        await _guarded(interaction, custom_id, handle)


async def group_picker(
    ctx: DiscordContext, region: str, number: int, t: Catalog
) -> tuple[str, discord.ui.View] | Notice:
    """The text and components of page ``number`` of the region's groups (the nearest page when the list
    has shrunk), or why there are none."""
    snapshot = await load_snapshot(ctx.source, region, t)
    if isinstance(snapshot, Notice):
        return snapshot
    schedule = snapshot.schedule
    page = page_of(schedule.sorted_groups(), number)
    if not page.items:
        return Notice(Problem.NO_DATA, t("bot.no_data_yet"))
    view = discord.ui.View(timeout=None)
    select: Select = discord.ui.Select(
        custom_id=group_select_id(region, page.number),
        placeholder=t(
            "discord.groups.placeholder",
            first=page.start + 1,
            last=page.start + len(page.items),
            total=page.total,
        ),
        options=[discord.SelectOption(label=schedule.group_name(g)[:100], value=g) for g in page.items],
    )
    view.add_item(GroupSelect(select))
    if page.has_previous:
        view.add_item(GroupPageButton(t("discord.groups.previous"), group_page_id(region, page.number - 1)))
    if page.has_next:
        view.add_item(GroupPageButton(t("discord.groups.next"), group_page_id(region, page.number + 1)))
    content = t(
        "discord.groups.pick", region=region_name(region, t.lang), page=page.number + 1, pages=page.count
    )
    return content, view


def region_picker(regions: list[str], t: Catalog) -> discord.ui.View:
    """The select of the configured regions, in the order given."""
    select: Select = discord.ui.Select(
        custom_id=REGION_SELECT.pattern,
        placeholder=t("discord.groups.region_placeholder"),
        options=[discord.SelectOption(label=region_name(r, t.lang), value=r) for r in regions[:25]],
    )
    view = discord.ui.View(timeout=None)
    view.add_item(RegionSelect(select))
    return view


async def _show_page(ctx: DiscordContext, answer: Answer, region: str, number: int) -> None:
    """Turns the picker the component sits in to a page of the region's groups."""
    t = catalog_for(answer.interaction)
    await answer.defer_unless_at_hand(ctx.source, [region])  # the groups may have to be scraped
    picker = await group_picker(ctx, region, number, t)
    if isinstance(picker, Notice):
        await answer.notice(picker.text)
        return
    content, view = picker
    await answer.text(content, view=view)


class GroupsCog(commands.Cog, name="groups"):
    def __init__(self, bot: DiscordBot) -> None:
        self.bot = bot
        self.ctx = bot.ctx

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(RegionSelect, GroupSelect, GroupPageButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(RegionSelect, GroupSelect, GroupPageButton)

    @app_commands.command(
        name=text("discord.commands.groups.name"), description=text("discord.commands.groups.description")
    )
    async def groups(self, interaction: discord.Interaction[DiscordBot]) -> None:
        t = catalog_for(interaction)
        answer = Answer(interaction, edit=False, ephemeral=True)
        if len(self.ctx.regions) > 1:  # the user's saved regions first; nothing to load yet
            saved = await self.ctx.db.user_groups(str(interaction.user.id))
            regions = preferred_regions(saved, self.ctx.regions)
            await answer.text(t("discord.groups.pick_region"), view=region_picker(regions, t))
            return
        region = self.ctx.regions[0]
        await answer.defer_unless_at_hand(self.ctx.source, [region])  # the groups may have to be scraped
        picker = await group_picker(self.ctx, region, 0, t)
        if isinstance(picker, Notice):
            await answer.notice(picker.text)
            return
        content, view = picker
        await answer.text(content, view=view)


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, DiscordBot)
    await bot.add_cog(GroupsCog(bot))
