"""The outbox sender loop against a fake platform: rate limits, 429 pauses, blocked recipients, retries,
multi-part progress and a restart after a crash. Timing is asserted loosely (spacing and order, not exact
instants)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from common.botdb import BotDB
from common.clock import KYIV, Now, as_utc, kyiv_now
from common.messages import OutboxItem
from common.metrics import Metrics
from common.notifications.outbox import OutboxWorker, SendOutcome, sends_in_flight
from tests.metrics_helpers import by_label, sample
from tests.waiting import wait_until

SENT = SendOutcome("sent")
FAILED = SendOutcome("failed", error="HTTP 500")
TOLERANCE = 0.01  # seconds of timer slack


@dataclass(frozen=True)
class Call:
    at: float  # event loop time
    recipient: str
    n: int  # the row's number in the test
    parts_sent: int  # the parts the worker said had arrived before


@dataclass
class FakePlatform:
    """Records every send; answers from ``script`` (row number -> outcomes or exceptions, in order), else
    "sent". Like Telegram, it answers 429 to a send beyond ``limit_per_second`` in any one second."""

    latency: float = 0.0
    script: Mapping[int, Sequence[SendOutcome | Exception]] = field(default_factory=dict)
    limit_per_second: int | None = None
    calls: list[Call] = field(default_factory=list)
    throttled: int = 0
    _wanted: int = 0
    _reached: asyncio.Event = field(default_factory=asyncio.Event)

    async def until_calls(self, count: int) -> None:
        """Returns once ``count`` sends have begun (within 5 s)."""
        self._wanted = count
        self._reached.clear()
        if len(self.calls) < count:
            async with asyncio.timeout(5):
                await self._reached.wait()

    async def send(self, recipient_id: str, payload: Mapping[str, Any], *, parts_sent: int) -> SendOutcome:
        now = asyncio.get_running_loop().time()
        call = Call(now, recipient_id, payload["n"], parts_sent)
        self.calls.append(call)
        if len(self.calls) >= self._wanted:
            self._reached.set()
        await asyncio.sleep(self.latency)
        if self.limit_per_second and sum(c.at > now - 1 for c in self.calls) > self.limit_per_second:
            self.throttled += 1
            return SendOutcome("retry_after", retry_after=1.0)
        earlier = sum(c.n == call.n for c in self.calls) - 1
        planned = self.script.get(call.n, ())
        answer = planned[earlier] if earlier < len(planned) else SENT
        if isinstance(answer, Exception):
            raise answer
        return answer

    def of(self, recipient: str) -> list[Call]:
        return [call for call in self.calls if call.recipient == recipient]


async def queue(db: BotDB, recipients: Sequence[str], *, first: int = 0, due: datetime | None = None) -> None:
    """Row ``first + i`` goes to ``recipients[i]``."""
    for recipient in set(recipients):
        await db.ensure_recipient(recipient, "uk")
    not_before = due or kyiv_now()
    await db.enqueue(
        [OutboxItem(r, f"row:{n}", {"n": n}, not_before) for n, r in enumerate(recipients, start=first)]
    )


def rows(path: Path, columns: str = "status, attempts, last_error") -> list[tuple[Any, ...]]:
    """(n, status, attempts, last_error) by row number, or other ``columns`` after n."""
    with sqlite3.connect(path) as raw:
        found = raw.execute(f"SELECT dedupe_key, {columns} FROM outbox ORDER BY id").fetchall()
    return [(int(key.removeprefix("row:")), *rest) for key, *rest in found]


async def run_until_calls(worker: OutboxWorker, platform: FakePlatform, count: int) -> None:
    """Runs the worker until ``count`` sends have begun, then stops it (letting sends under way finish)."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, idle_seconds=0.02))
    try:
        await platform.until_calls(count)
    finally:
        stop.set()
        await task


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "bot.db"


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[BotDB]:
    async with await BotDB.open(db_path, now=kyiv_now) as db:
        yield db


