"""The schedule service's settings (environment variables and ``.env``)."""

from __future__ import annotations

from pydantic import Field

from common.settings import DtekSettings


class ServiceSettings(DtekSettings):
    schedule_db_url: str = "data/schedules.db"
    scrape_interval_minutes: float = Field(30.0, gt=0)
    # Random extra wait per cycle, so a fleet of services does not hit DTEK in lockstep.
    scrape_jitter_seconds: float = Field(60.0, ge=0)
    # Pause between two regions of one cycle, so the sites are not hit at once.
    region_spacing_seconds: float = Field(10.0, ge=0)
    # Scrape log and change history older than this are deleted, so the file does not grow forever.
    history_retention_days: int = Field(90, ge=1)
