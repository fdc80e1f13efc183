"""The fake Discord, driven by a real discord.py ``commands.Bot`` over real HTTP and a real WebSocket."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakes.discord import (
    EPHEMERAL,
    CallbackType,
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    FakeUser,
    Intent,
    running,
)
from tests.known import known

pytestmark = pytest.mark.e2e  # the bot against a fake Discord (see tests/conftest.py)

TOKEN = "fake-token"
QUEUES = [f"{group}.{half}" for group in range(1, 7) for half in (1, 2)]

Interaction = discord.Interaction[commands.Bot]
Command = app_commands.Command[Any, ..., None]


class RefreshView(discord.ui.View):
    """A button that edits the message it is on; no timeout, so no timer task outlives the test."""

    def __init__(self, queue: str) -> None:
        super().__init__(timeout=None)
        self.queue = queue

    @discord.ui.button(label="Оновити", custom_id="refresh", style=discord.ButtonStyle.primary)
    async def refresh(self, interaction: Interaction, button: discord.ui.Button[RefreshView]) -> None:
        embed = discord.Embed(title=f"Черга {self.queue}", description="Оновлено: світло є")
        await interaction.response.edit_message(content=None, embed=embed, view=None)

    @discord.ui.select(
        custom_id="day",
        placeholder="День",
        options=[
            discord.SelectOption(label="Сьогодні", value="today"),
            discord.SelectOption(label="Завтра", value="tomorrow"),
        ],
    )
    async def day(self, interaction: Interaction, select: discord.ui.Select[RefreshView]) -> None:
        await interaction.response.defer()  # a component's defer: "deferred update", nothing shown
        await interaction.edit_original_response(content=f"День: {select.values[0]}")


def schedule_embed(queue: str) -> discord.Embed:
    embed = discord.Embed(title=f"Черга {queue}", description="Відключення 10:00–14:00", colour=0xFFA500)
    embed.add_field(name="Сьогодні", value="10:00–14:00")
    return embed


class ScheduleBot(commands.Bot):
    """A tiny bot: /schedule (autocomplete, embed, button), /picture (deferred, ephemeral, a file),
    /everything (autocomplete with too many choices)."""

    def __init__(self, intents: discord.Intents | None = None) -> None:
        # guild_ready_timeout: discord.py waits this long after the last GUILD_CREATE before on_ready (2 s
        # by default); the fake sends them all at once.
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents or discord.Intents.default(),
            guild_ready_timeout=0.05,
        )
        schedule: Command = app_commands.Command(
            name="schedule", description="Графік", callback=self.schedule
        )
        schedule.autocomplete("queue")(self.queue_choices)
        everything: Command = app_commands.Command(
            name="everything", description="Усе", callback=self.everything
        )
        everything.autocomplete("queue")(self.too_many_choices)
        picture: Command = app_commands.Command(name="picture", description="Картинка", callback=self.picture)
        for command in (schedule, picture, everything):
            self.tree.add_command(command)

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def schedule(self, interaction: Interaction, queue: str) -> None:
        await interaction.response.send_message(embed=schedule_embed(queue), view=RefreshView(queue))

    async def queue_choices(self, interaction: Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=f"Черга {q}", value=q) for q in QUEUES if q.startswith(current)]

    async def picture(self, interaction: Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send(
            "Ось графік", file=discord.File(io.BytesIO(b"PNG-BYTES"), "schedule.png")
        )
        await interaction.followup.send("І ще одне", ephemeral=True)

    async def everything(self, interaction: Interaction, queue: str) -> None:
        await interaction.response.send_message(queue)

    async def too_many_choices(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=f"Варіант {n}", value=str(n)) for n in range(30)]


# --- Fixtures -------------------------------------------------------------------------------------------


def _keep_alive_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("keep-alive-handler") and t.is_alive()]


@pytest.fixture(autouse=True)
async def nothing_left_running() -> AsyncIterator[None]:
    """Runs teardown last: no task of discord.py or the fake, nor a heartbeat thread, outlives a test."""
    yield
    deadline = time.monotonic() + 2
    current = asyncio.current_task()
    tasks: list[asyncio.Task[Any]] = []
    while time.monotonic() < deadline:
        tasks = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
        if not tasks and not _keep_alive_threads():
            return
        await asyncio.sleep(0.02)
    assert not tasks, f"tasks left running: {tasks}"
    assert not _keep_alive_threads(), "discord.py's heartbeat thread outlived the bot"


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


class World:
    """One guild with a channel the bot may post in and one where it may not; users with open and closed
    DMs."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.guild: FakeGuild = fake.guild("DTEK Київ")
        self.general: FakeChannel = self.guild.text_channel("general")
        self.readonly: FakeChannel = self.guild.text_channel("оголошення", bot_can_send=False)
        self.alice: FakeUser = fake.user("alice", global_name="Аліса")
        self.bob: FakeUser = fake.user("bob", dms_open=False)
        self.guild.add_member(self.alice)
        self.guild.add_member(self.bob)


