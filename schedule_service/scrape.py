"""One scrape of one region: fetch, parse off the event loop, store; failures only logged and recorded."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from common.asyncutil import wait_or_stop
from common.clock import Now
from common.dtek.errors import DtekError
from common.dtek.parse import parse_page
from common.store import ScheduleWriter

log = logging.getLogger(__name__)


class PageFetcher(Protocol):
    async def fetch_page(self, region: str) -> str: ...


@dataclass(frozen=True, slots=True)
class ScrapeOutcome:
    region: str
    ok: bool
    outcome: str  # "ok", "nothing-published", or the error kind
    detail: str
    duration_seconds: float


async def scrape_region(
    region: str, *, fetcher: PageFetcher, writer: ScheduleWriter, now: Now
) -> ScrapeOutcome:
    started_at = now()
    started = time.monotonic()
    try:
        html = await fetcher.fetch_page(region)
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
    result = await writer.save(
        page.schedule, streets=page.streets, fetched_at=now(), duration_seconds=duration
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
    return ScrapeOutcome(region, True, outcome, detail, duration)


async def scrape_cycle(
    regions: Sequence[str],
    *,
    fetcher: PageFetcher,
    writer: ScheduleWriter,
    spacing_seconds: float,
    stop: asyncio.Event | None = None,
    now: Now,
) -> list[ScrapeOutcome]:
    """Scrapes each region in turn, ``spacing_seconds`` apart; one region's failure never stops the rest."""
    stop = stop or asyncio.Event()
    outcomes = []
    for index, region in enumerate(regions):
        if index and await wait_or_stop(stop, spacing_seconds):
            break
        try:
            outcomes.append(await scrape_region(region, fetcher=fetcher, writer=writer, now=now))
        except Exception as exc:  # a bug or a DB problem: log it, go on with the next region
            log.exception("scrape region=%s outcome=error", region)
            outcomes.append(ScrapeOutcome(region, False, "error", f"{type(exc).__name__}: {exc}", 0.0))
    return outcomes
