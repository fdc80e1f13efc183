"""Address lookup: suggestions while a user types an address, and the group(s) of a house.

DTEK tells a street's houses and their groups through the page's AJAX call ``method=getHomeNum``. The
answers change rarely and every call counts towards the anti-bot limit, so they are cached for hours and
calls are rate-limited per region and overall; after a block the region is left alone for a while.
The same answer says whether an outage is in progress at each house, which changes by the hour: readers of
that ask for an answer no older than a few minutes (``max_age_seconds``), and the lookup asks again only
when its copy is older.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from functools import lru_cache
from typing import Any, Protocol

from aiolimiter import AsyncLimiter
from cachetools import TTLCache

from common.clock import KYIV
from common.dtek.errors import BlockedPageError, MalformedDataError

log = logging.getLogger(__name__)

STREET_WIDE = "-"  # DTEK's house key for the whole street

# --- suggestions ---------------------------------------------------------------------------------------

_APOSTROPHES = re.compile(r"['’ʼ‘`ʹ]")
# Type words DTEK writes before settlement and street names (with or without a dot); users may type them
# or not, so they take part in no comparison.
_TYPE_PREFIX = re.compile(
    r"^(?:(?:м|с|смт|сел|с-ще|селище|тг|с-т|вул|вулиця|просп|проспект|пров|провул|провулок|бульв|бул"
    r"|бульвар|пл|площа|майд|майдан|туп|тупик|узв|узвіз|наб|мікр|ж/м)(?:\.\s*|\s+))+"
)
_WORD_BREAK = re.compile(r"\W+")
# Names are short; a longer query matches nothing, so it is not worth folding.
_MAX_QUERY_CHARS = 200


@lru_cache(maxsize=65536)  # the same few thousand names are compared on every keystroke
def _fold(text: str) -> str:
    """``text`` as compared: case-folded, without apostrophes, type prefix or extra spaces."""
    text = _APOSTROPHES.sub("", unicodedata.normalize("NFKC", text).casefold())
    return _TYPE_PREFIX.sub("", " ".join(text.split()))


@lru_cache(maxsize=65536)
def _words(folded: str) -> tuple[str, ...]:
    return tuple(word for word in _WORD_BREAK.split(folded) if word)


def _rank(name: str, query: str, query_words: tuple[str, ...]) -> int | None:
    """How well the folded ``name`` matches (lower is better); None when it does not."""
    if name == query:
        return 0
    if name.startswith(query):
        return 1
    words = _words(name)
    if all(any(word.startswith(typed) for word in words) for typed in query_words):
        return 2
    if query in name:
        return 3
    return None


def search(candidates: Iterable[str], query: str, limit: int = 8) -> list[str]:
    """Up to ``limit`` of ``candidates`` (settlements or streets) matching what the user typed.

    Case, apostrophe variants and type prefixes ("м.", "вул."...) do not matter. Best first: the whole
    name, the start of the name, the start of a word for every typed word, then anywhere in the name;
    equal matches keep the candidates' order.
    """
    if limit <= 0 or len(query) > _MAX_QUERY_CHARS:
        return []
    folded = _fold(query)
    query_words = _words(folded)
    if not query_words:  # nothing but punctuation, emoji or a bare prefix
        return []
    ranked = []
    for index, name in enumerate(dict.fromkeys(candidates)):
        rank = _rank(_fold(name), folded, query_words)
        if rank is not None:
            ranked.append((rank, index, name))
    return [name for _, _, name in sorted(ranked)[:limit]]


# --- house lookup --------------------------------------------------------------------------------------


class OutageType(IntEnum):
    PLANNED = 1
    EMERGENCY = 2


@dataclass(frozen=True, slots=True)
class Outage:
    """An outage DTEK reports in progress at an address."""

    type: OutageType
    reason: str  # DTEK's wording, e.g. "Аварійні ремонтні роботи"
    start: datetime | None
    end: datetime | None

    @property
    def suspends_schedule(self) -> bool:
        """DTEK's "Екстренні відключення (Аварійне без застосування графіку ...)": the hourly schedule does
        not apply while it lasts, and DTEK's page hides it."""
        reason = self.reason.casefold()
        return "екстрен" in reason or "без застосування графік" in reason

    @property
    def key(self) -> str:
        """The outage in one comparable string: a change of any part is news."""
        when = [moment.isoformat() if moment else "" for moment in (self.start, self.end)]
        return "|".join([str(int(self.type)), self.reason, *when])


