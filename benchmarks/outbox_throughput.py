"""Broadcast benchmark: the outbox worker sending through the real aiogram client to the fake Bot API.

The fake runs in a child process, so the CPU time measured here is the bot's alone (its event loop and the
SQLite thread). In the suite (``python -m benchmarks --only outbox_throughput``): 10,000 chats (quick:
1,000) with the limit lifted, the median of 3 broadcasts, against the same worker storing each row sent in its
own transaction (``--row-at-a-time``) as the baseline. On its own, with a choice of sizes and limits:

    uv run python -m benchmarks.outbox_throughput                      # 1,000 chats at the default 25/s
    uv run python -m benchmarks.outbox_throughput --chats 10000 --rate 1000 --telegram-limit 0
    uv run python -m benchmarks.outbox_throughput --chats 10000 --rate 1000 --telegram-limit 0 --profile

Prints messages per second achieved (and as a fraction of the limit), 429s received, and CPU per message;
``--profile`` adds pyinstrument's flat list of where the bot's event loop spent its time while sending.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from pyinstrument import Profiler
from pyinstrument.renderers import ConsoleRenderer

from benchmarks.suite import Row, median, ratio, repeats
from common.botdb import BotDB
from common.clock import kyiv_now
from common.messages import OutboxItem
from common.notifications import OutboxWorker, SendOutcome
from telegram_bot.delivery import TelegramSender
from tests.fakes.telegram import FakeTelegram

TEXT = "⏰ Через 15 хвилин (08:00) відключення світла: Черга 3.2."
LIFTED_RATE = 1000.0  # Telegram's paid-broadcast ceiling, messages per second


@dataclass(frozen=True)
class Broadcast:
    sent: int
    wall: float  # seconds
    cpu: float  # seconds of this process's CPU (every thread)
    outcomes: dict[str, int]

    @property
    def per_second(self) -> float:
        return self.sent / self.wall

    @property
    def cpu_ms_per_message(self) -> float:
        return self.cpu / max(self.sent, 1) * 1000


def serve_fake(chats: int, limit: int, ready: Queue[tuple[str, str]], stop: EventType) -> None:
    async def main() -> None:
        async with FakeTelegram() as fake:
            for chat in range(1, chats + 1):
                fake.user(chat)
            fake.rate_limit(limit or None)  # like Telegram's flood control: 429 beyond this many per second
            ready.put((fake.base_url, fake.token))
            await asyncio.to_thread(stop.wait)

    asyncio.run(main())


@contextlib.contextmanager
def fake_telegram_process(chats: int, limit: int) -> Iterator[tuple[str, str]]:
    """The fake Bot API with ``chats`` users in a child process (its CPU time is not the bot's), answering
    429 beyond ``limit`` sends a second (0: never); yields its base URL and token."""
    spawn = multiprocessing.get_context("spawn")  # a fork would inherit a running event loop
    ready: Queue[tuple[str, str]] = spawn.Queue()
    stop = spawn.Event()
    server = spawn.Process(target=serve_fake, args=(chats, limit, ready, stop))
    server.start()
    try:
        yield ready.get(timeout=60)
    finally:
        stop.set()
        server.join(timeout=10)


class CountingSender:
    def __init__(self, sender: TelegramSender) -> None:
        self._sender = sender
        self.outcomes: dict[str, int] = {}

    async def send(self, recipient_id: str, payload: Mapping[str, Any], *, parts_sent: int) -> SendOutcome:
        outcome = await self._sender.send(recipient_id, payload, parts_sent=parts_sent)
        self.outcomes[outcome.status] = self.outcomes.get(outcome.status, 0) + 1
        return outcome


async def broadcast(
    base_url: str,
    token: str,
    chats: int,
    rate: float,
    profiler: Profiler | None = None,
    *,
    row_at_a_time: bool = False,
) -> Broadcast:
    """Queues one message for each of ``chats`` chats, then times the worker sending them all; with
    ``row_at_a_time`` the worker stores each row sent in a transaction of its own (no batches)."""
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
        # As the bots build it but for the batches: 200 rows (the default), or 1 for the baseline
        flush_rows = 1 if row_at_a_time else 200
        worker = OutboxWorker(db, sender, rate_per_second=rate, now=kyiv_now, flush_rows=flush_rows)
        with profiler or contextlib.nullcontext():
            wall, cpu = time.perf_counter(), time.process_time()
            sent = await worker.drain()
            while (await db.outbox_counts())["pending"]:  # rows a 429 put back
                sent += await worker.drain()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        await bot.session.close()
        await db.close()
    return Broadcast(sent, wall, cpu, sender.outcomes)


async def run(quick: bool) -> list[Row]:
    chats = 1000 if quick else 10_000
    batched: list[Broadcast] = []
    unbatched: list[Broadcast] = []
    with fake_telegram_process(chats, limit=0) as (base_url, token):
        for _ in range(repeats(quick, 3, 1)):  # alternately, so that noise hits both alike
            batched.append(await broadcast(base_url, token, chats, LIFTED_RATE))
            unbatched.append(await broadcast(base_url, token, chats, LIFTED_RATE, row_at_a_time=True))
    note = (
        f"median of {len(batched)}; worker limit {LIFTED_RATE:g}/s, fake Bot API in a child process;"
        " baseline: the same worker storing each row sent in its own transaction"
    )
    per_second = median([result.per_second for result in batched])
    baseline_per_second = median([result.per_second for result in unbatched])
    cpu_ms = median([result.cpu_ms_per_message for result in batched])
    baseline_cpu_ms = median([result.cpu_ms_per_message for result in unbatched])
    return [
        Row(
            f"outbox throughput (limit lifted, {chats:,} chats)",
            f"{per_second:.0f} msg/s",
            f"{baseline_per_second:.0f} msg/s",
            ratio(per_second, baseline_per_second),
            note,
        ),
        Row(
            "bot CPU per message",
            f"{cpu_ms:.2f} ms",
            f"{baseline_cpu_ms:.2f} ms",
            ratio(cpu_ms, baseline_cpu_ms),
            note,
        ),
    ]


def report(result: Broadcast, chats: int, rate: float) -> None:
    print(f"chats: {chats}, limit: {rate:g}/s")
    print(
        f"sent: {result.sent} in {result.wall:.1f} s -> {result.per_second:.1f} msg/s"
        f" = {result.per_second / rate:.1%} of the limit"
    )
    print(f"429 received: {result.outcomes.get('retry_after', 0)}, other outcomes: {result.outcomes}")
    print(f"bot CPU: {result.cpu:.2f} s = {result.cpu_ms_per_message:.2f} ms per message")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=25.0, help="TELEGRAM_RATE_LIMIT (messages per second)")
    parser.add_argument(
        "--telegram-limit", type=int, default=30, help="the fake's flood limit per second; 0: none"
    )
    parser.add_argument("--profile", action="store_true", help="profile the sending with pyinstrument")
    parser.add_argument(
        "--row-at-a-time", action="store_true", help="store each row sent in its own transaction (no batches)"
    )
    args = parser.parse_args()
    profiler = Profiler(async_mode="disabled") if args.profile else None
    with fake_telegram_process(args.chats, args.telegram_limit) as (base_url, token):
        result = asyncio.run(
            broadcast(base_url, token, args.chats, args.rate, profiler, row_at_a_time=args.row_at_a_time)
        )
    report(result, args.chats, args.rate)
    if profiler is not None:
        print(profiler.output(ConsoleRenderer(unicode=True, flat=True, show_all=True)))


if __name__ == "__main__":
    main()