@pytest.mark.e2e  # 50 sends at 25 a second: a long timing test
async def test_overall_rate_is_held_and_sends_overlap(db: BotDB) -> None:
    # 0.2 s per send: one at a time this would take 10 s; overlapping, the rate limit is the only brake.
    platform = FakePlatform(latency=0.2, limit_per_second=30)
    await queue(db, [f"chat{n}" for n in range(50)])
    worker = OutboxWorker(db, platform, now=kyiv_now, rate_per_second=25)

    assert await worker.drain() == 50
    starts = [call.at for call in platform.calls]
    assert len(starts) == 50
    assert platform.throttled == 0  # evenly spaced: no burst of 25 at the start, so no 429
    assert all(later - first >= 1 - TOLERANCE for first, later in zip(starts, starts[25:], strict=False))
    rate = 49 / (starts[-1] - starts[0])
    assert 25 * 0.9 <= rate <= 25 * 1.01  # the goal is > 95 % of the limit; 90 % leaves room for a busy CI
    assert await db.outbox_counts() == {"pending": 0, "sent": 50, "dead": 0}


async def test_at_a_high_rate_enough_sends_are_under_way_that_slow_answers_do_not_cap_it(db: BotDB) -> None:
    assert sends_in_flight(25) == 50  # Telegram's default rate: the old fixed number
    assert sends_in_flight(1000) == 250  # paid broadcasts: answers taking 0.25 s still allow 1,000/s
    platform = FakePlatform(latency=1.0)  # nothing answers within the test's look
    await queue(db, [f"chat{n}" for n in range(400)])
    worker = OutboxWorker(db, platform, now=kyiv_now, rate_per_second=1000)

    draining = asyncio.create_task(worker.drain())
    await platform.until_calls(250)
    await asyncio.sleep(0.1)  # at 1,000/s a worker with more slots would start 100 more meanwhile
    assert len(platform.calls) == 250
    assert await draining == 400


async def test_one_send_per_recipient_interval_in_queue_order(db: BotDB, db_path: Path) -> None:
    platform = FakePlatform()
    await queue(db, ["a", "a", "b", "a", "b"])
    await queue(db, ["c"], first=5, due=kyiv_now() + timedelta(hours=1))
    worker = OutboxWorker(db, platform, now=kyiv_now, rate_per_second=100, per_recipient_interval=0.3)

    assert await worker.drain() == 5
    for recipient, numbers in (("a", [0, 1, 3]), ("b", [2, 4])):
        calls = platform.of(recipient)
        assert [call.n for call in calls] == numbers
        assert all(b.at - a.at >= 0.3 - TOLERANCE for a, b in pairwise(calls))
    assert platform.of("b")[0].at < platform.of("a")[1].at  # waiting for "a" does not hold up "b"
    assert platform.of("c") == []  # not due yet
    assert rows(db_path)[-1] == (5, "pending", 0, None)


async def test_429_pauses_every_send_and_does_not_count_an_attempt(db: BotDB, db_path: Path) -> None:
    platform = FakePlatform(script={0: [SendOutcome("retry_after", retry_after=0.4)]})
    await queue(db, ["a", "b", "c", "d", "e"])
    worker = OutboxWorker(db, platform, now=kyiv_now, rate_per_second=50, per_recipient_interval=0.01)

    await run_until_calls(worker, platform, 6)
    first, *others = platform.calls
    assert first.n == 0
    assert all(call.at >= first.at + 0.4 - TOLERANCE for call in others)
    assert sorted(call.n for call in others) == [0, 1, 2, 3, 4]
    assert rows(db_path)[0] == (0, "sent", 0, "retry_after")
    assert await db.outbox_counts() == {"pending": 0, "sent": 5, "dead": 0}


async def test_403_deactivates_the_recipient_and_drops_its_rows(db: BotDB, db_path: Path) -> None:
    platform = FakePlatform(
        script={0: [SendOutcome("blocked", error="Forbidden: bot was blocked by the user")]}
    )
    await queue(db, ["a", "a", "b", "a", "b"])
    await db.subscribe("a", "kem", "GPV1.1")
    worker = OutboxWorker(db, platform, now=kyiv_now, rate_per_second=100, per_recipient_interval=0.05)

    assert await worker.drain() == 2
    assert [call.n for call in platform.of("a")] == [0]
    blocked = await db.get_recipient("a")
    assert blocked is not None
    assert (blocked.active, blocked.deactivated_reason) == (False, "Forbidden: bot was blocked by the user")
    assert await db.subscriptions("a") == [("kem", "GPV1.1")]  # kept for when they come back
    assert [status for n, status, *_ in rows(db_path)] == ["dead", "dead", "sent", "dead", "sent"]


