"""Per-update context: the chat's recipient record and its message catalog, injected into handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Chat, Message, TelegramObject, User

from common.i18n import catalog, supported_language
from telegram_bot.context import BotContext


class RecipientMiddleware(BaseMiddleware):
    """Adds ``recipient`` (the chat's settings, created on first contact) and ``t`` (its catalog)."""

    def __init__(self, ctx: BotContext) -> None:
        self._ctx = ctx

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        chat, user = _chat_and_user(event)
        if chat is None:
            return await handler(event, data)
        existing = await self._ctx.db.get_recipient(str(chat.id))
        lang = existing.lang if existing else self._first_language(user)
        recipient = await self._ctx.db.ensure_recipient(str(chat.id), lang)
        data["recipient"] = recipient
        data["t"] = catalog(recipient.lang)
        return await handler(event, data)

    def _first_language(self, user: User | None) -> str:
        # A new chat speaks its user's Telegram language when we have it, else the bot's default.
        return supported_language(user.language_code if user else None) or self._ctx.settings.default_language


def _chat_and_user(event: TelegramObject) -> tuple[Chat | None, User | None]:
    if isinstance(event, Message):
        return event.chat, event.from_user
    if isinstance(event, CallbackQuery):
        message = event.message
        return (message.chat if message else None), event.from_user
    return None, None
