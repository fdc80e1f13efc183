"""Per-update context and checks: the chat's recipient record and its message catalog, injected into
handlers, and the admins-only rule for handlers that change a group chat's settings.

Both are inner middlewares, so they see the handler chosen by the filters and act on its flags
(``flags={MANAGES_CHAT: True}`` on registration, read with aiogram's ``get_flag``). The update counter and
the per-user throttle are outer ones: they see every update, handled or not, and the throttle drops a
flooder's messages and presses before any filter or database work.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.dispatcher.flags import get_flag
from aiogram.enums import ChatType
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject, Update, User
from prometheus_client import Counter

from common.i18n import Catalog, catalog, supported_language
from common.throttle import UserThrottle, Verdict
from telegram_bot.context import BotContext
from telegram_bot.permissions import may_manage

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

# Handler flags.
MANAGES_CHAT = "manages_chat"  # changes the chat's subscriptions or settings: in a group, admins only
NO_RECIPIENT = "no_recipient"  # a service message about the chat itself: no recipient record is created


class RecipientMiddleware(BaseMiddleware):
    """Adds ``recipient`` (the chat's settings, created on first contact) and ``t`` (its catalog)."""

    def __init__(self, ctx: BotContext) -> None:
        self._ctx = ctx

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        chat, user = _chat_and_user(event)
        if chat is None or get_flag(data, NO_RECIPIENT):
            return await handler(event, data)
        existing = await self._ctx.db.get_recipient(str(chat.id))
        lang = existing.lang if existing else first_language(user, self._ctx.settings.default_language)
        recipient = await self._ctx.db.ensure_recipient(str(chat.id), lang)
        data["recipient"] = recipient
        data["t"] = catalog(recipient.lang)
        return await handler(event, data)


class ChatManagersMiddleware(BaseMiddleware):
    """Runs handlers flagged ``MANAGES_CHAT`` only for those who may change the chat's settings; anyone
    else gets the "only admins" answer (an alert for a button). Registered after RecipientMiddleware,
    whose catalog it answers in."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not get_flag(data, MANAGES_CHAT) or await _may_manage(data["bot"], event):
            return await handler(event, data)
        t: Catalog = data["t"]
        if isinstance(event, CallbackQuery):
            await event.answer(t("bot.only_admins"), show_alert=True)
        elif isinstance(event, Message):
            await event.answer(t("bot.only_admins"))
        return None


class UpdateCounter(BaseMiddleware):
    """Counts each update by its type (message, callback_query, my_chat_member...)."""

    def __init__(self, updates: Counter) -> None:
        self._updates = updates

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Update):
            self._updates.labels(event.event_type).inc()
        return await handler(event, data)


class ThrottleMiddleware(BaseMiddleware):
    """Drops the messages and button presses of a user over the per-user limit. The first dropped one is
    answered with "too many requests, wait N s"; every dropped press is answered, so its spinner stops."""

    def __init__(self, throttle: UserThrottle, default_language: str) -> None:
        self._throttle = throttle
        self._default_language = default_language

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        sender = _sender_id(event) if _counts(event, data["bot"]) else None
        verdict = self._throttle.check(sender) if sender is not None else Verdict(allowed=True)
        if verdict.allowed:
            return await handler(event, data)
        _, user = _chat_and_user(event)
        notice = catalog(first_language(user, self._default_language))(
            "bot.too_many_requests", seconds=verdict.wait_seconds
        )
        if isinstance(event, CallbackQuery):
            await event.answer(notice if verdict.notify else None)
        elif isinstance(event, Message) and verdict.notify:
            await event.answer(notice)
        return None


def first_language(user: User | None, default: str) -> str:
    """A new chat speaks its user's Telegram language when we have it, else the bot's default."""
    return supported_language(user.language_code if user else None) or default


async def _may_manage(bot: Bot, event: TelegramObject) -> bool:
    chat, user = _chat_and_user(event)
    if chat is None:
        return False
    # A button press always carries the real user; a message may be sent on behalf of a chat.
    sender_chat = event.sender_chat if isinstance(event, Message) else None
    return await may_manage(bot, chat, user, sender_chat)


def _counts(event: TelegramObject, bot: Bot) -> bool:
    """Whether an update is a request to the bot: a press, a message in a private chat, a command or a
    reply to the bot; not the chatter of a group the bot reads along (privacy mode off)."""
    if not isinstance(event, Message) or event.chat.type == ChatType.PRIVATE:
        return True
    replied = event.reply_to_message
    return (event.text or "").startswith("/") or (
        replied is not None and replied.from_user is not None and replied.from_user.id == bot.id
    )


def _sender_id(event: TelegramObject) -> int | None:
    """Whose limit an update counts against: the user, or the chat a message was sent on behalf of (all
    anonymous admins share one user id)."""
    if isinstance(event, Message) and event.sender_chat is not None:
        return event.sender_chat.id
    _, user = _chat_and_user(event)
    return user.id if user else None


def _chat_and_user(event: TelegramObject) -> tuple[Chat | None, User | None]:
    if isinstance(event, Message):
        return event.chat, event.from_user
    if isinstance(event, CallbackQuery):
        message = event.message
        return (message.chat if message else None), event.from_user
    return None, None
