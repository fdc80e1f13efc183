"""Reminder planning: transitions, reminders and the current state, with DST days at the centre."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest

from common.clock import KYIV
from common.reminders import (
    CurrentState,
    Transition,
    TransitionKind,
    current_state,
    elapsed,
    format_duration_parts,
    plan_reminders,
    slot_start,
    transitions,
)
from common.schedule import SLOTS_PER_DAY, Slot
from tests.known import known

OFF = TransitionKind.POWER_OFF
ON = TransitionKind.POWER_ON
MAYBE = TransitionKind.MAYBE_START
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)

MON, TUE, WED = date(2026, 5, 11), date(2026, 5, 12), date(2026, 5, 13)  # summer time, no jump
SPRING = date(2026, 3, 29)  # 03:00 -> 04:00, 23 hours
FALL = date(2026, 10, 25)  # 04:00 -> 03:00, 25 hours


def day(*spans: tuple[float, float, str]) -> str:
    """A day with power on, each (from hour, to hour, state) span painted over it."""
    slots = [Slot.ON.value] * SLOTS_PER_DAY
    for start, end, state in spans:
        slots[int(start * 2) : int(end * 2)] = state * int((end - start) * 2)
    return "".join(slots)


def kyiv(on: date, hour: int, minute: int = 0) -> datetime:
    """A Kyiv wall time; only for times that exist exactly once."""
    return datetime(on.year, on.month, on.day, hour, minute, tzinfo=KYIV)


def utc(on: date, hour: int, minute: int = 0) -> datetime:
    return datetime(on.year, on.month, on.day, hour, minute, tzinfo=UTC)


def summary(changes: Iterable[Transition]) -> list[tuple[str, TransitionKind]]:
    # isoformat shows the offset, so it also checks each instant is normalised.
    return [(change.at.isoformat(), change.kind) for change in changes]


def slot_at(days: Mapping[date, str], now: datetime) -> str:
    """The published state at ``now``, read off the wall clock independently of the module."""
    wall = now.astimezone(KYIV)
    # The second pass of the repeated fall hour belongs to the 03:30 slot (first pass, fold=0).
    index = 7 if wall.fold else (wall.hour * 60 + wall.minute) // 30
    return days[wall.date()][index]


# --- slot_start ----------------------------------------------------------------------------------


def test_slot_start_on_a_plain_day() -> None:
    assert slot_start(MON, 0).isoformat() == "2026-05-11T00:00:00+03:00"
    assert slot_start(MON, 13).isoformat() == "2026-05-11T06:30:00+03:00"
    assert slot_start(MON, 48).isoformat() == slot_start(TUE, 0).isoformat()
    assert slot_start(MON, 0).tzinfo is KYIV


def test_slot_start_maps_the_skipped_spring_hour_to_the_jump() -> None:
    assert slot_start(SPRING, 5).isoformat() == "2026-03-29T02:30:00+02:00"
    for index in (6, 7, 8):
        assert slot_start(SPRING, index).isoformat() == "2026-03-29T04:00:00+03:00"
    assert elapsed(slot_start(SPRING, 0), slot_start(SPRING, 48)) == timedelta(hours=23)


def test_slot_start_uses_the_first_pass_of_the_repeated_fall_hour() -> None:
    starts = [slot_start(FALL, index).isoformat() for index in (6, 7, 8)]
    assert starts == ["2026-10-25T03:00:00+03:00", "2026-10-25T03:30:00+03:00", "2026-10-25T04:00:00+02:00"]
    assert elapsed(slot_start(FALL, 7), slot_start(FALL, 8)) == timedelta(minutes=90)
    assert elapsed(slot_start(FALL, 0), slot_start(FALL, 48)) == timedelta(hours=25)


@pytest.mark.parametrize("index", [-1, 49])
def test_slot_start_rejects_an_index_outside_the_day(index: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        slot_start(MON, index)


# --- transitions ---------------------------------------------------------------------------------


def test_transitions_on_a_simple_day() -> None:
    changes = transitions({MON: day((5, 8, "-"), (12, 13, "?"))})
    assert [(c.at.isoformat(), c.kind, c.before, c.after) for c in changes] == [
        ("2026-05-11T05:00:00+03:00", OFF, Slot.ON, Slot.OFF),
        ("2026-05-11T08:00:00+03:00", ON, Slot.OFF, Slot.ON),
        ("2026-05-11T12:00:00+03:00", MAYBE, Slot.ON, Slot.MAYBE),
        ("2026-05-11T13:00:00+03:00", ON, Slot.MAYBE, Slot.ON),
    ]


def test_an_outage_turning_into_a_possible_one_is_a_maybe_start() -> None:
    changes = transitions({MON: day((5, 8, "-"), (8, 9, "?"))})
    assert [(c.kind, c.before) for c in changes] == [(OFF, Slot.ON), (MAYBE, Slot.OFF), (ON, Slot.MAYBE)]


@pytest.mark.parametrize(
    ("slots", "expected"),
    [
        ("-+" + "+" * 46, [("00:30", ON)]),  # the opening '-' began before the data: not a change
        ("+-" + "+" * 46, [("00:30", OFF), ("01:00", ON)]),
        ("+" * 47 + "-", [("23:30", OFF)]),
    ],
)
def test_transitions_have_half_hour_precision(slots: str, expected: list[tuple[str, TransitionKind]]) -> None:
    assert [(c.at.strftime("%H:%M"), c.kind) for c in transitions({MON: slots})] == expected


def test_a_state_carrying_past_midnight_is_not_a_transition() -> None:
    changes = transitions({TUE: day((0, 2, "-")), MON: day((22, 24, "-"))})  # any key order
    assert summary(changes) == [("2026-05-11T22:00:00+03:00", OFF), ("2026-05-12T02:00:00+03:00", ON)]


def test_a_change_at_midnight_is_a_transition() -> None:
    changes = transitions({MON: day((22, 24, "-")), TUE: day()})
    assert summary(changes) == [("2026-05-11T22:00:00+03:00", OFF), ("2026-05-12T00:00:00+03:00", ON)]


def test_no_transition_across_a_missing_date() -> None:
    # Monday ends without power and Wednesday starts with it, but Tuesday is unknown.
    changes = transitions({MON: day((22, 24, "-")), WED: day((3, 4, "-"))})
    assert summary(changes) == [
        ("2026-05-11T22:00:00+03:00", OFF),
        ("2026-05-13T03:00:00+03:00", OFF),
        ("2026-05-13T04:00:00+03:00", ON),
    ]


def test_after_keeps_only_transitions_strictly_later() -> None:
    days = {MON: day((5, 8, "-"), (12, 13, "-"))}
    assert [c.at.hour for c in transitions(days, after=kyiv(MON, 8))] == [12, 13]
    assert [c.at.hour for c in transitions(days, after=utc(MON, 4, 59))] == [8, 12, 13]  # 07:59 in Kyiv
    assert transitions(days, after=kyiv(MON, 13)) == []


def test_a_malformed_day_is_rejected() -> None:
    with pytest.raises(ValueError, match="48-slot"):
        transitions({MON: "+-x" * 16})
    with pytest.raises(ValueError, match="48-slot"):
        current_state({MON: list(day())}, kyiv(MON, 0))  # type: ignore[dict-item]  # the wrong type on purpose


@pytest.mark.parametrize("on_day", [SPRING, FALL])
def test_outage_over_a_dst_night_lasts_real_hours(on_day: date) -> None:
    off, on = transitions({on_day - DAY: day(), on_day: day((0, 6, "-"))})
    assert (off.kind, on.kind) == (OFF, ON)
    real = on.at.astimezone(UTC) - off.at.astimezone(UTC)
    assert real == elapsed(off.at, on.at) == timedelta(hours=5 if on_day == SPRING else 7)


def test_the_skipped_spring_hour_never_takes_effect() -> None:
    # An outage published only for 03:00-04:00, which the clock skips, never happens.
    assert transitions({SPRING: day((3, 4, "-"))}) == []
    # Two different states in the skipped hour produce no transitions at the jump either.
    changes = transitions({SPRING: day((3, 3.5, "-"), (3.5, 4, "?"), (4, 5, "-"))})
    assert summary(changes) == [("2026-03-29T04:00:00+03:00", OFF), ("2026-03-29T05:00:00+03:00", ON)]
    # An outage running into the skipped hour ends when the clock jumps: one real hour.
    off, on = transitions({SPRING: day((2, 3.5, "-"))})
    assert summary([off, on]) == [("2026-03-29T02:00:00+02:00", OFF), ("2026-03-29T04:00:00+03:00", ON)]
    assert elapsed(off.at, on.at) == timedelta(hours=1)


def test_the_repeated_fall_hour_keeps_the_state_from_before_the_clocks_go_back() -> None:
    off, on = transitions({FALL: day((3.5, 4, "-"))})
    assert summary([off, on]) == [("2026-10-25T03:30:00+03:00", OFF), ("2026-10-25T04:00:00+02:00", ON)]
    assert elapsed(off.at, on.at) == timedelta(minutes=90)


@pytest.mark.parametrize(("on_day", "count"), [(SPRING, 141), (FALL, 143)])
def test_transitions_over_dst_days_are_strictly_ordered_and_normalised(on_day: date, count: int) -> None:
    alternating = "+-" * (SLOTS_PER_DAY // 2)
    changes = transitions({on_day - DAY: alternating, on_day: alternating, on_day + DAY: alternating})
    # 144 slots give 143 changes; spring drops the two slots the clock skips, leaving 142.
    assert len(changes) == count
    assert all(elapsed(a.at, b.at) > timedelta(0) for a, b in pairwise(changes))
    assert all(a.after is b.before and b.before is not b.after for a, b in pairwise(changes))
    for change in changes:
        normal = change.at.astimezone(UTC).astimezone(KYIV)
        assert change.at.tzinfo is KYIV
        assert (change.at.isoformat(), change.at.fold) == (normal.isoformat(), normal.fold)


# --- plan_reminders ------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "hours"), [(OFF, (5, 12)), (ON, (8, 13))])
@pytest.mark.parametrize("minutes", [5, 15, 60])
def test_reminders_for_one_kind(kind: TransitionKind, hours: tuple[int, int], minutes: int) -> None:
    lead = timedelta(minutes=minutes)
    days = {MON: day((5, 8, "-"), (12, 13, "-"))}
    reminders = plan_reminders(days, leads={kind: lead}, now=kyiv(MON, 0))
    assert [r.transition.at.hour for r in reminders] == list(hours)
    assert all(r.transition.kind is kind and r.lead == lead for r in reminders)
    assert [r.due.isoformat() for r in reminders] == [(kyiv(MON, h) - lead).isoformat() for h in hours]


def test_reminders_of_both_kinds_are_sorted_by_due_time() -> None:
    days = {MON: day((5, 8, "-"), (8.5, 10, "-"))}
    reminders = plan_reminders(days, leads={OFF: 60 * MINUTE, ON: 5 * MINUTE}, now=kyiv(MON, 0))
    assert [(r.due.strftime("%H:%M"), r.transition.kind) for r in reminders] == [
        ("04:00", OFF),
        ("07:30", OFF),  # for 08:30, due before the 08:00 power-on's 07:55 reminder
        ("07:55", ON),
        ("09:55", ON),
    ]


def test_kinds_without_a_lead_get_no_reminder() -> None:
    days = {MON: day((5, 8, "?"))}
    assert plan_reminders(days, leads={OFF: 15 * MINUTE}, now=kyiv(MON, 0)) == []
    [reminder] = plan_reminders(days, leads={MAYBE: 15 * MINUTE}, now=kyiv(MON, 0))
    assert reminder.transition.kind is MAYBE


def test_reminders_already_due_are_dropped_not_sent_late() -> None:
    days = {MON: day((5, 8, "-"), (12, 13, "-"))}
    leads = {OFF: 15 * MINUTE}
    # At 04:50 the 05:00 outage is still ahead, but its 04:45 reminder has passed.
    late = plan_reminders(days, leads=leads, now=kyiv(MON, 4, 50))
    assert [r.due.strftime("%H:%M") for r in late] == ["11:45"]
    on_time = plan_reminders(days, leads=leads, now=kyiv(MON, 4, 45))  # due == now is still on time
    assert [r.due.strftime("%H:%M") for r in on_time] == ["04:45", "11:45"]


def test_a_lead_can_reach_back_into_the_previous_day() -> None:
    days = {MON: day(), TUE: day((0.5, 2, "-"))}
    [reminder] = plan_reminders(days, leads={OFF: 60 * MINUTE}, now=kyiv(MON, 12))
    assert reminder.due.isoformat() == "2026-05-11T23:30:00+03:00"


def test_spring_forward_lead_is_real_time() -> None:
    [reminder] = plan_reminders(
        {SPRING: day((5, 8, "-"))}, leads={OFF: 120 * MINUTE}, now=kyiv(SPRING - DAY, 0)
    )
    # 05:00+03:00 is 02:00 UTC; two real hours earlier is 00:00 UTC, which Kyiv shows as 02:00
    # (+02:00): three hours of wall clock, because 03:00-04:00 is skipped.
    assert reminder.transition.at.astimezone(UTC) == utc(SPRING, 2)
    assert reminder.due.astimezone(UTC) == utc(SPRING, 0)
    assert reminder.due.isoformat() == "2026-03-29T02:00:00+02:00"


def test_fall_back_lead_is_real_time() -> None:
    [reminder] = plan_reminders({FALL: day((5, 8, "-"))}, leads={OFF: 120 * MINUTE}, now=kyiv(FALL - DAY, 0))
    # 05:00+02:00 is 03:00 UTC; two real hours earlier is 01:00 UTC, the *second* 03:00 (+02:00).
    assert reminder.transition.at.astimezone(UTC) == utc(FALL, 3)
    assert reminder.due.astimezone(UTC) == utc(FALL, 1)
    assert reminder.due.isoformat() == "2026-10-25T03:00:00+02:00"
    assert reminder.due.fold == 1


def test_now_in_the_repeated_fall_hour_is_compared_as_an_instant() -> None:
    # The 04:00+02:00 outage with a 90-minute lead is due at 03:30+03:00 (00:30 UTC). At the second
    # 03:10 (01:10 UTC) that has passed, though a wall-clock comparison would call 03:30 later.
    second_pass = datetime(2026, 10, 25, 3, 10, tzinfo=KYIV, fold=1)
    days = {FALL: day((4, 6, "-"))}
    assert plan_reminders(days, leads={OFF: 90 * MINUTE}, now=second_pass) == []
    [reminder] = plan_reminders(days, leads={OFF: 30 * MINUTE}, now=second_pass)  # 01:30 UTC: ahead
    assert reminder.due.isoformat() == "2026-10-25T03:30:00+02:00"


@pytest.mark.parametrize("lead", [timedelta(0), -MINUTE])
def test_leads_must_not_be_negative(lead: timedelta) -> None:
    days = {MON: day((5, 8, "-"))}
    if lead:
        with pytest.raises(ValueError, match="negative lead"):
            plan_reminders(days, leads={OFF: lead}, now=kyiv(MON, 0))
    else:  # a zero lead reminds at the transition itself
        [reminder] = plan_reminders(days, leads={OFF: lead}, now=kyiv(MON, 5))
        assert reminder.due.isoformat() == reminder.transition.at.isoformat() == "2026-05-11T05:00:00+03:00"


# --- current_state -------------------------------------------------------------------------------

OUTAGES = {MON: day((5, 8, "-"), (18, 20, "-")), TUE: day((9, 11, "-"))}


def test_inside_an_outage() -> None:
    state = current_state(OUTAGES, kyiv(MON, 6, 15))
    assert state.state is Slot.OFF
    assert state.now.isoformat() == "2026-05-11T06:15:00+03:00"
    assert known(state.since).isoformat() == "2026-05-11T05:00:00+03:00"
    assert known(state.until).isoformat() == "2026-05-11T08:00:00+03:00"
    assert known(state.next_change).kind is ON
    assert known(state.next_change).at == state.until
    assert known(state.next_outage).at.isoformat() == "2026-05-11T18:00:00+03:00"


def test_power_on_with_the_next_outage_later_today() -> None:
    state = current_state(OUTAGES, kyiv(MON, 12))
    assert (state.state, known(state.since).hour, known(state.until).hour) == (Slot.ON, 8, 18)
    assert known(state.next_change).kind is OFF
    assert state.next_outage == state.next_change


def test_power_on_with_the_next_outage_tomorrow() -> None:
    state = current_state(OUTAGES, kyiv(MON, 21))
    assert state.state is Slot.ON
    assert known(state.since).isoformat() == "2026-05-11T20:00:00+03:00"
    assert known(state.until).isoformat() == "2026-05-12T09:00:00+03:00"  # the run carries over midnight
    assert known(state.next_outage).at.isoformat() == "2026-05-12T09:00:00+03:00"


def test_at_a_boundary_the_new_state_holds() -> None:
    now = kyiv(MON, 5)
    state = current_state(OUTAGES, now)
    assert state.state is Slot.OFF
    assert known(state.since).isoformat() == now.isoformat()
    assert known(state.next_change).at.hour == 8
    assert known(state.next_outage).at.hour == 18  # the outage starting at `now` is not the next one


@pytest.mark.parametrize(
    ("now", "next_outage"),
    [(kyiv(MON, 0) - MINUTE, "2026-05-11T05:00:00+03:00"), (kyiv(WED, 0), None), (kyiv(WED, 9), None)],
)
def test_outside_the_published_days_the_state_is_unknown(now: datetime, next_outage: str | None) -> None:
    state = current_state(OUTAGES, now)
    assert (state.state, state.since, state.until, state.next_change) == (None, None, None, None)
    assert (state.next_outage.at.isoformat() if state.next_outage else None) == next_outage


def test_runs_at_the_edges_of_the_data_have_unknown_ends() -> None:
    first = current_state(OUTAGES, kyiv(MON, 1))
    assert (first.state, first.since, known(first.until).hour) == (Slot.ON, None, 5)  # began before the data
    last = current_state(OUTAGES, kyiv(TUE, 23))
    assert (last.state, known(last.since).hour) == (Slot.ON, 11)
    assert (last.until, last.next_change, last.next_outage) == (None, None, None)  # lasts past the data


def test_a_missing_date_ends_the_known_run() -> None:
    days = {MON: day((22, 24, "-")), WED: day((0, 3, "-"), (10, 11, "-"))}
    late = current_state(days, kyiv(MON, 23))
    assert (late.state, late.until, late.next_change) == (Slot.OFF, None, None)
    assert known(late.next_outage).at.isoformat() == "2026-05-13T10:00:00+03:00"  # not Wednesday 00:00
    assert current_state(days, kyiv(TUE, 12)).state is None
    early = current_state(days, kyiv(WED, 1))
    assert (early.state, early.since, known(early.until).hour) == (Slot.OFF, None, 3)


def test_now_may_be_any_aware_datetime() -> None:
    state = current_state(OUTAGES, utc(MON, 3, 15))
    assert state.state is Slot.OFF
    assert state.now.tzinfo is KYIV
    assert state.now.isoformat() == "2026-05-11T06:15:00+03:00"


def test_a_naive_now_is_rejected() -> None:
    naive = datetime(2026, 5, 11, 6)
    with pytest.raises(ValueError, match="naive"):
        current_state(OUTAGES, naive)
    with pytest.raises(ValueError, match="naive"):
        plan_reminders(OUTAGES, leads={OFF: MINUTE}, now=naive)


def test_time_left_across_spring_forward_is_real_time() -> None:
    state = current_state({SPRING: day((5, 8, "-"))}, kyiv(SPRING, 1))
    # 01:00 to 05:00 on the wall clock, but only three real hours pass.
    assert format_duration_parts(elapsed(state.now, known(state.until))) == (3, 0)


# --- format_duration_parts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delta", "parts"),
    [
        (timedelta(0), (0, 0)),
        (timedelta(seconds=59), (0, 0)),
        (timedelta(hours=2, minutes=10, seconds=59), (2, 10)),
        (timedelta(days=1, hours=2, minutes=5), (26, 5)),
    ],
)
def test_format_duration_parts_rounds_down_to_minutes(delta: timedelta, parts: tuple[int, int]) -> None:
    assert format_duration_parts(delta) == parts


def test_format_duration_parts_rejects_a_negative_duration() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration_parts(-MINUTE)


# --- a simulated clock ---------------------------------------------------------------------------


def check_invariants(days: Mapping[date, str], now: datetime) -> CurrentState:
    """The current state at ``now`` and the promises it makes about the future."""
    state = current_state(days, now)
    assert state.state == slot_at(days, now)
    assert state.since is None or elapsed(state.since, now) >= timedelta(0)
    assert state.until == (state.next_change.at if state.next_change else None)
    assert state.next_change is None or elapsed(now, state.next_change.at) > timedelta(0)
    assert state.next_outage is None or elapsed(now, state.next_outage.at) > timedelta(0)
    return state


def test_a_minute_by_minute_clock_over_two_days() -> None:
    days = {MON: day((5, 8, "-"), (12, 12.5, "?"), (23.5, 24, "-")), TUE: day((0, 1, "-"), (9, 11, "-"))}
    leads = {OFF: 15 * MINUTE, ON: 5 * MINUTE}
    start = slot_start(MON, 0).astimezone(UTC)
    planned = plan_reminders(days, leads=leads, now=start)
    sent = []
    for step in range(2 * 24 * 60):
        now = start + step * MINUTE  # UTC arithmetic: real minutes
        state = check_invariants(days, now)
        assert (state.next_change is None) == (now >= utc(TUE, 8))  # 11:00 Kyiv: the last change
        # A bot sending what falls due within this minute sends each reminder exactly once.
        sent += [r for r in plan_reminders(days, leads=leads, now=now) if elapsed(now, r.due) < MINUTE]
    assert sent == planned
    assert len(sent) == 7


@pytest.mark.parametrize("on_day", [SPRING, FALL])
def test_a_minute_by_minute_clock_over_a_dst_weekend(on_day: date) -> None:
    pattern = day((2.5, 3.5, "-"), (3.5, 4.5, "?"), (6, 7, "-"))
    days = {on_day - DAY: pattern, on_day: pattern}
    changes = {change.at.astimezone(UTC): change for change in transitions(days)}
    start, end = slot_start(on_day - DAY, 0), slot_start(on_day, SLOTS_PER_DAY)
    minutes = elapsed(start, end) // MINUTE
    assert minutes == (47 if on_day == SPRING else 49) * 60
    previous = check_invariants(days, start.astimezone(UTC))
    for step in range(1, minutes):
        now = start.astimezone(UTC) + step * MINUTE
        state = check_invariants(days, now)
        # The state moves only when a transition is crossed, and then to that transition's state.
        crossed = changes.get(now)
        assert (state.state != previous.state) == (crossed is not None)
        assert crossed is None or crossed.after is state.state
        previous = state
