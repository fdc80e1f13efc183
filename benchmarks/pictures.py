"""Picture benchmark: rendering a group's schedule picture (today and tomorrow, with the time marker) and its
weekly plan, cold (a new PictureCache each time: Pillow draws and encodes the PNG) and cached (the same view
again: the bots' common case, as a picture is keyed by data version and half hour)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from benchmarks.suite import Row, median, ms, repeats, timed
from common.clock import KYIV
from common.dtek.fake_site import sample_schedule
from common.render.picture import PictureCache, schedule_picture, week_picture
from common.schedule import RegionSchedule

NOW = datetime(2026, 11, 23, 12, 10, tzinfo=KYIV)
GROUP = "GPV3.1"
VERSION = "v1"
Render = Callable[[PictureCache], bytes | None]


def _days(schedule: RegionSchedule) -> Render:
    return lambda cache: schedule_picture(cache, schedule, GROUP, version=VERSION, now=NOW)


def _week(schedule: RegionSchedule) -> Render:
    return lambda cache: week_picture(cache, schedule, GROUP, version=VERSION)


async def run(quick: bool) -> list[Row]:
    schedule = sample_schedule("kem", NOW.date())
    rows: list[Row] = []
    for name, render in (("today and tomorrow", _days(schedule)), ("weekly plan", _week(schedule))):
        rows += _measured(f"picture of {name}", render, repeats(quick, 30, 5), repeats(quick, 2000, 100))
    return rows


def _measured(benchmark: str, render: Render, cold_times: int, cached_times: int) -> list[Row]:
    if render(PictureCache()) is None:
        raise RuntimeError(f"{benchmark}: nothing to draw")  # a wrong sample would time nothing
    cold = median(timed(lambda: render(PictureCache()), cold_times))
    cache = PictureCache()
    render(cache)
    cached = median(timed(lambda: render(cache), cached_times))
    return [
        Row(f"{benchmark}: cold", ms(cold), note=f"median of {cold_times}; a new cache each time"),
        Row(
            f"{benchmark}: cached",
            ms(cached),
            ms(cold),
            f"{cached / cold:.2g}×",  # two significant digits: suite.ratio's two decimals show 0.00
            f"median of {cached_times}; the same view again; baseline: cold",
        ),
    ]
