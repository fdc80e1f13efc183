"""A fake Discord (REST API v10 and gateway) for end-to-end tests of the real discord.py client.

It serves real HTTP and a real WebSocket on 127.0.0.1 (aiohttp.web, ephemeral port), so the bot under test
runs unchanged. discord.py reads two module-level settings; ``FakeDiscord`` sets both while it runs (and
restores them on stop), or spelled out:

    discord.http.Route.BASE = f"{fake.base_url}/api/v10"  # every REST call, interactions and webhooks too
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)

A plain ``Client``/``commands.Bot`` connects to ``DEFAULT_GATEWAY`` without asking ``GET /gateway/bot``
(only ``AutoShardedClient`` asks; the fake answers that too). After READY the client reconnects to READY's
``resume_gateway_url``, which is the fake again.

    async with FakeDiscord() as discord_fake:
        guild = discord_fake.guild("DTEK Kyiv")
        general = guild.text_channel("general")
        alice = discord_fake.user("alice")
        guild.add_member(alice)
        # start the bot with discord_fake.token, then await bot.wait_until_ready()
        interaction = await alice.invoke("schedule", channel=general, queue="3.1")
        response = await interaction.wait_for_response()

Tests play the users: slash commands (only those the bot synced, with options checked against the synced
definitions), autocomplete, button presses and select choices arrive as INTERACTION_CREATE. The fake keeps
every message with its revisions, so a test can tell an edit of the same message from a new one.
Ephemeral answers stay in their channel's messages, marked ``visible_to`` their user. After a "thinking"
defer (callback 5) the first followup fills in the loading message, as on Discord: it is the
interaction's ``original``, not one of its ``followups`` (unless the bot deleted the loading message: then
it is a new message, with its own flags).

Answers are shaped like Discord's: errors are ``{"message": ..., "code": N}`` (plus ``errors`` for
"Invalid Form Body" 50035). Where it is cheap the fake refuses what Discord refuses: message and embed
limits, empty messages, bad components, more than 25 autocomplete choices, a second or late (3 s)
interaction callback, a DM to a user whose DMs are closed (403, 50007), command definitions Discord rejects.
Rate limits: ``rate_limit()`` enforces a bucket with the X-RateLimit headers, ``delay_answers()`` slows the
answers of a route (after it acted), ``fail_next()`` injects errors
(a 429 carries ``retry_after`` and the ``Via`` header without which discord.py takes a 429 for a
Cloudflare ban and gives up).

What discord.py 2.7 relies on, which the fake reproduces and a real bot must live with:
- login is ``GET /users/@me`` then ``GET /oauth2/applications/@me`` (the application id for commands);
  ``setup_hook`` runs after that and before the gateway, so ``tree.sync()`` there needs no READY;
- a body is decoded as JSON only under exactly ``Content-Type: application/json``;
- a 429 is retried after the body's ``retry_after`` only when the answer has a ``Via`` header; X-RateLimit-
  Remaining/-Limit/-Reset-After on successes make it wait before the next request of that bucket;
- on_ready comes ``guild_ready_timeout`` (2 s by default) after the last GUILD_CREATE: tests pass a small one;
- with the members intent it requests every guild's members (op 8) before on_ready;
- interaction callbacks are posted with ``?with_response=1``, and a view sent in a response is bound to
  the ``response_message_id`` of the answer; interaction and webhook routes carry no bot token.

Limits: JSON encoding only (no ETF); zlib-stream transport compression when asked, otherwise plain text
frames (discord.py asks for zstd-stream when ``zstandard`` is installed: those get text frames, which it
reads as well); no user-written messages (MESSAGE_CREATE), modal submissions, threads, reactions, voice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import math
import mimetypes
import re
import secrets
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, NamedTuple, TypeVar

import discord
import yarl
from aiohttp import WSMsgType, web
from discord.gateway import DiscordWebSocket
from discord.http import Route

from common.local_server import LocalServer
from tests.fakes.changes import Changes

T = TypeVar("T")
ClientT = TypeVar("ClientT", bound=discord.Client)
JSON = dict[str, Any]

API_VERSION = 10
DISCORD_EPOCH_MS = 1_420_070_400_000

# Discord's limits that bots most often hit.
MAX_CONTENT_LENGTH = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_EMBED_FIELDS = 25
EMBED_TEXT_LIMITS = {"title": 256, "description": 4096}
MAX_ACTION_ROWS = 5
MAX_ROW_WIDTH = 5
MAX_CUSTOM_ID_LENGTH = 100
MAX_BUTTON_LABEL_LENGTH = 80
MAX_SELECT_OPTIONS = 25
MAX_CHOICES = 25
MAX_CHOICE_LENGTH = 100
MAX_FILES = 10
DEFAULT_ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
INTERACTION_DEADLINE = 3.0  # seconds Discord waits for the first answer to an interaction

# Message flags.
SUPPRESS_EMBEDS = 1 << 2
EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_NOTIFICATIONS = 1 << 12
COMPONENTS_V2 = 1 << 15
_SETTABLE_FLAGS = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | COMPONENTS_V2

# Permission bits the fake looks at.
ADMINISTRATOR = 1 << 3
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_APPLICATION_COMMANDS = 1 << 31
EVERYONE_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_APPLICATION_COMMANDS
)


class Op(IntEnum):
    """Gateway opcodes."""

    DISPATCH = 0
    HEARTBEAT = 1
    IDENTIFY = 2
    PRESENCE_UPDATE = 3
    VOICE_STATE_UPDATE = 4
    RESUME = 6
    RECONNECT = 7
    REQUEST_GUILD_MEMBERS = 8
    INVALID_SESSION = 9
    HELLO = 10
    HEARTBEAT_ACK = 11


class Intent:
    """Gateway intent bits the fake acts on."""

    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_PRESENCES = 1 << 8
    MESSAGE_CONTENT = 1 << 15
    PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT


class InteractionType(IntEnum):
    PING = 1
    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    AUTOCOMPLETE = 4
    MODAL_SUBMIT = 5


class CallbackType(IntEnum):
    PONG = 1
    CHANNEL_MESSAGE = 4
    DEFERRED_CHANNEL_MESSAGE = 5
    DEFERRED_UPDATE_MESSAGE = 6
    UPDATE_MESSAGE = 7
    AUTOCOMPLETE_RESULT = 8
    MODAL = 9


class OptionType(IntEnum):
    SUB_COMMAND = 1
    SUB_COMMAND_GROUP = 2
    STRING = 3
    INTEGER = 4
    BOOLEAN = 5
    USER = 6
    CHANNEL = 7
    ROLE = 8
    MENTIONABLE = 9
    NUMBER = 10
    ATTACHMENT = 11


# Which callbacks Discord accepts for which interactions.
_ALLOWED_CALLBACKS = {
    InteractionType.APPLICATION_COMMAND: {4, 5, 9},
    InteractionType.MESSAGE_COMPONENT: {4, 5, 6, 7, 9},
    InteractionType.AUTOCOMPLETE: {8},
    InteractionType.MODAL_SUBMIT: {4, 5, 6, 7},
}

_SELECT_TYPES = frozenset({3, 5, 6, 7, 8})
_COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")
_GATEWAY_PATH = "/gateway"


class DiscordError(Exception):
    """An error answer of the API: raised by the route handlers, sent as JSON by the HTTP layer."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        errors: JSON | None = None,
        retry_after: float | None = None,
        is_global: bool = False,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.retry_after = retry_after
        self.is_global = is_global

    @classmethod
    def form(cls, path: str, code: str, message: str) -> DiscordError:
        """Discord's "Invalid Form Body" with nested ``errors``; a path like "embeds.0.title" names the field."""
        errors: JSON = {"_errors": [{"code": code, "message": message}]}
        for part in reversed(path.split(".")):
            errors = {part: errors}
        return cls(400, 50035, "Invalid Form Body", errors=errors)

    @classmethod
    def too_long(cls, path: str, limit: int) -> DiscordError:
        return cls.form(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    @classmethod
    def required(cls, path: str) -> DiscordError:
        return cls.form(path, "BASE_TYPE_REQUIRED", "This field is required")

    @classmethod
    def rate_limited(cls, retry_after: float, *, is_global: bool = False) -> DiscordError:
        return cls(429, 0, "You are being rate limited.", retry_after=retry_after, is_global=is_global)

    def to_json(self) -> JSON:
        if self.status == 429:
            return {"message": self.message, "retry_after": self.retry_after, "global": self.is_global}
        body: JSON = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


UNKNOWN_CHANNEL = (404, 10003, "Unknown Channel")
UNKNOWN_MESSAGE = (404, 10008, "Unknown Message")
UNKNOWN_USER = (404, 10013, "Unknown User")
UNKNOWN_WEBHOOK = (404, 10015, "Unknown Webhook")
UNKNOWN_INTERACTION = (404, 10062, "Unknown interaction")
MISSING_ACCESS = (403, 50001, "Missing Access")
CANNOT_EDIT_OTHERS = (403, 50005, "Cannot edit a message authored by another user")
EMPTY_MESSAGE = (400, 50006, "Cannot send an empty message")
CANNOT_DM = (403, 50007, "Cannot send messages to this user")
MISSING_PERMISSIONS = (403, 50013, "Missing Permissions")
ALREADY_ACKNOWLEDGED = (400, 40060, "Interaction has already been acknowledged.")
TOO_LARGE = (413, 40005, "Request entity too large")


def _error(kind: tuple[int, int, str]) -> DiscordError:
    return DiscordError(*kind)


# --- What the fake stores ---------------------------------------------------------------------------------


@dataclass
class Upload:
    """A file part of a multipart request, ``files[index]``."""

    index: int
    filename: str
    data: bytes


@dataclass
class Attachment:
    """A file on a message; its url serves the bytes from the fake (``Attachment.read()`` works)."""

    id: int
    filename: str
    content_type: str
    data: bytes
    url: str
    description: str | None = None

    def to_json(self) -> JSON:
        data: JSON = {
            "id": str(self.id),
            "filename": self.filename,
            "size": len(self.data),
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
        }
        if self.description is not None:
            data["description"] = self.description
        return data


@dataclass(eq=False)
class FakeMessage:
    """A message as the users see it. Edits change it in place; ``revisions`` keeps every state."""

    id: int
    channel_id: int
    author_id: int
    created_at: datetime.datetime
    content: str = ""
    embeds: list[JSON] = field(default_factory=list)
    components: list[JSON] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    flags: int = 0
    edited_at: datetime.datetime | None = None
    deleted: bool = False
    webhook_id: int | None = None  # the application id, for interaction responses and followups
    interaction: FakeInteraction | None = field(default=None, repr=False)
    visible_to: int | None = None  # ephemeral: the one user who sees it
    revisions: list[JSON] = field(default_factory=list, repr=False)  # message JSON at creation and each edit

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def loading(self) -> bool:
        """A deferred answer still "thinking"."""
        return bool(self.flags & LOADING)

    @property
    def edit_count(self) -> int:
        return len(self.revisions) - 1

    @property
    def embed(self) -> JSON | None:
        return self.embeds[0] if self.embeds else None

    @property
    def buttons(self) -> list[JSON]:
        """Every button of the action rows, left to right and top to bottom."""
        return [item for item in _components_of(self.components) if item.get("type") == 2]

    def button(self, label: str) -> JSON | None:
        return next((item for item in self.buttons if item.get("label") == label), None)

    def component(self, custom_id: str) -> JSON | None:
        return next(
            (item for item in _components_of(self.components) if item.get("custom_id") == custom_id), None
        )


def _components_of(components: list[JSON]) -> Iterator[JSON]:
    """Components nested at any depth (action rows, and the containers of components v2)."""
    for component in components:
        yield component
        yield from _components_of(component.get("components") or [])
        if isinstance(component.get("component"), dict):
            yield from _components_of([component["component"]])
        if isinstance(component.get("accessory"), dict):
            yield component["accessory"]


MessagePredicate = Callable[[FakeMessage], bool] | str | None


def _as_predicate(predicate: MessagePredicate) -> Callable[[FakeMessage], bool]:
    """None matches any message; a string matches content, embed title or embed description containing it."""
    if predicate is None:
        return lambda _message: True
    if isinstance(predicate, str):
        text = predicate

        def contains(message: FakeMessage) -> bool:
            texts = [message.content] + [
                str(embed.get(key) or "") for embed in message.embeds for key in ("title", "description")
            ]
            return any(text in part for part in texts)

        return contains
    return predicate


@dataclass(eq=False)
class FakeRole:
    id: int
    name: str
    permissions: int = 0
    position: int = 0

    def to_json(self) -> JSON:
        return {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }


@dataclass(eq=False)
class FakeChannel:
    """A guild text channel or a DM channel between the bot and one user."""

    discord: FakeDiscord = field(repr=False)
    id: int
    type: int  # 0 guild text, 1 DM
    name: str | None = None
    guild: FakeGuild | None = field(default=None, repr=False)
    recipient: FakeUser | None = field(default=None, repr=False)
    position: int = 0
    bot_can_send: bool = True  # False: the bot's role lacks Send Messages here (403, 50013)
    history: list[FakeMessage] = field(default_factory=list, repr=False)  # deleted ones too

    @property
    def messages(self) -> list[FakeMessage]:
        """Messages still in the channel, oldest first, ephemeral ones included (see visible_to)."""
        return [message for message in self.history if not message.deleted]

    async def wait_for_message(
        self,
        predicate: MessagePredicate = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 (a deadline for the whole wait, as the tests expect)
    ) -> FakeMessage:
        """The first message in the channel matching predicate, waiting for one if there is none yet."""
        matches = _as_predicate(predicate)
        return await self.discord.wait_until(
            lambda: next((message for message in self.messages if matches(message)), None),
            timeout,
            lambda: (
                f"no matching message in channel {self.id} within {timeout}s: "
                f"{[message.content for message in self.messages]}"
            ),
        )

    def to_json(self) -> JSON:
        if self.type == 1:
            last = self.history[-1].id if self.history else None
            recipients = [self.recipient.to_json()] if self.recipient is not None else []
            return {
                "id": str(self.id),
                "type": 1,
                "recipients": recipients,
                "last_message_id": None if last is None else str(last),
                "flags": 0,
            }
        assert self.guild is not None  # a guild channel by construction
        data: JSON = {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild.id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "rate_limit_per_user": 0,
            "topic": None,
            "last_message_id": None,
            "flags": 0,
        }
        if not self.bot_can_send:
            deny = str(SEND_MESSAGES)
            bot = str(self.discord.application_id)
            data["permission_overwrites"] = [{"id": bot, "type": 1, "allow": "0", "deny": deny}]
        return data


@dataclass(eq=False)
class FakeGuild:
    """A guild (server) the bot is in: its @everyone role has the id of the guild, as on Discord."""

    discord: FakeDiscord = field(repr=False)
    id: int
    name: str
    owner_id: int
    locale: str = "uk"
    roles: dict[int, FakeRole] = field(default_factory=dict)
    channels: list[FakeChannel] = field(default_factory=list)
    members: dict[int, list[int]] = field(default_factory=dict)  # user id -> role ids
    # Command name -> users an admin let use it whatever its default permissions (Server Settings ->
    # Integrations); see allow_command.
    command_overrides: dict[str, set[int]] = field(default_factory=dict)
    joined_at: datetime.datetime = field(default_factory=lambda: _now())

    @property
    def everyone(self) -> FakeRole:
        return self.roles[self.id]

    def text_channel(self, name: str, *, bot_can_send: bool = True) -> FakeChannel:
        channel = FakeChannel(
            self.discord,
            self.discord.next_id(),
            0,
            name,
            guild=self,
            position=len(self.channels),
            bot_can_send=bot_can_send,
        )
        self.channels.append(channel)
        self.discord.channels[channel.id] = channel
        return channel

    def role(self, name: str, permissions: int = 0) -> FakeRole:
        role = FakeRole(self.discord.next_id(), name, permissions, position=len(self.roles))
        self.roles[role.id] = role
        return role

    def add_member(self, user: FakeUser, *roles: FakeRole) -> None:
        self.members[user.id] = [role.id for role in roles]

    def allow_command(self, command: str, user: FakeUser) -> None:
        """Lets the member use the command even without its default permissions, as a server admin can;
        the permissions the bot receives with the interaction stay the member's own."""
        self.command_overrides.setdefault(command, set()).add(user.id)

    def permissions_of(self, user_id: int) -> int:
        """The guild-wide permissions of a member, from @everyone and its roles (the owner has all)."""
        if user_id == self.owner_id:
            return (1 << 53) - 1
        bits = self.everyone.permissions
        for role_id in self.members.get(user_id, []):
            bits |= self.roles[role_id].permissions
        return (1 << 53) - 1 if bits & ADMINISTRATOR else bits

    def member_json(self, user_id: int, *, with_permissions: bool = False) -> JSON:
        member: JSON = {
            "user": self.discord.user_json(user_id),
            "roles": [str(role_id) for role_id in self.members.get(user_id, [])],
            "joined_at": _iso(self.joined_at),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "nick": None,
        }
        if with_permissions:
            member["permissions"] = str(self.permissions_of(user_id))
        return member

    def to_json(self, intents: int) -> JSON:
        """GUILD_CREATE's guild; like Discord it lists other members only with the GUILD_MEMBERS intent."""
        bot_id = self.discord.application_id
        member_ids = [bot_id] + (list(self.members) if intents & Intent.GUILD_MEMBERS else [])
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "owner_id": str(self.owner_id),
            "preferred_locale": self.locale,
            "features": [],
            "roles": [role.to_json() for role in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "channels": [channel.to_json() for channel in self.channels],
            "threads": [],
            "members": [self.member_json(user_id) for user_id in member_ids],
            "member_count": len(self.members) + 1,
            "large": False,
            "unavailable": False,
            "joined_at": _iso(self.joined_at),
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "system_channel_flags": 0,
        }


@dataclass(eq=False)
class FakeUser:
    """A user played by the test."""

    discord: FakeDiscord = field(repr=False)
    id: int
    username: str
    global_name: str | None = None
    locale: str = "uk"
    dms_open: bool = True  # False: the bot's DMs get 403 with code 50007, as with closed privacy settings

    @property
    def dm(self) -> FakeChannel:
        """The DM channel between this user and the bot (one per user, as on Discord)."""
        return self.discord.dm_channel(self)

    @property
    def dms(self) -> list[FakeMessage]:
        """The bot's messages in the DM channel."""
        return self.dm.messages

    def to_json(self) -> JSON:
        return {
            "id": str(self.id),
            "username": self.username,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": None,
            "bot": False,
            "public_flags": 0,
        }

    async def invoke(
        self,
        command: str,
        options: Mapping[str, Any] | None = None,
        *,
        channel: FakeChannel | None = None,
        **kwargs: Any,
    ) -> FakeInteraction:
        """Runs a slash command the bot synced, like typing ``/command option:value`` in channel (by
        default the user's DM with the bot). ``command`` may name a subcommand: "settings queue". Options
        come as keywords or, for names that are no Python identifiers, in ``options``: strings, numbers,
        booleans, FakeUser, FakeChannel or FakeRole by the option's type."""
        values = {**(options or {}), **kwargs}
        return await self.discord.run_command(self, command, values, channel or self.dm, focused=None)

    async def autocomplete(
        self,
        command: str,
        option: str,
        typed: str,
        options: Mapping[str, Any] | None = None,
        *,
        channel: FakeChannel | None = None,
        **kwargs: Any,
    ) -> FakeInteraction:
        """Types ``typed`` into an autocomplete option; the bot's choices come back as the response."""
        values = {**(options or {}), **kwargs, option: typed}
        return await self.discord.run_command(self, command, values, channel or self.dm, focused=option)

    async def press(
        self, message: FakeMessage, label: str | None = None, *, custom_id: str | None = None
    ) -> FakeInteraction:
        """Presses a button, found by label or custom_id, on a message this user sees."""
        if (label is None) == (custom_id is None):
            raise ValueError("give a label or a custom_id")
        button = message.button(label) if label is not None else message.component(custom_id or "")
        if button is None or button.get("type") != 2:
            raise AssertionError(
                f"no button {label or custom_id!r} on message {message.id}: {message.buttons}"
            )
        if button.get("disabled"):
            raise AssertionError(f"button {label or custom_id!r} is disabled: Discord lets nobody press it")
        if "custom_id" not in button:
            raise AssertionError(
                f"button {label or custom_id!r} is a link: pressing it opens a URL, not the bot"
            )
        data = {"custom_id": button["custom_id"], "component_type": 2}
        return await self.discord.use_component(self, message, data)

    async def select(self, message: FakeMessage, custom_id: str, values: list[str]) -> FakeInteraction:
        """Chooses values in a string select menu of a message this user sees."""
        menu = message.component(custom_id)
        if menu is None or menu.get("type") not in _SELECT_TYPES:
            raise AssertionError(f"no select menu {custom_id!r} on message {message.id}")
        if menu.get("disabled"):
            raise AssertionError(f"select menu {custom_id!r} is disabled")
        low, high = menu.get("min_values", 1), menu.get("max_values", 1)
        if not low <= len(values) <= high:
            raise AssertionError(f"select menu {custom_id!r} takes {low} to {high} values, not {len(values)}")
        if menu["type"] == 3:
            offered = {option["value"] for option in menu.get("options", [])}
            if not set(values) <= offered:
                raise AssertionError(f"select menu {custom_id!r} offers only {sorted(offered)}")
        data = {"custom_id": custom_id, "component_type": menu["type"], "values": values}
        return await self.discord.use_component(self, message, data)

    async def wait_for_dm(
        self,
        predicate: MessagePredicate = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 (a deadline for the whole wait)
    ) -> FakeMessage:
        return await self.dm.wait_for_message(predicate, timeout=timeout)


@dataclass
class InteractionResponse:
    """The bot's callback to one interaction: ``type`` is a CallbackType value, ``data`` its data."""

    type: int
    data: JSON
    at: float  # loop time on arrival

    @property
    def ephemeral(self) -> bool:
        return bool(int(self.data.get("flags") or 0) & EPHEMERAL)

    @property
    def choices(self) -> list[JSON]:
        """An autocomplete result's choices, as {"name": ..., "value": ...}."""
        return list(self.data.get("choices") or [])


@dataclass(eq=False)
class FakeInteraction:
    """One interaction a user started, with everything the bot answered to it."""

    discord: FakeDiscord = field(repr=False)
    id: int
    token: str
    type: InteractionType
    user: FakeUser
    channel: FakeChannel
    data: JSON
    created: float  # loop time
    message: FakeMessage | None = None  # the message whose component was used
    focused_type: int | None = None  # autocomplete: the focused option's type
    response: InteractionResponse | None = None
    original: FakeMessage | None = None  # what @original names once the response is in
    followups: list[FakeMessage] = field(default_factory=list)
    modal: JSON | None = None

    @property
    def guild(self) -> FakeGuild | None:
        return self.channel.guild

    async def wait_for_response(
        self,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 (a deadline for the whole wait)
    ) -> InteractionResponse:
        """The bot's callback, waiting for it if need be."""
        return await self.discord.wait_until(
            lambda: self.response,
            timeout,
            lambda: f"the bot did not answer interaction {self.id} ({self.type.name}) within {timeout}s",
        )

    async def wait_for_followup(
        self,
        count: int = 1,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 (a deadline for the whole wait)
    ) -> FakeMessage:
        """The count-th followup message, waiting for it if need be."""
        return await self.discord.wait_until(
            lambda: self.followups[count - 1] if len(self.followups) >= count else None,
            timeout,
            lambda: f"no followup #{count} to interaction {self.id} within {timeout}s",
        )

    async def wait_for_original(
        self,
        predicate: Callable[[FakeMessage], bool] = lambda message: not message.loading,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 (a deadline for the whole wait)
    ) -> FakeMessage:
        """The response message once it matches predicate (by default: once a deferred one is filled in)."""

        def check() -> FakeMessage | None:
            original = self.original
            return original if original is not None and predicate(original) else None

        return await self.discord.wait_until(
            check, timeout, lambda: f"the original response of interaction {self.id} never matched"
        )


@dataclass
class ApiRequest:
    """One REST request, kept in FakeDiscord.requests in order of arrival."""

    method: str
    route: str  # the route template, e.g. "POST /channels/{channel_id}/messages"
    path: str
    params: dict[str, str]  # the template's parameters
    query: dict[str, str]
    body: Any  # the JSON body, or the multipart payload_json
    files: list[Upload]
    at: float  # time.monotonic() on arrival
    status: int | None = None
    code: int | None = None  # the error code answered, if any


@dataclass
class CommandSync:
    """One bulk overwrite of the application's commands (``tree.sync()``); guild_id None: global."""

    guild_id: int | None
    commands: list[JSON]


class _Fault(NamedTuple):
    status: int
    code: int
    message: str
    retry_after: float | None
    is_global: bool


@dataclass
class _Bucket:
    limit: int
    per: float
    window_start: float = 0.0
    used: int = 0


@dataclass
class _Session:
    """A gateway session: it outlives a connection, so a RESUME can pick up after the last sequence."""

    id: str
    intents: int
    sequence: int = 0
    events: list[JSON] = field(default_factory=list)  # dispatched payloads, for replay on RESUME


@dataclass(eq=False)
class _Connection:
    socket: web.WebSocketResponse
    transport: asyncio.Transport | None  # the TCP connection, which drop_gateway() cuts
    compressor: Any | None  # zlib's compress object for zlib-stream
    session: _Session | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, payload: JSON) -> None:
        text = json.dumps(payload, separators=(",", ":"))
        async with self.lock:  # compressed frames must go out in the order they were compressed
            if self.socket.closed:
                return
            if self.compressor is not None:
                data = self.compressor.compress(text.encode()) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
                await self.socket.send_bytes(data)
            else:
                await self.socket.send_str(text)


