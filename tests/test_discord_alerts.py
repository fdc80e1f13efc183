"""Personal alerts by DM end to end: /notify, /remind and /quiet against the fake Discord, reminders driven
by the harness's clock through the notifier's own reminder loop (shortened for the tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path

import pytest

from common.botdb import BotDB
from common.clock import KYIV
from discord_bot.bot import DiscordBot
from discord_bot.delivery import user_recipient
from tests.discord_harness import NOW, Clock, DiscordWorld, discord_settings, start_bot
from tests.fakes.discord import FakeDiscord, FakeMessage, FakeUser
from tests.known import known
from tests.telegram_harness import SharedDb
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e  # the bot against a fake Discord (see tests/conftest.py)

REMINDER_INTERVAL = 0.5  # seconds between the notifier's reminder passes
# GPV3.2 of the sample loses power at 08:00 today: a 15-minute reminder is due at 07:45.
JUST_BEFORE_07_45 = datetime(2026, 11, 23, 7, 44, 59, tzinfo=KYIV)
KEM_3_2 = ("kem", "GPV3.2")


@dataclass
class Running:
    bot: DiscordBot
    clock: Clock
    world: DiscordWorld

    @property
    def db(self) -> BotDB:
        return self.bot.ctx.db


@pytest.fixture
async def running(
    discord_fake: FakeDiscord, discord_world: DiscordWorld, discord_shared: SharedDb, tmp_path: Path
) -> AsyncIterator[Running]:
    settings = discord_settings(discord_fake, tmp_path, schedule_db_url=str(discord_shared[1]))
    clock = Clock(NOW)
    async with start_bot(settings, clock, reminder_interval_seconds=REMINDER_INTERVAL) as bot:
        yield Running(bot, clock, discord_world)


async def command(running: Running, user: FakeUser, name: str, **options: object) -> str:
    """Runs a slash command in the server's channel; the text of the bot's answer, which must be ephemeral."""
    interaction = await user.invoke(name, dict(options), channel=running.world.general)
    response = await interaction.wait_for_response()
    assert response.ephemeral, f"/{name} answered for everyone: {response.data}"
    message = await interaction.wait_for_original()
    assert message.visible_to == user.id
    return known(message.content)


async def notify_on(running: Running, user: FakeUser, group: str = "3.2") -> str:
    await command(running, user, "setgroup", group=group)
    return await command(running, user, "notify", state="on")


def reminders(user: FakeUser) -> list[FakeMessage]:
    return [message for message in user.dms if "⏰" in (message.content or "")]


# --- the commands --------------------------------------------------------------------------------------


async def test_the_alert_commands_are_synced_with_ukrainian_names_and_choices(
    discord_fake: FakeDiscord, running: Running
) -> None:
    notify, remind, quiet = (known(discord_fake.command(name)) for name in ("notify", "remind", "quiet"))
    assert (notify["name_localizations"], remind["name_localizations"], quiet["name_localizations"]) == (
        {"uk": "сповіщення"},
        {"uk": "нагадування"},
        {"uk": "тихі-години"},
    )
    [state] = notify["options"]
    assert state["required"] is True
    assert [(c["value"], c["name_localizations"]["uk"]) for c in state["choices"]] == [
        ("on", "Увімкнути"),
        ("off", "Вимкнути"),
    ]
    before_off, before_on = remind["options"]
    assert (before_off["name"], before_on["name"]) == ("before_off", "before_on")
    assert [(c["value"], c["name"], c["name_localizations"]["uk"]) for c in before_off["choices"]] == [
        (0, "No reminder", "Без нагадування"),
        (5, "5 minutes", "5 хвилин"),
        (10, "10 minutes", "10 хвилин"),
        (15, "15 minutes", "15 хвилин"),
        (30, "30 minutes", "30 хвилин"),
        (60, "60 minutes", "60 хвилин"),
    ]
    assert before_on["choices"] == before_off["choices"]
    [span] = quiet["options"]
    assert (span["name"], span["name_localizations"], span.get("required", False)) == (
        "span",
        {"uk": "проміжок"},
        False,
    )


async def test_notify_on_without_a_saved_group_asks_for_one_and_stores_nothing(running: Running) -> None:
    alice = running.world.alice
    answer = await command(running, alice, "notify", state="on")
    assert answer == (
        "Спершу збережіть свою чергу, наприклад /зберегти-чергу 3.2, а тоді увімкніть сповіщення:"
        " /сповіщення «Увімкнути»."
    )
    assert await running.db.get_recipient(user_recipient(alice.id)) is None
    assert alice.dms == []


# --- a DM reminder -------------------------------------------------------------------------------------


async def test_setgroup_notify_and_remind_then_a_dm_reminder_arrives_before_power_goes_off(
    running: Running,
) -> None:
    alice, db = running.world.alice, running.db
    on = await notify_on(running, alice, "3.1")
    assert on.startswith("🔔 Сповіщення в особисті повідомлення увімкнено: ")
    assert "3.1" in on
    assert "Нагадування: перед відключенням — вимкнено, перед поверненням — вимкнено." in on
    [confirmation] = alice.dms  # the DM check is the confirmation itself
    assert known(confirmation.content).startswith("🔔 Сповіщення увімкнено: ")
    recipient_id = user_recipient(alice.id)
    recipient = await db.get_recipient(recipient_id)
    assert recipient is not None
    assert (recipient.active, recipient.lang) == (True, "uk")
    assert await db.subscriptions(recipient_id) == [("kem", "GPV3.1")]

    # The saved group changes: the alerts follow it, without a second subscription.
    moved = await command(running, alice, "setgroup", group="3.2")
    assert moved.endswith("🔔 Сповіщення тепер надходять для черги 3.2.")
    assert await db.subscriptions(recipient_id) == [KEM_3_2]

    saved = await command(running, alice, "remind", before_off=15)
    assert saved == "Збережено: перед відключенням — за 15 хв, перед поверненням — вимкнено."
    recipient = await db.get_recipient(recipient_id)
    assert recipient is not None
    assert (recipient.lead_off_minutes, recipient.lead_on_minutes) == (15, None)

    running.clock.set(JUST_BEFORE_07_45)
    reminder = await alice.wait_for_dm("⏰", timeout=10)
    assert reminder.content == "⏰ Через 15 хвилин (08:00) відключення світла: Черга 3.2."
    assert running.clock() < datetime(2026, 11, 23, 8, 0, tzinfo=KYIV)  # before power goes off
    assert len(reminders(alice)) == 1


async def test_remind_without_options_shows_the_lead_times_and_a_hint_when_alerts_are_off(
    running: Running,
) -> None:
    bob = running.world.bob
    shown = await command(running, bob, "remind")
    assert shown == (
        "Reminders: before an outage — off, before power returns — off. Change: /remind with the options"
        " `before_off` and `before_on`.\nThe alerts are off now: turn them on with /notify on."
    )
    assert await running.db.get_recipient(user_recipient(bob.id)) is None  # a look stores nothing
    saved = await command(running, bob, "remind", before_off=60, before_on=0)
    assert saved.startswith("Saved: before an outage — 60 min before, before power returns — off.")


# --- DMs closed ------------------------------------------------------------------------------------------


async def test_closed_dms_get_an_ephemeral_explanation_and_nothing_active(running: Running) -> None:
    bob, db = running.world.bob, running.db
    bob.dms_open = False
    answer = await notify_on(running, bob)
    assert answer.startswith("I could not send you a direct message")
    assert "Privacy Settings" in answer
    assert "/notify on" in answer
    assert await db.get_recipient(user_recipient(bob.id)) is None
    assert (await db.stats()).active_recipients == 0
    assert bob.dms == []


async def test_a_forbidden_dm_deactivates_the_alerts_and_notify_on_reactivates_them(
    running: Running,
) -> None:
    alice, db = running.world.alice, running.db
    recipient_id = user_recipient(alice.id)
    await notify_on(running, alice)
    await command(running, alice, "remind", before_off=15)
    alice.dms_open = False  # she closes her DMs afterwards

    running.clock.set(JUST_BEFORE_07_45)

    async def deactivated() -> bool:
        recipient = await db.get_recipient(recipient_id)
        return recipient is not None and not recipient.active

    await wait_until(deactivated, timeout=10)
    recipient = await db.get_recipient(recipient_id)
    assert recipient is not None
    # Deactivated by the outbox worker, the reminder that failed dropped.
    assert recipient.deactivated_reason is not None
    assert recipient.deactivated_reason.startswith("the user does not accept DMs from the bot: 403")
    assert await db.outbox_counts() == {"pending": 0, "sent": 0, "dead": 1}
    assert recipient.lead_off_minutes == 15  # kept, not deleted
    assert await db.subscriptions(recipient_id) == [KEM_3_2]
    assert reminders(alice) == []
    hint = await command(running, alice, "quiet")
    assert hint.endswith("надішліть /сповіщення «Увімкнути».")  # paused

    alice.dms_open = True
    again = await command(running, alice, "notify", state="on")
    assert "перед відключенням — за 15 хв" in again
    recipient = await db.get_recipient(recipient_id)
    assert recipient is not None
    assert (recipient.active, recipient.deactivated_reason) == (True, None)
    assert recipient.lead_off_minutes == 15
    assert await db.subscriptions(recipient_id) == [KEM_3_2]


# --- off ---------------------------------------------------------------------------------------------------


async def test_notify_off_stops_the_alerts_and_keeps_the_settings(running: Running) -> None:
    alice, bob, db = running.world.alice, running.world.bob, running.db
    for user in (alice, bob):
        await notify_on(running, user)
        await command(running, user, "remind", before_off=15)
    off = await command(running, alice, "notify", state="off")
    assert off.startswith("🔕 Сповіщення вимкнено.")
    assert "перед відключенням — за 15 хв" in off
    recipient_id = user_recipient(alice.id)
    assert await db.subscriptions(recipient_id) == []
    recipient = await db.get_recipient(recipient_id)
    assert recipient is not None
    assert recipient.lead_off_minutes == 15

    # Saving another group while the alerts are off does not turn them on.
    moved = await command(running, alice, "setgroup", group="3.1")
    assert "🔔" not in moved
    assert await db.subscriptions(recipient_id) == []

    running.clock.set(JUST_BEFORE_07_45)
    await bob.wait_for_dm("⏰", timeout=10)  # Bob's alerts go on

    async def delivered() -> dict[str, int] | None:
        counts = await db.outbox_counts()
        return counts if counts["pending"] == 0 else None

    # The pass that queued Bob's reminder would have queued Alice's as well: the outbox had only his.
    assert await wait_until(delivered) == {"pending": 0, "sent": 1, "dead": 0}
    assert reminders(alice) == []
    again = await command(running, alice, "notify", state="off")
    assert again.startswith("🔕")


async def test_notify_off_before_any_alerts(running: Running) -> None:
    answer = await command(running, running.world.bob, "notify", state="off")
    assert answer == "The alerts are already off. Turn them on: /notify on."


# --- quiet hours -----------------------------------------------------------------------------------------


async def test_quiet_hours_are_saved_and_shown(running: Running) -> None:
    alice, db = running.world.alice, running.db
    saved = await command(running, alice, "quiet", span="23:00-07:00")
    assert saved == (
        "Тихі години: 23:00–07:00.\nСповіщення зараз вимкнені: увімкніть їх командою /сповіщення «Увімкнути»."
    )
    recipient = await db.get_recipient(user_recipient(alice.id))
    assert recipient is not None
    assert recipient.quiet_hours == (time(23, 0), time(7, 0))

    on = await notify_on(running, alice)
    assert "Тихі години: 23:00–07:00." in on
    shown = await command(running, alice, "quiet")
    assert shown.startswith("Тихі години: 23:00–07:00. Нагадування")

    cleared = await command(running, alice, "quiet", span="вимкнути")
    assert cleared == "Тихі години: немає."
    recipient = await db.get_recipient(user_recipient(alice.id))
    assert recipient is not None
    assert recipient.quiet_hours is None


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("25:00-07:00", "25:00-07:00"),
        ("23:00-07:00\u202e; DROP TABLE recipients", "23:00-07:00; DROP TABLE recipients"),
        ("**tonight** " + "x" * 5_000, "\\*\\*tonight\\*\\* " + "x" * 27 + "…"),
    ],
)
async def test_a_bad_span_gets_an_ephemeral_error_and_stores_nothing(
    running: Running, typed: str, shown: str
) -> None:
    bob = running.world.bob
    answer = await command(running, bob, "quiet", span=typed)
    assert answer == f"Could not read “{shown}”. Example: /quiet 23:00-07:00 or /quiet off"
    assert await running.db.get_recipient(user_recipient(bob.id)) is None
