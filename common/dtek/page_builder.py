"""Builds DTEK-shaped shutdowns pages from the model: for the demo, the fake site and the tests.

The pages follow the layout described in docs (meta tags, site JavaScript, one data script), but all
text here is ours: no real capture is copied.
"""

from __future__ import annotations

import html
import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from typing import Any

from common.clock import KYIV, as_kyiv
from common.dtek.parse import HOUR_VALUES, update_text
from common.notices import KNOWN_FLAGS
from common.schedule import SLOTS_PER_DAY, RegionSchedule

_VALUE_OF_PAIR = {pair: value for value, pair in HOUR_VALUES.items()}
_WEEKDAY_NAMES = ("Понеділок", "Вівторок", "Середа", "Четвер", "П'ятниця", "Субота", "Неділя")


def day_timestamp(day: date) -> int:
    """The Unix time of Kyiv's midnight starting ``day`` (DTEK's key for a day)."""
    return int(datetime.combine(day, time(0), KYIV).timestamp())


def hours_of(slots: str) -> dict[str, str]:
    """A 48-slot day string as DTEK's hour object ``{"1": "yes", ...}``."""
    if len(slots) != SLOTS_PER_DAY:
        raise ValueError(f"a day has {SLOTS_PER_DAY} slots, got {len(slots)}")
    hours = {}
    for hour in range(SLOTS_PER_DAY // 2):
        pair = slots[2 * hour : 2 * hour + 2]
        if pair not in _VALUE_OF_PAIR:
            raise ValueError(f"half hours {pair!r} have no DTEK value")
        hours[str(hour + 1)] = _VALUE_OF_PAIR[pair]
    return hours


def fact_object(schedule: RegionSchedule, *, today: date | None = None) -> dict[str, Any]:
    days = sorted(schedule.days)
    # The page's "today" (our parser ignores it), unless given: the first published day, else the day of
    # DTEK's update time; null when neither is known. Never the wall clock: pages must be reproducible.
    if today is None and days:
        today = days[0]
    elif today is None and schedule.updated is not None:
        today = as_kyiv(schedule.updated).date()
    data: dict[str, Any] | list[Any] = {
        str(day_timestamp(day)): {g: hours_of(s) for g, s in schedule.days[day].items()} for day in days
    }
    return {
        "data": data or [],
        "update": update_text(schedule.updated),
        "today": day_timestamp(today) if today else None,
    }


def preset_object(schedule: RegionSchedule) -> dict[str, Any]:
    plan: dict[str, dict[str, Any]] = {}
    for weekday, groups in sorted(schedule.week.items()):
        for group, slots in groups.items():
            plan.setdefault(group, {})[str(weekday)] = hours_of(slots)
    return {
        "days": {str(i + 1): name for i, name in enumerate(_WEEKDAY_NAMES)},
        "days_mini": {str(i + 1): name[:2] for i, name in enumerate(_WEEKDAY_NAMES)},
        "sch_names": dict(schedule.groups),
        "time_zone": {str(h + 1): [f"{h:02}-{h + 1:02}", f"{h:02}:00", f"{h + 1:02}:00"] for h in range(24)},
        "time_type": {"yes": "Світло є", "no": "Світла немає", "maybe": "Можливо відключення"},
        "data": plan,
        "updateFact": update_text(schedule.updated),
    }


def build_page(
    schedule: RegionSchedule,
    *,
    streets: Mapping[str, Sequence[str]] | None = None,
    today: date | None = None,
    legacy: bool = False,
    ajax_url: str = "/ua/ajax",
    announcement: str | None = None,
    flags: Mapping[str, bool] | None = None,
) -> str:
    """A full shutdowns page for ``schedule``; ``legacy`` gives the 2022 layout (only ``preset``, no flags,
    no announcement). ``announcement`` is the attention modal's HTML (see :func:`paragraphs`); ``flags``
    override the ``show*`` flags, all true by default as on the real pages."""
    street_lists = {k: list(v) for k, v in (streets or {}).items()}
    if legacy:
        return page_html(
            region=schedule.region or "kem",
            fact=None,
            preset=preset_object(schedule),
            streets=sorted({s for names in street_lists.values() for s in names}),
            ajax_url=ajax_url,
            flags={},
        )
    return page_html(
        region=schedule.region or "kem",
        fact=fact_object(schedule, today=today),
        preset=preset_object(schedule),
        streets=street_lists,
        ajax_url=ajax_url,
        announcement=announcement,
        flags=flags,
    )


def paragraphs(text: str) -> str:
    """Plain text as the modal's HTML: one ``<p>`` per line, escaped."""
    return "\n".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines() if line.strip())


def page_html(
    *,
    region: str,
    fact: Any,
    preset: Any,
    streets: Any,
    ajax_url: str = "/ua/ajax",
    announcement: str | None = None,
    flags: Mapping[str, bool] | None = None,
) -> str:
    """A page around raw DTEK objects (``None`` leaves an assignment out); ``flags`` None: all true."""
    shown = {name: True for name in KNOWN_FLAGS} if flags is None else dict(flags)
    lines = [f"DisconSchedule.streets = {_json(streets)}"]
    if preset is not None:
        lines.append(f"DisconSchedule.preset = {_json(preset, ascii_only=True)}")
    lines.extend(f"DisconSchedule.{name} = {'true' if on else 'false'}" for name, on in shown.items())
    if fact is not None:
        lines.append(f"DisconSchedule.fact = {_json(fact)}")
    data_script = "\n".join(lines)
    return f"""<!DOCTYPE html>
<html lang="uk">
<head>
<meta charset="UTF-8">
<meta name="ajaxUrl" content="{ajax_url}" />
<meta content="_csrf-dtek-{region}" name="csrf-param">
<meta name="csrf-token" content="{secrets.token_urlsafe(32)}">
<title>Відключення (тестова сторінка)</title>
</head>
<body>
{_modal(announcement)}<main><h1>Графік відключень</h1><div id="discon-table"></div></main>
<script>
function onAnswer(answer) {{
    DisconSchedule.fact = answer.fact;
    DisconSchedule.preset = answer.preset;
}}
</script>
<script>
{data_script}</script>
</body>
</html>
"""


def _modal(announcement: str | None) -> str:
    if announcement is None:
        return ""
    return (
        '<div class="m-attention micromodal-slide" id="modal-attention" aria-hidden="true">'
        '<div class="modal__container"><div class="m-attention__body">'
        f'<div class="m-attention__text">{announcement}</div>'
        "</div></div></div>\n"
    )


def _json(value: Any, *, ascii_only: bool = False) -> str:
    # DTEK escapes Cyrillic in `preset` but not in `streets`; mirror that so both paths are exercised.
    return json.dumps(value, ensure_ascii=ascii_only, separators=(",", ":"))