class OutageChange(StrEnum):
    """What changed at an address between two looks."""

    STARTED = "started"  # an outage (another one than before)
    RESCHEDULED = "rescheduled"  # the same outage, with a new expected end
    ENDED = "ended"  # DTEK no longer reports one


def outage_change(previous_key: str, outage: Outage | None) -> OutageChange | None:
    """How ``outage`` (None: none now) differs from the one last seen (its :attr:`Outage.key`, "" none)."""
    current_key = outage.key if outage else ""
    if current_key == previous_key:
        return None
    if outage is None:
        return OutageChange.ENDED
    if previous_key and previous_key.split("|")[:3] == current_key.split("|")[:3]:
        return OutageChange.RESCHEDULED
    return OutageChange.STARTED


@dataclass(frozen=True, slots=True)
class StreetAddress:
    """A house as DTEK names it: what a chat saves to hear of outages there."""

    region: str
    settlement: str
    street: str  # "" in a settlement without a street list
    house: str

    @property
    def street_key(self) -> tuple[str, str, str]:
        """What one ``getHomeNum`` call answers for: every house of the street."""
        return self.region, self.settlement, self.street

    def __str__(self) -> str:
        return ", ".join(part for part in (self.settlement, self.street, self.house) if part)


@dataclass(frozen=True)
class HouseInfo:
    house: str  # DTEK's key; STREET_WIDE when the answer covers the whole street
    groups: list[str]  # group keys as DTEK gives them ("GPV3.2"); empty: the house is on no schedule
    outage: Outage | None


@dataclass(frozen=True, slots=True)
class _Answer:
    at: float  # when DTEK gave it, on the lookup's clock
    houses: dict[str, HouseInfo]


class AjaxPoster(Protocol):
    """What the lookup needs of a ``DtekFetcher``."""

    async def post_ajax(self, region: str, form: Mapping[str, str]) -> dict[str, Any]: ...

    async def aclose(self) -> None: ...


