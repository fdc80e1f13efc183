"""The platform-neutral views: schedule answers (text, picture, staleness, actions), group lookups and their
notices, settings in words, and user text made safe to echo. Schedules come from a real shared DB read
through the bots' real cached source, each with an injected clock."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from PIL import Image

from common.botdb import Recipient
from common.clock import KYIV
from common.dtek.fake_site import SAMPLE_STREETS, FakeDtekSite, sample_schedule
from common.dtek.page_builder import paragraphs
from common.i18n import catalog
from common.notices import PageNotices
from common.render.picture import PictureCache
from common.render.text import ANNOUNCEMENT_BRIEF_LIMIT, announcement_notes
from common.schedule import RegionSchedule
from common.settings import SourceSettings
from common.source import CachedSource, SharedDbLoader, Snapshot, create_source
from common.store import ScheduleWriter
from common.views import (
    ActionKind,
    GroupChoice,
    Notice,
    Problem,
    ScheduleView,
    ViewKind,
    echo,
    find_group,
    lead_text,
    load_schedule_view,
    matching_groups,
    parse_span,
    preferred_regions,
    quiet_text,
    read_quiet,
    schedule_view,
    settings_line,
    status_lines,
)
from tests.known import known

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=KYIV)  # GPV3.2 of the sample: no power 08:00–11:30 today
TODAY = NOW.date()
TOMORROW = TODAY + timedelta(days=1)
EN = catalog("en")


class Clock:
    """The program's clock as the views get it: set by the test, never the real date."""

    def __init__(self, value: datetime) -> None:
        self.value = value

    def __call__(self) -> datetime:
        return self.value


def snapshot(schedule: RegionSchedule, *, stale: bool = False) -> Snapshot:
    return Snapshot(schedule, version="7", fetched_at=NOW - timedelta(minutes=5), stale=stale)


def view(
    kind: ViewKind,
    schedule: RegionSchedule | None = None,
    *,
    now: datetime = NOW,
    lang: str = "en",
    picture: bool = True,
) -> ScheduleView:
    return schedule_view(
        snapshot(schedule or sample_schedule("kem", TODAY)),
        "kem",
        "GPV3.2",
        kind,
        now=now,
        lang=lang,
        pictures=PictureCache() if picture else None,
    )


def section_titles(answer: ScheduleView) -> list[str]:
    return [section.title for section in answer.rendered.sections]


def picture_height(answer: ScheduleView) -> int:
    assert answer.picture is not None
    with Image.open(io.BytesIO(answer.picture.png)) as image:
        return image.height


# --- schedule views ----------------------------------------------------------------------------------


def test_the_main_view_has_today_and_tomorrow_a_picture_and_every_action() -> None:
    answer = view(ViewKind.DAYS)
    assert answer.title == "Kyiv · Черга 3.2"
    assert answer.rendered.lead == "Power is on now. Next outage at 08:00, in 2 hours."
    assert section_titles(answer) == ["Today, Mon 23.11", "Tomorrow, Tue 24.11"]
    assert "🔴 08:00–11:30 no power (3 h 30 min)" in answer.rendered.sections[0].lines
    assert answer.picture is not None
    assert answer.picture.png.startswith(b"\x89PNG")
    assert answer.picture.key == "days|kem|GPV3.2|7|2026-11-23|12"
    assert (answer.stale, answer.fetched_at) == (False, NOW - timedelta(minutes=5))
    assert [(a.kind, a.label, a.view) for a in answer.actions] == [
        (ActionKind.REFRESH, "🔄 Refresh", ViewKind.DAYS),
        (ActionKind.WEEK, "📅 Week", ViewKind.WEEK),
        (ActionKind.TODAY, "Today", ViewKind.TODAY),
        (ActionKind.TOMORROW, "Tomorrow", ViewKind.TOMORROW),
    ]


