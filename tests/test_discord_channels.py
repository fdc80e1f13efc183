"""Server channel subscriptions end to end (discord_bot/cogs/channels.py): the real discord.py bot against the
fake Discord and a real shared schedule DB, on an injected clock (tests/discord_harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from common.dtek.fake_site import sample_schedule
from common.notices import PageNotices
from discord_bot.bot import DiscordBot
from discord_bot.delivery import channel_recipient
from tests.discord_harness import GROUPS, NOW, TODAY, Clock, DiscordWorld, discord_settings, start_bot
from tests.fakes.discord import FakeChannel, FakeDiscord, FakeGuild, FakeInteraction, FakeRole, FakeUser
from tests.known import known
from tests.telegram_harness import SharedDb, publish, with_day
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e  # the bot against a fake Discord (see tests/conftest.py)

MANAGE_CHANNELS = 1 << 4
POST = "POST /channels/{channel_id}/messages"
# 3.2 loses power 14:00-16:00 and gains it 08:00-11:30 today.
CHANGED = "+" * 28 + "-" * 4 + "+" * 16


@dataclass
class Server:
    """The harness's world plus what channel subscriptions need, all made before the bot connects: a
    moderator with Manage Channels, a role to mention, a channel the bot may not post in, and a second
    server, in English, with its own moderator."""

    world: DiscordWorld
    mod: FakeUser
    role: FakeRole
    news: FakeChannel
    closed: FakeChannel
    other: FakeGuild
    other_channel: FakeChannel
    other_mod: FakeUser

    @property
    def guild(self) -> FakeGuild:
        return self.world.guild

    @property
    def general(self) -> FakeChannel:
        return self.world.general


@pytest.fixture
def server(discord_fake: FakeDiscord, discord_world: DiscordWorld) -> Server:
    guild = discord_world.guild
    moderators = guild.role("Модератори", MANAGE_CHANNELS)
    mod = discord_fake.user("moderator", global_name="Модератор")
    guild.add_member(mod, moderators)
    other = discord_fake.guild("Office", locale="en-US")
    other_mod = discord_fake.user("office-admin", locale="en-US")
    other.add_member(other_mod, other.role("Admins", MANAGE_CHANNELS))
    return Server(
        world=discord_world,
        mod=mod,
        role=guild.role("Черга 3.2"),
        news=guild.text_channel("новини"),
        closed=guild.text_channel("оголошення", bot_can_send=False),
        other=other,
        other_channel=other.text_channel("outages"),
        other_mod=other_mod,
    )


@pytest.fixture
async def bot(
    discord_fake: FakeDiscord, server: Server, discord_shared: SharedDb, tmp_path: Path
) -> AsyncIterator[DiscordBot]:
    """The bot in shared mode, checking the shared DB every 0.1 s; returns once it has seen the data."""
    settings = discord_settings(discord_fake, tmp_path, schedule_db_url=str(discord_shared[1]))
    settings = settings.model_copy(update={"watch_interval_seconds": 0.1})
    async with start_bot(settings, Clock(NOW)) as started:
        # The first pass records the baseline silently: a change published before it would go unnoticed.
        await wait_until(lambda: baseline_recorded(started))
        yield started


async def baseline_recorded(bot: DiscordBot) -> bool:
    return await bot.ctx.db.load_baseline("kem") is not None


async def answer(interaction: FakeInteraction) -> str:
    """The bot's ephemeral answer to the interaction."""
    response = await interaction.wait_for_response()
    assert response.ephemeral, f"not ephemeral: {response.data}"
    return known(interaction.original).content


async def publish_change(shared: SharedDb) -> None:
    writer, _ = shared
    await publish(writer, with_day(sample_schedule("kem", TODAY, groups=GROUPS), TODAY, "GPV3.2", CHANGED))


async def outbox_drained(bot: DiscordBot) -> bool:
    counts = await bot.ctx.db.outbox_counts()
    return counts["pending"] == 0 and counts["sent"] + counts["dead"] > 0


# --- commands ---------------------------------------------------------------------------------------------