class AddressLookup:
    """Which groups the houses of a street belong to, cached, without ever hammering DTEK.

    Per region one call at a time and at most one per ``region_interval_seconds``; overall at most
    ``max_calls`` per ``per_seconds``. After a block, the region's lookups fail at once for
    ``blocked_cooldown_seconds``: asking again would only prolong the block.
    """

    def __init__(
        self,
        poster: AjaxPoster,
        *,
        ttl_seconds: float = 6 * 3600,
        region_interval_seconds: float = 2.0,
        max_calls: int = 10,
        per_seconds: float = 60.0,
        blocked_cooldown_seconds: float = 30 * 60,
        cache_size: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._poster = poster
        self._cache: TTLCache[tuple[str, str, str], _Answer] = TTLCache(
            maxsize=cache_size, ttl=ttl_seconds, timer=clock
        )
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._region_limits: defaultdict[str, AsyncLimiter] = defaultdict(
            lambda: AsyncLimiter(1, region_interval_seconds)
        )
        self._overall_limit = AsyncLimiter(max_calls, per_seconds)
        self._blocked_cooldown = blocked_cooldown_seconds
        self._blocked_until: dict[str, float] = {}
        self._clock = clock

    async def houses(
        self, region: str, settlement: str, street: str, *, max_age_seconds: float | None = None
    ) -> dict[str, HouseInfo]:
        """House -> info for one street (``street`` is "" for a settlement without a street list), from a
        copy no older than ``max_age_seconds`` (by default any the cache holds)."""
        key = (region, settlement, street)
        answer = self._fresh(key, max_age_seconds)
        if answer is None:
            async with self._locks[region]:
                # Whoever waited here for the same street finds it cached now.
                answer = self._fresh(key, max_age_seconds)
                if answer is None:
                    houses = await self._ask(region, settlement, street)
                    answer = self._cache[key] = _Answer(self._clock(), houses)
        return dict(answer.houses)

    async def groups_for(
        self, region: str, settlement: str, street: str, house: str, *, max_age_seconds: float | None = None
    ) -> HouseInfo | None:
        """The house's info; the street-wide one when DTEK lists no such house; None when neither."""
        return house_info(
            await self.houses(region, settlement, street, max_age_seconds=max_age_seconds), house
        )

    def _fresh(self, key: tuple[str, str, str], max_age_seconds: float | None) -> _Answer | None:
        answer = self._cache.get(key)
        if answer is None or max_age_seconds is None or self._clock() - answer.at <= max_age_seconds:
            return answer
        return None

    async def aclose(self) -> None:
        """Closes the poster: the lookup owns the fetcher it is built from."""
        await self._poster.aclose()

    async def _ask(self, region: str, settlement: str, street: str) -> dict[str, HouseInfo]:
        wait = self._blocked_until.get(region, 0.0) - self._clock()
        if wait > 0:
            raise BlockedPageError(f"{region} blocked a recent lookup; not asking again for {wait:.0f} s")
        form = {
            "method": "getHomeNum",
            "data[0][name]": "city",
            "data[0][value]": settlement,
            "data[1][name]": "street",
            "data[1][value]": street,
        }
        async with self._region_limits[region], self._overall_limit:
            try:
                answer = await self._poster.post_ajax(region, form)
            except BlockedPageError:
                self._blocked_until[region] = self._clock() + self._blocked_cooldown
                raise
        return _houses(answer)


def house_info(houses: Mapping[str, HouseInfo], house: str) -> HouseInfo | None:
    """The house's info in a street's answer; the street-wide one when DTEK lists no such house; None when
    neither."""
    wanted = _house_key(house)
    found = houses.get(house) or next(
        (info for key, info in houses.items() if _house_key(key) == wanted), None
    )
    return found or houses.get(STREET_WIDE)


def _house_key(house: str) -> str:
    # "22 А" typed by a user is DTEK's "22а".
    return "".join(house.split()).casefold()


def _houses(answer: Mapping[str, Any]) -> dict[str, HouseInfo]:
    data = answer.get("data")
    if data is None or data == []:  # PHP writes an empty object as []
        return {}
    if not isinstance(data, dict):
        raise MalformedDataError("getHomeNum answer: data is not an object")
    return {house: _house(house, entry) for house, entry in data.items() if isinstance(entry, dict)}


def _house(house: str, entry: Mapping[str, Any]) -> HouseInfo:
    reasons = entry.get("sub_type_reason")
    groups = [g for g in reasons if isinstance(g, str) and g] if isinstance(reasons, list) else []
    return HouseInfo(house, groups, _outage(entry))


def _outage(entry: Mapping[str, Any]) -> Outage | None:
    raw_type = str(entry.get("type") or "").strip()
    if not raw_type:
        return None
    try:
        kind = OutageType(int(raw_type))
    except ValueError:
        log.warning("getHomeNum: unknown outage type %r ignored", raw_type)
        return None
    reason = str(entry.get("sub_type") or "").strip()
    return Outage(kind, reason, _when(entry.get("start_date")), _when(entry.get("end_date")))


def _when(value: Any) -> datetime | None:
    # DTEK writes "HH:MM DD.MM.YYYY", Kyiv time; an empty or odd value means "not known".
    try:
        return datetime.strptime(str(value or "").strip(), "%H:%M %d.%m.%Y").replace(tzinfo=KYIV)
    except ValueError:
        return None
