"""Deliberate command sync: the command tree is synced at start only when it changed since the last sync,
so restarts stay clear of Discord's rate limit on command updates (a few per day)."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import discord
from discord import app_commands

from common.botdb import BotDB

log = logging.getLogger(__name__)


def sync_key(application_id: int | None, guild_id: int | None) -> str:
    """The meta key holding the hash of what was last synced to this scope of this application: a token of
    another application on the same database must sync its own commands."""
    return f"discord.commands.{application_id}.{guild_id if guild_id is not None else 'global'}"


async def tree_payload(
    tree: app_commands.CommandTree[Any], guild: discord.Object | None
) -> list[dict[str, Any]]:
    """The commands as ``tree.sync(guild=guild)`` would send them, localisations included, in a stable order."""
    translator = tree.translator
    payload = [
        await command.get_translated_payload(tree, translator) if translator else command.to_dict(tree)
        for command in tree.get_commands(guild=guild)
    ]
    return sorted(payload, key=lambda command: (int(command.get("type", 1)), str(command["name"])))


def payload_hash(payload: list[dict[str, Any]]) -> str:
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


async def sync_if_changed(tree: app_commands.CommandTree[Any], db: BotDB, guild_id: int | None) -> bool:
    """Syncs the tree to ``guild_id`` (the global commands copied there) or globally, unless the hash of
    what was last synced there is the same; returns whether it synced. A failed sync is logged and tried
    again at the next start: the bot runs with the commands Discord already has."""
    guild = discord.Object(guild_id) if guild_id is not None else None
    if guild is not None:
        tree.copy_global_to(guild=guild)
    digest = payload_hash(await tree_payload(tree, guild))
    key = sync_key(tree.client.application_id, guild_id)
    scope = f"guild {guild_id}" if guild_id is not None else "global"
    if await db.get_meta(key) == digest:
        log.info("application commands unchanged (%s): not syncing", scope)
        return False
    try:
        synced = await tree.sync(guild=guild)
    except discord.HTTPException:
        log.exception("could not sync the application commands (%s); trying again at the next start", scope)
        return False
    await db.set_meta(key, digest)
    log.info("synced %d application commands (%s)", len(synced), scope)
    return True
