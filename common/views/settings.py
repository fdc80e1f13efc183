"""A chat's settings in words: the /my summary and the pieces /remind and /quiet show; and quiet hours as
a user types them, read the same way by every bot."""

from __future__ import annotations

import re
from datetime import time

from common.botdb import Recipient
from common.i18n import Catalog

LANGUAGE_NAMES = {"uk": "українська", "en": "English"}  # each in its own language


def lead_text(minutes: int | None, t: Catalog) -> str:
    """``за 15 хв`` before a change, or ``вимкнено``."""
    return t("bot.minutes_before", minutes=minutes) if minutes else t("bot.off_word")


def quiet_text(recipient: Recipient, t: Catalog) -> str:
    if recipient.quiet_start is None or recipient.quiet_end is None:
        return t("bot.quiet_none")
    return f"{recipient.quiet_start:%H:%M}–{recipient.quiet_end:%H:%M}"


def alert_settings_line(recipient: Recipient, t: Catalog) -> str:
    """What shapes the alerts: reminder lead times and quiet hours."""
    return t(
        "bot.alert_settings",
        off=lead_text(recipient.lead_off_minutes, t),
        on=lead_text(recipient.lead_on_minutes, t),
        quiet=quiet_text(recipient, t),
    )


def settings_line(recipient: Recipient, t: Catalog) -> str:
    """A chat's whole settings: the alerts', its language and whether schedules come as pictures."""
    chat = t(
        "bot.chat_settings",
        lang=LANGUAGE_NAMES.get(recipient.lang, recipient.lang),
        pictures=t("bot.yes") if recipient.pictures else t("bot.no"),
    )
    return f"{alert_settings_line(recipient, t)} {chat}"


_SPAN = re.compile(r"^\s*(\d{1,2})[:.](\d{2})\s*[-–—]\s*(\d{1,2})[:.](\d{2})\s*$")
# What turns quiet hours off, in either language (compared in lower case, without surrounding spaces).
OFF_WORDS = frozenset({"off", "no", "none", "вимк", "вимкнути", "ні", "немає"})
ON_WORDS = frozenset({"on", "yes", "увімк", "увімкнути", "так"})


def read_switch(text: str) -> bool | None:
    """``on``/``off`` as typed (either language); None when it is neither."""
    word = text.strip().lower()
    return True if word in ON_WORDS else False if word in OFF_WORDS else None


def parse_span(text: str) -> tuple[time, time] | None:
    """``23:00-07:00`` -> (23:00, 07:00); None when it is not such a span of valid times."""
    match = _SPAN.match(text)
    if not match:
        return None
    h1, m1, h2, m2 = map(int, match.groups())
    if max(h1, h2) > 23 or max(m1, m2) > 59:
        return None
    return time(h1, m1), time(h2, m2)


def read_quiet(text: str) -> tuple[time, time] | None:
    """Quiet hours as typed: a span, or None for one of ``OFF_WORDS``; ValueError for anything else."""
    if text.strip().lower() in OFF_WORDS:
        return None
    span = parse_span(text)
    if span is None:
        raise ValueError(f"{text!r} is neither a time span nor an off word")
    return span
