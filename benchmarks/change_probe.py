"""Change-probe benchmark: how soon a change on DTEK's site is a new version in the shared DB, and what DTEK
sees of us per hour, with the probe on and off.

The fake DTEK site runs on 127.0.0.1 and the real service loop in process (the real fetcher, the real writer on
a temporary SQLite file), with the default intervals scaled down in time by ``--scale``: a full scrape every
30 min, a probe every 300 s, 60 s of cycle jitter and 30 s of probe guard, all divided by the scale (300: 6 s,
1 s, 0.2 s, 0.1 s). Every figure printed is scaled back to real time.

    uv run python -m benchmarks.change_probe                      # 1 wall minute per setting = 5 real hours
    uv run python -m benchmarks.change_probe --scale 300 --minutes 2
    uv run python -m benchmarks.change_probe --subscribers 0      # without the delivery leg

Each setting runs ``--minutes`` wall-clock minutes. Meanwhile changes are published at random moments (each a
uniform wait of up to one scrape interval after the previous one was stored), and the time from publishing to
the new version in the DB is measured by polling the DB. Requests are what the fake site counted: page loads,
warm-ups (the site root) and probes (``checkDisconUpdate``).

The delivery leg then follows ``--changes`` changes on to ``--subscribers`` Telegram chats (default 1,000): the
service as above (scaled, probe on), and a Telegram bot's notifier in shared mode in real time: it reads the
shared DB every 60 s (``WATCH_INTERVAL_SECONDS``) and sends through the real aiogram client at the default 25
messages per second to the fake Bot API in a child process (with Telegram's flood limit of 30 per second). A
chat counts as told when the Bot API accepted its message. Change -> told = (change -> DB) scaled back + (DB
-> told) in real time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

import schedule_service.probe as probe_module
from benchmarks.outbox_throughput import fake_telegram_process
from common.botdb import BotDB
from common.clock import kyiv_now
from common.dtek.fake_site import FakeDtekSite, sample_schedule
from common.dtek.fetch import DtekFetcher
from common.notifications import Notifier, Sender, SendOutcome
from common.schedule import RegionSchedule
from common.settings import SourceSettings
from common.source import create_source
from common.store import ScheduleReader, ScheduleWriter
from schedule_service.service import run_service
from schedule_service.settings import ServiceSettings
from telegram_bot.delivery import TelegramSender

REGION = "kem"
SCRAPE_MINUTES = 30.0  # the defaults, in real time
PROBE_SECONDS = 300.0
JITTER_SECONDS = 60.0
SPACING_SECONDS = 10.0
GUARD_SECONDS = probe_module.GUARD_SECONDS
WATCH_INTERVAL_SECONDS = 60.0  # the bots' default: how often they look for a new version
TELEGRAM_RATE = 25.0  # TELEGRAM_RATE_LIMIT's default
DISCORD_RATE = 5.0  # DISCORD_RATE_LIMIT's default
TELEGRAM_FLOOD_LIMIT = 30  # what the fake Bot API allows per second before answering 429
POLL_SECONDS = 0.005  # wall time between two looks at the DB


@dataclass
class Result:
    label: str
    latencies: list[float]  # real-time seconds from publishing to the new version in the DB
    missed: int  # changes not stored within the timeout
    hours: float  # real-time hours run
    pages: int
    warmups: int
    probes: int


def _changed(schedule: RegionSchedule, step: int) -> RegionSchedule:
    """DTEK's next version: a later update time and one group's day changed."""
    day = min(schedule.days)
    keys = sorted(schedule.days[day])
    key = keys[step % len(keys)]
    slots = list(schedule.days[day][key])
    slots[step % len(slots)] = "-" if slots[step % len(slots)] != "-" else "+"
    assert schedule.updated is not None
    return replace(
        schedule,
        updated=schedule.updated + timedelta(minutes=10),
        days={**schedule.days, day: {**schedule.days[day], key: "".join(slots)}},
    )


async def _version(reader: ScheduleReader) -> int:
    return (await reader.versions()).get(REGION, 0)


async def _poll_past(reader: ScheduleReader, version: int, deadline: float) -> bool:
    """Polls the DB until the region has a version above ``version`` (True) or ``deadline`` passes."""
    while True:
        if await _version(reader) > version:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)


@contextlib.asynccontextmanager
async def running_service(probe_seconds: float, scale: float) -> AsyncIterator[Service]:
    """The fake site and the real service loop on a temporary shared DB, its first scrape stored."""
    async with FakeDtekSite() as site:
        schedule = sample_schedule(REGION, kyiv_now().date())
        site.publish(schedule)
        settings = ServiceSettings(
            dtek_url_template=site.url_template,
            dtek_regions=[REGION],
            dtek_retry_attempts=1,
            dtek_probe_interval_seconds=probe_seconds / scale,
            scrape_interval_minutes=SCRAPE_MINUTES / scale,
            scrape_jitter_seconds=JITTER_SECONDS / scale,
            region_spacing_seconds=SPACING_SECONDS / scale,
            _env_file=None,
        )
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "schedules.db"
            stop = asyncio.Event()
            async with DtekFetcher(settings) as fetcher, await ScheduleWriter.open(path) as writer:
                started = time.monotonic()
                task = asyncio.create_task(
                    run_service(settings, fetcher=fetcher, writer=writer, stop=stop, now=kyiv_now)
                )
                try:
                    async with await ScheduleReader.open(path) as reader:
                        await _poll_past(reader, 0, started + 60)  # the first full scrape
                        yield Service(site, path, reader, schedule, started, SCRAPE_MINUTES * 60 / scale)
                finally:
                    stop.set()
                    await asyncio.wait_for(task, timeout=10)


@dataclass
class Service:
    site: FakeDtekSite
    path: Path  # the shared DB
    reader: ScheduleReader
    schedule: RegionSchedule  # what the site serves now
    started: float  # monotonic
    scrape_wall: float  # seconds between full scrapes, wall

    async def change(self, step: int, scale: float) -> float | None:
        """Publishes DTEK's next version; the real seconds until it was in the DB, None if it never was."""
        before = await _version(self.reader)
        self.schedule = _changed(self.schedule, step)
        self.site.publish(self.schedule)
        published = time.monotonic()
        if await _poll_past(self.reader, before, published + 2 * self.scrape_wall):
            return (time.monotonic() - published) * scale
        return None


