"""Schedules, changes and reminders as text, from the message catalogs.

The output is structured (:class:`Rendered`): each bot turns it into its own markup (Telegram HTML,
Discord markdown) through a small :class:`Markup`, and :func:`split_text` / :func:`embed_fields` keep
it within the platforms' limits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NotRequired, Protocol, TypedDict

from common.changes import EventKind, ScheduleEvent
from common.clock import KYIV
from common.dtek.regions import REGIONS
from common.i18n import Catalog, catalog
from common.reminders import (
    Reminder,
    TransitionKind,
    current_state,
    elapsed,
    format_duration_parts,
    slot_start,
)
from common.schedule import RegionSchedule, Slot, slot_label, slot_ranges

STATE_ICONS = {Slot.ON: "🟢", Slot.OFF: "🔴", Slot.MAYBE: "🟡"}
STATE_KEYS = {Slot.ON: "on", Slot.OFF: "off", Slot.MAYBE: "maybe"}
TELEGRAM_MESSAGE_LIMIT = 4096
TELEGRAM_CAPTION_LIMIT = 1024
DISCORD_FIELD_NAME_LIMIT = 256
DISCORD_FIELD_VALUE_LIMIT = 1024
DISCORD_MAX_FIELDS = 25
ANNOUNCEMENT_BRIEF_LIMIT = 160  # under a schedule: the gist; /status has the full text
ANNOUNCEMENT_FULL_LIMIT = 1200  # /status: several regions must still fit one Discord message


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Rendered:
    """A message before markup: a title, an optional lead line, sections, and notes at the end."""

    title: str
    lead: str | None = None
    sections: tuple[Section, ...] = ()
    notes: tuple[str, ...] = ()


class SectionJson(TypedDict):
    title: str
    lines: list[str]


class RenderedJson(TypedDict):
    """A ``Rendered`` as JSON; the reader takes a missing lead, sections or notes as none."""

    title: str
    lead: NotRequired[str | None]
    sections: NotRequired[list[SectionJson]]
    notes: NotRequired[list[str]]


def rendered_to_json(rendered: Rendered) -> RenderedJson:
    """A JSON-ready form, so a message can wait in the outbox and be marked up by the bot that sends it."""
    return {
        "title": rendered.title,
        "lead": rendered.lead,
        "sections": [{"title": s.title, "lines": list(s.lines)} for s in rendered.sections],
        "notes": list(rendered.notes),
    }


def rendered_from_json(data: RenderedJson) -> Rendered:
    return Rendered(
        title=data["title"],
        lead=data.get("lead"),
        sections=tuple(Section(s["title"], tuple(s["lines"])) for s in data.get("sections", ())),
        notes=tuple(data.get("notes", ())),
    )


class Markup(Protocol):
    def escape(self, text: str) -> str: ...

    def bold(self, text: str) -> str: ...


class PlainMarkup:
    def escape(self, text: str) -> str:
        return text

    def bold(self, text: str) -> str:
        return text


def to_text(rendered: Rendered, markup: Markup | None = None) -> str:
    markup = markup or PlainMarkup()
    blocks = [markup.bold(markup.escape(rendered.title))]
    if rendered.lead:
        blocks.append(markup.escape(rendered.lead))
    for section in rendered.sections:
        lines = [markup.escape(line) for line in section.lines]
        blocks.append("\n".join([markup.bold(markup.escape(section.title)), *lines]))
    if rendered.notes:
        blocks.append("\n".join(markup.escape(note) for note in rendered.notes))
    return "\n\n".join(blocks)


def split_text(text: str, limit: int = TELEGRAM_MESSAGE_LIMIT) -> list[str]:
    """Splits at paragraph, then line boundaries so that every part fits ``limit`` characters."""
    pieces = [piece for paragraph in text.split("\n\n") for piece in _fit_lines(paragraph, limit)]
    return _pack(pieces, "\n\n", limit)


def embed_fields(
    rendered: Rendered, markup: Markup | None = None, *, max_fields: int | None = DISCORD_MAX_FIELDS
) -> list[tuple[str, str]]:
    """Sections as Discord embed fields (name, value) within Discord's per-field limits, cut after
    ``max_fields`` (one embed's worth by default; None keeps them all, for a sender that spreads them over
    several embeds)."""
    markup = markup or PlainMarkup()
    fields: list[tuple[str, str]] = []
    for section in rendered.sections:
        name = _truncate(section.title, DISCORD_FIELD_NAME_LIMIT)
        value = "\n".join(markup.escape(line) for line in section.lines) or "—"
        for index, chunk in enumerate(_fit_lines(value, DISCORD_FIELD_VALUE_LIMIT)):
            fields.append((name if index == 0 else "\u200b", chunk))
    return fields if max_fields is None else fields[:max_fields]


# --- durations -------------------------------------------------------------------------------------


def full_duration(delta: timedelta, lang: str, *, accusative: bool = False) -> str:
    """``2 години 10 хвилин`` (nominative) or ``2 години 10 хвилин`` after ``через`` (accusative)."""
    t = catalog(lang)
    hours, minutes = format_duration_parts(max(delta, timedelta(0)))
    suffix = "_acc" if accusative else ""
    parts = []
    if hours:
        parts.append(t.plural(f"plural.hours{suffix}", hours))
    if minutes:
        parts.append(t.plural(f"plural.minutes{suffix}", minutes))
    return " ".join(parts) or t("duration.zero")


def short_duration(delta: timedelta, lang: str) -> str:
    t = catalog(lang)
    hours, minutes = format_duration_parts(max(delta, timedelta(0)))
    if hours and minutes:
        return t("duration.short", hours=hours, minutes=minutes)
    return t("duration.short_hours", hours=hours) if hours else t("duration.short_minutes", minutes=minutes)


def real_length(day: date, start: int, end: int) -> timedelta:
    """Elapsed time between two half-hour boundaries of ``day``: right on daylight saving days too."""
    return elapsed(slot_start(day, start), slot_start(day, end))


# --- schedules -------------------------------------------------------------------------------------


def region_name(region: str | None, lang: str) -> str:
    known = REGIONS.get(region or "")
    return known.name(lang) if known else (region or "?")


def day_header(day: date, today: date, lang: str) -> str:
    t = catalog(lang)
    weekday = t.words("weekdays")[day.weekday()]
    stamp = f"{day:%d.%m}"
    relative = {0: "day.today", 1: "day.tomorrow", -1: "day.yesterday"}.get((day - today).days, "day.other")
    return t(relative, weekday=weekday, weekday_cap=weekday.capitalize(), date=stamp)


def day_lines(day: date, slots: str, lang: str) -> list[str]:
    t = catalog(lang)
    lines = []
    totals = {Slot.OFF: timedelta(), Slot.MAYBE: timedelta()}
    for run in slot_ranges(slots):
        length = real_length(day, run.start, run.end)
        state = t(f"state.{STATE_KEYS[run.state]}")
        line = f"{STATE_ICONS[run.state]} {slot_label(run.start)}–{slot_label(run.end)} {state}"
        if run.state is not Slot.ON:
            totals[run.state] += length
            line += f" ({short_duration(length, lang)})"
        lines.append(line)
    parts = [
        t(f"totals.{STATE_KEYS[state]}", duration=full_duration(total, lang))
        for state, total in totals.items()
        if total
    ]
    lines.append(t("totals.line", parts=", ".join(parts)) if parts else t("totals.none"))
    return lines


def now_line(schedule: RegionSchedule, group: str, now: datetime, lang: str) -> str:
    t = catalog(lang)
    state = current_state(schedule.group_days(group), now)
    if state.state is None:
        return t("now.unknown")
    if state.state is Slot.ON:
        if state.next_outage is None:
            return t("now.on_no_outage")
        return t("now.on_next_off", **_at(state.next_outage.at, now, lang))
    if state.until is None:
        return t("now.off_unknown" if state.state is Slot.OFF else "now.maybe_unknown")
    key = "now.off_until" if state.state is Slot.OFF else "now.maybe_until"
    return t(key, **_at(state.until, now, lang))


def render_schedule(
    schedule: RegionSchedule,
    group: str,
    *,
    now: datetime,
    lang: str,
    fetched_at: datetime | None = None,
    stale: bool = False,
    days: Iterable[date] | None = None,
    announcement: str | None = None,
) -> Rendered:
    """A group's schedule: the state now, then each day (by default today and later) with totals, and
    DTEK's current ``announcement`` in brief at the end."""
    t = catalog(lang)
    today = now.astimezone(KYIV).date()
    wanted = sorted(days) if days is not None else [d for d in sorted(schedule.days) if d >= today]
    sections = tuple(
        Section(day_header(day, today, lang), tuple(_day_or_nothing(schedule, group, day, t)))
        for day in wanted
    )
    published = any(group in schedule.days.get(day, {}) for day in wanted)
    return Rendered(
        title=t(
            "schedule.title", region=region_name(schedule.region, lang), group=schedule.group_name(group)
        ),
        lead=now_line(schedule, group, now, lang) if published else t("schedule.nothing_published"),
        sections=sections,
        notes=(
            *_notes(schedule, now, lang, fetched_at=fetched_at, stale=stale),
            *announcement_notes(announcement, lang),
        ),
    )


