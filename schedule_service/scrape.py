"""One scrape of one region: fetch, parse off the event loop, store; failures only logged and recorded."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from common.asyncutil import Stopped, unless_stopped, wait_or_stop
from common.clock import Now
from common.dtek.errors import DtekError
from common.dtek.parse import parse_page, update_text
from common.metrics import Metrics
from common.store import ScheduleWriter

log = logging.getLogger(__name__)

DB_ERROR = "db-error"  # the outcome of a scrape the shared DB refused to store (or log)


class PageFetcher(Protocol):
    async def fetch_page(self, region: str) -> str: ...


@dataclass(frozen=True, slots=True)
class ScrapeOutcome:
    region: str
    ok: bool
    outcome: str  # "ok", "nothing-published", or the error kind
    detail: str
    duration_seconds: float
    fetched_at: datetime | None = None  # when the stored data was fetched; None when nothing was stored
    update: str | None = None  # DTEK's fact.update of the stored data: what the change probe sends


async def scrape_region(
    region: str,
    *,
    fetcher: PageFetcher,
    writer: ScheduleWriter,
    now: Now,
    stop: asyncio.Event | None = None,
) -> ScrapeOutcome:
    """Raises ``Stopped`` when ``stop`` is set during the fetch (with its retries, which can take a minute);
    once the page is in, the scrape is finished and stored."""
    started_at = now()
    started = time.monotonic()
    try:
        html = await unless_stopped(fetcher.fetch_page(region), stop or asyncio.Event())
        # Parsing an 800 KB page blocks for a while: keep the event loop free.
        page = await asyncio.to_thread(parse_page, html, region=region)
    except DtekError as exc:
        duration = time.monotonic() - started
        kind = getattr(exc, "kind", "error")
        await writer.record_failure(
            region, started_at=started_at, duration_seconds=duration, kind=kind, error=str(exc)
        )
        log.warning("scrape region=%s outcome=%s duration=%.1fs error=%s", region, kind, duration, exc)
        return ScrapeOutcome(region, False, kind, str(exc), duration)

    for warning in page.warnings:
        log.warning("region=%s data: %s", region, warning)
    duration = time.monotonic() - started
    fetched_at = now()
    result = await writer.save(
        page.schedule,
        streets=page.streets,
        fetched_at=fetched_at,
        duration_seconds=duration,
        notices=page.notices,
    )
    outcome = "ok" if page.schedule.days else "nothing-published"
    detail = f"days={len(page.schedule.days)} groups={len(page.schedule.groups)} version={result.version}"
    log.info(
        "scrape region=%s outcome=%s %s changed=%s duration=%.1fs",
        region,
        outcome,
        detail,
        result.changed,
        duration,
    )
    return ScrapeOutcome(
        region, True, outcome, detail, duration, fetched_at, update_text(page.schedule.updated)
    )


async def scrape_cycle(
    regions: Sequence[str],
    *,
    fetcher: PageFetcher,
    writer: ScheduleWriter,
    spacing_seconds: float,
    stop: asyncio.Event | None = None,
    now: Now,
    metrics: Metrics | None = None,
) -> list[ScrapeOutcome]:
    """Scrapes each region in turn, ``spacing_seconds`` apart; one region's failure never stops the rest.
    Each outcome is recorded in ``metrics``."""
    stop = stop or asyncio.Event()
    metrics = metrics or Metrics()
    outcomes = []
    for index, region in enumerate(regions):
        if index and await wait_or_stop(stop, spacing_seconds):
            break
        started = time.monotonic()
        try:
            outcome = await scrape_region(region, fetcher=fetcher, writer=writer, now=now, stop=stop)
        except Stopped:
            log.info("scrape region=%s interrupted: stopping", region)
            break
        except sqlite3.Error as exc:  # the DB refused (disk full, locked): one clear line, go on
            log.error("scrape region=%s outcome=%s error=%s", region, DB_ERROR, exc)
            outcome = ScrapeOutcome(region, False, DB_ERROR, str(exc), time.monotonic() - started)
        except Exception as exc:  # a bug: log it with its traceback, go on with the next region
            log.exception("scrape region=%s outcome=error", region)
            error = f"{type(exc).__name__}: {exc}"
            outcome = ScrapeOutcome(region, False, "error", error, time.monotonic() - started)
        record_scrape(metrics, outcome, now=now)
        outcomes.append(outcome)
    return outcomes


def record_scrape(metrics: Metrics, outcome: ScrapeOutcome, *, now: Now) -> None:
    metrics.scrapes.labels(outcome.region, outcome.outcome).inc()
    metrics.scrape_duration.labels(outcome.region).observe(outcome.duration_seconds)
    if outcome.fetched_at is not None:
        metrics.region_fetched(outcome.region, outcome.fetched_at, now)