async def test_failures_back_off_and_die_and_an_exception_is_a_failure(db: BotDB, db_path: Path) -> None:
    platform = FakePlatform(script={0: [FAILED] * 3, 1: [RuntimeError("connection reset")]})
    await queue(db, ["a", "b", "c"])
    worker = OutboxWorker(
        db,
        platform,
        now=kyiv_now,
        rate_per_second=100,
        per_recipient_interval=0.01,
        max_attempts=3,
        retry_base_seconds=0.05,
    )

    await run_until_calls(worker, platform, 6)
    gaps = [b.at - a.at for a, b in pairwise(platform.of("a"))]
    assert len(gaps) == 2
    assert 0.05 - TOLERANCE <= gaps[0] < 0.1
    assert gaps[1] >= 0.1 - TOLERANCE  # doubled
    assert rows(db_path) == [
        (0, "dead", 3, "HTTP 500"),
        (1, "sent", 1, "RuntimeError: connection reset"),  # the loop lived on and retried it
        (2, "sent", 0, None),
    ]


async def test_sends_are_counted_by_outcome_and_timed(db: BotDB) -> None:
    platform = FakePlatform(
        script={
            0: [FAILED, FAILED],
            1: [SendOutcome("blocked", error="HTTP 403")],
            2: [SendOutcome("retry_after", retry_after=0.05, error="HTTP 429")],
        }
    )
    await queue(db, ["a", "b", "c", "d"])
    await db.ensure_recipient("e", "uk")
    expired = {"n": 4, "expires": (as_utc(kyiv_now()) - timedelta(minutes=1)).isoformat()}
    await db.enqueue([OutboxItem("e", "row:4", expired, kyiv_now())])
    metrics = Metrics()
    worker = OutboxWorker(
        db,
        platform,
        now=kyiv_now,
        rate_per_second=100,
        per_recipient_interval=0.01,
        max_attempts=2,
        retry_base_seconds=0.05,
        metrics=metrics,
    )

    await run_until_calls(worker, platform, 6)
    outcomes = ("sent", "retry", "dead", "blocked", "rate_limited", "expired")
    counted = by_label(metrics, "dtek_sends_total", "outcome", outcomes)
    assert counted == {"sent": 2, "retry": 1, "dead": 1, "blocked": 1, "rate_limited": 1, "expired": 1}
    assert sample(metrics, "dtek_send_duration_seconds_count") == 6
    assert sample(metrics, "dtek_send_delay_seconds_count") == 2  # one per message delivered


async def test_a_multi_part_message_resumes_after_the_parts_delivered(db: BotDB, db_path: Path) -> None:
    # Row 0 has four parts: the first attempt delivers one then fails, the second one more then hits a 429.
    platform = FakePlatform(
        script={
            0: [
                SendOutcome("failed", error="HTTP 502", parts_delivered=1),
                SendOutcome("retry_after", retry_after=0.05, error="HTTP 429", parts_delivered=1),
            ]
        }
    )
    await queue(db, ["a", "b"])
    worker = OutboxWorker(
        db, platform, now=kyiv_now, rate_per_second=100, per_recipient_interval=0.01, retry_base_seconds=0.05
    )

    await run_until_calls(worker, platform, 4)
    assert [call.parts_sent for call in platform.of("a")] == [0, 1, 2]
    assert [call.parts_sent for call in platform.of("b")] == [0]
    assert rows(db_path, "status, attempts, parts_sent, last_error") == [
        (0, "sent", 1, 2, "HTTP 429"),  # the 429 added its part without counting an attempt
        (1, "sent", 0, 0, None),
    ]


