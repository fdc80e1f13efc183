"""Command line of the schedule service: ``python -m schedule_service [--once | COMMAND ...]``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sqlite3
import sys
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

from pydantic import ValidationError

from common.clock import Now, as_kyiv, as_utc, kyiv_now
from common.dtek.errors import PageError
from common.dtek.fake_site import SAMPLE_HOUSES, SAMPLE_STREETS, FakeDtekSite, sample_schedule
from common.dtek.fetch import DtekFetcher
from common.dtek.parse import parse_page
from common.dtek.regions import validate_region
from common.i18n import DEFAULT_LANGUAGE, LANGUAGES
from common.logs import setup_logging
from common.metrics import Metrics, MetricsPortError, serving_metrics
from common.render.picture import day_rows, render_rows
from common.render.text import render_schedule, render_week, to_text
from common.schedule import RegionSchedule, canonical_json, resolve_group
from common.settings import describe_settings_error
from common.store import (
    OUTCOME_OK,
    ScheduleReader,
    ScheduleWriter,
    SchemaVersionError,
    StoredSchedule,
    database_path,
)
from schedule_service.probe import CHANGED, LOG_PREFIX, UNCHANGED
from schedule_service.scrape import scrape_cycle
from schedule_service.service import recall_last_successes, run_service
from schedule_service.settings import ServiceSettings

log = logging.getLogger("schedule_service")

DEMO_DB = "data/demo.db"
DEMO_REGION = "kem"
DEMO_GROUP = "3.2"
_SUCCESSES = {
    OUTCOME_OK,
    LOG_PREFIX + UNCHANGED,
    LOG_PREFIX + CHANGED,
}  # scrape-log outcomes that stored or confirmed data


class CliError(Exception):
    """A user-facing failure: printed as one line, no traceback."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m schedule_service",
        description="Scrapes DTEK outage schedules into the shared SQLite DB. "
        "Without a command it runs forever.",
    )
    parser.add_argument("--once", action="store_true", help="scrape every region once, then exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    parse_cmd = commands.add_parser("parse", help="parse a saved page and print canonical JSON")
    parse_cmd.add_argument("page_file", type=Path)
    parse_cmd.add_argument("--region", help="region code (default: read from the page)")
    parse_cmd.add_argument("--json", action="store_true", help="print JSON (the only output format)")

    show = commands.add_parser("show", help="show one group's schedule from the shared DB")
    show.add_argument("group", help="group as 3.2 or GPV3.2")
    show.add_argument("--region", help="region code (default: the first of DTEK_REGIONS)")
    show.add_argument("--date", type=date.fromisoformat, help="only this date (YYYY-MM-DD)")
    show.add_argument("--json", action="store_true", help="canonical JSON restricted to the group")
    show.add_argument("--lang", choices=LANGUAGES, default=DEFAULT_LANGUAGE, help="language of the text")
    show.add_argument("--png", type=Path, metavar="FILE", help="also write the picture users get")

    health = commands.add_parser("health", help="exit 0 if every region was scraped recently")
    health.add_argument("--max-age-minutes", type=float, help="default: twice the scrape interval")
    health.add_argument(
        "--any-region",
        action="store_true",
        help="healthy when at least one region was scraped recently (the others are named); "
        "compose's check, so one region DTEK blocks does not keep the bots from starting",
    )

    commands.add_parser("demo", help="offline demo: scrape a local fake DTEK site into data/demo.db")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "parse":
            return parse_command(args.page_file, region=args.region)
        settings = load_settings()
        setup_logging(settings.log_level, secrets=())  # no secret of its own: the same format as the bots
        now = kyiv_now  # the program's one clock
        if args.command == "show":
            return asyncio.run(show_command(settings, args, now=now()))
        if args.command == "health":
            return asyncio.run(
                health_command(settings, args.max_age_minutes, any_region=args.any_region, now=now)
            )
        if args.command == "demo":
            return asyncio.run(demo_command(settings, now=now))
        return asyncio.run(scrape_command(settings, once=args.once, now=now))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1 if args.command == "health" else exc.exit_code  # Docker reserves a health check's 2


def load_settings() -> ServiceSettings:
    try:
        return ServiceSettings()
    except ValidationError as exc:
        raise CliError(describe_settings_error(exc)) from None


def db_path(settings: ServiceSettings) -> Path:
    try:
        return database_path(settings.schedule_db_url)
    except ValueError as exc:
        raise CliError(f"SCHEDULE_DB_URL: {exc}") from None


def parse_command(page_file: Path, *, region: str | None) -> int:
    try:
        html = page_file.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise CliError(f"cannot read {page_file}: {exc.strerror}") from None
    if region:
        region = _checked_region(region)
    try:
        page = parse_page(html, region=region)
    except PageError as exc:
        raise CliError(f"{page_file} is not a schedule page: {exc}") from None
    for warning in page.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(canonical_json(page.schedule))
    return 0


async def scrape_command(settings: ServiceSettings, *, once: bool, now: Now) -> int:
    async with DtekFetcher(settings) as fetcher, await ScheduleWriter.open(db_path(settings)) as writer:
        if once:
            outcomes = await scrape_cycle(
                settings.dtek_regions,
                fetcher=fetcher,
                writer=writer,
                spacing_seconds=settings.region_spacing_seconds,
                now=now,
            )
            return 0 if all(o.ok for o in outcomes) else 1
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        # Only the long-running service serves metrics: a --once beside it must not fight for the port.
        metrics = Metrics()
        await recall_last_successes(metrics, db_path(settings), settings.dtek_regions, now=now)
        try:
            async with serving_metrics(metrics, settings):
                await run_service(
                    settings, fetcher=fetcher, writer=writer, stop=stop, now=now, metrics=metrics
                )
        except MetricsPortError as exc:
            raise CliError(str(exc)) from None
        return 0


async def show_command(settings: ServiceSettings, args: argparse.Namespace, *, now: datetime) -> int:
    region = _checked_region(args.region) if args.region else settings.dtek_regions[0]
    stored = await _load_stored(db_path(settings), region)
    try:
        group = resolve_group(stored.schedule, args.group)
    except ValueError as exc:
        raise CliError(f"{exc} (region {region})") from None
    schedule = stored.schedule.restricted_to(group)
    if args.date:
        schedule = _only_day(schedule, args.date)
    if args.json:
        print(canonical_json(schedule))
        return 0
    stale = as_utc(now) - as_utc(stored.fetched_at) > timedelta(minutes=2 * settings.scrape_interval_minutes)
    days = [args.date] if args.date else None
    notices = stored.notices
    shown = render_schedule(
        schedule,
        group,
        now=now,
        lang=args.lang,
        fetched_at=stored.fetched_at,
        stale=stale,
        days=days,
        announcement=notices.announcement if notices else None,
    )
    print(to_text(shown))
    if schedule.week and not args.date:
        print()
        in_force = notices is None or notices.plan_in_force
        print(to_text(render_week(schedule, group, lang=args.lang, in_force=in_force)))
    if args.png:
        _write_picture(args.png, schedule, group, now)
    return 0


def _write_picture(path: Path, schedule: RegionSchedule, group: str, now: datetime) -> None:
    rows = day_rows(schedule, group, sorted(schedule.days), now=now)
    if not rows:
        raise CliError("nothing published to draw for this group")
    try:
        path.write_bytes(render_rows(rows))
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from None
    print(f"picture written to {path}", file=sys.stderr)


async def health_command(
    settings: ServiceSettings, max_age_minutes: float | None, *, any_region: bool, now: Now
) -> int:
    if max_age_minutes is None:
        max_age_minutes = 2 * settings.scrape_interval_minutes
    max_age = timedelta(minutes=max_age_minutes)
    path = db_path(settings)
    try:
        problems = await _stale_regions(path, settings.dtek_regions, max_age, now=now)
    except FileNotFoundError:
        problems = [f"no schedule DB at {path} yet"]
    except (SchemaVersionError, sqlite3.Error) as exc:
        problems = [f"schedule DB at {path} unreadable: {exc}"]
    fresh = len(settings.dtek_regions) - len(problems)
    if problems and not (any_region and fresh > 0):
        print(f"unhealthy: {'; '.join(problems)}", file=sys.stderr)
        return 1
    behind = f" (behind: {'; '.join(problems)})" if problems else ""
    print(f"healthy: {fresh} region(s) scraped within {max_age}{behind}")
    return 0


async def _stale_regions(path: Path, regions: Sequence[str], max_age: timedelta, *, now: Now) -> list[str]:
    """One line per region without a successful scrape within ``max_age``."""
    async with await ScheduleReader.open(path) as reader:
        checked_at = as_utc(now())  # UTC: Kyiv times subtract as wall-clock times, wrong in autumn
        problems = []
        for region in regions:
            last = await reader.last_success(region)
            if last is None:
                problems.append(f"{region}: never scraped successfully{await _last_failure(reader, region)}")
            elif (age := checked_at - as_utc(last)) > max_age:
                since = f"last success {age.total_seconds() / 60:.0f} min ago"
                problems.append(f"{region}: {since}{await _last_failure(reader, region)}")
    return problems


async def _last_failure(reader: ScheduleReader, region: str) -> str:
    """``, last scrape <kind>`` when the region's newest log entry is a failure (a failed probe counts), else ""."""
    newest = await reader.recent_scrapes(region, limit=1)
    if not newest or newest[0].outcome in _SUCCESSES:
        return ""
    return f", last scrape {newest[0].outcome}"


async def demo_command(settings: ServiceSettings, *, now: Now) -> int:
    """Everything the service does, offline: a fake DTEK site on 127.0.0.1, the real fetcher and writer."""
    demo_settings = settings.model_copy(
        update={
            "dtek_regions": [DEMO_REGION],
            "dtek_http_backend": "httpx",
            "schedule_db_url": DEMO_DB,
            "region_spacing_seconds": 0.0,
        }
    )
    async with FakeDtekSite() as site:
        site.publish(
            sample_schedule(DEMO_REGION, as_kyiv(now()).date()), streets=SAMPLE_STREETS, houses=SAMPLE_HOUSES
        )
        demo_settings.dtek_url_template = site.url_template
        print(f"fake DTEK site at {site.base_url}; scraping into {DEMO_DB}", file=sys.stderr)
        async with DtekFetcher(demo_settings) as fetcher, await ScheduleWriter.open(Path(DEMO_DB)) as writer:
            outcomes = await scrape_cycle(
                [DEMO_REGION], fetcher=fetcher, writer=writer, spacing_seconds=0, now=now
            )
    if not all(o.ok for o in outcomes):
        raise CliError(f"demo scrape failed: {outcomes[0].detail}", exit_code=1)
    args = build_parser().parse_args(["show", DEMO_GROUP, "--region", DEMO_REGION])
    return await show_command(demo_settings, args, now=now())


async def _load_stored(path: Path, region: str) -> StoredSchedule:
    try:
        reader = await ScheduleReader.open(path)
    except FileNotFoundError:
        raise CliError(f"no schedule DB at {path}; run the service first") from None
    async with reader:
        stored = await reader.load(region)
        if stored is None:
            known = ", ".join(await reader.regions()) or "none yet"
            raise CliError(f"no data for region {region!r}; regions in the DB: {known}")
    return stored


def _checked_region(region: str) -> str:
    try:
        return validate_region(region)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _only_day(schedule: RegionSchedule, day: date) -> RegionSchedule:
    return RegionSchedule(
        region=schedule.region,
        updated=schedule.updated,
        groups=schedule.groups,
        days={d: g for d, g in schedule.days.items() if d == day},
        week=schedule.week,
    )