async def test_the_commands_are_for_servers_and_members_with_manage_channels(
    discord_fake: FakeDiscord, bot: DiscordBot
) -> None:
    for name, uk in [
        ("subscribe-channel", "підписати-канал"),
        ("unsubscribe-channel", "відписати-канал"),
        ("subscriptions", "підписки"),
    ]:
        command = known(discord_fake.command(name))
        assert command["name_localizations"] == {"uk": uk}
        assert command["default_member_permissions"] == str(MANAGE_CHANNELS)
        assert command["contexts"] == [0]  # guilds only
    subscribe = known(discord_fake.command("subscribe-channel"))
    options = {option["name"]: option for option in subscribe["options"]}
    assert list(options) == ["group", "channel", "role", "news"]
    assert options["group"]["autocomplete"]
    assert options["group"]["required"]
    assert options["channel"]["name_localizations"] == {"uk": "канал"}
    assert options["channel"]["channel_types"] == [0, 5]  # text and announcement channels
    assert options["role"]["name_localizations"] == {"uk": "роль"}
    assert options["news"]["name_localizations"] == {"uk": "оголошення"}
    assert not options["news"].get("required")


async def test_subscribe_channel_then_a_change_is_posted_once_as_an_embed_mentioning_the_role(
    discord_fake: FakeDiscord, server: Server, discord_shared: SharedDb, bot: DiscordBot
) -> None:
    # The channel defaults to the one the command is typed in.
    interaction = await server.mod.invoke(
        "subscribe-channel", channel=server.general, group="3.2", role=server.role
    )
    assert await answer(interaction) == (
        f"✅ <#{server.general.id}> отримуватиме зміни графіка: Київ, черга 3.2. Згадка: <@&{server.role.id}>."
    )
    assert known(interaction.original).visible_to == server.mod.id

    await publish_change(discord_shared)
    notice = await server.general.wait_for_message(lambda message: bool(message.embeds))
    await wait_until(lambda: outbox_drained(bot))

    assert notice.content == f"<@&{server.role.id}>"
    embed = known(notice.embed)
    assert "Графік змінився" in embed["title"]  # the server's preferred locale is Ukrainian
    posts = [message for message in server.general.messages if message.embeds]
    assert posts == [notice]  # once
    [request] = discord_fake.requests_to(POST)
    assert request.body["allowed_mentions"] == {"parse": [], "roles": [server.role.id]}
    assert await bot.ctx.db.outbox_counts() == {"pending": 0, "sent": 1, "dead": 0}
    assert server.news.messages == []
    assert server.other_channel.messages == []


async def test_an_english_server_gets_english_posts_without_a_mention(
    server: Server, discord_shared: SharedDb, bot: DiscordBot
) -> None:
    interaction = await server.other_mod.invoke(
        "subscribe-channel", channel=server.other_channel, group="3.2"
    )
    assert await answer(interaction) == (
        f"✅ <#{server.other_channel.id}> will get the schedule changes of Kyiv, group 3.2. Mention: none."
    )
    recipient = known(await bot.ctx.db.get_recipient(channel_recipient(server.other_channel.id)))
    assert recipient.lang == "en"

    await publish_change(discord_shared)
    notice = await server.other_channel.wait_for_message(lambda message: bool(message.embeds))
    assert notice.content == ""
    assert "changed" in known(notice.embed)["title"].lower()


async def test_a_member_without_manage_channels_is_refused(server: Server, bot: DiscordBot) -> None:
    alice = server.world.alice
    with pytest.raises(AssertionError, match="lacks the permissions"):  # Discord hides the command
        await alice.invoke("subscribe-channel", channel=server.general, group="3.2")
    # A server's admins may open a command to anyone; the bot checks the permission itself.
    server.guild.allow_command("subscribe-channel", alice)
    server.guild.allow_command("subscriptions", alice)

    refused = await alice.invoke("subscribe-channel", channel=server.general, group="3.2")
    assert "«Керувати каналами»" in await answer(refused)
    listing = await alice.invoke("subscriptions", channel=server.general)
    assert "«Керувати каналами»" in await answer(listing)
    assert await bot.ctx.db.channel_subscriptions(str(server.guild.id)) == []


