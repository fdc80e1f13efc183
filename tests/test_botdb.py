"""The bot-local database: migrations, the watch baseline, the event log and its atomicity."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from common.botdb import SCHEMA_VERSION, BotDB, SchemaVersionError
from common.schedule import KYIV
from common.watch import EventKind, ScheduleEvent

D1, D2 = date(2026, 1, 15), date(2026, 1, 16)
ON, OFF = "+" * 48, "-" * 48
T0 = datetime(2026, 1, 15, 8, 30, tzinfo=UTC)


def changed(group: str = "GPV1.1", day: date = D1, region: str = "kem") -> ScheduleEvent:
    return ScheduleEvent(EventKind.CHANGED, region, group, day, ON, OFF)


def raw_query(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bot.db"


@pytest.fixture
async def db(db_path: Path):
    async with await BotDB.open(db_path) as db:
        yield db


# --- opening and migrations ------------------------------------------------------------------------


async def test_migrates_an_empty_file(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.touch()
    async with await BotDB.open(db_path):
        pass
    assert raw_query(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert raw_query(db_path, "PRAGMA journal_mode") == [("wal",)]
    tables = {name for (name,) in raw_query(db_path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"watched_regions", "watch_baseline", "schedule_events"} <= tables


async def test_creates_directories_and_reopening_keeps_data(db_path: Path) -> None:
    async with await BotDB.open(db_path) as db:
        await db.commit_watch("kem", {("GPV1.1", D1): ON}, [changed()], T0)
    async with await BotDB.open(db_path) as db:
        assert await db.load_baseline("kem") == {("GPV1.1", D1): ON}
        assert [p.event for p in await db.pending_events()] == [changed()]
    assert raw_query(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


async def test_newer_schema_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaVersionError, match="newer than this code"):
        await BotDB.open(db_path)
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
