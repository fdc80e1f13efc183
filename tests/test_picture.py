"""Schedule pictures: decoded with Pillow and checked pixel by pixel at known cells."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from common.clock import KYIV
from common.dtek.fake_site import sample_schedule
from common.render import picture
from common.render.picture import (
    PictureCache,
    PictureRow,
    cell_box,
    day_rows,
    picture_height,
    render_rows,
    schedule_picture,
    week_picture,
    week_rows,
)
from common.schedule import RegionSchedule

TODAY = date(2025, 12, 18)
TOMORROW = date(2025, 12, 19)
# Slots 0-9 on, 10-19 off, 20-29 maybe, 30-47 on.
KNOWN_DAY = "+" * 10 + "-" * 10 + "?" * 10 + "+" * 18
OTHER_DAY = "-" * 24 + "+" * 24


def decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image.convert("RGB")


def centre(row_index: int, slot: int) -> tuple[int, int]:
    left, top, right, bottom = cell_box(row_index, slot)
    return (left + right) // 2, (top + bottom) // 2


def cell_colours(image: Image.Image, row_index: int, slot: int) -> set[tuple[int, int, int]]:
    """Every colour inside a cell, a few pixels in from the edges that separators may cover."""
    left, top, right, bottom = cell_box(row_index, slot)
    inner = image.crop((left + 3, top + 3, right - 3, bottom - 3))
    counted = inner.getcolors(maxcolors=inner.width * inner.height)
    assert counted is not None  # maxcolors covers every pixel, so Pillow never gives up
    colours = {colour for _, colour in counted if isinstance(colour, tuple) and len(colour) == 3}
    assert len(colours) == len(counted)  # decode() made the image RGB
    return colours


def known_schedule() -> RegionSchedule:
    return RegionSchedule(
        region="kyiv",
        updated=None,
        groups={"GPV1.1": "Черга 1.1", "GPV1.2": "Черга 1.2"},
        days={TODAY: {"GPV1.1": KNOWN_DAY, "GPV1.2": OTHER_DAY}, TOMORROW: {"GPV1.1": OTHER_DAY}},
        week={1: {"GPV1.1": KNOWN_DAY}, 3: {"GPV1.1": OTHER_DAY, "GPV1.2": KNOWN_DAY}},
    )


def test_picture_is_a_phone_sized_png_growing_with_rows() -> None:
    heights = []
    for count in (1, 2, 7):
        image = decode(render_rows([PictureRow("18.12", KNOWN_DAY)] * count))
        assert 900 <= image.width <= 1100
        heights.append(image.height)
    assert heights == sorted(set(heights))


def test_cells_have_the_colour_of_their_slot() -> None:
    image = decode(render_rows([PictureRow("18.12", KNOWN_DAY), PictureRow("19.12", OTHER_DAY)]))
    assert image.getpixel(centre(0, 5)) == picture.ON_COLOUR
    assert image.getpixel(centre(0, 15)) == picture.OFF_COLOUR
    assert image.getpixel(centre(1, 5)) == picture.OFF_COLOUR
    assert image.getpixel(centre(1, 40)) == picture.ON_COLOUR
    assert cell_colours(image, 0, 35) == {picture.ON_COLOUR}
    assert cell_colours(image, 0, 13) == {picture.OFF_COLOUR}


def test_maybe_cells_are_hatched_not_only_coloured() -> None:
    image = decode(render_rows([PictureRow("18.12", KNOWN_DAY)]))
    for slot in range(20, 30):
        assert cell_colours(image, 0, slot) == {picture.MAYBE_COLOUR, picture.MAYBE_HATCH_COLOUR}


def test_marker_is_drawn_on_its_row_only() -> None:
    rows = day_rows(
        known_schedule(), "GPV1.1", [TODAY, TOMORROW], now=datetime(2025, 12, 18, 13, 45, tzinfo=KYIV)
    )
    assert [row.marker for row in rows] == [27.5, None]
    image = decode(render_rows(rows))
    x = cell_box(0, 27)[0] + picture.CELL_WIDTH // 2  # 27.5 slots = 13:45
    assert image.getpixel((x, centre(0, 27)[1])) == picture.MARKER_COLOUR
    assert image.getpixel((x, centre(1, 27)[1])) != picture.MARKER_COLOUR
    # Without a marker the same spot shows the cell's own state.
    plain = decode(render_rows([PictureRow(row.label, row.slots) for row in rows]))
    assert plain.getpixel((x, centre(0, 27)[1])) in {picture.MAYBE_COLOUR, picture.MAYBE_HATCH_COLOUR}


def test_day_rows_label_dates_and_use_kyiv_time_for_the_marker() -> None:
    # 23:30 UTC on the 18th is already 01:30 on the 19th in Kyiv (UTC+2 in winter).
    rows = day_rows(
        known_schedule(), "GPV1.1", [TODAY, TOMORROW], now=datetime(2025, 12, 18, 23, 30, tzinfo=UTC)
    )
    assert [(row.label, row.slots, row.marker) for row in rows] == [
        ("18.12", KNOWN_DAY, None),
        ("19.12", OTHER_DAY, 3.0),
    ]


def test_day_rows_leave_out_days_without_the_group() -> None:
    rows = day_rows(known_schedule(), "GPV1.2", [TODAY, TOMORROW, date(2025, 12, 20)], now=None)
    assert [(row.label, row.marker) for row in rows] == [("18.12", None)]


def test_week_rows_cover_the_weekdays_having_the_group() -> None:
    schedule = sample_schedule("kyiv", TODAY)
    rows = week_rows(schedule, "GPV3.2")
    assert [row.label for row in rows] == ["1", "2", "3", "4", "5", "6", "7"]
    assert [row.slots for row in rows] == [schedule.week[weekday]["GPV3.2"] for weekday in range(1, 8)]
    assert all(row.marker is None for row in rows)
    assert [row.label for row in week_rows(known_schedule(), "GPV1.2")] == ["3"]


def test_labels_hold_only_characters_the_builtin_font_can_draw() -> None:
    schedule = sample_schedule("kyiv", TODAY)
    rows = week_rows(schedule, "GPV1.1") + day_rows(schedule, "GPV1.1", sorted(schedule.days), now=None)
    assert all(re.fullmatch(r"[0-9.:-]+", row.label) for row in rows)


def test_rendering_is_deterministic() -> None:
    rows = [PictureRow("18.12", KNOWN_DAY, marker=27.5), PictureRow("19.12", OTHER_DAY)]
    assert render_rows(rows) == render_rows(list(rows))


@pytest.mark.parametrize(
    "rows",
    [
        [],
        [PictureRow("18.12", KNOWN_DAY[:-1])],
        [PictureRow("18.12", KNOWN_DAY.replace("+", "x"))],
        [PictureRow("18.12", KNOWN_DAY, marker=48.5)],
    ],
)
def test_bad_rows_are_refused(rows: list[PictureRow]) -> None:
    with pytest.raises(ValueError, match="row"):
        render_rows(rows)


def test_cache_renders_once_per_key() -> None:
    cache = PictureCache()
    rows = [PictureRow("18.12", KNOWN_DAY, marker=27.0)]
    calls = []

    def build_rows() -> list[PictureRow]:
        calls.append(1)
        return rows

    key = ("kyiv", "GPV1.1", "v1", "day", TODAY, 27)
    first = cache.get_or_render(key, build_rows)
    second = cache.get_or_render(key, build_rows)
    assert first == second == render_rows(rows)
    assert (cache.misses, cache.hits, len(calls)) == (1, 1, 1)


def test_cache_evicts_the_least_recently_used() -> None:
    cache = PictureCache(maxsize=2)

    def rows() -> list[PictureRow]:
        return [PictureRow("18.12", KNOWN_DAY)]

    cache.get_or_render("a", rows)
    cache.get_or_render("b", rows)
    cache.get_or_render("a", rows)  # "a" is now the most recently used
    cache.get_or_render("c", rows)
    assert len(cache) == 2
    assert "b" not in cache
    assert "a" in cache
    assert "c" in cache
    cache.get_or_render("b", rows)
    assert (cache.misses, cache.hits) == (4, 1)


def test_a_region_of_pictures_renders(tmp_path: Path) -> None:
    schedule = sample_schedule("kyiv", TODAY)
    days = sorted(schedule.days)
    now = datetime(2025, 12, 18, 9, 10, tzinfo=KYIV)
    pictures = {
        group: render_rows(day_rows(schedule, group, days, now=now)) for group in schedule.sorted_groups()
    }
    assert len(pictures) == 12
    two_rows = picture.picture_height(2)
    assert {decode(png).size for png in pictures.values()} == {(picture.WIDTH, two_rows)}
    example = tmp_path / "example.png"
    example.write_bytes(pictures["GPV1.1"])
    assert Image.open(example).size == (picture.WIDTH, two_rows)


def test_schedule_and_week_pictures_render_once_per_version_and_half_hour() -> None:
    today = date(2026, 11, 23)
    schedule = sample_schedule("kem", today)
    cache = PictureCache()
    at_10 = datetime(2026, 11, 23, 10, 5, tzinfo=KYIV)
    first = schedule_picture(cache, schedule, "GPV3.2", version="7", now=at_10)
    again = schedule_picture(cache, schedule, "GPV3.2", version="7", now=at_10 + timedelta(minutes=20))
    assert first == again
    assert (cache.misses, cache.hits) == (1, 1)
    schedule_picture(cache, schedule, "GPV3.2", version="8", now=at_10)
    schedule_picture(cache, schedule, "GPV3.2", version="7", now=at_10 + timedelta(minutes=30))
    assert cache.misses == 3
    assert first is not None
    assert Image.open(io.BytesIO(first)).height == picture_height(2)
    assert schedule_picture(cache, schedule, "GPV9.9", version="7", now=at_10) is None
    week = week_picture(cache, schedule, "GPV3.2", version="7")
    assert week is not None
    assert Image.open(io.BytesIO(week)).height == picture_height(7)
    assert week_picture(cache, schedule, "GPV3.2", version="7") == week
    assert week_picture(cache, schedule, "GPV9.9", version="7") is None
