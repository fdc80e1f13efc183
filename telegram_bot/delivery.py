"""Sends outbox messages through Telegram and tells the outbox worker how it went.

A text longer than Telegram's limit goes as several messages. The outcome says how many of them arrived,
so that a retry, which the worker makes with the row's count, sends only the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.methods.base import Response
from aiogram.types import Message

from common.logs import redact
from common.notifications import SendOutcome
from common.render.text import rendered_from_json, split_text, to_text
from telegram_bot.markup import HTML

log = logging.getLogger(__name__)

# aiogram parses every answer to a send as a Response[Message], a class pydantic caches only weakly: each
# time the garbage collector takes it, the next send rebuilds its schema (25 ms, a tenth of a broadcast's
# CPU). This reference keeps it cached.
_SEND_RESPONSE = Response[Message]

# Bad requests that mean the chat is gone for good, like a 403.
_GONE = ("chat not found", "user is deactivated", "bot was kicked")


def payload_text(payload: Mapping[str, Any]) -> str:
    if "rendered" in payload:
        return to_text(rendered_from_json(payload["rendered"]), HTML)
    return HTML.escape(str(payload["text"]))


# Moves a recipient from its old id to its new one (BotDB.move_recipient).
MoveRecipient = Callable[[str, str], Awaitable[object]]


class TelegramSender:
    """``move_recipient`` is called when a send learns that a group became a supergroup under a new id."""

    def __init__(self, bot: Bot, *, move_recipient: MoveRecipient) -> None:
        self._bot = bot
        self._move_recipient = move_recipient

    async def send(self, recipient_id: str, payload: Mapping[str, Any], *, parts_sent: int) -> SendOutcome:
        outcome = await self._send(recipient_id, payload, parts_sent=parts_sent)
        if outcome.error is None:
            return outcome
        # A network error quotes the request's URL, which holds the token: it must not reach the outbox
        # (its last_error column) or the worker's log lines.
        return replace(outcome, error=redact(outcome.error, [self._bot.token]))

    async def _send(self, recipient_id: str, payload: Mapping[str, Any], *, parts_sent: int) -> SendOutcome:
        delivered = 0
        try:
            for part in split_text(payload_text(payload))[parts_sent:]:
                await self._bot.send_message(int(recipient_id), part)
                delivered += 1
        except TelegramRetryAfter as exc:
            return SendOutcome(
                "retry_after",
                retry_after=float(exc.retry_after),
                error=exc.message,
                parts_delivered=delivered,
            )
        except TelegramForbiddenError as exc:
            return SendOutcome("blocked", error=exc.message)
        except TelegramMigrateToChat as exc:
            # The group became a supergroup with a new id: its settings follow it, and so does this message
            # (a supergroup never migrates again).
            new_id = str(exc.migrate_to_chat_id)
            log.info("chat %s migrated to %s", recipient_id, new_id)
            await self._move_recipient(recipient_id, new_id)
            resent = await self.send(new_id, payload, parts_sent=parts_sent + delivered)
            return replace(resent, parts_delivered=delivered + resent.parts_delivered)
        except (TelegramBadRequest, TelegramNotFound) as exc:
            gone = any(reason in exc.message.lower() for reason in _GONE)
            return SendOutcome("blocked" if gone else "failed", error=exc.message, parts_delivered=delivered)
        except TelegramAPIError as exc:
            # A server or network error: caught here, not by the worker, so the parts that arrived count.
            return SendOutcome(
                "failed", error=f"{type(exc).__name__}: {exc.message}", parts_delivered=delivered
            )
        return SendOutcome("sent")
