"""Abuse of the Discord bot end to end: a flooding user is throttled without slowing the others, a throttled
button press is refused too, and an option Discord would not offer (another server's channel) gets a clear
answer instead of an apology.

Already covered elsewhere: unknown groups, SQL fragments, 6,000-character and control-character options
(test_discord_bot.py::test_odd_option_text_gets_a_clear_answer_and_nothing_is_stored,
test_discord_channels.py::test_an_unknown_group_lists_the_valid_ones_and_nothing_is_stored), a member
without Manage Channels (test_discord_channels.py::test_a_member_without_manage_channels_is_refused).
"""

from __future__ import annotations

import statistics
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from discord_bot.bot import DiscordBot
from tests.discord_harness import DiscordWorld, discord_settings, start_bot
from tests.fakes.discord import FakeDiscord, FakeInteraction
from tests.known import known
from tests.metrics_helpers import sample
from tests.telegram_harness import NOW, FrozenClock, SharedDb

pytestmark = pytest.mark.e2e

BURST = 10  # USER_RATE_LIMIT_BURST's default; 20 a minute refill one every 3 s
TOO_MANY = "Забагато запитів. Зачекайте 3 с і спробуйте знову."
NO_SAVED = "Збереженої черги ще немає"
MANAGE_CHANNELS = 1 << 4
BAD_OPTION = "Цей параметр тут не підходить. Оберіть значення зі списку, який пропонує Discord."


@pytest.fixture
async def frozen_bot(
    discord_fake: FakeDiscord, discord_world: DiscordWorld, discord_shared: SharedDb, tmp_path: Path
) -> AsyncIterator[tuple[DiscordBot, FrozenClock]]:
    clock = FrozenClock(NOW)
    settings = discord_settings(discord_fake, tmp_path, schedule_db_url=str(discord_shared[1]))
    async with start_bot(settings, clock) as bot:
        yield bot, clock


async def reply(interaction: FakeInteraction) -> str:
    """The bot's ephemeral answer."""
    response = await interaction.wait_for_response(timeout=15)
    assert response.ephemeral, response.data
    return known(interaction.original).content


async def test_a_flooding_user_is_throttled_and_the_others_are_answered_promptly(
    discord_fake: FakeDiscord, discord_world: DiscordWorld, frozen_bot: tuple[DiscordBot, FrozenClock]
) -> None:
    bot, clock = frozen_bot
    flooder, general = discord_world.alice, discord_world.general
    others = [discord_fake.user(f"user{n}") for n in range(10)]
    for other in others:
        discord_world.guild.add_member(other)
    floods: list[FakeInteraction] = []
    theirs: list[FakeInteraction] = []
    for n in range(100):  # 100 commands within a second, the others' among them
        floods.append(await flooder.invoke("mygroup", channel=general))
        if n % 10 == 5:
            theirs.append(await others[n // 10].invoke("mygroup", channel=general))

    for interaction in theirs:
        assert (await reply(interaction)).startswith(NO_SAVED)
    latencies = [known(interaction.response).at - interaction.created for interaction in theirs]
    answers = [await reply(interaction) for interaction in floods]
    assert sum(answer.startswith(NO_SAVED) for answer in answers) == BURST
    assert answers.count(TOO_MANY) == 100 - BURST  # each one answered: Discord shows a failure otherwise
    assert sample(bot.ctx.metrics, "dtek_requests_throttled_total") == 100 - BURST
    print(
        f"\nothers' latency during a flood of 100 commands: median {statistics.median(latencies) * 1000:.0f} ms,"
        f" max {max(latencies) * 1000:.0f} ms"
    )
    assert max(latencies) < 10  # generous: the machine may be busy; the point is they were all answered

    clock.set(NOW + timedelta(seconds=3))  # one request's worth refilled
    assert (await reply(await flooder.invoke("mygroup", channel=general))).startswith(NO_SAVED)


async def test_a_throttled_button_press_is_refused_and_autocomplete_still_works(
    discord_world: DiscordWorld, frozen_bot: tuple[DiscordBot, FrozenClock]
) -> None:
    alice, bob, general = discord_world.alice, discord_world.bob, discord_world.general
    shown = await bob.invoke("schedule", channel=general, group="3.2")
    await shown.wait_for_response()
    message = known(shown.original)
    for _ in range(BURST):
        await reply(await alice.invoke("mygroup", channel=general))

    press = await alice.press(message, custom_id="sv:kem:GPV3.2:tomorrow")
    assert await reply(press) == TOO_MANY
    assert message.edit_count == 0
    typed = await alice.autocomplete("schedule", "group", "3.", channel=general)
    assert (await typed.wait_for_response()).choices  # typing is not counted


async def test_another_servers_channel_is_refused_and_nothing_is_stored(
    discord_fake: FakeDiscord, discord_world: DiscordWorld, frozen_bot: tuple[DiscordBot, FrozenClock]
) -> None:
    bot, _ = frozen_bot
    guild = discord_world.guild
    mod = discord_fake.user("moderator")
    guild.add_member(mod, guild.role("Модератори", MANAGE_CHANNELS))
    elsewhere = discord_fake.guild("Чужий сервер").text_channel("outages")
    for command in ("subscribe-channel", "unsubscribe-channel"):
        interaction = await mod.invoke(
            command, channel=discord_world.general, group="3.2", options={"channel": elsewhere}
        )
        assert await reply(interaction) == BAD_OPTION
    assert await bot.ctx.db.channel_subscriptions(str(guild.id)) == []
    assert await bot.ctx.db.channel_subscriptions(str(known(elsewhere.guild).id)) == []