@pytest.fixture
def world(fake: FakeDiscord) -> World:
    return World(fake)


@pytest.fixture
async def bot(fake: FakeDiscord, world: World) -> AsyncIterator[commands.Bot]:
    async with running(ScheduleBot(), TOKEN) as started:
        yield started


# --- Connecting -------------------------------------------------------------------------------------------


async def test_bot_reaches_ready_with_the_guild_and_syncs_its_commands(
    fake: FakeDiscord, world: World, bot: commands.Bot
) -> None:
    guild = known(bot.get_guild(world.guild.id))
    assert guild.name == "DTEK Київ"
    assert [channel.name for channel in guild.text_channels] == ["general", "оголошення"]
    assert guild.default_role.id == world.guild.id
    me = guild.me
    assert me.id == fake.application_id
    assert guild.get_channel(world.general.id).permissions_for(me).send_messages  # type: ignore[union-attr]
    assert not guild.get_channel(world.readonly.id).permissions_for(me).send_messages  # type: ignore[union-attr]

    [sync] = fake.syncs
    assert sync.guild_id is None  # tree.sync() without a guild: global commands
    assert sorted(command["name"] for command in sync.commands) == ["everything", "picture", "schedule"]
    schedule = known(fake.command("schedule"))
    option = schedule["options"][0]
    assert (option["name"], option["required"], option["autocomplete"]) == ("queue", True, True)

    # The gateway: discord.py's query string, one IDENTIFY with the default intents, heartbeats acked.
    [query] = fake.gateway_queries
    assert (query["v"], query["encoding"]) == ("10", "json")
    assert query["compress"] in ("zlib-stream", "zstd-stream")
    [identify] = fake.identifies
    assert identify["token"] == TOKEN
    assert identify["intents"] == discord.Intents.default().value
    assert not identify["intents"] & Intent.PRIVILEGED
    assert fake.heartbeats >= 1  # discord.py beats once at HELLO
    routes = [request.route for request in fake.requests]
    assert routes[:3] == [
        "GET /users/@me",
        "GET /oauth2/applications/@me",
        "PUT /applications/{application_id}/commands",
    ]


async def test_wrong_token_fails_login(fake: FakeDiscord) -> None:
    bot = ScheduleBot()
    with pytest.raises(discord.LoginFailure):
        await bot.login("stolen-token")
    await bot.close()
    assert [request.status for request in fake.requests] == []  # refused before the log


async def test_privileged_intents_not_enabled_close_the_gateway_with_4014(
    fake: FakeDiscord, world: World
) -> None:
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with running(ScheduleBot(intents=discord.Intents.all()), TOKEN):
            pass


async def test_members_intent_gets_members_and_chunks() -> None:
    async with FakeDiscord(privileged_intents=Intent.GUILD_MEMBERS) as server:
        guild = server.guild("Другий")
        guild.text_channel("chat")
        member = server.user("carol")
        guild.add_member(member)
        intents = discord.Intents.default()
        intents.members = True
        # chunk_guilds_at_startup follows the members intent: discord.py asks for the members (op 8).
        async with running(ScheduleBot(intents=intents), TOKEN) as started:
            cached = known(started.get_guild(guild.id))
            assert {m.name for m in cached.members} == {"DTEK Bot", "owner", "carol"}
            assert cached.chunked


