"""Posts outbox messages to Discord, into server channels and users' DMs, and tells the outbox worker how it
went.

Recipient ids are platform-neutral text in the bot's database; on Discord they are ``channel:<id>`` (a
server channel subscribed to a group) and ``user:<id>`` (a user's personal alerts, sent by DM).

A change notice goes as embeds: the title, the lead as the description, each section as fields, the notes
in the footer. A reminder goes as plain text with its markdown escaped. Discord holds a normal notice in
one message; a larger one is spread over several embeds and, past a message's limits, several messages.
Each message is a part: the outcome says how many arrived, so a retry (the worker passes the row's count
as ``parts_sent``) posts only the rest.

discord.py keeps its own per-route rate limits (it waits out a 429 and retries a 500 by itself); what gets
past it is mapped to an outcome for the worker.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import aiohttp
import discord

from common.notifications import SendOutcome
from common.render.text import DISCORD_MAX_FIELDS, Rendered, embed_fields, rendered_from_json, split_text
from discord_bot.render import MARKUP

log = logging.getLogger(__name__)

# Discord's message and embed limits (characters; the embed total counts title, description, field names
# and values, and footer, over all the embeds of a message).
CONTENT_LIMIT = 2000
EMBEDS_PER_MESSAGE = 10
EMBED_TOTAL_LIMIT = 6000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FOOTER_LIMIT = 2048
NOTICE_COLOUR = 0xF5A623

# Error codes that mean the recipient is out of reach until someone acts (the worker deactivates it, its
# data kept). Any other 403 or 404 is "failed" instead: a bare 404 from a wrong API address, say, must not
# deactivate every recipient at once.
GONE_CODES: Mapping[int, str] = {
    10003: "the channel was deleted",
    10013: "the user no longer exists",
    50001: "the bot can no longer see the channel",
    50007: "the user does not accept DMs from the bot",
    50013: "the bot may not post in the channel",
}
_DEFAULT_RETRY_AFTER = 5.0  # seconds, for a 429 that does not say

# --- recipients --------------------------------------------------------------------------------------

RecipientKind = Literal["channel", "user"]
# ASCII digits only (``\d`` takes any script's), no leading zero: one spelling per id.
_RECIPIENT = re.compile(r"(channel|user):([1-9][0-9]{0,19})")
_SNOWFLAKE_MAX = 2**64 - 1


@dataclass(frozen=True, slots=True)
class DiscordRecipient:
    kind: RecipientKind
    id: int

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


def parse_recipient(recipient_id: str) -> DiscordRecipient:
    """``channel:<id>`` or ``user:<id>``; ValueError for anything else."""
    match = _RECIPIENT.fullmatch(recipient_id)
    if match is None or int(match[2]) > _SNOWFLAKE_MAX:
        raise ValueError(f"{recipient_id!r} is not a Discord recipient (channel:<id> or user:<id>)")
    kind: RecipientKind = "channel" if match[1] == "channel" else "user"
    return DiscordRecipient(kind, int(match[2]))


def channel_recipient(channel_id: int) -> str:
    """The recipient id of a server channel subscription."""
    return str(parse_recipient(f"channel:{channel_id}"))


def user_recipient(user_id: int) -> str:
    """The recipient id of a user's DM alerts."""
    return str(parse_recipient(f"user:{user_id}"))


# --- payloads into messages --------------------------------------------------------------------------


@dataclass(frozen=True)
class Post:
    """One Discord message of a payload: one part for the outbox."""

    content: str | None = None
    embeds: Sequence[discord.Embed] = ()
    mention_role: int | None = None  # the role ``content`` mentions, the only one allowed to be pinged

    @property
    def allowed_mentions(self) -> discord.AllowedMentions:
        if self.mention_role is None:
            return discord.AllowedMentions.none()
        roles = [discord.Object(self.mention_role)]
        return discord.AllowedMentions(everyone=False, users=False, roles=roles, replied_user=False)


