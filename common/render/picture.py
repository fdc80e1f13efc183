"""Schedule pictures: one row of 48 half-hour cells per day, as PNG bytes sized for a phone.

Only digits, dots, colons and dashes are drawn: Pillow's built-in font has no Cyrillic, so the
message caption carries the words. Maybe-cells are hatched as well as coloured, so they stay
distinguishable from on/off cells without relying on colour vision.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

from PIL import Image, ImageDraw, ImageFont

from common.clock import KYIV
from common.schedule import SLOT_MINUTES, SLOTS_PER_DAY, RegionSchedule, Slot, is_day_slots, slot_ranges

RGB = tuple[int, int, int]

# Palette: light green vs dark slate differ in brightness too, not only in hue.
BACKGROUND: RGB = (255, 255, 255)
ON_COLOUR: RGB = (110, 196, 120)
OFF_COLOUR: RGB = (52, 58, 72)
MAYBE_COLOUR: RGB = (255, 222, 130)
MAYBE_HATCH_COLOUR: RGB = (226, 150, 20)
MARKER_COLOUR: RGB = (229, 40, 40)
TEXT_COLOUR: RGB = (40, 40, 40)
SLOT_COLOURS: dict[Slot, RGB] = {Slot.ON: ON_COLOUR, Slot.OFF: OFF_COLOUR, Slot.MAYBE: MAYBE_COLOUR}

# Geometry in pixels; the grid spans GRID_LEFT .. GRID_LEFT + 48 * CELL_WIDTH.
WIDTH = 1000
GRID_LEFT = 116
CELL_WIDTH = 18
HEADER_HEIGHT = 50
ROW_HEIGHT = 60
ROW_GAP = 12
BOTTOM_MARGIN = 12
LABEL_PADDING = 14
LABEL_FONT_SIZE = 30
HOUR_FONT_SIZE = 26
HOUR_LABEL_STEP = 3  # hours between tick labels; thick separators sit on the same hours
HOUR_SEPARATOR_WIDTH = 2
THICK_SEPARATOR_WIDTH = 6
HATCH_SPACING = 12
HATCH_WIDTH = 4
MARKER_WIDTH = 4
MARKER_HALO = 2  # white edge either side so the marker shows on every cell colour
MARKER_OVERHANG = 5  # reaches into the row gaps, never into a neighbouring row

SLOTS_PER_HOUR = 60 // SLOT_MINUTES
GRID_WIDTH = SLOTS_PER_DAY * CELL_WIDTH


@dataclass(frozen=True)
class PictureRow:
    """One drawn day: ``label`` (digits and dots, e.g. ``18.12``), 48 slot characters, and
    optionally the current time as a slot position (27.5 = 13:45) drawn as a vertical line."""

    label: str
    slots: str
    marker: float | None = None


def cell_box(row_index: int, slot: int) -> tuple[int, int, int, int]:
    """Pixel box ``(left, top, right, bottom)`` of one cell, right/bottom exclusive; hour
    separators may cover a few pixels at its left or right edge."""
    left = GRID_LEFT + slot * CELL_WIDTH
    top = HEADER_HEIGHT + row_index * (ROW_HEIGHT + ROW_GAP)
    return left, top, left + CELL_WIDTH, top + ROW_HEIGHT


def picture_height(row_count: int) -> int:
    """Pixel height of a picture of ``row_count`` rows."""
    return HEADER_HEIGHT + row_count * ROW_HEIGHT + (row_count - 1) * ROW_GAP + BOTTOM_MARGIN


def render_rows(rows: Sequence[PictureRow]) -> bytes:
    """Draws ``rows`` top to bottom and returns PNG bytes; equal input gives equal bytes."""
    if not rows:
        raise ValueError("a picture needs at least one row")
    for row in rows:
        _check_row(row)
    image = Image.new("RGB", (WIDTH, picture_height(len(rows))), BACKGROUND)
    draw = ImageDraw.Draw(image)
    _draw_hour_labels(draw)
    for index, row in enumerate(rows):
        _draw_row(image, draw, index, row)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _check_row(row: PictureRow) -> None:
    if not is_day_slots(row.slots):
        raise ValueError(f"row {row.label!r}: slots must be 48 of '+', '-', '?'")
    if row.marker is not None and not 0 <= row.marker <= SLOTS_PER_DAY:
        raise ValueError(f"row {row.label!r}: marker {row.marker} is outside 0..{SLOTS_PER_DAY}")


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


@cache
def _hatch_tile() -> Image.Image:
    """Diagonal stripes over the whole grid width, cropped per run so stripes line up across cells."""
    tile = Image.new("RGB", (GRID_WIDTH, ROW_HEIGHT), MAYBE_COLOUR)
    draw = ImageDraw.Draw(tile)
    for x in range(-ROW_HEIGHT, GRID_WIDTH + HATCH_SPACING, HATCH_SPACING):
        draw.line([(x, ROW_HEIGHT), (x + ROW_HEIGHT, 0)], fill=MAYBE_HATCH_COLOUR, width=HATCH_WIDTH)
    return tile


def _draw_hour_labels(draw: ImageDraw.ImageDraw) -> None:
    font = _font(HOUR_FONT_SIZE)
    for hour in range(0, 25, HOUR_LABEL_STEP):
        x = GRID_LEFT + hour * SLOTS_PER_HOUR * CELL_WIDTH
        draw.text((x, HEADER_HEIGHT // 2), str(hour), fill=TEXT_COLOUR, font=font, anchor="mm")


def _draw_row(image: Image.Image, draw: ImageDraw.ImageDraw, index: int, row: PictureRow) -> None:
    _, top, _, bottom = cell_box(index, 0)
    label_xy = (GRID_LEFT - LABEL_PADDING, (top + bottom) // 2)
    draw.text(label_xy, row.label, fill=TEXT_COLOUR, font=_font(LABEL_FONT_SIZE), anchor="rm")
    for run in slot_ranges(row.slots):
        left, right = cell_box(index, run.start)[0], cell_box(index, run.end)[0]
        if run.state is Slot.MAYBE:
            image.paste(_hatch_tile().crop((left - GRID_LEFT, 0, right - GRID_LEFT, ROW_HEIGHT)), (left, top))
        else:
            draw.rectangle((left, top, right - 1, bottom - 1), fill=SLOT_COLOURS[run.state])
    # White separators read as gaps: hourly thin ones, thick ones on the labelled hours.
    for hour in range(1, 24):
        x = cell_box(index, hour * SLOTS_PER_HOUR)[0]
        width = THICK_SEPARATOR_WIDTH if hour % HOUR_LABEL_STEP == 0 else HOUR_SEPARATOR_WIDTH
        draw.rectangle((x - width // 2, top, x - width // 2 + width - 1, bottom - 1), fill=BACKGROUND)
    if row.marker is not None:
        _draw_marker(draw, round(GRID_LEFT + row.marker * CELL_WIDTH), top, bottom)


def _draw_marker(draw: ImageDraw.ImageDraw, x: int, top: int, bottom: int) -> None:
    left = x - MARKER_WIDTH // 2
    right = left + MARKER_WIDTH - 1
    top, bottom = top - MARKER_OVERHANG, bottom - 1 + MARKER_OVERHANG
    draw.rectangle(
        (left - MARKER_HALO, top - MARKER_HALO, right + MARKER_HALO, bottom + MARKER_HALO), fill=BACKGROUND
    )
    draw.rectangle((left, top, right, bottom), fill=MARKER_COLOUR)


def day_rows(
    schedule: RegionSchedule, group: str, days: Sequence[date], *, now: datetime | None
) -> list[PictureRow]:
    """Rows labelled ``dd.mm`` for the ``days`` that publish ``group`` (others are left out, the
    caption says why); the row of ``now``'s Kyiv date gets the current-time marker. A naive
    ``now`` is taken as Kyiv wall-clock time."""
    local = now.astimezone(KYIV) if now is not None and now.tzinfo is not None else now
    rows = []
    for day in days:
        slots = schedule.days.get(day, {}).get(group)
        if slots is None:
            continue
        marker = None
        if local is not None and local.date() == day:
            marker = (local.hour * 60 + local.minute) / SLOT_MINUTES
        rows.append(PictureRow(label=day.strftime("%d.%m"), slots=slots, marker=marker))
    return rows


def week_rows(schedule: RegionSchedule, group: str) -> list[PictureRow]:
    """Rows ``1`` (Monday) .. ``7`` (Sunday) of the weekly plan, for the weekdays that have ``group``."""
    return [
        PictureRow(label=str(weekday), slots=plan[group])
        for weekday, plan in sorted(schedule.week.items())
        if group in plan
    ]


class PictureCache:
    """An in-memory LRU of PNG bytes, keyed by whatever the caller builds.

    The key must cover everything drawn, e.g. ``(region, group, data_version, "day", day,
    marker_bucket)``. The current-time marker moves, so put a coarse bucket of it in the key
    (e.g. the half hour, ``int(marker)``, or ``None`` for rows without one): a picture then
    shows the time of its first render in that bucket, and a finer bucket renders more often
    and evicts more useful entries.
    """

    def __init__(self, maxsize: int = 256) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.hits = 0
        self.misses = 0
        self._pictures: OrderedDict[Hashable, bytes] = OrderedDict()
        # Callers may render in worker threads (asyncio.to_thread) to keep the event loop free.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._pictures)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._pictures

    def get_or_render(self, key: Hashable, rows: Callable[[], Sequence[PictureRow]]) -> bytes:
        """The cached picture for ``key``, rendering ``rows()`` only on a miss."""
        with self._lock:
            if key in self._pictures:
                self._pictures.move_to_end(key)
                self.hits += 1
                return self._pictures[key]
            self.misses += 1
        # Rendering outside the lock: two threads missing the same key both render, which is harmless.
        picture = render_rows(rows())
        with self._lock:
            self._pictures[key] = picture
            self._pictures.move_to_end(key)
            while len(self._pictures) > self.maxsize:
                self._pictures.popitem(last=False)
        return picture


def schedule_picture(
    cache: PictureCache,
    schedule: RegionSchedule,
    group: str,
    *,
    version: str,
    now: datetime,
    days: Iterable[date] | None = None,
) -> bytes | None:
    """``days`` of ``group`` (by default today and later) as a picture, rendered once per data version
    and half hour; None when nothing is published to draw."""
    local = now.astimezone(KYIV)
    drawn = tuple(sorted(days if days is not None else (d for d in schedule.days if d >= local.date())))
    rows = day_rows(schedule, group, drawn, now=local)
    if not rows:
        return None
    half_hour = (local.hour * 60 + local.minute) // SLOT_MINUTES
    key = (schedule.region, group, version, "days", drawn, local.date(), half_hour)
    return cache.get_or_render(key, lambda: rows)


def week_picture(cache: PictureCache, schedule: RegionSchedule, group: str, *, version: str) -> bytes | None:
    """The weekly plan of ``group`` as a picture, rendered once per data version; None without a plan."""
    rows = week_rows(schedule, group)
    if not rows:
        return None
    return cache.get_or_render((schedule.region, group, version, "week"), lambda: rows)
