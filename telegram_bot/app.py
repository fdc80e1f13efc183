"""Builds the Telegram bot from settings and runs it: long polling by default, a webhook when configured."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import BotCommand, ErrorEvent, User
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from pydantic import ValidationError

from common.botcli import EXIT_CONFIG
from common.botdb import BotDB, DatabaseUnavailable
from common.clock import Now, kyiv_now
from common.dtek.address import AddressLookup
from common.dtek.fetch import DtekFetcher
from common.i18n import DEFAULT_LANGUAGE, LANGUAGES, catalog
from common.logs import setup_logging
from common.metrics import Metrics, MetricsPortError, serving_metrics
from common.notifications import Notifier
from common.notifications.address_watch import create_address_watch
from common.settings import describe_settings_error
from common.source import create_source
from common.store import database_path
from common.throttle import UserThrottle
from telegram_bot.context import BotContext
from telegram_bot.delivery import TelegramSender
from telegram_bot.middlewares import (
    ChatManagersMiddleware,
    RecipientMiddleware,
    ThrottleMiddleware,
    UpdateCounter,
    first_language,
)
from telegram_bot.routers import create_routers
from telegram_bot.settings import TelegramSettings

log = logging.getLogger("telegram_bot")

COMMANDS = (
    "start",
    "schedule",
    "week",
    "subscribe",
    "unsubscribe",
    "my",
    "remind",
    "quiet",
    "pictures",
    "news",
    "address",
    "outages",
    "lang",
    "status",
    "help",
)
WEBHOOK_PATH = "/telegram/webhook"


def create_bot(settings: TelegramSettings) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base.rstrip("/")))
    return Bot(
        token=settings.telegram_bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


def create_dispatcher(ctx: BotContext) -> Dispatcher:
    dispatcher = Dispatcher(storage=MemoryStorage(), ctx=ctx)
    dispatcher.update.outer_middleware(UpdateCounter(ctx.metrics.updates))
    settings = ctx.settings
    throttle = UserThrottle.for_bot(settings, ctx.now, ctx.metrics)
    throttling = ThrottleMiddleware(throttle, settings.default_language)
    dispatcher.message.outer_middleware(throttling)
    dispatcher.callback_query.outer_middleware(throttling)
    # In this order: the admins-only check answers in the catalog the recipient middleware adds.
    for middleware in (RecipientMiddleware(ctx), ChatManagersMiddleware()):
        dispatcher.message.middleware(middleware)
        dispatcher.callback_query.middleware(middleware)
    dispatcher.include_routers(*create_routers())
    dispatcher.errors.register(on_error)
    return dispatcher


async def on_error(event: ErrorEvent, bot: Bot, ctx: BotContext) -> bool:
    """A handler failed: log it, apologise to the user in the chat's language, keep running."""
    log.exception("handler failed on update %s", event.update.update_id, exc_info=event.exception)
    update = event.update
    query = update.callback_query
    message = update.message or (query.message if query else None)
    user = update.message.from_user if update.message else (query.from_user if query else None)
    t = catalog(await apology_language(ctx, message.chat.id if message else None, user))
    if query is not None:
        # Stops the button's spinner; fails when the handler already answered, which is no reason to
        # leave out the apology.
        with contextlib.suppress(Exception):
            await query.answer()
    if message is not None:
        try:
            await bot.send_message(message.chat.id, t("bot.error"))
        except Exception:
            log.warning("could not apologise for update %s", update.update_id)
    return True


async def apology_language(ctx: BotContext, chat_id: int | None, user: User | None) -> str:
    """The chat's chosen language, else its user's Telegram language, else the bot's default."""
    try:
        recipient = await ctx.db.get_recipient(str(chat_id)) if chat_id is not None else None
    except Exception:  # the database may be what failed: the apology still goes out
        log.warning("could not look up the language of chat %s", chat_id, exc_info=True)
        recipient = None
    return recipient.lang if recipient else first_language(user, ctx.settings.default_language)


async def set_commands(bot: Bot) -> None:
    """The command menu in both languages; the default (no language) is Ukrainian."""
    for lang in (None, *LANGUAGES):
        t = catalog(lang or DEFAULT_LANGUAGE)
        commands = [BotCommand(command=name, description=t(f"bot.commands.{name}")) for name in COMMANDS]
        await bot.set_my_commands(commands, language_code=lang)


