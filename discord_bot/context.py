"""What the Cogs need, built once in ``main`` (see ``discord_bot.app.build_context``) and passed in."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.botdb import BotDB
from common.clock import Now
from common.render.picture import PictureCache
from common.source import CachedSource
from discord_bot.settings import DiscordSettings


@dataclass
class DiscordContext:
    settings: DiscordSettings
    db: BotDB
    source: CachedSource
    now: Now
    pictures: PictureCache = field(default_factory=PictureCache)

    @property
    def regions(self) -> list[str]:
        return self.settings.dtek_regions

    async def aclose(self) -> None:
        """Closes the source and the database, the second even when the first fails."""
        try:
            await self.source.aclose()
        finally:
            await self.db.close()
