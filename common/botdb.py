"""A chat bot's own SQLite database: the change-detection baseline, the schedule event log, recipients and
their subscriptions, the notification outbox and uploaded picture ids.

All SQL of the bot-local database lives in this module (each bot has its own file; the shared schedule
database is ``common.store``). One connection in autocommit mode; every multi-statement write is one
explicit transaction, serialised by a lock so coroutines sharing the connection never interleave.

Connection set-up, the migration runner, transactions and the timestamp format (ISO 8601 text in
UTC, returned as aware datetimes in Kyiv time) are the generic ones of ``common.sqlite_base``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Self

import aiosqlite

from common.changes import Baseline, EventKind, ScheduleEvent, StoredEvent
from common.clock import Now
from common.dtek.address import StreetAddress
from common.i18n import LANGUAGES
from common.messages import OutboxItem, OutboxRow
from common.schedule import group_sort_key
from common.sqlite_base import (
    Database,
    fetch_one,
    from_text,
    open_migrated,
    open_read_only,
    to_text,
    transaction,
)

# Re-exported: callers catch common.botdb.SchemaVersionError and DatabaseUnavailable.
from common.sqlite_base import DatabaseUnavailable as DatabaseUnavailable
from common.sqlite_base import SchemaVersionError as SchemaVersionError

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
    (
        # A chat, user or channel the bot can message; platform-neutral, so the id is text.
        # The lead minutes are spelled out, not taken from LEAD_MINUTES: a released step must never change.
        """CREATE TABLE recipients (
            id                 TEXT PRIMARY KEY,
            lang               TEXT NOT NULL CHECK (lang IN ('uk', 'en')),
            active             INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
            deactivated_reason TEXT,
            lead_off_minutes   INTEGER CHECK (lead_off_minutes IN (5, 10, 15, 30, 60)),
            lead_on_minutes    INTEGER CHECK (lead_on_minutes IN (5, 10, 15, 30, 60)),
            quiet_start        TEXT CHECK (quiet_start GLOB '[0-2][0-9]:[0-5][0-9]'),
            quiet_end          TEXT CHECK (quiet_end GLOB '[0-2][0-9]:[0-5][0-9]'),
            pictures           INTEGER NOT NULL DEFAULT 1 CHECK (pictures IN (0, 1)),
            created_at         TEXT NOT NULL,
            CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
        ) WITHOUT ROWID""",
        """CREATE TABLE subscriptions (
            recipient_id TEXT NOT NULL REFERENCES recipients (id),
            region       TEXT NOT NULL,
            grp          TEXT NOT NULL,
            PRIMARY KEY (recipient_id, region, grp)
        ) WITHOUT ROWID""",
        # The fan-out asks who follows one group.
        "CREATE INDEX subscriptions_by_group ON subscriptions (region, grp)",
        """CREATE TABLE outbox (
            id           INTEGER PRIMARY KEY,
            recipient_id TEXT NOT NULL REFERENCES recipients (id),
            dedupe_key   TEXT NOT NULL UNIQUE,
            payload      TEXT NOT NULL,
            status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
            attempts     INTEGER NOT NULL DEFAULT 0,
            not_before   TEXT NOT NULL,
            created_at   TEXT NOT NULL,
            sent_at      TEXT,
            last_error   TEXT
        )""",
        "CREATE INDEX outbox_due ON outbox (status, not_before, id)",
        # A recipient who blocked the bot has its pending rows dropped at once.
        "CREATE INDEX outbox_pending_by_recipient ON outbox (recipient_id) WHERE status = 'pending'",
        # Telegram uploads a picture once and then reuses its file id.
        """CREATE TABLE picture_files (
            key     TEXT PRIMARY KEY,
            file_id TEXT NOT NULL
        ) WITHOUT ROWID""",
    ),
    (
        # How many parts of a long message arrived before a failure: a retry sends only the rest.
        "ALTER TABLE outbox ADD COLUMN parts_sent INTEGER NOT NULL DEFAULT 0 CHECK (parts_sent >= 0)",
    ),
    (
        # Small facts about the bot itself, e.g. the hash of the Discord command tree last synced.
        """CREATE TABLE meta (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        ) WITHOUT ROWID""",
        # The group a user looks at by default, one per user and region (Discord's /setgroup).
        """CREATE TABLE user_groups (
            user_id  TEXT NOT NULL,
            region   TEXT NOT NULL,
            grp      TEXT NOT NULL,
            saved_at TEXT NOT NULL,
            PRIMARY KEY (user_id, region)
        ) WITHOUT ROWID""",
    ),
    (
        # What a server channel's subscription adds to its row in ``subscriptions``: the server it lies in
        # (all of a server's go at once when the bot is removed from it) and the role each post mentions.
        """CREATE TABLE channel_subscriptions (
            recipient_id TEXT NOT NULL,
            region       TEXT NOT NULL,
            grp          TEXT NOT NULL,
            server_id    TEXT NOT NULL,
            mention_role TEXT,
            PRIMARY KEY (recipient_id, region, grp),
            FOREIGN KEY (recipient_id, region, grp)
                REFERENCES subscriptions (recipient_id, region, grp) ON DELETE CASCADE
        ) WITHOUT ROWID""",
        "CREATE INDEX channel_subscriptions_by_server ON channel_subscriptions (server_id)",
    ),
    (
        # Opt-in: DTEK's new announcements for the regions the recipient follows.
        "ALTER TABLE recipients ADD COLUMN news INTEGER NOT NULL DEFAULT 0 CHECK (news IN (0, 1))",
        # The announcement last seen per region (its words, see common.notices): only a new one is news.
        """CREATE TABLE news_seen (
            region           TEXT PRIMARY KEY,
            announcement_key TEXT NOT NULL,
            seen_at          TEXT NOT NULL
        ) WITHOUT ROWID""",
    ),
    (
        # Opt-in: outages DTEK reports in progress at the recipient's saved addresses.
        "ALTER TABLE recipients ADD COLUMN outage_alerts INTEGER NOT NULL DEFAULT 0"
        " CHECK (outage_alerts IN (0, 1))",
        # One address per recipient and region, saved from /address (a Discord user's under their DM id).
        """CREATE TABLE saved_addresses (
            recipient_id TEXT NOT NULL REFERENCES recipients (id) ON DELETE CASCADE,
            region       TEXT NOT NULL,
            settlement   TEXT NOT NULL,
            street       TEXT NOT NULL,
            house        TEXT NOT NULL,
            saved_at     TEXT NOT NULL,
            PRIMARY KEY (recipient_id, region)
        ) WITHOUT ROWID""",
        "CREATE INDEX saved_addresses_by_street ON saved_addresses (region, settlement, street)",
        # The outage last seen at each watched house ("" none): only a change is news.
        """CREATE TABLE address_outages (
            region     TEXT NOT NULL,
            settlement TEXT NOT NULL,
            street     TEXT NOT NULL,
            house      TEXT NOT NULL,
            state      TEXT NOT NULL,
            seen_at    TEXT NOT NULL,
            PRIMARY KEY (region, settlement, street, house)
        ) WITHOUT ROWID""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

