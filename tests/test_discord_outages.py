"""Outages at a saved address in the Discord bot, end to end: the 🏠 button under /address, /outages, the
lines of /status and under a schedule (never in a message others see), and the alerts by DM that the
notifier's address watch queues, against the fake Discord and the fake DTEK site on the harness's clock."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from common.dtek.address import StreetAddress
from common.dtek.fake_site import FakeDtekSite
from discord_bot.bot import DiscordBot
from discord_bot.delivery import user_recipient
from tests.discord_harness import ADDRESS_WATCH_INTERVAL_SECONDS, NOW, DiscordWorld
from tests.fakes.discord import FakeDiscord, FakeMessage, FakeUser
from tests.known import known

pytestmark = pytest.mark.e2e  # the bot against a fake Discord (see tests/conftest.py)

KHRESHCHATYK = {"settlement": "м. Київ", "street": "вул. Хрещатик"}
HOUSE_1 = ("kem", "м. Київ", "вул. Хрещатик", "1")  # GPV1.1 in the sample
ADDRESS_1 = StreetAddress(*HOUSE_1)
SAVE_ADDRESS = {
    "en": "🏠 Save address & watch outages",
    "uk": "🏠 Зберегти адресу й стежити за відключеннями",
}
EMERGENCY_REASON = "Аварійні ремонтні роботи"


def dtek_time(moment: datetime) -> str:
    """A moment as DTEK's getHomeNum writes it."""
    return f"{moment:%H:%M %d.%m.%Y}"


def outage(kind: str, reason: str, *, end: datetime = NOW + timedelta(hours=6, minutes=30)) -> dict[str, str]:
    """An outage in progress since an hour before the harness's "now"."""
    return {
        "type": kind,
        "sub_type": reason,
        "start_date": dtek_time(NOW - timedelta(hours=1)),
        "end_date": dtek_time(end),
    }


@pytest.fixture
def bot(discord_address_bot: DiscordBot) -> DiscordBot:
    return discord_address_bot


async def ephemeral_answer(world: DiscordWorld, user: FakeUser, name: str, **options: object) -> str:
    """The text of the bot's answer to a command in the server's channel, which must be ephemeral."""
    interaction = await user.invoke(name, dict(options), channel=world.general)
    assert (await interaction.wait_for_response()).ephemeral, f"/{name} answered for everyone"
    message = await interaction.wait_for_original()
    assert message.visible_to == user.id
    return known(message.content)


async def save_address(world: DiscordWorld, user: FakeUser, house: str = "1") -> str:
    """/address in the server's channel, then its 🏠 button: the text of the (ephemeral) answer."""
    found = await user.invoke("address", {**KHRESHCHATYK, "house": house}, channel=world.general)
    answer = await found.wait_for_original()
    pressed = await user.press(answer, SAVE_ADDRESS["uk" if user.locale == "uk" else "en"])
    assert (await pressed.wait_for_response()).ephemeral
    saved = await pressed.wait_for_original()
    assert saved.visible_to == user.id
    return known(saved.content)


def embed_text(message: FakeMessage) -> str:
    embed = known(message.embed)
    return "\n".join([embed.get("title") or "", embed.get("description") or ""])


# --- the 🏠 button ---------------------------------------------------------------------------------------


async def test_the_button_saves_the_address_its_group_and_turns_outage_alerts_on_by_dm(
    discord_world: DiscordWorld, bot: DiscordBot
) -> None:
    bob = discord_world.bob
    db = bot.ctx.db
    assert (await save_address(discord_world, bob)).splitlines() == [
        "🏠 Address saved: м. Київ, вул. Хрещатик, 1. Your group: Черга 1.1.",
        "🔔 Outage alerts for this address come by direct message: a confirmation is waiting there."
        " Stop: /outages off; delete the address: /outages forget.",
    ]
    recipient = user_recipient(bob.id)
    assert await db.user_groups(str(bob.id)) == {"kem": "GPV1.1"}
    assert await db.saved_addresses(recipient) == [ADDRESS_1]
    assert await db.wants_outage_alerts(recipient)
    [dm] = bob.dms
    assert known(dm.content).startswith("🔔 Outage alerts for м. Київ, вул. Хрещатик, 1 are on")
    assert discord_world.general.messages[-1].visible_to == bob.id  # nothing said in public
    assert all(message.visible_to is not None for message in discord_world.general.messages)


