"""The pure parts of the pickers (/groups, /address): pages of a long list for Discord's select menus,
which hold 25 options, and the custom_ids the pickers' components carry their state in, so that a menu
works after a restart (the Cogs handle them as DynamicItems). Nothing here talks to Discord."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

SELECT_LIMIT = 25  # options of one select menu

_REGION = r"(?P<region>[a-z_]{1,20})"
_GROUP = r"(?P<group>[^:]{1,40})"
# "gr": the region select of /groups; its options' values are the regions.
REGION_SELECT = re.compile(r"gr")
# "gs:kem:1": the group select showing page 1 (counted from 0) of a region's groups.
GROUP_SELECT = re.compile(rf"gs:{_REGION}:(?P<page>\d{{1,3}})")
# "gp:kem:1": a Prev/Next button opening that page of the region's groups.
GROUP_PAGE = re.compile(rf"gp:{_REGION}:(?P<page>\d{{1,3}})")
# "ag:kem:GPV3.2": the button under an /address answer saving that group as the user's.
SAVE_GROUP = re.compile(rf"ag:{_REGION}:{_GROUP}")
# "aa:5f0c...": the button under an /address answer saving the address found, named by a digest of it: an
# address may not fit the 100 characters of a custom_id (the Cog keeps the addresses it answered with).
SAVE_ADDRESS = re.compile(r"aa:(?P<token>[0-9a-f]{20})")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: its ``items``, its ``number`` (from 0) of ``count`` pages, and where it starts
    in the whole list (``start``, from 0) of ``total`` items."""

    items: tuple[T, ...]
    number: int
    count: int
    start: int
    total: int

    @property
    def has_previous(self) -> bool:
        return self.number > 0

    @property
    def has_next(self) -> bool:
        return self.number < self.count - 1


def page_of(items: Sequence[T], number: int, size: int = SELECT_LIMIT) -> Page[T]:
    """Page ``number`` of ``items`` cut into pages of ``size``; a number past either end gives the nearest
    page (a list shrunk since the menu was drawn), an empty list one empty page."""
    if size < 1:
        raise ValueError("a page holds at least one item")
    count = max(1, -(-len(items) // size))
    number = min(max(number, 0), count - 1)
    start = number * size
    return Page(tuple(items[start : start + size]), number, count, start, len(items))


def group_select_id(region: str, page: int) -> str:
    return f"gs:{region}:{page}"


def group_page_id(region: str, page: int) -> str:
    return f"gp:{region}:{page}"


def save_group_id(region: str, group: str) -> str:
    return f"ag:{region}:{group}"


def save_address_id(*parts: str) -> str:
    """The save button's custom_id for the address named by ``parts`` (region, settlement, street, house)."""
    return f"aa:{hashlib.sha256(chr(0).join(parts).encode()).hexdigest()[:20]}"
