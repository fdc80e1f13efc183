"""The fan-out: schedule events and reminders into outbox rows, one per recipient, platform-neutral.

Change notices (:func:`fan_out_events`) are held during a recipient's quiet hours and delivered when they
end; reminders (:func:`queue_reminders`) that fall inside quiet hours are dropped, since a reminder is
worthless later. Quiet hours are read on the Kyiv wall clock; a span may cross midnight (23:00-07:00).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from common.changes import ScheduleEvent, StoredEvent
from common.clock import KYIV, as_utc
from common.messages import OutboxItem
from common.notices import StoredNotices, announcement_key
from common.reminders import Reminder, TransitionKind, plan_reminders
from common.render.text import render_event, render_news, render_reminder, rendered_to_json
from common.schedule import RegionSchedule

_HOUR = timedelta(hours=1)


class Subscriber(Protocol):
    """What the fan-out reads of a recipient: its language and notification settings."""

    @property
    def id(self) -> str: ...
    @property
    def lang(self) -> str: ...
    @property
    def lead_off_minutes(self) -> int | None: ...
    @property
    def lead_on_minutes(self) -> int | None: ...
    @property
    def quiet_hours(self) -> tuple[time, time] | None: ...


class EventStore(Protocol):
    """The event log and the subscriptions, for fanning events out."""

    async def pending_events(self) -> Sequence[StoredEvent]:
        """Events not fanned out yet, oldest first (a batch; asked again until empty)."""
        ...

    async def subscribers(self, region: str, group: str) -> Sequence[Subscriber]:
        """Active recipients subscribed to the group."""
        ...

    async def fan_out(self, event_id: int, items: Sequence[OutboxItem]) -> int:
        """Queues the event's rows and marks it fanned out in one transaction; returns rows added."""
        ...


class ReminderStore(Protocol):
    """The subscriptions and the outbox, for queuing reminders."""

    async def all_subscriptions(self) -> Sequence[tuple[Subscriber, str, str]]:
        """Every subscription of an active recipient, as (recipient, region, group)."""
        ...

    async def enqueue(self, items: Sequence[OutboxItem]) -> int:
        """Queues the items whose dedupe key is new; returns how many were added."""
        ...


class NewsStore(Protocol):
    """The announcement last seen per region and who wants new ones, for fanning out DTEK's news."""

    async def news_seen(self, region: str) -> str | None:
        """The words of the announcement last seen ("" none); None if the region was never looked at."""
        ...

    async def news_recipients(self, region: str) -> Sequence[Subscriber]:
        """Active recipients who opted in and follow a group of the region."""
        ...

    async def commit_news(self, region: str, key: str, items: Sequence[OutboxItem]) -> int:
        """Records ``key`` as seen and queues ``items`` in one transaction; returns rows added."""
        ...


async def fan_out_news(store: NewsStore, region: str, notices: StoredNotices | None, *, now: datetime) -> int:
    """Queues a region's new announcement for the recipients who want it; returns rows queued.

    Announcements compare by their words (:func:`common.notices.announcement_key`), so new spacing or markup
    is no news. The first look at a region only records what it says (a new bot does not message
    everybody), and an announcement taken down is no news either. The dedupe key
    ``news:{region}:{digest of the words}:{recipient}`` sends each text to each recipient once, also when
    DTEK puts an earlier text back. Held during quiet hours like change notices.
    """
    if notices is None:
        return 0  # the source does not know what the page says (a service without notices)
    key = announcement_key(notices.announcement)
    seen = await store.news_seen(region)
    if seen == key:
        return 0
    items: list[OutboxItem] = []
    if seen is not None and key and notices.announcement:
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        payloads: dict[str, Mapping[str, Any]] = {}
        for r in await store.news_recipients(region):
            if r.lang not in payloads:
                rendered = render_news(region, notices.announcement, lang=r.lang)
                payloads[r.lang] = {"kind": "news", "rendered": rendered_to_json(rendered), "region": region}
            items.append(
                OutboxItem(r.id, f"news:{region}:{digest}:{r.id}", payloads[r.lang], hold_until(r, now))
            )
    return await store.commit_news(region, key, items)


async def fan_out_events(
    store: EventStore, *, group_name: Callable[[str, str], str], today: date, now: datetime
) -> int:
    """Queues every pending schedule event for the active subscribers of its group; returns rows queued.

    ``group_name(region, group)`` is the group's display name; ``today`` is the Kyiv date the texts say
    "today" of. Each event's rows and its fanned-out mark are stored together, and the dedupe key
    ``event:{event id}:{recipient}`` keeps a repeated call from queuing anything twice.
    """
    queued = 0
    while pending := await store.pending_events():
        for stored in pending:
            event = stored.event
            recipients = await store.subscribers(event.region, event.group)
            name = group_name(event.region, event.group)
            items = []
            payloads: dict[tuple[str, date], Mapping[str, Any]] = {}
            for r in recipients:
                send_at = hold_until(r, now)
                # A notice held past midnight must say "today", not "tomorrow": render it for the day it
                # is sent, once per (language, day) however many recipients share it.
                day = today if send_at == now else send_at.astimezone(KYIV).date()
                if (r.lang, day) not in payloads:
                    payloads[r.lang, day] = _event_payload(event, name, day, r.lang)
                items.append(OutboxItem(r.id, f"event:{stored.id}:{r.id}", payloads[r.lang, day], send_at))
            queued += await store.fan_out(stored.id, items)
    return queued


