"""The persistent Watcher with a real database: reported once, across restarts, crashes and midnight."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, time
from pathlib import Path

import pytest

from common.botdb import BotDB
from common.changes import EventKind
from common.clock import KYIV
from common.notifications.watcher import Watcher
from tests.test_changes import AT, D1, D2, EVENING_OFF, OFF, ON, event, schedule


class Clock:
    """The watcher's clock: noon of a Kyiv date (``AT`` on D1); tests move it across midnight."""

    def __init__(self, today: date) -> None:
        self.today = today

    def __call__(self) -> datetime:
        return datetime.combine(self.today, time(12), KYIV)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "bot" / "bot.db"


def watcher(db: BotDB, today: date = D1) -> Watcher:
    return Watcher(db, now=Clock(today))


BEFORE = schedule({D1: {"GPV1.1": ON}})
AFTER = schedule({D1: {"GPV1.1": EVENING_OFF}})
CHANGE = event(EventKind.CHANGED, "GPV1.1", D1, ON, EVENING_OFF)


async def test_a_change_is_reported_once_and_logged(db_path: Path) -> None:
    async with await BotDB.open(db_path, now=lambda: AT) as db:
        watch = watcher(db)
        assert await watch.check(BEFORE) == []  # first run only records
        assert await watch.check(AFTER) == [CHANGE]
        assert await watch.check(AFTER) == []
        pending = await db.pending_events()
    assert [(p.event, p.detected_at) for p in pending] == [(CHANGE, AT.astimezone(KYIV))]


async def test_restart_does_not_repeat_an_event(db_path: Path) -> None:
    async with await BotDB.open(db_path, now=lambda: AT) as db:
        await watcher(db).check(BEFORE)
        assert await watcher(db).check(AFTER) == [CHANGE]
    async with await BotDB.open(db_path, now=lambda: AT) as db:
        assert await watcher(db).check(AFTER) == []
        assert len(await db.pending_events()) == 1


async def test_change_while_the_bot_was_down_is_reported(db_path: Path) -> None:
    async with await BotDB.open(db_path, now=lambda: AT) as db:
        await watcher(db).check(BEFORE)
    async with await BotDB.open(db_path, now=lambda: AT) as db:
        assert await watcher(db).check(AFTER) == [CHANGE]
        assert [p.event for p in await db.pending_events()] == [CHANGE]


async def test_crash_before_commit_loses_nothing(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with await BotDB.open(db_path, now=lambda: AT) as db:
        await watcher(db).check(BEFORE)

        async def die(*args: object) -> list[int]:
            raise RuntimeError("process killed")

        monkeypatch.setattr(db, "commit_watch", die)
        with pytest.raises(RuntimeError, match="process killed"):
            await watcher(db).check(AFTER)
    async with await BotDB.open(db_path, now=lambda: AT) as db:
        assert await watcher(db).check(AFTER) == [CHANGE]
        assert [p.event for p in await db.pending_events()] == [CHANGE]


async def test_nothing_published_then_a_schedule_is_reported(db_path: Path) -> None:
    # A region first seen with an empty page must not swallow its first real schedule as a "first run".
    async with await BotDB.open(db_path, now=lambda: AT) as db:
        watch = watcher(db)
        assert await watch.check(schedule({})) == []
        assert await watch.check(BEFORE) == [event(EventKind.PUBLISHED, "GPV1.1", D1, None, ON)]


async def test_watcher_across_midnight(db_path: Path) -> None:
    clock = Clock(D1)
    async with await BotDB.open(db_path, now=lambda: AT) as db:
        watch = Watcher(db, now=clock)
        await watch.check(schedule({D1: {"GPV1.1": OFF}, D2: {"GPV1.1": ON}}))
        clock.today = D2
        assert await watch.check(schedule({D1: {"GPV1.1": OFF}, D2: {"GPV1.1": ON}})) == []
        assert await watch.check(schedule({D2: {"GPV1.1": ON}})) == []
        assert await db.load_baseline("kem") == {("GPV1.1", D2): ON}


async def test_concurrent_checks_report_a_change_once(db_path: Path) -> None:
    async with await BotDB.open(db_path, now=lambda: AT) as db:
        watch = watcher(db)
        await watch.check(BEFORE)
        results = await asyncio.gather(*(watch.check(AFTER) for _ in range(5)))
        assert sorted(results, key=len) == [[], [], [], [], [CHANGE]]
        assert len(await db.pending_events()) == 1