async def test_reconnect_resumes_the_session(fake: FakeDiscord, world: World, bot: commands.Bot) -> None:
    resumed = asyncio.Event()

    async def on_resumed() -> None:
        resumed.set()

    bot.add_listener(on_resumed)

    await fake.request_reconnect()

    await asyncio.wait_for(resumed.wait(), 5)
    [resume] = fake.resumes
    assert resume["token"] == TOKEN
    assert resume["seq"] >= 2  # READY and GUILD_CREATE were seen
    assert len(fake.identifies) == 1  # resumed, not identified again
    interaction = await world.alice.invoke("schedule", channel=world.general, queue="1.1")
    assert (await interaction.wait_for_response()).type == CallbackType.CHANNEL_MESSAGE


# --- Slash commands, autocomplete, buttons ----------------------------------------------------------------


async def test_autocomplete_then_command_answers_with_embed_and_button(
    fake: FakeDiscord, world: World, bot: commands.Bot
) -> None:
    alice, general = world.alice, world.general

    typing = await alice.autocomplete("schedule", "queue", "3.", channel=general)
    choices = (await typing.wait_for_response()).choices
    assert choices == [{"name": "Черга 3.1", "value": "3.1"}, {"name": "Черга 3.2", "value": "3.2"}]
    assert (await typing.wait_for_response()).type == CallbackType.AUTOCOMPLETE_RESULT

    interaction = await alice.invoke("schedule", channel=general, queue="3.2")
    response = await interaction.wait_for_response()
    assert response.type == CallbackType.CHANNEL_MESSAGE
    assert not response.ephemeral
    message = known(interaction.original)
    assert message in general.messages
    assert known(message.embed)["title"] == "Черга 3.2"
    assert known(message.embed)["fields"] == [{"name": "Сьогодні", "value": "10:00–14:00", "inline": True}]
    assert [(b["label"], b["custom_id"]) for b in message.buttons] == [("Оновити", "refresh")]
    assert message.interaction is interaction

    press = await alice.press(message, "Оновити")
    update = await press.wait_for_response()

    assert update.type == CallbackType.UPDATE_MESSAGE
    assert press.original is message  # the same message, edited in place
    assert general.messages == [message]
    assert known(message.embed)["description"] == "Оновлено: світло є"
    assert message.buttons == []  # view=None removes the components
    assert message.edit_count == 1
    assert message.revisions[0]["embeds"][0]["description"] == "Відключення 10:00–14:00"

    # Discord takes one answer per interaction; discord.py checks that itself, so ask the fake directly.
    url = f"{fake.api_base}/interactions/{press.id}/{press.token}/callback"
    async with aiohttp.ClientSession() as http, http.post(url, json={"type": 6}) as again:
        assert again.status == 400
        assert (await again.json())["code"] == 40060


async def test_select_defers_the_update_then_edits_the_original(world: World, bot: commands.Bot) -> None:
    alice = world.alice
    interaction = await alice.invoke("schedule", channel=world.general, queue="4.1")
    await interaction.wait_for_response()
    message = known(interaction.original)
    assert known(message.component("day"))["options"][1] == {
        "label": "Завтра",
        "value": "tomorrow",
        "default": False,
    }

    choice = await alice.select(message, "day", ["tomorrow"])

    assert (await choice.wait_for_response()).type == CallbackType.DEFERRED_UPDATE_MESSAGE
    edited = await choice.wait_for_original(lambda m: m.content == "День: tomorrow")
    assert edited is message
    assert known(message.embed)["title"] == "Черга 4.1"  # the edit named only the content
    assert [b["label"] for b in message.buttons] == ["Оновити"]
    with pytest.raises(AssertionError, match="offers only"):
        await alice.select(message, "day", ["yesterday"])


async def test_guild_sync_and_commands_in_dms(fake: FakeDiscord, world: World, bot: commands.Bot) -> None:
    target = discord.Object(world.guild.id)
    bot.tree.copy_global_to(guild=target)
    await bot.tree.sync(guild=target)

    assert fake.syncs[-1].guild_id == world.guild.id
    in_guild = await world.alice.invoke("schedule", channel=world.general, queue="5.1")
    assert in_guild.data["guild_id"] == str(world.guild.id)  # the guild's copy, as Discord picks it
    assert (await in_guild.wait_for_response()).type == CallbackType.CHANNEL_MESSAGE

    # In DMs the global command runs; its answer reaches even a user whose DMs are closed to the bot.
    in_dm = await world.bob.invoke("schedule", queue="5.2")
    await in_dm.wait_for_response()
    assert "guild_id" not in in_dm.data
    assert [known(m.embed)["title"] for m in world.bob.dms] == ["Черга 5.2"]


