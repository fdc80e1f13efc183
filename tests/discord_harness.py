"""The Discord bot's end-to-end harness, a pytest plugin (``pytest_plugins`` in tests/conftest.py): the real
discord.py bot, built by ``discord_bot.app`` as ``main`` builds it, against the fake Discord of
tests/fakes/discord.py and a real shared schedule DB written by the service's writer, on an injected clock.

The fake does not point discord.py at itself here (``patch_discord_py=False``): the bot's factory does,
from DISCORD_API_BASE and DISCORD_GATEWAY_URL, and the fixture puts discord.py's settings back afterwards.

As with the Telegram harness, a test that starts the bot is e2e (tests/conftest.py): it uses a fixture of
:data:`BOT_FIXTURES` or its module imports the starter :func:`start_bot`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypedDict, Unpack

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route
from pydantic import SecretStr

from common.dtek.fake_site import SAMPLE_HOUSES, SAMPLE_STREETS, FakeDtekSite, sample_schedule
from common.store import ScheduleWriter
from discord_bot.app import build_context, create_bot
from discord_bot.bot import DiscordBot
from discord_bot.settings import DiscordSettings
from tests.fakes.discord import FakeChannel, FakeDiscord, FakeGuild, FakeUser, running
from tests.telegram_harness import NOW, TODAY, Clock, SharedDb, publish

# Shaped like a real one (id, timestamp, signature), so that the settings' check lets it through.
TOKEN = "MTIwMDAwMDAwMDAwMDAwMDAwMQ.GfAkEx.fake-signature-for-the-tests-only_0123456789"
BOT_FIXTURES = frozenset(
    {"discord_bot", "discord_address_bot"}
)  # the fixtures below that start the bot: a test using one is e2e
# The address watch of discord_address_bot looks at a street again this soon (its cached answer then stale).
ADDRESS_WATCH_INTERVAL_SECONDS = 0.1
GROUPS = 14  # queues 1..14 with two halves each: 28 groups, more than Discord's 25 autocomplete choices

__all__ = ["NOW", "TODAY", "Clock"]


class DiscordWorld:
    """One server with a channel; Alice uses Discord in Ukrainian, Bob in English."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.guild: FakeGuild = fake.guild("Київ, Хрещатик 1")
        self.general: FakeChannel = self.guild.text_channel("general")
        self.alice: FakeUser = fake.user("alice", global_name="Аліса")
        self.bob: FakeUser = fake.user("bob", locale="en-US")
        self.guild.add_member(self.alice)
        self.guild.add_member(self.bob)


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    saved = (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    try:
        async with FakeDiscord(token=TOKEN, patch_discord_py=False) as fake:
            yield fake
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved


@pytest.fixture
def discord_world(discord_fake: FakeDiscord) -> DiscordWorld:
    return DiscordWorld(discord_fake)


@pytest.fixture
async def discord_shared(tmp_path: Path) -> AsyncIterator[SharedDb]:
    """The schedule service's shared DB holding today's and tomorrow's sample schedule of 28 groups."""
    path = tmp_path / "shared" / "schedules.db"
    async with await ScheduleWriter.open(path) as writer:
        await publish(writer, sample_schedule("kem", TODAY, groups=GROUPS))
        yield writer, path


@pytest.fixture
async def discord_dtek() -> AsyncIterator[FakeDtekSite]:
    """The fake DTEK site for /address: Kyiv's page with the sample streets, and the sample houses for
    its address lookup (point the bot at it with ``dtek_url_template=discord_dtek.url_template``)."""
    async with FakeDtekSite() as site:
        site.publish(
            sample_schedule("kem", TODAY, groups=GROUPS), streets=SAMPLE_STREETS, houses=SAMPLE_HOUSES
        )
        yield site


class DiscordSettingsValues(TypedDict, total=False):
    database_url: str
    dtek_regions: list[str]
    schedule_db_url: str
    discord_guild_id: int
    discord_rate_limit: float
    watch_interval_seconds: float
    dtek_url_template: str
    dtek_retry_attempts: int
    address_watch_interval_minutes: float


def discord_settings(
    fake: FakeDiscord, tmp_path: Path, **overrides: Unpack[DiscordSettingsValues]
) -> DiscordSettings:
    values: dict[str, Any] = {
        "discord_token": SecretStr(fake.token),
        "discord_api_base": fake.api_base,
        "discord_gateway_url": fake.gateway_url,
        "database_url": str(tmp_path / "discord.db"),
        "dtek_regions": ["kem"],
    }
    return DiscordSettings(**(values | dict(overrides)), _env_file=None)


@contextlib.asynccontextmanager
async def start_bot(settings: DiscordSettings, clock: Clock, **options: Any) -> AsyncIterator[DiscordBot]:
    """The bot built as ``main`` builds it, logged in and READY; closed with its resources on exit."""
    ctx = await build_context(settings, now=clock)
    try:
        bot = create_bot(settings, ctx, guild_ready_timeout=0.05, **options)
        async with running(bot, settings.discord_token.get_secret_value()):
            yield bot
    finally:
        await ctx.aclose()


@pytest.fixture
async def discord_bot(
    discord_fake: FakeDiscord, discord_world: DiscordWorld, discord_shared: SharedDb, tmp_path: Path
) -> AsyncIterator[DiscordBot]:
    _, path = discord_shared
    settings = discord_settings(discord_fake, tmp_path, schedule_db_url=str(path))
    async with start_bot(settings, Clock(NOW)) as bot:
        yield bot


@pytest.fixture
async def discord_address_bot(
    discord_fake: FakeDiscord,
    discord_world: DiscordWorld,
    discord_shared: SharedDb,
    discord_dtek: FakeDtekSite,
    tmp_path: Path,
) -> AsyncIterator[DiscordBot]:
    """The bot with the fake DTEK site answering /address (one try per request), whose address watch finds a
    street due again after :data:`ADDRESS_WATCH_INTERVAL_SECONDS`."""
    settings = discord_settings(
        discord_fake,
        tmp_path,
        schedule_db_url=str(discord_shared[1]),
        dtek_url_template=discord_dtek.url_template,
        dtek_retry_attempts=1,
        address_watch_interval_minutes=ADDRESS_WATCH_INTERVAL_SECONDS / 60,
    )
    async with start_bot(settings, Clock(NOW)) as bot:
        yield bot
