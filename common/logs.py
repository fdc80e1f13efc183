"""The programs' logging setup, with secrets kept out of every line.

aiogram puts the bot token in each request's URL (``/bot<TOKEN>/method``), and aiohttp's errors quote that
URL, so a token can reach a log line through a message, its ``args`` or a traceback. Redacting the final,
formatted string is the one place that sees all three.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MASK = "***"


def _nonempty(secrets: Iterable[str]) -> tuple[str, ...]:
    # Longest first: a secret inside another must not leave the rest of the longer one behind.
    return tuple(sorted({secret for secret in secrets if secret}, key=len, reverse=True))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in _nonempty(secrets):
        text = text.replace(secret, MASK)
    return text


class RedactingFormatter(logging.Formatter):
    """A formatter whose output (message, arguments, traceback, stack) never holds one of ``secrets``."""

    def __init__(self, fmt: str | None = FORMAT, *, secrets: Iterable[str]) -> None:
        super().__init__(fmt)
        self._secrets = _nonempty(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self._secrets)


def setup_logging(level: str, *, secrets: Iterable[str]) -> None:
    """What each program's ``main`` does first: log to stderr at ``level`` with ``secrets`` masked.

    Like ``logging.basicConfig``, it leaves a root logger that already has handlers alone.
    """
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(secrets=secrets))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is too many; ours say enough


def log_failure(log: logging.Logger, what: str, exc: Exception) -> None:
    """Logs a failure of background work: a database that refuses (read-only, full, locked) is one line, as it
    says enough and repeats until fixed; anything else comes with its traceback."""
    if isinstance(exc, sqlite3.Error):
        log.error("%s: %s", what, exc)
    else:
        log.exception(what)
