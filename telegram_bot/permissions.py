"""Who may change a chat's subscriptions and settings: anyone in a private chat, admins in a group."""

from __future__ import annotations

from aiogram import Bot
from aiogram.enums import ChatMemberStatus, ChatType
from aiogram.types import Chat, User

MANAGERS = {ChatMemberStatus.CREATOR, ChatMemberStatus.ADMINISTRATOR}


async def may_manage(bot: Bot, chat: Chat, user: User | None, sender_chat: Chat | None = None) -> bool:
    """``sender_chat`` is the chat a message was sent on behalf of, if any."""
    if chat.type == ChatType.PRIVATE:
        return True
    if sender_chat is not None and sender_chat.id == chat.id:
        # Only an anonymous admin can write as the group itself (``user`` is then GroupAnonymousBot).
        return True
    if user is None:
        return False
    member = await bot.get_chat_member(chat.id, user.id)
    return member.status in MANAGERS