def test_day_views_show_one_day_in_text_and_picture() -> None:
    both, today, tomorrow = view(ViewKind.DAYS), view(ViewKind.TODAY), view(ViewKind.TOMORROW)
    assert section_titles(today) == ["Today, Mon 23.11"]
    assert section_titles(tomorrow) == ["Tomorrow, Tue 24.11"]
    assert picture_height(today) == picture_height(tomorrow) < picture_height(both)
    today_picture, tomorrow_picture = known(today.picture), known(tomorrow.picture)
    assert today_picture.png != tomorrow_picture.png
    assert today_picture.key == "today|kem|GPV3.2|7|2026-11-23|12"
    assert tomorrow_picture.key == "tomorrow|kem|GPV3.2|7|2026-11-23"  # no time marker on tomorrow's row


def test_picture_keys_follow_what_is_drawn() -> None:
    later = NOW + timedelta(minutes=30)
    assert known(view(ViewKind.DAYS, now=later).picture).key.endswith("|13")  # the time marker moved
    assert known(view(ViewKind.TOMORROW, now=later).picture).key == known(view(ViewKind.TOMORROW).picture).key
    assert known(view(ViewKind.WEEK, now=later).picture).key == "week|kem|GPV3.2|7"
    next_day = view(ViewKind.TOMORROW, now=NOW + timedelta(days=1))
    assert next_day.picture is None  # the day after tomorrow is not published: nothing to draw


def test_tomorrow_is_offered_only_once_published() -> None:
    only_today = sample_schedule("kem", TODAY)
    only_today = replace(only_today, days={TODAY: only_today.days[TODAY]})
    answer = view(ViewKind.DAYS, only_today)
    assert [action.kind for action in answer.actions] == [
        ActionKind.REFRESH,
        ActionKind.WEEK,
        ActionKind.TODAY,
    ]
    assert section_titles(answer) == ["Today, Mon 23.11"]


def test_week_view_and_a_region_without_a_weekly_plan() -> None:
    week = view(ViewKind.WEEK)
    assert week.rendered.lead == "Weekly plan of possible outages"
    assert section_titles(week)[0] == "Monday"
    assert week.picture is not None
    no_plan = view(ViewKind.WEEK, replace(sample_schedule("kem", TODAY), week={}))
    assert no_plan.picture is None
    assert no_plan.rendered.sections == ()


def test_text_only_views_have_no_picture() -> None:
    answer = view(ViewKind.DAYS, picture=False)
    assert answer.picture is None
    assert section_titles(answer) == ["Today, Mon 23.11", "Tomorrow, Tue 24.11"]


def test_views_speak_the_catalogs_language() -> None:
    answer = view(ViewKind.DAYS, lang="uk")
    assert answer.title == "Київ · Черга 3.2"
    assert [action.label for action in answer.actions] == ["🔄 Оновити", "📅 Тиждень", "Сьогодні", "Завтра"]


# --- loading through the cached source ---------------------------------------------------------------


@pytest.fixture
async def shared_db(tmp_path: Path) -> Path:
    path = tmp_path / "schedules.db"
    async with await ScheduleWriter.open(path) as writer:
        for region in ("kem", "dnem"):
            schedule = sample_schedule(region, TODAY, groups=3 if region == "dnem" else 6)
            await writer.save(schedule, streets=SAMPLE_STREETS, fetched_at=NOW, duration_seconds=1.0)
    return path


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
async def source(shared_db: Path, clock: Clock) -> AsyncIterator[CachedSource]:
    cached = CachedSource(
        SharedDbLoader(shared_db, now=clock), ttl_seconds=60, stale_after=timedelta(hours=2), now=clock
    )
    yield cached
    await cached.aclose()


async def test_a_view_from_the_source_knows_when_its_data_is_old(source: CachedSource, clock: Clock) -> None:
    fresh = await load_schedule_view(source, "kem", "GPV3.2", ViewKind.DAYS, now=NOW, t=EN, pictures=None)
    assert isinstance(fresh, ScheduleView)
    assert not fresh.stale
    later = NOW + timedelta(hours=3)
    clock.value = later
    old = await load_schedule_view(source, "kem", "GPV3.2", ViewKind.DAYS, now=later, t=EN, pictures=None)
    assert isinstance(old, ScheduleView)
    assert old.stale
    assert old.fetched_at == NOW
    assert "⚠️ Data may be out of date: last fetched 3 hours ago." in old.rendered.notes


