"""The /status answer: where a bot's data comes from and how fresh it is, one line per region."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from common.clock import KYIV
from common.dtek.address import StreetAddress
from common.i18n import Catalog
from common.render.text import age_text, announcement_full, region_name
from common.source import SourceUnavailable
from common.views.address import HouseLookup, saved_address_lines
from common.views.lookup import SnapshotSource


async def status_lines(
    source: SnapshotSource,
    mode: str,
    regions: Iterable[str],
    *,
    now: datetime,
    t: Catalog,
    lookup: HouseLookup | None = None,
    addresses: Sequence[StreetAddress] = (),
) -> list[str]:
    """Per region (each once, in order): the mode, the data's age, DTEK's update time, stale or fresh;
    then what DTEK says: the weekly plan not in force, its announcement in full; at the end, the outage
    DTEK reports at each of the chat's saved ``addresses`` (asked through ``lookup``)."""
    mode_text = t(f"bot.mode_{mode}")
    lines = []
    for region in dict.fromkeys(regions):
        try:
            snapshot = await source.get(region)
        except SourceUnavailable:
            snapshot = None
        if snapshot is None:
            lines.append(t("bot.status_none", mode=mode_text, region=region_name(region, t.lang)))
            continue
        updated = snapshot.schedule.updated
        lines.append(
            t(
                "bot.status",
                mode=mode_text,
                age=age_text(snapshot.age(now), t.lang),
                updated=f"{updated.astimezone(KYIV):%d.%m.%Y %H:%M}" if updated else "—",
                stale=t("bot.status_stale") if snapshot.stale else t("bot.status_fresh"),
            )
        )
        notices = snapshot.notices
        if notices is None:
            continue
        name = region_name(region, t.lang)
        if not notices.plan_in_force:
            lines.append(t("bot.status_plan_off", region=name))
        if notices.announcement:
            since = notices.announced_at or snapshot.fetched_at
            text = announcement_full(notices.announcement, t.lang)
            lines.append(
                t(
                    "bot.status_announcement",
                    region=name,
                    since=f"{since.astimezone(KYIV):%d.%m.%Y %H:%M}",
                    text=text,
                )
            )
    if lookup is not None:
        lines += await saved_address_lines(lookup, addresses, t)
    return lines