def payload_posts(payload: Mapping[str, Any], *, mention_role: int | None = None) -> list[Post]:
    """The messages of an outbox payload, in order; ValueError if the payload is not one we know.

    ``mention_role`` (a role id) puts the role's mention in the first message's text. It comes from the
    recipient's subscription, not the payload: the fan-out shares one payload among many recipients.
    """
    role = _optional_snowflake(mention_role, "mention_role")
    mention = f"<@&{role}>" if role is not None else None
    if "rendered" in payload:
        messages = notice_embeds(rendered_from_json(payload["rendered"]))
        posts = [Post(embeds=embeds) for embeds in messages]
        if role is not None:
            posts[0] = Post(mention, posts[0].embeds, role)
        return posts
    if "text" in payload:
        text = discord.utils.escape_markdown(str(payload["text"]))
        if mention is not None:
            text = f"{mention}\n{text}"
        parts = split_text(text, CONTENT_LIMIT)
        return [Post(part, mention_role=role if index == 0 else None) for index, part in enumerate(parts)]
    raise ValueError("the payload has neither 'rendered' nor 'text'")


def notice_embeds(rendered: Rendered) -> list[list[discord.Embed]]:
    """A change notice as messages of embeds, each message within Discord's limits.

    The title heads every message (a part sent alone on a retry still says what it is about), the notes
    go in the last embed's footer; fields fill an embed up to 25, embeds a message up to 10 or the total.
    """
    title = _cut(MARKUP.escape(rendered.title), TITLE_LIMIT)
    footer = _cut("\n".join(rendered.notes), FOOTER_LIMIT)  # footers show no markdown: not escaped
    budget = EMBED_TOTAL_LIMIT - len(footer)  # kept free in every message for the footer of the last
    packer = _Packer(title, budget)
    if rendered.lead:
        lead = MARKUP.escape(rendered.lead)
        for chunk in split_text(lead, min(DESCRIPTION_LIMIT, budget - len(title))):
            packer.add_description(chunk)
    for name, value in embed_fields(rendered, MARKUP, max_fields=None):
        packer.add_field(name or "\u200b", value)  # Discord refuses an empty field name
    return packer.finish(footer)


@dataclass
class _Packer:
    """Fills embeds and messages in order, opening a new one where a limit would be passed."""

    title: str
    budget: int  # characters a message's embeds may hold
    messages: list[list[discord.Embed]] = field(default_factory=list)
    used: int = field(default=0, init=False)  # characters in the last message's embeds

    def add_description(self, text: str) -> None:
        embed = self._room(len(text), fresh=lambda e: not e.description and not e.fields)
        embed.description = text

    def add_field(self, name: str, value: str) -> None:
        embed = self._room(len(name) + len(value), fresh=lambda e: len(e.fields) < DISCORD_MAX_FIELDS)
        embed.add_field(name=name, value=value, inline=False)

    def finish(self, footer: str) -> list[list[discord.Embed]]:
        if not self.messages:
            self._new_message()  # a notice that is only a title
        if footer:
            self.messages[-1][-1].set_footer(text=footer)
        return self.messages

    def _room(self, size: int, *, fresh: Callable[[discord.Embed], bool]) -> discord.Embed:
        """The embed to add ``size`` characters to: the last one when ``fresh(it)`` says it takes more,
        else a new embed in the last message, else a new message."""
        if not self.messages or self.used + size > self.budget:
            self._new_message()
        elif not fresh(self.messages[-1][-1]):
            if len(self.messages[-1]) == EMBEDS_PER_MESSAGE:
                self._new_message()
            else:
                self.messages[-1].append(discord.Embed(colour=NOTICE_COLOUR))
        self.used += size
        return self.messages[-1][-1]

    def _new_message(self) -> None:
        self.messages.append([discord.Embed(title=self.title, colour=NOTICE_COLOUR)])
        self.used = len(self.title)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _optional_snowflake(value: object, name: str) -> int | None:
    if value is None:
        return None
    text = str(value)
    if isinstance(value, bool) or not re.fullmatch(r"[1-9][0-9]{0,19}", text) or int(text) > _SNOWFLAKE_MAX:
        raise ValueError(f"{name} {value!r} is not a Discord id")
    return int(text)


# --- sending ------------------------------------------------------------------------------------------


# The role a post to the recipient mentions, looked up when it is sent: (recipient id, payload) -> role id.
MentionRole = Callable[[str, Mapping[str, Any]], Awaitable[int | None]]


class RoleStore(Protocol):
    async def mention_role(self, recipient_id: str, region: str, group: str) -> str | None: ...