async def test_with_dms_closed_the_address_is_saved_and_the_user_told_how_to_get_the_alerts(
    discord_world: DiscordWorld, bot: DiscordBot
) -> None:
    alice = discord_world.alice
    alice.dms_open = False
    lines = (await save_address(discord_world, alice, "22")).splitlines()
    assert lines[0] == "🏠 Адресу збережено: м. Київ, вул. Хрещатик, 22. Ваша черга: Черга 2.2."
    assert lines[1].startswith("⚠️ Не вдалося надіслати вам особисте повідомлення")
    recipient = known(await bot.ctx.db.get_recipient(user_recipient(alice.id)))
    assert not recipient.active  # paused like other DM alerts: the watch leaves it alone
    assert await bot.ctx.db.watched_streets() == []
    assert (await ephemeral_answer(discord_world, alice, "outages")).splitlines()[-2].startswith("⚠️")

    alice.dms_open = True  # privacy settings changed: /outages on checks by DM and resumes
    on = await ephemeral_answer(discord_world, alice, "outages", state="on")
    assert on.startswith("🔔 Сповіщення про відключення за збереженою адресою увімкнено")
    assert known(await bot.ctx.db.get_recipient(user_recipient(alice.id))).active
    assert await bot.ctx.db.watched_streets() == [HOUSE_1[:3]]


async def test_the_button_of_an_answer_the_bot_no_longer_remembers_asks_to_look_again(
    discord_world: DiscordWorld, bot: DiscordBot
) -> None:
    bob = discord_world.bob
    found = await bob.invoke("address", {**KHRESHCHATYK, "house": "1"}, channel=discord_world.general)
    answer = await found.wait_for_original()
    # As after a restart, or long after the answer. (The extension's module is loaded apart from an import
    # of it here, so its Cog is no instance of the class imported here.)
    vars(bot.get_cog("address"))["found_addresses"].clear()
    pressed = await bob.press(answer, SAVE_ADDRESS["en"])
    assert (await pressed.wait_for_original()).content == "This menu is out of date: run the command again."
    assert await bot.ctx.db.saved_addresses(user_recipient(bob.id)) == []
    # The save-group buttons are DynamicItems of their own: they work regardless.
    group = await bob.press(answer, "✅ Save Черга 1.1")
    assert (await group.wait_for_original()).ephemeral
    assert await bot.ctx.db.user_groups(str(bob.id)) == {"kem": "GPV1.1"}


# --- /outages --------------------------------------------------------------------------------------------


async def test_outages_shows_switches_and_forgets(
    discord_fake: FakeDiscord, discord_world: DiscordWorld, bot: DiscordBot
) -> None:
    command = known(discord_fake.command("outages"))
    assert command["name_localizations"] == {"uk": "відключення"}
    [state] = command["options"]
    assert state.get("required", False) is False
    assert [(c["value"], c["name_localizations"]["uk"]) for c in state["choices"]] == [
        ("on", "Увімкнути"),
        ("off", "Вимкнути"),
        ("forget", "Забути адресу"),
    ]

    bob, db = discord_world.bob, bot.ctx.db
    recipient = user_recipient(bob.id)
    assert (await ephemeral_answer(discord_world, bob, "outages")).splitlines() == [
        "No saved address: look yours up and save it with the button under the answer.",
        "Find your address with /address and press “🏠 Save address & watch outages” under the answer.",
    ]
    await save_address(discord_world, bob)
    assert (await ephemeral_answer(discord_world, bob, "outages")).splitlines() == [
        "🔔 Outage alerts for your saved address: on.",
        "🏠 м. Київ, вул. Хрещатик, 1: DTEK reports no outage.",
        "On or off: /outages on, /outages off; delete the address: /outages forget.",
    ]

    off = await ephemeral_answer(discord_world, bob, "outages", state="off")
    assert off.startswith("🔕 Outage alerts for your address off.")
    assert not await db.wants_outage_alerts(recipient)
    assert await db.watched_streets() == []

    on = await ephemeral_answer(discord_world, bob, "outages", state="on")
    assert on == (
        "🔔 Outage alerts for your saved address are on, by direct message: a confirmation is waiting there."
    )
    assert await db.wants_outage_alerts(recipient)
    assert len(bob.dms) == 2  # the button's confirmation, then this one's

    forgotten = await ephemeral_answer(discord_world, bob, "outages", state="forget")
    assert forgotten == "Saved addresses deleted, and their outage alerts off."
    assert await db.saved_addresses(recipient) == []
    assert not await db.wants_outage_alerts(recipient)
    assert await db.user_groups(str(bob.id)) == {"kem": "GPV1.1"}  # the group stays