def render_week(schedule: RegionSchedule, group: str, *, lang: str, in_force: bool = True) -> Rendered:
    """The weekly plan; when DTEK does not show it (``in_force`` false) it is marked "not in force now"."""
    t = catalog(lang)
    names = t.words("weekdays_full")
    sections = []
    for weekday, groups in sorted(schedule.week.items()):
        if group not in groups:
            continue
        spans = [
            f"{STATE_ICONS[run.state]} {slot_label(run.start)}–{slot_label(run.end)}"
            for run in slot_ranges(groups[group])
            if run.state is not Slot.ON
        ]
        sections.append(Section(names[weekday - 1], tuple(spans) or (t("schedule.week_none"),)))
    return Rendered(
        title=t(
            "schedule.title", region=region_name(schedule.region, lang), group=schedule.group_name(group)
        ),
        lead=t("schedule.week_title") if in_force else t("schedule.week_title_not_in_force"),
        sections=tuple(sections),
        notes=() if in_force else (t("schedule.week_not_in_force"),),
    )


def announcement_notes(announcement: str | None, lang: str) -> tuple[str, ...]:
    """DTEK's announcement in brief (its first line, cut), and where to read the rest when it was cut."""
    if not announcement:
        return ()
    t = catalog(lang)
    first = announcement.split("\n", 1)[0]
    brief = _cut(first, ANNOUNCEMENT_BRIEF_LIMIT)
    notes = [t("schedule.announcement", text=brief)]
    if brief != announcement:
        notes.append(t("schedule.announcement_more"))
    return tuple(notes)