LEAD_MINUTES = (5, 10, 15, 30, 60)  # reminder lead times a recipient may choose
OUTBOX_STATUSES = ("pending", "sent", "dead")


class UnknownRecipient(LookupError):
    """No recipient has this id."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """Someone the bot messages (a chat, user or channel) and their notification settings."""

    id: str
    lang: str
    active: bool
    deactivated_reason: str | None
    lead_off_minutes: int | None  # None: no reminder before power goes off (or may go off)
    lead_on_minutes: int | None  # None: no reminder before power comes back
    quiet_start: time | None  # Kyiv wall clock; both None or both set
    quiet_end: time | None
    pictures: bool
    created_at: datetime

    @property
    def quiet_hours(self) -> tuple[time, time] | None:
        """(start, end) when both are set."""
        if self.quiet_start is None or self.quiet_end is None:
            return None
        return self.quiet_start, self.quiet_end


@dataclass(frozen=True, slots=True)
class ChannelSubscription:
    """A server channel subscribed to a group: the channel is the recipient, its server and the role its
    posts mention are kept besides."""

    recipient_id: str
    region: str
    group: str
    server_id: str
    mention_role: str | None
    active: bool  # False: posting failed for good (permissions removed, channel deleted)
    deactivated_reason: str | None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """What the notifier last recorded of its background work; None: never recorded."""

    beat_at: datetime | None
    outbox_progress_at: datetime | None


@dataclass(frozen=True, slots=True)
class BotStats:
    active_recipients: int
    inactive_recipients: int
    subscriptions: dict[tuple[str, str], int]  # (region, group) -> active subscribers
    outbox: dict[str, int]  # status -> rows


class BotDB(Database):
    """The bot's local database. Open with ``await BotDB.open(path)``; close it or use ``async with``.

    ``now`` is the program's clock: it stamps when recipients and outbox rows were created.
    """

    def __init__(self, db: aiosqlite.Connection, *, now: Now) -> None:
        super().__init__(db)
        self._now = now

    @classmethod
    async def open(cls, path: Path, *, now: Now) -> Self:
        """Creates the file and its directory when missing and migrates the schema to this code's version."""
        return cls(await open_migrated(path, MIGRATIONS, upgrade_hint="upgrade the bot"), now=now)

    @classmethod
    async def open_read_only(cls, path: Path, *, now: Now) -> BotDB:
        """Opens an existing file read-only, for a look from outside the bot (its health check): never
        creates or migrates it. FileNotFoundError when missing; SchemaVersionError unless the schema is
        this code's."""
        db = await open_read_only(path, SCHEMA_VERSION, owner="the bot", upgrade_hint="upgrade the bot")
        return cls(db, now=now)

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

    # --- recipients --------------------------------------------------------------------------------

    async def ensure_recipient(self, recipient_id: str, lang: str) -> Recipient:
        """The recipient, created with ``lang`` if new. An inactive one is reactivated with its settings kept:
        someone who writes to the bot again is reachable again."""
        _check_language(lang)
        async with self._lock, transaction(self._db, "BEGIN IMMEDIATE"):
            await self._db.execute(
                "INSERT INTO recipients (id, lang, created_at) VALUES (?, ?, ?) ON CONFLICT (id)"
                " DO UPDATE SET active = 1, deactivated_reason = NULL WHERE active = 0",
                (recipient_id, lang, to_text(self._now())),
            )
            row = await fetch_one(self._db, f"{_SELECT_RECIPIENTS} WHERE r.id = ?", (recipient_id,))
        if row is None:  # just inserted or already there, inside the same transaction
            raise RuntimeError(f"recipient {recipient_id!r} vanished while being ensured")
        return _recipient(row)

    async def get_recipient(self, recipient_id: str) -> Recipient | None:
        async with self._lock:
            row = await fetch_one(self._db, f"{_SELECT_RECIPIENTS} WHERE r.id = ?", (recipient_id,))
        return None if row is None else _recipient(row)

    async def set_language(self, recipient_id: str, lang: str) -> None:
        _check_language(lang)
        await self._update_recipient(recipient_id, "lang = ?", (lang,))

    async def set_leads(self, recipient_id: str, off: int | None, on: int | None) -> None:
        """Reminder lead times in minutes (one of ``LEAD_MINUTES``), or None for no reminder."""
        for lead in (off, on):
            if lead is not None and lead not in LEAD_MINUTES:
                raise ValueError(f"lead {lead!r} is not one of {LEAD_MINUTES}")
        await self._update_recipient(recipient_id, "lead_off_minutes = ?, lead_on_minutes = ?", (off, on))

    async def set_quiet(self, recipient_id: str, start: time | None, end: time | None) -> None:
        """Quiet hours on the Kyiv wall clock, to the minute; both None turns them off."""
        if (start is None) != (end is None):
            raise ValueError("quiet hours need both a start and an end, or neither")
        await self._update_recipient(
            recipient_id, "quiet_start = ?, quiet_end = ?", (_minute_text(start), _minute_text(end))
        )

    async def set_pictures(self, recipient_id: str, pictures: bool) -> None:
        await self._update_recipient(recipient_id, "pictures = ?", (int(pictures),))

    async def set_news(self, recipient_id: str, news: bool) -> None:
        """Whether the recipient gets DTEK's new announcements (kept apart from ``Recipient``: an opt-in
        only the news fan-out and /news read)."""
        await self._update_recipient(recipient_id, "news = ?", (int(news),))

    async def wants_news(self, recipient_id: str) -> bool:
        async with self._lock:
            row = await fetch_one(self._db, "SELECT news FROM recipients WHERE id = ?", (recipient_id,))
        return row is not None and bool(row[0])

    async def deactivate(self, recipient_id: str, reason: str) -> None:
        """Stops messages to the recipient (it blocked the bot, left, was deleted); its data stays."""
        await self._update_recipient(recipient_id, "active = 0, deactivated_reason = ?", (reason,))

    async def move_recipient(self, old_id: str, new_id: str) -> bool:
        """Moves a recipient to a new id (a Telegram group upgraded to a supergroup) in one transaction: its
        settings, subscriptions and outbox rows, pending ones included; the old id is gone afterwards and the
        recipient is active, since its new chat just showed up. A recipient already under the new id can
        only be the new chat's first contact, moments old: it takes the old settings and keeps its own
        subscriptions besides the old ones. False if there was no recipient under ``old_id`` (Telegram
        announces the move in both chats, and the second announcement finds it done)."""
        if old_id == new_id:
            raise ValueError(f"recipient {old_id!r} cannot move to its own id")
        async with self._lock, transaction(self._db, "BEGIN IMMEDIATE"):
            moved = await self._db.execute(
                f"INSERT INTO recipients (id, active, deactivated_reason, {_SETTINGS_COLUMNS})"
                f" SELECT ?, 1, NULL, {_SETTINGS_COLUMNS} FROM recipients WHERE id = ?"
                f" ON CONFLICT (id) DO UPDATE SET active = 1, deactivated_reason = NULL, {_TAKE_SETTINGS}",
                (new_id, old_id),
            )
            if not moved.rowcount:
                return False
            await self._db.execute(
                "INSERT INTO subscriptions (recipient_id, region, grp)"
                " SELECT ?, region, grp FROM subscriptions WHERE recipient_id = ? ON CONFLICT DO NOTHING",
                (new_id, old_id),
            )
            await self._db.execute("DELETE FROM subscriptions WHERE recipient_id = ?", (old_id,))
            await self._db.execute(
                "INSERT INTO saved_addresses (recipient_id, region, settlement, street, house, saved_at)"
                " SELECT ?, region, settlement, street, house, saved_at FROM saved_addresses"
                " WHERE recipient_id = ? ON CONFLICT DO NOTHING",
                (new_id, old_id),
            )
            await self._db.execute(
                "UPDATE outbox SET recipient_id = ? WHERE recipient_id = ?", (new_id, old_id)
            )
            await self._db.execute("DELETE FROM recipients WHERE id = ?", (old_id,))
        return True

    # --- subscriptions -----------------------------------------------------------------------------

    async def subscribe(self, recipient_id: str, region: str, group: str) -> bool:
        """True if the subscription is new."""
        return bool(
            await self._execute(
                "INSERT INTO subscriptions (recipient_id, region, grp) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (recipient_id, region, group),
            )
        )

    async def unsubscribe(self, recipient_id: str, region: str, group: str) -> bool:
        """True if there was such a subscription."""
        return bool(
            await self._execute(
                "DELETE FROM subscriptions WHERE recipient_id = ? AND region = ? AND grp = ?",
                (recipient_id, region, group),
            )
        )

    async def subscriptions(self, recipient_id: str) -> list[tuple[str, str]]:
        """The recipient's (region, group) pairs, groups in natural order (2.1 before 10.1)."""
        async with self._lock:
            rows = await self._db.execute_fetchall(
                "SELECT region, grp FROM subscriptions WHERE recipient_id = ?", (recipient_id,)
            )
        return sorted(((region, group) for region, group in rows), key=_subscription_order)

    async def subscribers(self, region: str, group: str) -> list[Recipient]:
        """Active recipients subscribed to the group."""
        async with self._lock:
            rows = await self._db.execute_fetchall(
                f"{_SELECT_RECIPIENTS} JOIN subscriptions s ON s.recipient_id = r.id"
                " WHERE r.active = 1 AND s.region = ? AND s.grp = ? ORDER BY r.id",
                (region, group),
            )
        return [_recipient(row) for row in rows]

    async def all_subscriptions(self) -> list[tuple[Recipient, str, str]]:
        """Every subscription of an active recipient, as (recipient, region, group)."""
        async with self._lock:
            rows = await self._db.execute_fetchall(
                f"SELECT {_RECIPIENT_COLUMNS}, s.region, s.grp FROM recipients r"
                " JOIN subscriptions s ON s.recipient_id = r.id WHERE r.active = 1",
            )
        found = [(_recipient(row[:-2]), row[-2], row[-1]) for row in rows]
        return sorted(found, key=lambda item: (item[0].id, *_subscription_order(item[1:])))

    async def news_recipients(self, region: str) -> list[Recipient]:
        """Active recipients who want DTEK's announcements and follow a group of ``region``."""
        async with self._lock:
            rows = await self._db.execute_fetchall(
                f"{_SELECT_RECIPIENTS} WHERE r.active = 1 AND r.news = 1 AND EXISTS"
                " (SELECT 1 FROM subscriptions s WHERE s.recipient_id = r.id AND s.region = ?) ORDER BY r.id",
                (region,),
            )
        return [_recipient(row) for row in rows]

    # --- DTEK's announcements ----------------------------------------------------------------------

    async def news_seen(self, region: str) -> str | None:
        """The words of the region's announcement last seen ("" none); None if never looked at."""
        async with self._lock:
            row = await fetch_one(
                self._db, "SELECT announcement_key FROM news_seen WHERE region = ?", (region,)
            )
        return None if row is None else str(row[0])

    async def commit_news(self, region: str, key: str, items: Sequence[OutboxItem]) -> int:
        """Records ``key`` as the region's announcement and queues ``items`` in one transaction, so a
        crash neither loses the news nor sends it twice; returns rows added."""
        async with self._lock, transaction(self._db, "BEGIN IMMEDIATE"):
            await self._db.execute(
                "INSERT INTO news_seen (region, announcement_key, seen_at) VALUES (?, ?, ?)"
                " ON CONFLICT (region) DO UPDATE SET announcement_key = excluded.announcement_key,"
                " seen_at = excluded.seen_at",
                (region, key, to_text(self._now())),
            )
            return await self._insert_outbox(items)

    # --- saved addresses and the outages there -------------------------------------------------------

    async def save_address(self, recipient_id: str, address: StreetAddress) -> None:
        """The recipient's address in its region, replacing the one saved before."""
        await self._execute(
            "INSERT INTO saved_addresses (recipient_id, region, settlement, street, house, saved_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (recipient_id, region) DO UPDATE SET"
            " settlement = excluded.settlement, street = excluded.street, house = excluded.house,"
            " saved_at = excluded.saved_at",
            (recipient_id, *address.street_key, address.house, to_text(self._now())),
        )

    async def forget_addresses(self, recipient_id: str) -> int:
        """Deletes the recipient's saved addresses; returns how many there were."""
        return await self._execute("DELETE FROM saved_addresses WHERE recipient_id = ?", (recipient_id,))

    async def saved_addresses(self, recipient_id: str) -> list[StreetAddress]:
        """The recipient's saved addresses, by region."""
        async with self._lock:
            rows = await self._db.execute_fetchall(
                "SELECT region, settlement, street, house FROM saved_addresses WHERE recipient_id = ?"
                " ORDER BY region",
                (recipient_id,),
            )
        return [StreetAddress(*row) for row in rows]

    async def set_outage_alerts(self, recipient_id: str, on: bool) -> None:
        """Whether the recipient is told of outages starting and ending at its saved addresses."""
        await self._update_recipient(recipient_id, "outage_alerts = ?", (int(on),))

    async def wants_outage_alerts(self, recipient_id: str) -> bool:
        async with self._lock:
            row = await fetch_one(
                self._db, "SELECT outage_alerts FROM recipients WHERE id = ?", (recipient_id,)
            )
        return bool(row and row[0])

    async def watched_streets(self) -> list[tuple[str, str, str]]:
        """(region, settlement, street) of every saved address someone wants outage alerts for."""
        async with self._lock:
            rows = await self._db.execute_fetchall(
                "SELECT DISTINCT a.region, a.settlement, a.street FROM saved_addresses a"
                " JOIN recipients r ON r.id = a.recipient_id WHERE r.active = 1 AND r.outage_alerts = 1"
                " ORDER BY 1, 2, 3"
            )
        return [(region, settlement, street) for region, settlement, street in rows]

    async def street_watchers(self, region: str, settlement: str, street: str) -> list[tuple[Recipient, str]]:
        """(recipient, house) for each watcher of the street: active, with outage alerts on."""
        async with self._lock:
            rows = await self._db.execute_fetchall(
                f"SELECT {_RECIPIENT_COLUMNS}, a.house FROM recipients r"
                " JOIN saved_addresses a ON a.recipient_id = r.id WHERE r.active = 1 AND r.outage_alerts = 1"
                " AND a.region = ? AND a.settlement = ? AND a.street = ? ORDER BY r.id",
                (region, settlement, street),
            )
        return [(_recipient(row[:-1]), row[-1]) for row in rows]

    async def outage_states(self, region: str, settlement: str, street: str) -> dict[str, str]:
        """House -> the outage last seen there ("" none), for the houses looked at before."""
        async with self._lock:
            rows = await self._db.execute_fetchall(
                "SELECT house, state FROM address_outages WHERE region = ? AND settlement = ? AND street = ?",
                (region, settlement, street),
            )
        return {house: state for house, state in rows}

    async def commit_outage_states(
        self, street: tuple[str, str, str], states: Mapping[str, str], items: Sequence[OutboxItem]
    ) -> int:
        """Records each house's outage and queues ``items`` in one transaction, so a crash neither loses an
        alert nor sends it twice; returns rows added."""
        async with self._lock, transaction(self._db, "BEGIN IMMEDIATE"):
            await self._db.executemany(
                "INSERT INTO address_outages (region, settlement, street, house, state, seen_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET state = excluded.state,"
                " seen_at = excluded.seen_at",
                [(*street, house, state, to_text(self._now())) for house, state in states.items()],
            )
            return await self._insert_outbox(items)

    # --- server channels ---------------------------------------------------------------------------

    async def subscribe_channel(
        self,
        recipient_id: str,
        region: str,
        group: str,
        *,
        server_id: str,
        lang: str,
        mention_role: str | None = None,
    ) -> bool:
        """Subscribes a server channel to a group in one transaction: the channel becomes (or stays) an
        active recipient posting in ``lang``, and the subscription records its server and the role to
        mention (replacing the role of an existing one). True if the subscription is new."""
        _check_language(lang)
        async with self._lock, transaction(self._db, "BEGIN IMMEDIATE"):
            await self._db.execute(
                "INSERT INTO recipients (id, lang, created_at) VALUES (?, ?, ?) ON CONFLICT (id)"
                " DO UPDATE SET lang = excluded.lang, active = 1, deactivated_reason = NULL",
                (recipient_id, lang, to_text(self._now())),
            )
            added = await self._db.execute(
                "INSERT INTO subscriptions (recipient_id, region, grp) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (recipient_id, region, group),
            )
            await self._db.execute(
                "INSERT INTO channel_subscriptions (recipient_id, region, grp, server_id, mention_role)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (recipient_id, region, grp)"
                " DO UPDATE SET server_id = excluded.server_id, mention_role = excluded.mention_role",
                (recipient_id, region, group, server_id, mention_role),
            )
        return bool(added.rowcount)

    async def unsubscribe_channel(self, recipient_id: str, region: str, group: str) -> bool:
        """Ends a channel's subscription and what it records; True if there was one."""
        return await self.unsubscribe(recipient_id, region, group)  # the channel's row goes by cascade

    async def channel_subscriptions(self, server_id: str) -> list[ChannelSubscription]:
        """A server's channel subscriptions, by channel, then region and group in natural order."""
        async with self._lock:
            rows = await self._db.execute_fetchall(
                "SELECT c.recipient_id, c.region, c.grp, c.server_id, c.mention_role, r.active,"
                " r.deactivated_reason FROM channel_subscriptions c"
                " JOIN recipients r ON r.id = c.recipient_id WHERE c.server_id = ?",
                (server_id,),
            )
        found = [
            ChannelSubscription(rid, region, group, server, role, bool(active), reason)
            for rid, region, group, server, role, active, reason in rows
        ]
        return sorted(found, key=lambda s: (s.recipient_id, *_subscription_order((s.region, s.group))))

    async def mention_role(self, recipient_id: str, region: str, group: str) -> str | None:
        """The role a channel's posts about the group mention; None for no role or no such subscription."""
        async with self._lock:
            row = await fetch_one(
                self._db,
                "SELECT mention_role FROM channel_subscriptions WHERE recipient_id = ? AND region = ? AND grp = ?",
                (recipient_id, region, group),
            )
        return None if row is None else row[0]

    async def delete_server_subscriptions(self, server_id: str, reason: str) -> int:
        """Deletes every channel subscription of a server (the bot was removed from it) in one transaction;
        its channels are deactivated with ``reason`` and their pending posts dropped. Returns how many
        subscriptions went."""
        async with self._lock, transaction(self._db, "BEGIN IMMEDIATE"):
            channels = [
                rid
                for (rid,) in await self._db.execute_fetchall(
                    "SELECT DISTINCT recipient_id FROM channel_subscriptions WHERE server_id = ?",
                    (server_id,),
                )
            ]
            deleted = await self._db.execute(
                "DELETE FROM subscriptions WHERE (recipient_id, region, grp) IN"
                " (SELECT recipient_id, region, grp FROM channel_subscriptions WHERE server_id = ?)",
                (server_id,),
            )
            for rid in channels:
                await self._db.execute(
                    "UPDATE recipients SET active = 0, deactivated_reason = ? WHERE id = ?", (reason, rid)
                )
                await self._db.execute(
                    "UPDATE outbox SET status = 'dead', last_error = ?"
                    " WHERE recipient_id = ? AND status = 'pending'",
                    (reason, rid),
                )
        return max(deleted.rowcount, 0)

    # --- outbox ------------------------------------------------------------------------------------

    async def enqueue(self, items: Sequence[OutboxItem]) -> int:
        """Queues the items whose dedupe key is new; returns how many were added."""
        async with self._lock, transaction(self._db, "BEGIN IMMEDIATE"):
            return await self._insert_outbox(items)

    async def fan_out(self, event_id: int, items: Sequence[OutboxItem]) -> int:
        """Queues a schedule event's messages and marks the event fanned out in one transaction, so a
        crash leaves either both or neither; returns how many rows were added."""
        async with self._lock, transaction(self._db, "BEGIN IMMEDIATE"):
            added = await self._insert_outbox(items)
            await self._db.execute("UPDATE schedule_events SET fanned_out = 1 WHERE id = ?", (event_id,))
        return added

    async def due_messages(
        self, now: datetime, limit: int, exclude_recipients: Collection[str] = ()
    ) -> list[OutboxRow]:
        """Pending rows due at ``now``, oldest first, leaving out the given recipients."""
        excluded = list(exclude_recipients)
        async with self._lock:
            rows = await self._db.execute_fetchall(
                "SELECT id, recipient_id, dedupe_key, payload, attempts, not_before, parts_sent FROM outbox"
                " WHERE status = 'pending' AND not_before <= ?"
                f" AND recipient_id NOT IN ({', '.join('?' * len(excluded))}) ORDER BY id LIMIT ?",
                (to_text(now), *excluded, limit),
            )
        return [
            OutboxRow(row_id, recipient, key, json.loads(payload), attempts, from_text(not_before), parts)
            for row_id, recipient, key, payload, attempts, not_before, parts in rows
        ]

    async def mark_sent(self, sent: Sequence[tuple[int, datetime]]) -> None:
        """Marks the rows (id, when sent) sent, in one transaction: the outbox worker stores its sends in
        batches, as one commit per row would cost more than the send."""
        async with self._lock, transaction(self._db, "BEGIN IMMEDIATE"):
            await self._db.executemany(
                "UPDATE outbox SET status = 'sent', sent_at = ? WHERE id = ? AND status = 'pending'",
                [(to_text(at), row_id) for row_id, at in sent],
            )

    async def mark_retry(
        self,
        row_id: int,
        not_before: datetime,
        error: str,
        *,
        count_attempt: bool = True,
        parts_delivered: int = 0,
    ) -> None:
        """Sends the row again at ``not_before``; ``count_attempt=False`` when the platform only asked to wait.
        ``parts_delivered`` parts of the message arrived in the failed attempt: the next one skips them."""
        await self._execute(
            "UPDATE outbox SET not_before = ?, attempts = attempts + ?, last_error = ?,"
            " parts_sent = parts_sent + ? WHERE id = ? AND status = 'pending'",
            (to_text(not_before), int(count_attempt), error, parts_delivered, row_id),
        )

    async def mark_dead(self, row_id: int, error: str) -> None:
        """Gives up on the row after its last failed attempt."""
        await self._execute(
            "UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = ?"
            " WHERE id = ? AND status = 'pending'",
            (error, row_id),
        )

    async def drop_pending_for(self, recipient_id: str, reason: str) -> int:
        """Dead-letters every pending row of the recipient (it blocked the bot); returns how many."""
        return await self._execute(
            "UPDATE outbox SET status = 'dead', last_error = ? WHERE recipient_id = ? AND status = 'pending'",
            (reason, recipient_id),
        )

    async def oldest_due(self, now: datetime) -> datetime | None:
        """When the longest-waiting pending row due at ``now`` became due; None if nothing is due."""
        async with self._lock:
            row = await fetch_one(
                self._db,
                "SELECT min(not_before) FROM outbox WHERE status = 'pending' AND not_before <= ?",
                (to_text(now),),
            )
        return None if row is None or row[0] is None else from_text(row[0])

    async def outbox_counts(self) -> dict[str, int]:
        async with self._lock:
            return await self._outbox_counts()

    # --- pictures ----------------------------------------------------------------------------------

    async def get_file_id(self, key: str) -> str | None:
        async with self._lock:
            row = await fetch_one(self._db, "SELECT file_id FROM picture_files WHERE key = ?", (key,))
        return None if row is None else row[0]

    async def save_file_id(self, key: str, file_id: str) -> None:
        await self._execute(
            "INSERT INTO picture_files (key, file_id) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET file_id = excluded.file_id",
            (key, file_id),
        )

    async def forget_file_id(self, key: str, file_id: str) -> None:
        """Drops a file_id the platform rejected; one saved meanwhile by another send stays."""
        await self._execute("DELETE FROM picture_files WHERE key = ? AND file_id = ?", (key, file_id))

    # --- meta --------------------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        async with self._lock:
            row = await fetch_one(self._db, "SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else row[0]

    async def set_meta(self, key: str, value: str) -> None:
        await self._execute(_SET_META, (key, value))

    async def record_heartbeat(self, at: datetime, *, outbox_progressed: bool) -> None:
        """Notes that the bot's background work went on at ``at``; ``outbox_progressed``: the outbox also got
        somewhere since the previous note (one write transaction: called about once a minute)."""
        stamp = to_text(at)
        keys = [_HEARTBEAT, _OUTBOX_PROGRESS] if outbox_progressed else [_HEARTBEAT]
        async with self._lock, transaction(self._db, "BEGIN IMMEDIATE"):
            await self._db.executemany(_SET_META, [(key, stamp) for key in keys])

    async def heartbeat(self) -> Heartbeat:
        async with self._lock:
            rows = await self._db.execute_fetchall(
                "SELECT key, value FROM meta WHERE key IN (?, ?)", (_HEARTBEAT, _OUTBOX_PROGRESS)
            )
        stamps = {key: from_text(value) for key, value in rows}
        return Heartbeat(stamps.get(_HEARTBEAT), stamps.get(_OUTBOX_PROGRESS))

    # --- saved groups ------------------------------------------------------------------------------

    async def save_user_group(self, user_id: str, region: str, group: str) -> None:
        """The user's group in ``region``, replacing the one saved before."""
        await self._execute(
            "INSERT INTO user_groups (user_id, region, grp, saved_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (user_id, region) DO UPDATE SET grp = excluded.grp, saved_at = excluded.saved_at",
            (user_id, region, group, to_text(self._now())),
        )

    async def user_groups(self, user_id: str) -> dict[str, str]:
        """The user's saved group per region."""
        async with self._lock:
            rows = await self._db.execute_fetchall(
                "SELECT region, grp FROM user_groups WHERE user_id = ? ORDER BY region", (user_id,)
            )
        return {region: group for region, group in rows}

    # --- upkeep ------------------------------------------------------------------------------------

    async def stats(self) -> BotStats:
        async with self._lock, transaction(self._db):  # one read transaction: the numbers agree
            states = await self._db.execute_fetchall(
                "SELECT active, count(*) FROM recipients GROUP BY active"
            )
            by_state: dict[int, int] = {active: count for active, count in states}
            groups = await self._db.execute_fetchall(
                "SELECT s.region, s.grp, count(*) FROM subscriptions s"
                " JOIN recipients r ON r.id = s.recipient_id WHERE r.active = 1 GROUP BY s.region, s.grp"
            )
            outbox = await self._outbox_counts()
        return BotStats(
            active_recipients=by_state.get(1, 0),
            inactive_recipients=by_state.get(0, 0),
            subscriptions={(region, group): count for region, group, count in groups},
            outbox=outbox,
        )

    async def prune(self, before: datetime) -> int:
        """Deletes sent and dead outbox rows queued before ``before`` and fanned-out schedule events
        detected before it; returns how many rows went. Pending rows are never deleted."""
        cutoff = to_text(before)
        async with self._lock, transaction(self._db, "BEGIN IMMEDIATE"):
            outbox = await self._db.execute(
                "DELETE FROM outbox WHERE status IN ('sent', 'dead') AND created_at < ?", (cutoff,)
            )
            # The newest event stays: SQLite gives a new row max(id) + 1, and a reused event id would
            # collide with the dedupe keys ("event:{id}:...") of rows still in the outbox.
            events = await self._db.execute(
                "DELETE FROM schedule_events WHERE fanned_out = 1 AND detected_at < ?"
                " AND id < (SELECT max(id) FROM schedule_events)",
                (cutoff,),
            )
        return outbox.rowcount + events.rowcount

    # --- helpers -----------------------------------------------------------------------------------

    async def _execute(self, sql: str, params: tuple[object, ...]) -> int:
        """One statement on its own (autocommit); returns the number of rows it changed."""
        async with self._lock:
            cursor = await self._db.execute(sql, params)
        return cursor.rowcount

    async def _update_recipient(
        self, recipient_id: str, assignments: str, values: tuple[object, ...]
    ) -> None:
        if not await self._execute(
            f"UPDATE recipients SET {assignments} WHERE id = ?", (*values, recipient_id)
        ):
            raise UnknownRecipient(recipient_id)

    async def _insert_outbox(self, items: Sequence[OutboxItem]) -> int:
        """Inside the caller's transaction; a known dedupe key is skipped, any other error raises."""
        created = to_text(self._now())
        cursor = await self._db.executemany(
            "INSERT INTO outbox (recipient_id, dedupe_key, payload, not_before, created_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
            [
                (
                    item.recipient_id,
                    item.dedupe_key,
                    json.dumps(item.payload, ensure_ascii=False, sort_keys=True),
                    to_text(item.not_before),
                    created,
                )
                for item in items
            ],
        )
        return max(cursor.rowcount, 0)  # -1 when there was nothing to insert

    async def _outbox_counts(self) -> dict[str, int]:
        rows = await self._db.execute_fetchall("SELECT status, count(*) FROM outbox GROUP BY status")
        return {status: 0 for status in OUTBOX_STATUSES} | {status: count for status, count in rows}

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


_SET_META = (
    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"
)
# Meta keys of the notifier's heartbeat, UTC instants as ``to_text`` writes them (``record_heartbeat``).
_HEARTBEAT = "heartbeat"
_OUTBOX_PROGRESS = "outbox_progress"

# In the order of Recipient's fields.
_RECIPIENT_COLUMNS = (
    "r.id, r.lang, r.active, r.deactivated_reason, r.lead_off_minutes, r.lead_on_minutes,"
    " r.quiet_start, r.quiet_end, r.pictures, r.created_at"
)
_SELECT_RECIPIENTS = f"SELECT {_RECIPIENT_COLUMNS} FROM recipients r"
# What a recipient chose, and since when it exists: what moves with it to a new id.
_SETTINGS = (
    "lang",
    "lead_off_minutes",
    "lead_on_minutes",
    "quiet_start",
    "quiet_end",
    "pictures",
    "created_at",
    "news",
    "outage_alerts",
)
_SETTINGS_COLUMNS = ", ".join(_SETTINGS)
_TAKE_SETTINGS = ", ".join(f"{column} = excluded.{column}" for column in _SETTINGS)


def _recipient(row: Sequence[Any]) -> Recipient:
    rid, lang, active, reason, lead_off, lead_on, quiet_start, quiet_end, pictures, created = row
    return Recipient(
        id=rid,
        lang=lang,
        active=bool(active),
        deactivated_reason=reason,
        lead_off_minutes=lead_off,
        lead_on_minutes=lead_on,
        quiet_start=None if quiet_start is None else time.fromisoformat(quiet_start),
        quiet_end=None if quiet_end is None else time.fromisoformat(quiet_end),
        pictures=bool(pictures),
        created_at=from_text(created),
    )


def _check_language(lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r} is not one of {LANGUAGES}")


def _minute_text(moment: time | None) -> str | None:
    return None if moment is None else f"{moment:%H:%M}"


def _subscription_order(subscription: Sequence[str]) -> tuple[Any, ...]:
    region, group = subscription
    return region, group_sort_key(group)
