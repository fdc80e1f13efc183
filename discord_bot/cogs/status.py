"""/status: where the data comes from, how old it is, DTEK's update time, and whether it may be stale; then
the outage DTEK reports at the user's saved address, if any. The answer is ephemeral, so the address is
shown to the user alone."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from common.render.text import split_text
from common.views import status_lines
from discord_bot.answers import Answer
from discord_bot.bot import DiscordBot
from discord_bot.delivery import CONTENT_LIMIT, user_recipient
from discord_bot.i18n import catalog_for, text


class StatusCog(commands.Cog, name="status"):
    def __init__(self, bot: DiscordBot) -> None:
        self.ctx = bot.ctx

    @app_commands.command(
        name=text("discord.commands.status.name"), description=text("discord.commands.status.description")
    )
    async def status(self, interaction: discord.Interaction[DiscordBot]) -> None:
        t = catalog_for(interaction)
        saved = await self.ctx.db.user_groups(str(interaction.user.id))
        regions = [region for region in self.ctx.regions if region in saved] or self.ctx.regions[:1]
        answer = Answer(interaction, edit=False, ephemeral=True)
        addresses = await self.ctx.db.saved_addresses(user_recipient(interaction.user.id))
        if addresses and answer.private:
            await answer.defer()  # DTEK is asked about them
        else:
            addresses = []
        await answer.defer_unless_at_hand(self.ctx.source, regions)  # the status loads each region
        lines = await status_lines(
            self.ctx.source,
            self.ctx.source.mode,
            regions,
            now=self.ctx.now(),
            t=t,
            lookup=self.ctx.address,
            addresses=addresses,
        )
        # DTEK's announcements in full may make it long: several messages, cut between lines.
        first, *more = split_text("\n".join(lines), CONTENT_LIMIT)
        await answer.text(first)
        for part in more:
            await interaction.followup.send(part, ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, DiscordBot)
    await bot.add_cog(StatusCog(bot))
