"""The bot token stays out of the outbox and the logs when a send fails with a network error.

aiogram asks ``.../bot<TOKEN>/sendMessage``; when aiohttp cannot read the answer (here a Content-Length that
is no number) its error quotes that URL, and aiogram's TelegramNetworkError carries the text on.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer

from common.botdb import BotDB
from common.logs import RedactingFormatter
from common.messages import OutboxItem
from common.notifications import OutboxWorker
from telegram_bot.delivery import TelegramSender
from tests.fakes.telegram import PlainHttpSession

TOKEN = "123456:SECRET-TOKEN"
T0 = datetime(2026, 1, 20, 8, 0, tzinfo=UTC)
CHAT = "1001"


async def _malformed_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(65536)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n{}")
    await writer.drain()
    writer.close()


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    """A real aiogram Bot whose API server answers every request with a response aiohttp cannot parse."""
    server = await asyncio.start_server(_malformed_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    api = TelegramAPIServer.from_base(f"http://127.0.0.1:{port}")
    bot = Bot(TOKEN, session=PlainHttpSession(api=api))
    yield bot
    await bot.session.close()
    server.close()
    await server.wait_closed()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Captured log lines, formatted as the programs format them."""
    caplog.handler.setFormatter(RedactingFormatter(secrets=[TOKEN]))
    caplog.set_level(logging.DEBUG)
    return caplog


async def test_the_server_error_would_leak_the_token_unredacted(bot: Bot) -> None:
    """The premise: without redaction the error's text holds the token."""
    with pytest.raises(Exception, match=TOKEN):
        await bot.send_message(int(CHAT), "hi")


async def test_a_network_error_is_stored_and_logged_without_the_token(
    bot: Bot, tmp_path: Path, logs: pytest.LogCaptureFixture
) -> None:
    async with await BotDB.open(tmp_path / "bot.db", now=lambda: T0) as db:
        await db.ensure_recipient(CHAT, "uk")
        await db.enqueue([OutboxItem(CHAT, "hello", {"text": "hello"}, T0)])
        sender = TelegramSender(bot, move_recipient=db.move_recipient)
        outbox = OutboxWorker(db, sender, rate_per_second=30, per_recipient_interval=0.01, now=lambda: T0)

        assert await outbox.drain() == 0  # failed: retried later
    with sqlite3.connect(tmp_path / "bot.db") as connection:
        [(error,)] = connection.execute("SELECT last_error FROM outbox").fetchall()

    assert TOKEN not in error
    assert error.startswith("TelegramNetworkError: ")
    assert "/bot***/sendMessage" in error  # the URL stays, for whoever reads the error
    # And a traceback of the same error, as the app's warnings log it with exc_info.
    try:
        await bot.send_message(int(CHAT), "hi")
    except Exception:
        logging.getLogger("telegram_bot").warning("could not send", exc_info=True)
    assert "/bot***/sendMessage" in logs.text
    assert TOKEN not in logs.text
