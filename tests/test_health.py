"""The bots' health check: the notifier's heartbeat in the bot's DB, the verdict on it (a real SQLite file,
a fixed clock), and ``python -m telegram_bot health`` / ``python -m discord_bot health`` as processes."""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from common.botdb import MIGRATIONS, BotDB, Heartbeat
from common.clock import KYIV
from common.health import HealthLimits, HealthReport, assess, check_bot_health
from common.messages import OutboxItem
from common.notifications import Notifier, SendOutcome
from common.source import CachedSource, SharedDbLoader
from common.sqlite_base import open_migrated
from tests.conftest import REPO_ROOT, real_kyiv_now
from tests.processes import Finished, run
from tests.waiting import wait_until

NOW = datetime(2026, 1, 15, 8, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
LIMITS = HealthLimits(max_heartbeat_age=5 * MINUTE, max_outbox_delay=15 * MINUTE)
TOKENS = {"telegram_bot": ("TELEGRAM_BOT_TOKEN", "123456:secret-telegram-token")}
TOKENS["discord_bot"] = ("DISCORD_TOKEN", "MTIzNDU2Nzg5MDEyMzQ1Njc4.GsEcRt.secret-discord-token-value")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "bot.db"


async def prepare(
    path: Path,
    *,
    beat_at: datetime | None,
    progress_at: datetime | None = None,
    due_at: datetime | None = None,
) -> None:
    """A bot DB whose notifier last beat at ``beat_at``, whose outbox last progressed at ``progress_at``
    and, with ``due_at``, holds a message due then."""
    async with await BotDB.open(path, now=lambda: beat_at or NOW) as db:
        if progress_at is not None:
            await db.record_heartbeat(progress_at, outbox_progressed=True)
        if beat_at is not None:
            await db.record_heartbeat(beat_at, outbox_progressed=progress_at is None)
        if due_at is not None:
            await db.ensure_recipient("chat", "uk")
            await db.enqueue([OutboxItem("chat", "reminder:1", {"text": "Світло"}, due_at)])


async def check(path: Path, now: datetime = NOW) -> HealthReport:
    return await check_bot_health(path, LIMITS, now=now)


async def test_a_fresh_heartbeat_is_healthy(db_path: Path) -> None:
    await prepare(db_path, beat_at=NOW - MINUTE)
    report = await check(db_path)
    assert report.ok
    assert report.findings == ("last heartbeat 60 s ago", "nothing due in the outbox")


async def test_an_old_heartbeat_is_unhealthy_and_named_with_its_age(db_path: Path) -> None:
    await prepare(db_path, beat_at=NOW - 12 * MINUTE)
    report = await check(db_path)
    assert report.problems == ("last heartbeat 12 min ago (limit 5 min)",)


async def test_no_heartbeat_yet_is_unhealthy(db_path: Path) -> None:
    await prepare(db_path, beat_at=None)
    assert (await check(db_path)).problems == ("no heartbeat yet: the bot's background work has not run",)


async def test_no_db_is_unhealthy_and_the_check_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "data" / "bot.db"
    assert (await check(path)).problems == (f"no bot DB at {path} yet",)
    assert not path.parent.exists()


async def test_a_due_message_waiting_with_nothing_sent_since_is_stuck(db_path: Path) -> None:
    await prepare(db_path, beat_at=NOW - MINUTE, progress_at=NOW - 20 * MINUTE, due_at=NOW - 20 * MINUTE)
    report = await check(db_path)
    assert report.problems == (
        "outbox stuck: a message due for 20 min, nothing sent for 20 min (limit 15 min)",
    )


async def test_a_long_backlog_that_keeps_sending_is_healthy(db_path: Path) -> None:
    await prepare(db_path, beat_at=NOW - MINUTE, progress_at=NOW - MINUTE, due_at=NOW - 20 * MINUTE)
    report = await check(db_path)
    assert report.ok
    assert "outbox sending a backlog (oldest due message waiting 20 min)" in report.findings


async def test_messages_due_later_do_not_count(db_path: Path) -> None:
    await prepare(db_path, beat_at=NOW - MINUTE, progress_at=NOW - 60 * MINUTE, due_at=NOW + 60 * MINUTE)
    assert (await check(db_path)).findings[-1] == "nothing due in the outbox"


async def test_an_older_or_newer_schema_is_a_clear_reason(db_path: Path) -> None:
    old = await open_migrated(db_path, MIGRATIONS[:3], upgrade_hint="")
    await old.close()
    [older] = (await check(db_path)).problems
    assert f"has schema version 3, this code needs {len(MIGRATIONS)}; start the bot" in older
    await prepare(db_path, beat_at=NOW)
    with sqlite3.connect(db_path) as raw:
        raw.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    [newer] = (await check(db_path)).problems
    assert "newer than this code's" in newer
    assert "upgrade the bot" in newer


async def test_a_file_that_is_no_database_is_a_reason(db_path: Path) -> None:
    db_path.write_text("not SQLite at all, just text long enough to fill a page header", encoding="utf-8")
    [problem] = (await check(db_path)).problems
    assert problem.startswith(f"cannot read {db_path}: ")


def test_ages_are_counted_in_utc_across_the_repeated_autumn_hour() -> None:
    # 03:50 of the first pass of Kyiv's 03:00-04:00 on 2026-10-25, then 03:10 of the second: 20 minutes on,
    # though the wall clock went back 40.
    beat = datetime(2026, 10, 25, 3, 50, tzinfo=KYIV)
    now = datetime(2026, 10, 25, 3, 10, fold=1, tzinfo=KYIV)
    report = assess(Heartbeat(beat, beat), None, LIMITS, now=now)
    assert report.problems == ("last heartbeat 20 min ago (limit 5 min)",)


# --- the notifier's heartbeat ----------------------------------------------------------------------


class Delivered:
    async def send(self, recipient_id: str, payload: Mapping[str, Any], *, parts_sent: int) -> SendOutcome:
        return SendOutcome("sent")


def notifier_on(db: BotDB, tmp_path: Path, clock: list[datetime], **options: Any) -> Notifier:
    def now() -> datetime:
        return clock[0]

    # No shared schedule DB yet: the notifier has nothing to watch, and still beats.
    source = CachedSource(
        SharedDbLoader(tmp_path / "no-schedules.db", now=now), ttl_seconds=60, stale_after=MINUTE, now=now
    )
    return Notifier(
        db=db,
        source=source,
        sender=Delivered(),
        regions=["kem"],
        rate_per_second=100,
        watch_interval_seconds=60,
        now=now,
        **options,
    )


async def test_the_notifier_beats_and_notes_outbox_progress_only_after_a_send(
    db_path: Path, tmp_path: Path
) -> None:
    clock = [NOW]
    async with await BotDB.open(db_path, now=lambda: clock[0]) as db:
        notifier = notifier_on(db, tmp_path, clock)
        await notifier.beat()  # the first beat of a run: the worker has only just begun
        assert await db.heartbeat() == Heartbeat(NOW, NOW)

        clock[0] = NOW + MINUTE
        await notifier.beat()  # nothing sent since
        assert await db.heartbeat() == Heartbeat(NOW + MINUTE, NOW)

        await db.ensure_recipient("chat", "uk")
        await db.enqueue([OutboxItem("chat", "reminder:1", {"text": "Світло"}, NOW)])
        assert await notifier.worker.drain() == 1
        clock[0] = NOW + 2 * MINUTE
        await notifier.beat()
        assert await db.heartbeat() == Heartbeat(NOW + 2 * MINUTE, NOW + 2 * MINUTE)


async def test_the_running_notifier_writes_the_heartbeat_each_reminder_pass(
    db_path: Path, tmp_path: Path
) -> None:
    clock = [NOW]
    async with await BotDB.open(db_path, now=lambda: clock[0]) as db:
        notifier = notifier_on(db, tmp_path, clock, reminder_interval_seconds=0.05)
        notifier.start()
        try:

            async def beaten_at(moment: datetime) -> bool:
                return (await db.heartbeat()).beat_at == moment

            await wait_until(lambda: beaten_at(NOW), timeout=5, interval=0.02)
            clock[0] = NOW + MINUTE
            await wait_until(lambda: beaten_at(NOW + MINUTE), timeout=5, interval=0.02)
        finally:
            await notifier.stop()
        assert (await db.heartbeat()).outbox_progress_at == NOW  # nothing was sent after the first beat


# --- the command, as a process ---------------------------------------------------------------------


async def run_health(bot: str, env: Mapping[str, str], cwd: Path) -> Finished:
    return await run([sys.executable, "-m", bot, "health"], env, cwd=cwd)  # cwd: no .env there


@pytest.mark.e2e
@pytest.mark.parametrize("bot", sorted(TOKENS))
async def test_the_health_command_judges_the_bot_db(bot: str, db_path: Path, tmp_path: Path) -> None:
    token_variable, token = TOKENS[bot]
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(REPO_ROOT),
        token_variable: token,
        "DATABASE_URL": str(db_path),
    }
    outputs: list[str] = []

    async def health(run_env: Mapping[str, str]) -> tuple[int, str, str]:
        code, out, err = await run_health(bot, run_env, tmp_path)
        outputs.extend((out, err))
        return code, out, err

    code, out, err = await health(env)
    assert (code, out) == (1, "")
    assert err == f"unhealthy: no bot DB at {db_path} yet\n"

    now = real_kyiv_now()  # the process compares with the real clock
    await prepare(db_path, beat_at=now - MINUTE)
    code, out, err = await health(env)
    assert (code, err) == (0, "")
    assert out.startswith("healthy: last heartbeat ")
    assert out.endswith("; nothing due in the outbox\n")

    await prepare(db_path, beat_at=now - 10 * MINUTE)
    code, out, err = await health(env)
    assert (code, out) == (1, "")
    assert err.startswith("unhealthy: last heartbeat 10 min ago (limit 5 min)")

    code, _, err = await health(env | {token_variable: f"{token} with spaces"})
    assert code == 1  # Docker reserves a health check's exit code 2
    assert err.startswith(f"error: invalid settings: {token_variable}: ")
    assert not [text for text in outputs if "secret" in text]  # no run shows the token
