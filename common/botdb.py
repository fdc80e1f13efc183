"""A chat bot's own SQLite database: the change-detection baseline and the schedule event log.

All SQL of the bot-local database lives in this module (each bot has its own file; the shared schedule
database is ``common.store``). One connection in autocommit mode; every multi-statement write is one
explicit transaction, serialised by a lock so coroutines sharing the connection never interleave.

Timestamps are stored as ISO 8601 text in UTC with a fixed format (text order is time order) and
returned as aware datetimes in Kyiv time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

import aiosqlite

from common.schedule import KYIV
from common.watch import Baseline, EventKind, ScheduleEvent

BUSY_TIMEOUT_MS = 5000

# One tuple of statements per schema version, applied in order, each in its own transaction.
# Never edit a released step: add a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        # Regions checked at least once: tells "never checked" (record silently) from "nothing current".
        """CREATE TABLE watched_regions (
            region          TEXT PRIMARY KEY,
            first_checked_at TEXT NOT NULL
        )""",
        # What users were last told, per current (group, day) of a region.
        """CREATE TABLE watch_baseline (
            region TEXT NOT NULL REFERENCES watched_regions (region),
            grp    TEXT NOT NULL,
            day    TEXT NOT NULL,
            slots  TEXT NOT NULL CHECK (length(slots) = 48),
            PRIMARY KEY (region, grp, day)
        ) WITHOUT ROWID""",
        """CREATE TABLE schedule_events (
            id          INTEGER PRIMARY KEY,
            region      TEXT NOT NULL,
            grp         TEXT NOT NULL,
            day         TEXT NOT NULL,
            kind        TEXT NOT NULL CHECK (kind IN ('changed', 'published', 'removed')),
            old_slots   TEXT CHECK (length(old_slots) = 48),
            new_slots   TEXT CHECK (length(new_slots) = 48),
            detected_at TEXT NOT NULL,
            fanned_out  INTEGER NOT NULL DEFAULT 0 CHECK (fanned_out IN (0, 1)),
            CHECK ((old_slots IS NULL) = (kind = 'published') AND (new_slots IS NULL) = (kind = 'removed'))
        )""",
        # The fan-out polls for the few pending rows; a partial index stays tiny as the log grows.
        "CREATE INDEX schedule_events_pending ON schedule_events (id) WHERE fanned_out = 0",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaVersionError(RuntimeError):
    """The database file was written by a newer version of the program."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    event: ScheduleEvent
    detected_at: datetime


