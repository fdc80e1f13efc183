"""Who may change a chat's subscriptions and settings: anyone in a private chat, admins in a group."""

from __future__ import annotations

from aiogram import Bot
from aiogram.enums import ChatMemberStatus, ChatType
from aiogram.types import Chat, User

MANAGERS = {ChatMemberStatus.CREATOR, ChatMemberStatus.ADMINISTRATOR}


async def may_manage(bot: Bot, chat: Chat, user: User | None) -> bool:
    if chat.type == ChatType.PRIVATE:
        return True
    if user is None:
        return False
    member = await bot.get_chat_member(chat.id, user.id)
    return member.status in MANAGERS
