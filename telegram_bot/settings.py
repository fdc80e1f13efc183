"""The Telegram bot's settings (environment variables and ``.env``)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from common.settings import BotSettings

_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")


class TelegramSettings(BotSettings):
    telegram_bot_token: SecretStr
    database_url: str = "data/telegram.db"
    telegram_api_base: str = "https://api.telegram.org"
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    default_language: Literal["uk", "en"] = "uk"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: SecretStr | None = None
    webhook_host: str = "0.0.0.0"
    webhook_port: int = Field(8080, ge=1, le=65535)
    # Telegram allows about 30 messages per second to different chats; stay below it.
    telegram_rate_limit: float = Field(25.0, gt=0)
    telegram_pictures: bool = True

    @field_validator("telegram_bot_token")
    @classmethod
    def _check_token(cls, value: SecretStr) -> SecretStr:
        # The message never includes the value: it is a secret.
        if not _TOKEN.match(value.get_secret_value().strip()):
            raise ValueError(
                "is not a bot token (expected digits, a colon and letters, as @BotFather gives it)"
            )
        return SecretStr(value.get_secret_value().strip())

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    # Its own name: a method named like SourceSettings' _blank_is_unset would replace that validator, and an
    # empty SCHEDULE_DB_URL would stay "" instead of meaning "scrape DTEK yourself".
    @field_validator("telegram_webhook_url")
    @classmethod
    def _blank_webhook_is_unset(cls, value: str | None) -> str | None:
        return value.strip() if value and value.strip() else None
