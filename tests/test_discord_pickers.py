"""/groups and /address of the Discord bot end to end: the real bot against the fake Discord, the shared
schedule DB of 28 groups and the fake DTEK site answering the address lookup (tests/discord_harness.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.dtek.fake_site import FakeDtekSite, sample_schedule
from discord_bot.bot import DiscordBot
from tests.discord_harness import NOW, TODAY, Clock, DiscordWorld, discord_settings, start_bot
from tests.fakes.discord import CallbackType, FakeDiscord, FakeMessage
from tests.known import known
from tests.telegram_harness import SharedDb, publish

pytestmark = pytest.mark.e2e  # the bot against a fake Discord (see tests/conftest.py)

KHRESHCHATYK = {"settlement": "м. Київ", "street": "вул. Хрещатик"}


@pytest.fixture
def bot(discord_address_bot: DiscordBot) -> DiscordBot:
    return discord_address_bot


def option_labels(message: FakeMessage, custom_id: str) -> list[str]:
    return [option["label"] for option in known(message.component(custom_id))["options"]]


def button_labels(message: FakeMessage) -> list[str]:
    return [button["label"] for button in message.buttons]


# --- /groups ----------------------------------------------------------------------------------------------


async def test_groups_pages_past_25_and_a_pick_answers_with_the_schedule(
    discord_world: DiscordWorld, bot: DiscordBot
) -> None:
    alice, general = discord_world.alice, discord_world.general
    interaction = await alice.invoke("groups", channel=general)

    assert (await interaction.wait_for_response()).ephemeral
    picker = known(interaction.original)
    assert picker.content == "Київ: оберіть чергу (сторінка 1 з 2)."
    first = option_labels(picker, "gs:kem:0")
    assert len(first) == 25  # of 28: a select holds 25
    assert first[:3] == ["Черга 1.1", "Черга 1.2", "Черга 2.1"]
    assert first[-1] == "Черга 13.1"
    assert known(picker.component("gs:kem:0"))["placeholder"] == "Черги 1–25 з 28"
    assert button_labels(picker) == ["Далі ▶"]

    turned = await alice.press(picker, "Далі ▶")
    assert (await turned.wait_for_response()).type == CallbackType.UPDATE_MESSAGE
    assert picker.content == "Київ: оберіть чергу (сторінка 2 з 2)."
    assert option_labels(picker, "gs:kem:1") == ["Черга 13.2", "Черга 14.1", "Черга 14.2"]
    assert button_labels(picker) == ["◀ Назад"]
    assert general.messages == [picker]  # turned in place

    pick = await alice.select(picker, "gs:kem:1", ["GPV14.1"])
    response = await pick.wait_for_response()
    assert response.type == CallbackType.CHANNEL_MESSAGE
    assert not response.ephemeral  # the schedule, as /schedule gives it
    schedule = known(pick.original)
    assert known(schedule.embed)["title"] == "Київ · Черга 14.1"
    assert schedule.attachments[0].filename == "schedule.png"
    assert schedule.buttons[1]["custom_id"] == "sv:kem:GPV14.1:week"

    back = await alice.press(picker, "◀ Назад")
    await back.wait_for_response()
    assert option_labels(picker, "gs:kem:0")[0] == "Черга 1.1"


async def test_a_pick_of_a_group_gone_is_out_of_date(
    discord_fake: FakeDiscord, discord_world: DiscordWorld, bot: DiscordBot
) -> None:
    alice, general = discord_world.alice, discord_world.general
    interaction = await alice.invoke("groups", channel=general)
    await interaction.wait_for_response()
    picker = known(interaction.original)

    # A client showing an older list: the group is no longer in the schedule.
    stale = await discord_fake.use_component(
        alice, picker, {"custom_id": "gs:kem:0", "component_type": 3, "values": ["GPV99.1"]}
    )

    assert (await stale.wait_for_response()).ephemeral
    assert known(stale.original).content == "Це меню застаріло: викличте команду ще раз."
    bobs = await discord_world.bob.invoke("groups", channel=general)
    await bobs.wait_for_response()
    english = await discord_fake.use_component(
        discord_world.bob,
        known(bobs.original),
        {"custom_id": "gs:kem:0", "component_type": 3, "values": ["GPV1.1:"]},
    )
    assert (await english.wait_for_response()).ephemeral
    assert known(english.original).content == "This menu is out of date: run the command again."


async def test_the_picker_works_after_a_restart_and_regions_come_first(
    discord_fake: FakeDiscord, discord_world: DiscordWorld, discord_shared: SharedDb, tmp_path: Path
) -> None:
    writer, path = discord_shared
    await publish(writer, sample_schedule("krem", TODAY, groups=6))
    settings = discord_settings(
        discord_fake, tmp_path, schedule_db_url=str(path), dtek_regions=["kem", "krem"]
    )
    bob, general = discord_world.bob, discord_world.general
    async with start_bot(settings, Clock(NOW)):
        interaction = await bob.invoke("groups", channel=general)
        await interaction.wait_for_response()
    picker = known(interaction.original)
    assert picker.content == "Pick a region:"
    assert option_labels(picker, "gr") == ["Kyiv", "Kyiv region"]

    async with start_bot(settings, Clock(NOW)):  # a new process: the menu's state is in its custom_ids
        region = await bob.select(picker, "gr", ["krem"])
        assert (await region.wait_for_response()).type == CallbackType.UPDATE_MESSAGE
        assert picker.content == "Kyiv region: pick a group (page 1 of 1)."
        assert option_labels(picker, "gs:krem:0") == [f"Черга {n}.{h}" for n in range(1, 7) for h in (1, 2)]
        assert picker.buttons == []
        pick = await bob.select(picker, "gs:krem:0", ["GPV2.2"])
        await pick.wait_for_response()
        assert known(known(pick.original).embed)["title"] == "Kyiv region · Черга 2.2"

        address = known(discord_fake.command("address"))
        region_option = address["options"][-1]
        assert (region_option["name"], region_option["required"]) == ("region", False)
        assert [(c["value"], c["name"], c["name_localizations"]["uk"]) for c in region_option["choices"]] == [
            ("kem", "Kyiv", "Київ"),
            ("krem", "Kyiv region", "Київська область"),
        ]


# --- /address ---------------------------------------------------------------------------------------------


async def test_address_options_autocomplete_from_dteks_street_lists(
    discord_fake: FakeDiscord, discord_world: DiscordWorld, bot: DiscordBot
) -> None:
    alice, general = discord_world.alice, discord_world.general
    address = known(discord_fake.command("address"))
    assert address["name_localizations"] == {"uk": "адреса"}
    assert [(o["name"], o["name_localizations"]["uk"]) for o in address["options"]] == [
        ("settlement", "населений-пункт"),
        ("street", "вулиця"),
        ("house", "будинок"),
    ]  # one region configured: no region option

    settlement = await alice.autocomplete("address", "settlement", "київ", channel=general)
    assert (await settlement.wait_for_response()).choices == [{"name": "м. Київ", "value": "м. Київ"}]
    everything = await alice.autocomplete("address", "settlement", "", channel=general)
    assert [c["value"] for c in (await everything.wait_for_response()).choices] == ["м. Київ", "с. Гатне"]

    street = await alice.autocomplete("address", "street", "хрещ", channel=general, settlement="м. Київ")
    assert (await street.wait_for_response()).choices == [{"name": "вул. Хрещатик", "value": "вул. Хрещатик"}]
    typed_loosely = await alice.autocomplete("address", "street", "", channel=general, settlement="Київ")
    assert [c["value"] for c in (await typed_loosely.wait_for_response()).choices] == [
        "вул. Хрещатик",
        "вул. Велика Васильківська",
        "просп. Перемоги",
    ]
    village = await alice.autocomplete("address", "street", "", channel=general, settlement="с. Гатне")
    assert (await village.wait_for_response()).choices == [
        {"name": "— у цьому населеному пункті вулиць немає —", "value": "-"}
    ]


async def test_address_answers_with_the_groups_and_a_button_saves_one(
    discord_world: DiscordWorld, discord_dtek: FakeDtekSite, bot: DiscordBot
) -> None:
    alice, general = discord_world.alice, discord_world.general
    interaction = await alice.invoke("address", {**KHRESHCHATYK, "house": "22 А"}, channel=general)

    response = await interaction.wait_for_response()
    assert response.type == CallbackType.DEFERRED_CHANNEL_MESSAGE  # deferred before asking DTEK
    assert response.ephemeral
    answer = await interaction.wait_for_original()
    assert answer.ephemeral
    assert answer.content == "Адреса: м. Київ, вул. Хрещатик, 22 А. Черга: Черга 2.2, Черга 3.1."
    assert button_labels(answer) == [
        "✅ Зберегти Черга 2.2",
        "✅ Зберегти Черга 3.1",
        "🏠 Зберегти адресу й стежити за відключеннями",
    ]
    assert discord_dtek.ajax_calls["kem"] == 1

    saved = await alice.press(answer, "✅ Зберегти Черга 3.1")
    assert (await saved.wait_for_response()).ephemeral
    assert known(saved.original).content.startswith("✅ Збережено: Київ, 3.1.")
    assert await bot.ctx.db.user_groups(str(alice.id)) == {"kem": "GPV3.1"}

    shown = await alice.invoke("schedule", channel=general)
    await shown.wait_for_response()
    assert known(known(shown.original).embed)["title"] == "Київ · Черга 3.1"


async def test_address_tells_an_outage_in_progress_and_a_street_wide_answer(
    discord_world: DiscordWorld, discord_dtek: FakeDtekSite, bot: DiscordBot
) -> None:
    discord_dtek.outages["kem", "м. Київ", "вул. Хрещатик", "1"] = {
        "type": "2",
        "sub_type": "Аварійні ремонтні роботи",
        "start_date": "05:00 23.11.2026",
        "end_date": "12:30 23.11.2026",
    }
    bob, general = discord_world.bob, discord_world.general
    interaction = await bob.invoke("address", {**KHRESHCHATYK, "house": "1"}, channel=general)
    answer = await interaction.wait_for_original()
    assert answer.content.splitlines() == [
        "Address: м. Київ, вул. Хрещатик, 1. Group: Черга 1.1.",
        "⚠️ Emergency outage: м. Київ, вул. Хрещатик, 1. Аварійні ремонтні роботи."
        " Started: 05:00 23.11. Power expected back: 12:30 23.11.",
    ]

    village = await bob.invoke("address", channel=general, settlement="Гатне", street="-", house="7")
    assert (await village.wait_for_original()).content == "Address: с. Гатне, 7. Group: Черга 3.2."


@pytest.mark.parametrize(
    ("house", "shown"),
    [("999", "999"), ("9\u202e9\x00\n9", "99 9"), ("1' OR 1=1; --", "1' OR 1=1; --")],
    ids=["unknown", "controls", "sql"],
)
async def test_a_house_dtek_does_not_know_is_an_ephemeral_answer_echoing_it_safely(
    discord_world: DiscordWorld, bot: DiscordBot, house: str, shown: str
) -> None:
    alice, general = discord_world.alice, discord_world.general
    interaction = await alice.invoke("address", {**KHRESHCHATYK, "house": house}, channel=general)
    answer = await interaction.wait_for_original()
    assert answer.ephemeral
    assert answer.content == f"Будинок «{shown}» не знайдено в графіках ДТЕК. Перевірте номер."
    assert answer.buttons == []
    assert await bot.ctx.db.user_groups(str(alice.id)) == {}


async def test_address_with_dtek_unavailable_or_an_unknown_street_explains(
    discord_world: DiscordWorld, discord_dtek: FakeDtekSite, bot: DiscordBot
) -> None:
    alice, general = discord_world.alice, discord_world.general
    nowhere = await alice.invoke("address", channel=general, settlement="Атлантида", street="x", house="1")
    assert (await nowhere.wait_for_original()).content == (
        "Населений пункт «Атлантида» не знайдено в переліку ДТЕК. Оберіть його з підказок."
    )
    no_street = await alice.invoke(
        "address", channel=general, settlement="м. Київ", street="Марсова", house="1"
    )
    assert (await no_street.wait_for_original()).content == (
        "Вулицю «Марсова» не знайдено в переліку ДТЕК для м. Київ. Оберіть її з підказок."
    )
    assert discord_dtek.ajax_calls["kem"] == 0  # nothing worth asking DTEK

    discord_dtek.blocked.add("kem")
    blocked = await alice.invoke("address", {**KHRESHCHATYK, "house": "22"}, channel=general)
    answer = await blocked.wait_for_original()
    assert answer.ephemeral
    assert answer.content == "Не вдалося отримати дані з сайту ДТЕК. Спробуйте пізніше."
