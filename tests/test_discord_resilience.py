"""The Discord bot when things go wrong around it: a crash in the middle of delivery, no shared DB (its own
scrape of the fake DTEK site), a DTEK slower than Discord's deadline for the first answer, and a stop
by SIGTERM of the real program."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common.dtek.fake_site import FakeDtekSite, sample_schedule
from common.notifications.outbox import sends_in_flight
from discord_bot.bot import DiscordBot
from discord_bot.delivery import channel_recipient
from discord_bot.settings import DiscordSettings
from tests.conftest import REPO_ROOT
from tests.discord_harness import GROUPS, NOW, TODAY, TOKEN, Clock, DiscordWorld, discord_settings, start_bot
from tests.fakes.discord import CallbackType, FakeChannel, FakeDiscord, FakeInteraction, FakeMessage
from tests.known import known
from tests.processes import Programs, base_env
from tests.telegram_harness import SharedDb, publish, with_day
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e  # the bot against a fake Discord, and once as a process

POST = "POST /channels/{channel_id}/messages"
CHANGED = "+" * 28 + "-" * 4 + "+" * 16  # 3.2: no power 14:00-16:00, power all morning
CHANNELS = 300
RATE = 250  # DISCORD_RATE_LIMIT: 300 posts in about a second


def notices(channel: FakeChannel) -> int:
    """The change notices posted in the channel."""
    return sum("Графік змінився" in str(known(message.embed).get("title")) for message in channel.messages)


async def outbox_empty(bot: DiscordBot) -> bool:
    return (await bot.ctx.db.outbox_counts())["pending"] == 0


# --- a crash in the middle of delivery ------------------------------------------------------------------


async def test_a_crash_in_the_middle_of_delivery_loses_nothing_and_repeats_at_most_the_sends_in_flight(
    discord_fake: FakeDiscord, discord_world: DiscordWorld, discord_shared: SharedDb, tmp_path: Path
) -> None:
    writer, path = discord_shared
    channels = [discord_world.guild.text_channel(f"черга-{index}") for index in range(CHANNELS)]
    settings = discord_settings(
        discord_fake,
        tmp_path,
        schedule_db_url=str(path),
        discord_rate_limit=RATE,
        watch_interval_seconds=0.1,
    )
    discord_fake.delay_answers(POST, 0.1)  # about 25 posts under way at any time
    async with start_bot(settings, Clock(NOW)) as bot:
        db, notifier = bot.ctx.db, known(bot.notifier)
        for channel in channels:
            recipient = channel_recipient(channel.id)
            await db.subscribe_channel(
                recipient, "kem", "GPV3.2", server_id=str(discord_world.guild.id), lang="uk"
            )
        await wait_until(lambda: db.load_baseline("kem"))
        await publish(
            writer, with_day(sample_schedule("kem", TODAY, groups=GROUPS), TODAY, "GPV3.2", CHANGED)
        )
        await wait_until(lambda: len(discord_fake.requests_to(POST)) >= CHANNELS // 3, timeout=20)
        # Killed: the outbox worker is cancelled with sends under way, none of them marked sent.
        await notifier.abort()
        posted_before = len(discord_fake.requests_to(POST))
        pending = (await db.outbox_counts())["pending"]
    assert posted_before < CHANNELS
    # Posts under way at the crash arrived, but their rows are still pending: they will go again.
    assert pending > CHANNELS - posted_before

    async with start_bot(settings, Clock(NOW)) as again:
        await wait_until(lambda: outbox_empty(again), timeout=30)
        assert (await again.ctx.db.outbox_counts())["dead"] == 0
    counts = [notices(channel) for channel in channels]
    assert min(counts) == 1  # nothing lost
    in_flight = sends_in_flight(RATE)  # the outbox worker's sends under way: the most a crash can cut off
    assert sum(counts) - CHANNELS <= in_flight  # repeated: only posts whose outcome the crash cut off
    assert notices(discord_world.general) == 0


# --- standalone mode and a slow DTEK ------------------------------------------------------------------


@pytest.fixture
def standalone(discord_fake: FakeDiscord, dtek: FakeDtekSite, tmp_path: Path) -> DiscordSettings:
    """No SCHEDULE_DB_URL: the bot scrapes the fake DTEK site itself."""
    return discord_settings(
        discord_fake, tmp_path, dtek_url_template=dtek.url_template, dtek_retry_attempts=1
    )


async def test_standalone_mode_answers_schedule_from_the_scraped_page(
    discord_world: DiscordWorld, dtek: FakeDtekSite, standalone: DiscordSettings
) -> None:
    async with start_bot(standalone, Clock(NOW)) as bot:
        assert bot.ctx.source.mode == "standalone"
        interaction = await discord_world.alice.invoke("schedule", channel=discord_world.general, group="3.2")
        message = await schedule_answer(interaction)
    embed = known(message.embed)
    assert embed["title"] == "Київ · Черга 3.2"
    assert "Оновлено ДТЕК: 23.11.2026 07:30" in embed["description"]
    assert embed["image"]["url"] == "attachment://schedule.png"
    [picture] = message.attachments
    assert picture.data.startswith(b"\x89PNG")
    assert dtek.hits["kem"] == 1  # one scrape, shared by the notifier's first look and the command


async def schedule_answer(interaction: FakeInteraction) -> FakeMessage:
    """The interaction's schedule message once it is filled in (at once, or after a defer)."""
    await interaction.wait_for_response()
    return await interaction.wait_for_original(lambda message: not message.loading and bool(message.embeds))


