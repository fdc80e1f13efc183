"""A chat bot's own SQLite database: the change-detection baseline and the schedule event log.

All SQL of the bot-local database lives in this module (each bot has its own file; the shared schedule
database is ``common.store``). One connection in autocommit mode; every multi-statement write is one
explicit transaction, serialised by a lock so coroutines sharing the connection never interleave.

Connection set-up, the migration runner, transactions and the timestamp format (ISO 8601 text in
UTC, returned as aware datetimes in Kyiv time) are the generic ones of ``common.sqlite_base``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from common.sqlite_base import Database, from_text, open_migrated, to_text, transaction

# Re-exported: callers catch common.botdb.SchemaVersionError.
from common.sqlite_base import SchemaVersionError as SchemaVersionError
from common.watch import Baseline, EventKind, ScheduleEvent

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


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    event: ScheduleEvent
    detected_at: datetime


class BotDB(Database):
    """The bot's local database. Open with ``await BotDB.open(path)``; close it or use ``async with``."""

    @classmethod
    async def open(cls, path: Path) -> BotDB:
        """Creates the file and its directory when missing and migrates the schema to this code's version."""
        return cls(await open_migrated(path, MIGRATIONS, upgrade_hint="upgrade the bot"))

    async def load_baseline(self, region: str) -> Baseline | None:
        """The region's baseline; None if it was never checked (an empty dict: checked, nothing current)."""
        async with self._lock, transaction(self._db):
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
        detected = to_text(detected_at)
        async with self._lock, transaction(self._db, "BEGIN IMMEDIATE"):
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
                from_text(detected),
            )
            for event_id, region, group, day, kind, old, new, detected in rows
        ]

    async def mark_fanned_out(self, ids: Iterable[int]) -> None:
        """Marks events as handed to the outbox, so ``pending_events`` no longer returns them."""
        async with self._lock, transaction(self._db, "BEGIN IMMEDIATE"):
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