def render_news(region: str, announcement: str, *, lang: str) -> Rendered:
    """A new announcement of DTEK, as delivered to those who asked for it (/news)."""
    t = catalog(lang)
    return Rendered(
        title=t("news.title", region=region_name(region, lang)), lead=announcement_full(announcement, lang)
    )


def announcement_full(announcement: str, lang: str) -> str:
    """The whole announcement (within a limit every platform's message takes)."""
    return _cut(announcement, ANNOUNCEMENT_FULL_LIMIT)


# --- notifications ---------------------------------------------------------------------------------


def render_event(event: ScheduleEvent, *, group_name: str, today: date, lang: str) -> Rendered:
    """A change notice: what changed for which day, with the half hours that moved."""
    t = catalog(lang)
    day = day_header(event.day, today, lang)
    fields = {"group": group_name, "day": day}
    if event.kind is EventKind.CHANGED:
        lines = [
            t(
                f"change.now_{STATE_KEYS[d.new]}",
                start=slot_label(d.start),
                end=slot_label(d.end),
            )
            for d in event.diff
        ]
        full = day_lines(event.day, event.new or "", lang) if event.new else []
        return Rendered(
            title=t("change.changed_title", **fields),
            lead="\n".join(lines),
            sections=(Section(day, tuple(full)),) if full else (),
        )
    if event.kind is EventKind.PUBLISHED and event.new:
        return Rendered(
            title=t("change.published_title", **fields),
            sections=(Section(day, tuple(day_lines(event.day, event.new, lang))),),
        )
    return Rendered(title=t("change.removed_title", **fields), lead=t("change.removed_body"))


