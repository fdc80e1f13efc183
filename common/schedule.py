"""The schedule model: one region's published schedule, normalised to half-hour slots.

A day is a string of 48 characters, one per half hour of Kyiv wall-clock time:
``+`` power on, ``-`` no power, ``?`` possible outage. Strings keep the model compact,
hashable, easy to diff and identical to the canonical JSON the CLI prints.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypedDict

from common.clock import KYIV

SLOTS_PER_DAY = 48
SLOT_MINUTES = 30
WEEKDAYS = range(1, 8)  # DTEK numbers weekdays 1 (Monday) to 7 (Sunday), like ISO.


class Slot(StrEnum):
    ON = "+"
    OFF = "-"
    MAYBE = "?"


UNKNOWN_DAY = Slot.MAYBE * SLOTS_PER_DAY


def is_day_slots(value: object) -> bool:
    """Whether ``value`` is a valid 48-slot day string."""
    return (
        isinstance(value, str)
        and len(value) == SLOTS_PER_DAY
        and all(ch in Slot._value2member_map_ for ch in value)
    )


def group_sort_key(group: str) -> tuple[tuple[int, int, str], ...]:
    """Orders ``GPV2.1`` before ``GPV10.1`` and plain ids like ``"3"`` numerically."""
    parts: list[tuple[int, int, str]] = []
    for chunk in group.removeprefix("GPV").split("."):
        parts.append((0, int(chunk), "") if chunk.isdigit() else (1, 0, chunk))
    return tuple(parts)


class CanonicalSchedule(TypedDict):
    """The canonical JSON shape of a ``RegionSchedule``: ISO dates and times, keys in sorted order."""

    region: str | None
    updated: str | None
    groups: dict[str, str]
    days: dict[str, dict[str, str]]
    week: dict[str, dict[str, str]]


@dataclass(frozen=True, slots=True)
class RegionSchedule:
    """Everything DTEK publishes for one region at one moment.

    ``days`` maps a Kyiv calendar date to group -> day string; ``week`` maps a weekday
    (1 = Monday .. 7 = Sunday) to group -> day string of *possible* outages.
    """

    region: str | None
    updated: datetime | None
    groups: Mapping[str, str] = field(default_factory=dict)
    days: Mapping[date, Mapping[str, str]] = field(default_factory=dict)
    week: Mapping[int, Mapping[str, str]] = field(default_factory=dict)

    def group_name(self, group: str) -> str:
        return self.groups.get(group, group)

    def group_days(self, group: str) -> dict[date, str]:
        """The published days of one group: date -> 48-slot string."""
        return {day: groups[group] for day, groups in sorted(self.days.items()) if group in groups}

    def sorted_groups(self) -> list[str]:
        return sorted(self.groups, key=group_sort_key)

    def to_canonical(self) -> CanonicalSchedule:
        """The canonical JSON shape (a contract other tools compare against)."""
        return {
            "region": self.region,
            "updated": self.updated.isoformat() if self.updated else None,
            "groups": dict(sorted(self.groups.items())),
            "days": {day.isoformat(): dict(sorted(g.items())) for day, g in sorted(self.days.items())},
            "week": {str(wd): dict(sorted(g.items())) for wd, g in sorted(self.week.items())},
        }

    @classmethod
    def from_canonical(cls, data: Mapping[str, Any]) -> RegionSchedule:
        updated = data.get("updated")
        return cls(
            region=data.get("region"),
            updated=datetime.fromisoformat(updated).astimezone(KYIV) if updated else None,
            groups=dict(data.get("groups") or {}),
            days={date.fromisoformat(d): dict(g) for d, g in (data.get("days") or {}).items()},
            week={int(wd): dict(g) for wd, g in (data.get("week") or {}).items()},
        )

    def restricted_to(self, group: str) -> RegionSchedule:
        """The same schedule holding only ``group`` (for ``show --json``)."""
        return RegionSchedule(
            region=self.region,
            updated=self.updated,
            groups={group: self.group_name(group)},
            days={d: {group: g[group]} for d, g in self.days.items() if group in g},
            week={wd: {group: g[group]} for wd, g in self.week.items() if group in g},
        )

    def content_hash(self) -> str:
        """A stable digest of everything published; equal schedules hash equal."""
        payload = json.dumps(self.to_canonical(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()


def canonical_json(schedule: RegionSchedule) -> str:
    """Canonical JSON text: sorted keys, UTF-8 characters (no ``\\u`` escapes)."""
    return json.dumps(schedule.to_canonical(), sort_keys=True, ensure_ascii=False, indent=2)


@dataclass(frozen=True, slots=True)
class SlotRange:
    """Consecutive half hours ``[start, end)`` of one day in the same state."""

    start: int
    end: int
    state: Slot

    @property
    def minutes(self) -> int:
        return (self.end - self.start) * SLOT_MINUTES


def slot_label(index: int) -> str:
    """Wall-clock label of the boundary before half hour ``index`` (0 -> 00:00, 48 -> 24:00)."""
    return f"{index // 2:02}:{SLOT_MINUTES * (index % 2):02}"


def slot_ranges(day: str) -> list[SlotRange]:
    """Splits a day string into runs of equal state."""
    ranges: list[SlotRange] = []
    start = 0
    for index in range(1, len(day) + 1):
        if index == len(day) or day[index] != day[start]:
            ranges.append(SlotRange(start, index, Slot(day[start])))
            start = index
    return ranges


def resolve_group(schedule: RegionSchedule, text: str) -> str:
    """Finds a group by ``3.2``, ``GPV3.2`` or ``Черга 3.2``; ``ValueError`` listing valid ones if none."""
    wanted = text.strip().upper().removeprefix("ЧЕРГА").removeprefix("GPV").strip()
    for key in schedule.groups:
        if key.upper().removeprefix("GPV") == wanted:
            return key
    valid = ", ".join(key.removeprefix("GPV") for key in schedule.sorted_groups()) or "none published"
    raise ValueError(f"unknown group {text!r}; valid groups: {valid}")
