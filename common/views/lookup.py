"""Finding a region's schedule and a typed group, with the answer to give when there is none."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from common.i18n import Catalog
from common.render.text import region_name
from common.schedule import resolve_group
from common.source import Snapshot, SourceUnavailable
from common.views.echo import echo


class SnapshotSource(Protocol):
    """Where the views read schedules: the bots' cached source (never a forced scrape)."""

    async def get(self, region: str) -> Snapshot | None: ...


class Problem(StrEnum):
    UNAVAILABLE = "unavailable"  # loading failed and nothing was loaded before
    NO_DATA = "no_data"  # nothing published yet
    UNKNOWN_GROUP = "unknown_group"  # typed wrong, or an outdated button


@dataclass(frozen=True, slots=True)
class Notice:
    """The answer in place of a schedule: why there is none, as plain text for the user."""

    problem: Problem
    text: str


@dataclass(frozen=True, slots=True)
class GroupChoice:
    region: str
    group: str  # the schedule's key, e.g. ``GPV3.2``


async def load_snapshot(source: SnapshotSource, region: str, t: Catalog) -> Snapshot | Notice:
    try:
        snapshot = await source.get(region)
    except SourceUnavailable:
        return Notice(Problem.UNAVAILABLE, t("bot.unavailable"))
    if snapshot is None:
        return Notice(Problem.NO_DATA, t("bot.no_data_yet"))
    return snapshot


def preferred_regions(subscribed: Iterable[str], configured: Sequence[str]) -> list[str]:
    """The configured regions, those of the chat's subscriptions first (a chat in Dnipro means Dnipro's 3.2)."""
    own = [region for region in dict.fromkeys(subscribed) if region in configured]
    return own + [region for region in configured if region not in own]


async def find_group(
    source: SnapshotSource, text: str, regions: Sequence[str], t: Catalog
) -> GroupChoice | Notice:
    """The first of ``regions`` that has the typed group (``3.2``, ``GPV3.2``, ``Черга 3.2``; ``kem:3.2``
    names the region).

    Regions without data are passed over; when no region has the group, the notice lists the valid ones.
    """
    region, colon, rest = text.partition(":")
    if colon and region.strip() in regions:  # "kem:3.2", as a multi-region option carries it
        regions, text = [region.strip()], rest
    valid: list[str] = []
    first_problem: Notice | None = None
    for region in regions:
        snapshot = await load_snapshot(source, region, t)
        if isinstance(snapshot, Notice):
            first_problem = first_problem or snapshot
            continue
        try:
            return GroupChoice(region, resolve_group(snapshot.schedule, text))
        except ValueError:
            valid += snapshot.schedule.sorted_groups()
    if first_problem is not None and not valid:
        return first_problem
    return unknown_group(text, valid, t)


@dataclass(frozen=True, slots=True)
class GroupOption:
    """A group offered while the user types: ``label`` to show (``Черга 3.2``), ``text`` to type back."""

    region: str
    group: str
    label: str
    text: str


async def matching_groups(
    source: SnapshotSource, typed: str, regions: Sequence[str], t: Catalog, *, limit: int
) -> list[GroupOption]:
    """The groups of ``regions`` whose number contains what was typed (``3.``, ``GPV3``, ``Черга 3``), at
    most ``limit``: those starting with it first, then regions in order, groups in natural order. With
    several regions the options name their region, and their ``text`` carries it (``kem:3.2``) for
    :func:`find_group` to take back."""
    wanted = _bare_group(typed)
    found: list[tuple[bool, int, GroupOption]] = []
    for region in regions:
        snapshot = await load_snapshot(source, region, t)
        if isinstance(snapshot, Notice):
            continue
        for group in snapshot.schedule.sorted_groups():
            bare = group.removeprefix("GPV")
            if wanted not in bare.upper():
                continue
            label = snapshot.schedule.group_name(group)
            option = (
                GroupOption(region, group, f"{region_name(region, t.lang)}: {label}", f"{region}:{bare}")
                if len(regions) > 1
                else GroupOption(region, group, label, bare)
            )
            found.append((not bare.upper().startswith(wanted), len(found), option))
    return [option for _, _, option in sorted(found, key=lambda item: item[:2])[:limit]]


def _bare_group(text: str) -> str:
    return " ".join(text.split()).upper().removeprefix("ЧЕРГА").removeprefix("GPV").strip()


def unknown_group(text: str, valid: Iterable[str], t: Catalog) -> Notice:
    """ "Unknown group «…»" with the typed text made safe to echo, and the groups there are."""
    shown = ", ".join(dict.fromkeys(group.removeprefix("GPV") for group in valid))
    return Notice(Problem.UNKNOWN_GROUP, t("bot.unknown_group", text=echo(text), valid=shown))
