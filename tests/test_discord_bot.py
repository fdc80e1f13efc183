"""The Discord bot end to end: the real discord.py bot, built as ``main`` builds it, against the fake
Discord (tests/fakes/discord.py) and a real shared schedule DB, on an injected clock (tests/discord_harness.py).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import discord
import pytest
from pydantic import SecretStr

from common.notices import PageNotices
from common.store import ScheduleReader, StoredSchedule
from discord_bot.app import main, run
from discord_bot.bot import DiscordBot
from tests.conftest import REPO_ROOT
from tests.discord_harness import (
    NOW,
    TOKEN,
    Clock,
    DiscordWorld,
    discord_settings,
    start_bot,
)
from tests.fakes.discord import CallbackType, FakeDiscord, FakeMessage
from tests.known import known
from tests.metrics_helpers import sample
from tests.telegram_harness import SharedDb

pytestmark = pytest.mark.e2e  # the bot against a fake Discord (see tests/conftest.py)

COMMANDS = [
    "address",
    "groups",
    "mygroup",
    "notify",
    "outages",
    "quiet",
    "remind",
    "schedule",
    "setgroup",
    "status",
    "subscribe-channel",
    "subscriptions",
    "unsubscribe-channel",
    "week",
]
PNG = b"\x89PNG\r\n\x1a\n"


async def stored_kem(path: Path) -> StoredSchedule:
    async with await ScheduleReader.open(path) as reader:
        return known(await reader.load("kem"))


def field_names(message: FakeMessage) -> list[str]:
    return [field["name"] for field in known(message.embed).get("fields", [])]


# --- start and command sync ----------------------------------------------------------------------------


async def test_login_syncs_the_commands_once_and_a_restart_with_the_same_tree_does_not(
    discord_fake: FakeDiscord, discord_world: DiscordWorld, discord_shared: SharedDb, tmp_path: Path
) -> None:
    settings = discord_settings(discord_fake, tmp_path, schedule_db_url=str(discord_shared[1]))
    async with start_bot(settings, Clock(NOW)) as bot:
        assert bot.synced is True
        assert bot.failed_extensions == []
    [sync] = discord_fake.syncs
    assert sync.guild_id is None  # no DISCORD_GUILD_ID: global commands
    assert sorted(command["name"] for command in sync.commands) == COMMANDS
    schedule = known(discord_fake.command("schedule"))
    assert schedule["name_localizations"] == {"uk": "графік"}
    assert schedule["description_localizations"]["uk"].startswith("Графік черги")
    group, day = schedule["options"]
    assert (group["name"], group["name_localizations"], group["autocomplete"]) == (
        "group",
        {"uk": "черга"},
        True,
    )
    assert [(c["value"], c["name_localizations"]["uk"]) for c in day["choices"]] == [
        ("today", "Сьогодні"),
        ("tomorrow", "Завтра"),
        ("week", "Тиждень"),
    ]
    # Non-privileged intents only: guilds.
    assert [identify["intents"] for identify in discord_fake.identifies] == [1]

    async with start_bot(settings, Clock(NOW)) as again:
        assert again.synced is False
        interaction = await discord_world.alice.invoke("status", channel=discord_world.general)
        assert (await interaction.wait_for_response()).type == CallbackType.CHANNEL_MESSAGE
    assert len(discord_fake.syncs) == 1  # the same tree: no second sync

    guild_settings = settings.model_copy(update={"discord_guild_id": discord_world.guild.id})
    async with start_bot(guild_settings, Clock(NOW)) as in_guild:
        assert in_guild.synced is True  # a new scope has never been synced
    assert discord_fake.syncs[-1].guild_id == discord_world.guild.id
    assert len(discord_fake.syncs) == 2


async def test_a_cog_that_fails_to_load_is_logged_and_the_others_run(
    discord_fake: FakeDiscord,
    discord_world: DiscordWorld,
    discord_shared: SharedDb,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = discord_settings(discord_fake, tmp_path, schedule_db_url=str(discord_shared[1]))
    extensions = ("discord_bot.cogs.no_such_feature", "discord_bot.cogs.status")
    with caplog.at_level(logging.ERROR, logger="discord_bot"):
        async with start_bot(settings, Clock(NOW), extensions=extensions) as bot:
            assert bot.failed_extensions == ["discord_bot.cogs.no_such_feature"]
            interaction = await discord_world.alice.invoke("status", channel=discord_world.general)
            await interaction.wait_for_response()
    assert "could not load discord_bot.cogs.no_such_feature" in caplog.text
    assert [command["name"] for command in discord_fake.syncs[0].commands] == ["status"]


# --- /schedule, its buttons, /week ------------------------------------------------------------------------


async def test_schedule_answers_with_an_embed_and_the_picture(
    discord_world: DiscordWorld, discord_bot: DiscordBot
) -> None:
    interaction = await discord_world.alice.invoke("schedule", channel=discord_world.general, group="3.2")

    response = await interaction.wait_for_response()
    assert response.type == CallbackType.CHANNEL_MESSAGE
    assert not response.ephemeral
    message = known(interaction.original)
    embed = known(message.embed)
    assert embed["title"] == "Київ · Черга 3.2"
    assert "Зараз світло є. Відключення о 08:00, через 2 години." in embed["description"]
    assert "Оновлено ДТЕК: 23.11.2026 07:30" in embed["description"]
    assert field_names(message) == ["Сьогодні, пн 23.11", "Завтра, вт 24.11"]
    assert embed["image"]["url"] == "attachment://schedule.png"
    [picture] = message.attachments
    assert (picture.filename, picture.content_type) == ("schedule.png", "image/png")
    assert picture.data.startswith(PNG)
    assert [button["label"] for button in message.buttons] == [
        "🔄 Оновити",
        "📅 Тиждень",
        "Сьогодні",
        "Завтра",
    ]
    assert [button["custom_id"] for button in message.buttons][1] == "sv:kem:GPV3.2:week"


async def test_a_day_button_edits_the_same_message(
    discord_world: DiscordWorld, discord_bot: DiscordBot
) -> None:
    alice, general = discord_world.alice, discord_world.general
    interaction = await alice.invoke("schedule", channel=general, group="3.2")
    await interaction.wait_for_response()
    message = known(interaction.original)
    first_picture = message.attachments[0].data

    press = await alice.press(message, "Завтра")

    assert (await press.wait_for_response()).type == CallbackType.UPDATE_MESSAGE
    assert press.original is message
    assert general.messages == [message]
    assert message.edit_count == 1
    assert field_names(message) == ["Завтра, вт 24.11"]
    [picture] = message.attachments  # the new picture replaced the old one
    assert picture.data.startswith(PNG)
    assert picture.data != first_picture

    week = await alice.press(message, "📅 Тиждень")
    await week.wait_for_response()
    assert field_names(message)[0] == "Понеділок"
    assert general.messages == [message]
    assert message.edit_count == 2


async def test_interactions_are_counted_by_type(discord_world: DiscordWorld, discord_bot: DiscordBot) -> None:
    interaction = await discord_world.alice.invoke("schedule", channel=discord_world.general, group="3.2")
    await interaction.wait_for_response()
    press = await discord_world.alice.press(known(interaction.original), "Завтра")
    await press.wait_for_response()
    metrics = discord_bot.ctx.metrics
    assert sample(metrics, "dtek_updates_total", kind="application_command") == 1
    assert sample(metrics, "dtek_updates_total", kind="component") == 1


async def test_week_and_english_answers(discord_world: DiscordWorld, discord_bot: DiscordBot) -> None:
    interaction = await discord_world.bob.invoke("week", channel=discord_world.general, group="GPV3.2")
    await interaction.wait_for_response()
    message = known(interaction.original)
    embed = known(message.embed)
    assert embed["title"] == "Kyiv · Черга 3.2"
    assert "Weekly plan of possible outages" in embed["description"]
    assert field_names(message)[:2] == ["Monday", "Tuesday"]
    assert message.buttons[0]["label"] == "🔄 Refresh"

    day = await discord_world.bob.invoke(
        "schedule", channel=discord_world.general, group="3.2", day="tomorrow"
    )
    await day.wait_for_response()
    assert field_names(known(day.original)) == ["Tomorrow, Tue 24.11"]


async def test_an_unknown_group_is_an_ephemeral_error_listing_the_valid_ones(
    discord_world: DiscordWorld, discord_bot: DiscordBot
) -> None:
    interaction = await discord_world.alice.invoke("schedule", channel=discord_world.general, group="9.9")

    response = await interaction.wait_for_response()
    assert response.ephemeral
    message = known(interaction.original)
    assert message.visible_to == discord_world.alice.id
    assert message.content.startswith("Невідома черга «9.9». Доступні черги: 1.1, 1.2, 2.1")
    assert message.embeds == []

    english = await discord_world.bob.invoke("schedule", channel=discord_world.general, group="99")
    assert (await english.wait_for_response()).ephemeral
    assert known(english.original).content.startswith("Unknown group “99”. Valid groups: 1.1, 1.2")


@pytest.mark.parametrize(
    "odd",
    ["3" * 6000, "3.2\u202e\x00\x07' OR 1=1; DROP TABLE user_groups; --", "\n\t"],
    ids=["6000-characters", "controls-and-sql", "only-whitespace"],
)
async def test_odd_option_text_gets_a_clear_answer_and_nothing_is_stored(
    discord_world: DiscordWorld, discord_bot: DiscordBot, odd: str
) -> None:
    for command in ("schedule", "setgroup"):
        interaction = await discord_world.alice.invoke(command, channel=discord_world.general, group=odd)
        assert (await interaction.wait_for_response()).ephemeral
        answer = known(interaction.original).content
        assert answer.startswith("Невідома черга «")
        assert len(answer) < 400
        assert not any(ord(c) < 32 or c == "\u202e" for c in answer)
    assert await discord_bot.ctx.db.user_groups(str(discord_world.alice.id)) == {}


async def test_group_autocomplete_offers_at_most_25_matching_choices(
    discord_world: DiscordWorld, discord_bot: DiscordBot
) -> None:
    alice, general = discord_world.alice, discord_world.general

    everything = await alice.autocomplete("schedule", "group", "", channel=general)
    choices = (await everything.wait_for_response()).choices
    assert len(choices) == 25  # of 28 groups
    assert choices[:2] == [{"name": "Черга 1.1", "value": "1.1"}, {"name": "Черга 1.2", "value": "1.2"}]

    typed = await alice.autocomplete("setgroup", "group", "Черга 3.", channel=general)
    assert (await typed.wait_for_response()).choices == [
        {"name": "Черга 3.1", "value": "3.1"},
        {"name": "Черга 3.2", "value": "3.2"},
        {"name": "Черга 13.1", "value": "13.1"},  # containing it after starting with it
        {"name": "Черга 13.2", "value": "13.2"},
    ]
    ones = await alice.autocomplete("week", "group", "1", channel=general)
    values = [choice["value"] for choice in (await ones.wait_for_response()).choices]
    assert values[:4] == ["1.1", "1.2", "10.1", "10.2"]
    assert all("1" in value for value in values)


# --- saved groups, /status, failures -----------------------------------------------------------------------


async def test_setgroup_then_schedule_without_a_group(
    discord_world: DiscordWorld, discord_bot: DiscordBot
) -> None:
    alice, general = discord_world.alice, discord_world.general
    nothing = await alice.invoke("schedule", channel=general)
    assert (await nothing.wait_for_response()).ephemeral
    assert known(nothing.original).content.startswith("Яка черга?")
    empty = await alice.invoke("mygroup", channel=general)
    await empty.wait_for_response()
    assert known(empty.original).content.startswith("Збереженої черги ще немає")

    saved = await alice.invoke("setgroup", channel=general, group="4.1")
    assert (await saved.wait_for_response()).ephemeral
    assert known(saved.original).content.startswith("✅ Збережено: Київ, 4.1.")
    again = await alice.invoke("setgroup", channel=general, group="Черга 3.2")  # one group per region
    await again.wait_for_response()

    mine = await alice.invoke("mygroup", channel=general)
    await mine.wait_for_response()
    assert known(mine.original).content == "Ваша збережена черга: Київ 3.2."
    shown = await alice.invoke("schedule", channel=general)
    await shown.wait_for_response()
    assert known(known(shown.original).embed)["title"] == "Київ · Черга 3.2"
    assert await discord_bot.ctx.db.user_groups(str(alice.id)) == {"kem": "GPV3.2"}


async def test_status_tells_mode_age_update_time_and_freshness(
    discord_world: DiscordWorld, discord_bot: DiscordBot
) -> None:
    interaction = await discord_world.alice.invoke("status", channel=discord_world.general)

    assert (await interaction.wait_for_response()).ephemeral
    assert known(interaction.original).content == (
        "Режим: спільна база сервісу розкладів. Дані отримано: 0 хвилин тому."
        " Оновлено ДТЕК: 23.11.2026 07:30. Дані актуальні."
    )


async def test_a_failing_handler_is_logged_and_apologised_for_and_the_bot_goes_on(
    discord_world: DiscordWorld,
    discord_bot: DiscordBot,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    db = discord_bot.ctx.db
    working = db.user_groups

    async def broken(user_id: str) -> Any:
        monkeypatch.setattr(db, "user_groups", working)  # fails once
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(db, "user_groups", broken)
    alice, general = discord_world.alice, discord_world.general
    with caplog.at_level(logging.ERROR, logger="discord_bot"):
        failed = await alice.invoke("schedule", channel=general, group="3.2")
        assert (await failed.wait_for_response()).ephemeral
    assert known(failed.original).content == "Вибачте, сталася помилка. Спробуйте ще раз."
    assert "disk on fire" in caplog.text

    works = await alice.invoke("schedule", channel=general, group="3.2")
    assert not (await works.wait_for_response()).ephemeral


# --- configuration errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        (None, "DISCORD_TOKEN: Field required"),
        ("my-secret-but-wrong", "DISCORD_TOKEN: Value error, is not a bot token"),
    ],
    ids=["missing", "malformed"],
)
def test_a_missing_or_malformed_token_is_one_line_and_exit_code_2(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    token: str | None,
    problem: str,
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    if token is None:
        monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    else:
        monkeypatch.setenv("DISCORD_TOKEN", token)

    assert main() == 2

    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: invalid settings: ")
    assert problem in err
    assert "my-secret" not in err
    assert "Traceback" not in err


def test_a_database_url_not_understood_is_one_line_and_exit_code_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.setenv("DATABASE_URL", "postgresql://user:pass@host/db")

    assert main() == 2

    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert "SQLite" in err
    assert "Traceback" not in err


async def test_a_token_discord_refuses_stops_the_bot_with_login_failure(
    discord_fake: FakeDiscord, discord_shared: SharedDb, tmp_path: Path
) -> None:
    settings = discord_settings(discord_fake, tmp_path, schedule_db_url=str(discord_shared[1]))
    revoked = settings.model_copy(update={"discord_token": SecretStr(TOKEN.replace("fake", "gone"))})

    with pytest.raises(discord.LoginFailure):  # main() turns it into one line and exit code 2
        await run(revoked, now=Clock(NOW))

    assert discord_fake.syncs == []


def test_the_program_with_a_malformed_token_says_so_in_one_line_and_exits_with_2(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DISCORD_", "DATABASE_"))}
    env["DISCORD_TOKEN"] = "Bot my-secret-but-wrong"
    done = subprocess.run(
        [sys.executable, "-m", "discord_bot"],
        cwd=tmp_path,  # no .env there
        env=env | {"PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: invalid settings: DISCORD_TOKEN: Value error, is not a bot token")
    assert done.stderr.count("\n") == 1
    assert "my-secret" not in done.stderr
    assert not (tmp_path / "data").exists()  # nothing opened


# --- what DTEK announces -----------------------------------------------------------------------------------


async def test_dteks_announcement_and_a_weekly_plan_not_in_force(
    discord_fake: FakeDiscord, discord_world: DiscordWorld, discord_shared: SharedDb, tmp_path: Path
) -> None:
    writer, path = discord_shared
    schedule = (await stored_kem(path)).schedule
    notices = PageNotices(
        "Стабілізаційні відключення скасовано.\nДякуємо за розуміння!", {"showTablePlan": False}
    )
    await writer.save(schedule, streets=None, fetched_at=NOW, duration_seconds=1.0, notices=notices)
    settings = discord_settings(discord_fake, tmp_path, schedule_db_url=str(path))
    async with start_bot(settings, Clock(NOW)):
        alice, general = discord_world.alice, discord_world.general
        week = await alice.invoke("week", channel=general, group="3.2")
        await week.wait_for_response()
        description = known(known(week.original).embed)["description"]
        assert "Тижневий план можливих відключень — не діє зараз" in description
        assert "ДТЕК зараз не показує тижневий план" in description

        day = await alice.invoke("schedule", channel=general, group="3.2")
        await day.wait_for_response()
        description = known(known(day.original).embed)["description"]
        assert "📢 ДТЕК: Стабілізаційні відключення скасовано." in description
        assert "Повний текст — у /status." in description

        status = await alice.invoke("status", channel=general)
        await status.wait_for_response()
        content = known(status.original).content
        assert "⚠️ Київ: тижневий план ДТЕК не діє зараз." in content
        assert (
            "📢 Оголошення ДТЕК (Київ, з 23.11.2026 06:00):\nСтабілізаційні відключення скасовано.\nДякуємо за розуміння!"
            in content
        )