async def test_only_synced_commands_and_real_options_can_be_used(world: World, bot: commands.Bot) -> None:
    alice, general = world.alice, world.general
    with pytest.raises(AssertionError, match="no /forecast"):
        await alice.invoke("forecast", channel=general)
    with pytest.raises(AssertionError, match="requires option 'queue'"):
        await alice.invoke("schedule", channel=general)
    with pytest.raises(AssertionError, match="no option"):
        await alice.invoke("schedule", channel=general, queue="1.1", day="monday")
    with pytest.raises(AssertionError, match="takes a string"):
        await alice.invoke("schedule", channel=general, queue=3)
    with pytest.raises(AssertionError, match="no option"):
        await alice.autocomplete("picture", "queue", "x", channel=general)


async def test_more_than_25_autocomplete_choices_are_refused(
    fake: FakeDiscord, world: World, bot: commands.Bot
) -> None:
    typing = await world.alice.autocomplete("everything", "queue", "", channel=world.general)

    refused = await fake.wait_for_request("POST /interactions/{interaction_id}/{token}/callback")

    assert (refused.status, refused.code) == (400, 50035)
    assert len(refused.body["data"]["choices"]) == 30
    assert typing.response is None  # the user sees no choices, as on Discord


async def test_deferred_ephemeral_answer_is_filled_in_by_the_first_followup(
    fake: FakeDiscord, world: World, bot: commands.Bot
) -> None:
    interaction = await world.alice.invoke("picture", channel=world.general)

    deferred = await interaction.wait_for_response()
    assert deferred.type == CallbackType.DEFERRED_CHANNEL_MESSAGE
    assert deferred.data == {"flags": EPHEMERAL}
    original = await interaction.wait_for_original()
    second = await interaction.wait_for_followup()

    assert original.content == "Ось графік"
    assert original.ephemeral
    assert original.visible_to == world.alice.id
    assert not original.loading
    [attachment] = original.attachments
    assert (attachment.filename, attachment.content_type, attachment.data) == (
        "schedule.png",
        "image/png",
        b"PNG-BYTES",
    )
    async with aiohttp.ClientSession() as http, http.get(attachment.url) as download:
        assert await download.read() == b"PNG-BYTES"
    assert (second.content, second.ephemeral) == ("І ще одне", True)
    assert interaction.followups == [second]
    assert world.general.messages == [original, second]
    followups = fake.requests_to("POST /webhooks/{application_id}/{token}")
    assert [len(request.files) for request in followups] == [1, 0]  # multipart, then JSON


async def test_late_answer_is_unknown_interaction() -> None:
    answered: list[discord.NotFound] = []

    class SlowBot(ScheduleBot):
        async def schedule(self, interaction: Interaction, queue: str) -> None:
            await asyncio.sleep(0.3)
            try:
                await interaction.response.send_message("запізно")
            except discord.NotFound as error:
                answered.append(error)

    async with FakeDiscord(interaction_deadline=0.2) as server:
        slow_world = World(server)
        async with running(SlowBot(), TOKEN):
            await slow_world.alice.invoke("schedule", channel=slow_world.general, queue="1.1")
            refused = await server.wait_for_request("POST /interactions/{interaction_id}/{token}/callback")
    assert (refused.status, refused.code) == (404, 10062)
    [error] = answered
    assert error.code == 10062


# --- Messages, DMs, errors --------------------------------------------------------------------------------


async def test_channel_post_with_embed_file_and_edit(
    fake: FakeDiscord, world: World, bot: commands.Bot
) -> None:
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)

    sent = await channel.send(
        "Графік на завтра",
        embed=schedule_embed("2.1"),
        file=discord.File(io.BytesIO(b"\x89PNG"), "tomorrow.png"),
    )
    await sent.edit(content="Графік на завтра (оновлено)", attachments=[])

    [message] = world.general.messages
    assert message.id == sent.id
    assert message.content == "Графік на завтра (оновлено)"
    assert message.attachments == []  # attachments=[] keeps none
    assert message.revisions[0]["attachments"][0]["filename"] == "tomorrow.png"
    assert known(message.embed)["title"] == "Черга 2.1"  # the edit did not name embeds: kept