async def run_setting(label: str, probe_seconds: float, scale: float, wall_seconds: float) -> Result:
    async with running_service(probe_seconds, scale) as service:
        latencies: list[float] = []
        missed = 0
        step = 0
        while True:
            await asyncio.sleep(random.uniform(0, service.scrape_wall))
            # Room for the slowest case (the next full scrape and its jitter) before the end.
            if time.monotonic() - service.started + service.scrape_wall * 1.2 > wall_seconds:
                break
            step += 1
            latency = await service.change(step, scale)
            if latency is None:
                missed += 1
            else:
                latencies.append(latency)
        await asyncio.sleep(max(0.0, wall_seconds - (time.monotonic() - service.started)))
        elapsed = time.monotonic() - service.started
        site = service.site
    return Result(
        label=label,
        latencies=latencies,
        missed=missed,
        hours=elapsed * scale / 3600,
        pages=site.hits[REGION],
        warmups=site.hits["/"],
        probes=site.probe_calls[REGION],
    )


# --- the delivery leg ---------------------------------------------------------------------------------------


@dataclass
class Delivery:
    to_db: float  # real seconds from the change on the site to the new version in the shared DB
    first: float  # real seconds from the new version in the DB to the first chat told ...
    last: float  # ... and to the last
    told: int


class TimingSender:
    """A platform's real sender, noting when the platform accepted each change notice."""

    def __init__(self, sender: Sender) -> None:
        self._sender = sender
        self.told: list[float] = []  # monotonic

    async def send(self, recipient_id: str, payload: Mapping[str, Any], *, parts_sent: int) -> SendOutcome:
        outcome = await self._sender.send(recipient_id, payload, parts_sent=parts_sent)
        if outcome.status == "sent" and payload.get("kind") == "event":
            self.told.append(time.monotonic())
        return outcome


@dataclass
class Leg:
    """One bot's notifier in shared mode, sending to its platform's fake."""

    name: str  # its recipients, e.g. "Telegram chats"
    db: BotDB
    sender: TimingSender
    recipients: int


# Subscribes the bot's recipients to every group given (so whichever group a change hits, each hears of it
# once); returns how many recipients there are.
Subscribe = Callable[[BotDB, list[str]], Awaitable[int]]


