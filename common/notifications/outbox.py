"""The sender loop of the persistent outbox (rows in an :class:`OutboxStore`), platform-neutral.

Each bot supplies a :class:`Sender` that delivers one payload and reports the outcome; this loop decides
what to send when, within the platform's limits:

* at most ``rate_per_second`` sends overall, evenly spaced, and one per ``per_recipient_interval`` to the
  same recipient (Telegram: about 30 messages a second overall, one a second per chat);
* sends overlap (up to ``concurrency``, by default :func:`sends_in_flight`), so the network round trip
  does not cap the rate;
* ``retry_after`` (HTTP 429) pauses every send for that long and puts the row back without counting an
  attempt; ``blocked`` (HTTP 403) deactivates the recipient and drops its pending rows; ``failed`` (or an
  exception from the sender) is retried with exponential backoff and dead-lettered after ``max_attempts``.

A payload the platform delivers as several messages (a long text in parts) keeps its progress: the row
stores how many parts arrived, and a retry, after a failure or a 429, sends only the others.

A row is marked sent only after the sender said so, and every decision is stored in the database, so a new
worker after a crash carries on where the old one stopped: nothing is lost, and only the rows in flight at
the moment of the crash may be sent twice.

Rows sent are stored in batches (:class:`SentBatches`): one transaction for every ``flush_rows`` rows or
``flush_seconds``, whichever comes first, instead of one per row, which at a thousand sends a second was
most of the worker's CPU. The trade-off: a row stays in flight until its batch is stored (its send slot
and its recipient stay taken), so a crash may repeat up to ``flush_seconds`` of sends more than before, never
more than ``concurrency`` rows, and still loses none.

A batch the database refuses (read-only, disk full, locked) is not sent again: its rows were delivered. The
worker keeps them in memory, sends nothing more, and tries to store them every ``store_retry_seconds``
until the database takes them; only a restart meanwhile sends them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from aiolimiter import AsyncLimiter

from common.asyncutil import wait_or_stop
from common.clock import Now, as_utc
from common.logs import log_failure
from common.messages import OutboxRow
from common.metrics import Metrics

log = logging.getLogger(__name__)

BURST_SECONDS = 0.01  # the most sends the rate limiter lets through at once, in seconds of its rate
UNSTORED_RETRY_SECONDS = 5.0  # how often a worker whose sent rows the DB refused tries to store them again
ROUND_TRIP_SECONDS = 0.25  # the slowest platform answer that must not cap the rate (see sends_in_flight)


@dataclass(frozen=True)
class SendOutcome:
    status: Literal["sent", "retry_after", "blocked", "failed"]
    retry_after: float = 0.0  # seconds, for "retry_after"
    error: str | None = None
    parts_delivered: int = 0  # parts of the payload this attempt delivered before a "retry_after" or "failed"


class Sender(Protocol):
    async def send(self, recipient_id: str, payload: Mapping[str, Any], *, parts_sent: int) -> SendOutcome:
        """Delivers the payload, skipping its first ``parts_sent`` parts: earlier attempts delivered them."""
        ...


class OutboxStore(Protocol):
    """The outbox rows and the recipients' reachability."""

    async def due_messages(
        self, now: datetime, limit: int, exclude_recipients: Collection[str] = ...
    ) -> Sequence[OutboxRow]:
        """Pending rows due at ``now``, oldest first, leaving out the given recipients."""
        ...

    async def mark_sent(self, sent: Sequence[tuple[int, datetime]]) -> None:
        """Marks the rows (id, when sent) sent, in one transaction."""
        ...

    async def mark_retry(
        self,
        row_id: int,
        not_before: datetime,
        error: str,
        *,
        count_attempt: bool = ...,
        parts_delivered: int = ...,
    ) -> None:
        """Sends the row again at ``not_before``, after the ``parts_delivered`` parts added to its progress."""
        ...

    async def mark_dead(self, row_id: int, error: str) -> None: ...

    async def deactivate(self, recipient_id: str, reason: str) -> None: ...

    async def drop_pending_for(self, recipient_id: str, reason: str) -> int:
        """Dead-letters every pending row of the recipient; returns how many."""
        ...


