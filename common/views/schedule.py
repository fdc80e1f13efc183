"""A group's schedule answer as any bot shows it, before markup and buttons.

A :class:`ScheduleView` holds what the answer says (the structured :class:`Rendered`), its picture, how
fresh the data is, and the actions offered under it. Each bot turns it into its own markup and buttons.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from common.clock import as_kyiv
from common.i18n import Catalog, catalog
from common.render.picture import PictureCache, schedule_picture, week_picture
from common.render.text import Rendered, render_schedule, render_week
from common.schedule import SLOT_MINUTES
from common.source import Snapshot
from common.views.lookup import Notice, SnapshotSource, load_snapshot, unknown_group


class ViewKind(StrEnum):
    """What a schedule answer shows; the value is what a button carries to open it."""

    DAYS = "days"  # today and the published days after it
    TODAY = "today"
    TOMORROW = "tomorrow"
    WEEK = "week"  # the weekly plan of possible outages


class ActionKind(StrEnum):
    REFRESH = "refresh"
    WEEK = "week"
    TODAY = "today"
    TOMORROW = "tomorrow"


# Refresh brings back the main view (today and later) as the cache has it now, whichever view it sits under.
_OPENS = {
    ActionKind.REFRESH: ViewKind.DAYS,
    ActionKind.WEEK: ViewKind.WEEK,
    ActionKind.TODAY: ViewKind.TODAY,
    ActionKind.TOMORROW: ViewKind.TOMORROW,
}


@dataclass(frozen=True, slots=True)
class Action:
    """A button under a schedule: opens ``view`` of the same region and group."""

    kind: ActionKind
    label: str
    view: ViewKind


@dataclass(frozen=True, slots=True)
class Picture:
    png: bytes
    key: str  # names exactly these pixels: a platform may keep its upload under it and send that again


@dataclass(frozen=True, slots=True)
class ScheduleView:
    region: str
    group: str  # the schedule's key, e.g. ``GPV3.2``
    kind: ViewKind
    rendered: Rendered  # title, the state now, a section per day (or weekday), notes
    picture: Picture | None  # None when not asked for or when nothing is published to draw
    fetched_at: datetime  # when the data came from DTEK
    stale: bool  # the last refresh failed or the data is old; the notes say so too
    actions: tuple[Action, ...]

    @property
    def title(self) -> str:
        return self.rendered.title

    def with_notes(self, notes: Sequence[str]) -> ScheduleView:
        """The same view with ``notes`` added at the end."""
        if not notes:
            return self
        return dataclasses.replace(
            self, rendered=dataclasses.replace(self.rendered, notes=(*self.rendered.notes, *notes))
        )


def schedule_view(
    snapshot: Snapshot,
    region: str,
    group: str,
    kind: ViewKind,
    *,
    now: datetime,
    lang: str,
    pictures: PictureCache | None,
) -> ScheduleView:
    """The view of ``group`` in ``snapshot`` at ``now``; ``pictures`` None: text only (no rendering)."""
    schedule = snapshot.schedule
    today = as_kyiv(now).date()
    tomorrow = today + timedelta(days=1)
    notices = snapshot.notices
    if kind is ViewKind.WEEK:
        rendered = render_week(schedule, group, lang=lang, in_force=notices is None or notices.plan_in_force)
    else:
        rendered = render_schedule(
            schedule,
            group,
            now=now,
            lang=lang,
            fetched_at=snapshot.fetched_at,
            stale=snapshot.stale,
            days=_days(kind, today),
            announcement=notices.announcement if notices else None,
        )
    return ScheduleView(
        region=region,
        group=group,
        kind=kind,
        rendered=rendered,
        picture=_picture(snapshot, region, group, kind, now, pictures) if pictures is not None else None,
        fetched_at=snapshot.fetched_at,
        stale=snapshot.stale,
        actions=_actions(catalog(lang), has_tomorrow=group in schedule.days.get(tomorrow, {})),
    )


async def load_schedule_view(
    source: SnapshotSource,
    region: str,
    group: str,
    kind: ViewKind,
    *,
    now: datetime,
    t: Catalog,
    pictures: PictureCache | None,
) -> ScheduleView | Notice:
    """The view from the cached source, or why there is none (no data, source down, unknown group)."""
    snapshot = await load_snapshot(source, region, t)
    if isinstance(snapshot, Notice):
        return snapshot
    if group not in snapshot.schedule.groups:
        return unknown_group(group, snapshot.schedule.sorted_groups(), t)
    return schedule_view(snapshot, region, group, kind, now=now, lang=t.lang, pictures=pictures)


def _days(kind: ViewKind, today: date) -> list[date] | None:
    """The days a day view shows; None: today and every published day after it."""
    return {ViewKind.TODAY: [today], ViewKind.TOMORROW: [today + timedelta(days=1)]}.get(kind)


def _picture(
    snapshot: Snapshot, region: str, group: str, kind: ViewKind, now: datetime, cache: PictureCache
) -> Picture | None:
    schedule, version = snapshot.schedule, snapshot.version
    local = as_kyiv(now)
    key = [kind.value, region, group, version]
    if kind is ViewKind.WEEK:
        png = week_picture(cache, schedule, group, version=version)
    else:
        days = _days(kind, local.date())
        png = schedule_picture(cache, schedule, group, version=version, now=now, days=days)
        key.append(local.date().isoformat())  # which days "today and later" are
        if kind is not ViewKind.TOMORROW:  # the picture marks the current half hour on today's row
            key.append(str((local.hour * 60 + local.minute) // SLOT_MINUTES))
    return Picture(png, "|".join(key)) if png is not None else None


def _actions(t: Catalog, *, has_tomorrow: bool) -> tuple[Action, ...]:
    """Refresh, week, today, and tomorrow once it is published."""
    kinds = [ActionKind.REFRESH, ActionKind.WEEK, ActionKind.TODAY]
    if has_tomorrow:
        kinds.append(ActionKind.TOMORROW)
    return tuple(Action(kind, t(f"bot.{kind.value}"), _OPENS[kind]) for kind in kinds)