async def queue_reminders(
    store: ReminderStore,
    schedules: Mapping[str, RegionSchedule],
    *,
    window_start: datetime,
    window_end: datetime,
) -> int:
    """Queues the reminders due in ``[window_start, window_end)`` for every active subscription with a lead
    time; returns rows queued. ``schedules`` maps a region to its latest schedule.

    A bot calls this every minute with the window from the previous call's end to a minute from now: the
    outbox holds a reminder for at most a minute, so one planned before a schedule change is hardly ever
    sent after it. Windows may overlap (after a restart, say): the dedupe key
    ``reminder:{recipient}:{region}:{group}:{kind}:{transition UTC}:{lead minutes}`` queues each once.
    """
    start, end = window_start.astimezone(UTC), window_end.astimezone(UTC)
    items: list[OutboxItem] = []
    for recipient, region, group in await store.all_subscriptions():
        leads = reminder_leads(recipient)
        schedule = schedules.get(region)
        if not leads or schedule is None:
            continue
        for reminder in plan_reminders(schedule.group_days(group), leads=leads, now=start):
            if reminder.due.astimezone(UTC) >= end:
                break  # planned in due order
            if not _is_quiet(recipient, reminder.due):
                items.append(_reminder_item(recipient, region, group, schedule.group_name(group), reminder))
    return await store.enqueue(items)


def reminder_leads(recipient: Subscriber) -> dict[TransitionKind, timedelta]:
    """The recipient's lead per transition kind: a possible outage is warned like an outage."""
    leads: dict[TransitionKind, timedelta] = {}
    if recipient.lead_off_minutes is not None:
        off = timedelta(minutes=recipient.lead_off_minutes)
        leads |= {TransitionKind.POWER_OFF: off, TransitionKind.MAYBE_START: off}
    if recipient.lead_on_minutes is not None:
        leads[TransitionKind.POWER_ON] = timedelta(minutes=recipient.lead_on_minutes)
    return leads


def in_quiet_hours(moment: datetime, start: time, end: time) -> bool:
    """Whether ``moment`` falls in ``[start, end)`` on the Kyiv wall clock; ``start == end`` means none."""
    wall = as_utc(moment).astimezone(KYIV).time()
    if start <= end:
        return start <= wall < end
    return wall >= start or wall < end  # the span crosses midnight


def quiet_hours_end(moment: datetime, start: time, end: time) -> datetime:
    """The first instant after ``moment`` when the Kyiv clock reaches ``end`` (``moment`` itself when there
    are no quiet hours), in Kyiv time.

    Built on real instants: an ``end`` skipped by spring forward ends the quiet hours when the clock jumps,
    and one repeated in autumn ends them at its first pass after ``moment``.
    """
    now = as_utc(moment)
    if start == end:
        return now.astimezone(KYIV)
    today = now.astimezone(KYIV).date()
    candidates = (_instant(today + timedelta(days=d), end, fold) for d in (0, 1) for fold in (0, 1))
    return min(c for c in candidates if c > now).astimezone(KYIV)


def _event_payload(event: ScheduleEvent, group_name: str, today: date, lang: str) -> dict[str, Any]:
    rendered = render_event(event, group_name=group_name, today=today, lang=lang)
    return {
        "kind": "event",
        "rendered": rendered_to_json(rendered),
        "region": event.region,
        "group": event.group,
        "day": event.day.isoformat(),
    }


def _reminder_item(
    recipient: Subscriber, region: str, group: str, group_name: str, reminder: Reminder
) -> OutboxItem:
    change = reminder.transition
    lead_minutes = reminder.lead // timedelta(minutes=1)
    key = (
        f"reminder:{recipient.id}:{region}:{group}:{change.kind}"
        f":{change.at.astimezone(UTC).isoformat()}:{lead_minutes}"
    )
    text = render_reminder(reminder, group_name=group_name, now=reminder.due, lang=recipient.lang)
    # A reminder that could only arrive after the change it announces is no use: it expires then.
    payload = {"kind": "reminder", "text": text, "expires": change.at.astimezone(UTC).isoformat()}
    return OutboxItem(recipient.id, key, payload, reminder.due)


def _is_quiet(recipient: Subscriber, moment: datetime) -> bool:
    quiet = recipient.quiet_hours
    return quiet is not None and in_quiet_hours(moment, *quiet)


def hold_until(recipient: Subscriber, now: datetime) -> datetime:
    """When a change notice may go: now, or when the recipient's quiet hours end."""
    quiet = recipient.quiet_hours
    return quiet_hours_end(now, *quiet) if quiet is not None and in_quiet_hours(now, *quiet) else now


def _instant(day: date, wall_time: time, fold: int) -> datetime:
    """The UTC instant the Kyiv clock shows ``wall_time`` on ``day`` (``fold`` picks the pass of a repeated
    hour); for a wall time skipped by spring forward, the jump itself."""
    wall = datetime.combine(day, wall_time)
    instant = wall.replace(tzinfo=KYIV, fold=fold).astimezone(UTC)
    if instant.astimezone(KYIV).replace(tzinfo=None) == wall:
        return instant
    # Kyiv's clock jumps on the hour, so the first wall time after a skipped one is the next whole hour.
    return (wall.replace(minute=0, second=0, microsecond=0) + _HOUR).replace(tzinfo=KYIV).astimezone(UTC)
