"""/schedule [group] [day], /week [group], /setgroup group, /mygroup, and the buttons under a schedule,
which switch its view in place (they edit the message they sit under)."""

from __future__ import annotations

import logging
import re
from typing import Any, Self

import discord
from discord import app_commands
from discord.ext import commands

from common.render.text import region_name
from common.views import (
    Notice,
    Problem,
    ViewKind,
    find_group,
    load_schedule_view,
    matching_groups,
    preferred_regions,
)
from discord_bot.alerts import save_group
from discord_bot.bot import DiscordBot, apologise
from discord_bot.context import DiscordContext
from discord_bot.i18n import catalog_for, text
from discord_bot.render import CUSTOM_ID, Button, ScheduleMessage, schedule_message

log = logging.getLogger(__name__)

Interaction = discord.Interaction[DiscordBot]
MAX_CHOICES = 25  # Discord's limit on autocomplete choices


class ScheduleButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=CUSTOM_ID):
    """A button under a schedule; its custom_id names region, group and view, so it works after restarts."""

    def __init__(self, button: Button) -> None:
        style = discord.ButtonStyle.primary if button.current else discord.ButtonStyle.secondary
        super().__init__(discord.ui.Button(label=button.label, custom_id=button.custom_id, style=style))
        self.button = button

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> Self:
        label = item.label if isinstance(item, discord.ui.Button) else None
        return cls(Button(label or "?", match.string, current=False))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        bot = interaction.client
        assert isinstance(bot, DiscordBot)  # the only client that registers this item
        match = CUSTOM_ID.fullmatch(self.button.custom_id)
        assert match is not None  # discord.py matched the template to make this item
        try:
            await switch_view(bot.ctx, interaction, match["region"], match["group"], ViewKind(match["view"]))
        except Exception:
            log.exception("the schedule button %s failed", self.button.custom_id)
            await apologise(interaction)


def buttons(message: ScheduleMessage) -> discord.ui.View:
    """The buttons as a view without timeout: dynamic items only, so discord.py keeps nothing per message."""
    view = discord.ui.View(timeout=None)
    for button in message.buttons:
        view.add_item(ScheduleButton(button))
    return view


async def switch_view(
    ctx: DiscordContext, interaction: discord.Interaction[Any], region: str, group: str, kind: ViewKind
) -> None:
    """Edits the schedule the pressed button sits under into ``kind``; no data or an outdated button: an
    ephemeral word, the message stays as it is."""
    t = catalog_for(interaction)
    view = (
        await load_schedule_view(ctx.source, region, group, kind, now=ctx.now(), t=t, pictures=ctx.pictures)
        if region in ctx.regions
        else Notice(Problem.UNKNOWN_GROUP, "")
    )
    if isinstance(view, Notice):
        answer = t("discord.outdated") if view.problem is Problem.UNKNOWN_GROUP else view.text
        await interaction.response.send_message(answer, ephemeral=True)
        return
    message = schedule_message(view)
    await interaction.response.edit_message(
        embed=message.embed, attachments=message.attachments(), view=buttons(message)
    )


DAY_CHOICES = [
    app_commands.Choice(name=text(f"discord.choices.{kind.value}"), value=kind.value)
    for kind in (ViewKind.TODAY, ViewKind.TOMORROW, ViewKind.WEEK)
]