@pytest.fixture
async def slow_dtek_bot(
    discord_fake: FakeDiscord, dtek: FakeDtekSite, standalone: DiscordSettings
) -> AsyncIterator[DiscordBot]:
    """Standalone, against a DTEK that takes 1 s per page, a cache of 0.3 s and a deadline of 0.5 s for
    the first answer: every schedule answer finds the cache cold and DTEK too slow to wait for."""
    dtek.delay = 1.0
    discord_fake.interaction_deadline = 0.5
    settings = standalone.model_copy(update={"cache_duration_minutes": 0.005})
    async with start_bot(settings, Clock(NOW)) as bot:
        yield bot


async def cache_expired(bot: DiscordBot) -> bool:
    return not bot.ctx.source.at_hand("kem")


async def test_slow_dtek_schedule_and_week_defer_then_fill_in_the_answer(
    discord_fake: FakeDiscord, discord_world: DiscordWorld, slow_dtek_bot: DiscordBot
) -> None:
    alice, general = discord_world.alice, discord_world.general
    for command, options, title in [
        ("schedule", {"group": "3.2"}, "Київ · Черга 3.2"),
        ("week", {"group": "3.2"}, "Київ · Черга 3.2"),
    ]:
        await wait_until(lambda: cache_expired(slow_dtek_bot), timeout=10)
        interaction = await alice.invoke(command, options, channel=general)
        response = await interaction.wait_for_response(timeout=1)
        assert response.type == CallbackType.DEFERRED_CHANNEL_MESSAGE  # "thinking…", in time
        assert not response.ephemeral
        message = await schedule_answer(interaction)
        assert title in known(message.embed)["title"]
        assert message.attachments
        assert not message.ephemeral
        assert interaction.followups == []  # the thinking message itself became the schedule
    assert not [request for request in discord_fake.requests if request.code == 10062]


async def test_slow_dtek_button_defers_then_edits_the_message(
    discord_fake: FakeDiscord, discord_world: DiscordWorld, slow_dtek_bot: DiscordBot
) -> None:
    alice, general = discord_world.alice, discord_world.general
    first = await schedule_answer(await alice.invoke("schedule", channel=general, group="3.2"))
    edits = first.edit_count
    await wait_until(lambda: cache_expired(slow_dtek_bot), timeout=10)

    press = await alice.press(first, "Завтра")
    response = await press.wait_for_response(timeout=1)
    assert response.type == CallbackType.DEFERRED_UPDATE_MESSAGE  # in time, the message left as it is
    await wait_until(lambda: first.edit_count > edits, timeout=5)
    fields = [field["name"] for field in known(first.embed)["fields"]]
    assert fields == ["Завтра, вт 24.11"]
    assert first.attachments
    assert press.followups == []  # the same message, edited
    assert not [request for request in discord_fake.requests if request.code == 10062]


