"""A chat's settings in words: the /my summary and the pieces /remind and /quiet show."""

from __future__ import annotations

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


def settings_line(recipient: Recipient, t: Catalog) -> str:
    return t(
        "bot.my_settings",
        off=lead_text(recipient.lead_off_minutes, t),
        on=lead_text(recipient.lead_on_minutes, t),
        quiet=quiet_text(recipient, t),
        lang=LANGUAGE_NAMES.get(recipient.lang, recipient.lang),
        pictures=t("bot.yes") if recipient.pictures else t("bot.no"),
    )
