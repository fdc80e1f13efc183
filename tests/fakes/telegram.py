"""A fake Telegram Bot API server for end-to-end tests of the real aiogram client.

It speaks the Bot API over real HTTP on 127.0.0.1 (aiohttp.web, ephemeral port), so the bot under test runs
unchanged. Point it at the fake with ``telegram.make_bot()`` or, spelled out,

    Bot(telegram.token, session=AiohttpSession(api=TelegramAPIServer.from_base(telegram.base_url)))

aiogram then calls ``{base}/bot{token}/{method}`` with multipart form data (scalars as plain strings, objects
such as ``reply_markup`` as JSON strings, each upload as a file part that a field names as
``attach://<part>``), and downloads files from ``{base}/file/bot{token}/{file_path}``.

Tests play the users:

    async with FakeTelegram() as telegram:
        alice = telegram.user(1001, "Alice")
        await alice.send("/start")
        reply = await alice.wait_for_message("Оберіть чергу")
        await alice.press("Черга 3.2")

Answers are shaped like Telegram's: ``{"ok": true, "result": ...}``, or ``{"ok": false, "error_code": N,
"description": "..."}`` with HTTP status N. Common mistakes get Telegram's own errors: malformed HTML,
"message is not modified", callback_data over 64 bytes, text over 4096 characters, an unknown chat or file_id,
a file that is not an image.

Limits: one bot per server; setWebhook only stores the URL; MarkdownV2 is kept as sent, not parsed; a photo
comes back in one size (Telegram also adds thumbnails).

Group chats: ``FakeChat.privacy_mode`` (off by default) delivers to a bot that is not the group's admin only
commands (``/cmd`` or ``/cmd@thisbot``), replies to the bot's messages and service messages, as Telegram's
privacy mode does; ``FakeUser.reply()`` answers a bot message, ``FakeUser.send_as_group()`` writes as an
anonymous admin, and ``FakeTelegram.migrate_to_supergroup()`` upgrades a group to a supergroup under a new id.
"""

from __future__ import annotations

import asyncio
import copy
import io
import itertools
import json
import math
import re
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, NamedTuple, TypeVar

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web
from PIL import Image

from common.local_server import LocalServer
from tests.fakes.changes import Changes

T = TypeVar("T")

# Telegram's limits that bots most often hit; lengths count UTF-16 code units, as Telegram does.
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64

# The calls that rate_limit() throttles and that sent_count / send_times count.
SEND_METHODS = frozenset({"sendMessage", "sendPhoto"})

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

# The user Telegram shows as the sender of an anonymous admin's message (with the group as sender_chat).
GROUP_ANONYMOUS_BOT_ID = 1087968824

# The rights getChatMember reports for a group admin (aiogram requires every one of these fields).
_ADMIN_RIGHTS = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
    "can_send_welcome_messages": False,
    "can_pin_messages": True,
}


class ApiError(Exception):
    """A Bot API error answer: raised by the method handlers, sent as JSON by the HTTP layer."""

    def __init__(
        self,
        error_code: int,
        description: str,
        retry_after: int | None = None,
        *,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    @classmethod
    def bad_request(cls, detail: str) -> ApiError:
        return cls(400, f"Bad Request: {detail}")

    @classmethod
    def too_many_requests(cls, retry_after: int) -> ApiError:
        return cls(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        if self.migrate_to_chat_id is not None:
            body["parameters"] = {"migrate_to_chat_id": self.migrate_to_chat_id}
        return body


# --- What the fake stores ---------------------------------------------------------------------------------


class Button(NamedTuple):
    """An inline button as the user sees it; equal to a plain ``(text, callback_data)`` tuple."""

    text: str
    callback_data: str | None  # None for URL and other non-callback buttons


@dataclass
class PhotoInfo:
    """The photo of a message."""

    file_id: str
    file_unique_id: str
    width: int
    height: int
    file_size: int
    reused: bool = field(default=False, compare=False)  # sent by file_id instead of uploaded

    def to_json(self) -> list[dict[str, Any]]:
        size = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "width": self.width,
            "height": self.height,
            "file_size": self.file_size,
        }
        return [size]


@dataclass
class FakeMessage:
    """A message in a chat as the user sees it. The bot's messages are edited in place."""

    message_id: int
    chat_id: int
    sender_id: int
    from_bot: bool
    date: int
    text: str | None = None  # without markup: what the user reads
    caption: str | None = None  # likewise
    entities: list[dict[str, Any]] = field(default_factory=list)  # of the text or the caption
    source: str | None = None  # the text or caption exactly as the bot sent it
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    photo: PhotoInfo | None = None
    edit_date: int | None = None
    edit_count: int = 0
    deleted: bool = False
    sender_chat_id: int | None = None  # sent on behalf of this chat (an anonymous admin's: the group itself)
    reply_to: FakeMessage | None = field(default=None, repr=False)
    # A service message's fields as the Bot API names them, e.g. {"migrate_to_chat_id": -100...}.
    service: dict[str, Any] = field(default_factory=dict)

    @property
    def content(self) -> str:
        """The text, else the caption, else ""."""
        return self.text or self.caption or ""

    @property
    def edited(self) -> bool:
        return self.edit_count > 0

    @property
    def buttons(self) -> list[list[Button]]:
        """The inline keyboard as rows of (text, callback_data)."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [[Button(button["text"], button.get("callback_data")) for button in row] for row in rows]

    def button(self, text: str) -> Button | None:
        return next((button for row in self.buttons for button in row if button.text == text), None)

    def forces_reply_from(self, user_id: int) -> bool:
        """Whether the user's app opens a reply to this message: it has a ForceReply markup, and a selective
        one mentions the user (a ``tg://user?id=`` link) or replies to the user's message."""
        markup = self.reply_markup or {}
        if not markup.get("force_reply"):
            return False
        mentioned = any(entity.get("url") == f"tg://user?id={user_id}" for entity in self.entities)
        replied = self.reply_to is not None and self.reply_to.sender_id == user_id
        return not markup.get("selective") or mentioned or replied


@dataclass
class AnsweredCallback:
    """The bot's answerCallbackQuery to one press."""

    query_id: str
    data: str
    text: str | None
    show_alert: bool
    url: str | None


@dataclass
class Upload:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class StoredFile:
    """A file the bot uploaded, downloadable by its file_path and reusable by its file_id."""

    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    width: int
    height: int

    def photo(self, *, reused: bool) -> PhotoInfo:
        return PhotoInfo(self.file_id, self.file_unique_id, self.width, self.height, len(self.data), reused)


@dataclass
class ApiCall:
    """One request to the Bot API, kept in FakeTelegram.calls in order of arrival."""

    method: str  # canonical spelling, e.g. "sendMessage"
    params: dict[str, Any]  # decoded: chat_id is an int, reply_markup a dict, ...
    files: dict[str, Upload]  # multipart file parts by name
    at: float  # time.monotonic() on arrival
    status: int | None = None  # HTTP status answered; None while a long poll waits
    description: str | None = None  # the error description, if any

    @property
    def ok(self) -> bool:
        return self.status == 200


class _Fault(NamedTuple):
    status: int
    description: str
    retry_after: int | None


@dataclass
class _CallbackQuery:
    id: str
    user: FakeUser
    data: str
    answered: bool = False


# --- Chats and users --------------------------------------------------------------------------------------


@dataclass(eq=False)
class FakeChat:
    """A chat the bot talks to: a user's private chat or a group (whose admins tests may change)."""

    id: int
    type: str  # "private", "group" or "supergroup"
    title: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    admins: set[int] = field(default_factory=set)
    owner_id: int | None = None
    members: set[int] = field(default_factory=set)  # users who wrote here, besides owner and admins
    bot_is_admin: bool = False
    blocked: bool = False  # see FakeTelegram.block()
    privacy_mode: bool = False  # see the module docstring
    migrated_to: int | None = None  # the supergroup it became, see FakeTelegram.migrate_to_supergroup()
    history: list[FakeMessage] = field(default_factory=list, repr=False)  # everyone's, deleted ones too
    # A snapshot of each bot message after every send and edit, for FakeUser.wait_for_message().
    events: list[FakeMessage] = field(default_factory=list, repr=False)
    _message_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1), init=False, repr=False)

    @property
    def messages(self) -> list[FakeMessage]:
        """The bot's messages still in the chat, oldest first."""
        return [message for message in self.history if message.from_bot and not message.deleted]

    def message(self, message_id: Any) -> FakeMessage | None:
        return next((m for m in self.history if m.message_id == message_id and not m.deleted), None)

    def last_keyboard_message(self) -> FakeMessage | None:
        return next((m for m in reversed(self.messages) if m.buttons), None)

    def next_message_id(self) -> int:
        return next(self._message_ids)

    def to_json(self) -> dict[str, Any]:
        fields = {
            "title": self.title,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "username": self.username,
        }
        return {"id": self.id, "type": self.type} | {k: v for k, v in fields.items() if v is not None}


