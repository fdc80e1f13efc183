"""The catalogs (common/i18n) for Discord: command names and descriptions in English with Ukrainian
localisations through discord.py's Translator, and the language of an interaction's answer."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from common.i18n import Catalog, catalog
from common.render.text import region_name

# The locales whose users get Ukrainian; everyone else gets English.
TRANSLATED = {discord.Locale.ukrainian: "uk"}


def text(key: str) -> app_commands.locale_str:
    """A command's name, description or choice: English from the catalog, translated by key at sync."""
    return app_commands.locale_str(catalog("en")(key), key=key)


def plural_text(key: str, n: int) -> app_commands.locale_str:
    """A choice naming a number (``15 minutes``): the catalog's plural form for ``n``, translated at sync."""
    return app_commands.locale_str(catalog("en").plural(key, n), key=key, n=n)


def region_text(region: str) -> app_commands.locale_str:
    """A region's name as a choice: English, translated by the region's code at sync."""
    return app_commands.locale_str(region_name(region, "en"), region=region)


class CatalogTranslator(app_commands.Translator):
    """Localises the strings made with :func:`text` from the same catalogs the answers use, and the region
    names made with :func:`region_text`."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        lang = TRANSLATED.get(locale)
        region: Any = string.extras.get("region")
        if lang is not None and isinstance(region, str):
            return region_name(region, lang)
        key: Any = string.extras.get("key")
        n: Any = string.extras.get("n")
        if lang is None or not isinstance(key, str):
            return None
        if isinstance(n, int):
            return catalog(lang).plural(key, n)
        return catalog(lang)(key)


def language(locale: discord.Locale) -> str:
    """Ukrainian for a Ukrainian client, else English."""
    return TRANSLATED.get(locale, "en")


def catalog_for(interaction: discord.Interaction[Any]) -> Catalog:
    """The catalog to answer this interaction's user in."""
    return catalog(language(interaction.locale))
