"""Plain-text timeline of one group for operators (``show``)."""

from __future__ import annotations

from datetime import date, datetime

from common.dtek.regions import REGIONS
from common.schedule import KYIV, RegionSchedule, Slot, slot_label, slot_ranges

STATE_WORDS = {Slot.ON: "power on", Slot.OFF: "no power", Slot.MAYBE: "possible outage"}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def day_label(day: date, today: date) -> str:
    relative = {0: "Today", 1: "Tomorrow", -1: "Yesterday"}.get((day - today).days)
    stamp = f"{WEEKDAYS[day.weekday()]} {day:%d.%m.%Y}"
    return f"{relative}, {stamp}" if relative else stamp


def day_lines(slots: str) -> list[str]:
    return [
        f"  {slot_label(r.start)}–{slot_label(r.end)}  {STATE_WORDS[r.state]}" for r in slot_ranges(slots)
    ]


def render_timeline(schedule: RegionSchedule, group: str, *, now: datetime, fetched_at: datetime) -> str:
    region = REGIONS[schedule.region].name_en if schedule.region in REGIONS else schedule.region
    updated = f"{schedule.updated:%d.%m.%Y %H:%M}" if schedule.updated else "unknown"
    lines = [
        f"{region} · {schedule.group_name(group)} ({group})",
        f"DTEK updated {updated} · fetched {fetched_at.astimezone(KYIV):%d.%m.%Y %H:%M}",
    ]
    today = now.astimezone(KYIV).date()
    days = [day for day in sorted(schedule.days) if group in schedule.days[day]]
    if not days:
        lines += ["", "No schedule published for these dates."]
    for day in days:
        lines += ["", day_label(day, today), *day_lines(schedule.days[day][group])]
    plan = [(wd, groups[group]) for wd, groups in sorted(schedule.week.items()) if group in groups]
    if plan:
        lines += ["", "Weekly plan of possible outages"]
        for weekday, slots in plan:
            outages = [r for r in slot_ranges(slots) if r.state is not Slot.ON]
            spans = ", ".join(f"{slot_label(r.start)}–{slot_label(r.end)}" for r in outages) or "none"
            lines.append(f"  {WEEKDAYS[weekday - 1]}: {spans}")
    return "\n".join(lines)
