"""Command line of the Discord bot: ``python -m discord_bot [health ...]`` (``common.botcli``)."""

from __future__ import annotations

from collections.abc import Sequence

from common.botcli import bot_main
from common.clock import kyiv_now
from discord_bot.settings import DiscordSettings


def main(argv: Sequence[str] | None = None) -> int:
    return bot_main(
        argv,
        prog="python -m discord_bot",
        about="The Discord bot of DTEK outage schedules.",
        settings_type=DiscordSettings,
        run=_run_bot,
        now=kyiv_now,  # the program's one clock
    )


def _run_bot() -> int:
    from discord_bot.app import main  # here: importing discord.py takes seconds, which a health check skips

    return main()