async def test_dm_to_open_and_closed_users(fake: FakeDiscord, world: World, bot: commands.Bot) -> None:
    alice = await bot.fetch_user(world.alice.id)
    await alice.send("Завтра світло вимикатимуть з 10:00")
    bob = await bot.fetch_user(world.bob.id)

    with pytest.raises(discord.Forbidden) as refused:
        await bob.send("Завтра світло вимикатимуть з 10:00")

    assert refused.value.code == 50007
    assert refused.value.text == "Cannot send messages to this user"
    assert [m.content for m in world.alice.dms] == ["Завтра світло вимикатимуть з 10:00"]
    assert world.bob.dms == []
    assert len(fake.requests_to("POST /users/@me/channels")) == 2  # opening Bob's DM channel works


async def test_posting_without_permission_or_in_unknown_channels(world: World, bot: commands.Bot) -> None:
    readonly = bot.get_channel(world.readonly.id)
    assert isinstance(readonly, discord.TextChannel)
    with pytest.raises(discord.Forbidden) as missing:
        await readonly.send("Оголошення")
    assert missing.value.code == 50013
    with pytest.raises(discord.NotFound) as unknown:
        await bot.get_partial_messageable(1234567890).send("куди?")
    assert unknown.value.code == 10003


@pytest.mark.parametrize(
    ("send", "code"),
    [
        ({"content": "x" * 2001}, 50035),
        ({"content": "   "}, 50006),
        ({"embed": discord.Embed(title="x" * 257)}, 50035),
        ({"embed": discord.Embed(title="a").add_field(name="", value="b")}, 50035),
        ({"embeds": [discord.Embed(description="x" * 4000) for _ in range(2)]}, 50035),
    ],
    ids=["content-too-long", "empty", "embed-title-too-long", "empty-field-name", "embeds-over-6000"],
)
async def test_discord_validation(
    world: World, bot: commands.Bot, send: dict[str, object], code: int
) -> None:
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.HTTPException) as refused:
        await channel.send(**send)  # type: ignore[call-overload]
    assert refused.value.code == code
    assert world.general.messages == []


async def test_duplicate_custom_ids_are_refused(world: World, bot: commands.Bot) -> None:
    view = discord.ui.View(timeout=None)
    view.add_item(discord.ui.Button(label="A", custom_id="same"))
    view.add_item(discord.ui.Button(label="B", custom_id="same"))
    channel = known(bot.get_channel(world.general.id))
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.HTTPException) as refused:
        await channel.send("two buttons", view=view)
    assert "COMPONENT_CUSTOM_ID_DUPLICATED" in refused.value.text or "duplicated" in refused.value.text


async def test_429_is_retried_after_retry_after(fake: FakeDiscord, world: World, bot: commands.Bot) -> None:
    fake.fail_next("POST /channels/{channel_id}/messages", 429, retry_after=0.2)
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)

    started = time.monotonic()
    await channel.send("після паузи")

    assert time.monotonic() - started >= 0.2
    statuses = [r.status for r in fake.requests_to("POST /channels/{channel_id}/messages")]
    assert statuses == [429, 200]
    assert [m.content for m in world.general.messages] == ["після паузи"]


async def test_rate_limit_bucket_makes_discord_py_wait(
    fake: FakeDiscord, world: World, bot: commands.Bot
) -> None:
    fake.rate_limit("POST /channels/{channel_id}/messages", limit=2, per=0.3)
    channel = bot.get_channel(world.general.id)
    assert isinstance(channel, discord.TextChannel)

    started = time.monotonic()
    for number in range(3):
        await channel.send(f"повідомлення {number}")

    # discord.py read X-RateLimit-Remaining: 0 after the second and slept, so the third was never refused.
    assert time.monotonic() - started >= 0.2
    assert fake.too_many_requests == []
    assert len(world.general.messages) == 3


def test_discord_py_settings_are_restored() -> None:
    assert discord.http.Route.BASE == "https://discord.com/api/v10"
    assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == "wss://gateway.discord.gg/"