class BotDB:
    """The bot's local database. Open with ``await BotDB.open(path)``; close it or use ``async with``."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> BotDB:
        """Creates the file and its directory when missing and migrates the schema to this code's version."""
        path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            await _configure(db, path)
            await _migrate(db, path)
        except BaseException:
            await db.close()  # an open aiosqlite thread would keep the process alive
            raise
        return cls(db)

    async def close(self) -> None:
        await self._db.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def load_baseline(self, region: str) -> Baseline | None:
        """The region's baseline; None if it was never checked (an empty dict: checked, nothing current)."""
        async with self._lock, _transaction(self._db, "BEGIN"):
            watched = await self._db.execute_fetchall(
                "SELECT 1 FROM watched_regions WHERE region = ?", (region,)
            )
            rows = await self._db.execute_fetchall(
                "SELECT grp, day, slots FROM watch_baseline WHERE region = ?", (region,)
            )
        if not watched:
            return None
        return {(group, date.fromisoformat(day)): slots for group, day, slots in rows}

    async def commit_watch(
        self,
        region: str,
        baseline: Mapping[tuple[str, date], str],
        events: Sequence[ScheduleEvent],
        detected_at: datetime,
    ) -> list[int]:
        """Replaces the region's baseline and logs ``events`` atomically; returns the events' ids in order."""
        strangers = {event.region for event in events} - {region}
        if strangers:
            raise ValueError(f"events of {sorted(strangers)} cannot be committed for region {region!r}")
        detected = _to_text(detected_at)
        async with self._lock, _transaction(self._db, "BEGIN IMMEDIATE"):
            await self._db.execute(
                "INSERT INTO watched_regions (region, first_checked_at) VALUES (?, ?)"
                " ON CONFLICT (region) DO NOTHING",
                (region, detected),
            )
            await self._db.execute("DELETE FROM watch_baseline WHERE region = ?", (region,))
            await self._db.executemany(
                "INSERT INTO watch_baseline (region, grp, day, slots) VALUES (?, ?, ?, ?)",
                [(region, group, day.isoformat(), slots) for (group, day), slots in baseline.items()],
            )
            ids = [await self._insert_event(event, detected) for event in events]
        return ids

    async def pending_events(self, limit: int = 100) -> list[StoredEvent]:
        """Events not fanned out yet, oldest first."""
        async with self._lock:
            rows = await self._db.execute_fetchall(
                "SELECT id, region, grp, day, kind, old_slots, new_slots, detected_at FROM schedule_events"
                " WHERE fanned_out = 0 ORDER BY id LIMIT ?",
                (limit,),
            )
        return [
            StoredEvent(
                event_id,
                ScheduleEvent(EventKind(kind), region, group, date.fromisoformat(day), old, new),
                _from_text(detected),
            )
            for event_id, region, group, day, kind, old, new, detected in rows
        ]

    async def mark_fanned_out(self, ids: Iterable[int]) -> None:
        """Marks events as handed to the outbox, so ``pending_events`` no longer returns them."""
        async with self._lock, _transaction(self._db, "BEGIN IMMEDIATE"):
            await self._db.executemany(
                "UPDATE schedule_events SET fanned_out = 1 WHERE id = ?", [(event_id,) for event_id in ids]
            )

    async def _insert_event(self, event: ScheduleEvent, detected: str) -> int:
        cursor = await self._db.execute(
            "INSERT INTO schedule_events (region, grp, day, kind, old_slots, new_slots, detected_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                event.region,
                event.group,
                event.day.isoformat(),
                event.kind.value,
                event.old,
                event.new,
                detected,
            ),
        )
        if cursor.lastrowid is None:  # only for statements other than INSERT
            raise RuntimeError("SQLite returned no row id for an inserted event")
        return cursor.lastrowid


@asynccontextmanager
async def _transaction(db: aiosqlite.Connection, begin: str) -> AsyncIterator[None]:
    """An explicit transaction (the connection runs in autocommit mode): COMMIT on success, else ROLLBACK."""
    await db.execute(begin)
    try:
        yield
    except BaseException:
        if db.in_transaction:  # SQLite itself rolls back after some errors (disk full, I/O)
            await db.execute("ROLLBACK")
        raise
    await db.execute("COMMIT")


async def _configure(db: aiosqlite.Connection, path: Path) -> None:
    await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    rows = await db.execute_fetchall("PRAGMA journal_mode = WAL")
    mode = next(iter(rows), (None,))[0]
    if str(mode).lower() != "wal":
        raise RuntimeError(f"cannot switch {path} to WAL journal mode (got {mode!r})")
    await db.execute("PRAGMA synchronous = NORMAL")  # safe with WAL: a crash may lose the last commit only
    await db.execute("PRAGMA foreign_keys = ON")


async def _migrate(db: aiosqlite.Connection, path: Path) -> None:
    """Applies missing steps; the version is re-read under the write lock, so a second process is harmless."""
    for version, statements in enumerate(MIGRATIONS, start=1):
        async with _transaction(db, "BEGIN IMMEDIATE"):
            rows = await db.execute_fetchall("PRAGMA user_version")
            current = int(next(iter(rows))[0])
            if current > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"{path} has schema version {current}, newer than this code's {SCHEMA_VERSION};"
                    " upgrade the bot"
                )
            if current >= version:
                continue
            for statement in statements:
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {version}")


def _to_text(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"timestamps must be timezone-aware, got naive {moment!r}")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _from_text(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(KYIV)
