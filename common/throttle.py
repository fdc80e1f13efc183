"""Per-user throttling, shared by both bots: a token bucket per user id.

Each user may send ``burst`` requests at once, then one more every ``60 / per_minute`` seconds. A bucket
that has filled up again is the same as a new one, so it is forgotten then (a TTL cache), and at most
``max_users`` are kept (the least recently seen go first): memory stays bounded however many users flood.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache

from common.clock import Now
from common.metrics import Metrics
from common.settings import BotSettings

MAX_USERS = 100_000


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    # Refused for the first time since the user was last allowed: the one refusal worth a notice.
    notify: bool = False
    wait_seconds: int = 0  # until the next request would be allowed, rounded up


@dataclass
class _Bucket:
    tokens: float
    updated: float
    notified: bool = False


class UserThrottle:
    """``check(user_id)`` takes one token from the user's bucket, if there is one."""

    def __init__(
        self,
        per_minute: float,
        burst: int,
        clock: Callable[[], float],
        *,
        max_users: int = MAX_USERS,
        on_refused: Callable[[], None] = lambda: None,
    ) -> None:
        self._rate = per_minute / 60  # tokens per second
        self._burst = burst
        self._clock = clock
        self._on_refused = on_refused
        self._buckets: TTLCache[int, _Bucket] = TTLCache(max_users, ttl=burst / self._rate, timer=clock)

    @classmethod
    def for_bot(cls, settings: BotSettings, now: Now, metrics: Metrics) -> UserThrottle:
        """A bot's throttle: its settings' limits, on its clock, counting refusals in its metrics."""
        return cls(
            settings.user_rate_limit_per_minute,
            settings.user_rate_limit_burst,
            lambda: now().timestamp(),
            on_refused=metrics.throttled.inc,
        )

    def check(self, user_id: int) -> Verdict:
        now = self._clock()
        bucket = self._buckets.get(user_id) or _Bucket(float(self._burst), now)
        elapsed = max(0.0, now - bucket.updated)  # a clock set back refills nothing
        bucket.tokens = min(float(self._burst), bucket.tokens + elapsed * self._rate)
        bucket.updated = now
        self._buckets[user_id] = bucket  # (re)starts its time to live
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            bucket.notified = False
            return Verdict(allowed=True)
        self._on_refused()
        notify, bucket.notified = not bucket.notified, True
        return Verdict(False, notify, math.ceil((1 - bucket.tokens) / self._rate))

    def __len__(self) -> int:
        """How many users' buckets are kept."""
        return len(self._buckets)
