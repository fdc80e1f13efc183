"""Messages waiting in a bot's outbox, as plain records: the notification pipeline
(``common.notifications``) makes and sends them, the bot's database (``common.botdb``) stores them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A message to queue; ``dedupe_key`` names it, so the same one is never queued twice."""

    recipient_id: str
    dedupe_key: str
    payload: Mapping[str, Any]  # JSON-ready
    not_before: datetime


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A pending message as the sender loop gets it."""

    id: int
    recipient_id: str
    dedupe_key: str
    payload: dict[str, Any]
    attempts: int
    not_before: datetime
    # Parts of a message the platform needs several messages for (a long text) that already arrived:
    # the next attempt starts after them.
    parts_sent: int
