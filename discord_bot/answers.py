"""Schedule answers shared by the Cogs: a group's schedule as an embed with its picture and the buttons
under it, which switch its view in place (they edit the message they sit under). /schedule, /week and the
/groups picker answer through :func:`show_schedule`; the schedule Cog registers
:class:`ScheduleButton`.

Answering in time: Discord waits 3 seconds for the first answer to an interaction, and a DTEK scrape on a
cold cache (standalone mode) can take longer. :class:`Answer` defers first when the data is not at
hand, then answers the same way either way: a command with a new message (``defer(thinking=True)``, then
the followup fills in "thinking…"; ephemeral answers defer ephemerally), a component with an edit of the
message it sits under (``defer()``, then an edit of that message). A notice in place of an answer is
ephemeral in every case. Every Cog whose first answer needs loaded data (schedules, groups, status) answers
through it."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any, Self

import discord

from common.dtek.address import StreetAddress
from common.source import CachedSource
from common.views import Notice, Problem, ViewKind, load_schedule_view, with_address_outages
from discord_bot.bot import DiscordBot, ThrottledItem, apologise
from discord_bot.context import DiscordContext
from discord_bot.delivery import user_recipient
from discord_bot.i18n import catalog_for
from discord_bot.render import CUSTOM_ID, Button, ScheduleMessage, parse_custom_id, schedule_message

log = logging.getLogger(__name__)


class ScheduleButton(ThrottledItem[discord.ui.Button[discord.ui.View]], template=CUSTOM_ID):
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
        parsed = parse_custom_id(self.button.custom_id)
        try:
            if parsed is None:  # a view this version no longer offers
                await Answer(interaction, edit=True).notice(catalog_for(interaction)("discord.outdated"))
                return
            await switch_view(bot.ctx, interaction, *parsed)
        except Exception:
            log.exception("the schedule button %s failed", self.button.custom_id)
            await apologise(interaction)


def buttons(message: ScheduleMessage) -> discord.ui.View:
    """The buttons as a view without timeout: dynamic items only, so discord.py keeps nothing per message."""
    view = discord.ui.View(timeout=None)
    for button in message.buttons:
        view.add_item(ScheduleButton(button))
    return view


class Answer:
    """The first answer to one interaction, in time even when loading data may wait for DTEK.

    ``edit``: a component that edits the message it sits under (a schedule button, a picker page);
    otherwise the answer is a new message, ``ephemeral`` or not. Handlers call :meth:`defer_unless_at_hand`
    before loading anything, then answer with :meth:`show`, :meth:`text` or :meth:`notice`, which respond
    directly or, once deferred, fill in the deferred answer."""

    def __init__(self, interaction: discord.Interaction[Any], *, edit: bool, ephemeral: bool = False) -> None:
        self.interaction = interaction
        self.edit = edit
        self.ephemeral = ephemeral
        self.deferred = False

    @property
    def private(self) -> bool:
        """Whether the answer is seen by the user alone: ephemeral (or the edit of an ephemeral message), or
        in the user's DM with the bot. Only such an answer may show what is the user's own, like an address.
        """
        interaction = self.interaction
        if self.edit:
            message = interaction.message
            if message is not None and message.flags.ephemeral:
                return True
        elif self.ephemeral:
            return True
        channel = interaction.channel
        return channel is not None and channel.type is discord.ChannelType.private

    async def defer_unless_at_hand(self, source: CachedSource, regions: Iterable[str]) -> None:
        """Defers when loading any of ``regions`` may wait for DTEK: the answer then comes later."""
        if not all(source.at_hand(region) for region in regions):
            await self.defer()

    async def defer(self) -> None:
        """Defers (once): the answer comes later, e.g. after asking DTEK about an address."""
        if self.deferred:
            return
        if self.edit:
            await self.interaction.response.defer()  # the message stays as it is until the edit
        else:  # "DTEK Bot is thinking…", seen by the user alone for an ephemeral answer
            await self.interaction.response.defer(ephemeral=self.ephemeral, thinking=True)
        self.deferred = True

    async def show(self, message: ScheduleMessage, view: discord.ui.View) -> None:
        """The schedule with its picture and buttons."""
        interaction = self.interaction
        if self.edit and self.deferred:
            await interaction.edit_original_response(
                embed=message.embed, attachments=message.attachments(), view=view
            )
        elif self.edit:
            await interaction.response.edit_message(
                embed=message.embed, attachments=message.attachments(), view=view
            )
        elif self.deferred:
            await interaction.followup.send(
                embed=message.embed, files=message.attachments(), view=view, ephemeral=self.ephemeral
            )
        else:
            await interaction.response.send_message(
                embed=message.embed, files=message.attachments(), view=view, ephemeral=self.ephemeral
            )

    async def text(
        self,
        content: str,
        *,
        view: discord.ui.View | None = None,
        allowed_mentions: discord.AllowedMentions | None = None,
    ) -> None:
        """A text answer (with components, if any): the new message, or the edited one."""
        interaction = self.interaction
        mentions = allowed_mentions if allowed_mentions is not None else discord.utils.MISSING
        components = view if view is not None else discord.utils.MISSING
        if self.edit and self.deferred:
            await interaction.edit_original_response(
                content=content, view=components, allowed_mentions=mentions
            )
        elif self.edit:
            await interaction.response.edit_message(
                content=content, view=components, allowed_mentions=mentions
            )
        elif self.deferred:
            await interaction.followup.send(
                content, view=components, ephemeral=self.ephemeral, allowed_mentions=mentions
            )
        else:
            await interaction.response.send_message(
                content, view=components, ephemeral=self.ephemeral, allowed_mentions=mentions
            )

    async def notice(self, text: str, *, allowed_mentions: discord.AllowedMentions | None = None) -> None:
        """An ephemeral word in place of the answer; a message under a component stays as it is."""
        interaction = self.interaction
        mentions = allowed_mentions if allowed_mentions is not None else discord.utils.MISSING
        if not self.deferred:
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=mentions)
            return
        if not self.edit and not self.ephemeral:
            # The followup would fill in the public "thinking…" message: that goes, the user alone is told.
            await interaction.delete_original_response()
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=mentions)


async def show_schedule(ctx: DiscordContext, answer: Answer, region: str, group: str, kind: ViewKind) -> None:
    """Answers with the group's schedule (embed, picture, buttons), deferring first when DTEK must be
    asked; why there is none as an ephemeral word (for a button: that it is outdated)."""
    t = catalog_for(answer.interaction)
    addresses = await private_addresses(ctx, answer, region)
    if addresses:
        await answer.defer()  # DTEK is asked about them
    await answer.defer_unless_at_hand(ctx.source, [region])
    view = await load_schedule_view(
        ctx.source, region, group, kind, now=ctx.now(), t=t, pictures=ctx.pictures
    )
    if isinstance(view, Notice):
        outdated = answer.edit and view.problem is Problem.UNKNOWN_GROUP
        await answer.notice(t("discord.outdated") if outdated else view.text)
        return
    view = await with_address_outages(view, ctx.address, addresses, t)
    message = schedule_message(view)
    await answer.show(message, buttons(message))


async def private_addresses(ctx: DiscordContext, answer: Answer, region: str) -> list[StreetAddress]:
    """The user's saved addresses in ``region`` whose outages the answer may show: none unless it is
    :attr:`Answer.private` (an address is never shown in a message others see)."""
    if not answer.private:
        return []
    saved = await ctx.db.saved_addresses(user_recipient(answer.interaction.user.id))
    return [address for address in saved if address.region == region]


async def switch_view(
    ctx: DiscordContext, interaction: discord.Interaction[Any], region: str, group: str, kind: ViewKind
) -> None:
    """Edits the schedule the pressed button sits under into ``kind``; no data or an outdated button: an
    ephemeral word, the message stays as it is."""
    answer = Answer(interaction, edit=True)
    if region not in ctx.regions:
        await answer.notice(catalog_for(interaction)("discord.outdated"))
        return
    await show_schedule(ctx, answer, region, group, kind)
