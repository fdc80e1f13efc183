"""DTEK's answer for a house in words, the same in every bot: its group(s) and an outage in progress."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from common.clock import as_kyiv
from common.dtek.address import HouseInfo
from common.i18n import Catalog


def house_lines(info: HouseInfo, address: str, names: Sequence[str], t: Catalog) -> list[str]:
    """``names``: the display names of ``info.groups``, in their order."""
    lines = [t("bot.address_found", address=address, groups=", ".join(names))]
    outage = info.outage
    if outage is not None:
        start, end = _when(outage.start), _when(outage.end)
        lines.append(t("bot.address_outage", reason=outage.reason, start=start, end=end))
    return lines


def _when(moment: datetime | None) -> str:
    return f"{as_kyiv(moment):%H:%M %d.%m}" if moment else "—"
