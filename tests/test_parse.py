"""The page parser against every real capture and against pages we generate for the cases they lack."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.clock import KYIV
from common.dtek.errors import BlockedPageError, MalformedDataError, NoScheduleDataError
from common.dtek.fake_site import BLOCK_PAGE, sample_schedule
from common.dtek.page_builder import build_page, page_html, paragraphs
from common.dtek.parse import HOUR_VALUES, is_block_page, parse_page
from common.notices import KNOWN_FLAGS, PageNotices, same_announcement
from common.schedule import RegionSchedule

DNEM_18_GPV11 = "----++++++++++++++--------------+++++++-------++"
DNEM_18_GPV32 = "++++-------++++++++++++++--------------+++++++--"


def mirror_page(capture: Callable[[str], str], name: str, region: str = "kem") -> str:
    """A page of our own builder around the `fact` and `preset` a public mirror extracted."""
    mirror = json.loads(capture(name))
    return page_html(region=region, fact=mirror["fact"], preset=mirror.get("preset"), streets={})


# --- real captures -------------------------------------------------------------------------------


def test_dnem_capture(capture: Callable[[str], str]) -> None:
    page = parse_page(capture("dnem-2025-12-18.html"))
    schedule = page.schedule
    assert schedule.region == "dnem"
    assert schedule.updated == datetime(2025, 12, 18, 20, 0, tzinfo=KYIV)
    assert schedule.updated.isoformat() == "2025-12-18T20:00:00+02:00"
    assert sorted(schedule.days) == [date(2025, 12, 18), date(2025, 12, 19)]
    assert schedule.groups["GPV3.2"] == "Черга 3.2"
    assert len(schedule.groups) == 12
    assert schedule.days[date(2025, 12, 18)]["GPV1.1"] == DNEM_18_GPV11
    assert schedule.days[date(2025, 12, 18)]["GPV3.2"] == DNEM_18_GPV32
    assert sorted(schedule.week) == [1, 2, 3, 4, 5, 6, 7]
    assert page.csrf_param == "_csrf-dtek-dnem"
    assert page.ajax_url == "/ua/ajax"
    assert page.csrf_token
    assert page.streets is not None
    assert len(page.streets) > 1000
    assert page.warnings == []


def test_dnem_capture_slots_follow_raw_hour_values(capture: Callable[[str], str]) -> None:
    """Cross-check every slot of one day against the raw values with an independent table."""
    html = capture("dnem-2025-12-18.html")
    start = html.index("DisconSchedule.fact = {") + len("DisconSchedule.fact = ")
    fact, _ = json.JSONDecoder().raw_decode(html, start)
    table = {"yes": "++", "no": "--", "first": "-+", "second": "+-"}
    schedule = parse_page(html).schedule
    for key, groups in fact["data"].items():
        day = datetime.fromtimestamp(int(key), KYIV).date()
        for group, hours in groups.items():
            expected = "".join(table[hours[str(h)]] for h in range(1, 25))
            assert schedule.days[day][group] == expected


def test_second_capture_differs_in_bytes_not_in_schedule(capture: Callable[[str], str]) -> None:
    first = parse_page(capture("dnem-2025-12-18.html"))
    second = parse_page(capture("dnem-2025-12-18-b.html"))
    assert first.csrf_token != second.csrf_token
    assert first.schedule == second.schedule
    assert first.schedule.content_hash() == second.schedule.content_hash()


def test_legacy_2022_capture(capture: Callable[[str], str]) -> None:
    page = parse_page(capture("kem-2022-12-23-legacy.html"))
    schedule = page.schedule
    assert schedule.region == "kem"  # csrf-param read despite content-before-name attribute order
    assert schedule.updated is None
    assert schedule.days == {}
    assert schedule.groups == {"1": "Група 1", "2": "Група 2", "3": "Група 3"}
    assert schedule.week[1]["1"] == "--------++++??????--------++++??????--------++++"
    assert page.streets is not None
    assert list(page.streets) == [""]  # the old layout lists streets without settlements
    assert len(page.streets[""]) > 100


def test_blocked_capture_is_blocked_not_empty(capture: Callable[[str], str]) -> None:
    html = capture("blocked-incapsula.html")
    assert is_block_page(html)
    with pytest.raises(BlockedPageError) as info:
        parse_page(html)
    assert info.value.kind == "blocked"


def test_mirror_kem(capture: Callable[[str], str]) -> None:
    schedule = parse_page(mirror_page(capture, "mirror-kem-2025-12-18.json")).schedule
    assert schedule.updated == datetime(2025, 12, 18, 6, 51, tzinfo=KYIV)
    assert schedule.days[date(2025, 12, 18)]["GPV1.1"] == "+++++++++++++++++++--------------+++++++-------+"
    assert schedule.days[date(2025, 12, 18)]["GPV3.2"] == "+++++--------+++++++++++++++++++--------+++++++-"
    assert schedule.days[date(2025, 12, 19)]["GPV3.2"] == "+" * 48
    assert schedule.week[1]["GPV3.2"] == "++??????????????+++++++??????????????+++++++????"


def test_mirror_kem_november(capture: Callable[[str], str]) -> None:
    schedule = parse_page(mirror_page(capture, "mirror-kem-2025-11-24.json")).schedule
    assert schedule.updated == datetime(2025, 11, 23, 22, 15, tzinfo=KYIV)
    assert sorted(schedule.days) == [date(2025, 11, 24), date(2025, 11, 25)]
    assert schedule.days[date(2025, 11, 24)]["GPV1.1"] == "----+++++++++++++---------------++++++++++++++++"


def test_mirror_krem(capture: Callable[[str], str]) -> None:
    schedule = parse_page(mirror_page(capture, "mirror-krem-2025-12-18.json", "krem")).schedule
    assert schedule.region == "krem"
    assert schedule.days[date(2025, 12, 18)]["GPV3.2"] == "+++++++++++---++++++++++++++-------+++++++++++++"


def test_mirror_oem_november(capture: Callable[[str], str]) -> None:
    schedule = parse_page(mirror_page(capture, "mirror-oem-2025-11-24.json", "oem")).schedule
    assert schedule.days[date(2025, 11, 24)]["GPV3.2"] == "++++--------------+++++++-------++++++++++++++++"


def test_mirror_oem_stale_upstream(capture: Callable[[str], str]) -> None:
    schedule = parse_page(mirror_page(capture, "mirror-oem-2025-12-18.json", "oem")).schedule
    assert sorted(schedule.days) == [date(2025, 12, 18)]
    assert all(slots == "+" * 48 for slots in schedule.days[date(2025, 12, 18)].values())
    assert schedule.updated == datetime(2025, 12, 12, 18, 57, tzinfo=KYIV)


def test_mirror_dnem_nothing_published_in_summer(capture: Callable[[str], str]) -> None:
    schedule = parse_page(mirror_page(capture, "mirror-dnem-2026-08-21.json", "dnem")).schedule
    assert schedule.days == {}
    assert schedule.updated is not None
    assert schedule.updated.isoformat() == "2026-07-24T08:30:00+03:00"  # summer time
    assert len(schedule.groups) == 24
    assert "GPV1001.1" in schedule.groups
    assert schedule.week[1]["GPV3.2"] == "+??????????????+++++++??????????????+++++++?????"


def test_mirror_dnem_cek_groups(capture: Callable[[str], str]) -> None:
    schedule = parse_page(mirror_page(capture, "mirror-dnem-cek-2025-12-26.json", "dnem")).schedule
    assert sorted(schedule.days) == [date(2025, 12, 26), date(2025, 12, 27)]
    assert schedule.days[date(2025, 12, 27)]["GPV3.2"] == "------++++++++++++++-------+++++++----------++++"
    assert schedule.week == {}


# --- generated pages ------------------------------------------------------------------------------


def hours_object(value: str) -> dict[str, str]:
    return {str(h): value for h in range(1, 25)}


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        (1774735200, date(2026, 3, 29)),  # spring-forward day: 23 hours long
        (1774818000, date(2026, 3, 30)),  # first summer midnight (+03:00)
        (1792875600, date(2026, 10, 25)),  # fall-back day: 25 hours long
        (1792965600, date(2026, 10, 26)),  # first winter midnight (+02:00)
        (1784062800, date(2026, 7, 15)),  # summer date: a fixed +02:00 would say 14 July
    ],
)
def test_day_keys_across_daylight_saving_time(timestamp: int, expected: date) -> None:
    html = page_html(
        region="kem", fact={"data": {str(timestamp): {"GPV1.1": hours_object("no")}}}, preset=None, streets={}
    )
    schedule = parse_page(html).schedule
    assert list(schedule.days) == [expected]
    assert schedule.days[expected]["GPV1.1"] == "-" * 48


def test_summer_update_time_has_summer_offset() -> None:
    html = page_html(region="oem", fact={"data": [], "update": "15.07.2026 09:05"}, preset=None, streets={})
    updated = parse_page(html).schedule.updated
    assert updated is not None
    assert updated.isoformat() == "2026-07-15T09:05:00+03:00"


def test_empty_list_data_is_nothing_published_not_an_error() -> None:
    html = page_html(region="kem", fact={"data": [], "update": "01.08.2026 10:00"}, preset=None, streets={})
    schedule = parse_page(html).schedule
    assert schedule.days == {}
    assert schedule.groups == {}


def test_every_hour_value_maps_to_half_hours() -> None:
    values = list(HOUR_VALUES)
    hours = {str(h): values[(h - 1) % len(values)] for h in range(1, 25)}
    html = page_html(region="kem", fact={"data": {"1766008800": {"GPV1.1": hours}}}, preset=None, streets={})
    slots = parse_page(html).schedule.days[date(2025, 12, 18)]["GPV1.1"]
    assert slots[:14] == "++" + "--" + "??" + "-+" + "+-" + "?+" + "+?"


def test_unknown_and_missing_values_are_possible_outages_with_a_warning() -> None:
    hours = hours_object("yes") | {"3": "blackout", "4": None}
    del hours["24"]
    html = page_html(region="kem", fact={"data": {"1766008800": {"GPV1.1": hours}}}, preset=None, streets={})
    page = parse_page(html)
    slots = page.schedule.days[date(2025, 12, 18)]["GPV1.1"]
    assert slots[4:8] == "????"
    assert slots[46:] == "??"
    assert slots.count("?") == 6
    assert any("'blackout'" in w for w in page.warnings)
    assert any("missing" in w for w in page.warnings)


def test_extra_groups_are_kept_with_their_names_or_keys() -> None:
    fact = {
        "data": {
            "1766008800": {"GPV7.1": hours_object("no"), "GPV1001.2": hours_object("first")},
        }
    }
    preset = {"sch_names": {"GPV7.1": "Черга 7.1"}, "data": {}}
    schedule = parse_page(page_html(region="dnem", fact=fact, preset=preset, streets={})).schedule
    assert schedule.groups == {"GPV7.1": "Черга 7.1", "GPV1001.2": "GPV1001.2"}
    assert schedule.sorted_groups() == ["GPV7.1", "GPV1001.2"]


def test_generated_legacy_layout() -> None:
    source = sample_schedule("kem", date(2026, 1, 5))
    schedule = parse_page(build_page(source, legacy=True)).schedule
    assert schedule.days == {}
    assert schedule.week == source.week


def test_site_javascript_assignment_does_not_fool_the_parser() -> None:
    html = build_page(sample_schedule("kem", date(2026, 1, 5)))
    assert html.index("DisconSchedule.fact = answer.fact;") < html.index("DisconSchedule.fact = {")
    assert parse_page(html).schedule.days


def test_region_argument_wins_over_page() -> None:
    html = build_page(sample_schedule("kem", date(2026, 1, 5)))
    assert parse_page(html, region="oem").schedule.region == "oem"


def test_our_block_page_is_recognised() -> None:
    assert is_block_page(BLOCK_PAGE)
    with pytest.raises(BlockedPageError):
        parse_page(BLOCK_PAGE)


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("<html><body>Технічні роботи</body></html>", NoScheduleDataError),
        ("", NoScheduleDataError),
        ('<script>DisconSchedule.fact = {"data": {,}}</script>', MalformedDataError),
        ('<script>DisconSchedule.fact = ["a"]</script>', MalformedDataError),
        (
            '<script>DisconSchedule.fact = {"data": {"1766008800": {"GPV1.1": "no"}}}</script>',
            MalformedDataError,
        ),
        ('<script>DisconSchedule.fact = {"data": {"tomorrow": {}}}</script>', MalformedDataError),
    ],
)
def test_pages_that_are_not_schedules(html: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_page(html)


def test_truncated_pages() -> None:
    html = build_page(sample_schedule("kem", date(2026, 1, 5)))
    with pytest.raises(MalformedDataError, match="fact"):
        parse_page(html[: html.index("DisconSchedule.fact = {") + 200])
    with pytest.raises(NoScheduleDataError):
        parse_page(html[: html.index("<script>")])


# --- round trip ----------------------------------------------------------------------------------

hour_pairs = st.sampled_from(sorted(HOUR_VALUES.values()))
day_slots = st.lists(hour_pairs, min_size=24, max_size=24).map("".join)
group_keys = st.builds(lambda q, s: f"GPV{q}.{s}", st.integers(1, 1010), st.integers(1, 3))


@st.composite
def schedules(draw: st.DrawFn) -> RegionSchedule:
    groups = draw(st.lists(group_keys, min_size=1, max_size=8, unique=True))
    first_day = draw(st.dates(min_value=date(2022, 1, 1), max_value=date(2035, 12, 31)))
    day_count = draw(st.integers(0, 2))
    days = {first_day + timedelta(days=i): {g: draw(day_slots) for g in groups} for i in range(day_count)}
    week = {wd: {g: draw(day_slots) for g in groups} for wd in draw(st.sets(st.integers(1, 7)))}
    updated = draw(st.none() | st.datetimes(min_value=datetime(2022, 1, 1), max_value=datetime(2035, 1, 1)))
    return RegionSchedule(
        region=draw(st.sampled_from(["kem", "krem", "oem", "dnem", "dem"])),
        updated=updated.replace(second=0, microsecond=0, tzinfo=KYIV) if updated else None,
        groups={g: draw(st.sampled_from([g, f"Черга {g[3:]}"])) for g in groups if days or week},
        days=days,
        week=week,
    )


@settings(max_examples=150, deadline=None)
@given(schedules())
def test_round_trip_through_a_page(schedule: RegionSchedule) -> None:
    parsed = parse_page(build_page(schedule)).schedule
    assert parsed.to_canonical() == schedule.to_canonical()


# --- what DTEK announces -------------------------------------------------------------------------


def test_dnem_capture_announcement_and_flags(capture: Callable[[str], str]) -> None:
    notices = parse_page(capture("dnem-2025-12-18.html")).notices
    assert notices.announcement is not None
    lines = notices.announcement.split("\n")
    # Markup (<strong>) dropped, the trailing spaces gone, one line per paragraph.
    assert lines[0] == (
        "За наказом НЕК Укренерго 18 грудня з 00:00 до 24:00 діятимуть стабілізаційні відключення електроенергії."
    )
    assert len(lines) == 3
    assert lines[2] == "Дякуємо за ваше розуміння та підтримку!"
    assert dict(notices.flags) == {name: True for name in KNOWN_FLAGS}
    assert notices.plan_in_force


def test_second_capture_has_the_same_announcement(capture: Callable[[str], str]) -> None:
    first = parse_page(capture("dnem-2025-12-18.html")).notices
    second = parse_page(capture("dnem-2025-12-18-b.html")).notices
    assert first == second


def test_legacy_capture_has_no_notices(capture: Callable[[str], str]) -> None:
    notices = parse_page(capture("kem-2022-12-23-legacy.html")).notices
    assert notices == PageNotices()
    assert notices.plan_in_force  # a page that does not say shows its plan


def test_generated_announcement_and_flags() -> None:
    schedule = sample_schedule("kem", date(2026, 8, 21))
    html = build_page(
        schedule,
        announcement=paragraphs("Стабілізаційні відключення\nне застосовуються.\n\nДякуємо!"),
        flags={"showTablePlan": False, "showTableFact": True},
    )
    notices = parse_page(html).notices
    assert notices.announcement == "Стабілізаційні відключення\nне застосовуються.\nДякуємо!"
    assert dict(notices.flags) == {"showTablePlan": False, "showTableFact": True}
    assert not notices.plan_in_force


def test_announcement_markup_and_whitespace_are_dropped() -> None:
    html = build_page(
        sample_schedule("kem", date(2026, 8, 21)),
        announcement="\n  <p>За  наказом <strong>з&nbsp;00:00</strong>\n до 24:00 &amp; далі</p><p> </p>"
        "<script>var x = 1;</script>Рядок<br>другий<ul><li>пункт</li></ul>",
    )
    assert parse_page(html).notices.announcement == "За наказом з 00:00 до 24:00 & далі\nРядок\nдругий\nпункт"


@pytest.mark.parametrize("announcement", [None, "", "<p>  </p>"])
def test_no_or_empty_announcement(announcement: str | None) -> None:
    html = build_page(sample_schedule("kem", date(2026, 8, 21)), announcement=announcement)
    notices = parse_page(html).notices
    assert notices.announcement is None
    assert notices.plan_in_force


def test_same_announcement_ignores_spacing() -> None:
    assert same_announcement("Текст  один\nдва", " Текст один два ")
    assert not same_announcement("Текст один", "Текст два")
    assert same_announcement(None, "")
