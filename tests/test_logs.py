"""The redacting log formatter: a secret never reaches a log line, whichever part of the record holds it."""

from __future__ import annotations

import logging
import sys

import pytest

from common.logs import FORMAT, RedactingFormatter, redact

TOKEN = "123456:SECRET-TOKEN"
HOOK = "hook-secret"


def formatted(record: logging.LogRecord) -> str:
    return RedactingFormatter(secrets=[TOKEN, HOOK, ""]).format(record)


def record(msg: str, *args: object, in_except: bool = False) -> logging.LogRecord:
    """A record as ``log.error(msg, *args)`` makes it, with the exception being handled if ``in_except``."""
    exc_info = sys.exc_info() if in_except else None
    return logging.LogRecord("aiogram.dispatcher", logging.ERROR, __file__, 1, msg, args, exc_info)


def test_a_secret_in_the_message_is_masked() -> None:
    line = formatted(record(f"GET /bot{TOKEN}/getMe failed; webhook secret {HOOK}"))
    assert line.endswith("aiogram.dispatcher: GET /bot***/getMe failed; webhook secret ***")


def test_a_secret_in_the_arguments_is_masked() -> None:
    line = formatted(record("Failed to fetch updates - %s: %r", "TelegramNetworkError", f"/bot{TOKEN}/x"))
    assert TOKEN not in line
    assert "Failed to fetch updates - TelegramNetworkError: '/bot***/x'" in line


def test_a_secret_in_a_traceback_is_masked() -> None:
    try:
        raise RuntimeError(f"url='http://127.0.0.1/bot{TOKEN}/sendMessage'")
    except RuntimeError:
        line = formatted(record("send failed", in_except=True))
    assert TOKEN not in line
    assert "Traceback (most recent call last)" in line
    assert "RuntimeError: url='http://127.0.0.1/bot***/sendMessage'" in line


def test_the_format_is_the_programs_one() -> None:
    line = record("nothing secret here")
    assert formatted(line) == logging.Formatter(FORMAT).format(line)


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("a TOKEN b", ["TOKEN"], "a *** b"),
        ("TOKEN-LONG", ["TOKEN", "TOKEN-LONG"], "***"),  # the longer secret first: nothing of it is left
        ("nothing", [""], "nothing"),  # an empty secret masks nothing (not every empty string)
    ],
)
def test_redact(text: str, secrets: list[str], expected: str) -> None:
    assert redact(text, secrets) == expected