async def test_an_unknown_group_is_a_notice_listing_the_valid_ones(source: CachedSource) -> None:
    answer = await load_schedule_view(source, "dnem", "GPV9.9", ViewKind.DAYS, now=NOW, t=EN, pictures=None)
    assert answer == Notice(
        Problem.UNKNOWN_GROUP, "Unknown group “GPV9.9”. Valid groups: 1.1, 1.2, 2.1, 2.2, 3.1, 3.2."
    )


async def test_no_data_and_an_unavailable_source_are_notices(tmp_path: Path) -> None:
    clock = Clock(NOW)
    empty = CachedSource(
        SharedDbLoader(tmp_path / "missing.db", now=clock),
        ttl_seconds=60,
        stale_after=timedelta(hours=2),
        now=clock,
    )
    answer = await load_schedule_view(empty, "kem", "GPV3.2", ViewKind.DAYS, now=NOW, t=EN, pictures=None)
    assert answer == Notice(Problem.NO_DATA, EN("bot.no_data_yet"))
    await empty.aclose()
    async with FakeDtekSite() as site:
        site.blocked.add("kem")
        settings = SourceSettings(dtek_url_template=site.url_template, dtek_retry_attempts=1, _env_file=None)
        down = create_source(settings, now=clock)
        answer = await load_schedule_view(down, "kem", "GPV3.2", ViewKind.DAYS, now=NOW, t=EN, pictures=None)
        assert answer == Notice(Problem.UNAVAILABLE, EN("bot.unavailable"))
        await down.aclose()


# --- finding a typed group ---------------------------------------------------------------------------


def test_the_chats_own_regions_come_first() -> None:
    assert preferred_regions(["dnem", "dnem"], ["kem", "dnem", "oem"]) == ["dnem", "kem", "oem"]
    assert preferred_regions(["krem"], ["kem", "dnem"]) == ["kem", "dnem"]  # no longer configured
    assert preferred_regions([], ["kem", "dnem"]) == ["kem", "dnem"]


async def test_a_typed_group_is_found_in_the_first_region_that_has_it(source: CachedSource) -> None:
    assert await find_group(source, "3.2", ["dnem", "kem"], EN) == GroupChoice("dnem", "GPV3.2")
    assert await find_group(source, "Черга 3.2", ["kem", "dnem"], EN) == GroupChoice("kem", "GPV3.2")
    assert await find_group(source, "GPV6.1", ["dnem", "kem"], EN) == GroupChoice(
        "kem", "GPV6.1"
    )  # dnem has 3


async def test_regions_without_data_are_passed_over(source: CachedSource) -> None:
    assert await find_group(source, "3.2", ["oem", "kem"], EN) == GroupChoice("kem", "GPV3.2")
    assert await find_group(source, "3.2", ["oem"], EN) == Notice(Problem.NO_DATA, EN("bot.no_data_yet"))


async def test_an_unknown_typed_group_is_echoed_safely(source: CachedSource) -> None:
    answer = await find_group(source, "\x00\x01\u202e9.9\u2066", ["dnem", "kem"], EN)
    assert isinstance(answer, Notice)
    assert answer.problem is Problem.UNKNOWN_GROUP
    assert answer.text.startswith("Unknown group “9.9”. Valid groups: 1.1, 1.2, 2.1, 2.2, 3.1, 3.2, 4.1,")


# --- settings and echoes -----------------------------------------------------------------------------


