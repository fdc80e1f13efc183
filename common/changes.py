"""The pure model of a schedule change: what changed between the baseline last reported to users and a
new schedule, slot by slot, as events.

Only current dates (today in Kyiv and later) take part: the midnight rollover, when yesterday's date
disappears and tomorrow's stays, is never a change. Storing the baseline and the events is the bot
database's job (``common.botdb``); running the checks is the notification pipeline's
(``common.notifications``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from common.schedule import RegionSchedule, Slot, group_sort_key, is_day_slots

# (group, day) -> the day string last reported to users.
Baseline = dict[tuple[str, date], str]


@dataclass(frozen=True, slots=True)
class SlotDiff:
    """Half hours ``[start, end)`` whose state went from ``old`` to ``new``."""

    start: int
    end: int
    old: Slot
    new: Slot


def diff_slots(old: str, new: str) -> list[SlotDiff]:
    """Runs of changed half hours; neighbours merge only while the (old, new) pair stays the same."""
    for name, value in (("old", old), ("new", new)):
        if not is_day_slots(value):
            raise ValueError(f"{name} is not a 48-slot day string: {value!r}")
    diffs: list[SlotDiff] = []
    for index, (before, after) in enumerate(zip(old, new, strict=True)):
        if before == after:
            continue
        last = diffs[-1] if diffs else None
        if last is not None and last.end == index and (last.old, last.new) == (before, after):
            diffs[-1] = SlotDiff(last.start, index + 1, last.old, last.new)
        else:
            diffs.append(SlotDiff(index, index + 1, Slot(before), Slot(after)))
    return diffs


class EventKind(StrEnum):
    CHANGED = "changed"
    PUBLISHED = "published"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class ScheduleEvent:
    """One (group, day) whose schedule changed, appeared or disappeared since the last report."""

    kind: EventKind
    region: str
    group: str
    day: date
    old: str | None  # None for PUBLISHED
    new: str | None  # None for REMOVED

    def __post_init__(self) -> None:
        # The database and the renderers rely on this shape; catch a mix-up where it is made.
        expected = {
            EventKind.CHANGED: (True, True),
            EventKind.PUBLISHED: (False, True),
            EventKind.REMOVED: (True, False),
        }[self.kind]
        if (self.old is not None, self.new is not None) != expected:
            raise ValueError(f"a {self.kind} event cannot have old={self.old!r}, new={self.new!r}")

    @property
    def diff(self) -> list[SlotDiff]:
        if self.old is None or self.new is None:
            return []
        return diff_slots(self.old, self.new)


def detect_changes(
    baseline: Mapping[tuple[str, date], str] | None, schedule: RegionSchedule, today: date
) -> tuple[list[ScheduleEvent], Baseline]:
    """Events between ``baseline`` and ``schedule``, and the baseline to store next.

    ``baseline`` is None when the region was never checked: the first check only records, so a new
    bot does not notify everybody. An empty baseline is different: the region was checked and had
    nothing current (for example after midnight, before DTEK published the new day), and whatever
    appears now is news.
    """
    if not schedule.region:
        raise ValueError("cannot watch a schedule without a region")
    current: Baseline = {
        (group, day): slots
        for day, groups in schedule.days.items()
        if day >= today
        for group, slots in groups.items()
    }
    if baseline is None:
        return [], current
    events: list[ScheduleEvent] = []
    for key in baseline.keys() | current.keys():
        group, day = key
        old, new = baseline.get(key), current.get(key)
        if day < today or old == new:
            continue  # past days roll off silently; an unchanged day is no news
        kind = EventKind.PUBLISHED if old is None else EventKind.REMOVED if new is None else EventKind.CHANGED
        events.append(ScheduleEvent(kind, schedule.region, group, day, old, new))
    events.sort(key=lambda event: (event.day, group_sort_key(event.group), event.kind))
    return events, current


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as logged in the bot's database, waiting to be fanned out or already fanned out."""

    id: int
    event: ScheduleEvent
    detected_at: datetime
