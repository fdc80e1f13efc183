"""The program's clock: the one place that reads the wall time.

Each program builds its clock once in ``main`` (``kyiv_now``) and passes it to everything that reads the
time; tests pass a clock of their own. Nothing else in the code calls ``datetime.now()``.

All "now" values are aware datetimes. Kyiv wall time comes from ``zoneinfo`` (daylight saving time
included), never from a fixed offset. Add, subtract and compare instants in UTC (``as_utc``): Python does
arithmetic on two datetimes of the same zone on the wall clock, which is an hour off across a daylight
saving change and inside the repeated autumn hour.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

KYIV = ZoneInfo("Europe/Kyiv")

# Returns the current instant as an aware datetime (any time zone: callers convert as they need).
Now = Callable[[], datetime]


def kyiv_now() -> datetime:
    """The real wall clock, in Kyiv time: what ``main`` passes to everything."""
    return datetime.now(KYIV)


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; refuses a naive datetime, whose meaning would be a guess."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"times must be timezone-aware, got naive {moment!r}")
    return moment.astimezone(UTC)


def as_kyiv(moment: datetime) -> datetime:
    """``moment`` on the Kyiv wall clock."""
    return as_utc(moment).astimezone(KYIV)


def kyiv_today(now: Now) -> date:
    """Today's date in Kyiv by the clock ``now``."""
    return as_kyiv(now()).date()