def render_reminder(reminder: Reminder, *, group_name: str, now: datetime, lang: str) -> str:
    key = {
        TransitionKind.POWER_OFF: "reminder.power_off",
        TransitionKind.POWER_ON: "reminder.power_on",
        TransitionKind.MAYBE_START: "reminder.maybe_start",
    }[reminder.transition.kind]
    return catalog(lang)(key, group=group_name, **_at(reminder.transition.at, now, lang))


# --- helpers ---------------------------------------------------------------------------------------


def _at(moment: datetime, now: datetime, lang: str) -> dict[str, str]:
    """``time`` and ``duration`` fields for "at 14:00, in 2 hours" (duration in real elapsed time)."""
    remaining = elapsed(now, moment)
    # Round up to the minute: "in 0 minutes" one minute before a change would be wrong.
    remaining = timedelta(minutes=-(-remaining.total_seconds() // 60))
    return {
        "time": f"{moment.astimezone(KYIV):%H:%M}",
        "duration": full_duration(remaining, lang, accusative=True),
    }


def _day_or_nothing(schedule: RegionSchedule, group: str, day: date, t: Catalog) -> list[str]:
    slots = schedule.days.get(day, {}).get(group)
    return day_lines(day, slots, t.lang) if slots else [t("day.nothing")]


def _notes(
    schedule: RegionSchedule, now: datetime, lang: str, *, fetched_at: datetime | None, stale: bool
) -> tuple[str, ...]:
    t = catalog(lang)
    notes = [
        t("schedule.updated", time=f"{schedule.updated.astimezone(KYIV):%d.%m.%Y %H:%M}")
        if schedule.updated
        else t("schedule.unknown_update")
    ]
    if stale and fetched_at is not None:
        notes.append(t("schedule.stale", age=age_text(elapsed(fetched_at, now), lang)))
    return tuple(notes)


def age_text(age: timedelta, lang: str) -> str:
    """``2 години`` / ``3 дні`` for "... ago" (accusative in Ukrainian)."""
    if age >= timedelta(days=2):
        return catalog(lang).plural("plural.days_acc", age.days)
    return full_duration(age, lang, accusative=True)


def _fit_lines(text: str, limit: int) -> list[str]:
    """Groups lines into chunks of at most ``limit`` characters; a longer single line is cut."""
    lines = [line[i : i + limit] for line in text.split("\n") for i in range(0, len(line) or 1, limit)]
    return _pack(lines, "\n", limit)


def _pack(pieces: list[str], separator: str, limit: int) -> list[str]:
    """Joins consecutive pieces (each within ``limit``) as long as the result stays within ``limit``."""
    packed: list[str] = []
    for piece in pieces:
        if packed and len(packed[-1]) + len(separator) + len(piece) <= limit:
            packed[-1] += separator + piece
        else:
            packed.append(piece)
    return packed


def _cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, cut at a word boundary when it can be, with an ellipsis."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    space = head.rfind(" ")
    return (head[:space] if space > limit // 2 else head).rstrip() + "…"


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