def test_settings_in_words() -> None:
    recipient = Recipient(
        id="1",
        lang="en",
        active=True,
        deactivated_reason=None,
        lead_off_minutes=15,
        lead_on_minutes=None,
        quiet_start=time(23),
        quiet_end=time(7),
        pictures=False,
        created_at=NOW,
    )
    assert lead_text(15, EN) == "15 min before"
    assert lead_text(None, EN) == "off"
    assert quiet_text(recipient, EN) == "23:00–07:00"
    assert settings_line(recipient, EN) == (
        "Reminders: before an outage — 15 min before, before power returns — off. "
        "Quiet hours: 23:00–07:00. Language: English. Pictures: no."
    )
    assert quiet_text(replace(recipient, quiet_start=None, quiet_end=None), EN) == EN("bot.quiet_none")


@pytest.mark.parametrize(
    ("typed", "span"),
    [
        ("23:00-07:00", (time(23), time(7))),
        (" 0.30 – 6:05 ", (time(0, 30), time(6, 5))),
        ("22:00—07:00", (time(22), time(7))),
    ],
)
def test_quiet_hours_as_typed(typed: str, span: tuple[time, time]) -> None:
    assert parse_span(typed) == span
    assert read_quiet(typed) == span


@pytest.mark.parametrize("typed", ["off", " OFF ", "Вимкнути", "ні", "немає"])
def test_off_words_turn_quiet_hours_off(typed: str) -> None:
    assert read_quiet(typed) is None


@pytest.mark.parametrize("typed", ["", "24:00-07:00", "23:60-07:00", "23-07", "tonight", "23:00-07:00 x"])
def test_other_text_is_no_quiet_hours(typed: str) -> None:
    assert parse_span(typed) is None
    with pytest.raises(ValueError, match="neither a time span"):
        read_quiet(typed)


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("\x00\x01\u202e1.1", "1.1"),
        ("\u2066abc\u2069 \u200edef\u200f\u202a\u202b\u202c\u202d", "abc def"),
        ("Хрещатик\t\n  22\u2028а", "Хрещатик 22 а"),
        ("\ufeff\u200b\u2060Київ\U000e0041", "Київ"),  # BOM, zero-width space, word joiner, a tag character
        ("вул. Січових Стрільців 🏠", "вул. Січових Стрільців 🏠"),
        ("x" * 41, "x" * 39 + "…"),
        ("x" * 40, "x" * 40),
    ],
)
def test_echo_keeps_what_users_see_and_drops_what_hides_or_reorders(typed: str, shown: str) -> None:
    assert echo(typed) == shown


def test_echo_cuts_to_the_callers_limit() -> None:
    assert echo("123456789", limit=5) == "1234…"


# --- typing a group, and the status lines ------------------------------------------------------------


class Snapshots:
    """A SnapshotSource holding fixed snapshots; a region without one has no data yet."""

    mode = "shared"

    def __init__(self, **snapshots: Snapshot) -> None:
        self.snapshots = snapshots

    async def get(self, region: str) -> Snapshot | None:
        return self.snapshots.get(region)


async def test_matching_groups_start_with_the_typed_text_first_and_stop_at_the_limit() -> None:
    source = Snapshots(kem=snapshot(sample_schedule("kem", TODAY, groups=14)))
    uk = catalog("uk")

    typed = await matching_groups(source, "черга 3.", ["kem"], uk, limit=25)
    assert [(o.group, o.label, o.text) for o in typed] == [
        ("GPV3.1", "Черга 3.1", "3.1"),
        ("GPV3.2", "Черга 3.2", "3.2"),
        ("GPV13.1", "Черга 13.1", "13.1"),
        ("GPV13.2", "Черга 13.2", "13.2"),
    ]
    assert len(await matching_groups(source, "", ["kem"], uk, limit=25)) == 25
    assert await matching_groups(source, "nothing like it", ["kem"], uk, limit=25) == []
    assert await matching_groups(source, "1", ["dnem"], uk, limit=25) == []  # no data there yet


