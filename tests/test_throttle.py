"""The per-user throttle both bots use (common/throttle.py), on a fixed clock the tests move."""

from __future__ import annotations

from common.throttle import UserThrottle, Verdict


class FixedClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_one_notice_then_silence_until_a_token_refills() -> None:
    clock = FixedClock()
    throttle = UserThrottle(per_minute=20, burst=10, clock=clock)
    assert all(throttle.check(7).allowed for _ in range(10))
    assert throttle.check(7) == Verdict(allowed=False, notify=True, wait_seconds=3)
    assert throttle.check(7) == Verdict(allowed=False, notify=False, wait_seconds=3)
    clock.now += 3  # one token back (20 a minute)
    assert throttle.check(7).allowed
    assert throttle.check(7).notify  # refused again after being let through: worth a notice again


def test_users_have_their_own_buckets() -> None:
    throttle = UserThrottle(per_minute=20, burst=2, clock=FixedClock())
    for _ in range(5):
        throttle.check(1)
    assert not throttle.check(1).allowed
    assert throttle.check(2).allowed


def test_a_full_bucket_is_forgotten_and_memory_is_bounded() -> None:
    clock = FixedClock()
    throttle = UserThrottle(per_minute=60, burst=5, clock=clock, max_users=100)
    for user in range(1000):
        throttle.check(user)
    assert len(throttle) == 100  # the least recently seen went first
    clock.now += 5  # every bucket full again: the same as a new one
    throttle.check(5000)
    assert len(throttle) == 1


def test_a_clock_set_back_refills_nothing() -> None:
    clock = FixedClock()
    throttle = UserThrottle(per_minute=60, burst=1, clock=clock)
    assert throttle.check(1).allowed
    clock.now -= 3600
    assert not throttle.check(1).allowed


def test_each_refusal_is_counted() -> None:
    refusals: list[None] = []
    throttle = UserThrottle(
        per_minute=20, burst=2, clock=FixedClock(), on_refused=lambda: refusals.append(None)
    )
    for _ in range(5):
        throttle.check(1)
    assert len(refusals) == 3  # the notice and the silent drops alike