async def test_a_channel_the_bot_cannot_post_in_is_refused_with_the_reason(
    server: Server, bot: DiscordBot
) -> None:
    interaction = await server.mod.invoke(
        "subscribe-channel", channel=server.general, group="3.2", options={"channel": server.closed}
    )
    assert await answer(interaction) == (
        f"Я не можу публікувати в <#{server.closed.id}>: мені там бракує дозволу «Надсилати повідомлення»."
        " Надайте його й спробуйте ще раз."
    )
    # Typed in the channel itself, too.
    here = await server.mod.invoke("subscribe-channel", channel=server.closed, group="3.2")
    assert "Надсилати повідомлення" in await answer(here)
    assert await bot.ctx.db.channel_subscriptions(str(server.guild.id)) == []
    assert await bot.ctx.db.get_recipient(channel_recipient(server.closed.id)) is None


async def test_an_unknown_group_lists_the_valid_ones_and_nothing_is_stored(
    server: Server, bot: DiscordBot
) -> None:
    for odd in ("9.9", "3.2' OR 1=1; --\x00", "3" * 6000):
        interaction = await server.mod.invoke("subscribe-channel", channel=server.general, group=odd)
        text = await answer(interaction)
        assert text.startswith("Невідома черга «")
        assert "Доступні черги: 1.1, 1.2, 2.1" in text
    assert await bot.ctx.db.channel_subscriptions(str(server.guild.id)) == []


async def test_the_group_option_autocompletes(server: Server, bot: DiscordBot) -> None:
    interaction = await server.mod.autocomplete("subscribe-channel", "group", "3.", channel=server.general)
    choices = (await interaction.wait_for_response()).choices
    assert [choice["value"] for choice in choices][:2] == ["3.1", "3.2"]
    assert len(choices) <= 25


async def test_subscriptions_lists_the_servers_channels_and_unsubscribe_removes_one(
    server: Server, bot: DiscordBot
) -> None:
    mod = server.mod
    empty = await mod.invoke("subscriptions", channel=server.general)
    assert await answer(empty) == (
        "Жоден канал цього сервера ще не підписаний. Додайте підписку командою /підписати-канал."
    )
    for channel, group, role in [
        (server.general, "3.2", server.role),
        (server.general, "1.1", None),
        (server.news, "3.2", None),
    ]:
        options = {"channel": channel} | ({"role": role} if role is not None else {})
        subscribing = await mod.invoke("subscribe-channel", options, channel=server.general, group=group)
        assert (await answer(subscribing)).startswith("✅")
    again = await mod.invoke("subscribe-channel", channel=server.general, group="1.1")
    assert (await answer(again)).startswith(
        f"<#{server.general.id}> уже отримує зміни графіка: Київ, черга 1.1."
    )
    await answer(
        await server.other_mod.invoke("subscribe-channel", channel=server.other_channel, group="2.1")
    )

    listing = await mod.invoke("subscriptions", channel=server.news)
    general, news = f"<#{server.general.id}>", f"<#{server.news.id}>"
    lines = (await answer(listing)).splitlines()
    assert lines[0] == "Підписки каналів цього сервера:"
    assert sorted(lines[1:]) == sorted(
        [
            f"{general} — Київ, черга 1.1",
            f"{general} — Київ, черга 3.2, згадує <@&{server.role.id}>",
            f"{news} — Київ, черга 3.2",
        ]
    )  # the other server's subscription is not listed

    leaving = await mod.invoke("unsubscribe-channel", channel=server.general, group="3.2")
    assert await answer(leaving) == f"{general} більше не отримуватиме змін графіка: Київ, черга 3.2."
    twice = await mod.invoke("unsubscribe-channel", channel=server.general, group="3.2")
    assert await answer(twice) == f"{general} не підписаний на зміни графіка: Київ, черга 3.2."
    db = bot.ctx.db
    assert await db.subscriptions(channel_recipient(server.general.id)) == [("kem", "GPV1.1")]
    assert await db.mention_role(channel_recipient(server.general.id), "kem", "GPV3.2") is None


# --- delivery failures and leaving a server ----------------------------------------------------------------


