"""A bot's health as seen from outside its process, in the bot's own DB: the heartbeat its notifier records
about once a minute, and whether the outbox is stuck. The check only reads: it never creates, migrates or
writes the file.

Stuck means a message has been due for longer than the limit while nothing was sent for as long. A backlog
alone is no fault: a broadcast at the platform's rate keeps messages waiting (10,000 Telegram chats take
about seven minutes), but it moves.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from common.botdb import BotDB, Heartbeat, SchemaVersionError
from common.clock import as_utc


@dataclass(frozen=True, slots=True)
class HealthLimits:
    max_heartbeat_age: timedelta
    max_outbox_delay: timedelta


@dataclass(frozen=True, slots=True)
class HealthReport:
    problems: tuple[str, ...]  # empty: healthy
    findings: tuple[str, ...] = ()  # what was seen to be fine

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class _Check:
    ok: bool
    text: str


async def check_bot_health(path: Path, limits: HealthLimits, *, now: datetime) -> HealthReport:
    """Opens the bot's DB at ``path`` read-only and judges it at the instant ``now``."""
    try:
        db = await BotDB.open_read_only(path, now=lambda: now)
    except FileNotFoundError:
        return HealthReport((f"no bot DB at {path} yet",))
    except SchemaVersionError as exc:
        return HealthReport((str(exc),))
    except sqlite3.Error as exc:  # e.g. not an SQLite file
        return HealthReport((f"cannot read {path}: {exc}",))
    async with db:
        heartbeat = await db.heartbeat()
        oldest_due = await db.oldest_due(now)
    return assess(heartbeat, oldest_due, limits, now=now)


def assess(
    heartbeat: Heartbeat, oldest_due: datetime | None, limits: HealthLimits, *, now: datetime
) -> HealthReport:
    """The report on what the bot's DB holds; ``oldest_due``: when the longest-waiting due message fell due."""
    checks = (
        _heartbeat_check(heartbeat.beat_at, limits.max_heartbeat_age, now),
        _outbox_check(oldest_due, heartbeat.outbox_progress_at, limits.max_outbox_delay, now),
    )
    return HealthReport(
        problems=tuple(check.text for check in checks if not check.ok),
        findings=tuple(check.text for check in checks if check.ok),
    )


def _heartbeat_check(beat_at: datetime | None, limit: timedelta, now: datetime) -> _Check:
    if beat_at is None:
        return _Check(False, "no heartbeat yet: the bot's background work has not run")
    age = _since(beat_at, now)
    if age > limit:
        return _Check(False, f"last heartbeat {_span(age)} ago (limit {_span(limit)})")
    return _Check(True, f"last heartbeat {_span(age)} ago")


def _outbox_check(
    oldest_due: datetime | None, progress_at: datetime | None, limit: timedelta, now: datetime
) -> _Check:
    if oldest_due is None:
        return _Check(True, "nothing due in the outbox")
    waited = _since(oldest_due, now)
    if waited <= limit:
        return _Check(True, f"oldest due message waiting {_span(waited)}")
    if progress_at is None:
        return _Check(False, f"outbox stuck: a message due for {_span(waited)}, and it never sent anything")
    quiet = _since(progress_at, now)
    if quiet > limit:
        return _Check(
            False,
            f"outbox stuck: a message due for {_span(waited)}, nothing sent for {_span(quiet)}"
            f" (limit {_span(limit)})",
        )
    return _Check(True, f"outbox sending a backlog (oldest due message waiting {_span(waited)})")


def _since(moment: datetime, now: datetime) -> timedelta:
    # UTC: two Kyiv times subtract as wall-clock times, an hour off across the autumn repeated hour.
    return as_utc(now) - as_utc(moment)


def _span(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    return f"{seconds:.0f} s" if abs(seconds) < 120 else f"{seconds / 60:.0f} min"
