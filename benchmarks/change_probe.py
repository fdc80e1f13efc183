"""Change-probe benchmark: how soon a change on DTEK's site is a new version in the shared DB, and what DTEK
sees of us per hour, with the probe on and off.

The fake DTEK site runs on 127.0.0.1 and the real service loop in process (the real fetcher, the real writer on
a temporary SQLite file), with the default intervals scaled down in time by ``--scale``: a full scrape every
30 min, a probe every 300 s, 60 s of cycle jitter and 30 s of probe guard, all divided by the scale (300: 6 s,
1 s, 0.2 s, 0.1 s). Every figure printed is scaled back to real time.

    uv run python -m benchmarks.change_probe                      # 1 wall minute per setting = 5 real hours
    uv run python -m benchmarks.change_probe --scale 300 --minutes 2

Each setting runs ``--minutes`` wall-clock minutes. Meanwhile changes are published at random moments (each a
uniform wait of up to one scrape interval after the previous one was stored), and the time from publishing to
the new version in the DB is measured by polling the DB. Requests are what the fake site counted: page loads,
warm-ups (the site root) and probes (``checkDisconUpdate``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import schedule_service.probe as probe_module
from common.clock import kyiv_now
from common.dtek.fake_site import FakeDtekSite, sample_schedule
from common.dtek.fetch import DtekFetcher
from common.schedule import RegionSchedule
from common.store import ScheduleReader, ScheduleWriter
from schedule_service.service import run_service
from schedule_service.settings import ServiceSettings

REGION = "kem"
SCRAPE_MINUTES = 30.0  # the defaults, in real time
PROBE_SECONDS = 300.0
JITTER_SECONDS = 60.0
SPACING_SECONDS = 10.0
GUARD_SECONDS = probe_module.GUARD_SECONDS
POLL_SECONDS = 0.005  # wall time between two looks at the DB


@dataclass
class Result:
    label: str
    latencies: list[float]  # real-time seconds from publishing to the new version in the DB
    missed: int  # changes not stored within the timeout
    hours: float  # real-time hours run
    pages: int
    warmups: int
    probes: int


def _changed(schedule: RegionSchedule, step: int) -> RegionSchedule:
    """DTEK's next version: a later update time and one group's day changed."""
    day = min(schedule.days)
    keys = sorted(schedule.days[day])
    key = keys[step % len(keys)]
    slots = list(schedule.days[day][key])
    slots[step % len(slots)] = "-" if slots[step % len(slots)] != "-" else "+"
    assert schedule.updated is not None
    return replace(
        schedule,
        updated=schedule.updated + timedelta(minutes=10),
        days={**schedule.days, day: {**schedule.days[day], key: "".join(slots)}},
    )


async def _version(reader: ScheduleReader) -> int:
    return (await reader.versions()).get(REGION, 0)


async def _poll_past(reader: ScheduleReader, version: int, deadline: float) -> bool:
    """Polls the DB until the region has a version above ``version`` (True) or ``deadline`` passes."""
    while True:
        if await _version(reader) > version:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL_SECONDS)


async def run_setting(label: str, probe_seconds: float, scale: float, wall_seconds: float) -> Result:
    scrape_wall = SCRAPE_MINUTES * 60 / scale
    async with FakeDtekSite() as site:
        schedule = sample_schedule(REGION, kyiv_now().date())
        site.publish(schedule)
        settings = ServiceSettings(
            dtek_url_template=site.url_template,
            dtek_regions=[REGION],
            dtek_retry_attempts=1,
            dtek_probe_interval_seconds=probe_seconds / scale,
            scrape_interval_minutes=SCRAPE_MINUTES / scale,
            scrape_jitter_seconds=JITTER_SECONDS / scale,
            region_spacing_seconds=SPACING_SECONDS / scale,
            _env_file=None,
        )
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "schedules.db"
            stop = asyncio.Event()
            async with DtekFetcher(settings) as fetcher, await ScheduleWriter.open(path) as writer:
                started = time.monotonic()
                service = asyncio.create_task(
                    run_service(settings, fetcher=fetcher, writer=writer, stop=stop, now=kyiv_now)
                )
                latencies: list[float] = []
                missed = 0
                async with await ScheduleReader.open(path) as reader:
                    await _poll_past(reader, 0, started + 60)  # the first full scrape
                    step = 0
                    while True:
                        await asyncio.sleep(random.uniform(0, scrape_wall))
                        # Room for the slowest case (the next full scrape and its jitter) before the end.
                        if time.monotonic() - started + scrape_wall * 1.2 > wall_seconds:
                            break
                        before = await _version(reader)
                        step += 1
                        schedule = _changed(schedule, step)
                        site.publish(schedule)
                        published = time.monotonic()
                        if await _poll_past(reader, before, published + 2 * scrape_wall):
                            latencies.append((time.monotonic() - published) * scale)
                        else:
                            missed += 1
                    await asyncio.sleep(max(0.0, wall_seconds - (time.monotonic() - started)))
                stop.set()
                await asyncio.wait_for(service, timeout=10)
                elapsed = time.monotonic() - started
    return Result(
        label=label,
        latencies=latencies,
        missed=missed,
        hours=elapsed * scale / 3600,
        pages=site.hits[REGION],
        warmups=site.hits["/"],
        probes=site.probe_calls[REGION],
    )


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def print_table(results: list[Result], scale: float, wall_seconds: float) -> None:
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()} ({platform.machine()}); "
        f"time scale 1/{scale:g}, {wall_seconds / 60:g} wall min per setting; all figures in real time"
    )
    print()
    header = (
        "| setting | changes | change -> DB, median | max | real hours run "
        "| page loads/h | warm-ups/h | probes/h | requests/h |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for r in results:
        per_hour = [count / r.hours for count in (r.pages, r.warmups, r.probes)]
        changes = f"{len(r.latencies)}" + (f" ({r.missed} missed)" if r.missed else "")
        median = _minutes(statistics.median(r.latencies)) if r.latencies else "-"
        worst = _minutes(max(r.latencies)) if r.latencies else "-"
        print(
            f"| {r.label} | {changes} | {median} | {worst} | {r.hours:.1f} | {per_hour[0]:.2f} "
            f"| {per_hour[1]:.2f} | {per_hour[2]:.2f} | {sum(per_hour):.2f} |"
        )
    print()
    print(
        "Per region (one region run). Warm-ups: one per fetcher session, i.e. per service start, not per hour. "
        "Time resolution: "
        f"{POLL_SECONDS * scale:.1f} s real (the DB is polled every {POLL_SECONDS * 1000:g} ms wall)."
    )


async def run_all(scale: float, wall_seconds: float) -> list[Result]:
    # The probe keeps GUARD_SECONDS from a full scrape, but at most a tenth of the scrape interval: scaled
    # down, the constant must be too, or the scaled guard would be 180 s real instead of 30 s.
    probe_module.GUARD_SECONDS = GUARD_SECONDS / scale
    try:
        on = await run_setting(f"probe on ({PROBE_SECONDS:g} s)", PROBE_SECONDS, scale, wall_seconds)
        off = await run_setting("probe off (0)", 0.0, scale, wall_seconds)
    finally:
        probe_module.GUARD_SECONDS = GUARD_SECONDS
    return [on, off]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=300.0, help="real time / wall time (default 300)")
    parser.add_argument(
        "--minutes", type=float, default=1.0, help="wall-clock minutes per setting (default 1)"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for the moments of the changes")
    args = parser.parse_args()
    random.seed(args.seed)
    wall_seconds = args.minutes * 60
    results = asyncio.run(run_all(args.scale, wall_seconds))
    print_table(results, args.scale, wall_seconds)


if __name__ == "__main__":
    main()