async def test_matching_groups_of_several_regions_name_the_region_and_find_group_takes_it_back() -> None:
    source = Snapshots(
        kem=snapshot(sample_schedule("kem", TODAY)), dnem=snapshot(sample_schedule("dnem", TODAY))
    )
    options = await matching_groups(source, "3.2", ["dnem", "kem"], EN, limit=25)
    assert [(o.region, o.text) for o in options] == [("dnem", "dnem:3.2"), ("kem", "kem:3.2")]
    assert options[1].label.endswith(": Черга 3.2")

    assert await find_group(source, "kem:3.2", ["dnem", "kem"], EN) == GroupChoice("kem", "GPV3.2")
    assert await find_group(source, "3.2", ["dnem", "kem"], EN) == GroupChoice("dnem", "GPV3.2")


async def test_status_lines_per_region_with_age_update_time_and_freshness() -> None:
    source = Snapshots(kem=snapshot(sample_schedule("kem", TODAY), stale=True))
    lines = await status_lines(source, "shared", ["kem", "dnem", "kem"], now=NOW, t=EN)
    assert lines == [
        "Mode: the schedule service's shared database. Data fetched 5 minutes ago."
        " DTEK updated: 23.11.2026 07:30. ⚠️ Data may be out of date.",
        "Mode: the schedule service's shared database. Dnipro: no data yet.",
    ]


# --- what DTEK announces -----------------------------------------------------------------------------

ANNOUNCEMENT = (
    "За наказом НЕК Укренерго 24 листопада з 00:00 до 24:00 діятимуть стабілізаційні відключення.\n"
    "Будь ласка, розумно споживайте електроенергію."
)
PLAN_OFF = {"showTablePlan": False, "showTableFact": True}


@pytest.fixture
async def announcing_source(tmp_path: Path, clock: Clock) -> AsyncIterator[CachedSource]:
    """kem says something and has suspended its weekly plan; dnem says nothing."""
    path = tmp_path / "schedules.db"
    async with await ScheduleWriter.open(path) as writer:
        announced = PageNotices(ANNOUNCEMENT, PLAN_OFF)
        for region, notices in (("kem", announced), ("dnem", PageNotices(None, {}))):
            await writer.save(
                sample_schedule(region, TODAY),
                streets=None,
                fetched_at=NOW - timedelta(hours=1),
                duration_seconds=1.0,
                notices=notices,
            )
        await writer.save(  # the same words again later: still announced an hour ago
            sample_schedule("kem", TODAY),
            streets=None,
            fetched_at=NOW,
            duration_seconds=1.0,
            notices=PageNotices(ANNOUNCEMENT.replace("\n", "  \n "), PLAN_OFF),
        )
    cached = CachedSource(
        SharedDbLoader(path, now=clock), ttl_seconds=60, stale_after=timedelta(hours=2), now=clock
    )
    yield cached
    await cached.aclose()


async def test_a_suspended_weekly_plan_is_marked_not_in_force(announcing_source: CachedSource) -> None:
    for lang in ("en", "uk"):
        t = catalog(lang)
        kem = await load_schedule_view(
            announcing_source, "kem", "GPV3.2", ViewKind.WEEK, now=NOW, t=t, pictures=None
        )
        assert isinstance(kem, ScheduleView)
        assert kem.rendered.lead == t("schedule.week_title_not_in_force")
        assert kem.rendered.notes == (t("schedule.week_not_in_force"),)
        dnem = await load_schedule_view(
            announcing_source, "dnem", "GPV3.2", ViewKind.WEEK, now=NOW, t=t, pictures=None
        )
        assert isinstance(dnem, ScheduleView)
        assert dnem.rendered.lead == t("schedule.week_title")
        assert dnem.rendered.notes == ()
    uk = catalog("uk")
    assert uk("schedule.week_title_not_in_force").endswith("не діє зараз")


async def test_the_announcement_in_brief_under_a_schedule(announcing_source: CachedSource) -> None:
    kem = await load_schedule_view(
        announcing_source, "kem", "GPV3.2", ViewKind.DAYS, now=NOW, t=EN, pictures=None
    )
    assert isinstance(kem, ScheduleView)
    assert kem.rendered.notes[-2:] == (
        "📢 DTEK: За наказом НЕК Укренерго 24 листопада з 00:00 до 24:00 діятимуть стабілізаційні відключення.",
        "Full text in /status.",
    )
    dnem = await load_schedule_view(
        announcing_source, "dnem", "GPV3.2", ViewKind.DAYS, now=NOW, t=EN, pictures=None
    )
    assert isinstance(dnem, ScheduleView)
    assert not any("📢" in note for note in dnem.rendered.notes)