async def test_a_new_worker_resumes_after_a_crash(db_path: Path) -> None:
    platform = FakePlatform(latency=0.01)
    total, concurrency = 300, 10
    async with await BotDB.open(db_path, now=kyiv_now) as db:
        await queue(db, [f"chat{n}" for n in range(total)])
        crashing = OutboxWorker(db, platform, now=kyiv_now, rate_per_second=2000, concurrency=concurrency)
        task = asyncio.create_task(crashing.run(asyncio.Event()))
        await platform.until_calls(total // 3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        sent_before = (await db.outbox_counts())["sent"]
    assert 0 < sent_before < total

    async with await BotDB.open(db_path, now=kyiv_now) as db:
        resumed = OutboxWorker(db, platform, now=kyiv_now, rate_per_second=2000, concurrency=concurrency)
        assert await resumed.drain() == total - sent_before
        assert await db.outbox_counts() == {"pending": 0, "sent": total, "dead": 0}
    sends = Counter(call.n for call in platform.calls)
    assert set(sends) == set(range(total))
    twice = [n for n, count in sends.items() if count > 1]
    assert len(twice) <= concurrency  # only the sends under way at the crash
    assert max(sends.values()) <= 2


async def test_a_message_past_its_expiry_is_dropped_not_sent_late(db: BotDB, db_path: Path) -> None:
    platform = FakePlatform()
    await db.ensure_recipient("a", "uk")
    now = kyiv_now()
    past, future = (now - timedelta(minutes=1)).isoformat(), (now + timedelta(hours=1)).isoformat()
    await db.enqueue(
        [
            OutboxItem("a", "row:0", {"n": 0, "expires": past}, now),
            OutboxItem("a", "row:1", {"n": 1, "expires": future}, now),
        ]
    )
    worker = OutboxWorker(db, platform, now=kyiv_now, rate_per_second=100, per_recipient_interval=0.01)
    assert await worker.drain() == 1
    assert [call.n for call in platform.calls] == [1]
    assert rows(db_path) == [(0, "dead", 1, "expired before it could be sent"), (1, "sent", 0, None)]


async def test_a_backoff_is_real_time_in_the_repeated_autumn_hour(db_path: Path) -> None:
    second_pass = datetime(2026, 10, 25, 3, 50, tzinfo=KYIV, fold=1)  # 01:50 UTC; 03:50 came an hour ago too
    platform = FakePlatform(script={0: [FAILED]})
    async with await BotDB.open(db_path, now=lambda: second_pass) as db:
        await queue(db, ["a"], due=second_pass)
        worker = OutboxWorker(
            db, platform, now=lambda: second_pass, rate_per_second=100, retry_base_seconds=60
        )
        assert await worker.drain() == 0
    assert rows(db_path) == [(0, "pending", 1, "HTTP 500")]  # not retried at once
    with sqlite3.connect(db_path) as raw:
        [(retry_at,)] = raw.execute("SELECT not_before FROM outbox").fetchall()
    assert datetime.fromisoformat(retry_at) == as_utc(second_pass) + timedelta(seconds=60)


# --- rows sent are stored in batches ---------------------------------------------------------------------


class BatchRecordingDB(BotDB):
    """Records how many rows each write of rows sent stored; fails the first ``failures`` of them."""

    def __init__(self, db: aiosqlite.Connection, *, now: Now) -> None:
        super().__init__(db, now=now)
        self.batches: list[int] = []
        self.failures = 0

    async def mark_sent(self, sent: Sequence[tuple[int, datetime]]) -> None:
        if self.failures:
            self.failures -= 1
            raise sqlite3.OperationalError("disk I/O error")
        self.batches.append(len(sent))
        await super().mark_sent(sent)


@pytest.fixture
async def recording_db(db_path: Path) -> AsyncIterator[BatchRecordingDB]:
    async with await BatchRecordingDB.open(db_path, now=kyiv_now) as db:
        yield db


async def three_rows_and_slow_batches(db: BatchRecordingDB) -> tuple[FakePlatform, OutboxWorker]:
    """Three rows queued, and a worker whose batches wait 30 s for more rows."""
    platform = FakePlatform()
    await queue(db, ["a", "b", "c"])
    return platform, OutboxWorker(db, platform, now=kyiv_now, rate_per_second=100, flush_seconds=30)


async def test_rows_sent_are_stored_a_batch_at_a_time(recording_db: BatchRecordingDB) -> None:
    platform = FakePlatform()
    await queue(recording_db, [f"chat{n}" for n in range(7)])
    worker = OutboxWorker(
        recording_db, platform, now=kyiv_now, rate_per_second=100, flush_rows=3, flush_seconds=1.0
    )

    assert await worker.drain() == 7
    assert recording_db.batches == [3, 3, 1]  # the last one after its second of waiting for more
    assert await recording_db.outbox_counts() == {"pending": 0, "sent": 7, "dead": 0}


async def test_a_crash_before_a_batch_is_stored_leaves_its_rows_pending_to_be_sent_again(
    recording_db: BatchRecordingDB,
) -> None:
    platform, crashing = await three_rows_and_slow_batches(recording_db)
    task = asyncio.create_task(crashing.run(asyncio.Event()))
    await platform.until_calls(3)
    await asyncio.sleep(0.1)  # the sends have answered; their batch waits for more rows
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert crashing.sent == 0
    assert await recording_db.outbox_counts() == {"pending": 3, "sent": 0, "dead": 0}

    resumed = OutboxWorker(recording_db, platform, now=kyiv_now, rate_per_second=100, flush_seconds=0.01)
    assert await resumed.drain() == 3
    assert Counter(call.n for call in platform.calls) == {0: 2, 1: 2, 2: 2}  # sent again, none lost
    assert await recording_db.outbox_counts() == {"pending": 0, "sent": 3, "dead": 0}


async def test_stopping_stores_the_rows_sent_without_waiting_for_a_full_batch(
    recording_db: BatchRecordingDB,
) -> None:
    platform, worker = await three_rows_and_slow_batches(recording_db)

    async with asyncio.timeout(5):  # far below the 30 s a batch would wait for more rows
        await run_until_calls(worker, platform, 3)
    assert worker.sent == 3
    assert sum(recording_db.batches) == 3
    assert await recording_db.outbox_counts() == {"pending": 0, "sent": 3, "dead": 0}


async def test_a_batch_the_db_refused_is_not_sent_again_but_stored_once_it_can_be(
    recording_db: BatchRecordingDB, caplog: pytest.LogCaptureFixture
) -> None:
    platform = FakePlatform()
    recording_db.failures = 1
    await queue(recording_db, ["a", "b"])
    worker = OutboxWorker(
        recording_db, platform, now=kyiv_now, rate_per_second=100, flush_seconds=0.2, store_retry_seconds=0.1
    )

    assert await worker.drain() == 2
    assert Counter(call.n for call in platform.calls) == {0: 1, 1: 1}  # delivered: not sent twice
    assert recording_db.batches == [2]  # the retry stores both
    assert await recording_db.outbox_counts() == {"pending": 0, "sent": 2, "dead": 0}
    assert "could not store 2 outbox rows sent: disk I/O error" in caplog.text
    assert "Traceback" not in caplog.text  # a storage condition is one line, not a stack


async def test_while_the_db_refuses_writes_nothing_more_is_sent_and_no_one_gets_a_message_twice(
    recording_db: BatchRecordingDB,
) -> None:
    platform = FakePlatform()
    recording_db.failures = 1000  # a read-only or full disk: every write refused until it is fixed
    await queue(recording_db, [f"chat{n}" for n in range(20)])
    worker = OutboxWorker(
        recording_db, platform, now=kyiv_now, rate_per_second=100, flush_rows=5, store_retry_seconds=0.05
    )
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop, idle_seconds=0.05))
    await platform.until_calls(5)
    await asyncio.sleep(0.5)  # ten tries to store the first batch, each refused
    calls_while_refused = len(platform.calls)
    assert calls_while_refused <= 10  # the refused batch of 5 and the sends in flight then; no more
    assert Counter(call.n for call in platform.calls).most_common(1)[0][1] == 1
    assert await recording_db.outbox_counts() == {"pending": 20, "sent": 0, "dead": 0}

    recording_db.failures = 0  # the disk has room again
    await platform.until_calls(20)
    await wait_until(lambda: worker.sent == 20, timeout=5, what="every row stored")
    stop.set()
    await running
    assert Counter(call.n for call in platform.calls) == dict.fromkeys(range(20), 1)
    assert await recording_db.outbox_counts() == {"pending": 0, "sent": 20, "dead": 0}
