"""Schedule answers shared by the Cogs: a group's schedule as an embed with its picture and the buttons
under it, which switch its view in place (they edit the message they sit under). /schedule, /week and the
/groups picker answer through :func:`send_schedule`; the schedule Cog registers :class:`ScheduleButton`."""

from __future__ import annotations

import logging
import re
from typing import Any, Self

import discord

from common.views import Notice, Problem, ViewKind, load_schedule_view
from discord_bot.bot import DiscordBot, apologise
from discord_bot.context import DiscordContext
from discord_bot.i18n import catalog_for
from discord_bot.render import CUSTOM_ID, Button, ScheduleMessage, schedule_message

log = logging.getLogger(__name__)


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


async def send_schedule(
    ctx: DiscordContext, interaction: discord.Interaction[Any], region: str, group: str, kind: ViewKind
) -> None:
    """Answers ``interaction`` with the group's schedule (embed, picture, buttons); why there is none as
    an ephemeral answer."""
    t = catalog_for(interaction)
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
