"""SQLite plumbing shared by the schedule database (``common.store``) and a bot's own (``common.botdb``).

Only generic pieces live here: connection pragmas, the migration runner, read-only opening of an existing
file, explicit transactions and the timestamp text format. The schema and every query of a database stay in that database's own module.

Connections run in autocommit mode; each multi-statement write is one explicit transaction, and a
lock per connection keeps coroutines sharing it from interleaving their transactions.

Timestamps are stored as ISO 8601 text in UTC with a fixed format (so text order is time order)
and returned as aware datetimes in Kyiv time.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite

from common.clock import KYIV, as_utc

BUSY_TIMEOUT_MS = 5000


class SchemaVersionError(RuntimeError):
    """The database file's schema version does not match this code."""


class DatabaseUnavailable(RuntimeError):
    """The database file cannot be opened for writing: read-only, on a full disk, not a database."""


class Database:
    """A connection plus the lock that keeps one coroutine's transaction from interleaving with another's."""

    def __init__(self, db: aiosqlite.Connection) -> None:
        self._db = db
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        await self._db.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


@asynccontextmanager
async def transaction(db: aiosqlite.Connection, begin: str = "BEGIN") -> AsyncIterator[None]:
    """An explicit transaction (the connection runs in autocommit mode): COMMIT on success, else ROLLBACK."""
    await db.execute(begin)
    try:
        yield
    except BaseException:
        if db.in_transaction:  # SQLite itself rolls back after some errors (disk full, I/O)
            await db.execute("ROLLBACK")
        raise
    await db.execute("COMMIT")


async def open_migrated(
    path: Path, migrations: Sequence[Sequence[str]], *, upgrade_hint: str
) -> aiosqlite.Connection:
    """Opens ``path`` for writing, creating it and its directory when missing, and applies ``migrations``.

    ``migrations`` holds one sequence of statements per schema version; ``upgrade_hint`` ends the error
    raised when the file's schema is newer than this code.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = await aiosqlite.connect(path, isolation_level=None)
    try:
        await _configure(db, path)
        await _migrate(db, path, migrations, upgrade_hint)
        await _check_writable(db)
    except sqlite3.Error as exc:
        await db.close()
        raise DatabaseUnavailable(f"cannot open {path} for writing: {exc}") from exc
    except BaseException:
        await db.close()  # an open aiosqlite thread would keep the process alive
        raise
    return db


async def open_read_only(
    path: Path, schema_version: int, *, owner: str, upgrade_hint: str
) -> aiosqlite.Connection:
    """Opens an existing ``path`` read-only: it is never created, written or migrated here.

    Raises FileNotFoundError when the file is missing and SchemaVersionError unless its schema is exactly
    ``schema_version``; ``owner`` names the program that creates and migrates it, for the messages.
    """
    db = await aiosqlite.connect(_read_only_uri(path, owner), uri=True, isolation_level=None)
    try:
        await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await db.execute("PRAGMA query_only = ON")
        current = await user_version(db)
        if current > schema_version:
            raise _newer_schema(path, current, schema_version, upgrade_hint)
        if current < schema_version:
            raise SchemaVersionError(
                f"{path} has schema version {current}, this code needs {schema_version};"
                f" start {owner} (it creates and migrates the database) or check the path"
            )
    except BaseException:
        await db.close()
        raise
    return db


def _read_only_uri(path: Path, owner: str) -> str:
    if not path.is_file():
        raise FileNotFoundError(f"database {path} does not exist; {owner} creates it on its first run")
    return f"{path.resolve().as_uri()}?mode=ro"


def _newer_schema(path: Path, current: int, latest: int, upgrade_hint: str) -> SchemaVersionError:
    return SchemaVersionError(
        f"{path} has schema version {current}, newer than this code's {latest}; {upgrade_hint}"
    )


async def user_version(db: aiosqlite.Connection) -> int:
    row = await fetch_one(db, "PRAGMA user_version")
    return int(row[0]) if row is not None else 0


async def fetch_one(
    db: aiosqlite.Connection, sql: str, params: tuple[object, ...] = ()
) -> Sequence[Any] | None:
    # aiosqlite declares sqlite3.Row; without a row factory the row is a plain tuple: either is a Sequence.
    async with db.execute(sql, params) as cursor:
        return await cursor.fetchone()


def to_text(moment: datetime) -> str:
    return as_utc(moment).isoformat(timespec="microseconds")


def from_text(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(KYIV)


async def _configure(db: aiosqlite.Connection, path: Path) -> None:
    await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    row = await fetch_one(db, "PRAGMA journal_mode = WAL")
    mode = row[0] if row is not None else None
    if str(mode).lower() != "wal":
        # Without WAL every write would block the readers (e.g. on a file system without shared memory).
        raise RuntimeError(f"cannot switch {path} to WAL journal mode (got {mode!r})")
    await db.execute("PRAGMA synchronous = NORMAL")  # safe with WAL: a crash may lose the last commit only
    await db.execute("PRAGMA foreign_keys = ON")


async def _check_writable(db: aiosqlite.Connection) -> None:
    """One write now (the version, unchanged): a read-only file fails at the start, not at the first write
    hours later; a migrated file needs no other write to open."""
    async with transaction(db, "BEGIN IMMEDIATE"):
        await db.execute(f"PRAGMA user_version = {await user_version(db)}")


async def _migrate(
    db: aiosqlite.Connection, path: Path, migrations: Sequence[Sequence[str]], upgrade_hint: str
) -> None:
    """Applies missing steps; the version is re-read under the write lock, so a racing process is harmless."""
    latest = len(migrations)
    for version, statements in enumerate(migrations, start=1):
        async with transaction(db, "BEGIN IMMEDIATE"):
            current = await user_version(db)
            if current > latest:
                raise _newer_schema(path, current, latest, upgrade_hint)
            if current >= version:
                continue
            for statement in statements:
                await db.execute(statement)
            await db.execute(f"PRAGMA user_version = {version}")
