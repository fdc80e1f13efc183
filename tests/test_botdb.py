"""The bot-local database: migrations, the watch baseline, the event log, recipients, subscriptions,
the outbox and its atomicity."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from common.botdb import (
    MIGRATIONS,
    SCHEMA_VERSION,
    BotDB,
    ChannelSubscription,
    Recipient,
    SchemaVersionError,
    UnknownRecipient,
)
from common.changes import EventKind, ScheduleEvent
from common.clock import KYIV
from common.messages import OutboxItem
from common.sqlite_base import open_migrated

D1, D2 = date(2026, 1, 15), date(2026, 1, 16)
ON, OFF = "+" * 48, "-" * 48
T0 = datetime(2026, 1, 15, 8, 30, tzinfo=UTC)
DAY = timedelta(days=1)


def changed(group: str = "GPV1.1", day: date = D1, region: str = "kem") -> ScheduleEvent:
    return ScheduleEvent(EventKind.CHANGED, region, group, day, ON, OFF)


def raw_query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bot.db"


def item(recipient: str, key: str, not_before: datetime = T0, text: str = "Світло") -> OutboxItem:
    return OutboxItem(recipient, key, {"text": text}, not_before)


def outbox_rows(path: Path) -> list[tuple[Any, ...]]:
    return raw_query(path, "SELECT dedupe_key, status, attempts, last_error FROM outbox ORDER BY id")


async def stored(db: BotDB, recipient_id: str) -> Recipient:
    found = await db.get_recipient(recipient_id)
    assert found is not None, f"recipient {recipient_id} is missing"
    return found


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[BotDB]:
    async with await BotDB.open(db_path, now=lambda: T0) as db:
        yield db


@pytest.fixture
async def people(db: BotDB) -> BotDB:
    """The database with recipients "1" (uk) and "2" (en)."""
    await db.ensure_recipient("1", "uk")
    await db.ensure_recipient("2", "en")
    return db


# --- opening and migrations ------------------------------------------------------------------------


async def test_migrates_an_empty_file(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.touch()
    async with await BotDB.open(db_path, now=lambda: T0):
        pass
    assert raw_query(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert raw_query(db_path, "PRAGMA journal_mode") == [("wal",)]
    tables = {name for (name,) in raw_query(db_path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"watched_regions", "watch_baseline", "schedule_events"} <= tables
    assert {"recipients", "subscriptions", "outbox", "picture_files"} <= tables


async def test_migrates_a_version_1_file_keeping_its_data(db_path: Path) -> None:
    # Written by the version 1 code path: the same runner with only the first step.
    async with BotDB(await open_migrated(db_path, MIGRATIONS[:1], upgrade_hint=""), now=lambda: T0) as old:
        [event_id] = await old.commit_watch("kem", {("GPV1.1", D1): ON}, [changed()], T0)
    assert raw_query(db_path, "PRAGMA user_version") == [(1,)]

    async with await BotDB.open(db_path, now=lambda: T0) as db:
        assert await db.load_baseline("kem") == {("GPV1.1", D1): ON}
        assert [p.id for p in await db.pending_events()] == [event_id]
        await db.ensure_recipient("42", "uk")
        assert await db.subscribe("42", "kem", "GPV1.1")
    assert raw_query(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)] == [(7,)]


async def test_migrates_a_version_2_outbox_keeping_its_rows(db_path: Path) -> None:
    async with BotDB(await open_migrated(db_path, MIGRATIONS[:2], upgrade_hint=""), now=lambda: T0) as old:
        await old.ensure_recipient("1", "uk")
        assert await old.enqueue([item("1", "queued before the upgrade")]) == 1
    assert raw_query(db_path, "PRAGMA user_version") == [(2,)]

    async with await BotDB.open(db_path, now=lambda: T0) as db:
        [row] = await db.due_messages(T0, 10)
    assert (row.dedupe_key, row.parts_sent) == ("queued before the upgrade", 0)


async def test_migrates_a_version_3_file_adding_meta_and_saved_groups(db_path: Path) -> None:
    async with BotDB(await open_migrated(db_path, MIGRATIONS[:3], upgrade_hint=""), now=lambda: T0) as old:
        await old.ensure_recipient("1", "uk")
    async with await BotDB.open(db_path, now=lambda: T0) as db:
        assert await db.get_recipient("1") is not None
        assert await db.get_meta("anything") is None
        assert await db.user_groups("1") == {}


async def test_meta_values_are_replaced(db: BotDB) -> None:
    assert await db.get_meta("commands") is None
    await db.set_meta("commands", "a")
    await db.set_meta("commands", "b")
    assert await db.get_meta("commands") == "b"


async def test_one_saved_group_per_user_and_region(db: BotDB) -> None:
    await db.save_user_group("7", "kem", "GPV1.1")
    await db.save_user_group("7", "kem", "GPV3.2")
    await db.save_user_group("7", "dnem", "GPV2.1")
    await db.save_user_group("8", "kem", "GPV4.1")
    assert await db.user_groups("7") == {"dnem": "GPV2.1", "kem": "GPV3.2"}
    assert await db.user_groups("9") == {}


async def test_creates_directories_and_reopening_keeps_data(db_path: Path) -> None:
    async with await BotDB.open(db_path, now=lambda: T0) as db:
        await db.commit_watch("kem", {("GPV1.1", D1): ON}, [changed()], T0)
    async with await BotDB.open(db_path, now=lambda: T0) as db:
        assert await db.load_baseline("kem") == {("GPV1.1", D1): ON}
        assert [p.event for p in await db.pending_events()] == [changed()]
    assert raw_query(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


async def test_newer_schema_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaVersionError, match="newer than this code"):
        await BotDB.open(db_path, now=lambda: T0)
    assert raw_query(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION + 1,)]
    assert raw_query(db_path, "SELECT name FROM sqlite_master") == []  # nothing created


# --- baseline --------------------------------------------------------------------------------------


async def test_never_checked_differs_from_empty(db: BotDB) -> None:
    assert await db.load_baseline("kem") is None
    await db.commit_watch("kem", {}, [], T0)
    assert await db.load_baseline("kem") == {}


async def test_commit_watch_replaces_only_its_region(db: BotDB) -> None:
    await db.commit_watch("kem", {("GPV1.1", D1): ON, ("GPV1.2", D1): ON}, [], T0)
    await db.commit_watch("oem", {("GPV1.1", D1): OFF}, [], T0)
    await db.commit_watch("kem", {("GPV1.1", D2): OFF}, [], T0)
    assert await db.load_baseline("kem") == {("GPV1.1", D2): OFF}
    assert await db.load_baseline("oem") == {("GPV1.1", D1): OFF}


async def test_commit_watch_is_atomic(db: BotDB) -> None:
    [first] = await db.commit_watch("kem", {("GPV1.1", D1): ON}, [changed()], T0)
    # The second event is accepted by Python but violates the table's CHECK: the insert fails mid-way.
    broken = ScheduleEvent(EventKind.PUBLISHED, "kem", "GPV1.2", D2, None, "+" * 47)
    with pytest.raises(sqlite3.IntegrityError):
        await db.commit_watch("kem", {("GPV1.1", D2): OFF}, [changed(day=D2), broken], T0)
    assert await db.load_baseline("kem") == {("GPV1.1", D1): ON}
    assert [p.id for p in await db.pending_events()] == [first]
    # No transaction was left open: the next commit works.
    await db.commit_watch("kem", {("GPV1.1", D2): OFF}, [], T0)
    assert await db.load_baseline("kem") == {("GPV1.1", D2): OFF}


async def test_commit_watch_rejects_bad_input(db: BotDB) -> None:
    with pytest.raises(ValueError, match="events of \\['oem'\\]"):
        await db.commit_watch("kem", {}, [changed(region="oem")], T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        await db.commit_watch("kem", {}, [], datetime(2026, 1, 15, 8, 30))
    assert await db.load_baseline("kem") is None


async def test_concurrent_commits_do_not_interleave(db: BotDB) -> None:
    # Without the lock, a second BEGIN on the shared connection fails with "transaction within a transaction".
    results = await asyncio.gather(
        *(db.commit_watch("kem", {("GPV1.1", D1): ON}, [changed(f"GPV{i}.1")], T0) for i in range(1, 21))
    )
    ids = [event_id for batch in results for event_id in batch]
    assert len(set(ids)) == 20
    assert len(await db.pending_events()) == 20


# --- the event log ---------------------------------------------------------------------------------


async def test_pending_events_oldest_first_and_mark_fanned_out(db: BotDB, db_path: Path) -> None:
    first = await db.commit_watch("kem", {}, [changed("GPV1.1"), changed("GPV1.2")], T0)
    later = T0 + timedelta(minutes=30)
    second = await db.commit_watch("kem", {}, [changed("GPV2.1")], later)
    pending = await db.pending_events()
    assert [p.id for p in pending] == first + second
    assert [p.event.group for p in pending] == ["GPV1.1", "GPV1.2", "GPV2.1"]
    assert pending[2].detected_at == later
    assert pending[2].detected_at.tzinfo is KYIV
    assert [p.id for p in await db.pending_events(limit=2)] == first

    await db.mark_fanned_out(first)
    assert [p.id for p in await db.pending_events()] == second
    assert raw_query(db_path, "SELECT count(*) FROM schedule_events") == [(3,)]  # a log, not a queue


async def test_event_kinds_round_trip(db: BotDB) -> None:
    events = [
        ScheduleEvent(EventKind.PUBLISHED, "kem", "GPV1.1", D2, None, ON),
        ScheduleEvent(EventKind.REMOVED, "kem", "GPV1.2", D1, OFF, None),
        changed(),
    ]
    await db.commit_watch("kem", {}, events, T0)
    assert [p.event for p in await db.pending_events()] == events


# --- recipients ------------------------------------------------------------------------------------


async def test_ensure_recipient_creates_once_with_defaults(db: BotDB) -> None:
    created = await db.ensure_recipient("-100123", "uk")
    assert (created.id, created.lang, created.active, created.pictures) == ("-100123", "uk", True, True)
    assert (created.lead_off_minutes, created.lead_on_minutes, created.quiet_hours) == (None, None, None)
    assert created.created_at == T0
    assert await db.ensure_recipient("-100123", "en") == created  # an existing one keeps its language
    assert await db.get_recipient("-100123") == created
    assert await db.get_recipient("7") is None


async def test_settings_round_trip(people: BotDB) -> None:
    await people.set_language("1", "en")
    await people.set_leads("1", 15, None)
    await people.set_quiet("1", time(23, 0), time(7, 30))
    await people.set_pictures("1", False)
    changed_one = await stored(people, "1")
    assert (changed_one.lang, changed_one.lead_off_minutes, changed_one.lead_on_minutes) == ("en", 15, None)
    assert changed_one.quiet_hours == (time(23, 0), time(7, 30))
    assert changed_one.pictures is False
    untouched = await stored(people, "2")
    assert (untouched.quiet_hours, untouched.pictures) == (None, True)

    await people.set_quiet("1", None, None)
    await people.set_leads("1", None, 60)
    again = await stored(people, "1")
    assert (again.quiet_hours, again.lead_off_minutes, again.lead_on_minutes) == (None, None, 60)


@pytest.mark.parametrize(
    ("setting", "error"),
    [
        (lambda db: db.set_language("1", "ru"), ValueError),
        (lambda db: db.set_leads("1", 7, None), ValueError),
        (lambda db: db.set_leads("1", None, 0), ValueError),
        (lambda db: db.set_quiet("1", time(23), None), ValueError),
        (lambda db: db.set_pictures("404", False), UnknownRecipient),
        (lambda db: db.deactivate("404", "gone"), UnknownRecipient),
        (lambda db: db.ensure_recipient("3", "de"), ValueError),
    ],
)
async def test_bad_settings_are_refused(
    people: BotDB, setting: Callable[[BotDB], Awaitable[object]], error: type[Exception]
) -> None:
    before = await people.get_recipient("1")
    with pytest.raises(error):
        await setting(people)
    assert await people.get_recipient("1") == before
    assert await people.get_recipient("3") is None


async def test_deactivate_keeps_data_and_ensure_reactivates(people: BotDB) -> None:
    await people.set_leads("1", 30, 10)
    await people.subscribe("1", "kem", "GPV1.1")
    await people.subscribe("2", "kem", "GPV1.1")

    await people.deactivate("1", "blocked by the user")
    gone = await stored(people, "1")
    assert (gone.active, gone.deactivated_reason, gone.lead_off_minutes) == (False, "blocked by the user", 30)
    assert await people.subscriptions("1") == [("kem", "GPV1.1")]
    assert [r.id for r in await people.subscribers("kem", "GPV1.1")] == ["2"]
    assert [(r.id, g) for r, _, g in await people.all_subscriptions()] == [("2", "GPV1.1")]

    back = await people.ensure_recipient("1", "en")
    assert (back.active, back.deactivated_reason) == (True, None)
    assert (back.lang, back.lead_off_minutes, back.lead_on_minutes) == ("uk", 30, 10)
    assert [r.id for r in await people.subscribers("kem", "GPV1.1")] == ["1", "2"]


# --- subscriptions ---------------------------------------------------------------------------------


async def test_subscribe_and_unsubscribe(people: BotDB) -> None:
    assert await people.subscribe("1", "kem", "GPV10.1")
    assert await people.subscribe("1", "kem", "GPV2.1")
    assert await people.subscribe("1", "dnem", "GPV3.1")
    assert not await people.subscribe("1", "kem", "GPV2.1")
    assert await people.subscriptions("1") == [("dnem", "GPV3.1"), ("kem", "GPV2.1"), ("kem", "GPV10.1")]
    assert await people.subscriptions("2") == []

    assert await people.unsubscribe("1", "kem", "GPV2.1")
    assert not await people.unsubscribe("1", "kem", "GPV2.1")
    assert await people.subscriptions("1") == [("dnem", "GPV3.1"), ("kem", "GPV10.1")]
    with pytest.raises(sqlite3.IntegrityError):  # only known recipients subscribe
        await people.subscribe("404", "kem", "GPV1.1")


async def test_subscribers_and_all_subscriptions(people: BotDB) -> None:
    await people.subscribe("2", "kem", "GPV1.1")
    await people.subscribe("1", "kem", "GPV1.1")
    await people.subscribe("1", "kem", "GPV1.2")
    assert [(r.id, r.lang) for r in await people.subscribers("kem", "GPV1.1")] == [("1", "uk"), ("2", "en")]
    assert await people.subscribers("oem", "GPV1.1") == []
    assert [(r.id, region, group) for r, region, group in await people.all_subscriptions()] == [
        ("1", "kem", "GPV1.1"),
        ("1", "kem", "GPV1.2"),
        ("2", "kem", "GPV1.1"),
    ]


# --- outbox ----------------------------------------------------------------------------------------


async def test_enqueue_skips_known_dedupe_keys(people: BotDB) -> None:
    assert await people.enqueue([item("1", "a"), item("2", "b", text="Світла немає")]) == 2
    assert await people.enqueue([item("2", "b", text="changed"), item("1", "c")]) == 1
    assert await people.enqueue([]) == 0
    due = await people.due_messages(T0, 10)
    assert [(r.recipient_id, r.dedupe_key, r.payload, r.attempts) for r in due] == [
        ("1", "a", {"text": "Світло"}, 0),
        ("2", "b", {"text": "Світла немає"}, 0),  # the first one queued stays
        ("1", "c", {"text": "Світло"}, 0),
    ]
    assert due[0].not_before == T0
    with pytest.raises(sqlite3.IntegrityError):
        await people.enqueue([item("404", "d")])


async def test_due_messages_filters_and_orders(people: BotDB) -> None:
    later = T0 + timedelta(minutes=5)
    await people.enqueue([item("1", "late", later), item("1", "a"), item("2", "b"), item("1", "c")])
    assert [r.dedupe_key for r in await people.due_messages(T0, 10)] == ["a", "b", "c"]
    assert [r.dedupe_key for r in await people.due_messages(T0, 2)] == ["a", "b"]
    assert [r.dedupe_key for r in await people.due_messages(T0, 10, ["1"])] == ["b"]
    assert [r.dedupe_key for r in await people.due_messages(later, 10, {"2"})] == ["late", "a", "c"]
    await people.mark_sent([((await people.due_messages(T0, 1))[0].id, T0)])
    assert [r.dedupe_key for r in await people.due_messages(T0, 10)] == ["b", "c"]


async def test_marking_rows(people: BotDB, db_path: Path) -> None:
    await people.enqueue([item("1", "sent"), item("1", "retried"), item("1", "waited"), item("1", "dead")])
    sent, retried, waited, dead = await people.due_messages(T0, 10)
    later = T0 + timedelta(seconds=30)
    await people.mark_sent([(sent.id, later)])
    await people.mark_retry(retried.id, later, "HTTP 502")
    await people.mark_retry(waited.id, later, "HTTP 429", count_attempt=False)
    await people.mark_dead(dead.id, "HTTP 400")
    await people.mark_dead(sent.id, "too late")  # a finished row stays as it is

    assert outbox_rows(db_path) == [
        ("sent", "sent", 0, None),
        ("retried", "pending", 1, "HTTP 502"),
        ("waited", "pending", 0, "HTTP 429"),
        ("dead", "dead", 1, "HTTP 400"),
    ]
    [(sent_at,)] = raw_query(db_path, "SELECT sent_at FROM outbox WHERE dedupe_key = 'sent'")
    assert datetime.fromisoformat(sent_at) == later
    assert await people.due_messages(T0, 10) == []
    assert [r.dedupe_key for r in await people.due_messages(later, 10)] == ["retried", "waited"]
    assert await people.outbox_counts() == {"pending": 2, "sent": 1, "dead": 1}


async def test_retries_add_up_the_parts_delivered(people: BotDB) -> None:
    await people.enqueue([item("1", "long")])
    [row] = await people.due_messages(T0, 10)
    assert row.parts_sent == 0
    await people.mark_retry(row.id, T0, "HTTP 502", parts_delivered=1)
    await people.mark_retry(row.id, T0, "HTTP 429", count_attempt=False, parts_delivered=2)
    await people.mark_retry(row.id, T0, "HTTP 502")  # nothing arrived this time
    [row] = await people.due_messages(T0, 10)
    assert (row.attempts, row.parts_sent) == (2, 3)
    with pytest.raises(sqlite3.IntegrityError):
        await people.mark_retry(row.id, T0, "HTTP 502", parts_delivered=-4)


async def test_drop_pending_for_one_recipient(people: BotDB, db_path: Path) -> None:
    await people.enqueue([item("1", "old"), item("1", "a"), item("2", "b"), item("1", "c", T0 + DAY)])
    await people.mark_sent([((await people.due_messages(T0, 1))[0].id, T0)])
    assert await people.drop_pending_for("1", "blocked") == 2
    assert outbox_rows(db_path) == [
        ("old", "sent", 0, None),
        ("a", "dead", 0, "blocked"),
        ("b", "pending", 0, None),
        ("c", "dead", 0, "blocked"),
    ]


async def test_fan_out_queues_and_marks_the_event(people: BotDB) -> None:
    first, second = await people.commit_watch("kem", {}, [changed("GPV1.1"), changed("GPV1.2")], T0)
    assert await people.fan_out(first, [item("1", f"event:{first}:1"), item("2", f"event:{first}:2")]) == 2
    assert [p.id for p in await people.pending_events()] == [second]
    assert await people.fan_out(first, [item("1", f"event:{first}:1")]) == 0  # a repeat adds nothing
    assert await people.fan_out(second, []) == 0  # nobody follows the group: still handled
    assert await people.pending_events() == []
    assert await people.outbox_counts() == {"pending": 2, "sent": 0, "dead": 0}


async def test_fan_out_is_atomic(people: BotDB) -> None:
    [event_id] = await people.commit_watch("kem", {}, [changed()], T0)
    with pytest.raises(sqlite3.IntegrityError):  # the second row names an unknown recipient
        await people.fan_out(event_id, [item("1", "event:1:1"), item("404", "event:1:404")])
    assert [p.id for p in await people.pending_events()] == [event_id]
    assert await people.outbox_counts() == {"pending": 0, "sent": 0, "dead": 0}
    assert await people.fan_out(event_id, [item("1", "event:1:1")]) == 1  # no transaction left open


# --- pictures, stats, pruning ----------------------------------------------------------------------


async def test_picture_file_ids(db: BotDB) -> None:
    assert await db.get_file_id("kem:GPV1.1:2026-01-15:abc") is None
    await db.save_file_id("kem:GPV1.1:2026-01-15:abc", "AgAC-first")
    await db.save_file_id("kem:GPV1.1:2026-01-15:abc", "AgAC-second")
    assert await db.get_file_id("kem:GPV1.1:2026-01-15:abc") == "AgAC-second"


async def test_stats(people: BotDB) -> None:
    await people.ensure_recipient("3", "uk")
    for recipient in ("1", "2", "3"):
        await people.subscribe(recipient, "kem", "GPV1.1")
    await people.subscribe("1", "oem", "GPV2.2")
    await people.deactivate("3", "kicked")
    await people.enqueue([item("1", "a"), item("2", "b")])
    await people.mark_dead((await people.due_messages(T0, 1))[0].id, "HTTP 400")

    stats = await people.stats()
    assert (stats.active_recipients, stats.inactive_recipients) == (2, 1)
    assert stats.subscriptions == {("kem", "GPV1.1"): 2, ("oem", "GPV2.2"): 1}
    assert stats.outbox == {"pending": 1, "sent": 0, "dead": 1}


async def test_prune_keeps_pending_recent_and_the_newest_event(db_path: Path) -> None:
    clock = [T0]
    async with await BotDB.open(db_path, now=lambda: clock[0]) as db:
        await db.ensure_recipient("1", "uk")
        [unsent_event] = await db.commit_watch("kem", {}, [changed("GPV2.1")], T0)
        old_events = await db.commit_watch("kem", {}, [changed("GPV1.1"), changed("GPV1.2")], T0)
        await db.mark_fanned_out(old_events)
        await db.enqueue([item("1", "sent"), item("1", "dead"), item("1", "pending")])
        sent, dead, _ = await db.due_messages(T0, 10)
        await db.mark_sent([(sent.id, T0)])
        await db.mark_dead(dead.id, "HTTP 400")
        clock[0] = T0 + 2 * DAY
        await db.enqueue([item("1", "recent")])
        await db.mark_sent([((await db.due_messages(T0, 10))[1].id, clock[0])])

        assert await db.prune(T0 + DAY) == 3
        assert [key for key, *_ in outbox_rows(db_path)] == ["pending", "recent"]
        assert [p.id for p in await db.pending_events()] == [unsent_event]
        # Only the first fanned-out event went: the newest id stays, so ids are never reused.
        assert raw_query(db_path, "SELECT id FROM schedule_events ORDER BY id") == [
            (unsent_event,),
            (old_events[1],),
        ]


# --- a recipient moving to a new id (a group upgraded to a supergroup) -------------------------------


async def test_move_recipient_takes_settings_subscriptions_and_outbox(db: BotDB, db_path: Path) -> None:
    await db.ensure_recipient("-500", "en")
    await db.set_leads("-500", 15, None)
    await db.set_quiet("-500", time(23), time(7))
    await db.set_pictures("-500", False)
    await db.subscribe("-500", "kem", "GPV3.2")
    await db.enqueue([item("-500", "sent"), item("-500", "pending")])
    await db.mark_sent([((await db.due_messages(T0, 1))[0].id, T0)])
    await db.deactivate("-500", "migrated to chat -100500")  # as the first release left such chats

    assert await db.move_recipient("-500", "-100500")

    moved = await stored(db, "-100500")
    assert (moved.lang, moved.lead_off_minutes, moved.lead_on_minutes) == ("en", 15, None)
    assert (moved.quiet_hours, moved.pictures) == ((time(23), time(7)), False)
    assert (moved.active, moved.deactivated_reason) == (True, None)
    assert await db.get_recipient("-500") is None
    assert await db.subscriptions("-500") == []
    assert await db.subscriptions("-100500") == [("kem", "GPV3.2")]
    assert [(row.recipient_id, row.dedupe_key) for row in await db.due_messages(T0, 10)] == [
        ("-100500", "pending")
    ]
    assert raw_query(db_path, "SELECT DISTINCT recipient_id FROM outbox") == [("-100500",)]


async def test_move_recipient_onto_an_existing_id_merges(db: BotDB) -> None:
    await db.ensure_recipient("-500", "en")
    await db.set_leads("-500", 30, 5)
    await db.subscribe("-500", "kem", "GPV3.2")
    await db.subscribe("-500", "kem", "GPV1.1")
    # The supergroup's first update created its recipient, with defaults, before the move.
    await db.ensure_recipient("-100500", "uk")
    await db.subscribe("-100500", "kem", "GPV1.1")
    await db.subscribe("-100500", "oem", "GPV2.2")

    assert await db.move_recipient("-500", "-100500")

    merged = await stored(db, "-100500")
    assert (merged.lang, merged.lead_off_minutes, merged.lead_on_minutes) == ("en", 30, 5)
    assert await db.subscriptions("-100500") == [("kem", "GPV1.1"), ("kem", "GPV3.2"), ("oem", "GPV2.2")]
    assert await db.get_recipient("-500") is None


async def test_move_recipient_twice_or_from_nowhere_changes_nothing(db: BotDB) -> None:
    await db.ensure_recipient("-500", "en")
    assert await db.move_recipient("-500", "-100500")
    await db.set_language("-100500", "uk")  # changed in the supergroup since

    assert not await db.move_recipient("-500", "-100500")  # the other chat's announcement of the same move
    assert not await db.move_recipient("-42", "-100500")
    assert (await stored(db, "-100500")).lang == "uk"
    with pytest.raises(ValueError, match="its own id"):
        await db.move_recipient("-100500", "-100500")


# --- server channel subscriptions ------------------------------------------------------------------------


async def test_migrates_a_version_4_file_adding_channel_subscriptions(db_path: Path) -> None:
    async with BotDB(await open_migrated(db_path, MIGRATIONS[:4], upgrade_hint=""), now=lambda: T0) as old:
        await old.ensure_recipient("channel:5", "uk")
        assert await old.subscribe("channel:5", "kem", "GPV1.1")
    async with await BotDB.open(db_path, now=lambda: T0) as db:
        assert await db.subscriptions("channel:5") == [("kem", "GPV1.1")]
        assert await db.channel_subscriptions("1") == []
        assert await db.mention_role("channel:5", "kem", "GPV1.1") is None


async def test_a_channel_subscription_records_its_server_role_and_language(db: BotDB) -> None:
    assert await db.subscribe_channel(
        "channel:5", "kem", "GPV3.2", server_id="1", lang="en", mention_role="9"
    )
    assert await db.subscribe_channel("channel:5", "kem", "GPV1.1", server_id="1", lang="en")
    assert await db.subscribe_channel("channel:6", "kem", "GPV3.2", server_id="1", lang="en")
    assert await db.subscribe_channel("channel:7", "kem", "GPV3.2", server_id="2", lang="uk")

    assert (await stored(db, "channel:5")).lang == "en"
    assert await db.subscriptions("channel:5") == [("kem", "GPV1.1"), ("kem", "GPV3.2")]
    assert [r.id for r in await db.subscribers("kem", "GPV3.2")] == ["channel:5", "channel:6", "channel:7"]
    assert await db.mention_role("channel:5", "kem", "GPV3.2") == "9"
    assert await db.mention_role("channel:5", "kem", "GPV1.1") is None
    assert await db.mention_role("channel:6", "kem", "GPV1.1") is None  # no such subscription
    assert await db.channel_subscriptions("1") == [
        ChannelSubscription("channel:5", "kem", "GPV1.1", "1", None, True, None),
        ChannelSubscription("channel:5", "kem", "GPV3.2", "1", "9", True, None),
        ChannelSubscription("channel:6", "kem", "GPV3.2", "1", None, True, None),
    ]


async def test_subscribing_again_replaces_the_role_and_language_and_reactivates(db: BotDB) -> None:
    await db.subscribe_channel("channel:5", "kem", "GPV3.2", server_id="1", lang="uk", mention_role="9")
    await db.deactivate("channel:5", "the bot may not post in the channel")

    assert not await db.subscribe_channel("channel:5", "kem", "GPV3.2", server_id="1", lang="en")

    recipient = await stored(db, "channel:5")
    assert (recipient.active, recipient.deactivated_reason, recipient.lang) == (True, None, "en")
    assert await db.mention_role("channel:5", "kem", "GPV3.2") is None


async def test_a_deactivated_channel_is_listed_as_such(db: BotDB) -> None:
    await db.subscribe_channel("channel:5", "kem", "GPV3.2", server_id="1", lang="uk")
    await db.deactivate("channel:5", "the channel was deleted")
    [listed] = await db.channel_subscriptions("1")
    assert (listed.active, listed.deactivated_reason) == (False, "the channel was deleted")


async def test_unsubscribing_a_channel_removes_its_record(db: BotDB) -> None:
    await db.subscribe_channel("channel:5", "kem", "GPV3.2", server_id="1", lang="uk", mention_role="9")
    assert await db.unsubscribe_channel("channel:5", "kem", "GPV3.2")
    assert not await db.unsubscribe_channel("channel:5", "kem", "GPV3.2")
    assert await db.subscriptions("channel:5") == []
    assert await db.channel_subscriptions("1") == []
    assert await db.mention_role("channel:5", "kem", "GPV3.2") is None


async def test_deleting_a_servers_subscriptions_leaves_other_servers_and_users(db: BotDB) -> None:
    await db.subscribe_channel("channel:5", "kem", "GPV3.2", server_id="1", lang="uk", mention_role="9")
    await db.subscribe_channel("channel:5", "kem", "GPV1.1", server_id="1", lang="uk")
    await db.subscribe_channel("channel:7", "kem", "GPV3.2", server_id="2", lang="uk")
    await db.ensure_recipient("user:8", "uk")
    await db.subscribe("user:8", "kem", "GPV3.2")
    await db.enqueue([item("channel:5", "pending post"), item("channel:7", "other server")])

    assert await db.delete_server_subscriptions("1", "the bot was removed from the server") == 2

    assert await db.channel_subscriptions("1") == []
    assert await db.subscriptions("channel:5") == []
    assert not (await stored(db, "channel:5")).active
    assert [r.id for r in await db.subscribers("kem", "GPV3.2")] == ["channel:7", "user:8"]
    assert [s.recipient_id for s in await db.channel_subscriptions("2")] == ["channel:7"]
    assert [row.dedupe_key for row in await db.due_messages(T0, 10)] == ["other server"]
    assert await db.delete_server_subscriptions("1", "again") == 0


async def test_a_channel_subscription_is_checked_like_any_recipient(db: BotDB) -> None:
    with pytest.raises(ValueError, match="language"):
        await db.subscribe_channel("channel:5", "kem", "GPV3.2", server_id="1", lang="de")
    assert await db.get_recipient("channel:5") is None
