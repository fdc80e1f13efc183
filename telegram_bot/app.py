"""Builds the Telegram bot from settings and runs it: long polling by default, a webhook when configured."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.types import BotCommand, ErrorEvent
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from pydantic import ValidationError

from common.botdb import BotDB
from common.dtek.address import AddressLookup
from common.dtek.fetch import DtekFetcher
from common.i18n import DEFAULT_LANGUAGE, LANGUAGES, catalog
from common.notifier import Notifier
from common.settings import describe_settings_error
from common.source import create_source, kyiv_now
from common.store import database_path
from telegram_bot.context import BotContext
from telegram_bot.delivery import TelegramSender
from telegram_bot.middlewares import RecipientMiddleware
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
    "address",
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
    recipients = RecipientMiddleware(ctx)
    dispatcher.message.middleware(recipients)
    dispatcher.callback_query.middleware(recipients)
    dispatcher.include_routers(*create_routers())
    dispatcher.errors.register(on_error)
    return dispatcher


async def on_error(event: ErrorEvent) -> bool:
    """A handler failed: log it, apologise to the user, keep running."""
    log.exception("handler failed on update %s", event.update.update_id, exc_info=event.exception)
    update = event.update
    message = update.message or (update.callback_query.message if update.callback_query else None)
    chat = getattr(message, "chat", None)
    if chat is not None:
        lang = update.message.from_user.language_code if update.message and update.message.from_user else None
        try:
            await event.update.bot.send_message(chat.id, catalog(lang or DEFAULT_LANGUAGE)("bot.error"))
        except Exception:
            log.warning("could not apologise to chat %s", chat.id)
    return True


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
            sender=TelegramSender(bot),
            regions=settings.dtek_regions,
            rate_per_second=settings.telegram_rate_limit,
            watch_interval_seconds=settings.watch_interval_seconds,
            now=ctx.now,
        )
        self._webhook_stop = asyncio.Event()
        dispatcher.startup.register(self._on_startup)
        dispatcher.shutdown.register(self._on_shutdown)

    async def _on_startup(self, bot: Bot) -> None:
        await set_commands(bot)
        self.notifier.start()
        log.info("bot started in %s mode", self.ctx.source.mode)

    async def _on_shutdown(self) -> None:
        await self.notifier.stop()

    async def run(self, *, handle_signals: bool = True) -> None:
        try:
            if self.settings.telegram_webhook_url:
                await self._run_webhook()
            else:
                await self.dispatcher.start_polling(
                    self.bot, handle_signals=handle_signals, close_bot_session=True
                )
        finally:
            await self.close()

    async def stop(self) -> None:
        if self.settings.telegram_webhook_url:
            self._webhook_stop.set()
        else:
            await self.dispatcher.stop_polling()

    async def close(self) -> None:
        await self.ctx.source.aclose()
        await self.ctx.address.aclose()
        await self.ctx.db.close()
        await self.bot.session.close()

    async def _run_webhook(self) -> None:
        settings = self.settings
        secret = (
            settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else None
        )
        app = web.Application()
        SimpleRequestHandler(self.dispatcher, self.bot, secret_token=secret).register(app, path=WEBHOOK_PATH)
        setup_application(app, self.dispatcher, bot=self.bot)
        await self.bot.set_webhook(
            f"{settings.telegram_webhook_url.rstrip('/')}{WEBHOOK_PATH}", secret_token=secret
        )
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, settings.webhook_host, settings.webhook_port).start()
        log.info("webhook listening on %s:%d%s", settings.webhook_host, settings.webhook_port, WEBHOOK_PATH)
        try:
            await self._webhook_stop.wait()  # until stop() or cancellation (SIGTERM ends asyncio.run)
        finally:
            await runner.cleanup()


async def build_app(settings: TelegramSettings, *, now: Callable[[], datetime] = kyiv_now) -> TelegramApp:
    """Opens the bot's resources: its own DB, the schedule source, the address lookup."""
    db = await BotDB.open(database_path(settings.database_url))
    ctx = BotContext(
        settings=settings,
        db=db,
        source=create_source(settings, now=now),
        address=AddressLookup(DtekFetcher(settings)),
        now=now,
    )
    return TelegramApp(settings, ctx, create_bot(settings), create_dispatcher(ctx))


def load_settings() -> TelegramSettings:
    try:
        return TelegramSettings()
    except ValidationError as exc:
        raise SystemExit(f"error: {describe_settings_error(exc)}") from None


def main(argv: Sequence[str] | None = None) -> int:
    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)

    async def run() -> None:
        try:
            app = await build_app(settings)
        except ValueError as exc:  # DATABASE_URL or SCHEDULE_DB_URL not understood
            raise SystemExit(f"error: {exc}") from None
        await app.run()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0