async def test_slow_dtek_unknown_group_is_still_an_ephemeral_answer(
    discord_world: DiscordWorld, slow_dtek_bot: DiscordBot
) -> None:
    await wait_until(lambda: cache_expired(slow_dtek_bot), timeout=10)
    interaction = await discord_world.alice.invoke("schedule", channel=discord_world.general, group="99.9")
    assert (await interaction.wait_for_response(timeout=1)).type == CallbackType.DEFERRED_CHANNEL_MESSAGE
    notice = await interaction.wait_for_followup()
    assert "99.9" in notice.content
    assert notice.ephemeral
    assert notice.visible_to == discord_world.alice.id
    assert known(interaction.original).deleted  # the public "thinking…" went away


@pytest.mark.parametrize(
    ("command", "options"),
    [("setgroup", {"group": "3.2"}), ("status", {}), ("groups", {})],
)
async def test_slow_dtek_ephemeral_answers_defer_ephemerally_then_fill_in(
    discord_fake: FakeDiscord,
    discord_world: DiscordWorld,
    slow_dtek_bot: DiscordBot,
    command: str,
    options: dict[str, str],
) -> None:
    await wait_until(lambda: cache_expired(slow_dtek_bot), timeout=10)
    interaction = await discord_world.alice.invoke(command, options, channel=discord_world.general)
    response = await interaction.wait_for_response(timeout=1)
    assert response.type == CallbackType.DEFERRED_CHANNEL_MESSAGE  # "thinking…", in time
    assert response.ephemeral
    answer = await interaction.wait_for_original(timeout=5)  # filled in once DTEK answered
    assert answer.content
    assert answer.ephemeral
    assert interaction.followups == []  # the thinking message itself became the answer
    assert not [request for request in discord_fake.requests if request.code == 10062]


async def test_with_the_data_at_hand_the_answer_is_immediate(
    discord_world: DiscordWorld, dtek: FakeDtekSite, standalone: DiscordSettings
) -> None:
    async with start_bot(standalone, Clock(NOW)) as bot:
        await wait_until(lambda: bot.ctx.source.at_hand("kem"))
        interaction = await discord_world.alice.invoke("schedule", channel=discord_world.general, group="3.2")
        assert (await interaction.wait_for_response()).type == CallbackType.CHANNEL_MESSAGE


# --- SIGTERM --------------------------------------------------------------------------------------------


async def test_sigterm_stops_the_program_cleanly_with_exit_code_0(
    discord_fake: FakeDiscord, discord_world: DiscordWorld, discord_shared: SharedDb, tmp_path: Path
) -> None:
    env = base_env() | {
        "PYTHONPATH": str(REPO_ROOT),
        "DISCORD_TOKEN": TOKEN,
        "DISCORD_API_BASE": discord_fake.api_base,
        "DISCORD_GATEWAY_URL": discord_fake.gateway_url,
        "DATABASE_URL": str(tmp_path / "discord.db"),
        "SCHEDULE_DB_URL": str(discord_shared[1]),
        "DTEK_REGIONS": "kem",
    }
    async with Programs(tmp_path / "logs") as programs:
        bot = await programs.start("discord-bot", [sys.executable, "-m", "discord_bot"], env, cwd=tmp_path)
        await bot.wait_for_output("connected as", timeout=30)  # the bot's READY
        code = await bot.stop()
    text = bot.output
    assert code == 0, text
    assert "SIGTERM received: stopping" in text
    assert text.rstrip().endswith("discord_bot: stopped")
    assert "Traceback" not in text
    assert TOKEN not in text