def test_a_long_announcement_is_cut_at_a_word_under_a_schedule() -> None:
    long_line = "слово " * 60
    notes = announcement_notes(long_line.strip(), "uk")
    assert notes[0].startswith("📢 ДТЕК: слово слово")
    assert notes[0].endswith("слово…")
    assert len(notes[0]) <= len("📢 ДТЕК: ") + ANNOUNCEMENT_BRIEF_LIMIT
    assert notes[1] == "Повний текст — у /status."
    assert announcement_notes("Коротко.", "uk") == ("📢 ДТЕК: Коротко.",)
    assert announcement_notes(None, "uk") == ()


async def test_status_has_the_full_announcement_since_its_first_sighting(
    announcing_source: CachedSource,
) -> None:
    lines = await status_lines(announcing_source, "shared", ["kem", "dnem"], now=NOW, t=EN)
    assert lines[1] == "⚠️ Kyiv: DTEK's weekly plan is not in force now."
    assert lines[2] == f"📢 DTEK's announcement (Kyiv, since 23.11.2026 05:00):\n{ANNOUNCEMENT}"
    assert len(lines) == 4  # dnem: its status line only
    uk = await status_lines(announcing_source, "shared", ["kem"], now=NOW, t=catalog("uk"))
    assert uk[1] == "⚠️ Київ: тижневий план ДТЕК не діє зараз."
    assert uk[2].startswith("📢 Оголошення ДТЕК (Київ, з 23.11.2026 05:00):\nЗа наказом")


async def test_standalone_mode_reads_the_announcement_from_the_page(clock: Clock) -> None:
    async with FakeDtekSite() as site:
        site.publish(sample_schedule("kem", TODAY), announcement=paragraphs(ANNOUNCEMENT), flags=PLAN_OFF)
        settings = SourceSettings(dtek_url_template=site.url_template, dtek_retry_attempts=1, _env_file=None)
        source = create_source(settings, now=clock)
        first = await source.get("kem")
        clock.value = NOW + timedelta(hours=1)
        site.publish(  # other markup, the same words
            sample_schedule("kem", TODAY), announcement=f"<div>{ANNOUNCEMENT}</div>", flags=PLAN_OFF
        )
        again = await source.refresh("kem")
        await source.aclose()
    assert first is not None
    assert first.notices is not None
    assert first.notices.announcement == ANNOUNCEMENT
    assert first.notices.announced_at == NOW
    assert not first.notices.plan_in_force
    assert again is not None
    assert again.notices is not None
    assert again.notices.announced_at == NOW


async def test_a_new_announcement_alone_reaches_the_cache_at_once(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "schedules.db"
    schedule = sample_schedule("kem", TODAY)
    async with await ScheduleWriter.open(path) as writer:

        async def scrape(notices: PageNotices) -> None:
            await writer.save(schedule, streets=None, fetched_at=NOW, duration_seconds=1.0, notices=notices)

        await scrape(PageNotices("Перше.", {}))
        source = CachedSource(
            SharedDbLoader(path, now=clock), ttl_seconds=3600, stale_after=timedelta(hours=2), now=clock
        )
        first = known(await source.latest("kem"))
        await scrape(PageNotices(" Перше. ", {}))  # spacing only: the same version, the cache stays
        assert known(await source.latest("kem")).version == first.version
        await scrape(PageNotices("Друге.", {}))
        second = known(await source.latest("kem"))
        assert known(second.notices).announcement == "Друге."
        assert second.version != first.version
        assert second.version.startswith("1.")  # the schedule's own version did not move
        await scrape(PageNotices("Друге.", PLAN_OFF))  # a flag alone is news to the cache too
        assert not known(known(await source.latest("kem")).notices).plan_in_force
        await source.aclose()
