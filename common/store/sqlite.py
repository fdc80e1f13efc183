"""The shared schedule database on SQLite: schema, migrations, the writer and the read-only reader.

All SQL of the shared database lives in this module. One process writes (the schedule service);
any number of bots read through read-only connections. WAL lets readers run during a write, and
every write is one transaction, so a reader sees either the whole previous scrape or the whole new one.

Connection set-up, the migration runner, transactions and the timestamp format (ISO 8601 text in
UTC, returned as aware datetimes in Kyiv time) are the generic ones of ``common.sqlite_base``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import aiosqlite

from common.notices import PageNotices, StoredNotices, announcement_key, same_announcement
from common.schedule import RegionSchedule, group_sort_key
from common.sqlite_base import (
    Database,
    fetch_one,
    from_text,
    open_migrated,
    open_read_only,
    to_text,
    transaction,
)

OUTCOME_OK = "ok"

_Key = TypeVar("_Key")

# One tuple of statements per schema version, applied in order, each in its own transaction.
# Never edit a released step: add a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        # One row per region that has had a successful scrape.
        """CREATE TABLE region_state (
            region       TEXT PRIMARY KEY,
            version      INTEGER NOT NULL CHECK (version > 0),
            content_hash TEXT NOT NULL,
            updated      TEXT,
            fetched_at   TEXT NOT NULL,
            changed_at   TEXT NOT NULL
        )""",
        """CREATE TABLE day_slots (
            region TEXT NOT NULL REFERENCES region_state (region),
            day    TEXT NOT NULL,
            grp    TEXT NOT NULL,
            slots  TEXT NOT NULL CHECK (length(slots) = 48),
            PRIMARY KEY (region, day, grp)
        ) WITHOUT ROWID""",
        """CREATE TABLE week_slots (
            region  TEXT NOT NULL REFERENCES region_state (region),
            weekday INTEGER NOT NULL CHECK (weekday BETWEEN 1 AND 7),
            grp     TEXT NOT NULL,
            slots   TEXT NOT NULL CHECK (length(slots) = 48),
            PRIMARY KEY (region, weekday, grp)
        ) WITHOUT ROWID""",
        """CREATE TABLE group_names (
            region TEXT NOT NULL REFERENCES region_state (region),
            grp    TEXT NOT NULL,
            name   TEXT NOT NULL,
            PRIMARY KEY (region, grp)
        ) WITHOUT ROWID""",
        # Kept apart from region_state: the JSON is large and changes far less often than the schedule.
        """CREATE TABLE streets (
            region       TEXT PRIMARY KEY REFERENCES region_state (region),
            content_hash TEXT NOT NULL,
            data         TEXT NOT NULL,
            saved_at     TEXT NOT NULL
        )""",
        """CREATE TABLE changes (
            id          INTEGER PRIMARY KEY,
            region      TEXT NOT NULL,
            version     INTEGER NOT NULL,
            detected_at TEXT NOT NULL,
            day         TEXT NOT NULL,
            grp         TEXT NOT NULL,
            old_slots   TEXT,
            new_slots   TEXT,
            CHECK (old_slots IS NOT NULL OR new_slots IS NOT NULL)
        )""",
        "CREATE INDEX changes_by_region_version ON changes (region, version)",
        # No foreign key: a region can fail (blocked) before it ever had a successful scrape.
        """CREATE TABLE scrapes (
            id               INTEGER PRIMARY KEY,
            region           TEXT NOT NULL,
            started_at       TEXT NOT NULL,
            duration_seconds REAL NOT NULL,
            outcome          TEXT NOT NULL,
            error            TEXT,
            version          INTEGER,
            CHECK ((outcome = 'ok') = (error IS NULL))
        )""",
        "CREATE INDEX scrapes_by_region_started ON scrapes (region, started_at)",
        "CREATE INDEX scrapes_by_started ON scrapes (started_at)",
    ),
    (
        # What DTEK says on the page; announced_at: when the current announcement text was first seen.
        """CREATE TABLE page_notices (
            region       TEXT PRIMARY KEY REFERENCES region_state (region),
            announcement TEXT,
            announced_at TEXT,
            flags        TEXT NOT NULL,
            saved_at     TEXT NOT NULL,
            CHECK ((announcement IS NULL) = (announced_at IS NULL))
        )""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class StoredSchedule:
    schedule: RegionSchedule
    version: int
    content_hash: str
    fetched_at: datetime
    changed_at: datetime
    notices: StoredNotices | None = None  # None: no scrape stored them yet


