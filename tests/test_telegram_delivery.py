"""Outbox delivery through the real aiogram client to the fake Bot API: a text too long for one message goes
in parts, and a retry after a failure on a later part sends only the parts that had not arrived."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode

from common.botdb import BotDB
from common.messages import OutboxItem, OutboxRow
from common.notifications import OutboxWorker
from common.render.text import split_text
from telegram_bot.delivery import TelegramSender
from tests.fakes import FakeTelegram, FakeUser

T0 = datetime(2026, 1, 20, 8, 0, tzinfo=UTC)
CHAT = 1001
# Two paragraphs of 3,000 characters: over Telegram's 4,096, so two messages.
LONG_TEXT = "\n\n".join(["Перша частина. " * 200, "Друга частина. " * 200])
FIRST, SECOND = split_text(LONG_TEXT)


@dataclass
class Clock:
    """The program's clock, moved by the test past a retry's due time."""

    at: datetime = T0

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as telegram:
        yield telegram


@pytest.fixture
async def bot(telegram: FakeTelegram) -> AsyncIterator[Bot]:
    bot = telegram.make_bot(default=DefaultBotProperties(parse_mode=ParseMode.HTML))  # as the app makes it
    yield bot
    await bot.session.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def db(tmp_path: Path, clock: Clock) -> AsyncIterator[BotDB]:
    async with await BotDB.open(tmp_path / "bot.db", now=clock) as db:
        await db.ensure_recipient(str(CHAT), "uk")
        await db.enqueue([OutboxItem(str(CHAT), "long", {"text": LONG_TEXT}, T0)])
        yield db


def worker(db: BotDB, bot: Bot, clock: Clock) -> OutboxWorker:
    sender = TelegramSender(bot, move_recipient=db.move_recipient)
    return OutboxWorker(db, sender, rate_per_second=30, per_recipient_interval=0.01, now=clock)


def texts(user: FakeUser) -> list[str | None]:
    return [message.text for message in user.messages]


async def pending_row(db: BotDB, clock: Clock) -> OutboxRow:
    [row] = await db.due_messages(clock() + timedelta(days=1), 10)
    return row


async def test_a_server_error_on_the_second_part_resends_only_that_part(
    telegram: FakeTelegram, bot: Bot, db: BotDB, clock: Clock
) -> None:
    alice = telegram.user(CHAT)
    telegram.fail_next("sendMessage", 500, after=1)
    outbox = worker(db, bot, clock)

    assert await outbox.drain() == 0  # the retry is due later
    assert texts(alice) == [FIRST]
    row = await pending_row(db, clock)
    assert (row.attempts, row.parts_sent, row.not_before) == (1, 1, T0 + timedelta(seconds=5))

    clock.at = row.not_before
    assert await outbox.drain() == 1
    assert texts(alice) == [FIRST, SECOND]  # the first part arrived once
    assert [call.status for call in telegram.calls_to("sendMessage")] == [200, 500, 200]
    assert await db.outbox_counts() == {"pending": 0, "sent": 1, "dead": 0}


async def test_flood_control_on_the_second_part_resends_only_that_part_after_the_pause(
    telegram: FakeTelegram, bot: Bot, db: BotDB, clock: Clock
) -> None:
    alice = telegram.user(CHAT)
    telegram.rate_limit(1)  # one message a second: the second part comes too soon and gets a 429
    outbox = worker(db, bot, clock)

    assert await outbox.drain() == 0
    assert texts(alice) == [FIRST]
    row = await pending_row(db, clock)
    assert (row.attempts, row.parts_sent) == (0, 1)  # a 429 is no failed attempt, but the part counts
    assert row.not_before > T0

    clock.at = row.not_before
    assert await outbox.drain() == 1  # after the worker's pause, which keeps the fake from refusing again
    assert texts(alice) == [FIRST, SECOND]
    assert telegram.too_many_requests_count == 1
    sends = telegram.calls_to("sendMessage")
    assert [(call.status, call.params["text"]) for call in sends] == [
        (200, FIRST),
        (429, SECOND),
        (200, SECOND),
    ]