@dataclass
class _Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: Callable[[ApiRequest, web.Request], Awaitable[Any]]
    bot_auth: bool  # needs "Authorization: Bot <token>"; interaction and webhook routes go by their token

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"


def _compile(template: str) -> re.Pattern[str]:
    regex = re.sub(
        r"\{(\w+)\}", r"(?P<\1>[^/]+)", re.escape(template).replace(r"\{", "{").replace(r"\}", "}")
    )
    return re.compile(f"^{regex}$")


# --- The server -------------------------------------------------------------------------------------------


class FakeDiscord(LocalServer):
    """The fake Discord for one bot application; see the module docstring."""

    _patched_by: FakeDiscord | None = None

    def __init__(
        self,
        *,
        application_id: int = 1_200_000_000_000_000_001,
        bot_name: str = "DTEK Bot",
        token: str = "fake-token",
        privileged_intents: int = 0,
        interaction_deadline: float = INTERACTION_DEADLINE,
        heartbeat_interval: float = 41.25,
        attachment_size_limit: int = DEFAULT_ATTACHMENT_SIZE_LIMIT,
        patch_discord_py: bool = True,
    ) -> None:
        super().__init__()
        self.application_id = application_id
        self.bot_name = bot_name
        self.token = token
        # The privileged intents switched on in the developer portal; asking for others closes with 4014.
        self.privileged_intents = privileged_intents
        self.interaction_deadline = interaction_deadline
        self.heartbeat_interval = heartbeat_interval
        self.attachment_size_limit = attachment_size_limit
        self.patch_discord_py = patch_discord_py
        self.users: dict[int, FakeUser] = {}
        self.guilds: dict[int, FakeGuild] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.interactions: dict[int, FakeInteraction] = {}
        self.requests: list[ApiRequest] = []
        self.syncs: list[CommandSync] = []
        self.commands: dict[int | None, list[JSON]] = {}  # registered commands by guild id (None: global)
        self.identifies: list[JSON] = []  # IDENTIFY payloads, token included
        self.resumes: list[JSON] = []
        self.heartbeats = 0
        self.gateway_queries: list[dict[str, str]] = []  # the query string of each gateway connection
        self.presence: JSON | None = None  # the last PRESENCE_UPDATE
        self._last_id = 0
        self.owner = self._new_user("owner")
        self._sessions: dict[str, _Session] = {}
        self._connections: set[_Connection] = set()
        self._faults: dict[str, list[_Fault | None]] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._answer_delays: dict[str, float] = {}  # route -> seconds between handling and answering
        self._bucket_state: dict[tuple[str, str], _Bucket] = {}
        self._changes = Changes()
        self._saved_settings: tuple[str, yarl.URL] | None = None
        self._routes = self._route_table()

    # --- lifecycle

    def make_app(self) -> web.Application:
        # Room for bodies over Discord's attachment limit, so that the fake (not aiohttp) refuses them.
        app = web.Application(client_max_size=4 * self.attachment_size_limit)
        app.router.add_get(_GATEWAY_PATH, self._handle_gateway)
        app.router.add_get("/attachments/{attachment_id}/{filename}", self._handle_attachment)
        app.router.add_route("*", f"/api/v{API_VERSION}/{{tail:.*}}", self._handle_api)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown)
        return app

    async def start(self, port: int = 0) -> None:
        await super().start(port)
        if self.patch_discord_py:
            self._point_discord_py_here()

    async def stop(self) -> None:
        self._changes.close()
        for connection in list(self._connections):
            await connection.socket.close(code=1001, message=b"server stopping")
        await super().stop()
        self._restore_discord_py()

    def _point_discord_py_here(self) -> None:
        """Sets the two settings discord.py reads: its REST base and the gateway it connects to first."""
        if FakeDiscord._patched_by is not None:
            raise RuntimeError("another FakeDiscord already points discord.py at itself")
        self._saved_settings = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
        Route.BASE = self.api_base
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        FakeDiscord._patched_by = self

    def _restore_discord_py(self) -> None:
        if self._saved_settings is not None:
            Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = self._saved_settings
            self._saved_settings = None
            FakeDiscord._patched_by = None

    @property
    def api_base(self) -> str:
        """The value for ``discord.http.Route.BASE``."""
        return f"{self.base_url}/api/v{API_VERSION}"

    @property
    def gateway_url(self) -> str:
        """The value for ``DiscordWebSocket.DEFAULT_GATEWAY`` (discord.py adds v, encoding, compress)."""
        return f"ws{self.base_url.removeprefix('http')}{_GATEWAY_PATH}"

    # --- the world the bot lives in

    def next_id(self) -> int:
        """A fresh snowflake: time-based like Discord's (discord.py reads creation times from ids)."""
        stamp = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last_id = max(self._last_id + 1, stamp)
        return self._last_id

    def _new_user(self, username: str, **fields: Any) -> FakeUser:
        user = FakeUser(self, self.next_id(), username, **fields)
        self.users[user.id] = user
        return user

    def user(
        self, username: str, *, global_name: str | None = None, locale: str = "uk", dms_open: bool = True
    ) -> FakeUser:
        return self._new_user(username, global_name=global_name, locale=locale, dms_open=dms_open)

    def guild(self, name: str, *, owner: FakeUser | None = None, locale: str = "uk") -> FakeGuild:
        """A guild the bot is in; set it up before the bot connects (or announce it with send_guild_create)."""
        owner = owner or self.owner
        guild = FakeGuild(self, self.next_id(), name, owner.id, locale=locale)
        guild.roles[guild.id] = FakeRole(guild.id, "@everyone", EVERYONE_PERMISSIONS)
        guild.members[owner.id] = []
        self.guilds[guild.id] = guild
        return guild

    def dm_channel(self, user: FakeUser) -> FakeChannel:
        existing = next((c for c in self.channels.values() if c.type == 1 and c.recipient is user), None)
        if existing is not None:
            return existing
        channel = FakeChannel(self, self.next_id(), 1, recipient=user)
        self.channels[channel.id] = channel
        return channel

    def message(self, message_id: int) -> FakeMessage | None:
        for channel in self.channels.values():
            for message in channel.history:
                if message.id == message_id:
                    return message
        return None

    def command(self, name: str, guild: FakeGuild | None = None) -> JSON | None:
        """The registered (synced) command with this name, global or of guild."""
        registered = self.commands.get(guild.id if guild is not None else None, [])
        return next((command for command in registered if command["name"] == name), None)

    def bot_json(self) -> JSON:
        return {
            "id": str(self.application_id),
            "username": self.bot_name,
            "global_name": None,
            "discriminator": "0",
            "avatar": None,
            "bot": True,
            "public_flags": 0,
            "flags": 0,
            "verified": True,
            "mfa_enabled": False,
        }

    def user_json(self, user_id: int) -> JSON:
        if user_id == self.application_id:
            return self.bot_json()
        return self.users[user_id].to_json()

    # --- fault injection and rate limits

    def fail_next(
        self,
        route: str,
        status: int = 429,
        *,
        code: int = 0,
        message: str | None = None,
        retry_after: float = 0.1,
        is_global: bool = False,
        count: int = 1,
        after: int = 0,
    ) -> None:
        """The next count requests of route ("POST /channels/{channel_id}/messages") get this error; with
        after, only once that many more were answered normally. A 429 carries retry_after."""
        self._route_named(route)
        text = message or ("You are being rate limited." if status == 429 else f"{status}: injected")
        fault = _Fault(status, code, text, retry_after if status == 429 else None, is_global)
        self._faults.setdefault(route, []).extend([None] * after + [fault] * count)

    def rate_limit(self, route: str, limit: int, per: float = 1.0) -> None:
        """Enforces a bucket of limit requests per `per` seconds on route (per channel, guild or webhook,
        like Discord's major parameters), answering with the X-RateLimit headers discord.py reads."""
        self._route_named(route)
        self._buckets[route] = _Bucket(limit, per)

    def delay_answers(self, route: str, seconds: float) -> None:
        """Answers route only ``seconds`` after doing what it asks: a message is posted before the bot
        hears so, as over a slow network, and a bot that dies meanwhile never learns it was."""
        self._route_named(route)
        self._answer_delays[route] = seconds

    @property
    def too_many_requests(self) -> list[ApiRequest]:
        return [request for request in self.requests if request.status == 429]

    # --- the request log

    def requests_to(self, route: str) -> list[ApiRequest]:
        self._route_named(route)
        return [request for request in self.requests if request.route == route]

    async def wait_for_request(self, route: str, *, timeout: float = 5.0) -> ApiRequest:  # noqa: ASYNC109
        """The first answered request of route, waiting for one if there is none yet."""
        self._route_named(route)
        return await self.wait_until(
            lambda: next((r for r in self.requests if r.route == route and r.status is not None), None),
            timeout,
            lambda: f"no {route} within {timeout}s",
        )

    async def wait_until(
        self, check: Callable[[], T | None], seconds: float, failure: Callable[[], str]
    ) -> T:
        """check()'s first value other than None, re-checked on every change; AssertionError(failure())
        when none comes within seconds."""
        return await self._changes.wait_until(check, seconds, failure)

    # --- the gateway

    @property
    def connected(self) -> bool:
        """Whether a bot is identified (or resumed) on the gateway."""
        return any(connection.session is not None for connection in self._connections)

    async def dispatch(self, event: str, data: JSON) -> None:
        """Sends a dispatch (op 0) to every identified connection, numbered in its session."""
        connections = [c for c in self._connections if c.session is not None]
        if not connections:
            raise AssertionError(f"no bot is connected to the gateway to receive {event}")
        for connection in connections:
            await self._dispatch_to(connection, event, data)

    async def send_guild_create(self, guild: FakeGuild) -> None:
        """Announces a guild created after READY, as when the bot is added to a server."""
        for connection in [c for c in self._connections if c.session is not None]:
            session = connection.session
            assert session is not None
            if session.intents & Intent.GUILDS:
                await self._dispatch_to(connection, "GUILD_CREATE", guild.to_json(session.intents))

    async def remove_from_guild(self, guild: FakeGuild) -> None:
        """Removes the bot from the guild (kicked, or the guild deleted): GUILD_DELETE without
        ``unavailable``; from then on a post to its channels is refused (403)."""
        del self.guilds[guild.id]
        for channel in guild.channels:
            channel.bot_can_send = False
        await self.dispatch("GUILD_DELETE", {"id": str(guild.id)})

    async def request_reconnect(self) -> None:
        """Asks the bot to reconnect (op 7), as Discord does when it moves a session; the bot then RESUMEs."""
        for connection in list(self._connections):
            await connection.send({"op": Op.RECONNECT, "d": None, "s": None, "t": None})

    def drop_gateway(self) -> None:
        """Cuts every gateway connection without a close frame, as a network failure does; the bot
        reconnects and RESUMEs, and the session's events it missed are replayed."""
        for connection in self._connections:
            if connection.transport is not None:
                connection.transport.abort()

    async def wait_for_connection(self, *, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        await self.wait_until(
            lambda: True if self.connected else None, timeout, lambda: "no bot connected to the gateway"
        )

    async def _dispatch_to(self, connection: _Connection, event: str, data: JSON) -> None:
        session = connection.session
        assert session is not None
        session.sequence += 1
        payload = {"op": Op.DISPATCH, "d": data, "s": session.sequence, "t": event}
        session.events.append(payload)
        await connection.send(payload)

    async def _handle_gateway(self, request: web.Request) -> web.StreamResponse:
        socket = web.WebSocketResponse(max_msg_size=0)
        await socket.prepare(request)
        self.gateway_queries.append(dict(request.query))
        if request.query.get("v") != str(API_VERSION):
            await socket.close(code=4012, message=b"Invalid API version")
            return socket
        if request.query.get("encoding", "json") != "json":
            await socket.close(code=4002, message=b"FakeDiscord speaks JSON only")
            return socket
        compressor = zlib.compressobj() if request.query.get("compress") == "zlib-stream" else None
        connection = _Connection(socket, request.transport, compressor)
        self._connections.add(connection)
        try:
            hello = {"heartbeat_interval": int(self.heartbeat_interval * 1000)}
            await connection.send({"op": Op.HELLO, "d": hello, "s": None, "t": None})
            async for message in socket:
                if message.type is not WSMsgType.TEXT:
                    await socket.close(code=4002, message=b"Decode error")
                    break
                try:
                    payload = json.loads(message.data)
                except ValueError:
                    await socket.close(code=4002, message=b"Decode error")
                    break
                await self._on_gateway_message(connection, payload)
        finally:
            self._connections.discard(connection)
            self._changes.notify()
        return socket

    async def _on_gateway_message(self, connection: _Connection, payload: JSON) -> None:
        op, data = payload.get("op"), payload.get("d")
        if op == Op.HEARTBEAT:
            self.heartbeats += 1
            await connection.send({"op": Op.HEARTBEAT_ACK, "d": None, "s": None, "t": None})
        elif op == Op.IDENTIFY:
            await self._identify(connection, data or {})
        elif op == Op.RESUME:
            await self._resume(connection, data or {})
        elif connection.session is None:
            await connection.socket.close(code=4003, message=b"Not authenticated")
        elif op == Op.REQUEST_GUILD_MEMBERS:
            await self._send_member_chunk(connection, data or {})
        elif op == Op.PRESENCE_UPDATE:
            self.presence = data
            self._changes.notify()
        elif op != Op.VOICE_STATE_UPDATE:
            await connection.socket.close(code=4001, message=b"Unknown opcode")

    async def _identify(self, connection: _Connection, data: JSON) -> None:
        if connection.session is not None:
            await connection.socket.close(code=4005, message=b"Already authenticated")
            return
        if data.get("token") != self.token:
            await connection.socket.close(code=4004, message=b"Authentication failed")
            return
        intents = data.get("intents")
        if not isinstance(intents, int):
            await connection.socket.close(code=4013, message=b"Invalid intent(s)")
            return
        if intents & Intent.PRIVILEGED & ~self.privileged_intents:
            await connection.socket.close(code=4014, message=b"Disallowed intent(s)")
            return
        self.identifies.append(data)
        session = _Session(secrets.token_hex(16), intents)
        self._sessions[session.id] = session
        connection.session = session
        ready: JSON = {
            "v": API_VERSION,
            "user": self.bot_json(),
            "guilds": [{"id": str(guild_id), "unavailable": True} for guild_id in self.guilds],
            "session_id": session.id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "user_settings": {},
            "session_type": "normal",
        }
        if "shard" in data:
            ready["shard"] = data["shard"]
        await self._dispatch_to(connection, "READY", ready)
        if intents & Intent.GUILDS:  # without it Discord sends no GUILD_CREATE, and the bot sees no guild
            for guild in self.guilds.values():
                await self._dispatch_to(connection, "GUILD_CREATE", guild.to_json(intents))
        self._changes.notify()

    async def _resume(self, connection: _Connection, data: JSON) -> None:
        session = self._sessions.get(str(data.get("session_id")))
        if data.get("token") != self.token:
            await connection.socket.close(code=4004, message=b"Authentication failed")
            return
        self.resumes.append(data)
        if session is None:
            await connection.send({"op": Op.INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        connection.session = session
        after = data.get("seq") or 0
        for payload in [event for event in session.events if event["s"] > after]:
            await connection.send(payload)
        await self._dispatch_to(connection, "RESUMED", {})
        self._changes.notify()

    async def _send_member_chunk(self, connection: _Connection, data: JSON) -> None:
        session = connection.session
        assert session is not None
        guild = self.guilds.get(int(data.get("guild_id") or 0))
        if guild is None:
            return
        if not session.intents & Intent.GUILD_MEMBERS:
            await connection.socket.close(code=4013, message=b"Invalid intent(s)")
            return
        query, limit = str(data.get("query") or ""), int(data.get("limit") or 0)
        wanted = {int(user_id) for user_id in data.get("user_ids") or []}
        ids = [self.application_id, *guild.members]
        if wanted:
            ids = [user_id for user_id in ids if user_id in wanted]
        else:
            ids = [i for i in ids if self.user_json(i)["username"].lower().startswith(query.lower())]
            ids = ids[:limit] if limit else ids
        chunk: JSON = {
            "guild_id": str(guild.id),
            "members": [guild.member_json(user_id) for user_id in ids],
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        await self._dispatch_to(connection, "GUILD_MEMBERS_CHUNK", chunk)

    # --- what users do (called by FakeUser)

    async def run_command(
        self, user: FakeUser, path: str, values: dict[str, Any], channel: FakeChannel, *, focused: str | None
    ) -> FakeInteraction:
        name, *sub_path = path.split()
        guild = channel.guild
        command = (self.command(name, guild) if guild is not None else None) or self.command(name)
        if command is None:
            synced = sorted(c["name"] for commands in self.commands.values() for c in commands)
            raise AssertionError(f"Discord offers no /{name} here: the bot synced {synced}")
        self._check_visible(command, user, channel)
        data: JSON = {"id": str(command["id"]), "name": name, "type": 1}
        if command.get("guild_id") is not None:
            data["guild_id"] = command["guild_id"]
        specs: list[JSON] = command.get("options") or []
        options: list[JSON] = []
        target = options
        for part in sub_path:  # walk down to the subcommand, nesting its options as Discord does
            spec = next((s for s in specs if s["name"] == part and s["type"] in (1, 2)), None)
            if spec is None:
                raise AssertionError(f"/{name} has no subcommand {part!r}")
            nested: list[JSON] = []
            target.append({"name": part, "type": spec["type"], "options": nested})
            target, specs = nested, spec.get("options") or []
        resolved: JSON = {}
        focused_type: int | None = None
        for spec in specs:
            if spec["type"] in (1, 2):
                raise AssertionError(f"/{path} needs a subcommand: {[s['name'] for s in specs]}")
            option_name = spec["name"]
            if option_name not in values:
                if spec.get("required") and focused is None:
                    raise AssertionError(f"Discord requires option {option_name!r} of /{path}")
                continue
            value = values.pop(option_name)
            if option_name == focused:
                if not spec.get("autocomplete"):
                    raise AssertionError(f"option {option_name!r} of /{path} has no autocomplete")
                focused_type = spec["type"]
                target.append(
                    {"name": option_name, "type": spec["type"], "value": str(value), "focused": True}
                )
            else:
                target.append(
                    {"name": option_name, "type": spec["type"], "value": _option_value(spec, value)}
                )
                _add_resolved(resolved, value, guild)
        if values:
            raise AssertionError(f"/{path} has no option(s) {sorted(values)}")
        data["options"] = options
        if resolved:
            data["resolved"] = resolved
        kind = InteractionType.AUTOCOMPLETE if focused is not None else InteractionType.APPLICATION_COMMAND
        interaction = self._new_interaction(kind, user, channel, data)
        interaction.focused_type = focused_type
        await self.dispatch("INTERACTION_CREATE", self._interaction_json(interaction))
        return interaction

    async def use_component(self, user: FakeUser, message: FakeMessage, data: JSON) -> FakeInteraction:
        if message.deleted:
            raise AssertionError(f"message {message.id} is deleted")
        if message.visible_to is not None and message.visible_to != user.id:
            raise AssertionError(f"message {message.id} is ephemeral: only user {message.visible_to} sees it")
        channel = self.channels[message.channel_id]
        interaction = self._new_interaction(InteractionType.MESSAGE_COMPONENT, user, channel, data)
        interaction.message = message
        await self.dispatch("INTERACTION_CREATE", self._interaction_json(interaction))
        return interaction

    def _check_visible(self, command: JSON, user: FakeUser, channel: FakeChannel) -> None:
        """Discord shows a command only where its contexts allow and to members with its permissions."""
        contexts = command.get("contexts")
        if contexts is None:
            contexts = [0, 1] if command.get("dm_permission") is not False else [0]
        context = 0 if channel.guild is not None else 1
        if context not in contexts:
            place = "in guilds" if context == 0 else "in DMs"
            raise AssertionError(f"Discord does not offer /{command['name']} {place}")
        required = command.get("default_member_permissions")
        allowed = channel.guild.command_overrides.get(command["name"], set()) if channel.guild else set()
        if channel.guild is not None and required is not None and user.id not in allowed:
            granted = channel.guild.permissions_of(user.id)
            if int(required) & ~granted:
                raise AssertionError(
                    f"user {user.username} lacks the permissions /{command['name']} requires"
                )

    def _new_interaction(
        self, kind: InteractionType, user: FakeUser, channel: FakeChannel, data: JSON
    ) -> FakeInteraction:
        if channel.guild is not None and user.id not in channel.guild.members:
            raise AssertionError(f"user {user.username} is no member of guild {channel.guild.name}")
        created = asyncio.get_running_loop().time()
        token = f"aW50ZXJhY3Rpb246{secrets.token_urlsafe(48)}"
        interaction = FakeInteraction(self, self.next_id(), token, kind, user, channel, data, created)
        self.interactions[interaction.id] = interaction
        return interaction

    def _bot_permissions(self, channel: FakeChannel) -> int:
        if channel.guild is None:
            return EVERYONE_PERMISSIONS
        bits = channel.guild.permissions_of(self.application_id)
        return bits if channel.bot_can_send else bits & ~SEND_MESSAGES

    def _interaction_json(self, interaction: FakeInteraction) -> JSON:
        channel, guild = interaction.channel, interaction.guild
        data: JSON = {
            "id": str(interaction.id),
            "application_id": str(self.application_id),
            "type": int(interaction.type),
            "data": interaction.data,
            "token": interaction.token,
            "version": 1,
            "channel_id": str(channel.id),
            "channel": channel.to_json(),
            "locale": interaction.user.locale,
            "app_permissions": str(self._bot_permissions(channel)),
            "entitlements": [],
            "attachment_size_limit": self.attachment_size_limit,
            "authorizing_integration_owners": {"0": str(guild.id) if guild is not None else "0"},
            "context": 0 if guild is not None else 1,
        }
        if guild is not None:
            data["guild_id"] = str(guild.id)
            data["guild"] = {"id": str(guild.id), "locale": guild.locale, "features": []}
            data["guild_locale"] = guild.locale
            data["member"] = guild.member_json(interaction.user.id, with_permissions=True)
        else:
            data["user"] = interaction.user.to_json()
        if interaction.message is not None:
            data["message"] = self._message_json(interaction.message)
        return data

    # --- HTTP

    def _route_table(self) -> list[_Route]:
        table: list[tuple[str, str, Callable[[ApiRequest, web.Request], Awaitable[Any]], bool]] = [
            ("GET", "/users/@me", self._get_me, True),
            ("GET", "/oauth2/applications/@me", self._get_application, True),
            ("GET", "/applications/@me", self._get_application, True),
            ("GET", "/gateway", self._get_gateway, False),
            ("GET", "/gateway/bot", self._get_gateway, True),
            ("POST", "/users/@me/channels", self._create_dm, True),
            ("GET", "/users/{user_id}", self._get_user, True),
            ("GET", "/channels/{channel_id}", self._get_channel, True),
            ("POST", "/channels/{channel_id}/typing", self._typing, True),
            ("GET", "/channels/{channel_id}/messages", self._get_messages, True),
            ("POST", "/channels/{channel_id}/messages", self._post_message, True),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self._get_message, True),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self._edit_message, True),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self._delete_message, True),
            ("GET", "/applications/{application_id}/commands", self._get_commands, True),
            ("PUT", "/applications/{application_id}/commands", self._put_commands, True),
            ("GET", "/applications/{application_id}/guilds/{guild_id}/commands", self._get_commands, True),
            ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", self._put_commands, True),
            ("POST", "/interactions/{interaction_id}/{token}/callback", self._callback, False),
            ("POST", "/webhooks/{application_id}/{token}", self._followup, False),
            (
                "GET",
                "/webhooks/{application_id}/{token}/messages/{message_id}",
                self._get_webhook_message,
                False,
            ),
            (
                "PATCH",
                "/webhooks/{application_id}/{token}/messages/{message_id}",
                self._edit_webhook_message,
                False,
            ),
            (
                "DELETE",
                "/webhooks/{application_id}/{token}/messages/{message_id}",
                self._delete_webhook_message,
                False,
            ),
        ]
        return [_Route(method, path, _compile(path), handler, auth) for method, path, handler, auth in table]

    def _route_named(self, route: str) -> _Route:
        found = next((r for r in self._routes if r.key == route), None)
        if found is None:
            raise ValueError(f"FakeDiscord has no route {route!r}: {[r.key for r in self._routes]}")
        return found

    async def _handle_unknown(self, request: web.Request) -> web.Response:
        return _json_response({"message": "404: Not Found", "code": 0}, status=404)

    async def _handle_attachment(self, request: web.Request) -> web.Response:
        wanted = int(request.match_info["attachment_id"])
        for channel in self.channels.values():
            for message in channel.history:
                for attachment in message.attachments:
                    if attachment.id == wanted:
                        return web.Response(body=attachment.data, content_type=attachment.content_type)
        return web.Response(status=404, text="Not Found")

    async def _handle_api(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        candidates = [route for route in self._routes if route.pattern.match(path)]
        route = next((r for r in candidates if r.method == request.method), None)
        if route is None:
            status = 405 if candidates else 404
            body = {"message": "405: Method Not Allowed" if candidates else "404: Not Found", "code": 0}
            return _json_response(body, status=status)
        if route.bot_auth and request.headers.get("Authorization") != f"Bot {self.token}":
            return _json_response({"message": "401: Unauthorized", "code": 0}, status=401)
        match = route.pattern.match(path)
        assert match is not None
        try:
            body, files = await _read_body(request)
        except DiscordError as error:
            return _error_response(error)
        call = ApiRequest(
            request.method,
            route.key,
            path,
            match.groupdict(),
            dict(request.query),
            body,
            files,
            time.monotonic(),
        )
        self.requests.append(call)
        headers: dict[str, str] = {}
        try:
            self._inject_fault(route)
            headers = self._take_from_bucket(route, call)
            result = await route.handler(call, request)
            if delay := self._answer_delays.get(route.key):
                await asyncio.sleep(delay)
        except DiscordError as error:
            call.status, call.code = error.status, error.code
            self._changes.notify()
            response = _error_response(error)
            response.headers.update(headers)
            return response
        self._changes.notify()
        if result is None:
            call.status = 204
            return web.Response(status=204, headers=headers)
        call.status = 200
        return _json_response(result, headers=headers)

    def _inject_fault(self, route: _Route) -> None:
        faults = self._faults.get(route.key)
        if faults and (fault := faults.pop(0)) is not None:
            if fault.status == 429:
                raise DiscordError.rate_limited(fault.retry_after or 0.0, is_global=fault.is_global)
            raise DiscordError(fault.status, fault.code, fault.message)

    def _take_from_bucket(self, route: _Route, call: ApiRequest) -> dict[str, str]:
        """Counts the request against the route's bucket, if any; its X-RateLimit headers, or a 429."""
        config = self._buckets.get(route.key)
        if config is None:
            return {}
        major = "+".join(call.params.get(name, "") for name in ("channel_id", "guild_id", "application_id"))
        bucket = self._bucket_state.setdefault((route.key, major), _Bucket(config.limit, config.per))
        now = time.monotonic()
        if now - bucket.window_start >= bucket.per:
            bucket.window_start, bucket.used = now, 0
        reset_after = max(bucket.window_start + bucket.per - now, 0.001)
        headers = {
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": f"fake-{abs(hash(route.key)):x}",
        }
        if bucket.used >= bucket.limit:
            raise _RateLimitedWithHeaders(round(reset_after, 3), headers | {"X-RateLimit-Remaining": "0"})
        bucket.used += 1
        return headers | {"X-RateLimit-Remaining": str(bucket.limit - bucket.used)}

    # --- REST: the bot itself

    async def _get_me(self, call: ApiRequest, request: web.Request) -> JSON:
        return self.bot_json()

    async def _get_application(self, call: ApiRequest, request: web.Request) -> JSON:
        return {
            "id": str(self.application_id),
            "name": self.bot_name,
            "description": "",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": self.owner.to_json(),
            "team": None,
            "verify_key": "0" * 64,
            "flags": 0,
            "bot": self.bot_json(),
            "interactions_endpoint_url": None,
            "approximate_guild_count": len(self.guilds),
        }

    async def _get_gateway(self, call: ApiRequest, request: web.Request) -> JSON:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return {"url": self.gateway_url, "shards": 1, "session_start_limit": limit}

    # --- REST: users, channels, messages

    def _user(self, user_id: str) -> FakeUser:
        user = self.users.get(_snowflake(user_id))
        if user is None:
            raise _error(UNKNOWN_USER)
        return user

    def _channel(self, channel_id: str) -> FakeChannel:
        channel = self.channels.get(_snowflake(channel_id))
        if channel is None:
            raise _error(UNKNOWN_CHANNEL)
        return channel

    def _channel_message(self, call: ApiRequest) -> tuple[FakeChannel, FakeMessage]:
        channel = self._channel(call.params["channel_id"])
        wanted = _snowflake(call.params["message_id"])
        message = next((m for m in channel.messages if m.id == wanted and m.visible_to is None), None)
        if message is None:
            raise _error(UNKNOWN_MESSAGE)
        return channel, message

    async def _get_user(self, call: ApiRequest, request: web.Request) -> JSON:
        return self._user(call.params["user_id"]).to_json()

    async def _create_dm(self, call: ApiRequest, request: web.Request) -> JSON:
        # Opening the channel works even when the user's DMs are closed; sending is what Discord refuses.
        body = _object(call.body)
        if "recipient_id" not in body:
            raise DiscordError.required("recipient_id")
        return self.dm_channel(self._user(str(body["recipient_id"]))).to_json()

    async def _get_channel(self, call: ApiRequest, request: web.Request) -> JSON:
        return self._channel(call.params["channel_id"]).to_json()

    async def _typing(self, call: ApiRequest, request: web.Request) -> None:
        self._check_can_send(self._channel(call.params["channel_id"]))

    async def _get_messages(self, call: ApiRequest, request: web.Request) -> list[JSON]:
        channel = self._channel(call.params["channel_id"])
        limit = int(call.query.get("limit", "50"))
        visible = [m for m in channel.messages if m.visible_to is None]
        return [self._message_json(m) for m in reversed(visible[-limit:])]

    def _check_can_send(self, channel: FakeChannel) -> None:
        if channel.recipient is not None and not channel.recipient.dms_open:
            raise _error(CANNOT_DM)
        if not channel.bot_can_send:
            raise _error(MISSING_PERMISSIONS)

    async def _post_message(self, call: ApiRequest, request: web.Request) -> JSON:
        channel = self._channel(call.params["channel_id"])
        self._check_can_send(channel)
        message = self._create_message(channel, _object(call.body), call.files)
        return self._message_json(message)

    async def _get_message(self, call: ApiRequest, request: web.Request) -> JSON:
        return self._message_json(self._channel_message(call)[1])

    async def _edit_message(self, call: ApiRequest, request: web.Request) -> JSON:
        _channel, message = self._channel_message(call)
        if message.author_id != self.application_id:
            raise _error(CANNOT_EDIT_OTHERS)
        self._apply_edit(message, _object(call.body), call.files)
        return self._message_json(message)

    async def _delete_message(self, call: ApiRequest, request: web.Request) -> None:
        _channel, message = self._channel_message(call)
        message.deleted = True

    # --- REST: application commands

    def _check_application(self, call: ApiRequest) -> int | None:
        """The guild id of a guild route (None for global ones); 403 for another app or a foreign guild."""
        if call.params["application_id"] != str(self.application_id):
            raise _error(MISSING_ACCESS)
        if "guild_id" not in call.params:
            return None
        guild_id = _snowflake(call.params["guild_id"])
        if guild_id not in self.guilds:
            raise _error(MISSING_ACCESS)
        return guild_id

    async def _get_commands(self, call: ApiRequest, request: web.Request) -> list[JSON]:
        return self.commands.get(self._check_application(call), [])

    async def _put_commands(self, call: ApiRequest, request: web.Request) -> list[JSON]:
        guild_id = self._check_application(call)
        body = call.body
        if not isinstance(body, list):
            raise DiscordError.form("_root", "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        if len(body) > 100:
            raise DiscordError.too_long("_root", 100)
        seen: set[tuple[str, int]] = set()
        for index, command in enumerate(body):
            _check_command(command, str(index))
            key = (command["name"], int(command.get("type", 1)))
            if key in seen:
                raise DiscordError.form(
                    str(index),
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                )
            seen.add(key)
        previous = {(c["name"], c["type"]): c["id"] for c in self.commands.get(guild_id, [])}
        registered = []
        for command in body:
            kind = int(command.get("type", 1))
            stored = dict(command) | {
                "id": previous.get((command["name"], kind)) or str(self.next_id()),
                "application_id": str(self.application_id),
                "version": str(self.next_id()),
                "type": kind,
                "description": command.get("description", ""),
                "default_member_permissions": _none_or_str(command.get("default_member_permissions")),
            }
            if guild_id is not None:
                stored["guild_id"] = str(guild_id)
            registered.append(stored)
        self.commands[guild_id] = registered
        self.syncs.append(CommandSync(guild_id, body))
        return registered

    # --- REST: interactions

    def _interaction(self, interaction_id: str, token: str) -> FakeInteraction:
        interaction = self.interactions.get(_snowflake(interaction_id))
        if interaction is None or interaction.token != token:
            raise _error(UNKNOWN_INTERACTION)
        return interaction

    async def _callback(self, call: ApiRequest, request: web.Request) -> JSON | None:
        interaction = self._interaction(call.params["interaction_id"], call.params["token"])
        if asyncio.get_running_loop().time() - interaction.created > self.interaction_deadline:
            raise _error(UNKNOWN_INTERACTION)  # the user already saw "The application did not respond"
        if interaction.response is not None:
            raise _error(ALREADY_ACKNOWLEDGED)
        body = _object(call.body)
        kind = body.get("type")
        if kind not in _ALLOWED_CALLBACKS[interaction.type]:
            raise DiscordError.form(
                "type", "INTERACTION_RESPONSE_TYPE_INVALID", "Invalid interaction response type"
            )
        data = body.get("data") or {}
        if not isinstance(data, dict):
            raise DiscordError.form(
                "data", "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"
            )
        channel = interaction.channel
        if kind == CallbackType.CHANNEL_MESSAGE:
            interaction.original = self._create_message(channel, data, call.files, interaction=interaction)
        elif kind == CallbackType.DEFERRED_CHANNEL_MESSAGE:
            flags = LOADING | (int(data.get("flags") or 0) & EPHEMERAL)
            interaction.original = self._new_message(channel, interaction=interaction, flags=flags)
        elif kind == CallbackType.DEFERRED_UPDATE_MESSAGE:
            interaction.original = interaction.message
        elif kind == CallbackType.UPDATE_MESSAGE:
            assert interaction.message is not None  # component and modal interactions come from a message
            self._apply_edit(interaction.message, data, call.files)
            interaction.original = interaction.message
        elif kind == CallbackType.AUTOCOMPLETE_RESULT:
            _check_choices(data.get("choices"), interaction.focused_type)
        elif kind == CallbackType.MODAL:
            _check_modal(data)
            interaction.modal = data
        interaction.response = InteractionResponse(int(kind), data, asyncio.get_running_loop().time())
        if call.query.get("with_response") not in ("1", "true", "True"):
            return None
        return self._callback_json(interaction, int(kind))

    def _callback_json(self, interaction: FakeInteraction, kind: int) -> JSON:
        """The answer with ``with_response``: discord.py stores a view under ``response_message_id``."""
        summary: JSON = {"id": str(interaction.id), "type": int(interaction.type)}
        body: JSON = {"interaction": summary}
        original = interaction.original
        if original is not None and kind in (4, 5, 7):
            summary["response_message_id"] = str(original.id)
            summary["response_message_loading"] = original.loading
            summary["response_message_ephemeral"] = original.ephemeral
            body["resource"] = {"type": kind, "message": self._message_json(original)}
        elif kind != CallbackType.AUTOCOMPLETE_RESULT:
            body["resource"] = {"type": kind}
        return body

    def _webhook_interaction(self, call: ApiRequest) -> FakeInteraction:
        """The interaction whose token the webhook route carries; it needs an answer first, as on Discord."""
        token = call.params["token"]
        interaction = next((i for i in self.interactions.values() if i.token == token), None)
        if call.params["application_id"] != str(self.application_id) or interaction is None:
            raise _error(UNKNOWN_WEBHOOK)
        if interaction.response is None or interaction.type == InteractionType.AUTOCOMPLETE:
            raise _error(UNKNOWN_WEBHOOK)
        return interaction

    def _webhook_message(self, call: ApiRequest) -> tuple[FakeInteraction, FakeMessage]:
        interaction = self._webhook_interaction(call)
        wanted = call.params["message_id"]
        if wanted == "@original":
            message = interaction.original
        else:
            own = [interaction.original, *interaction.followups]
            message = next((m for m in own if m is not None and str(m.id) == wanted), None)
        if message is None or message.deleted:
            raise _error(UNKNOWN_MESSAGE)
        return interaction, message

    async def _followup(self, call: ApiRequest, request: web.Request) -> JSON | None:
        interaction = self._webhook_interaction(call)
        body = _object(call.body)
        original = interaction.original
        if original is not None and original.loading and not original.deleted:
            # After a "thinking" defer the first followup fills in the loading message, which stays the
            # original (and keeps the defer's ephemerality); later ones are new messages.
            self._apply_edit(original, body, call.files)
            message = original
        else:
            message = self._followup_message(interaction, body, call.files)
        if call.query.get("wait") not in ("1", "true", "True"):
            return None
        return self._message_json(message)

    def _followup_message(self, interaction: FakeInteraction, body: JSON, files: list[Upload]) -> FakeMessage:
        message = self._create_message(interaction.channel, body, files, interaction=interaction)
        interaction.followups.append(message)
        return message

    async def _get_webhook_message(self, call: ApiRequest, request: web.Request) -> JSON:
        return self._message_json(self._webhook_message(call)[1])

    async def _edit_webhook_message(self, call: ApiRequest, request: web.Request) -> JSON:
        _interaction, message = self._webhook_message(call)
        self._apply_edit(message, _object(call.body), call.files)
        return self._message_json(message)

    async def _delete_webhook_message(self, call: ApiRequest, request: web.Request) -> None:
        _interaction, message = self._webhook_message(call)
        message.deleted = True

    # --- messages

    def _new_message(
        self, channel: FakeChannel, *, interaction: FakeInteraction | None = None, flags: int = 0
    ) -> FakeMessage:
        message = FakeMessage(self.next_id(), channel.id, self.application_id, _now(), flags=flags)
        if interaction is not None:
            message.interaction = interaction
            message.webhook_id = self.application_id
            if flags & EPHEMERAL:
                message.visible_to = interaction.user.id
        channel.history.append(message)
        message.revisions.append(self._message_json(message))
        return message

    def _create_message(
        self,
        channel: FakeChannel,
        body: JSON,
        files: list[Upload],
        *,
        interaction: FakeInteraction | None = None,
    ) -> FakeMessage:
        """A new bot message from a create payload, checked as Discord checks it."""
        flags = int(body.get("flags") or 0)
        allowed = _SETTABLE_FLAGS | (EPHEMERAL if interaction is not None else 0)
        fields = self._message_fields(body, files, existing=[], flags=flags & allowed)
        if not _has_body(fields):
            raise _error(EMPTY_MESSAGE)
        message = FakeMessage(self.next_id(), channel.id, self.application_id, _now(), **fields)
        if interaction is not None:
            message.interaction = interaction
            message.webhook_id = self.application_id
            if message.ephemeral:
                message.visible_to = interaction.user.id
        channel.history.append(message)
        message.revisions.append(self._message_json(message))
        return message

    def _apply_edit(self, message: FakeMessage, body: JSON, files: list[Upload]) -> None:
        """An edit changes only the fields it names; it completes a deferred answer ("thinking")."""
        flags = message.flags & ~LOADING
        if "flags" in body and body["flags"] is not None:
            flags = (flags & ~_SETTABLE_FLAGS) | (int(body["flags"]) & _SETTABLE_FLAGS)
        fields = self._message_fields(body, files, existing=message.attachments, flags=flags)
        merged = {
            "content": fields.get("content", message.content),
            "embeds": fields.get("embeds", message.embeds),
            "components": fields.get("components", message.components),
            "attachments": fields.get("attachments", message.attachments),
            "flags": flags,
        }
        if not _has_body(merged):
            raise _error(EMPTY_MESSAGE)
        was_loading = message.loading
        for name, value in merged.items():
            setattr(message, name, value)
        if not was_loading:
            message.edited_at = _now()
        message.revisions.append(self._message_json(message))

    def _message_fields(
        self, body: JSON, files: list[Upload], *, existing: list[Attachment], flags: int
    ) -> dict[str, Any]:
        """The checked fields a payload sets (absent ones are left out), attachments built from uploads."""
        fields: dict[str, Any] = {"flags": flags}
        if "content" in body:
            content = "" if body["content"] is None else str(body["content"])
            if len(content) > MAX_CONTENT_LENGTH:
                raise DiscordError.too_long("content", MAX_CONTENT_LENGTH)
            fields["content"] = content
        if "embeds" in body:
            fields["embeds"] = _check_embeds(body["embeds"] or [])
        if "components" in body:
            components = body["components"] or []
            if not flags & COMPONENTS_V2:
                _check_components(components)
            fields["components"] = components
        if flags & COMPONENTS_V2 and (fields.get("content") or fields.get("embeds")):
            raise DiscordError.form(
                "content",
                "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                "Cannot use content or embeds",
            )
        if "attachments" in body or files:
            fields["attachments"] = self._attachments(body.get("attachments"), files, existing)
        return fields

    def _attachments(self, listed: Any, files: list[Upload], existing: list[Attachment]) -> list[Attachment]:
        """Without an ``attachments`` list uploads are added; with one, it names what stays (existing
        attachments by snowflake) and describes uploads (by their index)."""
        if len(files) > MAX_FILES:
            raise DiscordError.too_long("files", MAX_FILES)
        for upload in files:
            if len(upload.data) > self.attachment_size_limit:
                raise _error(TOO_LARGE)
        entries: list[JSON] = listed if isinstance(listed, list) else []
        by_index = {int(entry["id"]): entry for entry in entries if _is_upload_index(entry.get("id"), files)}
        kept_ids = {str(entry.get("id")) for entry in entries}
        kept = [a for a in existing if str(a.id) in kept_ids] if listed is not None else list(existing)
        new = []
        for upload in files:
            attachment_id = self.next_id()
            description = by_index.get(upload.index, {}).get("description")
            filename = by_index.get(upload.index, {}).get("filename") or upload.filename
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
            url = f"{self.base_url}/attachments/{attachment_id}/{filename}"
            new.append(Attachment(attachment_id, filename, content_type, upload.data, url, description))
        return kept + new

    def _message_json(self, message: FakeMessage) -> JSON:
        channel = self.channels[message.channel_id]
        interaction = message.interaction
        data: JSON = {
            "id": str(message.id),
            "channel_id": str(channel.id),
            "type": 20 if interaction is not None and interaction.type == 2 else 0,
            "author": self.user_json(message.author_id),
            "content": message.content,
            "timestamp": _iso(message.created_at),
            "edited_timestamp": None if message.edited_at is None else _iso(message.edited_at),
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [attachment.to_json() for attachment in message.attachments],
            "embeds": message.embeds,
            "components": message.components,
            "pinned": False,
            "flags": message.flags,
        }
        if channel.guild is not None:
            data["guild_id"] = str(channel.guild.id)
        if message.webhook_id is not None:
            data["webhook_id"] = str(message.webhook_id)
            data["application_id"] = str(self.application_id)
        if interaction is not None:
            data["interaction_metadata"] = {
                "id": str(interaction.id),
                "type": int(interaction.type),
                "user": interaction.user.to_json(),
                "authorizing_integration_owners": {"0": str(channel.guild.id) if channel.guild else "0"},
            }
        return data


class _RateLimitedWithHeaders(DiscordError):
    """A bucket's 429, which carries the bucket's headers."""

    def __init__(self, retry_after: float, headers: dict[str, str]) -> None:
        super().__init__(429, 0, "You are being rate limited.", retry_after=retry_after)
        self.headers = headers


# --- Checks Discord makes ---------------------------------------------------------------------------------


def _check_embeds(embeds: Any) -> list[JSON]:
    if not isinstance(embeds, list):
        raise DiscordError.form("embeds", "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
    if len(embeds) > MAX_EMBEDS:
        raise DiscordError.too_long("embeds", MAX_EMBEDS)
    total = 0
    for index, embed in enumerate(embeds):
        path = f"embeds.{index}"
        for key, limit in EMBED_TEXT_LIMITS.items():
            text = str(embed.get(key) or "")
            if len(text) > limit:
                raise DiscordError.too_long(f"{path}.{key}", limit)
            total += len(text)
        fields = embed.get("fields") or []
        if len(fields) > MAX_EMBED_FIELDS:
            raise DiscordError.too_long(f"{path}.fields", MAX_EMBED_FIELDS)
        for number, item in enumerate(fields):
            for key, limit in (("name", 256), ("value", 1024)):
                text = str(item.get(key) or "")
                if not text:
                    raise DiscordError.required(f"{path}.fields.{number}.{key}")
                if len(text) > limit:
                    raise DiscordError.too_long(f"{path}.fields.{number}.{key}", limit)
                total += len(text)
        for part, key, limit in (("footer", "text", 2048), ("author", "name", 256)):
            text = str((embed.get(part) or {}).get(key) or "")
            if len(text) > limit:
                raise DiscordError.too_long(f"{path}.{part}.{key}", limit)
            total += len(text)
        colour = embed.get("color")
        if colour is not None and not 0 <= int(colour) <= 0xFFFFFF:
            raise DiscordError.form(f"{path}.color", "NUMBER_TYPE_MAX", "int value should be <= 16777215.")
    if total > MAX_EMBED_TOTAL:
        raise DiscordError.form(
            "embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
        )
    return [{"type": "rich"} | {k: v for k, v in embed.items() if k != "flags"} for embed in embeds]


def _check_components(rows: Any) -> None:
    """Action rows of buttons and selects (components v1), as Discord lays them out."""
    if not isinstance(rows, list):
        raise DiscordError.form("components", "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
    if len(rows) > MAX_ACTION_ROWS:
        raise DiscordError.too_long("components", MAX_ACTION_ROWS)
    custom_ids: set[str] = set()
    for row_index, row in enumerate(rows):
        path = f"components.{row_index}"
        if row.get("type") != 1:
            raise DiscordError.form(
                f"{path}.type", "UNION_TYPE_CHOICES", "Value of field must be an action row"
            )
        items = row.get("components") or []
        if not items:
            raise DiscordError.form(
                f"{path}.components", "BASE_TYPE_MIN_LENGTH", "Must be 1 or more in length."
            )
        has_select = any(item.get("type") in _SELECT_TYPES for item in items)
        if len(items) > MAX_ROW_WIDTH or (has_select and len(items) > 1):
            raise DiscordError.form(
                f"{path}.components",
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            )
        for item_index, item in enumerate(items):
            _check_component(item, f"{path}.components.{item_index}", custom_ids)


def _check_component(item: JSON, path: str, custom_ids: set[str]) -> None:
    kind, custom_id = item.get("type"), item.get("custom_id")
    if kind == 2:
        style = item.get("style")
        if style == 5:
            if not item.get("url") or custom_id is not None:
                raise DiscordError.form(
                    path, "BUTTON_COMPONENT_INVALID_URL", "A link button needs a url only"
                )
        elif style != 6 and custom_id is None:
            raise DiscordError.required(f"{path}.custom_id")
        label = item.get("label")
        if not label and not item.get("emoji") and style != 6:
            raise DiscordError.form(
                path, "BUTTON_COMPONENT_LABEL_OR_EMOJI_REQUIRED", "Label or emoji required"
            )
        if label is not None and len(label) > MAX_BUTTON_LABEL_LENGTH:
            raise DiscordError.too_long(f"{path}.label", MAX_BUTTON_LABEL_LENGTH)
    elif kind in _SELECT_TYPES:
        if custom_id is None:
            raise DiscordError.required(f"{path}.custom_id")
        if kind == 3:
            options = item.get("options") or []
            if not 1 <= len(options) <= MAX_SELECT_OPTIONS:
                raise DiscordError.too_long(f"{path}.options", MAX_SELECT_OPTIONS)
            for number, option in enumerate(options):
                for key in ("label", "value"):
                    if not 1 <= len(str(option.get(key) or "")) <= 100:
                        raise DiscordError.too_long(f"{path}.options.{number}.{key}", 100)
        if len(str(item.get("placeholder") or "")) > 150:
            raise DiscordError.too_long(f"{path}.placeholder", 150)
    else:
        raise DiscordError.form(f"{path}.type", "UNION_TYPE_CHOICES", "Not a component an action row holds")
    if custom_id is not None:
        if not 1 <= len(str(custom_id)) <= MAX_CUSTOM_ID_LENGTH:
            raise DiscordError.too_long(f"{path}.custom_id", MAX_CUSTOM_ID_LENGTH)
        if custom_id in custom_ids:
            raise DiscordError.form(
                f"{path}.custom_id",
                "COMPONENT_CUSTOM_ID_DUPLICATED",
                "Component custom id cannot be duplicated",
            )
        custom_ids.add(custom_id)


def _check_choices(choices: Any, option_type: int | None) -> None:
    if not isinstance(choices, list):
        raise DiscordError.required("data.choices")
    if len(choices) > MAX_CHOICES:
        raise DiscordError.too_long("data.choices", MAX_CHOICES)
    for index, choice in enumerate(choices):
        path = f"data.choices.{index}"
        name, value = choice.get("name"), choice.get("value")
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_CHOICE_LENGTH:
            raise DiscordError.too_long(f"{path}.name", MAX_CHOICE_LENGTH)
        if option_type == OptionType.STRING:
            if not isinstance(value, str) or len(value) > MAX_CHOICE_LENGTH:
                raise DiscordError.too_long(f"{path}.value", MAX_CHOICE_LENGTH)
        elif option_type == OptionType.INTEGER and (not isinstance(value, int) or isinstance(value, bool)):
            raise DiscordError.form(f"{path}.value", "NUMBER_TYPE_COERCE", f"Value {value!r} is not int.")
        elif option_type == OptionType.NUMBER and not isinstance(value, int | float):
            raise DiscordError.form(
                f"{path}.value", "NUMBER_TYPE_COERCE", f"Value {value!r} is not a number."
            )


def _check_modal(data: JSON) -> None:
    if not 1 <= len(str(data.get("custom_id") or "")) <= MAX_CUSTOM_ID_LENGTH:
        raise DiscordError.too_long("data.custom_id", MAX_CUSTOM_ID_LENGTH)
    if not 1 <= len(str(data.get("title") or "")) <= 45:
        raise DiscordError.too_long("data.title", 45)
    if not 1 <= len(data.get("components") or []) <= MAX_ACTION_ROWS:
        raise DiscordError.too_long("data.components", MAX_ACTION_ROWS)


def _check_command(command: Any, path: str) -> None:
    """A command definition as Discord validates it on a bulk overwrite."""
    if not isinstance(command, dict):
        raise DiscordError.form(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    name, kind = command.get("name"), int(command.get("type", 1))
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        raise DiscordError.too_long(f"{path}.name", 32)
    if kind == 1:
        if not _COMMAND_NAME.match(name) or name != name.lower():
            raise DiscordError.form(
                f"{path}.name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
            )
        if not 1 <= len(str(command.get("description") or "")) <= 100:
            raise DiscordError.too_long(f"{path}.description", 100)
        _check_options(command.get("options") or [], f"{path}.options")


def _check_options(options: list[JSON], path: str) -> None:
    if len(options) > 25:
        raise DiscordError.too_long(path, 25)
    optional_seen = False
    names: set[str] = set()
    for index, option in enumerate(options):
        where = f"{path}.{index}"
        name = str(option.get("name") or "")
        if not _COMMAND_NAME.match(name) or name != name.lower():
            raise DiscordError.form(
                f"{where}.name", "APPLICATION_COMMAND_INVALID_NAME", "Option name is invalid"
            )
        if name in names:
            raise DiscordError.form(
                where, "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Duplicate name"
            )
        names.add(name)
        if not 1 <= len(str(option.get("description") or "")) <= 100:
            raise DiscordError.too_long(f"{where}.description", 100)
        if option.get("type") in (1, 2):
            _check_options(option.get("options") or [], f"{where}.options")
            continue
        if option.get("required"):
            if optional_seen:
                raise DiscordError.form(
                    where,
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed first",
                )
        else:
            optional_seen = True
        choices = option.get("choices") or []
        if len(choices) > MAX_CHOICES:
            raise DiscordError.too_long(f"{where}.choices", MAX_CHOICES)
        if choices and option.get("autocomplete"):
            raise DiscordError.form(
                f"{where}.autocomplete", "AUTOCOMPLETE_AND_CHOICES_ERROR", "Autocomplete cannot have choices"
            )


def _option_value(spec: JSON, value: Any) -> Any:
    """The option value as Discord sends it, refusing what the client would not let the user enter."""
    kind, name = spec["type"], spec["name"]
    if kind == OptionType.STRING:
        if not isinstance(value, str):
            raise AssertionError(f"option {name!r} takes a string, not {value!r}")
        low, high = spec.get("min_length", 0), spec.get("max_length", 6000)
        if not low <= len(value) <= high:
            raise AssertionError(f"option {name!r} takes {low} to {high} characters")
    elif kind in (OptionType.INTEGER, OptionType.NUMBER):
        number_types: tuple[type, ...] = (int,) if kind == OptionType.INTEGER else (int, float)
        if isinstance(value, bool) or not isinstance(value, number_types):
            raise AssertionError(
                f"option {name!r} takes a number of type {OptionType(kind).name}, not {value!r}"
            )
        low, high = spec.get("min_value", -math.inf), spec.get("max_value", math.inf)
        if not low <= value <= high:
            raise AssertionError(f"option {name!r} takes {low} to {high}, not {value}")
    elif kind == OptionType.BOOLEAN:
        if not isinstance(value, bool):
            raise AssertionError(f"option {name!r} takes True or False")
    elif kind in (OptionType.USER, OptionType.CHANNEL, OptionType.ROLE, OptionType.MENTIONABLE):
        expected = {
            OptionType.USER: (FakeUser,),
            OptionType.CHANNEL: (FakeChannel,),
            OptionType.ROLE: (FakeRole,),
            OptionType.MENTIONABLE: (FakeUser, FakeRole),
        }[OptionType(kind)]
        if not isinstance(value, expected) or not isinstance(value, FakeUser | FakeChannel | FakeRole):
            raise AssertionError(f"option {name!r} takes a {' or '.join(t.__name__ for t in expected)}")
        return str(value.id)
    else:
        raise AssertionError(f"FakeDiscord does not fill options of type {kind} (option {name!r})")
    choices = spec.get("choices")
    if choices and value not in [choice["value"] for choice in choices]:
        raise AssertionError(f"option {name!r} offers only {[choice['value'] for choice in choices]}")
    return value


def _add_resolved(resolved: JSON, value: Any, guild: FakeGuild | None) -> None:
    """The ``resolved`` objects Discord sends along with user, channel and role options."""
    if isinstance(value, FakeUser):
        resolved.setdefault("users", {})[str(value.id)] = value.to_json()
        if guild is not None and value.id in guild.members:
            member = guild.member_json(value.id, with_permissions=True)
            del member["user"]
            resolved.setdefault("members", {})[str(value.id)] = member
    elif isinstance(value, FakeChannel):
        channel = value.to_json() | {"permissions": str(EVERYONE_PERMISSIONS)}
        resolved.setdefault("channels", {})[str(value.id)] = channel
    elif isinstance(value, FakeRole):
        resolved.setdefault("roles", {})[str(value.id)] = value.to_json()


# --- Decoding requests ------------------------------------------------------------------------------------


async def _read_body(request: web.Request) -> tuple[Any, list[Upload]]:
    """The JSON body, or multipart's ``payload_json`` with its ``files[n]`` parts, as discord.py sends them."""
    if request.content_type == "application/json":
        try:
            return await request.json(), []
        except ValueError:
            raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None
    if request.content_type == "multipart/form-data":
        body: Any = {}
        files: list[Upload] = []
        for name, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                index = re.fullmatch(r"files\[(\d+)\]", name)
                files.append(
                    Upload(int(index.group(1)) if index else len(files), value.filename, value.file.read())
                )
            elif name == "payload_json":
                try:
                    body = json.loads(str(value))
                except ValueError:
                    raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None
        return body, files
    return None, []


def _object(body: Any) -> JSON:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise DiscordError.form("_root", "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    return body


def _is_upload_index(value: Any, files: list[Upload]) -> bool:
    """Whether an ``attachments`` entry's id names an upload (its small index) rather than a snowflake."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return False
    return number in {upload.index for upload in files}


def _has_body(fields: Mapping[str, Any]) -> bool:
    return bool(
        (fields.get("content") or "").strip()
        or fields.get("embeds")
        or fields.get("components")
        or fields.get("attachments")
    )


def _snowflake(value: str) -> int:
    if not value.isdigit():
        raise DiscordError.form("_root", "NUMBER_TYPE_COERCE", f"Value {value!r} is not snowflake.")
    return int(value)


def _none_or_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _json_response(body: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """JSON with exactly ``Content-Type: application/json``, as Discord sends it: discord.py decodes a body
    only under that exact header (aiohttp's json_response adds "; charset=utf-8")."""
    data = json.dumps(body, ensure_ascii=False).encode()
    return web.Response(body=data, status=status, headers=headers, content_type="application/json")


def _error_response(error: DiscordError) -> web.Response:
    headers: dict[str, str] = {}
    if error.status == 429:
        # discord.py reads retry_after from the body, and without Via takes the 429 for a Cloudflare ban.
        headers = {
            "Retry-After": str(math.ceil(error.retry_after or 0)),
            "Via": "1.1 google",
            "X-RateLimit-Scope": "global" if error.is_global else "user",
        }
        if error.is_global:
            headers["X-RateLimit-Global"] = "true"
    if isinstance(error, _RateLimitedWithHeaders):
        headers |= error.headers
    return _json_response(error.to_json(), status=error.status, headers=headers)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _iso(moment: datetime.datetime) -> str:
    return moment.isoformat()


__all__ = [
    "Attachment",
    "CallbackType",
    "CommandSync",
    "DiscordError",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeInteraction",
    "FakeMessage",
    "FakeRole",
    "FakeUser",
    "Intent",
    "InteractionResponse",
    "InteractionType",
    "Op",
    "OptionType",
    "Upload",
]


@contextlib.asynccontextmanager
async def running(client: ClientT, token: str, *, seconds: float = 10.0) -> AsyncIterator[ClientT]:
    """``client`` logged in (its ``setup_hook`` run) and READY on the fake; closed, with its connection task
    awaited, on exit. What stopped a client that never got READY is raised."""
    starting = asyncio.create_task(client.start(token))
    try:
        ready = asyncio.create_task(client.wait_until_ready())
        await asyncio.wait({starting, ready}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            await asyncio.gather(ready, return_exceptions=True)
            if starting.done():
                starting.result()  # raises what stopped the client
            raise AssertionError(f"the client did not reach READY within {seconds} s")
        yield client
    finally:
        await client.close()
        await asyncio.gather(starting, return_exceptions=True)  # a failure was raised above already