def subscription_roles(store: RoleStore) -> MentionRole:
    """The :data:`MentionRole` of server channel subscriptions: a channel's post about a group mentions
    the role its subscription to that group names; DMs and payloads of no group mention nobody."""

    async def lookup(recipient_id: str, payload: Mapping[str, Any]) -> int | None:
        region, group = payload.get("region"), payload.get("group")
        if (
            not recipient_id.startswith("channel:")
            or not isinstance(region, str)
            or not isinstance(group, str)
        ):
            return None
        role = await store.mention_role(recipient_id, region, group)
        return _optional_snowflake(role, "mention_role")

    return lookup


class DiscordSender:
    """The outbox's :class:`~common.notifications.Sender` for Discord, over a logged-in discord.py client.

    A user's DM channel is opened once and its id remembered (Discord answers with the same channel every
    time); channels are addressed by id, so nothing needs to be in discord.py's cache. ``mention_role``
    tells the role (if any) the first message of a post mentions.
    """

    def __init__(self, client: discord.Client, *, mention_role: MentionRole | None = None) -> None:
        self._client = client
        self._mention_role = mention_role
        self._dm_channels: dict[int, int] = {}  # user id -> DM channel id

    async def send(self, recipient_id: str, payload: Mapping[str, Any], *, parts_sent: int) -> SendOutcome:
        try:
            recipient = parse_recipient(recipient_id)
            role = None if self._mention_role is None else await self._mention_role(recipient_id, payload)
            posts = payload_posts(payload, mention_role=role)[parts_sent:]
        except (ValueError, KeyError, TypeError) as exc:  # a bad row: retrying it gets the same answer
            return SendOutcome("failed", error=f"cannot send to {recipient_id!r}: {exc}")
        if not posts:
            return SendOutcome("sent")
        delivered = 0
        try:
            channel = await self._channel(recipient)
            for post in posts:
                await channel.send(
                    post.content, embeds=list(post.embeds), allowed_mentions=post.allowed_mentions
                )
                delivered += 1
        except discord.RateLimited as exc:  # a wait longer than the client's max_ratelimit_timeout
            return SendOutcome(
                "retry_after", retry_after=exc.retry_after, error=str(exc), parts_delivered=delivered
            )
        except discord.HTTPException as exc:
            outcome = outcome_of_error(exc, delivered)
            if outcome.status == "blocked" and recipient.kind == "user":
                self._dm_channels.pop(recipient.id, None)
            return outcome
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            # Caught here, not by the worker, so the parts that arrived count.
            return SendOutcome("failed", error=f"{type(exc).__name__}: {exc}", parts_delivered=delivered)
        return SendOutcome("sent")

    async def _channel(self, recipient: DiscordRecipient) -> discord.PartialMessageable:
        if recipient.kind == "channel":
            return self._client.get_partial_messageable(recipient.id)
        channel_id = self._dm_channels.get(recipient.id)
        if channel_id is None:
            # Opening works even when the user's DMs are closed: the post is what Discord refuses.
            dm = await self._client.create_dm(discord.Object(recipient.id))
            channel_id = self._dm_channels[recipient.id] = dm.id
        return self._client.get_partial_messageable(channel_id, type=discord.ChannelType.private)


def outcome_of_error(exc: discord.HTTPException, delivered: int) -> SendOutcome:
    """What an error answer of Discord means for the outbox row."""
    error = f"{exc.status} (code {exc.code}): {exc.text}" if exc.text else f"{exc.status} (code {exc.code})"
    if exc.status == 429:  # discord.py waits out 429s itself; this one got past it
        return SendOutcome(
            "retry_after", retry_after=_retry_after(exc), error=error, parts_delivered=delivered
        )
    if isinstance(exc, discord.Forbidden | discord.NotFound) and exc.code in GONE_CODES:
        return SendOutcome("blocked", error=f"{GONE_CODES[exc.code]}: {error}")
    if exc.status < 500:  # our request was refused: a bug of ours or a limit we did not expect
        log.warning("Discord refused a post: %s", error)
    return SendOutcome("failed", error=error, parts_delivered=delivered)


def _retry_after(exc: discord.HTTPException) -> float:
    try:
        return max(float(exc.response.headers.get("Retry-After", "")), 0.0)
    except ValueError:
        return _DEFAULT_RETRY_AFTER