MessagePredicate = Callable[[FakeMessage], bool] | str | None


def _as_predicate(predicate: MessagePredicate) -> Callable[[FakeMessage], bool]:
    """None matches any message; a string matches messages whose text or caption contains it."""
    if predicate is None:
        return lambda _message: True
    if isinstance(predicate, str):
        return lambda message: predicate in message.content
    return predicate


@dataclass(eq=False)
class FakeUser:
    """A user played by the test, in its private chat with the bot or in a group (``chat=group``)."""

    telegram: FakeTelegram = field(repr=False)
    id: int
    first_name: str
    last_name: str | None
    username: str | None
    language_code: str | None
    chat: FakeChat = field(repr=False)  # the private chat; its id is the user's id
    answered_callbacks: list[AnsweredCallback] = field(default_factory=list)
    # How far wait_for_message() has read each chat's events, and wait_for_callback_answer() the answers.
    _seen_events: dict[int, int] = field(default_factory=dict, init=False, repr=False)
    _seen_answers: int = field(default=0, init=False, repr=False)

    @property
    def messages(self) -> list[FakeMessage]:
        """The bot's messages in the private chat, edits applied, deleted ones gone."""
        return self.chat.messages

    def to_json(self) -> dict[str, Any]:
        user = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        optional = {
            "last_name": self.last_name,
            "username": self.username,
            "language_code": self.language_code,
        }
        return user | {k: v for k, v in optional.items() if v is not None}

    async def send(self, text: str, chat: FakeChat | None = None) -> FakeMessage:
        """Writes to the bot; a leading /command (or /command@botname) gets its bot_command entity."""
        message = self.telegram.receive_message(self, chat or self.chat, text)
        await asyncio.sleep(0)
        return message

    async def reply(self, message: FakeMessage, text: str) -> FakeMessage:
        """Answers a message (say, the bot's question) in its chat, as a reply to it."""
        chat = self.telegram.chats[message.chat_id]
        original = chat.message(message.message_id)
        if original is None:
            raise AssertionError(f"message {message.message_id} is not in chat {chat.id}")
        sent = self.telegram.receive_message(self, chat, text, reply_to=original)
        await asyncio.sleep(0)
        return sent

    async def send_as_group(self, text: str, chat: FakeChat) -> FakeMessage:
        """Writes as an anonymous admin: the message comes from GroupAnonymousBot on behalf of the group."""
        if self.id not in chat.admins and self.id != chat.owner_id:
            raise ValueError(f"user {self.id} is no admin of chat {chat.id}: only admins write as the group")
        sent = self.telegram.receive_message(self, chat, text, as_group=True)
        await asyncio.sleep(0)
        return sent

    async def press(self, text: str, chat: FakeChat | None = None, message: FakeMessage | None = None) -> str:
        """Presses the button with this text on message, by default the chat's last bot message with buttons.

        Returns the callback query id.
        """
        chat = chat or self.chat
        message = message or chat.last_keyboard_message()
        if message is None:
            raise AssertionError(f"no bot message with an inline keyboard in chat {chat.id}")
        button = message.button(text)
        if button is None:
            raise AssertionError(f"no button {text!r} on message {message.message_id}: {message.buttons}")
        if button.callback_data is None:
            raise AssertionError(f"button {text!r} has no callback_data")
        return await self.press_data(button.callback_data, chat=chat, message=message)

    async def press_data(
        self, data: str, chat: FakeChat | None = None, message: FakeMessage | None = None
    ) -> str:
        """Sends a callback query with any data (e.g. forged) from message, by default the last one with
        buttons, else the last bot message. Returns the callback query id."""
        chat = chat or self.chat
        message = message or chat.last_keyboard_message() or next(reversed(chat.messages), None)
        if message is None:
            raise AssertionError(f"no bot message in chat {chat.id} to press a button on")
        query_id = self.telegram.receive_callback(self, message, data)
        await asyncio.sleep(0)
        return query_id

    async def wait_for_message(
        self,
        predicate: MessagePredicate = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 (a deadline for the whole wait, the API tests expect)
        chat: FakeChat | None = None,
    ) -> FakeMessage:
        """The next bot message, sent or edited, that this user has not waited for yet and that matches.

        Returns the message as it was at that send or edit. ``predicate`` is a function of a FakeMessage or a
        string the text or caption must contain. Raises AssertionError after timeout seconds.
        """
        chat = chat or self.chat
        matches = _as_predicate(predicate)

        def next_match() -> FakeMessage | None:
            for index in range(self._seen_events.get(chat.id, 0), len(chat.events)):
                if matches(chat.events[index]):
                    self._seen_events[chat.id] = index + 1
                    return chat.events[index]
            return None

        def failure() -> str:
            seen = [message.content for message in chat.messages]
            return f"no matching bot message in chat {chat.id} within {timeout}s; the bot's messages: {seen}"

        return await self.telegram.wait_until(next_match, timeout, failure)

    async def wait_for_callback_answer(self, *, timeout: float = 5.0) -> AnsweredCallback:  # noqa: ASYNC109
        """The next answerCallbackQuery to this user's presses that has not been waited for yet."""

        def next_answer() -> AnsweredCallback | None:
            if self._seen_answers >= len(self.answered_callbacks):
                return None
            self._seen_answers += 1
            return self.answered_callbacks[self._seen_answers - 1]

        return await self.telegram.wait_until(
            next_answer, timeout, lambda: f"the bot answered no press of user {self.id} within {timeout}s"
        )


