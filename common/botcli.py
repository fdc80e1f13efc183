"""The bots' command line, the same for each: ``python -m telegram_bot [health ...]`` (and ``discord_bot``).

Without a command the bot runs; ``health`` is the container health check (``common.health``). The bot's
own modules are imported only to run it: aiogram alone takes seconds to import, too slow for a check
that runs every minute.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta

from pydantic import ValidationError

from common.clock import Now
from common.health import HealthLimits, check_bot_health
from common.settings import BotSettings, describe_settings_error
from common.store import database_path

EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 1
EXIT_CONFIG = 2

EXIT_CODES = """exit codes of health:
  0  healthy: "healthy: ..." on stdout
  1  unhealthy: "unhealthy: reason; reason" on stderr, or invalid settings: "error: ..." naming the
     variable (never its value); Docker reserves a health check's exit code 2"""


def bot_main(
    argv: Sequence[str] | None,
    *,
    prog: str,
    about: str,
    settings_type: type[BotSettings],
    run: Callable[[], int],
    now: Now,
) -> int:
    """Runs the bot with ``run`` or, for ``health``, checks it with the settings of ``settings_type``."""
    args = build_parser(prog, about).parse_args(argv)
    if args.command == "health":
        return health_command(
            settings_type,
            max_heartbeat_age_minutes=args.max_heartbeat_age_minutes,
            max_outbox_delay_minutes=args.max_outbox_delay_minutes,
            now=now,
        )
    return run()


def build_parser(prog: str, about: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=f"{about} Without a command it runs the bot.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    health = commands.add_parser(
        "health",
        help="exit 0 if the bot's background work goes on and its outbox is not stuck",
        description="Reads the bot's DB (DATABASE_URL) read-only: the heartbeat its background work records\n"
        "every minute must be recent, and no due message may wait past the limit while nothing is sent.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    health.add_argument(
        "--max-heartbeat-age-minutes",
        type=_positive_minutes,
        metavar="N",
        help="default: HEALTH_MAX_HEARTBEAT_AGE_MINUTES (5)",
    )
    health.add_argument(
        "--max-outbox-delay-minutes",
        type=_positive_minutes,
        metavar="N",
        help="default: HEALTH_MAX_OUTBOX_DELAY_MINUTES (15)",
    )
    return parser


def health_command(
    settings_type: type[BotSettings],
    *,
    max_heartbeat_age_minutes: float | None,
    max_outbox_delay_minutes: float | None,
    now: Now,
) -> int:
    """Prints the verdict on the bot's DB and returns its exit code; needs no network, logs nothing."""
    try:
        settings = settings_type()
        path = database_path(settings.database_url)
    except ValidationError as exc:
        return _config_error(describe_settings_error(exc))
    except ValueError as exc:
        return _config_error(f"DATABASE_URL: {exc}")
    if max_heartbeat_age_minutes is None:
        max_heartbeat_age_minutes = settings.health_max_heartbeat_age_minutes
    if max_outbox_delay_minutes is None:
        max_outbox_delay_minutes = settings.health_max_outbox_delay_minutes
    limits = HealthLimits(
        max_heartbeat_age=timedelta(minutes=max_heartbeat_age_minutes),
        max_outbox_delay=timedelta(minutes=max_outbox_delay_minutes),
    )
    report = asyncio.run(check_bot_health(path, limits, now=now()))
    if report.ok:
        print(f"healthy: {'; '.join(report.findings)}")
        return EXIT_HEALTHY
    print(f"unhealthy: {'; '.join(report.problems)}", file=sys.stderr)
    return EXIT_UNHEALTHY


def _config_error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_UNHEALTHY  # not EXIT_CONFIG: Docker reserves 2 for a health check


def _positive_minutes(text: str) -> float:
    try:
        minutes = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of minutes") from None
    if not minutes > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of minutes")
    return minutes
