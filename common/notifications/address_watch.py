"""The address watch: outages DTEK reports at saved addresses, polled per street and told to those who opted in.

One ``getHomeNum`` call answers for every house of a street, so a pass asks once per street whatever the
number of chats on it, and only for streets not looked at for ``interval`` (at most once per
``ADDRESS_WATCH_INTERVAL_MINUTES``). Each region has a budget of calls per hour: the streets waiting longest
go first, and those beyond the budget wait for the next pass. The calls go through the bot's
:class:`~common.dtek.address.AddressLookup`, whose rate limits and block cool-down every /address lookup
shares, and which keeps the answer for /status and /schedule. The schedule scrapes use their own fetcher, so
the watch never delays them.

The outage last seen at each house is stored: the first look only records it (a new watcher is not told of
an outage the /address answer just showed), and each change afterwards (an outage starts, its expected end
moves, it ends) is queued once per recipient, in the same transaction as the new state.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from common.clock import Now, as_utc
from common.dtek.address import HouseInfo, OutageChange, StreetAddress, house_info, outage_change
from common.dtek.errors import BlockedPageError, DtekError
from common.messages import OutboxItem
from common.notifications.fanout import Subscriber, hold_until
from common.render.outage import render_outage_change
from common.render.text import rendered_to_json
from common.settings import BotSettings

log = logging.getLogger(__name__)

Street = tuple[str, str, str]  # region, settlement, street
_HOUR = timedelta(hours=1)


class StreetLookup(Protocol):
    """What the watch needs of an :class:`~common.dtek.address.AddressLookup`."""

    async def houses(
        self, region: str, settlement: str, street: str, *, max_age_seconds: float | None = None
    ) -> dict[str, HouseInfo]: ...


class AddressWatchStore(Protocol):
    """The saved addresses, the outage last seen at each, and the outbox."""

    async def watched_streets(self) -> Sequence[Street]:
        """Streets with a saved address of an active recipient who wants outage alerts."""
        ...

    async def street_watchers(
        self, region: str, settlement: str, street: str
    ) -> Sequence[tuple[Subscriber, str]]:
        """(recipient, house) for each of them on the street."""
        ...

    async def outage_states(self, region: str, settlement: str, street: str) -> Mapping[str, str]:
        """House -> key of the outage last seen there ("" none); houses never looked at are missing."""
        ...

    async def commit_outage_states(
        self, street: Street, states: Mapping[str, str], items: Sequence[OutboxItem]
    ) -> int:
        """Records the states and queues the items in one transaction; returns rows added."""
        ...


class AddressWatch:
    def __init__(
        self,
        store: AddressWatchStore,
        lookup: StreetLookup,
        *,
        interval: timedelta,
        calls_per_hour: int,
        now: Now,
    ) -> None:
        self._store = store
        self._lookup = lookup
        self._interval = interval
        self._calls_per_hour = calls_per_hour
        self._now = now
        self._looked_at: dict[Street, datetime] = {}
        self._calls: defaultdict[str, deque[datetime]] = defaultdict(deque)  # per region, the last hour's

    async def run_once(self) -> int:
        """Looks at the streets that are due, within each region's budget; returns alerts queued."""
        now = as_utc(self._now())
        queued = 0
        blocked: set[str] = set()
        for street in self._due(await self._store.watched_streets(), now):
            region = street[0]
            if region in blocked or not self._spend(region, now):
                continue
            self._looked_at[street] = now  # also after a failure: a failing street waits its turn
            try:
                # An answer a user's lookup fetched lately serves; the watch's own from the last pass does not.
                houses = await self._lookup.houses(
                    *street, max_age_seconds=self._interval.total_seconds() / 2
                )
            except BlockedPageError as exc:
                log.warning("address watch: %s blocked the lookup, leaving it for this pass: %s", region, exc)
                blocked.add(region)
                continue
            except DtekError as exc:
                log.warning("address watch: %s failed: %s", "/".join(street), exc)
                continue
            queued += await self._compare(street, houses, now)
        return queued

    def _due(self, streets: Sequence[Street], now: datetime) -> list[Street]:
        """The streets not looked at for an interval, those waiting longest (or never looked at) first."""
        watched = set(streets)
        for gone in set(self._looked_at) - watched:
            del self._looked_at[gone]
        due = [s for s in streets if s not in self._looked_at or now - self._looked_at[s] >= self._interval]
        return sorted(due, key=lambda s: self._looked_at.get(s, datetime.min.replace(tzinfo=now.tzinfo)))

    def _spend(self, region: str, now: datetime) -> bool:
        """Takes one call of the region's hourly budget; False when it is spent."""
        calls = self._calls[region]
        while calls and now - calls[0] >= _HOUR:
            calls.popleft()
        if len(calls) >= self._calls_per_hour:
            return False
        calls.append(now)
        return True

    async def _compare(self, street: Street, houses: Mapping[str, HouseInfo], now: datetime) -> int:
        seen = await self._store.outage_states(*street)
        states: dict[str, str] = {}
        items: list[OutboxItem] = []
        payloads: dict[tuple[str, str], Mapping[str, Any]] = {}
        for recipient, house in await self._store.street_watchers(*street):
            info = house_info(houses, house)
            outage = info.outage if info else None
            state = states[house] = outage.key if outage else ""
            previous = seen.get(house)
            change = None if previous is None else outage_change(previous, outage)
            if change is None:
                continue
            address = StreetAddress(*street, house)
            if (house, recipient.lang) not in payloads:
                rendered = render_outage_change(str(address), change, outage, lang=recipient.lang)
                payloads[house, recipient.lang] = {"kind": "outage", "rendered": rendered_to_json(rendered)}
            key = _alert_key(address, previous or "", state, change, recipient.id)
            items.append(
                OutboxItem(recipient.id, key, payloads[house, recipient.lang], hold_until(recipient, now))
            )
        changed = {house: state for house, state in states.items() if seen.get(house) != state}
        if not changed:
            return 0
        return await self._store.commit_outage_states(street, changed, items)


def create_address_watch(
    store: AddressWatchStore, lookup: StreetLookup, settings: BotSettings, *, now: Now
) -> AddressWatch | None:
    """The watch a bot's settings ask for; None when ``ADDRESS_WATCH_INTERVAL_MINUTES`` is 0."""
    if not settings.address_watch_interval_minutes:
        return None
    interval = timedelta(minutes=settings.address_watch_interval_minutes)
    return AddressWatch(
        store, lookup, interval=interval, calls_per_hour=settings.address_watch_calls_per_hour, now=now
    )


def _alert_key(
    address: StreetAddress, previous: str, state: str, change: OutageChange, recipient: str
) -> str:
    """Names the alert: the same change at the same house reaches a recipient once."""
    digest = hashlib.sha256("\0".join([*address.street_key, address.house, previous, state]).encode())
    return f"outage:{change}:{digest.hexdigest()[:20]}:{recipient}"