class TelegramApp:
    """The bot with its resources: created in :func:`build_app`, run with :meth:`run`."""

    def __init__(self, settings: TelegramSettings, ctx: BotContext, bot: Bot, dispatcher: Dispatcher) -> None:
        self.settings = settings
        self.ctx = ctx
        self.bot = bot
        self.dispatcher = dispatcher
        self.notifier = Notifier(
            db=ctx.db,
            source=ctx.source,
            sender=TelegramSender(bot, move_recipient=ctx.db.move_recipient),
            regions=settings.dtek_regions,
            rate_per_second=settings.telegram_rate_limit,
            watch_interval_seconds=settings.watch_interval_seconds,
            now=ctx.now,
            metrics=ctx.metrics,
            address_watch=create_address_watch(ctx.db, ctx.address, settings, now=ctx.now),
        )
        self._webhook_stop = asyncio.Event()
        dispatcher.startup.register(self._on_startup)
        dispatcher.shutdown.register(self._on_shutdown)

    async def _on_startup(self, bot: Bot) -> None:
        try:
            await set_commands(bot)
        except Exception:  # the menu is a convenience: a network hiccup must not stop the bot
            log.warning("could not register the command menu", exc_info=True)
        self.notifier.start()
        log.info("bot started in %s mode", self.ctx.source.mode)

    async def _on_shutdown(self) -> None:
        await self.notifier.stop()

    async def run(self, *, handle_signals: bool = True) -> None:
        try:
            if url := self.settings.telegram_webhook_url:
                await self._run_webhook(url, handle_signals=handle_signals)
            else:
                await self._run_polling(handle_signals=handle_signals)
        finally:
            await self.close()

    async def stop(self) -> None:
        if self.settings.telegram_webhook_url:
            self._webhook_stop.set()
        else:
            await self.dispatcher.stop_polling()

    async def close(self) -> None:
        """Closes every resource, even when closing one of them fails."""
        closers = (self.ctx.source.aclose, self.ctx.address.aclose, self.ctx.db.close, self.bot.session.close)
        for close in closers:
            try:
                await close()
            except Exception:
                log.exception("closing failed: %s", close)

    async def _run_polling(self, *, handle_signals: bool) -> None:
        try:
            # A webhook left from an earlier run would make every getUpdates fail with 409.
            await self.bot.delete_webhook()
        except Exception:
            log.warning("could not delete a webhook before polling", exc_info=True)
        polling = asyncio.create_task(
            self.dispatcher.start_polling(self.bot, handle_signals=handle_signals, close_bot_session=False)
        )
        try:
            await asyncio.shield(polling)
        except asyncio.CancelledError:
            # Cancelling start_polling() from outside would orphan its inner poller: stop it properly.
            await self.dispatcher.stop_polling()
            await polling
            raise

    async def _run_webhook(self, url: str, *, handle_signals: bool) -> None:
        """Serves the updates Telegram posts to ``url`` (the public base URL) + WEBHOOK_PATH until stopped."""
        settings = self.settings
        if handle_signals:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self._webhook_stop.set)
        secret = (
            settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else None
        )
        app = web.Application()
        SimpleRequestHandler(self.dispatcher, self.bot, secret_token=secret).register(app, path=WEBHOOK_PATH)
        setup_application(app, self.dispatcher, bot=self.bot)
        await self.bot.set_webhook(f"{url.rstrip('/')}{WEBHOOK_PATH}", secret_token=secret)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, settings.webhook_host, settings.webhook_port).start()
        log.info("webhook listening on %s:%d%s", settings.webhook_host, settings.webhook_port, WEBHOOK_PATH)
        try:
            await self._webhook_stop.wait()  # until stop(), SIGTERM or SIGINT
        finally:
            await runner.cleanup()


async def build_app(settings: TelegramSettings, *, now: Now, metrics: Metrics | None = None) -> TelegramApp:
    """Opens the bot's resources: its own DB, the schedule source, the address lookup, all on the clock
    ``now``, recording into ``metrics``."""
    metrics = metrics or Metrics()
    db_path = database_path(settings.database_url)  # bad URLs fail here, before anything is open
    source = create_source(settings, now=now, metrics=metrics)  # opens nothing until first used
    db = await BotDB.open(db_path, now=now)
    ctx = BotContext(
        settings=settings,
        db=db,
        source=source,
        address=AddressLookup(DtekFetcher(settings)),
        now=now,
        metrics=metrics,
    )
    return TelegramApp(settings, ctx, create_bot(settings), create_dispatcher(ctx))


def load_settings() -> TelegramSettings:
    try:
        return TelegramSettings()
    except ValidationError as exc:
        raise SystemExit(f"error: {describe_settings_error(exc)}") from None


def main(argv: Sequence[str] | None = None) -> int:
    settings = load_settings()
    secrets = (settings.telegram_bot_token, settings.telegram_webhook_secret)
    setup_logging(settings.log_level, secrets=[secret.get_secret_value() for secret in secrets if secret])

    async def run() -> None:
        metrics = Metrics()
        async with serving_metrics(metrics, settings):
            try:
                app = await build_app(settings, now=kyiv_now, metrics=metrics)
            except (ValueError, DatabaseUnavailable) as exc:  # a URL not understood, a read-only DB
                raise SystemExit(f"error: {exc}") from None
            await app.run()

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run())
    except MetricsPortError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return 0
