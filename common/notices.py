"""What DTEK itself says on a region's page: its announcement and the page's display flags.

The announcement is the attention modal's text as plain lines; the flags tell which tables the page shows
(``showTablePlan`` false: the weekly plan is not in force).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

PLAN_FLAG = "showTablePlan"
KNOWN_FLAGS = ("showCurOutage", "showCurSchedule", "showTableSchedule", "showTablePlan", "showTableFact")


@dataclass(frozen=True, slots=True)
class PageNotices:
    """The page's announcement (plain text, one paragraph a line; None: none) and its ``show*`` flags."""

    announcement: str | None = None
    flags: Mapping[str, bool] = field(default_factory=dict)

    @property
    def plan_in_force(self) -> bool:
        # A page that does not say (older layouts) shows the plan.
        return self.flags.get(PLAN_FLAG, True)


@dataclass(frozen=True, slots=True)
class StoredNotices:
    """Page notices as stored: ``announced_at`` is when the current announcement text was first seen."""

    notices: PageNotices
    announced_at: datetime | None

    @property
    def announcement(self) -> str | None:
        return self.notices.announcement

    @property
    def plan_in_force(self) -> bool:
        return self.notices.plan_in_force


def announcement_key(text: str | None) -> str:
    """What makes two announcements the same: their words, whatever the spacing and line breaks."""
    return " ".join((text or "").split())


def same_announcement(a: str | None, b: str | None) -> bool:
    return announcement_key(a) == announcement_key(b)
