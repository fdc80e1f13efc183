"""Broadcast benchmark: the outbox worker sending through the real aiogram client to the fake Bot API.

The fake runs in a child process, so the CPU time measured here is the bot's alone.

    uv run python -m benchmarks.telegram_broadcast                      # (a) 1,000 chats at the default 25/s
    uv run python -m benchmarks.telegram_broadcast --chats 10000 --rate 1000 --telegram-limit 0   # (b)

Prints messages per second achieved (and as a fraction of the limit), 429s received, and CPU per message.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
from collections.abc import Mapping
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from common.botdb import BotDB
from common.clock import kyiv_now
from common.messages import OutboxItem
from common.notifications import OutboxWorker, SendOutcome
from telegram_bot.delivery import TelegramSender
from tests.fakes.telegram import FakeTelegram

TEXT = "⏰ Через 15 хвилин (08:00) відключення світла: Черга 3.2."


def serve_fake(chats: int, limit: int, ready: Queue[tuple[str, str]], stop: EventType) -> None:
    async def main() -> None:
        async with FakeTelegram() as fake:
            for chat in range(1, chats + 1):
                fake.user(chat)
            fake.rate_limit(limit or None)  # like Telegram's flood control: 429 beyond this many per second
            ready.put((fake.base_url, fake.token))
            await asyncio.to_thread(stop.wait)

    asyncio.run(main())


class CountingSender:
    def __init__(self, sender: TelegramSender) -> None:
        self._sender = sender
        self.outcomes: dict[str, int] = {}

    async def send(self, recipient_id: str, payload: Mapping[str, Any], *, parts_sent: int) -> SendOutcome:
        outcome = await self._sender.send(recipient_id, payload, parts_sent=parts_sent)
        self.outcomes[outcome.status] = self.outcomes.get(outcome.status, 0) + 1
        return outcome


async def broadcast(base_url: str, token: str, chats: int, rate: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = await BotDB.open(Path(folder) / "bench.db", now=kyiv_now)
        now = kyiv_now()
        for chat in range(1, chats + 1):
            await db.ensure_recipient(str(chat), "uk")
        await db.enqueue(
            [OutboxItem(str(chat), f"bench:{chat}", {"text": TEXT}, now) for chat in range(1, chats + 1)]
        )
        bot = Bot(token=token, session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))
        sender = CountingSender(TelegramSender(bot, move_recipient=db.move_recipient))
        worker = OutboxWorker(db, sender, rate_per_second=rate, concurrency=max(50, int(rate)), now=kyiv_now)
        wall, cpu = time.perf_counter(), time.process_time()
        sent = await worker.drain()
        while (await db.outbox_counts())["pending"]:  # rows a 429 put back
            sent += await worker.drain()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        await bot.session.close()
        await db.close()
    achieved = sent / wall
    print(f"chats: {chats}, limit: {rate:g}/s")
    print(f"sent: {sent} in {wall:.1f} s -> {achieved:.1f} msg/s = {achieved / rate:.1%} of the limit")
    print(f"429 received: {sender.outcomes.get('retry_after', 0)}, other outcomes: {sender.outcomes}")
    print(f"bot CPU: {cpu:.2f} s = {cpu / max(sent, 1) * 1000:.2f} ms per message")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=25.0, help="TELEGRAM_RATE_LIMIT (messages per second)")
    parser.add_argument(
        "--telegram-limit", type=int, default=30, help="the fake's flood limit per second; 0: none"
    )
    args = parser.parse_args()
    ready: Queue[tuple[str, str]] = multiprocessing.Queue()
    stop = multiprocessing.Event()
    server = multiprocessing.Process(target=serve_fake, args=(args.chats, args.telegram_limit, ready, stop))
    server.start()
    try:
        base_url, token = ready.get(timeout=60)
        asyncio.run(broadcast(base_url, token, args.chats, args.rate))
    finally:
        stop.set()
        server.join(timeout=10)


if __name__ == "__main__":
    main()
