"""Personal alerts by DM: /notify on|off, /remind [before_off] [before_on], /quiet [span].

The same settings as the Telegram bot's (lead times of ``LEAD_MINUTES``, quiet hours read by
``common.views.read_quiet``), on the recipient ``user:<id>`` (see ``discord_bot.alerts``). Every answer is
ephemeral: the settings are the user's own business.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from common.botdb import LEAD_MINUTES, BotDB
from common.i18n import Catalog
from common.render.text import region_name
from common.views import alert_settings_line, echo, lead_text, quiet_text, read_quiet
from discord_bot.alerts import (
    AlertState,
    alert_state,
    pause,
    settings_recipient,
    turn_off,
    turn_on,
)
from discord_bot.bot import DiscordBot
from discord_bot.cogs.schedule import short
from discord_bot.context import DiscordContext
from discord_bot.delivery import GONE_CODES
from discord_bot.i18n import catalog_for, language, plural_text, text
from discord_bot.render import MARKUP

log = logging.getLogger(__name__)

Interaction = discord.Interaction[DiscordBot]
NO_MENTIONS = discord.AllowedMentions.none()

STATE_CHOICES = [
    app_commands.Choice(name=text("discord.choices.on"), value="on"),
    app_commands.Choice(name=text("discord.choices.off"), value="off"),
]
# 0 is "no reminder" (Discord has no empty choice); the rest are the lead times the database accepts.
LEAD_CHOICES = [app_commands.Choice(name=text("discord.choices.no_reminder"), value=0)] + [
    app_commands.Choice(name=plural_text("plural.minutes", minutes), value=minutes)
    for minutes in LEAD_MINUTES
]


async def reach_by_dm(db: BotDB, user: discord.User | discord.Member, content: str, why: str) -> bool:
    """Sends ``content`` to the user by DM, which proves alerts can reach them; a DM Discord refuses pauses
    their alerts (:func:`discord_bot.alerts.pause`) and gives False. ``why``: what asked, for the log."""
    try:
        dm = await user.create_dm()
        await dm.send(content, allowed_mentions=NO_MENTIONS)
    except discord.Forbidden as exc:
        reason = GONE_CODES.get(exc.code, f"403 (code {exc.code})")
        log.info("%s: no DM reaches user %s: %s", why, user.id, reason)
        await pause(db, user.id, f"{why}: {reason}")
        return False
    return True


def groups_text(saved: dict[str, str], t: Catalog) -> str:
    """``Київ 3.2, Дніпро 1.1``: the saved groups as /mygroup shows them."""
    return ", ".join(f"{region_name(region, t.lang)} {short(group)}" for region, group in saved.items())


class AlertsCog(commands.Cog, name="alerts"):
    def __init__(self, bot: DiscordBot) -> None:
        self.bot = bot
        self.ctx: DiscordContext = bot.ctx

    @app_commands.command(
        name=text("discord.commands.notify.name"), description=text("discord.commands.notify.description")
    )
    @app_commands.rename(state=text("discord.options.state.name"))
    @app_commands.describe(state=text("discord.options.state.description"))
    @app_commands.choices(state=STATE_CHOICES)
    async def notify(self, interaction: Interaction, state: str) -> None:
        if state == "on":
            await self.switch_on(interaction)
        else:
            await self.switch_off(interaction)

    @app_commands.command(
        name=text("discord.commands.remind.name"), description=text("discord.commands.remind.description")
    )
    @app_commands.rename(
        before_off=text("discord.options.before_off.name"), before_on=text("discord.options.before_on.name")
    )
    @app_commands.describe(
        before_off=text("discord.options.before_off.description"),
        before_on=text("discord.options.before_on.description"),
    )
    @app_commands.choices(before_off=LEAD_CHOICES, before_on=LEAD_CHOICES)
    async def remind(
        self, interaction: Interaction, before_off: int | None = None, before_on: int | None = None
    ) -> None:
        t = catalog_for(interaction)
        db = self.ctx.db
        user_id = interaction.user.id
        if before_off is None and before_on is None:  # a look: nothing is stored
            recipient, state = await alert_state(db, user_id)
            off = recipient.lead_off_minutes if recipient else None
            on = recipient.lead_on_minutes if recipient else None
            answer = t("discord.remind_now", off=lead_text(off, t), on=lead_text(on, t))
        else:
            recipient = await settings_recipient(db, user_id, language(interaction.locale))
            off = recipient.lead_off_minutes if before_off is None else before_off or None
            on = recipient.lead_on_minutes if before_on is None else before_on or None
            await db.set_leads(recipient.id, off, on)
            answer = t("bot.remind_saved", off=lead_text(off, t), on=lead_text(on, t))
            state = (await alert_state(db, user_id))[1]
        await self.answer(interaction, answer, state, t)

    @app_commands.command(
        name=text("discord.commands.quiet.name"), description=text("discord.commands.quiet.description")
    )
    @app_commands.rename(span=text("discord.options.span.name"))
    @app_commands.describe(span=text("discord.options.span.description"))
    async def quiet(self, interaction: Interaction, span: str | None = None) -> None:
        t = catalog_for(interaction)
        db = self.ctx.db
        user_id = interaction.user.id
        if span is None:  # a look: nothing is stored
            recipient, state = await alert_state(db, user_id)
            shown = quiet_text(recipient, t) if recipient else t("bot.quiet_none")
            await self.answer(interaction, t("discord.quiet_now", quiet=shown), state, t)
            return
        try:
            hours = read_quiet(span)
        except ValueError:
            bad = t("bot.quiet_bad", text=MARKUP.escape(echo(span)))
            await interaction.response.send_message(bad, ephemeral=True, allowed_mentions=NO_MENTIONS)
            return
        recipient = await settings_recipient(db, user_id, language(interaction.locale))
        start, end = hours if hours else (None, None)
        await db.set_quiet(recipient.id, start, end)
        saved, state = await alert_state(db, user_id)
        shown = quiet_text(saved, t) if saved else t("bot.quiet_none")
        await self.answer(interaction, t("bot.quiet_saved", quiet=shown), state, t)

    async def switch_on(self, interaction: Interaction) -> None:
        """Alerts for the saved groups, once a DM reached the user: the confirmation goes there first."""
        t = catalog_for(interaction)
        db = self.ctx.db
        user = interaction.user
        saved = await db.user_groups(str(user.id))
        if not saved:
            await interaction.response.send_message(t("discord.alerts_no_group"), ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)  # two REST calls to the DM first
        groups = groups_text(saved, t)
        if not await reach_by_dm(db, user, t("discord.alerts_dm", groups=groups), "/notify on"):
            await interaction.followup.send(t("discord.alerts_dms_closed"), ephemeral=True)
            return
        recipient = await turn_on(db, user.id, language(interaction.locale), saved)
        answer = t("discord.alerts_on", groups=groups, settings=alert_settings_line(recipient, t))
        await interaction.followup.send(answer, ephemeral=True)

    async def switch_off(self, interaction: Interaction) -> None:
        t = catalog_for(interaction)
        recipient = await turn_off(self.ctx.db, interaction.user.id, "alerts turned off with /notify off")
        answer = (
            t("discord.alerts_off", settings=alert_settings_line(recipient, t))
            if recipient is not None
            else t("discord.alerts_were_off")
        )
        await interaction.response.send_message(answer, ephemeral=True)

    async def answer(self, interaction: Interaction, answer: str, state: AlertState, t: Catalog) -> None:
        """A settings answer, with a word on how to get the alerts when they are not on."""
        if state is not AlertState.ON:
            answer += "\n" + t(f"discord.alerts_{state.value}_hint")
        await interaction.response.send_message(answer, ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, DiscordBot)
    await bot.add_cog(AlertsCog(bot))
