"""Settings pieces shared by every program; each program has one class that extends these.

Values come from environment variables (case-insensitive) and a ``.env`` file in the working directory.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from common.dtek.regions import DEFAULT_REGIONS, validate_region


def describe_settings_error(exc: ValidationError) -> str:
    """One line naming each bad variable and why; never the values, which may be secrets."""
    problems = "; ".join(f"{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
    return f"invalid settings: {problems}"


class DtekSettings(BaseSettings):
    """How to reach DTEK: which regions, where, with which client, how politely; and what every program
    has besides: its log level and its metrics endpoint."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    dtek_regions: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_REGIONS))
    dtek_url_template: str = "https://www.dtek-{region}.com.ua/ua/shutdowns"
    dtek_http_backend: Literal["httpx", "curl_cffi"] = "httpx"
    dtek_impersonate: str = "chrome"
    dtek_timeout_seconds: float = Field(15.0, gt=0)
    dtek_retry_attempts: int = Field(3, ge=1, le=10)
    dtek_retry_base_delay_seconds: float = Field(4.0, ge=0)
    dtek_retry_max_delay_seconds: float = Field(30.0, ge=0)
    # Between full scrapes, ask DTEK whether the data changed (the page's own checkDisconUpdate); 0: never.
    dtek_probe_interval_seconds: float = Field(300.0, ge=0)
    log_level: str = "INFO"
    # Prometheus metrics on this port (GET /metrics); unset or blank: no endpoint.
    metrics_port: int | None = Field(None, ge=1, le=65535)
    metrics_host: str = "0.0.0.0"  # every interface, as a container needs

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _blank_port_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("dtek_regions", mode="before")
    @classmethod
    def _split_regions(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            regions = [validate_region(str(part)) for part in value]
            if not regions:
                raise ValueError("DTEK_REGIONS names no region")
            return list(dict.fromkeys(regions))
        return value

    @field_validator("dtek_url_template")
    @classmethod
    def _check_template(cls, value: str) -> str:
        if "{region}" not in value:
            raise ValueError("DTEK_URL_TEMPLATE must contain {region}")
        return value

    def page_url(self, region: str) -> str:
        return self.dtek_url_template.format(region=region)


class SourceSettings(DtekSettings):
    """Where a bot gets schedules: the shared DB when ``SCHEDULE_DB_URL`` is set, else its own scrape."""

    schedule_db_url: str | None = None
    cache_duration_minutes: float = Field(30.0, gt=0)
    watch_interval_seconds: float = Field(60.0, gt=0)
    # Admins may force a fresh load, but never more often than this across the whole bot.
    force_refresh_interval_minutes: float = Field(5.0, ge=0)
    # Data older than this is shown with a "may be out of date" note.
    stale_after_minutes: float = Field(90.0, gt=0)

    @field_validator("schedule_db_url")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value if value and value.strip() else None


class BotSettings(SourceSettings):
    """What every bot has besides its platform's settings: its own DB and the limits of its health check."""

    database_url: str  # each bot gives its own default
    # The notifier records a heartbeat about once a minute; older than this, the bot is stuck or down.
    health_max_heartbeat_age_minutes: float = Field(5.0, gt=0)
    # A due message waiting this long while nothing was sent for as long: the outbox is stuck.
    health_max_outbox_delay_minutes: float = Field(15.0, gt=0)
    # Outage alerts at saved addresses: each watched street asked about at most this often (0: no watch) ...
    address_watch_interval_minutes: float = Field(15.0, ge=0)
    # ... and at most this many such calls per region and hour; streets beyond it wait their turn.
    address_watch_calls_per_hour: int = Field(60, ge=1)
    # Each user may send this many commands and button presses at once, then this many a minute; beyond
    # that the bot drops them, saying once "too many requests" (never reached by a person's pace).
    user_rate_limit_burst: int = Field(10, ge=1)
    user_rate_limit_per_minute: float = Field(20.0, gt=0)
