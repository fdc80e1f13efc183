"""The Discord bot's settings (environment variables and ``.env``)."""

from __future__ import annotations

import re

from pydantic import Field, SecretStr, field_validator

from common.settings import BotSettings

# A bot token is three base64url parts joined by dots: the bot's id, a timestamp, a signature.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{17,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}$")


class DiscordSettings(BotSettings):
    discord_token: SecretStr
    database_url: str = "data/discord.db"
    # Commands synced to this server only (instantly, for development); unset: global commands.
    discord_guild_id: int | None = Field(None, gt=0)
    # Messages per second the outbox may post overall; discord.py handles the per-route limits itself.
    discord_rate_limit: float = Field(5.0, gt=0)
    discord_api_base: str = "https://discord.com/api/v10"
    discord_gateway_url: str = "wss://gateway.discord.gg"

    @field_validator("discord_token")
    @classmethod
    def _check_token(cls, value: SecretStr) -> SecretStr:
        # The message never includes the value: it is a secret.
        token = value.get_secret_value().strip()
        if not _TOKEN.match(token):
            raise ValueError(
                "is not a bot token (expected three parts joined by dots, as the Developer Portal's"
                " Bot page gives it, without a 'Bot ' prefix)"
            )
        return SecretStr(token)

    @field_validator("discord_guild_id", mode="before")
    @classmethod
    def _blank_guild_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("discord_api_base", "discord_gateway_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.strip().rstrip("/")
