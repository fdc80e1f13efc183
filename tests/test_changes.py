"""The change model: slot diffs and the detect_changes rules (rollover, first run, DST)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

import pytest

from common.changes import EventKind, ScheduleEvent, SlotDiff, detect_changes, diff_slots
from common.schedule import RegionSchedule, Slot

D0, D1, D2, D3 = date(2026, 1, 14), date(2026, 1, 15), date(2026, 1, 16), date(2026, 1, 17)
ON, OFF, MAYBE = "+" * 48, "-" * 48, "?" * 48
EVENING_OFF = "+" * 36 + "-" * 12  # 18:00-24:00 off
AT = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)


def schedule(days: Mapping[date, Mapping[str, str]], *, updated: datetime = AT) -> RegionSchedule:
    groups = {group for day in days.values() for group in day}
    return RegionSchedule(region="kem", updated=updated, groups={g: g for g in groups}, days=days)


def event(kind: EventKind, group: str, day: date, old: str | None, new: str | None) -> ScheduleEvent:
    return ScheduleEvent(kind, "kem", group, day, old, new)


# --- diff_slots ------------------------------------------------------------------------------------


def test_diff_slots_merges_runs_with_the_same_transition() -> None:
    old = "+" * 48
    new = "+" * 10 + "-" * 4 + "+" * 34  # 05:00-07:00 off
    assert diff_slots(old, new) == [SlotDiff(10, 14, Slot.ON, Slot.OFF)]


def test_diff_slots_splits_where_the_transition_differs_or_a_slot_is_equal() -> None:
    old = "-?" + "+" * 46
    new = "+-" + "+" * 45 + "-"
    assert diff_slots(old, new) == [
        SlotDiff(0, 1, Slot.OFF, Slot.ON),
        SlotDiff(1, 2, Slot.MAYBE, Slot.OFF),
        SlotDiff(47, 48, Slot.ON, Slot.OFF),  # the last half hour, 23:30-24:00
    ]
    gap = "-" + "+" + "-" + "+" * 45
    assert diff_slots(ON, gap) == [SlotDiff(0, 1, Slot.ON, Slot.OFF), SlotDiff(2, 3, Slot.ON, Slot.OFF)]


def test_diff_slots_of_equal_days_is_empty_and_bad_input_is_refused() -> None:
    assert diff_slots(EVENING_OFF, EVENING_OFF) == []
    with pytest.raises(ValueError, match="old is not a 48-slot"):
        diff_slots("+" * 24, ON)
    with pytest.raises(ValueError, match="new is not a 48-slot"):
        diff_slots(ON, "x" * 48)


def test_event_diff_only_for_changed_and_shape_is_checked() -> None:
    assert event(EventKind.CHANGED, "GPV1.1", D1, ON, EVENING_OFF).diff == [
        SlotDiff(36, 48, Slot.ON, Slot.OFF)
    ]
    assert event(EventKind.PUBLISHED, "GPV1.1", D1, None, EVENING_OFF).diff == []
    with pytest.raises(ValueError, match="a removed event cannot"):
        event(EventKind.REMOVED, "GPV1.1", D1, None, ON)


# --- detect_changes --------------------------------------------------------------------------------


def test_changed_day_is_reported() -> None:
    baseline = {("GPV1.1", D1): ON, ("GPV1.2", D1): ON}
    events, current = detect_changes(baseline, schedule({D1: {"GPV1.1": EVENING_OFF, "GPV1.2": ON}}), D1)
    assert events == [event(EventKind.CHANGED, "GPV1.1", D1, ON, EVENING_OFF)]
    assert current == {("GPV1.1", D1): EVENING_OFF, ("GPV1.2", D1): ON}


def test_tomorrow_appearing_is_published() -> None:
    baseline = {("GPV1.1", D1): ON}
    events, current = detect_changes(baseline, schedule({D1: {"GPV1.1": ON}, D2: {"GPV1.1": OFF}}), D1)
    assert events == [event(EventKind.PUBLISHED, "GPV1.1", D2, None, OFF)]
    assert current == {("GPV1.1", D1): ON, ("GPV1.1", D2): OFF}


def test_current_day_vanishing_is_removed() -> None:
    baseline = {("GPV1.1", D1): OFF, ("GPV1.1", D2): OFF}
    events, current = detect_changes(baseline, schedule({D2: {"GPV1.1": OFF}}), D1)
    assert events == [event(EventKind.REMOVED, "GPV1.1", D1, OFF, None)]
    assert current == {("GPV1.1", D2): OFF}


def test_first_run_records_without_events() -> None:
    events, current = detect_changes(None, schedule({D1: {"GPV1.1": OFF}, D2: {"GPV1.1": ON}}), D1)
    assert events == []
    assert current == {("GPV1.1", D1): OFF, ("GPV1.1", D2): ON}


def test_empty_but_checked_baseline_reports_publication() -> None:
    # Checked before with nothing current (e.g. just after midnight): a new day is news, not a first run.
    events, _ = detect_changes({}, schedule({D1: {"GPV1.1": OFF}}), D1)
    assert events == [event(EventKind.PUBLISHED, "GPV1.1", D1, None, OFF)]


def test_midnight_rollover_when_the_page_already_moved_on() -> None:
    # Baseline from the evening of D0; it is now D1 and the page moved on: D0 gone, D2 new, D1 unchanged.
    baseline = {("GPV1.1", D0): OFF, ("GPV1.1", D1): EVENING_OFF}
    events, current = detect_changes(
        baseline, schedule({D1: {"GPV1.1": EVENING_OFF}, D2: {"GPV1.1": ON}}), D1
    )
    assert events == [event(EventKind.PUBLISHED, "GPV1.1", D2, None, ON)]  # D2 is new; D0 is not "removed"
    assert current == {("GPV1.1", D1): EVENING_OFF, ("GPV1.1", D2): ON}


def test_midnight_rollover_before_the_page_moved_on() -> None:
    # Baseline from the evening of D1; it is now D2 and the page still shows D1 and D2.
    baseline = {("GPV1.1", D1): EVENING_OFF, ("GPV1.1", D2): ON}
    page = schedule({D1: {"GPV1.1": OFF}, D2: {"GPV1.1": ON}})  # even a changed past day is no news
    events, current = detect_changes(baseline, page, D2)
    assert events == []
    assert current == {("GPV1.1", D2): ON}  # the past day is not kept
    # Later the page moves on: D1 disappears silently, D3 is published.
    events, _ = detect_changes(current, schedule({D2: {"GPV1.1": ON}, D3: {"GPV1.1": OFF}}), D2)
    assert events == [event(EventKind.PUBLISHED, "GPV1.1", D3, None, OFF)]


@pytest.mark.parametrize("dst_day", [date(2026, 3, 29), date(2026, 10, 25)])
def test_dst_days_with_identical_slots_are_no_change(dst_day: date) -> None:
    slots = "+" * 6 + "-" * 6 + "+" * 36  # an outage across the 03:00/04:00 clock change
    baseline = {("GPV1.1", dst_day): slots, ("GPV1.1", dst_day + timedelta(days=1)): ON}
    page = schedule({dst_day: {"GPV1.1": slots}, dst_day + timedelta(days=1): {"GPV1.1": ON}})
    events, current = detect_changes(baseline, page, dst_day)
    assert events == []
    assert current == baseline


def test_group_added_and_removed() -> None:
    baseline = {("GPV1.1", D1): ON, ("GPV2.1", D1): OFF}
    events, _ = detect_changes(baseline, schedule({D1: {"GPV1.1": ON, "GPV10.1": MAYBE}}), D1)
    assert events == [
        event(EventKind.REMOVED, "GPV2.1", D1, OFF, None),
        event(EventKind.PUBLISHED, "GPV10.1", D1, None, MAYBE),  # natural group order: 2 before 10
    ]


def test_update_time_alone_is_no_change() -> None:
    page = {D1: {"GPV1.1": OFF}}
    _, baseline = detect_changes(None, schedule(page, updated=AT), D1)
    events, _ = detect_changes(baseline, schedule(page, updated=AT + timedelta(hours=2)), D1)
    assert events == []


def test_events_sorted_by_day_then_group() -> None:
    baseline = {("GPV2.1", D2): ON, ("GPV1.1", D2): ON, ("GPV2.1", D1): ON}
    page = schedule({D1: {"GPV2.1": OFF, "GPV1.1": OFF}, D2: {"GPV2.1": OFF, "GPV1.1": OFF}})
    events, _ = detect_changes(baseline, page, D1)
    assert [(e.day, e.group, e.kind) for e in events] == [
        (D1, "GPV1.1", EventKind.PUBLISHED),
        (D1, "GPV2.1", EventKind.CHANGED),
        (D2, "GPV1.1", EventKind.CHANGED),
        (D2, "GPV2.1", EventKind.CHANGED),
    ]


def test_schedule_without_region_is_refused() -> None:
    with pytest.raises(ValueError, match="without a region"):
        detect_changes({}, RegionSchedule(region=None, updated=None), D1)
