"""The Telegram bot's end-to-end harness, a pytest plugin (``pytest_plugins`` in tests/conftest.py), so
its fixtures are found by name in every test module: the real aiogram client against the fake Bot API on
127.0.0.1 (``telegram``), the fake DTEK site (``dtek``), a real shared schedule DB written by the service's
writer (``shared``) and the bot running on them (``shared_bot``). Test modules import the helpers and
constants they use from here.

A test that starts the bot is e2e (tests/conftest.py): it uses a fixture of :data:`BOT_FIXTURES` or its
module imports :func:`start_bot`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TypedDict, Unpack

import pytest
from pydantic import SecretStr

from common.botdb import BotDB
from common.clock import KYIV
from common.dtek.fake_site import SAMPLE_HOUSES, SAMPLE_STREETS, FakeDtekSite, sample_schedule
from common.schedule import RegionSchedule
from common.store import ScheduleWriter
from telegram_bot.app import TelegramApp, build_app
from telegram_bot.settings import TelegramSettings
from tests.fakes.telegram import FakeTelegram, FakeUser
from tests.waiting import wait_until

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=KYIV)  # GPV3.2 of the sample: no power 08:00–11:30 today
TODAY = NOW.date()
TOMORROW = TODAY + timedelta(days=1)

SharedDb = tuple[ScheduleWriter, Path]  # the schedule service's writer and the path of its DB

BOT_FIXTURES = frozenset({"shared_bot"})  # the fixtures below that start the bot: a test using one is e2e


class Clock:
    """The bot's "now": runs like a real clock from where a test last set it."""

    def __init__(self, value: datetime) -> None:
        self.set(value)

    def set(self, value: datetime) -> None:
        self._base, self._started = value, time.monotonic()

    def __call__(self) -> datetime:
        return self._base + timedelta(seconds=time.monotonic() - self._started)


class FrozenClock(Clock):
    """A "now" that stands still where a test last set it (the per-user throttle refills only when told)."""

    def __call__(self) -> datetime:
        return self._base


def with_day(schedule: RegionSchedule, day: date, group: str, slots: str) -> RegionSchedule:
    days = {d: dict(groups) for d, groups in schedule.days.items()}
    days.setdefault(day, {})[group] = slots
    return replace(schedule, days=days)


def only_today(schedule: RegionSchedule) -> RegionSchedule:
    return replace(schedule, days={d: g for d, g in schedule.days.items() if d == TODAY})


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def dtek() -> AsyncIterator[FakeDtekSite]:
    async with FakeDtekSite() as site:
        site.publish(sample_schedule("kem", TODAY), streets=SAMPLE_STREETS, houses=SAMPLE_HOUSES)
        yield site


@pytest.fixture
async def shared(tmp_path: Path) -> AsyncIterator[SharedDb]:
    """The service's side: the shared DB and its writer, holding today's and tomorrow's sample schedule."""
    path = tmp_path / "shared" / "schedules.db"
    async with await ScheduleWriter.open(path) as writer:
        await publish(writer, sample_schedule("kem", TODAY))
        yield writer, path


async def publish(writer: ScheduleWriter, schedule: RegionSchedule) -> None:
    await writer.save(schedule, streets=SAMPLE_STREETS, fetched_at=NOW, duration_seconds=1.0)


class SettingsValues(TypedDict, total=False):
    """The settings tests give the bot, typed as TelegramSettings takes them."""

    telegram_bot_token: SecretStr
    telegram_api_base: str
    database_url: str
    dtek_regions: list[str]
    dtek_url_template: str
    dtek_retry_attempts: int
    watch_interval_seconds: float
    address_watch_interval_minutes: float
    admin_ids: list[int]
    schedule_db_url: str
    telegram_rate_limit: float
    telegram_webhook_url: str
    telegram_webhook_secret: SecretStr
    webhook_host: str
    webhook_port: int


def make_settings(
    telegram: FakeTelegram, dtek: FakeDtekSite, tmp_path: Path, **overrides: Unpack[SettingsValues]
) -> TelegramSettings:
    values: SettingsValues = {
        "telegram_bot_token": SecretStr(telegram.token),
        "telegram_api_base": telegram.base_url,
        "database_url": str(tmp_path / "telegram.db"),
        "dtek_regions": ["kem"],
        "dtek_url_template": dtek.url_template,
        "dtek_retry_attempts": 1,
        "watch_interval_seconds": 0.1,
        "admin_ids": [1],
    }
    return TelegramSettings(**(values | overrides), _env_file=None)


class RunningBot:
    def __init__(self, app: TelegramApp, task: asyncio.Task[None], clock: Clock) -> None:
        self.app = app
        self.task = task
        self.clock = clock  # the bot's "now"

    @property
    def db(self) -> BotDB:
        return self.app.ctx.db

    async def stop(self) -> None:
        await self.app.stop()
        await asyncio.wait_for(self.task, timeout=15)

    async def watching(self) -> bool:
        """Whether the bot has taken its first look at every region (raises if it failed to start)."""
        if self.task.done():
            self.task.result()
        return all([await self.db.load_baseline(r) is not None for r in self.app.settings.dtek_regions])

    async def outbox_empty(self) -> bool:
        """Nothing left to send: what the fake Bot API holds is all the bot will say."""
        return (await self.db.outbox_counts())["pending"] == 0

    async def crash(self) -> None:
        """Ends the bot abruptly, as a killed process would: no graceful shutdown of the outbox."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def start_bot(settings: TelegramSettings, clock: Clock) -> RunningBot:
    app = await build_app(settings, now=clock)
    task = asyncio.create_task(app.run(handle_signals=False))
    bot = RunningBot(app, task, clock)
    # Started: the command menu is set, and later schedule changes are news to the watcher.
    await wait_until(bot.watching, timeout=10)
    return bot


@pytest.fixture
async def shared_bot(
    telegram: FakeTelegram, dtek: FakeDtekSite, shared: SharedDb, tmp_path: Path
) -> AsyncIterator[RunningBot]:
    _, path = shared
    bot = await start_bot(make_settings(telegram, dtek, tmp_path, schedule_db_url=str(path)), Clock(NOW))
    yield bot
    if not bot.task.done():
        await bot.stop()


async def subscribe(bot: RunningBot, chat_id: int, group: str = "GPV3.2", lang: str = "uk") -> None:
    await bot.db.ensure_recipient(str(chat_id), lang)
    await bot.db.subscribe(str(chat_id), "kem", group)


async def answer_address_up_to_the_house(user: FakeUser) -> None:
    """In a private chat where /address asked for the settlement: Kyiv, then Khreshchatyk street, until the
    bot asks for the house number."""
    await user.send("київ")
    await user.wait_for_message("Оберіть населений пункт")
    await user.press("м. Київ")
    await user.wait_for_message("Введіть назву вулиці")
    await user.send("хрещ")
    await user.wait_for_message("Оберіть вулицю")
    await user.press("вул. Хрещатик")
    await user.wait_for_message("Введіть номер будинку")