@dataclass(frozen=True)
class SaveResult:
    region: str
    version: int
    changed: bool
    changed_days: int  # rows added to the history: (date, group) pairs whose slots differ


@dataclass(frozen=True)
class ScrapeRecord:
    region: str
    started_at: datetime
    duration_seconds: float
    outcome: str  # "ok" or an error kind ("blocked", "fetch-failed", ...)
    error: str | None
    version: int | None = None  # the region's version after this scrape; None before any success


@dataclass(frozen=True)
class ChangeRecord:
    region: str
    version: int
    detected_at: datetime
    day: date
    group: str
    old: str | None  # None: the (day, group) is new in this version
    new: str | None  # None: the (day, group) was removed in this version


class ScheduleWriter(Database):
    """The one writer of the shared database (the schedule service)."""

    @classmethod
    async def open(cls, path: Path) -> ScheduleWriter:
        """Creates the file and its directory when missing and migrates the schema to this code's version."""
        return cls(await open_migrated(path, MIGRATIONS, upgrade_hint="upgrade the program"))

    async def save(
        self,
        schedule: RegionSchedule,
        *,
        streets: Mapping[str, Sequence[str]] | None,
        fetched_at: datetime,
        duration_seconds: float,
        outcome: str = OUTCOME_OK,
        note: str | None = None,
        notices: PageNotices | None = None,
    ) -> SaveResult:
        """Stores one successful scrape. ``streets=None`` keeps the stored streets, ``notices=None`` the
        stored notices (the change probe's data carries none).

        Data from elsewhere than a page (the change probe) is logged under its own ``outcome`` with a
        ``note`` in the log's error column, which the schema requires of every outcome but "ok"."""
        if not schedule.region:
            raise ValueError("cannot save a schedule without a region")
        if (outcome == OUTCOME_OK) != (note is None):
            raise ValueError(f"a note goes with every outcome but {OUTCOME_OK!r}, and only then")
        region = schedule.region
        schedule = _normalised(schedule)
        content_hash = schedule.content_hash()
        fetched = to_text(fetched_at)
        started = to_text(fetched_at - timedelta(seconds=duration_seconds))
        async with self._lock, transaction(self._db, "BEGIN IMMEDIATE"):
            stored = await fetch_one(
                self._db, "SELECT version, content_hash FROM region_state WHERE region = ?", (region,)
            )
            if stored is not None and stored[1] == content_hash:
                changed, version, changed_days = False, stored[0], 0
                await self._db.execute(
                    "UPDATE region_state SET fetched_at = ? WHERE region = ?", (fetched, region)
                )
            else:
                changed, version = True, (stored[0] if stored is not None else 0) + 1
                changed_days = await self._replace_content(region, schedule, version, content_hash, fetched)
            if streets is not None:
                await self._save_streets(region, streets, fetched)
            if notices is not None:
                await self._save_notices(region, notices, fetched)
            await self._db.execute(
                "INSERT INTO scrapes (region, started_at, duration_seconds, outcome, error, version)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (region, started, duration_seconds, outcome, note, version),
            )
        return SaveResult(region, version, changed, changed_days)

    async def record_failure(
        self, region: str, *, started_at: datetime, duration_seconds: float, kind: str, error: str
    ) -> None:
        """Logs a failed scrape. Never touches the stored schedule: bots keep serving the last good data."""
        await self.record_outcome(
            region, started_at=started_at, duration_seconds=duration_seconds, kind=kind, note=error
        )

    async def record_outcome(
        self, region: str, *, started_at: datetime, duration_seconds: float, kind: str, note: str
    ) -> None:
        """Logs an attempt that stored nothing (a failure, or a probe that found no change) under ``kind``,
        with ``note`` in the log's error column. Never touches the stored schedule."""
        if not kind or kind == OUTCOME_OK:
            raise ValueError(
                f"a log entry without data needs an error kind other than {OUTCOME_OK!r}, got {kind!r}"
            )
        async with self._lock:
            await self._db.execute(
                "INSERT INTO scrapes (region, started_at, duration_seconds, outcome, error, version)"
                " VALUES (?, ?, ?, ?, ?, (SELECT version FROM region_state WHERE region = ?))",
                (region, to_text(started_at), duration_seconds, kind, note, region),
            )

    async def prune_history(self, before: datetime) -> int:
        """Deletes scrape log and change history rows older than ``before``; returns how many went."""
        cutoff = to_text(before)
        async with self._lock, transaction(self._db, "BEGIN IMMEDIATE"):
            scrapes = await self._db.execute("DELETE FROM scrapes WHERE started_at < ?", (cutoff,))
            changes = await self._db.execute("DELETE FROM changes WHERE detected_at < ?", (cutoff,))
        return scrapes.rowcount + changes.rowcount

    async def _replace_content(
        self, region: str, schedule: RegionSchedule, version: int, content_hash: str, fetched: str
    ) -> int:
        """Writes a new version of the region's content; returns the number of history rows."""
        old_days = await _day_rows(self._db, region)
        new_days = {
            (day.isoformat(), group): slots
            for day, groups in schedule.days.items()
            for group, slots in groups.items()
        }
        await self._db.execute(
            "INSERT INTO region_state (region, version, content_hash, updated, fetched_at, changed_at)"
            " VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (region) DO UPDATE SET version = excluded.version,"
            " content_hash = excluded.content_hash, updated = excluded.updated,"
            " fetched_at = excluded.fetched_at, changed_at = excluded.changed_at",
            (region, version, content_hash, _to_text_or_none(schedule.updated), fetched, fetched),
        )
        for table in ("day_slots", "week_slots", "group_names"):
            await self._db.execute(f"DELETE FROM {table} WHERE region = ?", (region,))
        await self._db.executemany(
            "INSERT INTO day_slots (region, day, grp, slots) VALUES (?, ?, ?, ?)",
            [(region, day, group, slots) for (day, group), slots in new_days.items()],
        )
        await self._db.executemany(
            "INSERT INTO week_slots (region, weekday, grp, slots) VALUES (?, ?, ?, ?)",
            [
                (region, wd, group, slots)
                for wd, groups in schedule.week.items()
                for group, slots in groups.items()
            ],
        )
        await self._db.executemany(
            "INSERT INTO group_names (region, grp, name) VALUES (?, ?, ?)",
            [(region, group, name) for group, name in schedule.groups.items()],
        )
        history = _day_changes(old_days, new_days)
        await self._db.executemany(
            "INSERT INTO changes (region, version, detected_at, day, grp, old_slots, new_slots)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(region, version, fetched, *change) for change in history],
        )
        return len(history)

    async def _save_notices(self, region: str, notices: PageNotices, saved: str) -> None:
        """Replaces the region's notices; an announcement with the same words is kept as first seen (text
        and time), so that a change of spacing alone changes nothing."""
        stored = await fetch_one(
            self._db, "SELECT announcement, announced_at FROM page_notices WHERE region = ?", (region,)
        )
        announcement, announced_at = notices.announcement, None
        if announcement is not None:
            announced_at = saved
            if stored is not None and stored[0] is not None and same_announcement(stored[0], announcement):
                announcement, announced_at = stored[0], stored[1]
        await self._db.execute(
            "INSERT INTO page_notices (region, announcement, announced_at, flags, saved_at)"
            " VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (region) DO UPDATE SET announcement = excluded.announcement,"
            " announced_at = excluded.announced_at, flags = excluded.flags, saved_at = excluded.saved_at",
            (
                region,
                announcement,
                announced_at,
                json.dumps(dict(notices.flags), sort_keys=True),
                saved,
            ),
        )

    async def _save_streets(self, region: str, streets: Mapping[str, Sequence[str]], saved: str) -> None:
        """Rewrites the street list only when its hash differs from the stored one (it is large)."""
        data = json.dumps({k: list(v) for k, v in streets.items()}, sort_keys=True, ensure_ascii=False)
        digest = hashlib.sha256(data.encode()).hexdigest()
        await self._db.execute(
            "INSERT INTO streets (region, content_hash, data, saved_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (region) DO UPDATE SET content_hash = excluded.content_hash,"
            " data = excluded.data, saved_at = excluded.saved_at"
            " WHERE streets.content_hash <> excluded.content_hash",
            (region, digest, data, saved),
        )


