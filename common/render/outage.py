"""Outages DTEK reports at an address, in words: the alerts of the address watch and the lines of /status and
/schedule."""

from __future__ import annotations

from datetime import datetime

from common.clock import as_kyiv
from common.dtek.address import Outage, OutageChange, OutageType
from common.i18n import Catalog, catalog
from common.render.text import Rendered


def outage_kind(outage: Outage, t: Catalog) -> str:
    return t("outage.emergency") if outage.type is OutageType.EMERGENCY else t("outage.planned")


def outage_details(outage: Outage, t: Catalog) -> str:
    """Reason, start and expected end; a note when the schedule does not apply meanwhile."""
    details = t(
        "outage.details",
        reason=outage.reason or outage_kind(outage, t),
        start=_when(outage.start, t),
        end=_when(outage.end, t),
    )
    return f"{details} {t('outage.no_schedule')}" if outage.suspends_schedule else details


def outage_status_line(address: str, outage: Outage | None, t: Catalog) -> str:
    """One line for /status (and, for an outage, under a schedule)."""
    if outage is None:
        return t("outage.status_none", address=address)
    return t("outage.status", kind=outage_kind(outage, t), address=address, details=outage_details(outage, t))


def render_outage_change(address: str, change: OutageChange, outage: Outage | None, *, lang: str) -> Rendered:
    """The alert to those who watch ``address``; ``outage`` is the one now (None once it ended)."""
    t = catalog(lang)
    if change is OutageChange.ENDED or outage is None:
        return Rendered(title=t("outage.ended_title", address=address), lead=t("outage.ended_lead"))
    if change is OutageChange.RESCHEDULED:
        return Rendered(
            title=t("outage.rescheduled_title", address=address),
            lead=t("outage.rescheduled_lead", end=_when(outage.end, t)),
        )
    kind = outage_kind(outage, t)
    return Rendered(
        title=t("outage.started_title", kind=kind, address=address), lead=outage_details(outage, t)
    )


def _when(moment: datetime | None, t: Catalog) -> str:
    return f"{as_kyiv(moment):%H:%M %d.%m}" if moment else t("outage.unknown_time")
