"""The long-running service: a scrape cycle every interval, with jitter, until asked to stop."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from common.clock import Now, as_utc
from common.metrics import Metrics
from common.store import ScheduleReader, ScheduleWriter
from schedule_service.probe import ProbeScheduler, UpdateChecker
from schedule_service.scrape import PageFetcher, scrape_cycle
from schedule_service.settings import ServiceSettings

log = logging.getLogger(__name__)


class ServiceFetcher(PageFetcher, UpdateChecker, Protocol):
    """Full page loads and change probes, with the same per-region sessions (a ``DtekFetcher``)."""


async def run_service(
    settings: ServiceSettings,
    *,
    fetcher: ServiceFetcher,
    writer: ScheduleWriter,
    stop: asyncio.Event,
    now: Now,
    random_fraction: Callable[[], float] = random.random,
    metrics: Metrics | None = None,
) -> None:
    interval = settings.scrape_interval_minutes * 60
    metrics = metrics or Metrics()
    probes = ProbeScheduler(
        interval=settings.dtek_probe_interval_seconds,
        max_interval=interval,
        spacing=settings.region_spacing_seconds,
        checker=fetcher,
        writer=writer,
        now=now,
        metrics=metrics,
        random_fraction=random_fraction,
    )
    log.info(
        "service started: regions=%s interval=%.0f min probe=%s",
        ",".join(settings.dtek_regions),
        interval / 60,
        f"{settings.dtek_probe_interval_seconds:g} s" if probes.enabled else "off",
    )
    while not stop.is_set():
        started = time.monotonic()
        outcomes = await scrape_cycle(
            settings.dtek_regions,
            fetcher=fetcher,
            writer=writer,
            spacing_seconds=settings.region_spacing_seconds,
            stop=stop,
            now=now,
            metrics=metrics,
        )
        probes.scraped(outcomes)
        failed = [o.region for o in outcomes if not o.ok]
        log.info("cycle done: %d ok, failed=%s", len(outcomes) - len(failed), ",".join(failed) or "none")
        pruned = await writer.prune_history(as_utc(now()) - timedelta(days=settings.history_retention_days))
        if pruned:
            log.info("pruned %d history rows older than %d days", pruned, settings.history_retention_days)
        # Until the next cycle, the change probe asks DTEK whether anything changed.
        await probes.run_until(started + interval + random_fraction() * settings.scrape_jitter_seconds, stop)
    log.info("service stopped")


async def recall_last_successes(metrics: Metrics, path: Path, regions: Sequence[str], *, now: Now) -> None:
    """Sets each region's last success and data age from the DB, so that a restarted service shows them
    at once, not only after its next successful scrape (which, while DTEK blocks it, may be long)."""
    async with await ScheduleReader.open(path) as reader:
        for region in regions:
            if (last := await reader.last_success(region)) is not None:
                metrics.region_fetched(region, last, now)
