"""Turns a DTEK shutdowns page into the schedule model.

The page assigns its data in an inline script, one ``DisconSchedule.<name> = <json>`` per line.
The site's own JavaScript also says ``DisconSchedule.fact = answer.fact;``, so only an assignment
followed by ``{`` or ``[`` counts, and exactly one JSON value is decoded from there.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from bs4 import BeautifulSoup, Tag

from common.clock import KYIV
from common.dtek.errors import BlockedPageError, MalformedDataError, NoScheduleDataError
from common.notices import PageNotices
from common.schedule import SLOTS_PER_DAY, RegionSchedule

Streets = dict[str, list[str]]

# Written with \s+ so that no tracked file holds the capture's literal text.
_BLOCK_MARKERS = re.compile(r"Incapsula\s+incident\s+ID|_Incapsula_Resource|Request\s+unsuccessful", re.I)
_ASSIGNMENT = re.compile(r"DisconSchedule\.(fact|preset|streets)\s*=\s*(?=[\[{])")
_CSRF_REGION = re.compile(r"^_csrf-dtek-([a-z]+)$")
_UPDATE_FORMAT = "%d.%m.%Y %H:%M"
_FLAG = re.compile(r"DisconSchedule\.(show\w+)\s*=\s*(true|false)\b")
_MODAL_ID = 'id="modal-attention"'
_MODAL_WINDOW = 64_000  # characters after the modal's start; its text is a few paragraphs
_BREAK = "\x00"
_BLOCK_TAGS = ("p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table")

# DTEK's value for one hour -> two half-hour slots.
HOUR_VALUES: dict[str, str] = {
    "yes": "++",
    "no": "--",
    "maybe": "??",
    "first": "-+",
    "second": "+-",
    "mfirst": "?+",
    "msecond": "+?",
}
_UNKNOWN_HOUR = "??"


@dataclass(frozen=True, slots=True)
class ParsedPage:
    """A parsed page: the schedule plus what the page carries for address lookups."""

    schedule: RegionSchedule
    streets: Streets | None
    csrf_param: str | None = None
    csrf_token: str | None = None
    ajax_url: str | None = None
    warnings: list[str] = field(default_factory=list)
    notices: PageNotices = field(default_factory=PageNotices)


@dataclass(frozen=True, slots=True)
class ParsedUpdate:
    """A ``checkDisconUpdate`` answer that says the data changed: the new schedule and its update text."""

    schedule: RegionSchedule
    update: str | None  # the answer's fact.update, to send with the next probe
    warnings: list[str] = field(default_factory=list)


def is_block_page(html: str) -> bool:
    """Whether ``html`` is the anti-bot (Imperva/Incapsula) page rather than DTEK's own."""
    return "DisconSchedule" not in html and bool(_BLOCK_MARKERS.search(html))


def parse_page(html: str, *, region: str | None = None) -> ParsedPage:
    """Parse a shutdowns page. Raises a ``PageError`` subclass when it is not a schedule page."""
    if is_block_page(html):
        raise BlockedPageError("the page is Imperva/Incapsula's 'Request unsuccessful' page")
    blocks = _extract_blocks(html)
    if "fact" not in blocks and "preset" not in blocks:
        raise NoScheduleDataError("the page has no DisconSchedule.fact or DisconSchedule.preset")
    meta = read_meta(html)
    csrf_param = meta.get("csrf-param")
    warnings = _Warnings()
    schedule = build_schedule(
        fact=blocks.get("fact"),
        preset=blocks.get("preset"),
        region=region or _region_from_csrf(csrf_param),
        warnings=warnings,
    )
    return ParsedPage(
        schedule=schedule,
        streets=_parse_streets(blocks.get("streets")),
        csrf_param=csrf_param,
        csrf_token=meta.get("csrf-token"),
        ajax_url=meta.get("ajaxUrl"),
        warnings=warnings.messages(),
        notices=parse_notices(html),
    )


def parse_notices(html: str) -> PageNotices:
    """The attention modal's text and the ``DisconSchedule.show*`` flags (each first assignment wins)."""
    flags: dict[str, bool] = {}
    for match in _FLAG.finditer(html):
        flags.setdefault(match.group(1), match.group(2) == "true")
    return PageNotices(announcement=_announcement(html), flags=flags)