# --- Decoding requests ------------------------------------------------------------------------------------

# aiogram sends every field as a string; decoding by name gives handlers and the call log real types.
_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "commands",
        "scope",
        "allowed_updates",
        "media",
        "reply_parameters",
        "link_preview_options",
    }
)
_INT_FIELDS = frozenset(
    {"chat_id", "message_id", "user_id", "offset", "limit", "timeout", "cache_time", "message_thread_id"}
)
_BOOL_FIELDS = frozenset(
    {
        "show_alert",
        "disable_notification",
        "protect_content",
        "drop_pending_updates",
        "has_spoiler",
        "show_caption_above_media",
    }
)


def _decode_param(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value  # already typed: it came in a JSON body
    if name in _JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError.bad_request(f"can't parse {name} JSON object") from None
    if name in _INT_FIELDS:
        # Not an int: kept as sent (a chat_id may be "@channelname"); handlers then find nothing.
        return int(value) if re.fullmatch(r"-?\d+", value) else value
    if name in _BOOL_FIELDS:
        return value.lower() == "true"
    return value


async def _read_params(request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
    """A call's parameters, however Telegram accepts them: query string, form, multipart or JSON body."""
    raw: dict[str, Any] = dict(request.query)
    files: dict[str, Upload] = {}
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise ApiError.bad_request("can't parse JSON body") from None
        if not isinstance(body, dict):
            raise ApiError.bad_request("the JSON body must be an object")
        raw.update(body)
    elif request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        for name, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                files[name] = Upload(value.filename, value.content_type, value.file.read())
            else:
                raw[name] = value
    return {name: _decode_param(name, value) for name, value in raw.items()}, files


def _int_param(params: dict[str, Any], name: str, default: int) -> int:
    value = params.get(name, default)
    if not isinstance(value, int):
        raise ApiError.bad_request(f"invalid {name}")
    return value


# --- Text as the user sees it -----------------------------------------------------------------------------


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# HTML tags Telegram accepts and the entities they become.
_HTML_ENTITIES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",  # only as <span class="tg-spoiler">
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}


class _TelegramHTML(HTMLParser):
    """Parses Telegram's HTML subset into plain text and entities, rejecting what Telegram rejects."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.position = 0  # UTF-16 length of the text so far (HTMLParser owns self.offset)
        self.open: list[tuple[str, int, dict[str, str | None]]] = []
        self.entities: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag not in _HTML_ENTITIES or (tag == "span" and attributes.get("class") != "tg-spoiler"):
            raise ApiError.bad_request(f'can\'t parse entities: Unsupported start tag "{tag}"')
        self.open.append((tag, self.position, attributes))

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1][0] != tag:
            raise ApiError.bad_request(f'can\'t parse entities: Unmatched end tag "{tag}"')
        tag, start, attributes = self.open.pop()
        if self.position > start:  # Telegram drops empty entities
            self.entities.append(_html_entity(tag, start, self.position - start, attributes))

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        self.position += _utf16_len(data)


def _html_entity(tag: str, offset: int, length: int, attributes: dict[str, str | None]) -> dict[str, Any]:
    entity: dict[str, Any] = {"type": _HTML_ENTITIES[tag], "offset": offset, "length": length}
    if tag == "a":
        entity["url"] = attributes.get("href") or ""
    if tag == "blockquote" and "expandable" in attributes:
        entity["type"] = "expandable_blockquote"
    if tag == "tg-emoji":
        entity["custom_emoji_id"] = attributes.get("emoji-id") or ""
    return entity


def _parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    parser = _TelegramHTML()
    parser.feed(source)
    parser.close()
    if parser.open:
        tag = parser.open[-1][0]
        raise ApiError.bad_request(
            f"can't parse entities: Can't find end tag corresponding to start tag \"{tag}\""
        )
    entities = sorted(parser.entities, key=lambda entity: (entity["offset"], -entity["length"]))
    return "".join(parser.parts), entities


def _render(
    source: str, parse_mode: str | None, entities: list[dict[str, Any]] | None
) -> tuple[str, list[dict[str, Any]]]:
    """The text the user reads and its entities. Only HTML is parsed; other modes are kept as sent."""
    if (parse_mode or "").upper() == "HTML":
        return _parse_html(source)
    return source, list(entities or [])


def _message_text(params: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    text, entities = _render(params.get("text") or "", params.get("parse_mode"), params.get("entities"))
    if not text.strip():
        raise ApiError.bad_request("message text is empty")
    if _utf16_len(text) > MAX_TEXT_LENGTH:
        raise ApiError.bad_request("message is too long")
    return text, entities


def _caption(
    source: str | None, parse_mode: str | None, entities: list[dict[str, Any]] | None
) -> tuple[str | None, list[dict[str, Any]]]:
    if not source:
        return None, []
    caption, entities = _render(source, parse_mode, entities)
    if _utf16_len(caption) > MAX_CAPTION_LENGTH:
        raise ApiError.bad_request("message caption is too long")
    return caption, entities


_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")


def _command_entities(text: str) -> list[dict[str, Any]]:
    """The bot_command entity of a leading /command or /command@botname (ASCII, so UTF-16 length = len)."""
    match = _COMMAND.match(text)
    return [{"type": "bot_command", "offset": 0, "length": match.end()}] if match else []


# Fields that make an inline button do something; a button with none of them is refused.
_BUTTON_ACTIONS = frozenset(
    {
        "callback_data",
        "url",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    }
)


def _reply_markup(params: dict[str, Any]) -> dict[str, Any] | None:
    """The checked reply_markup; an empty inline keyboard means none, as for Telegram."""
    markup = params.get("reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise ApiError.bad_request("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return markup  # a reply keyboard, its removal or force_reply: stored as sent
    for row in rows:
        for button in row:
            _check_inline_button(button)
    return markup if any(rows) else None


def _check_inline_button(button: dict[str, Any]) -> None:
    if not _BUTTON_ACTIONS & button.keys():
        raise ApiError.bad_request("text buttons are unallowed in the inline keyboard")
    data = button.get("callback_data")
    if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
        raise ApiError.bad_request("BUTTON_DATA_INVALID")


def _update_type(update: dict[str, Any]) -> str:
    return next(key for key in update if key != "update_id")


def _now() -> int:
    return int(time.time())


class PlainHttpSession(AiohttpSession):
    """aiogram's session minus the 250 ms it waits on close for TLS connections to shut: the fake is plain HTTP."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


# --- The server -------------------------------------------------------------------------------------------


class FakeTelegram(LocalServer):
    """The fake Bot API server for one bot; see the module docstring."""

    def __init__(
        self, bot_id: int = 123456, username: str = "fake_test_bot", first_name: str = "Fake Bot"
    ) -> None:
        super().__init__()
        self.bot_id = bot_id
        self.username = username
        self.first_name = first_name
        self.users: dict[int, FakeUser] = {}
        self.chats: dict[int, FakeChat] = {}
        self.calls: list[ApiCall] = []
        self.files: dict[str, StoredFile] = {}
        self.reused_file_ids: list[str] = []  # each sendPhoto/editMessageMedia that gave a file_id
        self.send_times: list[float] = []  # time.monotonic() of each successful send (SEND_METHODS)
        self.too_many_requests_count = 0  # 429 answers, injected or from rate_limit()
        self.webhook_url = ""
        self._commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self._updates: list[dict[str, Any]] = []  # not yet confirmed by a getUpdates offset
        self._update_ids = itertools.count(1)
        self._allowed_updates: set[str] | None = None  # None: all; persists between calls like Telegram's
        self._callbacks: dict[str, _CallbackQuery] = {}
        self._callback_ids = itertools.count(1)
        self._faults: defaultdict[str, list[_Fault | None]] = defaultdict(list)  # None: answer normally
        self._per_second: int | None = None
        self._poll_generation = 0
        self._unanswered: set[asyncio.Transport] = set()  # the connections of calls still being answered
        self._changes = Changes()
        self._handlers = {name.lower(): (name, handler) for name, handler in self._method_table().items()}

    # --- lifecycle

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown_path)
        return app

    async def stop(self) -> None:
        self._changes.close()  # waiting long polls answer [] at once
        await super().stop()

    @property
    def token(self) -> str:
        """A token the fake accepts: any ``<bot_id>:<secret>`` does."""
        return f"{self.bot_id}:TEST-TOKEN"

    @property
    def api_server(self) -> TelegramAPIServer:
        return TelegramAPIServer.from_base(self.base_url)

    def make_bot(self, token: str | None = None, **bot_kwargs: Any) -> Bot:
        """An aiogram Bot talking to this server; the caller closes it (``await bot.session.close()``)."""
        return Bot(token or self.token, session=PlainHttpSession(api=self.api_server), **bot_kwargs)

    # --- users and chats

    def user(
        self,
        user_id: int,
        first_name: str = "Test",
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "uk",
    ) -> FakeUser:
        """The user with this id, created with its private chat (which the bot may then write to)."""
        if user_id in self.users:
            return self.users[user_id]
        if user_id <= 0:
            raise ValueError(f"user ids are positive, got {user_id}")
        chat = FakeChat(user_id, "private", first_name=first_name, last_name=last_name, username=username)
        user = FakeUser(self, user_id, first_name, last_name, username, language_code, chat)
        self.users[user_id] = user
        self.chats[user_id] = chat
        return user

    def group(
        self,
        chat_id: int,
        title: str = "Test group",
        *,
        admins: Iterable[int | FakeUser] = (),
        owner: int | FakeUser | None = None,
        bot_is_admin: bool = False,
        chat_type: str = "supergroup",
    ) -> FakeChat:
        """A group chat; getChatMember answers "administrator" for admins, "creator" for the owner."""
        if chat_id >= 0:
            raise ValueError(f"group chat ids are negative, got {chat_id}")
        owner_id = owner.id if isinstance(owner, FakeUser) else owner
        admin_ids = {admin.id if isinstance(admin, FakeUser) else admin for admin in admins}
        chat = FakeChat(
            chat_id, chat_type, title=title, admins=admin_ids, owner_id=owner_id, bot_is_admin=bot_is_admin
        )
        self.chats[chat_id] = chat
        return chat

    def chat(self, chat: int | FakeUser | FakeChat) -> FakeChat:
        if isinstance(chat, FakeUser):
            return chat.chat
        if isinstance(chat, FakeChat):
            return chat
        return self.chats[chat]

    def my_commands(
        self, language_code: str = "", scope: dict[str, Any] | None = None
    ) -> list[tuple[str, str]]:
        """The commands set for this language and scope, as (command, description)."""
        commands = self._commands.get(self._commands_key(scope, language_code), [])
        return [(command["command"], command["description"]) for command in commands]

    @property
    def unanswered_callbacks(self) -> list[str]:
        """Ids of presses the bot never answered (Telegram shows a spinner on the button meanwhile)."""
        return [query.id for query in self._callbacks.values() if not query.answered]

    # --- fault injection and counters

    def fail_next(
        self,
        method: str,
        status: int = 429,
        *,
        retry_after: int = 2,
        count: int = 1,
        description: str | None = None,
        after: int = 0,
    ) -> None:
        """The next count calls of method get this error instead of an answer (a 429 carries retry_after);
        with after, only once that many more calls were answered normally."""
        name, _handler = self._handler(method)
        if description is None:
            too_many = f"Too Many Requests: retry after {retry_after}"
            description = too_many if status == 429 else _DEFAULT_DESCRIPTIONS.get(status, "Error")
        fault = _Fault(status, description, retry_after if status == 429 else None)
        self._faults[name].extend([None] * after + [fault] * count)

    def block(self, chat: int | FakeUser | FakeChat) -> None:
        """From now on every call about this chat answers 403, as when the user blocks the bot."""
        self.chat(chat).blocked = True

    def unblock(self, chat: int | FakeUser | FakeChat) -> None:
        self.chat(chat).blocked = False

    def rate_limit(self, per_second: int | None) -> None:
        """Answers 429 to sends (SEND_METHODS) beyond per_second successful ones in any 1 s; None: no limit."""
        if per_second is not None and per_second < 1:
            raise ValueError("per_second must be at least 1")
        self._per_second = per_second

    def drop_connections(self) -> int:
        """Cuts the connection of every call not yet answered (a waiting long poll, as a rule) as a network
        failure does: its client gets no answer at all. Returns how many were cut."""
        for transport in self._unanswered:
            transport.abort()
        return len(self._unanswered)

    @property
    def sent_count(self) -> int:
        """Successful sendMessage and sendPhoto calls."""
        return len(self.send_times)

    # --- the call log

    def calls_to(self, method: str) -> list[ApiCall]:
        name, _handler = self._handler(method)
        return [call for call in self.calls if call.method == name]

    async def wait_for_call(self, method: str, *, timeout: float = 5.0) -> ApiCall:  # noqa: ASYNC109
        """The first call of method, waiting for it if there is none yet."""
        name, _handler = self._handler(method)
        return await self.wait_until(
            lambda: next((call for call in self.calls if call.method == name), None),
            timeout,
            lambda: f"no {name} call within {timeout}s",
        )

    async def wait_until(
        self, check: Callable[[], T | None], seconds: float, failure: Callable[[], str]
    ) -> T:
        """check()'s first value other than None, re-checked on every change; AssertionError(failure())
        when none comes within seconds."""
        return await self._changes.wait_until(check, seconds, failure)

    # --- what users do (called by FakeUser)

    def receive_message(
        self,
        user: FakeUser,
        chat: FakeChat,
        text: str,
        *,
        reply_to: FakeMessage | None = None,
        as_group: bool = False,
    ) -> FakeMessage:
        if chat.type == "private" and chat is not user.chat:
            raise ValueError("a user writes only to its own private chat or to groups")
        if chat.migrated_to is not None:
            raise ValueError(f"chat {chat.id} became supergroup {chat.migrated_to}: write there")
        if chat.type != "private":
            chat.members.add(user.id)
        message = FakeMessage(
            chat.next_message_id(),
            chat.id,
            GROUP_ANONYMOUS_BOT_ID if as_group else user.id,
            False,
            _now(),
            text=text,
            entities=_command_entities(text),
            sender_chat_id=chat.id if as_group else None,
            reply_to=reply_to,
        )
        chat.history.append(message)
        if self._reaches_bot(chat, message):
            self._enqueue("message", self._message_json(message))
        return message

    def _reaches_bot(self, chat: FakeChat, message: FakeMessage) -> bool:
        """Privacy mode: in a group where the bot is no admin, only commands for it and replies to it."""
        if chat.type == "private" or not chat.privacy_mode or chat.bot_is_admin:
            return True
        if message.reply_to is not None and message.reply_to.from_bot:
            return True
        command = _COMMAND.match(message.text or "")
        return command is not None and command.group().partition("@")[2] in ("", self.username)

    def migrate_to_supergroup(
        self, group: FakeChat, new_id: int, *, by: FakeUser, announce: bool = True
    ) -> FakeChat:
        """Upgrades a group to a supergroup with a new id, admins and members alike; every later call about
        the old id answers 400 with ``migrate_to_chat_id``. Like Telegram, it announces the move with a
        service message in each chat (``migrate_to_chat_id`` in the old one, ``migrate_from_chat_id`` in the
        new one); ``announce=False`` plays a bot that missed them."""
        if group.type != "group" or group.migrated_to is not None:
            raise ValueError(f"chat {group.id} is no basic group to upgrade")
        if new_id in self.chats or new_id >= 0:
            raise ValueError(f"{new_id} is no free negative chat id")
        supergroup = FakeChat(
            new_id,
            "supergroup",
            title=group.title,
            admins=set(group.admins),
            owner_id=group.owner_id,
            members=set(group.members),
            bot_is_admin=group.bot_is_admin,
            privacy_mode=group.privacy_mode,
        )
        self.chats[new_id] = supergroup
        group.migrated_to = new_id
        if announce:
            for chat, service in (
                (group, {"migrate_to_chat_id": new_id}),
                (supergroup, {"migrate_from_chat_id": group.id}),
            ):
                message = FakeMessage(chat.next_message_id(), chat.id, by.id, False, _now(), service=service)
                chat.history.append(message)
                self._enqueue("message", self._message_json(message))
        return supergroup

    def receive_callback(self, user: FakeUser, message: FakeMessage, data: str) -> str:
        query = _CallbackQuery(str(next(self._callback_ids)), user, data)
        self._callbacks[query.id] = query
        payload = {
            "id": query.id,
            "from": user.to_json(),
            "message": self._message_json(message),
            "chat_instance": str(message.chat_id),
            "data": data,
        }
        self._enqueue("callback_query", payload)
        return query.id

    def _enqueue(self, kind: str, payload: dict[str, Any]) -> None:
        self._updates.append({"update_id": next(self._update_ids), kind: payload})
        self._changes.notify()

    # --- HTTP

    def _accepts(self, token: str) -> bool:
        return re.fullmatch(rf"{self.bot_id}:[A-Za-z0-9_-]+", token) is not None

    def _handler(self, method: str) -> tuple[str, Callable[[ApiCall], Any]]:
        """The canonical name and handler of a method (Telegram's names are case-insensitive)."""
        try:
            return self._handlers[method.lower()]
        except KeyError:
            raise ValueError(f"FakeTelegram does not implement {method}") from None

    async def _handle_api(self, request: web.Request) -> web.Response:
        if not self._accepts(request.match_info["token"]):
            return _error_response(ApiError(401, "Unauthorized"))
        try:
            name, handler = self._handler(request.match_info["method"])
        except ValueError:
            return _error_response(ApiError(404, "Not Found"))
        try:
            params, files = await _read_params(request)
        except ApiError as error:
            return _error_response(error)
        call = ApiCall(name, params, files, at=time.monotonic())
        self.calls.append(call)
        self._changes.notify()
        transport = request.transport
        if transport is not None:
            self._unanswered.add(transport)
        try:
            result = await self._answer(call, handler)
        except ApiError as error:
            call.status, call.description = error.error_code, error.description
            if error.error_code == 429:
                self.too_many_requests_count += 1
            return _error_response(error)
        finally:
            if transport is not None:
                self._unanswered.discard(transport)
        call.status = 200
        return web.json_response({"ok": True, "result": result})

    async def _answer(self, call: ApiCall, handler: Callable[[ApiCall], Any]) -> Any:
        """Injected faults, blocks and the rate limit come first, as they would at Telegram's front door."""
        if self._faults[call.method] and (fault := self._faults[call.method].pop(0)) is not None:
            raise ApiError(*fault)
        self._refuse_if_blocked(call)
        self._refuse_if_migrated(call)
        if call.method in SEND_METHODS:
            self._check_rate_limit()
        result = handler(call)
        if asyncio.iscoroutine(result):
            result = await result
        # No await since the rate check for sends: the check and this record are atomic.
        if call.method in SEND_METHODS:
            self.send_times.append(time.monotonic())
        return result

    def _known_chat(self, call: ApiCall) -> FakeChat | None:
        """The call's chat, if its chat_id is one of the fake's chats (a "@username" never is)."""
        chat_id = call.params.get("chat_id")
        return self.chats.get(chat_id) if isinstance(chat_id, int) else None

    def _refuse_if_migrated(self, call: ApiCall) -> None:
        chat = self._known_chat(call)
        if chat is not None and chat.migrated_to is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=chat.migrated_to,
            )

    def _refuse_if_blocked(self, call: ApiCall) -> None:
        chat = self._known_chat(call)
        if chat is None or not chat.blocked:
            return
        if chat.type == "private":
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        raise ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")

    def _check_rate_limit(self) -> None:
        if self._per_second is None:
            return
        # Sends are in time order, so the limit is hit when the per_second-th latest is under 1 s old.
        window = self.send_times[-self._per_second :]
        now = time.monotonic()
        if len(window) == self._per_second and window[0] > now - 1.0:
            raise ApiError.too_many_requests(max(1, math.ceil(window[0] + 1.0 - now)))

    async def _handle_file(self, request: web.Request) -> web.Response:
        if not self._accepts(request.match_info["token"]):
            return _error_response(ApiError(401, "Unauthorized"))
        path = request.match_info["path"]
        stored = next((file for file in self.files.values() if file.file_path == path), None)
        if stored is None:
            return _error_response(ApiError(404, "Not Found"))
        return web.Response(body=stored.data, content_type="application/octet-stream")

    async def _handle_unknown_path(self, _request: web.Request) -> web.Response:
        return _error_response(ApiError(404, "Not Found"))

    # --- the methods

    def _method_table(self) -> dict[str, Callable[[ApiCall], Any]]:
        return {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "editMessageMedia": self._edit_message_media,
            "answerCallbackQuery": self._answer_callback_query,
            "deleteMessage": self._delete_message,
            "sendChatAction": self._send_chat_action,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "getFile": self._get_file,
        }

    def _bot_json(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.first_name, "username": self.username}

    def _get_me(self, _call: ApiCall) -> dict[str, Any]:
        abilities = {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        return self._bot_json() | abilities

    async def _get_updates(self, call: ApiCall) -> list[dict[str, Any]]:
        """Long polling: answers at once when updates are queued, else when one comes or `timeout` passes."""
        if self.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self._confirm_updates(_int_param(call.params, "offset", 0))
        if "allowed_updates" in call.params:
            self._allowed_updates = set(call.params["allowed_updates"] or ()) or None  # []: all
        limit = min(max(_int_param(call.params, "limit", 100), 1), 100)
        timeout = max(_int_param(call.params, "timeout", 0), 0)
        # Like Telegram, a newer getUpdates ends an older one still waiting (say, of a stopped poller).
        self._poll_generation += 1
        generation = self._poll_generation
        self._changes.notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            updates = self._deliverable_updates()[:limit]
            remaining = deadline - loop.time()
            if updates or remaining <= 0 or self._changes.closing:
                return updates
            await self._changes.wait(remaining)

    def _confirm_updates(self, offset: int) -> None:
        """Forgets updates before offset; a negative offset keeps only the last -offset ones."""
        if offset > 0:
            self._updates = [update for update in self._updates if update["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    def _deliverable_updates(self) -> list[dict[str, Any]]:
        # Telegram drops the updates of types the bot did not ask for.
        if self._allowed_updates is not None:
            self._updates = [u for u in self._updates if _update_type(u) in self._allowed_updates]
        return self._updates

    def _set_webhook(self, call: ApiCall) -> bool:
        url = call.params.get("url") or ""
        if url and not url.startswith("https://"):
            raise ApiError.bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if call.params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook_url = url
        return True

    def _delete_webhook(self, call: ApiCall) -> bool:
        if call.params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook_url = ""
        return True

    def _get_webhook_info(self, _call: ApiCall) -> dict[str, Any]:
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    @staticmethod
    def _commands_key(scope: dict[str, Any] | None, language_code: str | None) -> tuple[str, str]:
        return json.dumps(scope or {"type": "default"}, sort_keys=True), language_code or ""

    def _set_my_commands(self, call: ApiCall) -> bool:
        commands = call.params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError.bad_request("commands must be a list of at most 100 commands")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command"))):
                raise ApiError.bad_request("BOT_COMMAND_INVALID")
        stored = [{"command": c["command"], "description": c.get("description", "")} for c in commands]
        self._commands[self._commands_key(call.params.get("scope"), call.params.get("language_code"))] = (
            stored
        )
        return True

    def _get_my_commands(self, call: ApiCall) -> list[dict[str, str]]:
        key = self._commands_key(call.params.get("scope"), call.params.get("language_code"))
        return list(self._commands.get(key, []))

    def _delete_my_commands(self, call: ApiCall) -> bool:
        self._commands.pop(
            self._commands_key(call.params.get("scope"), call.params.get("language_code")), None
        )
        return True

    def _chat_of(self, call: ApiCall) -> FakeChat:
        chat_id = call.params.get("chat_id")
        if chat_id in (None, ""):
            raise ApiError.bad_request("chat_id is empty")
        chat = self.chats.get(chat_id)  # "@username" never matches: the fake has no public chats
        if chat is None:
            raise ApiError.bad_request("chat not found")
        return chat

    def _send_message(self, call: ApiCall) -> dict[str, Any]:
        chat = self._chat_of(call)
        text, entities = _message_text(call.params)
        return self._post(
            chat,
            text=text,
            entities=entities,
            source=call.params.get("text"),
            parse_mode=call.params.get("parse_mode"),
            reply_markup=_reply_markup(call.params),
        )

    def _send_photo(self, call: ApiCall) -> dict[str, Any]:
        chat = self._chat_of(call)
        # aiogram names the upload with attach://; a part named "photo" itself is valid too.
        photo = self._photo(call.params.get("photo") or call.files.get("photo"), call.files)
        source, parse_mode = call.params.get("caption"), call.params.get("parse_mode")
        caption, entities = _caption(source, parse_mode, call.params.get("caption_entities"))
        return self._post(
            chat,
            photo=photo,
            caption=caption,
            entities=entities,
            source=source,
            parse_mode=parse_mode,
            reply_markup=_reply_markup(call.params),
        )

    def _post(self, chat: FakeChat, **content: Any) -> dict[str, Any]:
        """Adds a bot message to the chat and answers it as a Message."""
        message = FakeMessage(chat.next_message_id(), chat.id, self.bot_id, True, _now(), **content)
        chat.history.append(message)
        self._record_event(chat, message)
        return self._message_json(message)

    def _record_event(self, chat: FakeChat, message: FakeMessage) -> None:
        chat.events.append(copy.deepcopy(message))  # as it is now: later edits must not change it
        self._changes.notify()

    def _photo(self, value: str | Upload | None, files: dict[str, Upload]) -> PhotoInfo:
        """An upload becomes a stored file with a fresh file_id; a file_id string reuses a stored one."""
        if isinstance(value, str) and value.startswith("attach://"):
            value = files.get(value.removeprefix("attach://"))
            if value is None:
                raise ApiError.bad_request("file attachment not found in the request")
        if isinstance(value, Upload):
            return self._store_photo(value).photo(reused=False)
        if not value:
            raise ApiError.bad_request("there is no photo in the request")
        stored = self.files.get(value)
        if stored is None:  # URLs land here too: the fake never downloads
            raise ApiError.bad_request("wrong file identifier/HTTP URL specified")
        self.reused_file_ids.append(value)
        return stored.photo(reused=True)

    def _store_photo(self, upload: Upload) -> StoredFile:
        try:
            with Image.open(io.BytesIO(upload.data)) as image:
                width, height = image.size
        except OSError:  # Pillow's UnidentifiedImageError is one
            raise ApiError.bad_request("IMAGE_PROCESS_FAILED") from None
        stored = StoredFile(
            file_id=f"AgACAgIAAxkBAAI{secrets.token_urlsafe(24)}",
            file_unique_id=f"AQAD{secrets.token_urlsafe(9)}",
            file_path=f"photos/file_{len(self.files)}.jpg",
            data=upload.data,
            width=width,
            height=height,
        )
        self.files[stored.file_id] = stored
        return stored

    def _message_to_edit(self, call: ApiCall) -> tuple[FakeChat, FakeMessage]:
        if call.params.get("inline_message_id"):
            raise ApiError.bad_request("inline messages are not supported by FakeTelegram")
        chat = self._chat_of(call)
        message = chat.message(call.params.get("message_id"))
        if message is None:
            raise ApiError.bad_request("message to edit not found")
        if not message.from_bot:
            raise ApiError.bad_request("message can't be edited")
        return chat, message

    def _edit(self, chat: FakeChat, message: FakeMessage, **changes: Any) -> dict[str, Any]:
        """Applies an edit in place; like Telegram, refuses one that changes nothing."""
        if all(getattr(message, name) == value for name, value in changes.items()):
            raise ApiError.bad_request(NOT_MODIFIED)
        for name, value in changes.items():
            setattr(message, name, value)
        message.edit_date = _now()
        message.edit_count += 1
        self._record_event(chat, message)
        return self._message_json(message)

    def _edit_message_text(self, call: ApiCall) -> dict[str, Any]:
        chat, message = self._message_to_edit(call)
        if message.text is None:
            raise ApiError.bad_request("there is no text in the message to edit")
        text, entities = _message_text(call.params)
        # Without reply_markup Telegram removes the inline keyboard, hence None rather than "unchanged".
        return self._edit(
            chat,
            message,
            text=text,
            entities=entities,
            source=call.params.get("text"),
            parse_mode=call.params.get("parse_mode"),
            reply_markup=_reply_markup(call.params),
        )

    def _edit_message_caption(self, call: ApiCall) -> dict[str, Any]:
        chat, message = self._message_to_edit(call)
        if message.photo is None:
            raise ApiError.bad_request("there is no caption in the message to edit")
        source, parse_mode = call.params.get("caption"), call.params.get("parse_mode")
        caption, entities = _caption(source, parse_mode, call.params.get("caption_entities"))
        return self._edit(
            chat,
            message,
            caption=caption,
            entities=entities,
            source=source,
            parse_mode=parse_mode,
            reply_markup=_reply_markup(call.params),
        )

    def _edit_message_reply_markup(self, call: ApiCall) -> dict[str, Any]:
        chat, message = self._message_to_edit(call)
        return self._edit(chat, message, reply_markup=_reply_markup(call.params))

    def _edit_message_media(self, call: ApiCall) -> dict[str, Any]:
        """Photos only: replaces a photo message's photo and caption."""
        chat, message = self._message_to_edit(call)
        media = call.params.get("media")
        if not isinstance(media, dict) or media.get("type") != "photo":
            raise ApiError.bad_request("FakeTelegram edits only photo media")
        if message.photo is None:
            raise ApiError.bad_request("there is no media in the message to edit")
        photo = self._photo(media.get("media"), call.files)
        source, parse_mode = media.get("caption"), media.get("parse_mode")
        caption, entities = _caption(source, parse_mode, media.get("caption_entities"))
        return self._edit(
            chat,
            message,
            photo=photo,
            caption=caption,
            entities=entities,
            source=source,
            parse_mode=parse_mode,
            reply_markup=_reply_markup(call.params),
        )

    def _answer_callback_query(self, call: ApiCall) -> bool:
        query = self._callbacks.get(str(call.params.get("callback_query_id")))
        if query is None or query.answered:
            raise ApiError.bad_request("query is too old and response timeout expired or query ID is invalid")
        query.answered = True
        answer = AnsweredCallback(
            query.id,
            query.data,
            call.params.get("text"),
            bool(call.params.get("show_alert")),
            call.params.get("url"),
        )
        query.user.answered_callbacks.append(answer)
        self._changes.notify()
        return True

    def _delete_message(self, call: ApiCall) -> bool:
        chat = self._chat_of(call)
        message = chat.message(call.params.get("message_id"))
        if message is None:
            raise ApiError.bad_request("message to delete not found")
        # Bots delete their own messages and, in private chats, the user's; in groups only as admins.
        if not message.from_bot and chat.type != "private" and not chat.bot_is_admin:
            raise ApiError.bad_request("message can't be deleted")
        message.deleted = True
        self._changes.notify()
        return True

    def _send_chat_action(self, call: ApiCall) -> bool:
        self._chat_of(call)
        if call.params.get("action") not in _CHAT_ACTIONS:
            raise ApiError.bad_request("wrong parameter action in request")
        return True

    def _get_chat(self, call: ApiCall) -> dict[str, Any]:
        # ChatFullInfo: aiogram requires these few fields beyond the Chat ones.
        gifts = dict.fromkeys(
            [
                "unlimited_gifts",
                "limited_gifts",
                "unique_gifts",
                "premium_subscription",
                "gifts_from_channels",
            ],
            False,
        )
        full_info = {"accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": gifts}
        return self._chat_of(call).to_json() | full_info

    def _user_json(self, user_id: int) -> dict[str, Any]:
        if user_id == self.bot_id:
            return self._bot_json()
        if user_id == GROUP_ANONYMOUS_BOT_ID:
            return {"id": user_id, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}
        if user_id in self.users:
            return self.users[user_id].to_json()
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": f"User {user_id}",
        }  # e.g. an admin never created

    def _member_status(self, chat: FakeChat, user_id: int) -> str:
        if user_id == self.bot_id:
            return "administrator" if chat.bot_is_admin else "member"
        if chat.type == "private":
            return "member" if user_id == chat.id else "left"
        if user_id == chat.owner_id:
            return "creator"
        if user_id in chat.admins:
            return "administrator"
        return "member" if user_id in chat.members else "left"

    def _member_json(self, chat: FakeChat, user_id: int) -> dict[str, Any]:
        status = self._member_status(chat, user_id)
        member: dict[str, Any] = {"status": status, "user": self._user_json(user_id)}
        if status == "creator":
            member["is_anonymous"] = False
        if status == "administrator":
            member |= _ADMIN_RIGHTS
        return member

    def _get_chat_member(self, call: ApiCall) -> dict[str, Any]:
        chat = self._chat_of(call)
        user_id = call.params.get("user_id")
        if not isinstance(user_id, int):
            raise ApiError.bad_request("user_id is empty")
        return self._member_json(chat, user_id)

    def _get_chat_administrators(self, call: ApiCall) -> list[dict[str, Any]]:
        chat = self._chat_of(call)
        if chat.type == "private":
            raise ApiError.bad_request("there are no administrators in the private chat")
        owner = [chat.owner_id] if chat.owner_id is not None else []
        bot = [self.bot_id] if chat.bot_is_admin else []
        return [self._member_json(chat, user_id) for user_id in [*owner, *sorted(chat.admins), *bot]]

    def _get_file(self, call: ApiCall) -> dict[str, Any]:
        stored = self.files.get(call.params.get("file_id") or "")
        if stored is None:
            raise ApiError.bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    def _message_json(self, message: FakeMessage) -> dict[str, Any]:
        """A message as the Bot API shows it, in answers and in updates."""
        data: dict[str, Any] = {
            "message_id": message.message_id,
            "from": self._user_json(message.sender_id),
            "chat": self.chats[message.chat_id].to_json(),
            "date": message.date,
        }
        if message.text is not None:
            data["text"] = message.text
            if message.entities:
                data["entities"] = message.entities
        if message.photo is not None:
            data["photo"] = message.photo.to_json()
        if message.caption is not None:
            data["caption"] = message.caption
            if message.entities:
                data["caption_entities"] = message.entities
        if message.reply_markup is not None and "inline_keyboard" in message.reply_markup:
            data["reply_markup"] = message.reply_markup  # other markups are for the user's app, never shown
        if message.edit_date is not None:
            data["edit_date"] = message.edit_date
        if message.sender_chat_id is not None:
            data["sender_chat"] = self.chats[message.sender_chat_id].to_json()
        if message.reply_to is not None:
            # Telegram nests one level only: the replied message comes without its own reply.
            replied = copy.copy(message.reply_to)
            replied.reply_to = None
            data["reply_to_message"] = self._message_json(replied)
        data |= message.service
        return data


def _error_response(error: ApiError) -> web.Response:
    return web.json_response(error.to_json(), status=error.error_code)
