"""Prometheus metrics of every program, and the endpoint serving them on ``METRICS_PORT``.

One :class:`Metrics` holds every metric; each program builds one in ``main`` and passes it to the pieces
that record (a piece given none records into a private one nobody reads, so tests and tools need no
metrics). Each has its own registry, never the library's global one: nothing happens at import time, and
several programs or tests in one process do not collide. A program records only its own metrics; the
others are exposed without samples.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator
from datetime import datetime

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.aiohttp import make_aiohttp_handler

from common.clock import Now, as_utc
from common.local_server import LocalServer
from common.settings import DtekSettings

log = logging.getLogger(__name__)

# A scrape takes seconds, more with retries and their backoff; the fetcher gives up within minutes.
SCRAPE_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
# A send is one or a few HTTP requests to the platform.
SEND_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Behind a backlog or a 429 pause a message waits seconds to minutes past its due time.
DELAY_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


class Metrics:
    """Every metric of the programs, in a registry of its own (``registry``, what the endpoint serves)."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        ProcessCollector(registry=registry)  # memory, CPU, open files as process_* (read from /proc)

        # The schedule service.
        self.scrapes = Counter(
            "dtek_scrapes", "Scrapes of a region by outcome", ["region", "outcome"], registry=registry
        )
        self.probes = Counter(
            "dtek_probes",
            "Change probes (checkDisconUpdate) of a region by outcome: unchanged, changed or an error kind",
            ["region", "outcome"],
            registry=registry,
        )
        self.scrape_duration = Histogram(
            "dtek_scrape_duration_seconds",
            "Time one scrape of a region took, retries included",
            ["region"],
            buckets=SCRAPE_BUCKETS,
            registry=registry,
        )
        self.last_success = Gauge(
            "dtek_scrape_last_success_timestamp_seconds",
            "When the region's data was last fetched successfully (Unix time)",
            ["region"],
            registry=registry,
        )
        self.data_age = Gauge(
            "dtek_data_age_seconds",
            "Age of the region's newest data, at the time of the metrics request",
            ["region"],
            registry=registry,
        )

        # The bots.
        self.cache_lookups = Counter(
            "dtek_cache_lookups",
            "Schedule lookups by result: hit (cached), miss (loaded), stale (old or fallback data)",
            ["result"],
            registry=registry,
        )
        self.updates = Counter(
            "dtek_updates",
            "Updates (Telegram) or interactions (Discord) received, by type",
            ["kind"],
            registry=registry,
        )
        self.throttled = Counter(
            "dtek_requests_throttled",
            "Commands and button presses refused by the per-user limit (USER_RATE_LIMIT_*)",
            registry=registry,
        )
        self.notifications_queued = Counter(
            "dtek_notifications_queued",
            "Messages queued in the outbox by kind: change (a schedule change), reminder, news (DTEK's announcement) or outage",
            ["kind"],
            registry=registry,
        )
        self.sends = Counter(
            "dtek_sends", "Outbox messages handled, by outcome", ["outcome"], registry=registry
        )
        self.send_duration = Histogram(
            "dtek_send_duration_seconds",
            "Time the platform took to take one outbox message",
            buckets=SEND_BUCKETS,
            registry=registry,
        )
        self.send_delay = Histogram(
            "dtek_send_delay_seconds",
            "How long after its due time a message was delivered",
            buckets=DELAY_BUCKETS,
            registry=registry,
        )
        self.outbox_messages = Gauge(
            "dtek_outbox_messages",
            "Outbox rows by status (sent and dead ones are kept 30 days)",
            ["status"],
            registry=registry,
        )

    def region_fetched(self, region: str, fetched_at: datetime, now: Now) -> None:
        """The region's data was fetched successfully at ``fetched_at``; its age counts on the clock
        ``now``, read when the metrics are requested."""
        self.last_success.labels(region).set(fetched_at.timestamp())
        self.data_age.labels(region).set_function(
            lambda: (as_utc(now()) - as_utc(fetched_at)).total_seconds()
        )


class MetricsPortError(Exception):
    """The endpoint cannot listen where the settings say (the port is taken, say)."""


class MetricsEndpoint(LocalServer):
    """``GET /metrics`` in Prometheus's text format, served in the program's event loop."""

    def __init__(self, registry: CollectorRegistry, host: str) -> None:
        super().__init__(host)
        self._registry = registry

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", make_aiohttp_handler(self._registry))
        return app


@contextlib.asynccontextmanager
async def serving_metrics(metrics: Metrics, settings: DtekSettings) -> AsyncIterator[None]:
    """Serves ``metrics`` on ``METRICS_HOST:METRICS_PORT`` while inside; nothing when the port is unset.

    Raises :class:`MetricsPortError` when the address cannot be bound.
    """
    port = settings.metrics_port
    if port is None:
        yield
        return
    endpoint = MetricsEndpoint(metrics.registry, settings.metrics_host)
    try:
        await endpoint.start(port)
    except OSError as exc:
        raise MetricsPortError(
            f"METRICS_PORT: cannot serve metrics on {settings.metrics_host}:{port}: {_reason(exc)}"
        ) from None
    log.info("metrics on :%d", port)
    try:
        yield
    finally:
        await endpoint.stop()


def _reason(exc: OSError) -> str:
    # aiohttp's text repeats the address; the error code's own text says what went wrong once. A host
    # that does not resolve has a negative code and a text of its own.
    if exc.errno is not None and exc.errno > 0:
        return os.strerror(exc.errno).lower()
    return exc.strerror or str(exc)