async def open_leg(
    stack: contextlib.AsyncExitStack,
    service: Service,
    name: str,
    rate: float,
    make_sender: Callable[[BotDB], Sender],
    subscribe: Subscribe,
) -> Leg:
    """A bot's notifier on its own DB and the service's shared DB, started; stopped when ``stack`` closes."""
    folder = stack.enter_context(tempfile.TemporaryDirectory())
    db = await stack.enter_async_context(await BotDB.open(Path(folder) / "bot.db", now=kyiv_now))
    groups = sorted({g for day in service.schedule.days.values() for g in day})
    recipients = await subscribe(db, groups)
    settings = SourceSettings(_env_file=None, dtek_regions=[REGION], schedule_db_url=str(service.path))
    source = create_source(settings, now=kyiv_now)
    stack.push_async_callback(source.aclose)
    sender = TimingSender(make_sender(db))
    notifier = Notifier(
        db=db,
        source=source,
        sender=sender,
        regions=[REGION],
        rate_per_second=rate,
        watch_interval_seconds=WATCH_INTERVAL_SECONDS,
        now=kyiv_now,
    )
    notifier.start()
    stack.push_async_callback(notifier.stop)
    return Leg(name, db, sender, recipients)


def subscribe_chats(chats: int) -> Subscribe:
    async def subscribe(db: BotDB, groups: list[str]) -> int:
        for chat in range(1, chats + 1):
            await db.ensure_recipient(str(chat), "uk")
            for group in groups:
                await db.subscribe(str(chat), REGION, group)
        return chats

    return subscribe


async def telegram_leg(
    stack: contextlib.AsyncExitStack, service: Service, subscribers: int, base_url: str, token: str
) -> Leg:
    """A Telegram bot's notifier with ``subscribers`` chats, sending through the real aiogram client."""
    bot = Bot(token=token, session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))
    stack.push_async_callback(bot.session.close)
    return await open_leg(
        stack,
        service,
        "Telegram chats",
        TELEGRAM_RATE,
        lambda db: TelegramSender(bot, move_recipient=db.move_recipient),
        subscribe_chats(subscribers),
    )


async def follow_changes(
    service: Service, legs: list[Leg], changes: int, scale: float
) -> dict[str, list[Delivery]]:
    """Publishes ``changes`` changes one after another, each once every leg told all its recipients of the
    last (or gave up); what each leg's recipients saw of each."""
    deliveries: dict[str, list[Delivery]] = {leg.name: [] for leg in legs}
    # The bots' first look at the region only records it.
    await _until(lambda: _have_baselines(legs), time.monotonic() + 2 * WATCH_INTERVAL_SECONDS)
    for step in range(1, changes + 1):
        # A change comes at any moment of the bots' minute.
        await asyncio.sleep(random.uniform(0, WATCH_INTERVAL_SECONDS))
        for leg in legs:
            leg.sender.told.clear()
        to_db = await service.change(step, scale)
        stored = time.monotonic()
        sending = max(leg.recipients for leg in legs) / min(TELEGRAM_RATE, DISCORD_RATE)
        await _until(lambda: _all_told(legs), stored + WATCH_INTERVAL_SECONDS + 3 * sending + 60)
        for leg in legs:
            told = leg.sender.told
            if to_db is not None and told:
                deliveries[leg.name].append(Delivery(to_db, told[0] - stored, told[-1] - stored, len(told)))
        print(
            f"  change {step}: "
            + ", ".join(f"{len(leg.sender.told)} of {leg.recipients} {leg.name}" for leg in legs),
            flush=True,
        )
    return deliveries


async def run_delivery(
    subscribers: int, changes: int, scale: float, base_url: str, token: str
) -> list[Delivery]:
    async with running_service(PROBE_SECONDS, scale) as service, contextlib.AsyncExitStack() as stack:
        leg = await telegram_leg(stack, service, subscribers, base_url, token)
        return (await follow_changes(service, [leg], changes, scale))[leg.name]


async def _until(condition: Callable[[], Awaitable[bool]], deadline: float) -> None:
    while True:
        if await condition() or time.monotonic() >= deadline:
            return
        await asyncio.sleep(0.05)


async def _have_baselines(legs: list[Leg]) -> bool:
    return all([await leg.db.load_baseline(REGION) is not None for leg in legs])


async def _all_told(legs: list[Leg]) -> bool:
    return all(len(leg.sender.told) >= leg.recipients for leg in legs)


