"""Personal alerts by DM, in the bot's database: no table of their own.

A user with alerts is the recipient ``user:<id>`` (see :func:`discord_bot.delivery.user_recipient`),
subscribed to the groups they saved with /setgroup (``user_groups``, one per region). Alerts are *on* while
that recipient is active and has subscriptions; /notify off drops the subscriptions and keeps the settings
(lead times, quiet hours); a DM Discord refuses deactivates the recipient, its subscriptions kept, until
/notify on reactivates it (``BotDB.ensure_recipient``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from common.botdb import BotDB, Recipient
from discord_bot.delivery import user_recipient


class AlertState(enum.Enum):
    OFF = "off"  # never turned on, or turned off
    ON = "on"
    PAUSED = "paused"  # subscribed, but a DM failed: Discord would not deliver


async def alert_state(db: BotDB, user_id: int) -> tuple[Recipient | None, AlertState]:
    """The user's recipient (None before any alert setting) and whether their alerts are on."""
    recipient_id = user_recipient(user_id)
    recipient = await db.get_recipient(recipient_id)
    if recipient is None or not await db.subscriptions(recipient_id):
        return recipient, AlertState.OFF
    return recipient, AlertState.ON if recipient.active else AlertState.PAUSED


async def settings_recipient(db: BotDB, user_id: int, lang: str) -> Recipient:
    """The recipient to store the user's alert settings on, created if new; one deactivated by a failed DM
    stays inactive (only /notify on, which checks the DM, reactivates)."""
    return await db.get_recipient(user_recipient(user_id)) or await db.ensure_recipient(
        user_recipient(user_id), lang
    )


async def turn_on(db: BotDB, user_id: int, lang: str, saved: Mapping[str, str]) -> Recipient:
    """Alerts on for the ``saved`` groups (region -> group): the recipient is (re)activated with its settings
    kept, in the language the user now uses."""
    recipient_id = user_recipient(user_id)
    recipient = await db.ensure_recipient(recipient_id, lang)
    if recipient.lang != lang:
        await db.set_language(recipient_id, lang)
    await _subscribe_exactly(db, recipient_id, saved)
    return await db.get_recipient(recipient_id) or recipient


async def turn_off(db: BotDB, user_id: int, reason: str) -> Recipient | None:
    """Alerts off: no subscriptions, nothing pending; the settings stay for a later /notify on."""
    recipient_id = user_recipient(user_id)
    recipient = await db.get_recipient(recipient_id)
    if recipient is not None:
        await _subscribe_exactly(db, recipient_id, {})
        await db.drop_pending_for(recipient_id, reason)
    return recipient


async def pause(db: BotDB, user_id: int, reason: str) -> None:
    """A DM to the user was refused: their recipient, if any, is deactivated (kept, not deleted)."""
    recipient_id = user_recipient(user_id)
    if await db.get_recipient(recipient_id) is not None:
        await db.deactivate(recipient_id, reason)


async def save_group(db: BotDB, user_id: int, region: str, group: str) -> bool:
    """Saves the user's group in ``region`` (replacing the one saved before) and moves alerts they have (on,
    or paused by a failed DM) to it: every place that saves a group uses this. True if their alerts are on.
    """
    await db.save_user_group(str(user_id), region, group)
    recipient_id = user_recipient(user_id)
    if not await db.subscriptions(recipient_id):
        return False  # alerts off: saving a group does not turn them on
    await _subscribe_exactly(db, recipient_id, await db.user_groups(str(user_id)))
    return (await alert_state(db, user_id))[1] is AlertState.ON


async def _subscribe_exactly(db: BotDB, recipient_id: str, groups: Mapping[str, str]) -> None:
    """The recipient's subscriptions become ``groups`` (region -> group)."""
    wanted = set(groups.items())
    current = set(await db.subscriptions(recipient_id))
    for region, group in sorted(current - wanted):
        await db.unsubscribe(recipient_id, region, group)
    for region, group in sorted(wanted - current):
        await db.subscribe(recipient_id, region, group)