# --- /status and the schedule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reported", "line"),
    [
        (
            outage("1", "Планові ремонтні роботи"),
            "🔧 Planned works: м. Київ, вул. Хрещатик, 1. Планові ремонтні роботи."
            " Started: 05:00 23.11. Power expected back: 12:30 23.11.",
        ),
        (
            outage("2", "Екстренні відключення (Аварійне без застосування графіку погодинних відключень)"),
            "⚠️ Emergency outage: м. Київ, вул. Хрещатик, 1. Екстренні відключення (Аварійне без"
            " застосування графіку погодинних відключень). Started: 05:00 23.11. Power expected back:"
            " 12:30 23.11. While this outage lasts, the hourly schedule does not apply at this address.",
        ),
        (None, "🏠 м. Київ, вул. Хрещатик, 1: DTEK reports no outage."),
    ],
    ids=["planned", "emergency", "none"],
)
async def test_status_shows_the_outage_at_the_saved_address_to_the_user_alone(
    discord_world: DiscordWorld,
    discord_dtek: FakeDtekSite,
    bot: DiscordBot,
    reported: dict[str, str] | None,
    line: str,
) -> None:
    if reported is not None:
        discord_dtek.outages[HOUSE_1] = reported
    bob = discord_world.bob
    before = (await ephemeral_answer(discord_world, bob, "status")).splitlines()
    await save_address(discord_world, bob)

    in_channel = (await ephemeral_answer(discord_world, bob, "status")).splitlines()
    assert in_channel == [*before, line]
    in_dm = await bob.invoke("status")
    assert (await in_dm.wait_for_original()).content.splitlines() == in_channel
    # Alice saved no address: her /status says nothing of Bob's.
    assert "Хрещатик" not in await ephemeral_answer(discord_world, discord_world.alice, "status")


async def test_a_schedule_in_dms_notes_the_outage_at_the_saved_address_a_public_one_never(
    discord_world: DiscordWorld, discord_dtek: FakeDtekSite, bot: DiscordBot
) -> None:
    discord_dtek.outages[HOUSE_1] = outage("2", EMERGENCY_REASON)
    bob, general = discord_world.bob, discord_world.general
    await save_address(discord_world, bob)

    in_dm = await bob.invoke("schedule")
    shown = embed_text(await in_dm.wait_for_original())
    assert (
        "⚠️ Emergency outage: м. Київ, вул. Хрещатик, 1. Аварійні ремонтні роботи."
        " Started: 05:00 23.11. Power expected back: 12:30 23.11."
    ) in shown
    in_public = await bob.invoke("schedule", channel=general)
    public = known(await in_public.wait_for_original())
    assert not public.ephemeral
    assert "Хрещатик" not in embed_text(public)
    assert "Хрещатик" not in (public.content or "")
    # The buttons under the public schedule edit it for everyone: still no address.
    tomorrow = await bob.press(public, custom_id="sv:kem:GPV1.1:tomorrow")
    await tomorrow.wait_for_response()
    assert "Хрещатик" not in embed_text(public)


async def test_a_schedule_in_dms_has_no_note_while_dtek_reports_no_outage(
    discord_world: DiscordWorld, bot: DiscordBot
) -> None:
    bob = discord_world.bob
    await save_address(discord_world, bob)
    in_dm = await bob.invoke("schedule")
    assert "Хрещатик" not in embed_text(await in_dm.wait_for_original())


# --- alerts by DM ----------------------------------------------------------------------------------------


async def watch(bot: DiscordBot) -> int:
    """One pass of the notifier's address watch once the street is due again."""
    await asyncio.sleep(ADDRESS_WATCH_INTERVAL_SECONDS * 1.5)
    return await known(bot.notifier).watch_addresses()


async def test_an_outage_starting_moving_and_ending_at_the_address_is_told_by_dm_once_each(
    discord_world: DiscordWorld, discord_dtek: FakeDtekSite, bot: DiscordBot
) -> None:
    alice = discord_world.alice
    await save_address(discord_world, alice)
    [confirmation] = alice.dms
    assert await watch(bot) == 0  # the first look only records: the answer just showed no outage

    discord_dtek.outages[HOUSE_1] = outage("2", EMERGENCY_REASON)
    assert await watch(bot) == 1
    started = await alice.wait_for_dm(lambda message: message is not confirmation)
    assert embed_text(started).splitlines() == [
        "⚠️ Аварійне відключення: м. Київ, вул. Хрещатик, 1",
        "Аварійні ремонтні роботи. Початок: 05:00 23.11. Світло очікують: 12:30 23.11.",
    ]
    assert await watch(bot) == 0  # told once

    discord_dtek.outages[HOUSE_1] = outage("2", EMERGENCY_REASON, end=NOW + timedelta(hours=9))
    assert await watch(bot) == 1
    moved = await alice.wait_for_dm(lambda message: message not in (confirmation, started))
    assert embed_text(moved).splitlines() == [
        "🕓 Новий час відновлення: м. Київ, вул. Хрещатик, 1",
        "ДТЕК тепер очікує світло: 15:00 23.11.",
    ]

    del discord_dtek.outages[HOUSE_1]
    assert await watch(bot) == 1
    ended = await alice.wait_for_dm(lambda message: message not in (confirmation, started, moved))
    assert embed_text(ended).splitlines() == [
        "✅ Відключення завершилося: м. Київ, вул. Хрещатик, 1",
        "ДТЕК більше не повідомляє про відключення за цією адресою.",
    ]
    assert await watch(bot) == 0
    await asyncio.sleep(0.2)
    assert len(alice.dms) == 4
