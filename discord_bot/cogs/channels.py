"""Server channel subscriptions: /subscribe-channel group [channel] [role] [news], /unsubscribe-channel
group [channel], /subscriptions; and forgetting a server's subscriptions when the bot is removed from it.
``news`` turns DTEK's new announcements for the channel's regions on or off (each text posted once).

A subscribed channel is the recipient ``channel:<id>`` of the notification pipeline, subscribed to
(region, group) like any other; its server and the role its posts mention are kept besides (BotDB's
channel subscriptions), and it posts in the server's preferred language. The commands are for members
with Manage Channels: Discord shows them only to those by default, and each run checks it again, since a
server's admins may open a command to anyone.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from common.botdb import ChannelSubscription
from common.i18n import Catalog
from common.render.text import region_name, split_text
from common.views import GroupChoice, Notice, find_group, matching_groups
from discord_bot.answers import Answer
from discord_bot.bot import DiscordBot
from discord_bot.delivery import CONTENT_LIMIT, channel_recipient
from discord_bot.i18n import catalog_for, language, text

log = logging.getLogger(__name__)

Interaction = discord.Interaction[DiscordBot]
MAX_CHOICES = 25  # Discord's limit on autocomplete choices
# What the bot needs in a channel to post a notice there, by the catalog key of its name.
NEEDED_PERMISSIONS = ("view_channel", "send_messages", "embed_links")


class ChannelsCog(commands.Cog, name="channels"):
    def __init__(self, bot: DiscordBot) -> None:
        self.bot = bot
        self.ctx = bot.ctx

    @app_commands.command(
        name=text("discord.commands.subscribe_channel.name"),
        description=text("discord.commands.subscribe_channel.description"),
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_channels=True)
    @app_commands.rename(
        group=text("discord.options.channel_group.name"),
        channel=text("discord.options.channel.name"),
        role=text("discord.options.role.name"),
        news=text("discord.options.news.name"),
    )
    @app_commands.describe(
        group=text("discord.options.channel_group.description"),
        channel=text("discord.options.channel.description"),
        role=text("discord.options.role.description"),
        news=text("discord.options.news.description"),
    )
    async def subscribe_channel(
        self,
        interaction: Interaction,
        group: str,
        channel: discord.TextChannel | None = None,
        role: discord.Role | None = None,
        news: bool | None = None,
    ) -> None:
        t = catalog_for(interaction)
        target = await self._target(interaction, channel, t)
        if target is None:
            return
        if role is not None and role.is_default():
            await interaction.response.send_message(t("discord.everyone_role"), ephemeral=True)
            return
        missing = missing_permission(target)
        if missing is not None:
            await interaction.response.send_message(
                t("discord.cannot_post", channel=target.mention, missing=t(f"discord.permissions.{missing}")),
                ephemeral=True,
            )
            return
        answer = Answer(interaction, edit=False, ephemeral=True)
        await answer.defer_unless_at_hand(self.ctx.source, self.ctx.regions)  # finding the group may scrape
        found = await find_group(self.ctx.source, group, self.ctx.regions, t)
        if isinstance(found, Notice):  # nothing is stored
            await answer.notice(found.text)
            return
        added = await self.ctx.db.subscribe_channel(
            channel_recipient(target.id),
            found.region,
            found.group,
            server_id=str(target.guild.id),
            lang=language(target.guild.preferred_locale),
            mention_role=None if role is None else str(role.id),
        )
        log.info(
            "channel %s of server %s subscribed to %s %s (role %s)",
            target.id,
            target.guild.id,
            found.region,
            found.group,
            None if role is None else role.id,
        )
        key = "discord.channel_subscribed" if added else "discord.channel_already"
        mention = role.mention if role is not None else t("discord.no_role")
        lines = [t(key, channel=target.mention, **group_fields(found, t), role=mention)]
        if news is not None:  # not given: the channel's choice stays as it was
            await self.ctx.db.set_news(channel_recipient(target.id), news)
            lines.append(t("discord.channel_news_on" if news else "discord.channel_news_off"))
        await answer.text("\n".join(lines), allowed_mentions=discord.AllowedMentions.none())

    @app_commands.command(
        name=text("discord.commands.unsubscribe_channel.name"),
        description=text("discord.commands.unsubscribe_channel.description"),
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_channels=True)
    @app_commands.rename(
        group=text("discord.options.channel_group.name"), channel=text("discord.options.channel.name")
    )
    @app_commands.describe(
        group=text("discord.options.channel_group.description"),
        channel=text("discord.options.channel.description"),
    )
    async def unsubscribe_channel(
        self, interaction: Interaction, group: str, channel: discord.TextChannel | None = None
    ) -> None:
        t = catalog_for(interaction)
        target = await self._target(interaction, channel, t)
        if target is None:
            return
        answer = Answer(interaction, edit=False, ephemeral=True)
        await answer.defer_unless_at_hand(self.ctx.source, self.ctx.regions)  # finding the group may scrape
        found = await find_group(self.ctx.source, group, self.ctx.regions, t)
        if isinstance(found, Notice):
            await answer.notice(found.text)
            return
        removed = await self.ctx.db.unsubscribe_channel(
            channel_recipient(target.id), found.region, found.group
        )
        if removed:
            log.info("channel %s unsubscribed from %s %s", target.id, found.region, found.group)
        key = "discord.channel_unsubscribed" if removed else "discord.channel_not_subscribed"
        await answer.text(t(key, channel=target.mention, **group_fields(found, t)))

    @app_commands.command(
        name=text("discord.commands.subscriptions.name"),
        description=text("discord.commands.subscriptions.description"),
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_channels=True)
    async def subscriptions(self, interaction: Interaction) -> None:
        t = catalog_for(interaction)
        if not await self._may_manage(interaction, t) or interaction.guild_id is None:
            return
        found = await self.ctx.db.channel_subscriptions(str(interaction.guild_id))
        if not found:
            await interaction.response.send_message(t("discord.no_channel_subscriptions"), ephemeral=True)
            return
        lines = [t("discord.subscriptions_title"), *(subscription_line(s, t) for s in found)]
        # A long list goes in several messages, cut between lines (never inside a <#channel> mention).
        first, *more = split_text("\n".join(lines), CONTENT_LIMIT)
        quiet = discord.AllowedMentions.none()
        await interaction.response.send_message(first, ephemeral=True, allowed_mentions=quiet)
        for part in more:
            await interaction.followup.send(part, ephemeral=True, allowed_mentions=quiet)

    @subscribe_channel.autocomplete("group")
    @unsubscribe_channel.autocomplete("group")
    async def group_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        t = catalog_for(interaction)
        options = await matching_groups(self.ctx.source, current, self.ctx.regions, t, limit=MAX_CHOICES)
        return [app_commands.Choice(name=option.label[:100], value=option.text) for option in options]

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        """The bot was removed from a server (or the server deleted): its channel subscriptions go."""
        deleted = await self.ctx.db.delete_server_subscriptions(
            str(guild.id), "the bot was removed from the server"
        )
        log.info("removed from server %s: deleted its %d channel subscription(s)", guild.id, deleted)

    async def _may_manage(self, interaction: Interaction, t: Catalog) -> bool:
        """Whether the member may manage channels here; if not, they are told so."""
        if interaction.permissions.manage_channels:
            return True
        await interaction.response.send_message(t("discord.need_manage_channels"), ephemeral=True)
        return False

    async def _target(
        self, interaction: Interaction, chosen: discord.TextChannel | None, t: Catalog
    ) -> discord.TextChannel | None:
        """The channel a command is about (the current one by default) when the member may manage it;
        None once the member has been told why not."""
        if not await self._may_manage(interaction, t):
            return None
        target = chosen if chosen is not None else interaction.channel
        if not isinstance(target, discord.TextChannel) or target.guild.id != interaction.guild_id:
            await interaction.response.send_message(t("discord.not_text_channel"), ephemeral=True)
            return None
        member = interaction.user
        if isinstance(member, discord.Member) and not target.permissions_for(member).manage_channels:
            await interaction.response.send_message(t("discord.need_manage_channels"), ephemeral=True)
            return None
        return target


def missing_permission(channel: discord.TextChannel) -> str | None:
    """The first of :data:`NEEDED_PERMISSIONS` the bot lacks in the channel, if any. Each needs the one
    before it (Discord drops Send Messages with View Channel, and Embed Links with Send Messages), so the
    first missing one is what to grant."""
    me = channel.guild.me
    if me is None:
        return NEEDED_PERMISSIONS[0]
    granted = channel.permissions_for(me)
    return next((name for name in NEEDED_PERMISSIONS if not getattr(granted, name)), None)


def group_fields(found: GroupChoice, t: Catalog) -> dict[str, str]:
    return {"region": region_name(found.region, t.lang), "group": found.group.removeprefix("GPV")}


def subscription_line(subscription: ChannelSubscription, t: Catalog) -> str:
    """``#channel — region, group``, the role it mentions and whether posting there stopped."""
    channel = f"<#{subscription.recipient_id.removeprefix('channel:')}>"
    fields = {
        "region": region_name(subscription.region, t.lang),
        "group": subscription.group.removeprefix("GPV"),
    }
    line = t("discord.subscription_line", channel=channel, **fields)
    if subscription.mention_role is not None:
        line += t("discord.subscription_role", role=f"<@&{subscription.mention_role}>")
    if not subscription.active:
        line += t("discord.subscription_paused")
    return line


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, DiscordBot)
    await bot.add_cog(ChannelsCog(bot))
