"""Text rendering: catalogs, plural forms, day headers, totals, state lines, change notices, limits."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta

import pytest

from common.changes import EventKind, ScheduleEvent
from common.clock import KYIV
from common.dtek.parse import parse_page
from common.i18n import LANGUAGES, catalog, normalise_language, plural_category
from common.reminders import TransitionKind, plan_reminders
from common.render.text import (
    DISCORD_FIELD_NAME_LIMIT,
    DISCORD_FIELD_VALUE_LIMIT,
    DISCORD_MAX_FIELDS,
    TELEGRAM_MESSAGE_LIMIT,
    Rendered,
    Section,
    age_text,
    day_header,
    embed_fields,
    full_duration,
    render_event,
    render_reminder,
    render_schedule,
    render_week,
    rendered_from_json,
    rendered_to_json,
    split_text,
    to_text,
)
from common.schedule import RegionSchedule

DAY = date(2025, 12, 18)  # a Thursday
SLOTS = "+" * 16 + "-" * 7 + "+" * 9 + "?" * 4 + "+" * 12  # off 08:00–11:30, maybe 16:00–18:00
SCHEDULE = RegionSchedule(
    region="kem",
    updated=datetime(2025, 12, 18, 20, 0, tzinfo=KYIV),
    groups={"GPV3.2": "Черга 3.2"},
    days={DAY: {"GPV3.2": SLOTS}, DAY + timedelta(days=1): {"GPV3.2": "+" * 48}},
    week={1: {"GPV3.2": "?" * 4 + "+" * 44}, 2: {"GPV3.2": "+" * 48}},
)


@pytest.mark.parametrize(
    ("n", "form"),
    [
        (1, "1 година"),
        (2, "2 години"),
        (4, "4 години"),
        (5, "5 годин"),
        (11, "11 годин"),
        (12, "12 годин"),
        (14, "14 годин"),
        (21, "21 година"),
        (22, "22 години"),
        (25, "25 годин"),
        (111, "111 годин"),
    ],
)
def test_ukrainian_plural_hours(n: int, form: str) -> None:
    assert catalog("uk").plural("plural.hours", n) == form


def test_plural_categories_and_accusative() -> None:
    assert [plural_category("uk", n) for n in (1, 3, 7, 13, 31)] == ["one", "few", "many", "many", "one"]
    assert [plural_category("en", n) for n in (0, 1, 2)] == ["other", "one", "other"]
    assert full_duration(timedelta(hours=1, minutes=1), "uk", accusative=True) == "1 годину 1 хвилину"
    assert full_duration(timedelta(hours=1, minutes=1), "uk") == "1 година 1 хвилина"
    assert full_duration(timedelta(minutes=90), "en") == "1 hour 30 minutes"
    assert full_duration(timedelta(0), "uk") == "0 хвилин"
    assert age_text(timedelta(days=3, hours=2), "uk") == "3 дні"


def test_catalogs_have_the_same_keys() -> None:
    def keys(node: object, prefix: str = "") -> set[str]:
        if isinstance(node, dict):
            return {k for key, value in node.items() for k in keys(value, f"{prefix}{key}.")}
        return {prefix.rstrip(".")}

    uk, en = (keys(catalog(lang)._messages) for lang in LANGUAGES)

    # Plural tables differ by category (uk: one/few/many, en: one/other), everything else must match.
    def strip(ks: set[str]) -> set[str]:
        return {k.rsplit(".", 1)[0] if k.startswith("plural.") else k for k in ks}

    assert strip(uk) == strip(en)


def test_language_normalisation() -> None:
    assert normalise_language("en-US") == "en"
    assert normalise_language("uk_UA") == "uk"
    assert normalise_language("de") == "uk"
    assert normalise_language(None) == "uk"


def test_day_headers() -> None:
    assert day_header(DAY, DAY, "uk") == "Сьогодні, чт 18.12"
    assert day_header(DAY + timedelta(days=1), DAY, "uk") == "Завтра, пт 19.12"
    assert day_header(DAY + timedelta(days=3), DAY, "uk") == "Нд 21.12"
    assert day_header(DAY, DAY, "en") == "Today, Thu 18.12"


def test_schedule_text_in_ukrainian() -> None:
    now = datetime(2025, 12, 18, 5, 50, tzinfo=KYIV)
    text = to_text(render_schedule(SCHEDULE, "GPV3.2", now=now, lang="uk", fetched_at=now))
    assert text.startswith("Київ · Черга 3.2")
    assert "Зараз світло є. Відключення о 08:00, через 2 години 10 хвилин." in text
    assert "Сьогодні, чт 18.12" in text
    assert "🔴 08:00–11:30 світла немає (3 год 30 хв)" in text
    assert "🟡 16:00–18:00 можливе відключення (2 год)" in text
    assert "Разом: без світла 3 години 30 хвилин, можливо без світла 2 години" in text
    assert "Завтра, пт 19.12" in text
    assert "Разом: відключень не заплановано" in text
    assert "Оновлено ДТЕК: 18.12.2025 20:00" in text
    assert "застаріти" not in text


def test_schedule_text_in_english_during_an_outage_and_stale() -> None:
    now = datetime(2025, 12, 18, 10, 0, tzinfo=KYIV)
    fetched = now - timedelta(hours=5)
    text = to_text(render_schedule(SCHEDULE, "GPV3.2", now=now, lang="en", fetched_at=fetched, stale=True))
    assert "No power now. Power returns at 11:30, in 1 hour 30 minutes." in text
    assert "🔴 08:00–11:30 no power (3 h 30 min)" in text
    assert "⚠️ Data may be out of date: last fetched 5 hours ago." in text


def test_stale_note_in_ukrainian_uses_accusative() -> None:
    now = datetime(2025, 12, 18, 10, 0, tzinfo=KYIV)
    rendered = render_schedule(
        SCHEDULE, "GPV3.2", now=now, lang="uk", fetched_at=now - timedelta(hours=1), stale=True
    )
    assert "востаннє отримано 1 годину тому" in to_text(rendered)


def test_stale_age_is_real_time_across_the_autumn_change() -> None:
    # 02:50 summer time, then 03:10 on the second pass of the repeated hour: 1 h 20 min apart, although the
    # wall clock says 20 minutes.
    fetched = datetime(2027, 10, 31, 2, 50, tzinfo=KYIV)
    now = datetime(2027, 10, 31, 3, 10, fold=1, tzinfo=KYIV)
    rendered = render_schedule(SCHEDULE, "GPV3.2", now=now, lang="en", fetched_at=fetched, stale=True)
    assert "last fetched 1 hour 20 minutes ago" in to_text(rendered)


def test_nothing_published_and_unknown_now() -> None:
    empty = RegionSchedule(region="dnem", updated=None, groups={"GPV1.1": "Черга 1.1"})
    text = to_text(render_schedule(empty, "GPV1.1", now=datetime(2026, 8, 21, 9, 0, tzinfo=KYIV), lang="uk"))
    assert "Дніпро · Черга 1.1" in text
    assert "ДТЕК ще не опублікував графік" in text
    assert "Час оновлення ДТЕК невідомий" in text


def test_totals_are_real_time_on_the_spring_dst_day() -> None:
    day = date(2026, 3, 29)  # 03:00 jumps to 04:00
    schedule = RegionSchedule(
        region="kem", updated=None, groups={"GPV1.1": "1.1"}, days={day: {"GPV1.1": "-" * 12 + "+" * 36}}
    )
    text = to_text(
        render_schedule(schedule, "GPV1.1", now=datetime(2026, 3, 28, 12, 0, tzinfo=KYIV), lang="en")
    )
    assert "00:00–06:00 no power (5 h)" in text  # only five real hours pass between 00:00 and 06:00


def test_week_text() -> None:
    text = to_text(render_week(SCHEDULE, "GPV3.2", lang="uk"))
    assert "Тижневий план можливих відключень" in text
    assert "Понеділок\n🟡 00:00–02:00" in text
    assert "Вівторок\nвідключень не заплановано" in text


def test_change_notice_lists_the_half_hours_that_moved() -> None:
    new = SLOTS[:28] + "--" + SLOTS[30:]  # 14:00–15:00 now no power
    event = ScheduleEvent(EventKind.CHANGED, "kem", "GPV3.2", DAY, SLOTS, new)
    text = to_text(render_event(event, group_name="Черга 3.2", today=DAY, lang="uk"))
    assert text.startswith("Графік змінився: Черга 3.2, Сьогодні, чт 18.12")
    assert "14:00–15:00: тепер світла немає" in text
    published = ScheduleEvent(EventKind.PUBLISHED, "kem", "GPV3.2", DAY + timedelta(days=1), None, SLOTS)
    text = to_text(render_event(published, group_name="Черга 3.2", today=DAY, lang="en"))
    assert text.startswith("Schedule published for Tomorrow, Fri 19.12: Черга 3.2")
    removed = ScheduleEvent(EventKind.REMOVED, "kem", "GPV3.2", DAY, SLOTS, None)
    assert "скасовано" in to_text(render_event(removed, group_name="Черга 3.2", today=DAY, lang="uk"))


def test_reminder_text() -> None:
    now = datetime(2025, 12, 18, 7, 0, tzinfo=KYIV)
    reminders = plan_reminders(
        SCHEDULE.group_days("GPV3.2"),
        leads={TransitionKind.POWER_OFF: timedelta(minutes=30)},
        now=now,
    )
    first = reminders[0]
    assert first.transition.kind is TransitionKind.POWER_OFF
    text = render_reminder(first, group_name="Черга 3.2", now=first.due, lang="uk")
    assert text == "⏰ Через 30 хвилин (08:00) відключення світла: Черга 3.2."


def test_markup_is_applied_to_every_piece() -> None:
    class Html:
        def escape(self, text: str) -> str:
            return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

        def bold(self, text: str) -> str:
            return f"<b>{text}</b>"

    rendered = Rendered(title="A<B", lead="x & y", sections=(Section("S>", ("<i>",)),))
    assert to_text(rendered, Html()) == "<b>A&lt;B</b>\n\nx &amp; y\n\n<b>S&gt;</b>\n&lt;i&gt;"


def test_largest_real_schedule_fits_platform_limits(capture: Callable[[str], str]) -> None:
    page = parse_page(capture("dnem-2025-12-18.html"))
    now = datetime(2025, 12, 18, 12, 0, tzinfo=KYIV)
    every_group = "\n\n".join(
        to_text(render_schedule(page.schedule, g, now=now, lang="uk")) for g in page.schedule.sorted_groups()
    )
    parts = split_text(every_group, TELEGRAM_MESSAGE_LIMIT)
    assert len(parts) > 1
    assert all(len(p) <= TELEGRAM_MESSAGE_LIMIT for p in parts)
    assert "\n\n".join(parts) == every_group  # nothing lost at the seams
    one_group = render_schedule(page.schedule, "GPV4.2", now=now, lang="uk")
    assert len(to_text(one_group)) <= TELEGRAM_MESSAGE_LIMIT
    fields = embed_fields(one_group)
    assert len(fields) <= DISCORD_MAX_FIELDS
    assert all(len(n) <= DISCORD_FIELD_NAME_LIMIT and len(v) <= DISCORD_FIELD_VALUE_LIMIT for n, v in fields)


def test_split_text_cuts_a_single_overlong_line() -> None:
    parts = split_text("x" * 5000, 4096)
    assert [len(p) for p in parts] == [4096, 904]


def test_rendered_survives_json() -> None:
    now = datetime(2025, 12, 18, 5, 50, tzinfo=KYIV)
    rendered = render_schedule(SCHEDULE, "GPV3.2", now=now, lang="uk", fetched_at=now)
    assert rendered_from_json(json.loads(json.dumps(rendered_to_json(rendered)))) == rendered
