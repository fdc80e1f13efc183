"""/schedule [group] [day], /week [group], /setgroup group, /mygroup, and the buttons under a schedule
(discord_bot.answers), which switch its view in place (they edit the message they sit under)."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from common.render.text import region_name
from common.views import (
    Notice,
    ViewKind,
    find_group,
    matching_groups,
    preferred_regions,
)
from discord_bot.alerts import save_group
from discord_bot.answers import Answer, ScheduleButton, show_schedule
from discord_bot.bot import DiscordBot
from discord_bot.i18n import catalog_for, text

log = logging.getLogger(__name__)

Interaction = discord.Interaction[DiscordBot]
MAX_CHOICES = 25  # Discord's limit on autocomplete choices


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
        answer = Answer(interaction, edit=False, ephemeral=True)
        saved = await self.ctx.db.user_groups(str(interaction.user.id))
        regions = preferred_regions(saved, self.ctx.regions)
        await answer.defer_unless_at_hand(self.ctx.source, regions)  # finding the group may scrape
        found = await find_group(self.ctx.source, group, regions, t)
        if isinstance(found, Notice):  # nothing is stored
            await answer.notice(found.text)
            return
        saved_text = t("discord.saved", region=region_name(found.region, t.lang), group=short(found.group))
        if await save_group(self.ctx.db, interaction.user.id, found.region, found.group):  # alerts follow
            saved_text += "\n" + t("discord.alerts_follow", group=short(found.group))
        await answer.text(saved_text)

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
        buttons; why there is none as an ephemeral answer. Deferred first when DTEK must be asked."""
        t = catalog_for(interaction)
        ctx = self.ctx
        answer = Answer(interaction, edit=False)
        saved = await ctx.db.user_groups(str(interaction.user.id))
        if typed is None:
            region = next((region for region in ctx.regions if region in saved), None)
            if region is None:
                await answer.notice(t("discord.no_group"))
                return
            group = saved[region]
        else:
            regions = preferred_regions(saved, ctx.regions)
            await answer.defer_unless_at_hand(ctx.source, regions)  # finding the group may scrape
            found = await find_group(ctx.source, typed, regions, t)
            if isinstance(found, Notice):
                await answer.notice(found.text)
                return
            region, group = found.region, found.group
        await show_schedule(ctx, answer, region, group, kind)


def short(group: str) -> str:
    """``3.2`` for ``GPV3.2``."""
    return group.removeprefix("GPV")


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, DiscordBot)
    await bot.add_cog(ScheduleCog(bot))
