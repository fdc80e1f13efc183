"""Change -> notification benchmark: from DTEK changing the schedule on the fake site to the first and the
last of the Telegram subscribers (1,000) and Discord channels (100) being told, with the probe at its default
interval and with the probe off.

Each setting is the delivery leg of :mod:`benchmarks.change_probe` with a Discord bot's notifier next to the
Telegram bot's: the schedule service runs with its default intervals scaled down in time (its change -> DB is
scaled back to real time), both bots' notifiers run in real time in shared mode on the same shared DB (a
look every 60 s, then sends at the default rate limits: 25/s to the fake Bot API in a child process, 5/s
through discord.py's client to the fake Discord). The two settings run at the same time, each with its own
service and bots, so that the run stays short. A recipient counts as told when its platform accepted the
message. Change -> told = (change -> DB) scaled back + (DB -> told) in real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics

import discord

from benchmarks.change_probe import (
    DISCORD_RATE,
    PROBE_SECONDS,
    REGION,
    TELEGRAM_FLOOD_LIMIT,
    Delivery,
    Leg,
    Service,
    Subscribe,
    follow_changes,
    open_leg,
    running_service,
    scaled_guard,
    telegram_leg,
)
from benchmarks.outbox_throughput import fake_telegram_process
from benchmarks.suite import Row, ms
from common.botdb import BotDB
from discord_bot.delivery import DiscordSender, subscription_roles
from tests.fakes.discord import FakeDiscord, running

SCALE = 300.0  # real time / wall time, for the service
SETTINGS = ((f"probe on ({PROBE_SECONDS:g} s)", PROBE_SECONDS), ("probe off", 0.0))


def subscribe_channels(channel_ids: list[int], server_id: int) -> Subscribe:
    async def subscribe(db: BotDB, groups: list[str]) -> int:
        for channel in channel_ids:
            for group in groups:
                await db.subscribe_channel(
                    f"channel:{channel}", REGION, group, server_id=str(server_id), lang="uk"
                )
        return len(channel_ids)

    return subscribe


async def discord_leg(
    stack: contextlib.AsyncExitStack, service: Service, fake: FakeDiscord, channels: int
) -> Leg:
    """A Discord bot's notifier with ``channels`` server channels, posting through a real discord.py client."""
    guild = fake.guild(f"bench {fake.next_id()}")
    channel_ids = [guild.text_channel(f"outages-{n}").id for n in range(1, channels + 1)]
    client = discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.05)
    await stack.enter_async_context(running(client, fake.token))
    return await open_leg(
        stack,
        service,
        "Discord channels",
        DISCORD_RATE,
        lambda db: DiscordSender(client, mention_role=subscription_roles(db)),
        subscribe_channels(channel_ids, guild.id),
    )


async def run_setting(
    probe_seconds: float, changes: int, subscribers: int, channels: int, fake: FakeDiscord
) -> dict[str, list[Delivery]]:
    """One service (probe on or off) with a Telegram and a Discord bot on its shared DB."""
    with fake_telegram_process(subscribers, TELEGRAM_FLOOD_LIMIT) as (base_url, token):
        async with running_service(probe_seconds, SCALE) as service, contextlib.AsyncExitStack() as stack:
            legs = [
                await telegram_leg(stack, service, subscribers, base_url, token),
                await discord_leg(stack, service, fake, channels),
            ]
            return await follow_changes(service, legs, changes, SCALE)


def rows(label: str, deliveries: dict[str, list[Delivery]]) -> list[Row]:
    result = []
    for leg, seen in deliveries.items():
        if not seen:
            result.append(Row(f"change -> told, {label}: {leg}", "none told"))
            continue
        to_db = statistics.median(d.to_db for d in seen)
        note = (
            f"median of {len(seen)} changes; change -> DB {to_db / 60:.1f} min (service scaled 1/{SCALE:g}, "
            f"scaled back) + DB -> told in real time; fewest told {min(d.told for d in seen)}"
        )
        for which, after in (("first", [d.first for d in seen]), ("last", [d.last for d in seen])):
            figure = to_db + statistics.median(after)
            result.append(
                Row(f"change -> {which} of {seen[0].told:,} {leg} told, {label}", _minutes(figure), note=note)
            )
    return result


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else ms(seconds)


async def run(quick: bool) -> list[Row]:
    subscribers, channels, changes = (100, 10, 1) if quick else (1000, 100, 2)
    with scaled_guard(SCALE):
        async with FakeDiscord() as fake:
            results = await asyncio.gather(
                *(run_setting(probe, changes, subscribers, channels, fake) for _, probe in SETTINGS)
            )
    return [
        row
        for (label, _), deliveries in zip(SETTINGS, results, strict=True)
        for row in rows(label, deliveries)
    ]
