"""What the handlers need, built once in ``main`` and injected through the dispatcher."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.asyncutil import KeyedLocks
from common.botdb import BotDB
from common.clock import Now
from common.dtek.address import AddressLookup
from common.metrics import Metrics
from common.render.picture import PictureCache
from common.source import CachedSource
from telegram_bot.settings import TelegramSettings


@dataclass
class BotContext:
    settings: TelegramSettings
    db: BotDB
    source: CachedSource
    address: AddressLookup
    now: Now
    pictures: PictureCache = field(default_factory=PictureCache)
    # One upload of a new picture at a time: answers waiting on it reuse its file_id instead of uploading too.
    uploads: KeyedLocks = field(default_factory=KeyedLocks)
    metrics: Metrics = field(default_factory=Metrics)

    @property
    def regions(self) -> list[str]:
        return self.settings.dtek_regions
