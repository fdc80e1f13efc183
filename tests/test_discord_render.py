"""The Discord bot's pure parts, without Discord: the embed renderer, the buttons' custom_ids, the
catalog translator, the command tree's hash and the settings' token check."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

import discord
import pytest
from discord import app_commands
from discord.ext import commands
from pydantic import SecretStr, ValidationError

from common.clock import KYIV
from common.dtek.fake_site import sample_schedule
from common.render.picture import PictureCache
from common.render.text import embed_fields
from common.source import Snapshot
from common.views import ScheduleView, ViewKind, schedule_view
from discord_bot.i18n import CatalogTranslator, language, text
from discord_bot.render import (
    FRESH_COLOUR,
    MARKUP,
    STALE_COLOUR,
    parse_custom_id,
    schedule_message,
    view_custom_id,
)
from discord_bot.settings import DiscordSettings
from discord_bot.sync import payload_hash, sync_key, tree_payload
from tests.known import known

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=KYIV)
TOKEN = "MTIwMDAwMDAwMDAwMDAwMDAwMQ.GfAkEx.fake-signature-for-the-tests-only_0123456789"


def view(
    kind: ViewKind = ViewKind.DAYS, *, lang: str = "uk", stale: bool = False, picture: bool = True
) -> ScheduleView:
    fetched = NOW - timedelta(hours=3 if stale else 0)
    snapshot = Snapshot(sample_schedule("kem", NOW.date()), version="v1", fetched_at=fetched, stale=stale)
    return schedule_view(
        snapshot, "kem", "GPV3.2", kind, now=NOW, lang=lang, pictures=PictureCache() if picture else None
    )


def test_the_embed_shows_title_state_days_update_time_and_the_attached_picture() -> None:
    shown = view()
    message = schedule_message(shown)
    embed = message.embed

    assert embed.title == "Київ · Черга 3.2"
    assert embed.description == (
        "Зараз світло є. Відключення о 08:00, через 2 години.\n\nОновлено ДТЕК: 23.11.2026 07:30"
    )
    assert [(f.name, f.value) for f in embed.fields] == embed_fields(shown.rendered, MARKUP)
    assert [f.name for f in embed.fields] == ["Сьогодні, пн 23.11", "Завтра, вт 24.11"]
    assert embed.colour == discord.Colour(FRESH_COLOUR)
    assert embed.timestamp == NOW
    assert known(embed.image.url) == "attachment://schedule.png"
    assert len(embed) <= 6000

    first, second = known(message.file()), known(message.file())
    assert first is not second  # discord.py reads a File once: a new one each time
    assert first.filename == "schedule.png"
    assert first.fp.read() == known(shown.picture).png
    assert [upload.filename for upload in message.attachments()] == ["schedule.png"]


def test_buttons_carry_region_group_and_view_and_mark_the_current_one() -> None:
    message = schedule_message(view(ViewKind.TOMORROW, lang="en"))

    assert [(b.label, b.custom_id, b.current) for b in message.buttons] == [
        ("🔄 Refresh", "sv:kem:GPV3.2:days", False),
        ("📅 Week", "sv:kem:GPV3.2:week", False),
        ("Today", "sv:kem:GPV3.2:today", False),
        ("Tomorrow", "sv:kem:GPV3.2:tomorrow", True),
    ]
    assert all(len(b.custom_id) <= 100 for b in message.buttons)
    assert parse_custom_id(view_custom_id("kem", "GPV3.2", ViewKind.WEEK)) == ("kem", "GPV3.2", ViewKind.WEEK)
    assert parse_custom_id("sv:kem:GPV3.2:yesterday") is None
    assert parse_custom_id("refresh") is None


def test_a_stale_view_says_so_in_the_description_and_colour() -> None:
    embed = schedule_message(view(lang="en", stale=True)).embed
    assert "⚠️ Data may be out of date: last fetched 3 hours ago." in known(embed.description)
    assert embed.colour == discord.Colour(STALE_COLOUR)


def test_without_a_picture_nothing_is_attached() -> None:
    message = schedule_message(view(picture=False))
    assert message.embed.image.url is None
    assert message.file() is None
    assert message.attachments() == []  # an edit to this view drops the old picture


def test_the_week_fits_an_embed() -> None:
    embed = schedule_message(view(ViewKind.WEEK, lang="en")).embed
    assert [f.name for f in embed.fields][:2] == ["Monday", "Tuesday"]
    assert len(embed.fields) == 7


def test_markdown_in_text_is_escaped() -> None:
    assert MARKUP.escape("*3.2* _x_") == "\\*3.2\\* \\_x\\_"
    assert MARKUP.bold("Сьогодні") == "**Сьогодні**"


# --- commands: translations and the tree's hash ---------------------------------------------------------


async def test_the_translator_gives_ukrainian_from_the_catalog_and_leaves_others_english() -> None:
    translator = CatalogTranslator()
    name = text("discord.commands.schedule.name")
    other: Literal[app_commands.TranslationContextLocation.other] = (
        app_commands.TranslationContextLocation.other
    )
    context: app_commands.TranslationContext[Literal[app_commands.TranslationContextLocation.other], Any]
    context = app_commands.TranslationContext(other, None)
    assert name.message == "schedule"
    assert await translator.translate(name, discord.Locale.ukrainian, context) == "графік"
    assert await translator.translate(name, discord.Locale.german, context) is None
    assert (
        await translator.translate(app_commands.locale_str("plain"), discord.Locale.ukrainian, context)
        is None
    )
    assert (language(discord.Locale.ukrainian), language(discord.Locale.american_english)) == ("uk", "en")


async def test_the_tree_hash_is_stable_and_changes_with_the_commands() -> None:
    async def ping(interaction: discord.Interaction[commands.Bot]) -> None: ...

    def tree_with(*names: str) -> app_commands.CommandTree[commands.Bot]:
        bot = commands.Bot(command_prefix="!", intents=discord.Intents.none())
        for name in names:
            bot.tree.add_command(app_commands.Command(name=name, description="d", callback=ping))
        return bot.tree

    first = payload_hash(await tree_payload(tree_with("b", "a"), None))
    assert payload_hash(await tree_payload(tree_with("a", "b"), None)) == first  # order of adding
    assert payload_hash(await tree_payload(tree_with("a", "c"), None)) != first


# --- settings ---------------------------------------------------------------------------------------------


def test_settings_defaults_and_a_token_with_spaces() -> None:
    settings = DiscordSettings(discord_token=SecretStr(f"  {TOKEN}\n"), _env_file=None)
    assert settings.discord_token.get_secret_value() == TOKEN
    assert settings.database_url == "data/discord.db"
    assert settings.discord_guild_id is None
    assert settings.discord_rate_limit == 5
    assert settings.discord_api_base == "https://discord.com/api/v10"
    assert settings.discord_gateway_url == "wss://gateway.discord.gg"


@pytest.mark.parametrize("token", ["not-a-token", f"Bot {TOKEN}", "a.b.c"])
def test_a_malformed_token_is_refused_without_showing_it(token: str) -> None:
    with pytest.raises(ValidationError) as refused:
        DiscordSettings(discord_token=SecretStr(token), _env_file=None)
    assert "is not a bot token" in str(refused.value)
    assert token not in str(refused.value)


def test_each_application_and_scope_keeps_its_own_sync_hash() -> None:
    # Another application's token on the same database must sync its commands, not inherit "unchanged".
    keys = {sync_key(1, None), sync_key(2, None), sync_key(1, 42), sync_key(2, 42)}
    assert len(keys) == 4
