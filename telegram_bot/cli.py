"""Command line of the Telegram bot: ``python -m telegram_bot [health ...]`` (``common.botcli``)."""

from __future__ import annotations

from collections.abc import Sequence

from common.botcli import bot_main
from common.clock import kyiv_now
from telegram_bot.settings import TelegramSettings


def main(argv: Sequence[str] | None = None) -> int:
    return bot_main(
        argv,
        prog="python -m telegram_bot",
        about="The Telegram bot of DTEK outage schedules.",
        settings_type=TelegramSettings,
        run=_run_bot,
        now=kyiv_now,  # the program's one clock
    )


def _run_bot() -> int:
    from telegram_bot.app import main  # here: importing aiogram takes seconds, which a health check skips

    return main()