@dataclass
class _Batch:
    rows: list[tuple[int, datetime]] = field(default_factory=list)
    full: asyncio.Event = field(default_factory=asyncio.Event)
    stored: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class SentBatches:
    """Stores rows sent in batches: one transaction per ``max_rows`` rows or ``max_seconds``, whichever
    comes first. The first row of a batch waits for the others, then writes them all.

    :meth:`mark_sent` returns only once its row is stored (raising what the write raised), so a caller
    that holds its row as in flight until then keeps the outbox's crash guarantee: a row whose batch a
    crash cut off is still pending, and is sent again, never lost.
    """

    def __init__(self, store: OutboxStore, *, max_rows: int, max_seconds: float) -> None:
        self._store = store
        self._max_rows = max_rows
        self._max_seconds = max_seconds
        self._open: _Batch | None = None  # the batch rows join until it is full or written
        self._eager = False  # write every row at once, without waiting for others

    def write_in_batches(self) -> None:
        self._eager = False

    def write_now(self) -> None:
        """From now on (until :meth:`write_in_batches`) rows are written at once, and so is the open batch:
        a worker that stops should not wait for more rows."""
        self._eager = True
        if self._open is not None:
            self._open.full.set()

    async def mark_sent(self, row_id: int, at: datetime) -> None:
        first = self._open is None
        batch = self._open = self._open or _Batch()
        batch.rows.append((row_id, at))
        if self._eager or len(batch.rows) >= self._max_rows:
            batch.full.set()
            self._open = None
        if first:
            await self._write(batch)
        await batch.stored

    async def _write(self, batch: _Batch) -> None:
        try:
            try:
                with contextlib.suppress(TimeoutError):  # a timeout, not wait_or_stop's task: cheaper
                    async with asyncio.timeout(self._max_seconds):
                        await batch.full.wait()
            finally:
                if self._open is batch:  # later rows start the next batch
                    self._open = None
            await self._store.mark_sent(batch.rows)
        except Exception as exc:  # every row of the batch stays pending: each sender hears of it
            log.warning("could not store %d outbox rows sent: %s", len(batch.rows), exc)
            batch.stored.set_exception(exc)
        except BaseException:  # cancelled, as by a crash: so are the batch's other senders
            batch.stored.cancel()
            raise
        else:
            batch.stored.set_result(None)


def sends_in_flight(rate_per_second: float) -> int:
    """How many sends a worker keeps under way by default: at least 50, and at a high rate enough that
    answers taking ``ROUND_TRIP_SECONDS`` still leave the rate reachable (250 at 1,000 messages a second)."""
    return max(50, math.ceil(rate_per_second * ROUND_TRIP_SECONDS))


