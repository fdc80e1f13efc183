"""The change probe: between full scrapes, ask DTEK whether a region's data changed.

The page's own script asks ``checkDisconUpdate`` every 5 minutes with the page's ``fact.update``; the answer
is about 20 bytes while nothing changed, and the new ``fact`` and ``preset`` when something did. The probe
does the same with the session of the last page loaded, so a change shows within minutes instead of at the
next full scrape, at the cost of a request a person with the page open makes anyway.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from common.asyncutil import Stopped, unless_stopped, wait_or_stop
from common.clock import Now
from common.dtek.errors import DtekError
from common.dtek.parse import parse_update_answer
from common.metrics import Metrics
from common.store import ScheduleWriter
from schedule_service.scrape import ScrapeOutcome

log = logging.getLogger(__name__)

UNCHANGED = "unchanged"
CHANGED = "changed"
LOG_PREFIX = "probe-"  # scrape-log outcomes of probes: probe-unchanged, probe-changed, probe-<error kind>
# A probe never comes closer than this to a full scrape of the same region (less when the scrape interval
# is tiny, as in tests): the two together would look like a burst.
GUARD_SECONDS = 30.0
JITTER = 0.1  # each wait is up to this fraction longer, so regions and services drift apart


class UpdateChecker(Protocol):
    """What the probe needs of a ``DtekFetcher``."""

    async def check_update(self, region: str, update: str) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    region: str
    outcome: str  # UNCHANGED, CHANGED or the error kind
    detail: str
    update: str  # the update text the next probe sends

    @property
    def ok(self) -> bool:
        return self.outcome in (UNCHANGED, CHANGED)


async def probe_region(
    region: str,
    update: str,
    *,
    checker: UpdateChecker,
    writer: ScheduleWriter,
    now: Now,
    stop: asyncio.Event | None = None,
) -> ProbeOutcome | None:
    """One probe, logged in the scrape log; a change is stored as a new version like a page's data.
    None when nothing was asked (no page session to ask with)."""
    started_at = now()
    started = time.monotonic()
    try:
        answer = await unless_stopped(checker.check_update(region, update), stop or asyncio.Event())
        if answer is None:
            return None
        if not answer["result"]:
            note = f"DTEK's update {update} unchanged"
            await writer.record_outcome(
                region,
                started_at=started_at,
                duration_seconds=time.monotonic() - started,
                kind=LOG_PREFIX + UNCHANGED,
                note=note,
            )
            log.debug("probe region=%s outcome=unchanged", region)
            return ProbeOutcome(region, UNCHANGED, note, update)
        parsed = parse_update_answer(answer, region=region)
    except DtekError as exc:
        kind = getattr(exc, "kind", "error")
        duration = time.monotonic() - started
        await writer.record_outcome(
            region, started_at=started_at, duration_seconds=duration, kind=LOG_PREFIX + kind, note=str(exc)
        )
        log.warning("probe region=%s outcome=%s error=%s", region, kind, exc)
        return ProbeOutcome(region, kind, str(exc), update)
    for warning in parsed.warnings:
        log.warning("region=%s probe data: %s", region, warning)
    new_update = parsed.update or update
    note = f"DTEK's update {update} -> {new_update}"
    result = await writer.save(
        parsed.schedule,
        streets=None,  # the answer has none: the page's stay
        fetched_at=now(),
        duration_seconds=time.monotonic() - started,
        outcome=LOG_PREFIX + CHANGED,
        note=note,
    )
    log.info("probe region=%s outcome=changed %s version=%d", region, note, result.version)
    return ProbeOutcome(region, CHANGED, f"{note} version={result.version}", new_update)


@dataclass(slots=True)
class _RegionState:
    update: str  # fact.update of the data held
    interval: float  # the current wait between probes (doubled after a failure)
    due: float  # monotonic time of the next probe


class ProbeScheduler:
    """When to probe which region, between the service's full scrapes.

    After each successful full scrape a region is probed every ``interval`` seconds (plus jitter); after a
    failed probe the wait doubles, up to ``max_interval`` (the scrape interval), until a probe or a full
    scrape succeeds. At most one probe per wait, so per region and hour no more requests than one per
    interval plus the full scrapes.
    """

    def __init__(
        self,
        *,
        interval: float,
        max_interval: float,
        spacing: float,
        checker: UpdateChecker,
        writer: ScheduleWriter,
        now: Now,
        metrics: Metrics,
        random_fraction: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = interval
        self._max_interval = max(max_interval, interval)
        self._spacing = spacing
        self._guard = min(GUARD_SECONDS, max_interval / 10)
        self._checker = checker
        self._writer = writer
        self._now = now
        self._metrics = metrics
        self._random = random_fraction
        self._clock = clock
        self._regions: dict[str, _RegionState] = {}

    @property
    def enabled(self) -> bool:
        return self._interval > 0

    def scraped(self, outcomes: Sequence[ScrapeOutcome]) -> None:
        """A cycle ended now: successfully scraped regions are probed afresh with their new data."""
        ended = self._clock()
        for index, outcome in enumerate(outcomes):
            if not outcome.ok:
                state = self._regions.get(outcome.region)
            elif outcome.update is None:  # a page without an update time: nothing for a probe to send
                self._regions.pop(outcome.region, None)
                continue
            else:
                # The page renewed the session: start again from the plain interval.
                state = self._regions[outcome.region] = _RegionState(outcome.update, self._interval, 0.0)
            if state is not None:
                # Staggered like the cycle's scrapes, so the regions' probes do not come at once.
                state.due = ended + index * self._spacing + self._wait(state.interval)

    async def run_until(self, deadline: float, stop: asyncio.Event) -> None:
        """Probes whatever falls due until ``deadline`` (monotonic; the next full scrape) or ``stop``."""
        while not stop.is_set():
            region = self._next_due(before=deadline - self._guard)
            if region is None:
                await wait_or_stop(stop, deadline - self._clock())
                return
            if await wait_or_stop(stop, self._regions[region].due - self._clock()):
                return
            await self._probe(region, stop)

    def _next_due(self, *, before: float) -> str | None:
        if not self.enabled or not self._regions:
            return None
        region = min(self._regions, key=lambda r: self._regions[r].due)
        return region if self._regions[region].due <= before else None

    async def _probe(self, region: str, stop: asyncio.Event) -> None:
        state = self._regions[region]
        try:
            outcome = await probe_region(
                region, state.update, checker=self._checker, writer=self._writer, now=self._now, stop=stop
            )
        except Stopped:
            return
        except Exception:  # a bug or a DB problem: log it, the next full scrape goes on regardless
            log.exception("probe region=%s outcome=error", region)
            outcome = ProbeOutcome(region, "error", "unexpected error", state.update)
        if outcome is not None:
            self._record(outcome)
            state.update = outcome.update
            state.interval = self._interval if outcome.ok else min(state.interval * 2, self._max_interval)
        state.due = self._clock() + self._wait(state.interval)

    def _record(self, outcome: ProbeOutcome) -> None:
        self._metrics.probes.labels(outcome.region, outcome.outcome).inc()
        if outcome.outcome == CHANGED:
            self._metrics.region_fetched(outcome.region, self._now(), self._now)

    def _wait(self, interval: float) -> float:
        return interval * (1 + JITTER * self._random())
