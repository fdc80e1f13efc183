"""A group upgraded to a supergroup gets a new chat id: its subscriptions and settings move there."""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.types import Message

from telegram_bot.context import BotContext
from telegram_bot.middlewares import NO_RECIPIENT

log = logging.getLogger(__name__)


async def migrated_to(message: Message, ctx: BotContext) -> None:
    """The old group's last word: the id of the supergroup it became."""
    await _move(ctx, message.chat.id, message.migrate_to_chat_id)


async def migrated_from(message: Message, ctx: BotContext) -> None:
    """The supergroup's first word: the id of the group it was."""
    await _move(ctx, message.migrate_from_chat_id, message.chat.id)


async def _move(ctx: BotContext, old_id: int | None, new_id: int | None) -> None:
    # Telegram announces the upgrade in both chats; whichever comes first moves the chat, the other finds
    # nothing left to move.
    if old_id is not None and new_id is not None and await ctx.db.move_recipient(str(old_id), str(new_id)):
        log.info("chat %s migrated to %s", old_id, new_id)


def create_router() -> Router:
    router = Router(name="migration")
    # No recipient record for these: one for the old id would come back to life after the move.
    router.message.register(migrated_to, F.migrate_to_chat_id, flags={NO_RECIPIENT: True})
    router.message.register(migrated_from, F.migrate_from_chat_id, flags={NO_RECIPIENT: True})
    return router
