"""Reminder planning over published day strings: when the power changes and when to warn about it.

Every function is pure and takes ``now`` from the caller (any aware datetime), so the bots, the
tests and a simulated clock all get the same answers.

Time model. Slots carry Kyiv wall-clock labels, but reminders fire at real instants. Python's
arithmetic *and comparison* of aware datetimes that share a ``ZoneInfo`` are wall-clock
operations: they ignore the DST jump and ``fold``. So this module adds, subtracts and compares
in UTC only, and converts to Kyiv (via UTC, which sets the right offset and fold) on output.
Callers measuring a duration between returned datetimes should use :func:`elapsed`, because
``until - now`` of two Kyiv datetimes is wall-clock time too.

Daylight saving time in Europe/Kyiv:

* Spring forward (last Sunday of March, 03:00 -> 04:00, a 23-hour day): the half hours
  labelled 03:00 and 03:30 never happen. They start at the instant the clock jumps
  (04:00+03:00), so they last no real time and are dropped: their state never takes effect,
  no transition points at a time that never happens, and transitions stay strictly ordered.
* Fall back (last Sunday of October, 04:00 -> 03:00, a 25-hour day): wall times 03:00-04:00
  happen twice. A slot starts at the first occurrence (fold=0), so the 03:30 slot lasts 90
  real minutes: the repeated hour keeps the state that was on when the clocks went back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from itertools import pairwise

from common.clock import KYIV, as_kyiv, as_utc
from common.schedule import SLOT_MINUTES, SLOTS_PER_DAY, Slot, is_day_slots, slot_ranges

_SLOT = timedelta(minutes=SLOT_MINUTES)


class TransitionKind(StrEnum):
    POWER_OFF = "power_off"  # to '-'
    POWER_ON = "power_on"  # to '+' (from '-' or '?')
    MAYBE_START = "maybe_start"  # to '?'


_KIND_BY_STATE = {
    Slot.OFF: TransitionKind.POWER_OFF,
    Slot.ON: TransitionKind.POWER_ON,
    Slot.MAYBE: TransitionKind.MAYBE_START,
}


@dataclass(frozen=True, slots=True)
class Transition:
    """The state changes from ``before`` to ``after`` at ``at`` (tzinfo KYIV)."""

    at: datetime
    kind: TransitionKind
    before: Slot
    after: Slot


@dataclass(frozen=True, slots=True)
class Reminder:
    """Send at ``due`` (tzinfo KYIV), which is ``lead`` of real time before the transition."""

    due: datetime
    lead: timedelta
    transition: Transition


@dataclass(frozen=True, slots=True)
class CurrentState:
    """What holds at ``now``; every datetime has tzinfo KYIV.

    ``state`` is None when no published day covers ``now`` (and then so are ``since``,
    ``until`` and ``next_change``). ``since`` is None when the run began with the published
    data (its true start is unknown); ``until`` and ``next_change`` are None when the run lasts
    to the end of the published data. ``next_outage`` is the next POWER_OFF anywhere after ``now``.
    """

    now: datetime
    state: Slot | None
    since: datetime | None
    until: datetime | None
    next_change: Transition | None
    next_outage: Transition | None


@dataclass(frozen=True, slots=True)
class _Run:
    """Real instants ``[start, end)`` in UTC sharing one state."""

    start: datetime
    end: datetime
    state: Slot


def elapsed(start: datetime, end: datetime) -> timedelta:
    """Real time from ``start`` to ``end`` (``end - start`` of two Kyiv datetimes is wall-clock time)."""
    return as_utc(end) - as_utc(start)


def _wall_exists(wall: datetime) -> bool:
    return as_kyiv(wall.replace(tzinfo=KYIV)).replace(tzinfo=None) == wall


@lru_cache(maxsize=4096)  # pure, and the hot path of every planning call
def _slot_start_utc(day: date, index: int) -> datetime:
    if not 0 <= index <= SLOTS_PER_DAY:
        raise ValueError(f"slot index {index} outside 0..{SLOTS_PER_DAY}")
    wall = datetime.combine(day, time()) + index * _SLOT  # naive on purpose: this is label arithmetic
    # A wall time skipped by spring forward starts when the clock resumes; Kyiv jumps on the
    # hour, so that is the next existing slot boundary, i.e. the jump instant itself.
    while not _wall_exists(wall):
        wall += _SLOT
    return wall.replace(tzinfo=KYIV).astimezone(UTC)  # fold=0: the first of a repeated wall time


def slot_start(day: date, index: int) -> datetime:
    """The instant half hour ``index`` (0..48; 48 is the next day's 00:00) of ``day`` begins."""
    return as_kyiv(_slot_start_utc(day, index))


@lru_cache(maxsize=512)  # a bot asks about the same few published days every minute
def _day_runs(day: date, slots: str) -> tuple[_Run, ...]:
    """One day's runs of equal state in real instants."""
    runs: list[_Run] = []
    for labelled in slot_ranges(slots):
        start, end = _slot_start_utc(day, labelled.start), _slot_start_utc(day, labelled.end)
        if start == end:  # wholly inside the hour spring forward skips: never takes effect
            continue
        if runs and runs[-1].state is labelled.state:  # the skipped hour separated equal states
            runs[-1] = replace(runs[-1], end=end)
        else:
            runs.append(_Run(start, end, labelled.state))
    return tuple(runs)


def _blocks(days: Mapping[date, str]) -> list[list[_Run]]:
    """Runs of equal state for each stretch of consecutive published dates."""
    blocks: list[list[_Run]] = []
    previous: date | None = None
    for day in sorted(days):
        slots = days[day]
        if not is_day_slots(slots):  # checked before the cache, which would choke on a list
            raise ValueError(f"{day}: not a {SLOTS_PER_DAY}-slot day string: {slots!r}")
        runs = _day_runs(day, slots)
        if previous is None or day - previous != timedelta(days=1):
            blocks.append([])  # a missing date is unknown, so nothing carries across it
        block = blocks[-1]
        if block and block[-1].state is runs[0].state:  # the state carries on past midnight
            block[-1] = replace(block[-1], end=runs[0].end)
            runs = runs[1:]
        block.extend(runs)
        previous = day
    return blocks


def _transition(before: _Run, after: _Run) -> Transition:
    return Transition(as_kyiv(after.start), _KIND_BY_STATE[after.state], before.state, after.state)


def _boundaries(blocks: list[list[_Run]]) -> Iterator[tuple[_Run, _Run]]:
    # Only boundaries inside a block: the first run's start is not a change we saw.
    for runs in blocks:
        yield from pairwise(runs)


def transitions(days: Mapping[date, str], *, after: datetime | None = None) -> list[Transition]:
    """All state changes over the published days in time order; with ``after``, only those strictly after it."""
    cutoff = None if after is None else as_utc(after)
    return [
        _transition(before, run)
        for before, run in _boundaries(_blocks(days))
        if cutoff is None or run.start > cutoff
    ]


def plan_reminders(
    days: Mapping[date, str], *, leads: Mapping[TransitionKind, timedelta], now: datetime
) -> list[Reminder]:
    """One reminder per transition whose kind has a lead and whose due time is not yet past, by due time."""
    if any(lead < timedelta(0) for lead in leads.values()):
        raise ValueError(f"negative lead in {dict(leads)!r}")
    cutoff = as_utc(now)
    planned: list[tuple[datetime, Reminder]] = []
    for before, run in _boundaries(_blocks(days)):
        lead = leads.get(_KIND_BY_STATE[run.state])
        if lead is None:
            continue
        due = run.start - lead  # in UTC: real elapsed time across a DST jump
        if due >= cutoff:  # a reminder whose moment has passed is dropped, never sent late
            planned.append((due, Reminder(as_kyiv(due), lead, _transition(before, run))))
    planned.sort(key=lambda item: item[0])  # stable: equal due times keep transition order
    return [reminder for _, reminder in planned]


def current_state(days: Mapping[date, str], now: datetime) -> CurrentState:
    """The state at ``now``, when its run began and ends, and the next change and outage."""
    moment = as_utc(now)
    blocks = _blocks(days)
    next_outage = next(
        (
            _transition(before, run)
            for before, run in _boundaries(blocks)
            if run.state is Slot.OFF and run.start > moment
        ),
        None,
    )
    for runs in blocks:
        for position, run in enumerate(runs):
            if run.start <= moment < run.end:
                since = as_kyiv(run.start) if position > 0 else None
                following = runs[position + 1] if position + 1 < len(runs) else None
                next_change = _transition(run, following) if following else None
                until = next_change.at if next_change else None
                return CurrentState(as_kyiv(moment), run.state, since, until, next_change, next_outage)
    return CurrentState(as_kyiv(moment), None, None, None, None, next_outage)


def format_duration_parts(delta: timedelta) -> tuple[int, int]:
    """``(hours, minutes)`` of a non-negative duration, rounded down to whole minutes."""
    if delta < timedelta(0):
        raise ValueError(f"negative duration {delta!r}")
    hours, minutes = divmod(delta // timedelta(minutes=1), 60)
    return hours, minutes
