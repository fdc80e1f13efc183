"""The bot: a ``commands.Bot`` whose ``setup_hook`` loads one Cog per feature and syncs the commands when
they changed; handler failures are logged and apologised for, and the bot keeps running. Each user's
commands and component uses pass the per-user throttle first (:func:`admit`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from common.notifications import REMINDER_INTERVAL_SECONDS, Notifier
from common.notifications.address_watch import create_address_watch
from common.throttle import UserThrottle
from discord_bot.context import DiscordContext
from discord_bot.delivery import DiscordSender, subscription_roles
from discord_bot.i18n import CatalogTranslator, catalog_for
from discord_bot.sync import sync_if_changed

log = logging.getLogger("discord_bot")

# One extension (module with a Cog) per feature, loaded in this order.
EXTENSIONS = (
    "discord_bot.cogs.schedule",
    "discord_bot.cogs.status",
    "discord_bot.cogs.channels",
    "discord_bot.cogs.alerts",
    "discord_bot.cogs.groups",
    "discord_bot.cogs.address",
    "discord_bot.cogs.outages",
)


def intents() -> discord.Intents:
    """Non-privileged only: the guilds the bot is in and their channels; slash commands need no more."""
    chosen = discord.Intents.none()
    chosen.guilds = True
    return chosen


async def apologise(interaction: discord.Interaction[Any]) -> None:
    """An ephemeral apology in the user's language, as the first answer or as a followup."""
    await answer_privately(interaction, catalog_for(interaction)("bot.error"))


async def answer_privately(interaction: discord.Interaction[Any], text: str) -> None:
    """An ephemeral answer, as the first one or as a followup; a failure to send it is only logged."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not answer interaction %s", interaction.id, exc_info=True)


async def admit(interaction: discord.Interaction[Any]) -> bool:
    """Whether the user is within the per-user limit; if not, the interaction gets an ephemeral "too many
    requests" answer instead. Autocomplete is not counted: it is typing, and it cannot be answered so."""
    bot = interaction.client
    if interaction.type is discord.InteractionType.autocomplete or not isinstance(bot, DiscordBot):
        return True
    verdict = bot.throttle.check(interaction.user.id)
    if verdict.allowed:
        return True
    await answer_privately(
        interaction, catalog_for(interaction)("bot.too_many_requests", seconds=verdict.wait_seconds)
    )
    return False


ItemT = TypeVar("ItemT", bound=discord.ui.Item[Any], covariant=True)


class ThrottledItem(discord.ui.DynamicItem[ItemT], template=r"(?!)"):
    """The base of the bot's buttons and menus (DynamicItems): a use over the user's limit is refused.
    Its template matches nothing: only subclasses, with their own, are registered."""

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        return await admit(interaction)


class DiscordTree(app_commands.CommandTree["DiscordBot"]):
    async def interaction_check(self, interaction: discord.Interaction[DiscordBot], /) -> bool:
        return await admit(interaction)

    async def on_error(
        self, interaction: discord.Interaction[DiscordBot], error: app_commands.AppCommandError
    ) -> None:
        command = interaction.command.qualified_name if interaction.command else "?"
        if isinstance(error, app_commands.TransformerError):  # an option Discord would not have offered
            log.info("/%s got an option it cannot use: %s", command, error)
            await answer_privately(interaction, catalog_for(interaction)("discord.bad_option"))
            return
        original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        log.error("/%s failed for interaction %s", command, interaction.id, exc_info=original)
        if interaction.type is not discord.InteractionType.autocomplete:  # no message to answer with there
            await apologise(interaction)


class DiscordBot(commands.Bot):
    """Made by ``discord_bot.app.create_bot``; ``ctx`` holds the resources ``main`` opened.

    ``reminder_interval_seconds``: how often the notifier queues the reminders coming due (tests shorten it).
    """

    def __init__(
        self,
        ctx: DiscordContext,
        *,
        extensions: Sequence[str] = EXTENSIONS,
        reminder_interval_seconds: float = REMINDER_INTERVAL_SECONDS,
        **options: Any,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents(),
            tree_cls=DiscordTree,
            help_command=None,
            **options,
        )
        self.ctx = ctx
        self.extension_names = tuple(extensions)
        self.reminder_interval_seconds = reminder_interval_seconds
        self.failed_extensions: list[str] = []
        self.throttle = UserThrottle.for_bot(ctx.settings, ctx.now, ctx.metrics)
        self.synced: bool | None = None  # whether the start synced the commands; None before setup_hook
        self.notifier: Notifier | None = None  # started by setup_hook, once logged in

    async def setup_hook(self) -> None:
        await self.tree.set_translator(CatalogTranslator())
        for name in self.extension_names:
            try:
                await self.load_extension(name)
            except commands.ExtensionError:
                log.exception("could not load %s; the bot runs without it", name)
                self.failed_extensions.append(name)
        self.synced = await sync_if_changed(self.tree, self.ctx.db, self.ctx.settings.discord_guild_id)
        self.notifier = self._create_notifier()
        self.notifier.start()

    def _create_notifier(self) -> Notifier:
        """Change notices and reminders through the outbox, posted by this (logged-in) client."""
        ctx = self.ctx
        return Notifier(
            db=ctx.db,
            source=ctx.source,
            sender=DiscordSender(self, mention_role=subscription_roles(ctx.db)),
            regions=ctx.regions,
            rate_per_second=ctx.settings.discord_rate_limit,
            watch_interval_seconds=ctx.settings.watch_interval_seconds,
            now=ctx.now,
            reminder_interval_seconds=self.reminder_interval_seconds,
            metrics=ctx.metrics,
            address_watch=create_address_watch(ctx.db, ctx.address, ctx.settings, now=ctx.now),
        )

    async def close(self) -> None:
        # The background work first: sends under way finish while the connection is still there.
        if self.notifier is not None:
            await self.notifier.stop()
        await super().close()

    async def on_interaction(self, interaction: discord.Interaction[DiscordBot]) -> None:
        self.ctx.metrics.updates.labels(interaction.type.name).inc()

    async def on_ready(self) -> None:
        log.info("connected as %s to %d servers (%s mode)", self.user, len(self.guilds), self.ctx.source.mode)
