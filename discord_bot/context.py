"""What the Cogs need, built once in ``main`` (see ``discord_bot.app.build_context``) and passed in."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.botdb import BotDB
from common.clock import Now
from common.dtek.address import AddressLookup
from common.metrics import Metrics
from common.render.picture import PictureCache
from common.source import CachedSource
from discord_bot.settings import DiscordSettings


@dataclass
class DiscordContext:
    settings: DiscordSettings
    db: BotDB
    source: CachedSource
    now: Now
    address: AddressLookup  # which group(s) a house is in: DTEK's AJAX, cached and rate-limited
    pictures: PictureCache = field(default_factory=PictureCache)
    metrics: Metrics = field(default_factory=Metrics)

    @property
    def regions(self) -> list[str]:
        return self.settings.dtek_regions

    async def aclose(self) -> None:
        """Closes the source, the address lookup and the database, each even when one before fails."""
        try:
            await self.source.aclose()
        finally:
            try:
                await self.address.aclose()
            finally:
                await self.db.close()