class ScheduleReader(Database):
    """A read-only view of the shared database for the bots."""

    @classmethod
    async def open(cls, path: Path) -> ScheduleReader:
        """Opens ``path`` read-only; the schema must be exactly this code's version."""
        db = await open_read_only(
            path, SCHEMA_VERSION, owner="the schedule service", upgrade_hint="upgrade the bot"
        )
        return cls(db)

    async def versions(self) -> dict[str, int]:
        """Region -> version: one cheap query for watchers polling for changes."""
        async with self._lock:
            rows = await self._db.execute_fetchall("SELECT region, version FROM region_state")
        return {region: version for region, version in rows}

    async def shown_versions(self) -> dict[str, str]:
        """Region -> :func:`shown_version`: one cheap query for caches that must also notice a new
        announcement or flag of DTEK while the schedule stays the same."""
        async with self._lock:
            rows = await self._db.execute_fetchall(
                "SELECT r.region, r.version, n.announcement, n.announced_at, n.flags"
                " FROM region_state r LEFT JOIN page_notices n ON n.region = r.region"
            )
        return {
            region: shown_version(version, _stored_notices(notices) if notices[2] is not None else None)
            for region, version, *notices in rows
        }

    async def regions(self) -> list[str]:
        async with self._lock:
            rows = await self._db.execute_fetchall("SELECT region FROM region_state ORDER BY region")
        return [region for (region,) in rows]

    async def load(self, region: str) -> StoredSchedule | None:
        """The region's current schedule, all read from one snapshot; None before its first success."""
        async with self._lock, transaction(self._db):
            state = await fetch_one(
                self._db,
                "SELECT version, content_hash, updated, fetched_at, changed_at"
                " FROM region_state WHERE region = ?",
                (region,),
            )
            if state is None:
                return None
            names = await self._db.execute_fetchall(
                "SELECT grp, name FROM group_names WHERE region = ? ORDER BY grp", (region,)
            )
            days = await _day_rows(self._db, region)
            week = await self._db.execute_fetchall(
                "SELECT weekday, grp, slots FROM week_slots WHERE region = ? ORDER BY weekday, grp", (region,)
            )
            notices = await fetch_one(
                self._db,
                "SELECT announcement, announced_at, flags FROM page_notices WHERE region = ?",
                (region,),
            )
        version, content_hash, updated, fetched_at, changed_at = state
        schedule = RegionSchedule(
            region=region,
            updated=from_text(updated) if updated is not None else None,
            groups={group: name for group, name in names},
            days=_nested((date.fromisoformat(day), group, slots) for (day, group), slots in days.items()),
            week=_nested((weekday, group, slots) for weekday, group, slots in week),
        )
        return StoredSchedule(
            schedule,
            version,
            content_hash,
            from_text(fetched_at),
            from_text(changed_at),
            _stored_notices(notices) if notices is not None else None,
        )

    async def streets(self, region: str) -> dict[str, list[str]] | None:
        """Settlement -> street names as last published; None if no page ever carried them."""
        async with self._lock:
            row = await fetch_one(self._db, "SELECT data FROM streets WHERE region = ?", (region,))
        return json.loads(row[0]) if row is not None else None

    async def last_success(self, region: str) -> datetime | None:
        """When the region was last scraped successfully (failed scrapes do not count)."""
        async with self._lock:
            row = await fetch_one(self._db, "SELECT fetched_at FROM region_state WHERE region = ?", (region,))
        return from_text(row[0]) if row is not None else None

    async def recent_scrapes(self, region: str | None = None, limit: int = 20) -> list[ScrapeRecord]:
        """The newest scrapes first, successful or not, of one region or of all."""
        columns = "SELECT region, started_at, duration_seconds, outcome, error, version FROM scrapes"
        order = "ORDER BY started_at DESC, id DESC LIMIT ?"
        async with self._lock:
            if region is None:
                rows = await self._db.execute_fetchall(f"{columns} {order}", (limit,))
            else:
                rows = await self._db.execute_fetchall(f"{columns} WHERE region = ? {order}", (region, limit))
        return [
            ScrapeRecord(region, from_text(started), duration, outcome, error, version)
            for region, started, duration, outcome, error, version in rows
        ]

    async def changes(self, region: str, *, after_version: int = 0) -> list[ChangeRecord]:
        """History rows of versions newer than ``after_version``, oldest first."""
        async with self._lock:
            rows = await self._db.execute_fetchall(
                "SELECT version, detected_at, day, grp, old_slots, new_slots FROM changes"
                " WHERE region = ? AND version > ? ORDER BY version, id",
                (region, after_version),
            )
        return [
            ChangeRecord(region, version, from_text(detected), date.fromisoformat(day), group, old, new)
            for version, detected, day, group, old, new in rows
        ]