def _announcement(html: str) -> str | None:
    """The modal's text as plain lines (one per paragraph), whitespace collapsed; None when empty or absent."""
    found = html.find(_MODAL_ID)
    if found < 0:
        return None
    # Parsing only the modal's neighbourhood: the whole 800 KB page would take far longer.
    start = html.rfind("<", 0, found)
    soup = BeautifulSoup(html[start : found + _MODAL_WINDOW], "html.parser")
    text = soup.select_one("#modal-attention .m-attention__text")
    if text is None:
        return None
    for tag in text.find_all(["script", "style"]):
        tag.decompose()
    # A marker, not "\n": the source's own line breaks inside a paragraph are mere whitespace.
    for tag in text.find_all("br"):
        tag.replace_with(_BREAK)
    for tag in text.find_all(_BLOCK_TAGS):
        if isinstance(tag, Tag):
            tag.insert_before(_BREAK)
            tag.insert_after(_BREAK)
    lines = (" ".join(line.split()) for line in text.get_text().split(_BREAK))
    return "\n".join(line for line in lines if line) or None


def build_schedule(
    *, fact: Any, preset: Any, region: str | None, warnings: _Warnings | None = None
) -> RegionSchedule:
    """Normalise DTEK's ``fact`` and ``preset`` objects (either may be None) into the model."""
    warnings = warnings if warnings is not None else _Warnings()
    fact = _expect_object(fact, "fact")
    preset = _expect_object(preset, "preset")
    days = _parse_fact_days(fact.get("data", []), warnings)
    week = _parse_week(preset.get("data", {}), warnings)
    names = preset.get("sch_names") or {}
    if not isinstance(names, dict):
        raise MalformedDataError("preset.sch_names is not an object")
    group_keys = {g for groups in (*days.values(), *week.values()) for g in groups}
    updated = _parse_update(fact.get("update") or preset.get("updateFact"), warnings)
    return RegionSchedule(
        region=region,
        updated=updated,
        groups={g: str(names.get(g) or g) for g in group_keys},
        days=days,
        week=week,
    )


def parse_update_answer(answer: Mapping[str, Any], *, region: str) -> ParsedUpdate:
    """The schedule in a changed ``checkDisconUpdate`` answer (``result: true``), validated as a page's.

    The answer must carry both ``fact`` and ``preset`` objects, as the page's own script expects: without
    ``preset`` the weekly plan would silently vanish. ``MalformedDataError`` otherwise.
    """
    fact, preset = answer.get("fact"), answer.get("preset")
    if not isinstance(fact, dict) or not isinstance(preset, dict):
        raise MalformedDataError("checkDisconUpdate answer without fact and preset objects")
    warnings = _Warnings()
    schedule = build_schedule(fact=fact, preset=preset, region=region, warnings=warnings)
    update = fact.get("update")
    return ParsedUpdate(schedule, update if isinstance(update, str) else None, warnings.messages())


def update_text(updated: datetime | None) -> str | None:
    """DTEK's ``fact.update`` text (``DD.MM.YYYY HH:MM``, Kyiv time) of an update time."""
    return updated.astimezone(KYIV).strftime(_UPDATE_FORMAT) if updated is not None else None


class _Warnings:
    """Collects data oddities; unknown slot values are summarised, not listed one by one."""

    def __init__(self) -> None:
        self._notes: list[str] = []
        self._unknown: Counter[str] = Counter()
        self._first_seen: dict[str, str] = {}

    def note(self, message: str) -> None:
        self._notes.append(message)

    def unknown_value(self, value: object, where: str) -> None:
        key = repr(value) if value is not None else "missing"
        self._unknown[key] += 1
        self._first_seen.setdefault(key, where)

    def messages(self) -> list[str]:
        unknown = [
            f"slot value {key} in {count} hour(s), first at {self._first_seen[key]}; "
            "treated as possible outage"
            for key, count in self._unknown.items()
        ]
        return [*self._notes, *unknown]


def _extract_blocks(html: str) -> dict[str, Any]:
    decoder = json.JSONDecoder()
    blocks: dict[str, Any] = {}
    for match in _ASSIGNMENT.finditer(html):
        name = match.group(1)
        if name in blocks:
            continue
        try:
            blocks[name], _ = decoder.raw_decode(html, match.end())
        except json.JSONDecodeError as exc:
            raise MalformedDataError(f"DisconSchedule.{name} is not valid JSON ({exc.msg})") from exc
    return blocks