def print_delivery(deliveries: list[Delivery], subscribers: int, probe_off: Result) -> None:
    print()
    print(
        f"Change -> {subscribers} Telegram subscribers (probe on, default intervals; the bot in real time at "
        f"{TELEGRAM_RATE:g} msg/s), median of {len(deliveries)} changes:"
    )
    print()
    print("| step | first chat | last chat |")
    print("|---|---|---|")
    to_db = statistics.median(d.to_db for d in deliveries)
    first = statistics.median(d.first for d in deliveries)
    last = statistics.median(d.last for d in deliveries)
    told = min(d.told for d in deliveries)
    print(f"| change -> DB (service, scaled back) | {_minutes(to_db)} | {_minutes(to_db)} |")
    print(f"| DB -> told (bot: watch pass, fan-out, sends) | {first:.1f} s | {last:.1f} s |")
    print(f"| change -> told | {_minutes(to_db + first)} | {_minutes(to_db + last)} |")
    if probe_off.latencies:  # the bot's part does not depend on how the service learnt of the change
        off = statistics.median(probe_off.latencies)
        print(
            f"| change -> told, probe off (its change -> DB + the same DB -> told) | {_minutes(off + first)} "
            f"| {_minutes(off + last)} |"
        )
    print()
    print(f"Fewest chats told for one change: {told} of {subscribers}.")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def print_table(results: list[Result], scale: float, wall_seconds: float) -> None:
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()} ({platform.machine()}); "
        f"time scale 1/{scale:g}, {wall_seconds / 60:g} wall min per setting; all figures in real time"
    )
    print()
    header = (
        "| setting | changes | change -> DB, median | max | real hours run "
        "| page loads/h | warm-ups/h | probes/h | requests/h |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for r in results:
        per_hour = [count / r.hours for count in (r.pages, r.warmups, r.probes)]
        changes = f"{len(r.latencies)}" + (f" ({r.missed} missed)" if r.missed else "")
        median = _minutes(statistics.median(r.latencies)) if r.latencies else "-"
        worst = _minutes(max(r.latencies)) if r.latencies else "-"
        print(
            f"| {r.label} | {changes} | {median} | {worst} | {r.hours:.1f} | {per_hour[0]:.2f} "
            f"| {per_hour[1]:.2f} | {per_hour[2]:.2f} | {sum(per_hour):.2f} |"
        )
    print()
    print(
        "Per region (one region run). Warm-ups: one per fetcher session, i.e. per service start, not per hour. "
        "Time resolution: "
        f"{POLL_SECONDS * scale:.1f} s real (the DB is polled every {POLL_SECONDS * 1000:g} ms wall)."
    )


@contextlib.contextmanager
def scaled_guard(scale: float) -> Iterator[None]:
    """The probe keeps GUARD_SECONDS from a full scrape, but at most a tenth of the scrape interval: scaled
    down, the constant must be too, or the scaled guard would be 180 s real instead of 30 s."""
    probe_module.GUARD_SECONDS = GUARD_SECONDS / scale
    try:
        yield
    finally:
        probe_module.GUARD_SECONDS = GUARD_SECONDS


async def run_all(scale: float, wall_seconds: float) -> list[Result]:
    with scaled_guard(scale):
        on = await run_setting(f"probe on ({PROBE_SECONDS:g} s)", PROBE_SECONDS, scale, wall_seconds)
        off = await run_setting("probe off (0)", 0.0, scale, wall_seconds)
    return [on, off]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=300.0, help="real time / wall time (default 300)")
    parser.add_argument(
        "--minutes", type=float, default=1.0, help="wall-clock minutes per setting (default 1)"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for the moments of the changes")
    parser.add_argument(
        "--subscribers", type=int, default=1000, help="Telegram chats of the delivery leg (0: no such leg)"
    )
    parser.add_argument("--changes", type=int, default=3, help="changes followed to the subscribers")
    args = parser.parse_args()
    random.seed(args.seed)
    wall_seconds = args.minutes * 60
    results = asyncio.run(run_all(args.scale, wall_seconds))
    print_table(results, args.scale, wall_seconds)
    if args.subscribers > 0:
        deliveries = with_fake_telegram(args.subscribers, args.changes, args.scale)
        print_delivery(deliveries, args.subscribers, results[1])


def with_fake_telegram(subscribers: int, changes: int, scale: float) -> list[Delivery]:
    """The delivery leg, with the fake Bot API in a child process."""
    with fake_telegram_process(subscribers, TELEGRAM_FLOOD_LIMIT) as (base_url, token), scaled_guard(scale):
        return asyncio.run(run_delivery(subscribers, changes, scale, base_url, token))


if __name__ == "__main__":
    main()
