"""The shared schedule database: URLs, migrations, writer, read-only reader and concurrent access."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from common.clock import KYIV
from common.notices import PageNotices
from common.schedule import RegionSchedule
from common.sqlite_base import open_migrated
from common.store import (
    SCHEMA_VERSION,
    SaveResult,
    ScheduleReader,
    ScheduleWriter,
    SchemaVersionError,
    StoredSchedule,
    database_path,
)
from common.store.sqlite import MIGRATIONS
from tests.store_helpers.versions import schedule_for

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2025, 12, 18, 18, 0, tzinfo=UTC)
D1, D2, D3 = date(2025, 12, 18), date(2025, 12, 19), date(2025, 12, 20)
ON, OFF, MAYBE = "+" * 48, "-" * 48, "?" * 48
HALF = "+" * 24 + "-" * 24


def make_schedule(
    days: Mapping[date, Mapping[str, str]], *, region: str | None = "kem", week_slots: str = MAYBE
) -> RegionSchedule:
    return RegionSchedule(
        region=region,
        updated=datetime(2025, 12, 18, 20, 0, tzinfo=KYIV),
        groups={"GPV1.1": "Черга 1.1", "GPV1.2": "Черга 1.2"},
        days=days,
        week={1: {"GPV1.1": week_slots, "GPV1.2": ON}, 7: {"GPV1.1": ON, "GPV1.2": ON}},
    )


BASE = make_schedule({D1: {"GPV1.1": ON, "GPV1.2": OFF}, D2: {"GPV1.1": HALF}})


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "schedules.db"


@pytest.fixture
async def writer(db_path: Path) -> AsyncIterator[ScheduleWriter]:
    async with await ScheduleWriter.open(db_path) as writer:
        yield writer


async def save(
    writer: ScheduleWriter,
    schedule: RegionSchedule,
    at: datetime = T0,
    streets: Mapping[str, Sequence[str]] | None = None,
) -> SaveResult:
    return await writer.save(schedule, streets=streets, fetched_at=at, duration_seconds=2.5)


async def load(db_path: Path, region: str = "kem") -> StoredSchedule | None:
    async with await ScheduleReader.open(db_path) as reader:
        return await reader.load(region)


def raw_query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


# --- database_path ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///data/schedules.db", Path("data/schedules.db")),
        ("sqlite:////var/lib/dtek/schedules.db", Path("/var/lib/dtek/schedules.db")),
        ("sqlite+aiosqlite:///data/schedules.db", Path("data/schedules.db")),
        ("sqlite:schedules.db?mode=rwc", Path("schedules.db")),
        ("sqlite://data/schedules.db?mode=rwc", Path("data/schedules.db")),
        ("sqlite:///data/schedules.db?mode=ro", Path("data/schedules.db")),
        ("data/schedules.db", Path("data/schedules.db")),
        ("/srv/schedules.db", Path("/srv/schedules.db")),
        ("  sqlite:///padded.db  ", Path("padded.db")),
    ],
)
def test_database_path_accepts(url: str, expected: Path) -> None:
    assert database_path(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://host/schedules",
        "mysql://root@localhost/db",
        "file:schedules.db",
        "",
        "   ",
        "sqlite://",
        "sqlite:///",
        "sqlite:",
        ":memory:",
        "sqlite::memory:",
        "sqlite:///:memory:",
    ],
)
def test_database_path_rejects(url: str) -> None:
    with pytest.raises(ValueError, match=r"unsupported database URL.*accepted: sqlite:///relative"):
        database_path(url)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://bot:hunter2@db.example/schedules", "postgresql://db.example/schedules"),
        ("postgresql://bot:p@ss:hunter2@db.example/x", "postgresql://db.example/x"),
        ("mysql:bot:hunter2@db.example/x", "mysql:db.example/x"),
    ],
)
def test_database_path_error_hides_credentials(url: str, shown: str) -> None:
    with pytest.raises(ValueError, match="unsupported database URL") as error:
        database_path(url)
    assert "hunter2" not in str(error.value)
    assert "bot" not in str(error.value)
    assert repr(shown) in str(error.value)


# --- schema and migrations ------------------------------------------------------------------------


@pytest.fixture
def empty_file(db_path: Path) -> Path:
    db_path.parent.mkdir(parents=True)
    db_path.touch()
    return db_path


async def test_migrates_an_empty_file(empty_file: Path, db_path: Path) -> None:
    async with await ScheduleWriter.open(empty_file):
        pass
    assert raw_query(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert raw_query(db_path, "PRAGMA journal_mode") == [("wal",)]
    tables = {name for (name,) in raw_query(db_path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {
        "region_state",
        "day_slots",
        "week_slots",
        "group_names",
        "streets",
        "changes",
        "scrapes",
        "page_notices",
    } <= tables


async def test_creates_missing_directories_and_reopening_is_idempotent(db_path: Path) -> None:
    async with await ScheduleWriter.open(db_path) as writer:
        await save(writer, BASE)
    async with await ScheduleWriter.open(db_path) as writer:
        result = await save(writer, BASE, T0 + timedelta(minutes=30))
    assert (result.version, result.changed) == (1, False)
    assert raw_query(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


async def test_newer_schema_is_refused_by_writer_and_reader(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(SchemaVersionError, match="newer than this code"):
        await ScheduleWriter.open(db_path)
    with pytest.raises(SchemaVersionError, match="newer than this code"):
        await ScheduleReader.open(db_path)
    assert raw_query(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION + 1,)]


async def test_reader_refuses_an_unmigrated_file(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    with sqlite3.connect(db_path) as db:
        db.execute("CREATE TABLE something_else (x)")
    with pytest.raises(SchemaVersionError, match="start the schedule service"):
        await ScheduleReader.open(db_path)


# --- save and load ---------------------------------------------------------------------------------


async def test_round_trip(writer: ScheduleWriter, db_path: Path) -> None:
    result = await save(writer, BASE)
    stored = await load(db_path)
    assert (result.version, result.changed, result.changed_days) == (1, True, 3)
    assert stored is not None
    assert stored.schedule.to_canonical() == BASE.to_canonical()
    assert stored.content_hash == BASE.content_hash() == stored.schedule.content_hash()
    assert stored.version == 1
    assert stored.fetched_at == stored.changed_at == T0
    assert stored.fetched_at.tzinfo is KYIV
    assert await load(db_path, "oem") is None


async def test_same_content_only_moves_fetched_at(writer: ScheduleWriter, db_path: Path) -> None:
    await save(writer, BASE)
    later = T0 + timedelta(minutes=30)
    result = await save(writer, make_schedule(dict(BASE.days)), later)
    stored = await load(db_path)
    assert (result.version, result.changed, result.changed_days) == (1, False, 0)
    assert stored is not None
    assert (stored.version, stored.fetched_at, stored.changed_at) == (1, later, T0)
    assert raw_query(db_path, "SELECT count(*) FROM changes") == [(3,)]


async def test_change_bumps_version_and_records_exact_history(writer: ScheduleWriter, db_path: Path) -> None:
    await save(writer, BASE)
    changed = make_schedule({D1: {"GPV1.1": ON, "GPV1.2": HALF}, D3: {"GPV1.1": OFF}})
    later = T0 + timedelta(hours=1)
    result = await save(writer, changed, later)
    async with await ScheduleReader.open(db_path) as reader:
        stored = await reader.load("kem")
        history = await reader.changes("kem", after_version=1)
        everything = await reader.changes("kem")
    assert (result.version, result.changed, result.changed_days) == (2, True, 3)
    assert stored is not None
    assert (stored.version, stored.changed_at) == (2, later)
    assert stored.schedule.to_canonical() == changed.to_canonical()
    assert {(c.version, c.day, c.group, c.old, c.new) for c in history} == {
        (2, D1, "GPV1.2", OFF, HALF),
        (2, D2, "GPV1.1", HALF, None),
        (2, D3, "GPV1.1", None, OFF),
    }
    assert all(c.detected_at == later and c.region == "kem" for c in history)
    assert [c.version for c in everything] == [1, 1, 1, 2, 2, 2]


async def test_week_only_change_is_a_new_version_without_day_history(writer: ScheduleWriter) -> None:
    await save(writer, BASE)
    result = await save(writer, make_schedule(dict(BASE.days), week_slots=OFF))
    assert (result.version, result.changed, result.changed_days) == (2, True, 0)


async def test_nothing_published_is_saved_as_empty_days(writer: ScheduleWriter, db_path: Path) -> None:
    await save(writer, BASE)
    empty = make_schedule({})
    result = await save(writer, empty, T0 + timedelta(hours=1))
    stored = await load(db_path)
    assert (result.version, result.changed, result.changed_days) == (2, True, 3)
    assert stored is not None
    assert stored.schedule.days == {}
    assert stored.schedule.week == empty.week
    assert stored.schedule.to_canonical() == empty.to_canonical()


async def test_streets_rewritten_only_when_changed(writer: ScheduleWriter, db_path: Path) -> None:
    first = {"м. Київ": ["вул. Хрещатик", "вул. Велика Васильківська"], "с. Гора": [""]}

    def saved_at() -> list[tuple[Any, ...]]:
        return raw_query(db_path, "SELECT saved_at FROM streets")

    await save(writer, BASE, T0, streets=first)
    stamp = saved_at()
    await save(writer, BASE, T0 + timedelta(minutes=30), streets={k: tuple(v) for k, v in first.items()})
    assert saved_at() == stamp
    await save(writer, BASE, T0 + timedelta(minutes=60), streets=None)
    async with await ScheduleReader.open(db_path) as reader:
        assert await reader.streets("kem") == first
        assert await reader.streets("oem") is None
    second = {"м. Київ": ["вул. Хрещатик"]}
    await save(writer, BASE, T0 + timedelta(minutes=90), streets=second)
    async with await ScheduleReader.open(db_path) as reader:
        assert await reader.streets("kem") == second
    assert saved_at() != stamp


async def test_failed_save_rolls_back_everything(writer: ScheduleWriter, db_path: Path) -> None:
    await save(writer, BASE)
    broken = make_schedule({D1: {"GPV1.1": "+" * 47}})
    with pytest.raises(sqlite3.IntegrityError):
        await save(writer, broken, T0 + timedelta(hours=1))
    stored = await load(db_path)
    assert stored is not None
    assert (stored.version, stored.fetched_at) == (1, T0)
    assert stored.schedule.to_canonical() == BASE.to_canonical()
    assert (await save(writer, BASE, T0 + timedelta(hours=2))).changed is False  # no transaction left open


async def test_save_rejects_bad_input(writer: ScheduleWriter) -> None:
    with pytest.raises(ValueError, match="without a region"):
        await save(writer, make_schedule({}, region=None))
    with pytest.raises(ValueError, match="timezone-aware"):
        await save(writer, BASE, datetime(2025, 12, 18, 18, 0))


# --- failures and the scrape log ------------------------------------------------------------------


async def test_failure_keeps_data_and_is_logged(writer: ScheduleWriter, db_path: Path) -> None:
    await save(writer, BASE)
    failed_at = T0 + timedelta(minutes=30)
    await writer.record_failure(
        "kem", started_at=failed_at, duration_seconds=1.25, kind="blocked", error="Incapsula incident"
    )
    await writer.record_failure(
        "dem", started_at=failed_at, duration_seconds=15, kind="fetch-failed", error="timeout"
    )
    async with await ScheduleReader.open(db_path) as reader:
        stored = await reader.load("kem")
        scrapes = await reader.recent_scrapes("kem")
        everything = await reader.recent_scrapes()
        assert await reader.last_success("kem") == T0
        assert await reader.last_success("dem") is None
        assert await reader.load("dem") is None
        assert await reader.regions() == ["kem"]
    assert stored is not None
    assert (stored.version, stored.fetched_at) == (1, T0)
    assert stored.schedule.to_canonical() == BASE.to_canonical()
    assert [(s.outcome, s.error, s.version) for s in scrapes] == [
        ("blocked", "Incapsula incident", 1),
        ("ok", None, 1),
    ]
    assert scrapes[0].started_at == failed_at
    assert scrapes[1].started_at == T0 - timedelta(seconds=2.5)  # started = fetched - duration
    assert {(s.region, s.outcome) for s in everything} == {
        ("kem", "ok"),
        ("kem", "blocked"),
        ("dem", "fetch-failed"),
    }


async def test_failure_needs_an_error_kind(writer: ScheduleWriter) -> None:
    with pytest.raises(ValueError, match="error kind"):
        await writer.record_failure("kem", started_at=T0, duration_seconds=1, kind="ok", error="x")


async def test_data_from_a_probe_is_logged_under_its_own_outcome(
    writer: ScheduleWriter, db_path: Path
) -> None:
    await save(writer, BASE)
    result = await writer.save(
        make_schedule({D1: {"GPV1.1": OFF}}),
        streets=None,
        fetched_at=T0 + timedelta(minutes=5),
        duration_seconds=0.1,
        outcome="probe-changed",
        note="DTEK's update 18.12.2025 20:00 -> 18.12.2025 20:05",
    )
    assert (result.version, result.changed) == (2, True)
    with pytest.raises(ValueError, match="note"):
        await writer.save(BASE, streets=None, fetched_at=T0, duration_seconds=1, outcome="probe-changed")
    with pytest.raises(ValueError, match="note"):
        await writer.save(BASE, streets=None, fetched_at=T0, duration_seconds=1, note="x")
    async with await ScheduleReader.open(db_path) as reader:
        newest = (await reader.recent_scrapes("kem", limit=1))[0]
    assert (newest.outcome, newest.version) == ("probe-changed", 2)
    assert "20:05" in (newest.error or "")


async def test_recent_scrapes_newest_first_with_limit(writer: ScheduleWriter, db_path: Path) -> None:
    for minutes in (0, 30, 60):
        await save(writer, BASE, T0 + timedelta(minutes=minutes))
    async with await ScheduleReader.open(db_path) as reader:
        scrapes = await reader.recent_scrapes("kem", limit=2)
    assert [s.started_at for s in scrapes] == [T0 + timedelta(minutes=m, seconds=-2.5) for m in (60, 30)]


async def test_versions_and_regions(writer: ScheduleWriter, db_path: Path) -> None:
    await save(writer, BASE)
    await save(writer, make_schedule({}))
    await save(writer, make_schedule({}, region="oem"))
    async with await ScheduleReader.open(db_path) as reader:
        assert await reader.versions() == {"kem": 2, "oem": 1}
        assert await reader.regions() == ["kem", "oem"]


# --- the reader is read-only ----------------------------------------------------------------------


async def test_reader_cannot_write(writer: ScheduleWriter, db_path: Path) -> None:
    await save(writer, BASE)
    async with await ScheduleReader.open(db_path) as reader:
        connection = reader._db
        assert [tuple(row) for row in await connection.execute_fetchall("PRAGMA query_only")] == [(1,)]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await connection.execute("DELETE FROM day_slots")
    stored = await load(db_path)
    assert stored is not None
    assert stored.schedule.days == BASE.days


async def test_reader_on_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "schedules.db"
    with pytest.raises(FileNotFoundError, match="schedule service creates it"):
        await ScheduleReader.open(missing)
    assert not missing.parent.exists()


# --- concurrency: readers in other processes never see half a write -------------------------------

FINAL_VERSION = 50
READERS = 3


@pytest.mark.e2e  # reader processes
async def test_readers_in_other_processes_never_see_a_torn_write(db_path: Path) -> None:
    async with await ScheduleWriter.open(db_path) as writer:
        assert (await save(writer, schedule_for(1))).version == 1
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.store_helpers.reader_loop",
                str(db_path),
                str(FINAL_VERSION),
                "10",
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(READERS)
        ]
        try:
            for proc in procs:
                assert proc.stdout is not None
                ready = await asyncio.wait_for(proc.stdout.readline(), timeout=10)
                assert ready == b"ready\n", (await proc.communicate())[1].decode()
            for version in range(2, FINAL_VERSION + 1):
                result = await save(writer, schedule_for(version), T0 + timedelta(minutes=version))
                assert (result.version, result.changed) == (version, True)
                await asyncio.sleep(0.04)
            outputs = [await asyncio.wait_for(proc.communicate(), timeout=15) for proc in procs]
        finally:
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
    for proc, (stdout, stderr) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, stderr.decode()
        report = json.loads(stdout)
        assert report["torn"] == 0, report
        assert report["error_count"] == 0, report
        assert report["loads"] >= 20, report
        assert report["versions"] >= 5, report


async def test_prune_history_keeps_current_data(writer: ScheduleWriter, db_path: Path) -> None:
    await save(writer, BASE, T0)
    await save(writer, make_schedule({D1: {"GPV1.1": OFF}}), T0 + timedelta(days=100))
    await writer.record_failure("kem", started_at=T0, duration_seconds=1, kind="blocked", error="blocked")
    deleted = await writer.prune_history(T0 + timedelta(days=10))
    assert deleted == 2 + 3  # two old scrape rows, three history rows of version 1
    async with await ScheduleReader.open(db_path) as reader:
        assert [c.version for c in await reader.changes("kem")] == [2, 2, 2]
        assert len(await reader.recent_scrapes("kem")) == 1
        stored = await reader.load("kem")
    assert stored is not None
    assert stored.version == 2


# --- what DTEK announces ---------------------------------------------------------------------------

NOTICE = "За наказом НЕК Укренерго 18 грудня діятимуть\nстабілізаційні відключення."
PLAN_OFF = {"showTablePlan": False, "showTableFact": True}


async def save_notices(writer: ScheduleWriter, notices: PageNotices | None, at: datetime) -> None:
    await writer.save(BASE, streets=None, fetched_at=at, duration_seconds=1.0, notices=notices)


async def test_notices_are_stored_with_the_announcements_first_sighting(
    writer: ScheduleWriter, db_path: Path
) -> None:
    await save_notices(writer, PageNotices(NOTICE, PLAN_OFF), T0)
    stored = await load(db_path)
    assert stored is not None
    assert stored.notices is not None
    assert stored.notices.notices == PageNotices(NOTICE, PLAN_OFF)
    assert stored.notices.announced_at == T0
    assert not stored.notices.plan_in_force

    # Other spacing and line breaks: the same words, the first sighting (text and time) stays; the new
    # flags are kept.
    respaced = " За  наказом НЕК Укренерго 18 грудня\nдіятимуть стабілізаційні відключення. "
    await save_notices(writer, PageNotices(respaced, {"showTablePlan": True}), T0 + timedelta(hours=1))
    stored = await load(db_path)
    assert stored is not None
    assert stored.notices is not None
    assert stored.notices.announced_at == T0
    assert stored.notices.announcement == NOTICE
    assert stored.notices.plan_in_force

    # New words: a new first sighting.
    await save_notices(writer, PageNotices("Відключень не буде.", {}), T0 + timedelta(hours=2))
    stored = await load(db_path)
    assert stored is not None
    assert stored.notices is not None
    assert stored.notices.announced_at == T0 + timedelta(hours=2)


async def test_notices_none_keeps_them_and_no_announcement_clears_its_time(
    writer: ScheduleWriter, db_path: Path
) -> None:
    await save(writer, BASE)
    stored = await load(db_path)
    assert stored is not None
    assert stored.notices is None
    await save_notices(writer, PageNotices(NOTICE, {}), T0)
    await save_notices(writer, None, T0 + timedelta(hours=1))
    stored = await load(db_path)
    assert stored is not None
    assert stored.notices is not None
    assert stored.notices.announced_at == T0
    await save_notices(writer, PageNotices(None, {}), T0 + timedelta(hours=2))
    stored = await load(db_path)
    assert stored is not None
    assert stored.notices is not None
    assert (stored.notices.announcement, stored.notices.announced_at) == (None, None)
    # The same text again after a gap is a new announcement.
    await save_notices(writer, PageNotices(NOTICE, {}), T0 + timedelta(hours=3))
    stored = await load(db_path)
    assert stored is not None
    assert stored.notices is not None
    assert stored.notices.announced_at == T0 + timedelta(hours=3)


async def test_schema_1_file_gains_the_notices_table_and_keeps_its_data(db_path: Path) -> None:
    db = await open_migrated(db_path, MIGRATIONS[:1], upgrade_hint="")
    await ScheduleWriter(db).save(BASE, streets=None, fetched_at=T0, duration_seconds=1.0)
    await db.close()
    async with await ScheduleWriter.open(db_path) as writer:
        await save_notices(writer, PageNotices(NOTICE, PLAN_OFF), T0 + timedelta(hours=1))
    assert raw_query(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    stored = await load(db_path)
    assert stored is not None
    assert stored.version == 1
    assert stored.notices is not None
    assert stored.notices.announcement == NOTICE
