"""Burst benchmark: many Telegram users pressing ``/schedule 3.2`` within one second.

The real Telegram bot (``telegram_bot.app.build_app``, long polling) runs in process in shared mode, on a
shared schedule DB written by the service's writer, against the fake Bot API (in the same process and event
loop, so the two share one core). The users' updates are put into the fake's update queue spread evenly over
one second; a user's time to answer runs from its update being there to the fake receiving the bot's first
successful sendPhoto or sendMessage to that chat. Pictures: sendPhoto calls carrying an upload against those
giving the file_id of one uploaded before.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from benchmarks.bot_memory import write_schedules
from benchmarks.suite import Row, median, ms, percentile, repeats
from common.clock import kyiv_now
from telegram_bot.app import build_app
from telegram_bot.settings import TelegramSettings
from tests.fakes.telegram import SEND_METHODS, FakeTelegram
from tests.waiting import wait_until

REGION = "kem"
COMMAND = "/schedule 3.2"
BURST_SECONDS = 1.0


@dataclass(frozen=True)
class Burst:
    answer_times: list[float]  # seconds from each user's update to the bot's answer
    uploads: int
    reuses: int


def bot_settings(fake: FakeTelegram, folder: Path) -> TelegramSettings:
    return TelegramSettings(
        telegram_bot_token=SecretStr(fake.token),
        telegram_api_base=fake.base_url,
        database_url=str(folder / "telegram.db"),
        dtek_regions=[REGION],
        schedule_db_url=str(folder / "schedules.db"),
        _env_file=None,
    )


async def inject(fake: FakeTelegram, users: int) -> dict[int, float]:
    """Each user sends the command, spread evenly over one second; when each update was there."""
    sent: dict[int, float] = {}
    started = time.monotonic()
    for user_id in range(1, users + 1):
        await asyncio.sleep(max(0.0, started + (user_id - 1) * BURST_SECONDS / users - time.monotonic()))
        user = fake.user(user_id)
        fake.receive_message(user, user.chat, COMMAND)
        sent[user_id] = time.monotonic()
    return sent


def first_answers(fake: FakeTelegram) -> dict[int, float]:
    """When the fake received the first successful send to each chat."""
    answered: dict[int, float] = {}
    for call in fake.calls:
        if call.method in SEND_METHODS and call.ok:
            answered.setdefault(call.params["chat_id"], call.at)
    return answered


async def burst(users: int) -> Burst:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        await write_schedules(folder / "schedules.db")
        async with FakeTelegram() as fake:
            app = await build_app(bot_settings(fake, folder), now=kyiv_now)
            task = asyncio.create_task(app.run(handle_signals=False))
            try:
                await wait_until(lambda: app.ctx.db.load_baseline(REGION), timeout=30)
                sent = await inject(fake, users)
                await wait_until(lambda: len(first_answers(fake)) >= users or None, timeout=120)
            finally:
                await app.stop()
                await asyncio.wait_for(task, timeout=15)
            answered = first_answers(fake)
            photos = [call for call in fake.calls_to("sendPhoto") if call.ok]
    return Burst(
        answer_times=[answered[user] - at for user, at in sent.items()],
        uploads=sum(1 for call in photos if call.files),
        reuses=sum(1 for call in photos if not call.files),
    )


async def run(quick: bool) -> list[Row]:
    users = 100 if quick else 1000
    bursts = [await burst(users) for _ in range(repeats(quick, full=3))]
    note = f"median of {len(bursts)} bursts; bot and fake Bot API in one process, no flood limit"
    what = f"{users:,} Telegram users send `{COMMAND}` within 1 s (shared mode)"
    return [
        Row(
            f"{what}: time to answer, p50",
            ms(median([percentile(b.answer_times, 0.5) for b in bursts])),
            note=note,
        ),
        Row(
            f"{what}: time to answer, p99",
            ms(median([percentile(b.answer_times, 0.99) for b in bursts])),
            note=note,
        ),
        Row(
            f"{what}: pictures uploaded / reused",
            f"{median([b.uploads for b in bursts]):g} / {median([b.reuses for b in bursts]):g}",
            note="sendPhoto with an upload / with the file_id of an earlier upload; " + note,
        ),
    ]
