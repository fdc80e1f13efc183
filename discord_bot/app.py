"""Builds the Discord bot from settings and runs it: ``uv run python -m discord_bot``.

Nothing happens at import time. ``main`` reads the settings, opens the resources (:func:`build_context`)
and passes them to :func:`create_bot`; tests do the same with their own clock and a fake Discord.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route
from pydantic import ValidationError

from common.botdb import BotDB, DatabaseUnavailable
from common.clock import Now, kyiv_now
from common.dtek.address import AddressLookup
from common.dtek.fetch import DtekFetcher
from common.logs import setup_logging
from common.metrics import Metrics, MetricsPortError, serving_metrics
from common.render.picture import PictureCache
from common.settings import describe_settings_error
from common.source import create_source
from common.store import database_path
from discord_bot.bot import DiscordBot
from discord_bot.context import DiscordContext
from discord_bot.settings import DiscordSettings

log = logging.getLogger("discord_bot")

EXIT_CONFIG = 2  # bad settings or a token Discord refuses


class StartError(Exception):
    """A setting the bot cannot start with, said in one line; errors while running are not this."""


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)  # a service manager's stop, Ctrl+C


def point_discord_py_at(settings: DiscordSettings) -> None:
    """The one place that sets where discord.py goes: its REST base and the gateway it connects to
    (discord.py 2.7 connects there without asking ``GET /gateway/bot``). Module-level in discord.py."""
    Route.BASE = settings.discord_api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


def create_bot(settings: DiscordSettings, ctx: DiscordContext, **options: Any) -> DiscordBot:
    """The bot on the resources of ``ctx``; ``options`` go to ``commands.Bot`` (and ``extensions``, the
    Cogs to load, and ``reminder_interval_seconds`` to :class:`DiscordBot`)."""
    point_discord_py_at(settings)
    return DiscordBot(ctx, **options)


async def build_context(
    settings: DiscordSettings, *, now: Now, metrics: Metrics | None = None
) -> DiscordContext:
    """Opens the bot's own DB, the schedule source and the address lookup on the clock ``now``, recording
    into ``metrics``."""
    metrics = metrics or Metrics()
    db_path = database_path(settings.database_url)  # bad URLs fail here, before anything is open
    source = create_source(settings, now=now, metrics=metrics)  # opens nothing until first used
    db = await BotDB.open(db_path, now=now)
    address = AddressLookup(DtekFetcher(settings))  # opens nothing until first asked
    return DiscordContext(
        settings=settings,
        db=db,
        source=source,
        now=now,
        address=address,
        pictures=PictureCache(),
        metrics=metrics,
    )


@contextlib.contextmanager
def close_on_signals(bot: DiscordBot, signals: Sequence[signal.Signals] = STOP_SIGNALS) -> Iterator[None]:
    """While inside, SIGTERM and SIGINT close the bot (its notifier first, then the connection), which ends
    ``bot.start``. Where the loop takes no signal handlers (Windows), Ctrl+C stays a KeyboardInterrupt."""
    loop = asyncio.get_running_loop()
    closing: set[asyncio.Task[None]] = set()  # referenced until done: the loop keeps only weak references

    def stop(received: signal.Signals) -> None:
        log.info("%s received: stopping", received.name)
        task = loop.create_task(bot.close(), name="close on signal")
        closing.add(task)
        task.add_done_callback(closing.discard)

    installed = []
    for each in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(each, stop, each)
            installed.append(each)
    try:
        yield
    finally:
        for each in installed:
            loop.remove_signal_handler(each)


async def run(settings: DiscordSettings, *, now: Now) -> None:
    """Runs the bot until it is closed (SIGTERM, Ctrl+C), then closes its resources."""
    metrics = Metrics()
    try:
        async with serving_metrics(metrics, settings):
            await _run_bot(settings, now=now, metrics=metrics)
    except MetricsPortError as exc:
        raise StartError(str(exc)) from None
    log.info("stopped")


async def _run_bot(settings: DiscordSettings, *, now: Now, metrics: Metrics) -> None:
    try:
        ctx = await build_context(settings, now=now, metrics=metrics)
    except (ValueError, DatabaseUnavailable) as exc:  # a URL not understood, a read-only DB
        raise StartError(str(exc)) from None
    try:
        bot = create_bot(settings, ctx)
        async with bot:
            with close_on_signals(bot):
                await bot.start(settings.discord_token.get_secret_value())
    finally:
        await ctx.aclose()


def load_settings() -> DiscordSettings | str:
    """The settings, or one line saying what is wrong (never a value: the token is a secret)."""
    try:
        return DiscordSettings()
    except ValidationError as exc:
        return f"error: {describe_settings_error(exc)}"


def main(argv: Sequence[str] | None = None) -> int:
    settings = load_settings()
    if isinstance(settings, str):
        print(settings, file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(settings.log_level, secrets=[settings.discord_token.get_secret_value()])
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run(settings, now=kyiv_now))  # the program's one clock
    except discord.LoginFailure:
        print("error: DISCORD_TOKEN: Discord refused the token (reset it on the Bot page)", file=sys.stderr)
        return EXIT_CONFIG
    except StartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return 0
