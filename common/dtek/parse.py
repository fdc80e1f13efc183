"""Turns a DTEK shutdowns page into the schedule model."""

from __future__ import annotations

import re

_BLOCK_MARKERS = re.compile(r"Incapsula incident ID|_Incapsula_Resource|Request unsuccessful", re.IGNORECASE)


def is_block_page(html: str) -> bool:
    """Whether ``html`` is the anti-bot (Imperva/Incapsula) page rather than DTEK's own."""
    return "DisconSchedule" not in html and bool(_BLOCK_MARKERS.search(html))