async def test_forbidden_on_a_post_deactivates_the_channel_and_keeps_its_subscription(
    server: Server, discord_shared: SharedDb, bot: DiscordBot
) -> None:
    db, recipient = bot.ctx.db, channel_recipient(server.news.id)
    await answer(await server.mod.invoke("subscribe-channel", channel=server.news, group="3.2"))
    await answer(await server.mod.invoke("subscribe-channel", channel=server.general, group="3.2"))
    server.news.bot_can_send = False  # the bot's permission to post there was taken away afterwards

    await publish_change(discord_shared)
    await server.general.wait_for_message(lambda message: bool(message.embeds))

    async def deactivated() -> bool:
        return not known(await db.get_recipient(recipient)).active

    await wait_until(deactivated)
    found = known(await db.get_recipient(recipient))
    assert "the bot may not post in the channel" in known(found.deactivated_reason)
    assert await db.subscriptions(recipient) == [("kem", "GPV3.2")]  # kept
    listing = await server.mod.invoke("subscriptions", channel=server.general)
    assert f"<#{server.news.id}> — Київ, черга 3.2 — ⚠️ призупинено" in await answer(listing)
    # Subscribing again (permissions fixed) makes the channel active again.
    server.news.bot_can_send = True
    await answer(await server.mod.invoke("subscribe-channel", channel=server.news, group="3.2"))
    assert known(await db.get_recipient(recipient)).active


async def test_removing_the_bot_from_a_server_deletes_its_subscriptions(
    discord_fake: FakeDiscord, server: Server, bot: DiscordBot
) -> None:
    db = bot.ctx.db
    await answer(await server.mod.invoke("subscribe-channel", channel=server.general, group="3.2"))
    await answer(await server.mod.invoke("subscribe-channel", channel=server.news, group="1.1"))
    await answer(
        await server.other_mod.invoke("subscribe-channel", channel=server.other_channel, group="2.1")
    )

    await discord_fake.remove_from_guild(server.guild)

    async def forgotten() -> bool:
        return await db.channel_subscriptions(str(server.guild.id)) == []

    await wait_until(forgotten)
    assert await db.subscriptions(channel_recipient(server.general.id)) == []
    assert await db.subscribers("kem", "GPV1.1") == []
    [kept] = await db.channel_subscriptions(str(server.other.id))
    assert (kept.recipient_id, kept.group) == (channel_recipient(server.other_channel.id), "GPV2.1")


async def test_a_channel_with_news_gets_each_new_announcement_of_dtek_once(
    server: Server, discord_shared: SharedDb, bot: DiscordBot
) -> None:
    interaction = await server.mod.invoke(
        "subscribe-channel", channel=server.general, group="3.2", role=server.role, news=True
    )
    assert (await answer(interaction)).endswith(
        "\n📢 Нові оголошення ДТЕК теж публікуватимуться тут, кожне один раз."
    )
    other = await server.other_mod.invoke("subscribe-channel", channel=server.other_channel, group="3.2")
    await answer(other)  # no news asked for there
    writer, _ = discord_shared
    schedule = sample_schedule("kem", TODAY, groups=GROUPS)

    async def announce(text: str, day_slots: str) -> None:
        changed = with_day(schedule, TODAY, "GPV3.2", day_slots)  # a new version: the bot reloads at once
        await writer.save(
            changed, streets=None, fetched_at=NOW, duration_seconds=1.0, notices=PageNotices(text, {})
        )

    await announce("Графіки діють як звичайно.", CHANGED)  # the bot's first look: recorded, not posted
    await server.general.wait_for_message(lambda message: bool(message.embeds))  # the change notice
    await wait_until(lambda: outbox_drained(bot))
    await announce("Стабілізаційні відключення скасовано.", "+" * 48)
    post = await server.general.wait_for_message(
        lambda message: any("оголошення ДТЕК" in e.get("title", "") for e in message.embeds)
    )
    await wait_until(lambda: outbox_drained(bot))
    embed = known(post.embed)
    assert embed["title"] == "📢 Нове оголошення ДТЕК: Київ"
    assert "Стабілізаційні відключення скасовано." in embed["description"]
    assert post.content == ""  # news is about no group: no role mentioned
    news_posts = [
        m for m in server.general.messages if any("оголошення ДТЕК" in e.get("title", "") for e in m.embeds)
    ]
    assert news_posts == [post]
    assert not any(
        "оголошення" in e.get("title", "").lower() for m in server.other_channel.messages for e in m.embeds
    )

    off = await server.mod.invoke("subscribe-channel", channel=server.general, group="3.2", news=False)
    assert (await answer(off)).endswith("\nОголошення ДТЕК тут не публікуватимуться.")
    assert not await bot.ctx.db.wants_news(channel_recipient(server.general.id))
