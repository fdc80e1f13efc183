"""Storage failing under the programs, in process: the shared DB deleted or replaced under a running bot, locked
or full under the service's writer, the bot's own DB read-only at its start. Each says what is wrong in one
line, keeps going (or exits once, cleanly) and recovers when the condition ends. Fixed clocks throughout."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

import common.sqlite_base
from common.botdb import BotDB
from common.dtek.fake_site import FakeDtekSite, sample_schedule
from common.dtek.fetch import DtekFetcher
from common.settings import DtekSettings
from common.source import SharedDbLoader
from common.store import ScheduleReader, ScheduleWriter
from schedule_service.scrape import DB_ERROR, scrape_cycle
from tests.discord_harness import TOKEN as DISCORD_TOKEN
from tests.fakes.telegram import FakeTelegram
from tests.telegram_harness import NOW as TELEGRAM_NOW
from tests.telegram_harness import TODAY as TELEGRAM_TODAY
from tests.telegram_harness import Clock, SharedDb, make_settings, publish, start_bot, subscribe, with_day
from tests.test_source import NOW, TODAY, FakeClock, cached, loaded, save
from tests.waiting import wait_until

FIRST = sample_schedule("kem", TODAY, groups=2)
SECOND = sample_schedule("kem", TODAY)  # more groups: a write that needs more pages
TTL = 1800  # test_source's cached(): the cache's TTL in seconds


# --- the shared DB under a running bot ---------------------------------------------------------------


async def test_a_shared_db_deleted_under_the_bot_serves_stale_data_until_a_new_one_comes(
    tmp_path: Path,
) -> None:
    db = tmp_path / "shared" / "schedules.db"
    await save(db, FIRST)
    clock = FakeClock()
    source = cached(SharedDbLoader(db, now=lambda: NOW), clock, failure_cooldown_seconds=60)
    try:
        assert not (await loaded(source.get("kem"))).stale
        for file in db.parent.iterdir():  # the file with its -wal and -shm
            file.unlink()
        clock.seconds += TTL
        gone = await loaded(source.get("kem"))
        assert gone.stale  # the last good data, said to be stale: not "no data yet"
        assert gone.schedule == FIRST
        assert gone.error is not None
        assert f"database {db} does not exist" in gone.error

        await save(db, SECOND)  # the service starts again on an empty volume
        clock.seconds += 60
        back = await loaded(source.get("kem"))
        assert not back.stale
        assert back.schedule.to_canonical() == SECOND.to_canonical()
    finally:
        await source.aclose()


async def test_a_shared_db_replaced_under_the_bot_is_read_anew(tmp_path: Path) -> None:
    db = tmp_path / "shared" / "schedules.db"
    restored = tmp_path / "restored" / "schedules.db"
    await save(db, FIRST)
    await save(restored, SECOND)
    clock = FakeClock()
    source = cached(SharedDbLoader(db, now=lambda: NOW), clock)
    try:
        assert (await loaded(source.get("kem"))).schedule == FIRST
        db.parent.rename(tmp_path / "old")  # a restore: another volume where the file was
        restored.parent.rename(db.parent)
        clock.seconds += TTL
        now_served = await loaded(source.get("kem"))
        assert not now_served.stale
        assert now_served.schedule.to_canonical() == SECOND.to_canonical()  # not the deleted file's data
    finally:
        await source.aclose()


# --- the shared DB under the service's writer --------------------------------------------------------


@asynccontextmanager
async def _locked_by_another_writer(path: Path, _writer: ScheduleWriter) -> AsyncIterator[None]:
    """A second program holds the write lock (an admin's sqlite3 shell in a transaction, a backup tool)."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


@asynccontextmanager
async def _disk_full(path: Path, writer: ScheduleWriter) -> AsyncIterator[None]:
    """The file cannot grow: SQLite answers SQLITE_FULL ("database or disk is full"), as on a full disk."""
    connection = writer._db  # the writer's own connection: the limit is per connection
    async with connection.execute("PRAGMA page_count") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    await connection.execute(f"PRAGMA max_page_count = {row[0]}")
    try:
        yield
    finally:
        await connection.execute("PRAGMA max_page_count = 1073741823")  # room again


StorageFault = Callable[[Path, ScheduleWriter], AbstractAsyncContextManager[None]]
WRITE_FAULTS: dict[str, tuple[StorageFault, str]] = {
    "locked by another writer": (_locked_by_another_writer, "database is locked"),
    "disk full": (_disk_full, "database or disk is full"),
}


@pytest.mark.parametrize("fault", list(WRITE_FAULTS))
async def test_a_write_the_shared_db_refuses_is_one_line_and_the_next_scrape_stores(
    fault: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(common.sqlite_base, "BUSY_TIMEOUT_MS", 100)  # a lock is given up in 0.1 s, not 5
    apply, message = WRITE_FAULTS[fault]
    path = tmp_path / "schedules.db"
    async with FakeDtekSite() as site:
        site.publish(FIRST)
        settings = DtekSettings(dtek_url_template=site.url_template, dtek_retry_attempts=1, _env_file=None)
        async with DtekFetcher(settings) as fetcher, await ScheduleWriter.open(path) as writer:

            async def scrape() -> tuple[str, str]:
                [outcome] = await scrape_cycle(
                    ["kem"], fetcher=fetcher, writer=writer, spacing_seconds=0, now=lambda: NOW
                )
                return outcome.outcome, outcome.detail

            assert (await scrape())[0] == "ok"
            site.publish(SECOND)
            caplog.clear()
            async with apply(path, writer):
                assert await scrape() == (DB_ERROR, message)
                async with await ScheduleReader.open(path) as reader:
                    kept = await reader.load("kem")
                assert kept is not None
                assert (kept.version, kept.schedule) == (1, FIRST)  # the failed write left nothing behind
            assert await scrape() == ("ok", "days=2 groups=12 version=2")
    [line] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.getMessage() == f"scrape region=kem outcome={DB_ERROR} error={message}"
    assert line.exc_info is None  # a clear line, no traceback


async def test_a_long_reader_does_not_hold_up_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "schedules.db"
    await save(path, FIRST)
    with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None) as reader:
        reader.execute("BEGIN")
        assert reader.execute("SELECT version FROM region_state").fetchall() == [(1,)]
        await save(path, SECOND)  # WAL: the write goes through while the reader's snapshot stays
        assert reader.execute("SELECT version FROM region_state").fetchall() == [(1,)]
        reader.execute("COMMIT")
        assert reader.execute("SELECT version FROM region_state").fetchall() == [(2,)]


# --- the bot's own DB --------------------------------------------------------------------------------


@contextmanager
def read_only(path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``path`` cannot be written while inside: chmod 0444, or for root (who ignores file modes) every
    connection to it opened read-only, as SQLite opens a file it may not write."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)
        return
    print(
        "running as root, which ignores file modes: connections to the bot's DB are opened read-only instead"
    )
    connect = aiosqlite.connect

    def read_only_connect(database: Any, **kwargs: Any) -> aiosqlite.Connection:
        if Path(database) == path:
            return connect(f"{path.resolve().as_uri()}?mode=ro", **{**kwargs, "uri": True})
        return connect(database, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(aiosqlite, "connect", read_only_connect)
        yield


def _telegram_main() -> str:
    from telegram_bot.app import main

    with pytest.raises(SystemExit) as stopped:
        main()
    assert isinstance(stopped.value.code, str)
    return stopped.value.code


def _discord_main(capsys: pytest.CaptureFixture[str]) -> str:
    from discord_bot.app import main

    capsys.readouterr()  # what the test printed itself
    assert main() == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    return err.rstrip("\n")


async def _a_recipient_written(path: Path) -> str | None:
    """Opens the bot's DB as the bot does, writes to it, and returns the language it stored."""
    async with await BotDB.open(path, now=lambda: NOW) as db:
        await db.ensure_recipient("42", "en")
        recipient = await db.get_recipient("42")
    return recipient.lang if recipient else None


@pytest.mark.parametrize("bot", ["telegram", "discord"])
def test_a_read_only_bot_db_stops_the_start_with_one_line_and_a_writable_one_starts_again(
    bot: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bot.db"
    assert asyncio.run(_a_recipient_written(path)) == "en"
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("DATABASE_URL", str(path))
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:TEST-TOKEN")
    monkeypatch.setenv("DISCORD_TOKEN", DISCORD_TOKEN)
    for api in ("TELEGRAM_API_BASE", "DISCORD_API_BASE"):  # should the bot start after all: nothing answers
        monkeypatch.setenv(api, "http://127.0.0.1:9")
    with read_only(path, monkeypatch):
        said = _telegram_main() if bot == "telegram" else _discord_main(capsys)
    assert said == f"error: cannot open {path} for writing: attempt to write a readonly database"
    assert asyncio.run(_a_recipient_written(path)) == "en"  # writable again: it opens, its data intact


async def _writes_refused(db: BotDB, refused: bool) -> None:
    """The bot's own connection refuses writes from now on (SQLite's "attempt to write a readonly
    database", as for a file turned read-only or a disk full under a running bot), or takes them again."""
    await db._db.execute(f"PRAGMA query_only = {'ON' if refused else 'OFF'}")  # the one connection it has


async def test_a_bot_db_refusing_writes_while_running_pauses_sending_and_no_chat_gets_a_notice_twice(
    telegram: FakeTelegram,
    dtek: FakeDtekSite,
    shared: SharedDb,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer, path = shared
    settings = make_settings(
        telegram,
        dtek,
        tmp_path,
        schedule_db_url=str(path),
        telegram_rate_limit=50,
        watch_interval_seconds=0.2,
    )
    chats = [telegram.user(40_000 + n) for n in range(200)]
    bot = await start_bot(settings, Clock(TELEGRAM_NOW))
    for chat in chats:
        await subscribe(bot, chat.id)
    await publish(
        writer, with_day(sample_schedule("kem", TELEGRAM_TODAY), TELEGRAM_TODAY, "GPV3.2", "-" * 48)
    )
    await wait_until(lambda: telegram.sent_count >= 20, timeout=20, what="the broadcast under way")

    await _writes_refused(bot.db, True)
    await asyncio.sleep(1.5)  # at 50/s, 75 more sends if the worker went on
    sent_while_refused = telegram.sent_count
    await asyncio.sleep(1.5)
    assert telegram.sent_count == sent_while_refused < len(chats)  # it stopped sending
    assert (await bot.db.outbox_counts())["pending"] > 0

    await _writes_refused(bot.db, False)
    await wait_until(bot.outbox_empty, timeout=30, what="the rest of the broadcast")
    await bot.stop()
    counts = [sum("змінився" in (message.text or "") for message in chat.messages) for chat in chats]
    assert counts == [1] * len(chats)  # every chat told, none twice: a sent row the DB refused is not resent
    refusals = [r for r in caplog.records if "readonly" in r.getMessage()]
    assert refusals
    assert all(r.exc_info is None for r in refusals)  # one line each, no traceback