def read_meta(html: str) -> dict[str, str]:
    # Only the head holds the meta tags; parsing the whole 800 KB page would waste time.
    head_end = html.find("</head>")
    head = html[: head_end if head_end >= 0 else len(html)]
    soup = BeautifulSoup(head, "html.parser")
    meta: dict[str, str] = {}
    for tag in soup.find_all("meta"):
        name, content = tag.get("name"), tag.get("content")
        if isinstance(name, str) and isinstance(content, str):
            meta.setdefault(name, content)
    return meta


def _region_from_csrf(csrf_param: str | None) -> str | None:
    match = _CSRF_REGION.match(csrf_param or "")
    return match.group(1) if match else None


def _expect_object(value: Any, name: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedDataError(f"DisconSchedule.{name} is not an object")
    return value


def _parse_fact_days(data: Any, warnings: _Warnings) -> dict[date, dict[str, str]]:
    if isinstance(data, list):
        if data:
            raise MalformedDataError("fact.data is a non-empty list")
        return {}  # DTEK's way of saying "nothing published"
    if not isinstance(data, dict):
        raise MalformedDataError("fact.data is neither an object nor a list")
    days: dict[date, dict[str, str]] = {}
    for key, groups in data.items():
        day = _day_from_timestamp(key, warnings)
        days[day] = _parse_groups(groups, f"fact {day.isoformat()}", warnings)
    return days


def _day_from_timestamp(key: str, warnings: _Warnings) -> date:
    try:
        moment = datetime.fromtimestamp(int(key), KYIV)
    except (ValueError, OverflowError, OSError) as exc:
        raise MalformedDataError(f"fact.data key {key!r} is not a Unix time") from exc
    if (moment.hour, moment.minute) != (0, 0):
        warnings.note(f"fact.data key {key} is {moment.isoformat()}, not a Kyiv midnight")
    return moment.date()


def _parse_week(data: Any, warnings: _Warnings) -> dict[int, dict[str, str]]:
    if isinstance(data, list) and not data:
        return {}
    if not isinstance(data, dict):
        raise MalformedDataError("preset.data is not an object")
    week: dict[int, dict[str, str]] = {}
    for group, weekdays in data.items():
        if not isinstance(weekdays, dict):
            raise MalformedDataError(f"preset.data[{group!r}] is not an object")
        for weekday, hours in weekdays.items():
            if weekday not in {"1", "2", "3", "4", "5", "6", "7"}:
                warnings.note(f"preset.data[{group!r}] has weekday {weekday!r}; ignored")
                continue
            week.setdefault(int(weekday), {})[group] = _parse_hours(
                hours, f"plan weekday {weekday} {group}", warnings
            )
    return week


def _parse_groups(groups: Any, where: str, warnings: _Warnings) -> dict[str, str]:
    if isinstance(groups, list) and not groups:
        return {}
    if not isinstance(groups, dict):
        raise MalformedDataError(f"{where}: groups are not an object")
    return {group: _parse_hours(hours, f"{where} {group}", warnings) for group, hours in groups.items()}


def _parse_hours(hours: Any, where: str, warnings: _Warnings) -> str:
    if not isinstance(hours, dict):
        raise MalformedDataError(f"{where}: hours are not an object")
    slots = []
    for hour in range(1, SLOTS_PER_DAY // 2 + 1):
        value = hours.get(str(hour))
        pair = HOUR_VALUES.get(value) if isinstance(value, str) else None
        if pair is None:
            warnings.unknown_value(value, f"{where} hour {hour}")
            pair = _UNKNOWN_HOUR
        slots.append(pair)
    return "".join(slots)


def _parse_update(text: Any, warnings: _Warnings) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(str(text).strip(), _UPDATE_FORMAT).replace(tzinfo=KYIV)
    except ValueError:
        warnings.note(f"update time {text!r} is not DD.MM.YYYY HH:MM; ignored")
        return None


def _parse_streets(streets: Any) -> Streets | None:
    if isinstance(streets, dict):
        return {str(k): [str(s) for s in v] if isinstance(v, list) else [] for k, v in streets.items()}
    if isinstance(streets, list):
        # The 2022 layout lists streets without settlements.
        return {"": [str(s) for s in streets]}
    return None
