"""/outages [state]: the outages at the user's saved address (the one saved with the 🏠 button under an
/address answer) and whether they are told of them by DM; ``state`` turns those alerts on or off, or forgets
the address. Every answer is ephemeral: an address is the user's own business.

The address and its alert switch live on the user's DM recipient ``user:<id>``, as the other personal alerts
do (see ``discord_bot.alerts``); the address watch of the notifier queues the alerts, which go by DM. Turning
them on first sends a DM, as /notify on does: alerts that could not reach the user are not promised.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands
from discord.utils import escape_markdown

from common.i18n import Catalog
from common.views.outages import OutagesCommand, outages_answer
from discord_bot.bot import DiscordBot
from discord_bot.cogs.alerts import reach_by_dm
from discord_bot.context import DiscordContext
from discord_bot.delivery import user_recipient
from discord_bot.i18n import catalog_for, language, text

log = logging.getLogger(__name__)

Interaction = discord.Interaction[DiscordBot]

STATE_CHOICES = [
    app_commands.Choice(name=text(f"discord.choices.{command.value}"), value=command.value)
    for command in (OutagesCommand.ON, OutagesCommand.OFF, OutagesCommand.FORGET)
]


async def outage_alerts_by_dm(
    ctx: DiscordContext, user: discord.User | discord.Member, lang: str, dm_text: str, why: str
) -> bool:
    """Turns the user's outage alerts on once a DM (``dm_text``) reached them: the recipient, paused by a
    DM refused before, is active again. False, with the alerts paused, when Discord refused the DM."""
    if not await reach_by_dm(ctx.db, user, dm_text, why):
        return False
    recipient_id = user_recipient(user.id)
    await ctx.db.ensure_recipient(recipient_id, lang)  # created, or reactivated: DMs reach the user now
    await ctx.db.set_outage_alerts(recipient_id, True)
    return True


class OutagesCog(commands.Cog, name="outages"):
    def __init__(self, bot: DiscordBot) -> None:
        self.ctx = bot.ctx

    @app_commands.command(
        name=text("discord.commands.outages.name"), description=text("discord.commands.outages.description")
    )
    @app_commands.rename(state=text("discord.options.outages_state.name"))
    @app_commands.describe(state=text("discord.options.outages_state.description"))
    @app_commands.choices(state=STATE_CHOICES)
    async def outages(self, interaction: Interaction, state: str | None = None) -> None:
        t = catalog_for(interaction)
        command = OutagesCommand(state) if state else OutagesCommand.SHOW
        recipient_id = user_recipient(interaction.user.id)
        addresses = await self.ctx.db.saved_addresses(recipient_id)
        if not addresses and command is not OutagesCommand.FORGET:
            lines = [t("outages.none"), t("discord.outages.none_hint")]
            await interaction.response.send_message("\n".join(lines), ephemeral=True)
            return
        # DTEK is asked about the address (show), or a DM is sent first (on).
        await interaction.response.defer(ephemeral=True, thinking=True)
        if command is OutagesCommand.ON:
            lines = await self.switch_on(interaction, t, "; ".join(map(str, addresses)))
        else:
            lines = await outages_answer(self.ctx.db, self.ctx.address, recipient_id, command, t)
            if command is OutagesCommand.SHOW:
                lines += await self.paused(recipient_id, t)
                lines.append(t("discord.outages.hint"))
        await interaction.followup.send(escape_markdown("\n".join(lines)), ephemeral=True)

    async def paused(self, recipient_id: str, t: Catalog) -> list[str]:
        """Why alerts that are on do not come: a DM Discord refused paused them."""
        recipient = await self.ctx.db.get_recipient(recipient_id)
        if recipient is None or recipient.active or not await self.ctx.db.wants_outage_alerts(recipient_id):
            return []
        return [t("discord.outages.dms_closed")]

    async def switch_on(self, interaction: Interaction, t: Catalog, address: str) -> list[str]:
        user = interaction.user
        dm_text = escape_markdown(t("discord.outages.dm", address=address))
        if await outage_alerts_by_dm(self.ctx, user, language(interaction.locale), dm_text, "/outages on"):
            return [t("discord.outages.on")]
        return [t("discord.outages.dms_closed")]


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, DiscordBot)
    await bot.add_cog(OutagesCog(bot))
