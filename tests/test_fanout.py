"""From schedule events and reminders to outbox rows: languages, quiet hours (across midnight and DST),
inactive recipients, lead times and idempotence."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from common.botdb import BotDB
from common.changes import EventKind, ScheduleEvent
from common.clock import KYIV
from common.dtek.parse import Streets
from common.messages import OutboxRow
from common.metrics import Metrics
from common.notices import PageNotices, StoredNotices
from common.notifications.fanout import (
    fan_out_events,
    fan_out_news,
    in_quiet_hours,
    queue_reminders,
    quiet_hours_end,
)
from common.notifications.notifier import Notifier
from common.notifications.outbox import SendOutcome
from common.reminders import Reminder, Transition, TransitionKind
from common.render.text import render_event, render_reminder, rendered_to_json
from common.schedule import SLOTS_PER_DAY, RegionSchedule, Slot
from common.source import CachedSource, Snapshot
from tests.metrics_helpers import by_label

DAY = date(2026, 1, 20)  # winter: Kyiv is UTC+2
SPRING = date(2026, 3, 29)  # 03:00 -> 04:00
FALL = date(2026, 10, 25)  # 04:00 -> 03:00
NAMES = {"GPV1.1": "Черга 1.1", "GPV1.2": "Черга 1.2"}
QUIET_NIGHT = (time(23, 0), time(7, 0))


def kyiv(on: date, hour: int, minute: int = 0, fold: int = 0) -> datetime:
    return datetime(on.year, on.month, on.day, hour, minute, tzinfo=KYIV, fold=fold)


def utc(on: date, hour: int, minute: int = 0) -> datetime:
    return datetime(on.year, on.month, on.day, hour, minute, tzinfo=UTC)


def day(*spans: tuple[float, float, Slot]) -> str:
    """Power on all day but for the (from hour, to hour, state) spans."""
    slots = [Slot.ON.value] * SLOTS_PER_DAY
    for start, end, state in spans:
        slots[int(start * 2) : int(end * 2)] = state.value * int((end - start) * 2)
    return "".join(slots)


# Off 10:00-12:00, possible outage 16:00-17:00.
SLOTS = day((10, 12, Slot.OFF), (16, 17, Slot.MAYBE))
SCHEDULES = {"kem": RegionSchedule("kem", None, NAMES, {DAY: {"GPV1.1": SLOTS}})}


def group_name(region: str, group: str) -> str:
    return NAMES[group]


async def add(
    db: BotDB,
    recipient: str,
    lang: str = "uk",
    *,
    group: str = "GPV1.1",
    leads: tuple[int | None, int | None] = (None, None),
    quiet: tuple[time, time] | None = None,
    active: bool = True,
) -> None:
    await db.ensure_recipient(recipient, lang)
    await db.subscribe(recipient, "kem", group)
    await db.set_leads(recipient, *leads)
    if quiet is not None:
        await db.set_quiet(recipient, *quiet)
    if not active:
        await db.deactivate(recipient, "blocked")


async def queued(db: BotDB) -> dict[str, list[OutboxRow]]:
    """Pending rows by recipient, whenever due."""
    rows: dict[str, list[OutboxRow]] = {}
    for row in await db.due_messages(datetime.max.replace(tzinfo=UTC), 1000):
        rows.setdefault(row.recipient_id, []).append(row)
    return rows


async def log_event(db: BotDB, group: str = "GPV1.1") -> int:
    event = ScheduleEvent(EventKind.CHANGED, "kem", group, DAY, "+" * SLOTS_PER_DAY, SLOTS)
    [event_id] = await db.commit_watch("kem", {}, [event], utc(DAY, 6))
    return event_id


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[BotDB]:
    async with await BotDB.open(tmp_path / "bot.db", now=lambda: utc(DAY, 8)) as db:
        yield db


# --- quiet hours -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hour", "minute", "span", "quiet"),
    [
        (22, 59, QUIET_NIGHT, False),
        (23, 0, QUIET_NIGHT, True),
        (0, 0, QUIET_NIGHT, True),
        (6, 59, QUIET_NIGHT, True),
        (7, 0, QUIET_NIGHT, False),
        (12, 0, QUIET_NIGHT, False),
        (13, 30, (time(13), time(15)), True),
        (15, 0, (time(13), time(15)), False),
        (12, 59, (time(13), time(15)), False),
        (13, 0, (time(13), time(13)), False),  # start == end: no quiet hours
    ],
)
def test_in_quiet_hours_on_the_kyiv_clock(
    hour: int, minute: int, span: tuple[time, time], quiet: bool
) -> None:
    assert in_quiet_hours(kyiv(DAY, hour, minute).astimezone(UTC), *span) is quiet


@pytest.mark.parametrize(
    ("moment", "span", "end"),
    [
        (kyiv(DAY, 23, 30), QUIET_NIGHT, utc(DAY + timedelta(days=1), 5)),  # across midnight
        (kyiv(DAY, 1, 0), QUIET_NIGHT, utc(DAY, 5)),
        (utc(DAY, 11), (time(13), time(13)), kyiv(DAY, 13, 0)),  # none: now
        # Spring forward: 00:30 is UTC+2, 07:00 is UTC+3, so the night is an hour shorter.
        (kyiv(SPRING, 0, 30), QUIET_NIGHT, utc(SPRING, 4)),
        # An end the clock skips ends the quiet hours when it jumps (03:00+02:00 -> 04:00+03:00).
        (kyiv(SPRING, 2, 0), (time(1), time(3, 30)), utc(SPRING, 1)),
        # Fall back repeats 03:00-04:00: each pass of 03:30 is an end.
        (kyiv(FALL, 3, 10), (time(1), time(3, 30)), utc(FALL, 0, 30)),
        (kyiv(FALL, 3, 10, fold=1), (time(1), time(3, 30)), utc(FALL, 1, 30)),
    ],
)
def test_quiet_hours_end_is_a_real_instant(moment: datetime, span: tuple[time, time], end: datetime) -> None:
    found = quiet_hours_end(moment, *span)
    assert found.astimezone(UTC) == end.astimezone(UTC)
    assert found.tzinfo is KYIV


# --- change notices --------------------------------------------------------------------------------


async def test_fan_out_renders_in_each_recipients_language(db: BotDB) -> None:
    for recipient, lang in (("u1", "uk"), ("u2", "uk"), ("e1", "en")):
        await add(db, recipient, lang)
    await add(db, "gone", active=False)
    await add(db, "elsewhere", group="GPV1.2")
    event_id = await log_event(db)
    [stored] = await db.pending_events()
    now = utc(DAY, 8)

    assert await fan_out_events(db, group_name=group_name, today=DAY, now=now) == 3
    rows = await queued(db)
    assert sorted(rows) == ["e1", "u1", "u2"]  # neither the inactive one nor another group's
    for recipient, lang in (("u1", "uk"), ("u2", "uk"), ("e1", "en")):
        [row] = rows[recipient]
        expected = render_event(stored.event, group_name="Черга 1.1", today=DAY, lang=lang)
        assert row.payload == {
            "kind": "event",
            "rendered": rendered_to_json(expected),
            "region": "kem",
            "group": "GPV1.1",
            "day": "2026-01-20",
        }
        assert row.dedupe_key == f"event:{event_id}:{recipient}"
        assert row.not_before == now
    assert rows["u1"][0].payload["rendered"]["title"] != rows["e1"][0].payload["rendered"]["title"]
    assert await db.pending_events() == []


async def test_fan_out_is_idempotent(db: BotDB) -> None:
    await add(db, "u1")
    await log_event(db)
    assert await fan_out_events(db, group_name=group_name, today=DAY, now=utc(DAY, 8)) == 1
    assert await fan_out_events(db, group_name=group_name, today=DAY, now=utc(DAY, 8)) == 0
    await log_event(db)  # a later change is news again
    assert await fan_out_events(db, group_name=group_name, today=DAY, now=utc(DAY, 9)) == 1
    assert len((await queued(db))["u1"]) == 2


@pytest.mark.parametrize(
    ("now", "held_until"),
    [
        (kyiv(DAY, 23, 30), kyiv(DAY + timedelta(days=1), 7)),
        (kyiv(DAY, 12, 0), kyiv(DAY, 12, 0)),  # outside quiet hours: at once
        (kyiv(SPRING, 0, 30), utc(SPRING, 4)),  # 07:00 after the clocks went forward
    ],
)
async def test_change_notices_are_held_during_quiet_hours(
    db: BotDB, now: datetime, held_until: datetime
) -> None:
    await add(db, "sleeper", quiet=QUIET_NIGHT)
    await add(db, "awake")
    await log_event(db)
    assert await fan_out_events(db, group_name=group_name, today=DAY, now=now) == 2
    rows = await queued(db)
    assert rows["sleeper"][0].not_before == held_until
    assert rows["awake"][0].not_before == now


# --- reminders -------------------------------------------------------------------------------------


async def test_reminders_due_in_the_window(db: BotDB) -> None:
    await add(db, "r", leads=(15, 30))
    await add(db, "sleepy", "en", leads=(15, 30), quiet=(time(9), time(10)))
    await add(db, "no_leads")
    await add(db, "gone", leads=(15, 30), active=False)

    queued_now = await queue_reminders(
        db, SCHEDULES, window_start=kyiv(DAY, 9, 40), window_end=kyiv(DAY, 9, 50)
    )
    assert queued_now == 1  # "sleepy"'s 09:45 falls in its quiet hours: dropped
    [row] = (await queued(db))["r"]
    off = Transition(kyiv(DAY, 10), TransitionKind.POWER_OFF, Slot.ON, Slot.OFF)
    reminder = Reminder(kyiv(DAY, 9, 45), timedelta(minutes=15), off)
    assert row.not_before == kyiv(DAY, 9, 45)
    assert row.payload == {
        "kind": "reminder",
        "text": render_reminder(reminder, group_name="Черга 1.1", now=kyiv(DAY, 9, 45), lang="uk"),
        "expires": "2026-01-20T08:00:00+00:00",  # the outage itself: later the reminder is useless
    }
    assert row.dedupe_key == "reminder:r:kem:GPV1.1:power_off:2026-01-20T08:00:00+00:00:15"

    # Later windows: power on uses lead_on (30 min before 12:00), a possible outage lead_off (15 before 16:00).
    later = await queue_reminders(db, SCHEDULES, window_start=kyiv(DAY, 9, 50), window_end=kyiv(DAY, 16))
    assert later == 4
    rows = await queued(db)
    for recipient in ("r", "sleepy"):
        assert [r.not_before for r in rows[recipient][-2:]] == [kyiv(DAY, 11, 30), kyiv(DAY, 15, 45)]
    assert "in 30 minutes" in rows["sleepy"][0].payload["text"]  # in the recipient's language
    assert sorted(rows) == ["r", "sleepy"]


async def test_repeated_windows_queue_each_reminder_once(db: BotDB) -> None:
    await add(db, "r", leads=(15, 30))
    start, end = kyiv(DAY, 9), kyiv(DAY, 12)
    assert await queue_reminders(db, SCHEDULES, window_start=start, window_end=end) == 2
    assert await queue_reminders(db, SCHEDULES, window_start=start, window_end=end) == 0
    # The window's end is excluded and its start included: 15:45 waits for the next window.
    assert await queue_reminders(db, SCHEDULES, window_start=kyiv(DAY, 11), window_end=kyiv(DAY, 15, 45)) == 0
    assert await queue_reminders(db, SCHEDULES, window_start=kyiv(DAY, 15, 45), window_end=kyiv(DAY, 16)) == 1
    assert [r.not_before for r in (await queued(db))["r"]] == [
        kyiv(DAY, 9, 45),
        kyiv(DAY, 11, 30),
        kyiv(DAY, 15, 45),
    ]


class FixedLoader:
    """Loads the same schedule for every region, as a shared DB that never changes."""

    mode = "shared"

    def __init__(self, schedule: RegionSchedule, fetched_at: datetime) -> None:
        self.snapshot = Snapshot(schedule, "1", fetched_at)

    async def load(self, region: str) -> Snapshot:
        return self.snapshot

    async def version(self, region: str) -> str:
        return self.snapshot.version

    async def streets(self, region: str) -> Streets | None:
        return None

    async def aclose(self) -> None:
        pass


class NoSender:
    async def send(self, recipient_id: str, payload: Mapping[str, Any], *, parts_sent: int) -> SendOutcome:
        raise AssertionError("queueing reminders sends nothing")


def quiet_notifier(
    db: BotDB, schedule: RegionSchedule, now: datetime, metrics: Metrics | None = None
) -> Notifier:
    """A notifier on a fixed schedule and clock that queues, and never sends."""
    return Notifier(
        db=db,
        source=CachedSource(
            FixedLoader(schedule, now), ttl_seconds=60, stale_after=timedelta(hours=1), now=lambda: now
        ),
        sender=NoSender(),
        regions=["kem"],
        rate_per_second=1,
        watch_interval_seconds=1,
        now=lambda: now,
        metrics=metrics,
    )


async def test_the_notifier_queues_reminders_in_the_repeated_autumn_hour(db: BotDB) -> None:
    # 03:45 comes twice on FALL; at its second pass (01:45 UTC) the 04:00 outage (02:00 UTC) is 15 min away.
    now = kyiv(FALL, 3, 45, fold=1)
    await add(db, "r", leads=(15, None))
    schedule = RegionSchedule("kem", None, NAMES, {FALL: {"GPV1.1": day((4, 6, Slot.OFF))}})
    notifier = quiet_notifier(db, schedule, now)
    assert await notifier.queue_reminders() == 1
    [row] = (await queued(db))["r"]
    assert row.not_before == now


async def test_the_notifier_counts_what_it_queues_and_the_outbox(db: BotDB) -> None:
    await add(db, "a", leads=(15, None))
    await add(db, "b")
    await log_event(db)
    metrics = Metrics()
    notifier = quiet_notifier(db, SCHEDULES["kem"], kyiv(DAY, 9, 45), metrics)  # 15 min before 10:00

    assert await notifier.fan_out() == 2
    assert await notifier.queue_reminders() == 1
    await notifier.count_outbox()

    queued = by_label(metrics, "dtek_notifications_queued_total", "kind", ("change", "reminder"))
    assert queued == {"change": 2, "reminder": 1}
    outbox = by_label(metrics, "dtek_outbox_messages", "status", ("pending", "sent", "dead"))
    assert outbox == {"pending": 3, "sent": 0, "dead": 0}


# --- DTEK's announcements --------------------------------------------------------------------------

NEWS = "За наказом НЕК Укренерго діятимуть\nстабілізаційні відключення."


def notices(text: str | None, at: datetime | None = None) -> StoredNotices:
    return StoredNotices(PageNotices(text, {}), at if text is not None else None)


async def test_a_new_announcement_goes_once_to_those_who_asked_in_their_language(db: BotDB) -> None:
    now = kyiv(DAY, 12)
    await add(db, "uk-on")
    await add(db, "en-on", "en", group="GPV1.2")
    await add(db, "off")
    await add(db, "gone")
    await db.ensure_recipient("no-kem", "uk")  # wants news, follows no group of kem
    for rid in ("uk-on", "en-on", "gone", "no-kem"):
        await db.set_news(rid, True)
    await db.deactivate("gone", "blocked")
    assert await db.wants_news("uk-on")
    assert not await db.wants_news("off")

    assert await fan_out_news(db, "kem", notices(NEWS, now), now=now) == 0  # the first look only records
    assert await db.news_seen("kem") == " ".join(NEWS.split())
    assert await fan_out_news(db, "kem", notices("Нове оголошення.", now), now=now) == 2
    rows = await queued(db)
    assert sorted(rows) == ["en-on", "uk-on"]
    [uk] = rows["uk-on"]
    assert uk.payload["rendered"]["title"] == "📢 Нове оголошення ДТЕК: Київ"
    assert uk.payload["rendered"]["lead"] == "Нове оголошення."
    assert rows["en-on"][0].payload["rendered"]["title"] == "📢 New announcement from DTEK: Kyiv"

    # The same words with other spacing, no announcement, and a known text put back: nothing new.
    assert await fan_out_news(db, "kem", notices(" Нове   оголошення. "), now=now) == 0
    assert await fan_out_news(db, "kem", notices(None), now=now) == 0
    assert await db.news_seen("kem") == ""
    assert await fan_out_news(db, "kem", notices("Нове оголошення."), now=now) == 0
    assert await fan_out_news(db, "kem", None, now=now) == 0  # not known: nothing recorded either
    assert await db.news_seen("kem") == "Нове оголошення."
    assert sum(len(r) for r in (await queued(db)).values()) == 2


async def test_news_waits_for_the_end_of_quiet_hours(db: BotDB) -> None:
    await add(db, "night", quiet=QUIET_NIGHT)
    await db.set_news("night", True)
    at_night = kyiv(DAY, 23, 30)
    await fan_out_news(db, "kem", notices(None), now=at_night)
    assert await fan_out_news(db, "kem", notices(NEWS, at_night), now=at_night) == 1
    assert await db.due_messages(at_night, 10) == []
    [row] = await db.due_messages(kyiv(DAY + timedelta(days=1), 7), 10)
    assert row.recipient_id == "night"