class ScheduleCog(commands.Cog, name="schedule"):
    def __init__(self, bot: DiscordBot) -> None:
        self.bot = bot
        self.ctx = bot.ctx

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ScheduleButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ScheduleButton)

    @app_commands.command(
        name=text("discord.commands.schedule.name"), description=text("discord.commands.schedule.description")
    )
    @app_commands.rename(group=text("discord.options.group.name"), day=text("discord.options.day.name"))
    @app_commands.describe(
        group=text("discord.options.group.description"), day=text("discord.options.day.description")
    )
    @app_commands.choices(day=DAY_CHOICES)
    async def schedule(
        self, interaction: Interaction, group: str | None = None, day: str | None = None
    ) -> None:
        await self.show(interaction, group, ViewKind(day) if day else ViewKind.DAYS)

    @app_commands.command(
        name=text("discord.commands.week.name"), description=text("discord.commands.week.description")
    )
    @app_commands.rename(group=text("discord.options.group.name"))
    @app_commands.describe(group=text("discord.options.group.description"))
    async def week(self, interaction: Interaction, group: str | None = None) -> None:
        await self.show(interaction, group, ViewKind.WEEK)

    @app_commands.command(
        name=text("discord.commands.setgroup.name"), description=text("discord.commands.setgroup.description")
    )
    @app_commands.rename(group=text("discord.options.group.name"))
    @app_commands.describe(group=text("discord.options.group.description"))
    async def setgroup(self, interaction: Interaction, group: str) -> None:
        t = catalog_for(interaction)
        user = str(interaction.user.id)
        saved = await self.ctx.db.user_groups(user)
        found = await find_group(self.ctx.source, group, preferred_regions(saved, self.ctx.regions), t)
        if isinstance(found, Notice):  # nothing is stored
            await interaction.response.send_message(found.text, ephemeral=True)
            return
        answer = t("discord.saved", region=region_name(found.region, t.lang), group=short(found.group))
        if await save_group(self.ctx.db, interaction.user.id, found.region, found.group):  # alerts follow
            answer += "\n" + t("discord.alerts_follow", group=short(found.group))
        await interaction.response.send_message(answer, ephemeral=True)

    @app_commands.command(
        name=text("discord.commands.mygroup.name"), description=text("discord.commands.mygroup.description")
    )
    async def mygroup(self, interaction: Interaction) -> None:
        t = catalog_for(interaction)
        saved = await self.ctx.db.user_groups(str(interaction.user.id))
        if not saved:
            await interaction.response.send_message(t("discord.no_saved"), ephemeral=True)
            return
        groups = ", ".join(f"{region_name(region, t.lang)} {short(group)}" for region, group in saved.items())
        await interaction.response.send_message(t("discord.saved_groups", groups=groups), ephemeral=True)

    @schedule.autocomplete("group")
    @week.autocomplete("group")
    @setgroup.autocomplete("group")
    async def group_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        t = catalog_for(interaction)
        saved = await self.ctx.db.user_groups(str(interaction.user.id))
        regions = preferred_regions(saved, self.ctx.regions)
        options = await matching_groups(self.ctx.source, current, regions, t, limit=MAX_CHOICES)
        return [app_commands.Choice(name=option.label[:100], value=option.text) for option in options]

    async def show(self, interaction: Interaction, typed: str | None, kind: ViewKind) -> None:
        """The schedule of the typed group, else of the user's saved one, as an embed with its picture and
        buttons; why there is none as an ephemeral answer."""
        t = catalog_for(interaction)
        ctx = self.ctx
        saved = await ctx.db.user_groups(str(interaction.user.id))
        if typed is None:
            region = next((region for region in ctx.regions if region in saved), None)
            if region is None:
                await interaction.response.send_message(t("discord.no_group"), ephemeral=True)
                return
            group = saved[region]
        else:
            found = await find_group(ctx.source, typed, preferred_regions(saved, ctx.regions), t)
            if isinstance(found, Notice):
                await interaction.response.send_message(found.text, ephemeral=True)
                return
            region, group = found.region, found.group
        view = await load_schedule_view(
            ctx.source, region, group, kind, now=ctx.now(), t=t, pictures=ctx.pictures
        )
        if isinstance(view, Notice):
            await interaction.response.send_message(view.text, ephemeral=True)
            return
        message = schedule_message(view)
        await interaction.response.send_message(
            embed=message.embed, files=message.attachments(), view=buttons(message)
        )


def short(group: str) -> str:
    """``3.2`` for ``GPV3.2``."""
    return group.removeprefix("GPV")


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, DiscordBot)
    await bot.add_cog(ScheduleCog(bot))