async def _day_rows(db: aiosqlite.Connection, region: str) -> dict[tuple[str, str], str]:
    rows = await db.execute_fetchall(
        "SELECT day, grp, slots FROM day_slots WHERE region = ? ORDER BY day, grp", (region,)
    )
    return {(day, group): slots for day, group, slots in rows}


def _day_changes(
    old: Mapping[tuple[str, str], str], new: Mapping[tuple[str, str], str]
) -> list[tuple[str, str, str | None, str | None]]:
    """(day, group, old, new) for every pair whose slots differ, appeared or disappeared."""
    keys = sorted(old.keys() | new.keys(), key=lambda key: (key[0], group_sort_key(key[1])))
    return [
        (day, group, old.get((day, group)), new.get((day, group)))
        for day, group in keys
        if old.get((day, group)) != new.get((day, group))
    ]


def _nested(rows: Iterable[tuple[_Key, str, str]]) -> dict[_Key, dict[str, str]]:
    nested: dict[_Key, dict[str, str]] = {}
    for key, group, slots in rows:
        nested.setdefault(key, {})[group] = slots
    return nested


def shown_version(version: int, notices: StoredNotices | None) -> str:
    """The schedule's version, plus a digest of DTEK's notices when stored: it changes with either, and
    not when only the announcement's spacing or the scrape time changes."""
    if notices is None:
        return str(version)
    flags = json.dumps(dict(notices.notices.flags), sort_keys=True)
    digest = hashlib.sha256(f"{announcement_key(notices.announcement)}\n{flags}".encode()).hexdigest()
    return f"{version}.{digest[:8]}"


def _stored_notices(row: Sequence[str | None]) -> StoredNotices:
    announcement, announced_at, flags = row
    return StoredNotices(
        PageNotices(announcement, json.loads(flags or "{}")),
        from_text(announced_at) if announced_at is not None else None,
    )


def _normalised(schedule: RegionSchedule) -> RegionSchedule:
    """Kyiv time for ``updated``, as the reader returns it, so the stored hash matches the loaded schedule."""
    if schedule.updated is None:
        return schedule
    return dataclasses.replace(schedule, updated=from_text(to_text(schedule.updated)))


def _to_text_or_none(moment: datetime | None) -> str | None:
    return to_text(moment) if moment is not None else None
