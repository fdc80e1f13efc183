"""DTEK's answer for a house in words, the same in every bot: its group(s) and an outage in progress; and the
outages at a chat's saved addresses, as /status and /schedule show them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from common.dtek.address import HouseInfo, StreetAddress
from common.dtek.errors import DtekError
from common.i18n import Catalog
from common.render.outage import outage_status_line
from common.views.schedule import ScheduleView, ViewKind

log = logging.getLogger(__name__)

# How old DTEK's answer for a saved address may be when shown: outages start and end by the hour.
OUTAGE_ANSWER_MAX_AGE_SECONDS = 10 * 60
# A view waits no longer for DTEK (the lookup's rate limits may queue the call) before answering without it.
OUTAGE_LOOKUP_TIMEOUT_SECONDS = 5.0


class HouseLookup(Protocol):
    """What the views need of an :class:`~common.dtek.address.AddressLookup`."""

    async def groups_for(
        self, region: str, settlement: str, street: str, house: str, *, max_age_seconds: float | None = None
    ) -> HouseInfo | None: ...


def house_lines(info: HouseInfo, address: str, names: Sequence[str], t: Catalog) -> list[str]:
    """``names``: the display names of ``info.groups``, in their order."""
    lines = [t("bot.address_found", address=address, groups=", ".join(names))]
    if info.outage is not None:
        lines.append(outage_status_line(address, info.outage, t))
    return lines


async def saved_address_lines(
    lookup: HouseLookup,
    addresses: Sequence[StreetAddress],
    t: Catalog,
    *,
    group: tuple[str, str] | None = None,
    timeout_seconds: float = OUTAGE_LOOKUP_TIMEOUT_SECONDS,
) -> list[str]:
    """A line per saved address: the outage DTEK reports there, or none, or that DTEK could not be asked.

    With ``group`` (region, group), for a line under that group's schedule: only outages in progress, at
    addresses in that group.
    """
    lines = []
    for address in addresses:
        if group is not None and address.region != group[0]:
            continue
        try:
            info = await asyncio.wait_for(
                lookup.groups_for(
                    *address.street_key, address.house, max_age_seconds=OUTAGE_ANSWER_MAX_AGE_SECONDS
                ),
                timeout_seconds,
            )
        except (DtekError, TimeoutError) as exc:
            log.info("outage at %s not known: %r", address, exc)
            if group is None:
                lines.append(t("outage.status_unavailable", address=str(address)))
            continue
        outage = info.outage if info else None
        if group is None or (outage is not None and info is not None and group[1] in info.groups):
            lines.append(outage_status_line(str(address), outage, t))
    return lines


async def with_address_outages(
    view: ScheduleView, lookup: HouseLookup, addresses: Sequence[StreetAddress], t: Catalog
) -> ScheduleView:
    """``view`` with a note per outage in progress at a saved address of its group (not under the weekly
    plan, which is about other days)."""
    if view.kind is ViewKind.WEEK or not addresses:
        return view
    lines = await saved_address_lines(lookup, addresses, t, group=(view.region, view.group))
    return view.with_notes(lines)
