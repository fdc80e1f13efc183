"""Typed errors for what can go wrong between DTEK and a parsed schedule."""

from __future__ import annotations

from typing import ClassVar


class DtekError(Exception):
    """Base of every DTEK-related failure."""


class PageError(DtekError):
    """A page arrived but is not a usable schedule page. ``kind`` names why, for logs and the DB."""

    kind: ClassVar[str] = "invalid-page"
    description: ClassVar[str] = "not a schedule page"

    def __init__(self, reason: str) -> None:
        super().__init__(f"{self.description}: {reason}")
        self.reason = reason


class BlockedPageError(PageError):
    kind = "blocked"
    description = "anti-bot block page"


class NoScheduleDataError(PageError):
    kind = "no-schedule-data"
    description = "no schedule data"


class MalformedDataError(PageError):
    kind = "malformed"
    description = "malformed data"


class FetchError(DtekError):
    """The page could not be fetched at all (network error, timeout, HTTP error status)."""

    kind: ClassVar[str] = "fetch-failed"


class RejectedError(FetchError):
    """HTTP 400: the site refused the request, most likely a stale session or CSRF token."""

    kind: ClassVar[str] = "rejected"