class OutboxWorker:
    def __init__(
        self,
        store: OutboxStore,
        sender: Sender,
        *,
        rate_per_second: float,
        per_recipient_interval: float = 1.0,
        max_attempts: int = 5,
        retry_base_seconds: float = 5.0,
        store_retry_seconds: float = UNSTORED_RETRY_SECONDS,
        now: Now,
        batch: int = 200,
        concurrency: int | None = None,
        flush_rows: int = 200,
        flush_seconds: float = 0.05,
        metrics: Metrics | None = None,
    ) -> None:
        concurrency = sends_in_flight(rate_per_second) if concurrency is None else concurrency
        if rate_per_second <= 0 or max_attempts < 1 or batch < 1 or concurrency < 1:
            raise ValueError("rate, attempts, batch and concurrency must be positive")
        self._store = store
        self._sent_batches = SentBatches(store, max_rows=flush_rows, max_seconds=flush_seconds)
        self._sender = sender
        # aiolimiter is a leaky bucket, so no timing code of our own. A small bucket spaced 1/rate apart:
        # AsyncLimiter(rate, 1) would allow a burst of ``rate`` sends at once, and the platform counts those.
        # It holds BURST_SECONDS of sends (one at 30/s, ten at 1,000/s), so that at a high rate a turn of
        # the event loop longer than 1/rate delays those sends instead of losing them for good.
        burst = max(1, round(rate_per_second * BURST_SECONDS))
        self._limiter = AsyncLimiter(burst, burst / rate_per_second)
        self._slots = asyncio.Semaphore(concurrency)
        self._interval = per_recipient_interval
        self._max_attempts = max_attempts
        self._retry_base = retry_base_seconds
        self._store_retry = store_retry_seconds
        self._now = now  # the store's clock: due times and sent stamps
        self._batch = batch
        self._in_flight: set[str] = set()  # recipients with a send under way
        self._last_send: dict[str, float] = {}  # recipient -> loop time its last send began
        self._paused_until = 0.0  # loop time; set by a 429
        self._finished = asyncio.Event()  # a send ended: its recipient may be free again
        self._sent = 0
        # Rows sent whose storing the DB refused: never sent again by this worker, stored when it can.
        self._unstored: dict[int, datetime] = {}
        self._metrics = metrics or Metrics()

    @property
    def sent(self) -> int:
        """How many rows this worker has delivered so far."""
        return self._sent

    async def run(self, stop: asyncio.Event, *, idle_seconds: float = 1.0) -> None:
        """Sends due rows until ``stop`` is set; with nothing due, looks again after ``idle_seconds``.

        Sends under way when ``stop`` is set are finished; cancelling the task abandons them (a crash).
        """
        await self._loop(stop, idle_seconds, until_drained=False)

    async def drain(self) -> int:
        """Sends every row due now (waiting for per-recipient spacing, not for retries due later) and
        returns how many were sent."""
        before = self._sent
        await self._loop(asyncio.Event(), idle_seconds=1.0, until_drained=True)
        return self._sent - before

    async def _loop(self, stop: asyncio.Event, idle_seconds: float, *, until_drained: bool) -> None:
        self._sent_batches.write_in_batches()
        async with asyncio.TaskGroup() as sends:  # cancelling the loop cancels the sends under way
            await self._send_due(sends, stop, idle_seconds, until_drained=until_drained)
            # Stopping (not cancelled): the sends under way store their rows without waiting for others.
            self._sent_batches.write_now()
        await self._store_unstored()  # a last try, or a restart sends them again

    async def _send_due(
        self, sends: asyncio.TaskGroup, stop: asyncio.Event, idle_seconds: float, *, until_drained: bool
    ) -> None:
        while not stop.is_set():
            self._finished.clear()  # before the query, so a send ending after it still wakes us
            if not await self._store_unstored():  # nothing more is sent while the DB cannot record it
                await wait_or_stop(stop, self._store_retry)
                continue
            rows = await self._due_rows()
            for row in rows:
                if self._unstored:  # the DB refused a batch meanwhile: storing it comes first
                    break
                if stop.is_set() or not await self._start(row, sends, stop):
                    return
            if rows:
                continue
            if until_drained and not self._in_flight and not await self._store.due_messages(self._now(), 1):
                return
            await self._idle(stop, idle_seconds)

    async def _store_unstored(self) -> bool:
        """Stores the rows sent that the DB refused before; whether none is left."""
        if not self._unstored:
            return True
        try:
            await self._store.mark_sent(list(self._unstored.items()))
        except Exception as exc:
            log.warning(
                "outbox: %d rows sent still cannot be stored (%s); no more sends until they are",
                len(self._unstored),
                exc,
            )
            return False
        self._count_sent(len(self._unstored))
        self._unstored.clear()
        return True

    def _count_sent(self, rows: int) -> None:
        self._sent += rows
        self._metrics.sends.labels("sent").inc(rows)

    async def _due_rows(self) -> list[OutboxRow]:
        """Due rows of recipients free to receive now: the oldest one per recipient, keeping their order."""
        rows = await self._store.due_messages(self._now(), self._batch, self._busy_recipients())
        first: dict[str, OutboxRow] = {}
        for row in rows:
            first.setdefault(row.recipient_id, row)
        return list(first.values())

    def _busy_recipients(self) -> set[str]:
        clock = asyncio.get_running_loop().time()
        self._last_send = {r: at for r, at in self._last_send.items() if clock - at < self._interval}
        return self._in_flight | self._last_send.keys()

    async def _idle(self, stop: asyncio.Event, idle_seconds: float) -> None:
        """Waits for stop, a send to end, the next spaced-out recipient to be free, or ``idle_seconds``."""
        clock = asyncio.get_running_loop().time()
        spacing = [
            at + self._interval - clock for r, at in self._last_send.items() if r not in self._in_flight
        ]
        waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._finished.wait())}
        try:
            await asyncio.wait(
                waits, timeout=min([idle_seconds, *spacing]), return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for wait in waits:
                wait.cancel()

    async def _start(self, row: OutboxRow, sends: asyncio.TaskGroup, stop: asyncio.Event) -> bool:
        """Starts one send within the limits; False if ``stop`` was set while waiting for a 429 pause."""
        await self._slots.acquire()
        started = False
        try:
            await self._limiter.acquire()
            # After the limiter: a 429 that arrived while waiting for it must still hold this send.
            while (pause := self._paused_until - asyncio.get_running_loop().time()) > 0:
                if await wait_or_stop(stop, pause):
                    return False
            self._in_flight.add(row.recipient_id)
            self._last_send[row.recipient_id] = asyncio.get_running_loop().time()
            sends.create_task(self._deliver(row))
            started = True
        finally:
            if not started:
                self._slots.release()
        return True

    async def _deliver(self, row: OutboxRow) -> None:
        try:
            if _expired(row, self._now()):
                log.info("outbox row %d expired unsent (behind a backlog or a pause)", row.id)
                await self._store.mark_dead(row.id, "expired before it could be sent")
                self._metrics.sends.labels("expired").inc()
                return
            with self._metrics.send_duration.time():
                try:
                    outcome = await self._sender.send(
                        row.recipient_id, row.payload, parts_sent=row.parts_sent
                    )
                except Exception as exc:
                    log.exception("sender raised for outbox row %d", row.id)
                    outcome = SendOutcome("failed", error=f"{type(exc).__name__}: {exc}")
            await self._record(row, outcome)
        except Exception as exc:  # the row stays pending and is tried again later
            log_failure(log, f"could not record the outcome of outbox row {row.id}", exc)
        finally:
            self._in_flight.discard(row.recipient_id)
            self._slots.release()
            self._finished.set()

    async def _record(self, row: OutboxRow, outcome: SendOutcome) -> None:
        # UTC: adding to a Kyiv time is wall-clock arithmetic, an hour off around the autumn repeated hour.
        now = as_utc(self._now())
        error = outcome.error or outcome.status
        sends = self._metrics.sends  # counted by what became of the row, once it is stored
        match outcome.status:
            case "sent":
                try:
                    await self._sent_batches.mark_sent(row.id, now)
                except Exception:  # logged by the batch; the row was delivered, so it must not go again
                    self._unstored[row.id] = now
                    return
                self._count_sent(1)
                # Past its due time (a held notice's is the end of the quiet hours; a retry's, the retry).
                self._metrics.send_delay.observe(max((now - as_utc(row.not_before)).total_seconds(), 0.0))
            case "retry_after":
                log.warning("rate limited: pausing all sends for %.1f s", outcome.retry_after)
                resume = asyncio.get_running_loop().time() + outcome.retry_after
                self._paused_until = max(self._paused_until, resume)
                later = now + timedelta(seconds=outcome.retry_after)
                await self._store.mark_retry(
                    row.id, later, error, count_attempt=False, parts_delivered=outcome.parts_delivered
                )
                sends.labels("rate_limited").inc()
            case "blocked":
                log.info("recipient %s blocked the bot: %s", row.recipient_id, error)
                await self._store.deactivate(row.recipient_id, error)
                await self._store.drop_pending_for(row.recipient_id, error)
                sends.labels("blocked").inc()
            case "failed" if row.attempts + 1 >= self._max_attempts:
                log.warning("outbox row %d dead after %d attempts: %s", row.id, row.attempts + 1, error)
                await self._store.mark_dead(row.id, error)
                sends.labels("dead").inc()
            case "failed":
                backoff = timedelta(seconds=self._retry_base * 2**row.attempts)
                await self._store.mark_retry(
                    row.id, now + backoff, error, parts_delivered=outcome.parts_delivered
                )
                sends.labels("retry").inc()


def _expired(row: OutboxRow, now: datetime) -> bool:
    """A payload may carry ``expires`` (UTC ISO time): past it the message is dropped, not sent late."""
    expires = row.payload.get("expires")
    return expires is not None and now >= datetime.fromisoformat(expires)
