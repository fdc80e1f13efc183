"""Message catalogs (one TOML file per language) with CLDR plural forms.

A plain message is a string with ``{name}`` fields. A plural message is a table of forms keyed by CLDR
category (``one``, ``few``, ``many``, ``other``); the form is chosen from ``n``.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

LANGUAGES = ("uk", "en")
DEFAULT_LANGUAGE = "uk"


def plural_category(lang: str, n: int) -> str:
    """CLDR plural category of a whole number ``n`` in ``lang``."""
    if lang == "uk":
        if n % 10 == 1 and n % 100 != 11:
            return "one"
        if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            return "few"
        return "many"
    return "one" if n == 1 else "other"


class Catalog:
    """The messages of one language."""

    def __init__(self, lang: str, messages: dict[str, Any]) -> None:
        self.lang = lang
        self._messages = messages

    def __call__(self, key: str, **fields: object) -> str:
        message = self._lookup(key)
        if not isinstance(message, str):
            raise KeyError(f"{self.lang}:{key} is a plural message; use .plural()")
        return message.format(**fields)

    def plural(self, key: str, n: int, **fields: object) -> str:
        forms = self._lookup(key)
        if not isinstance(forms, dict):
            raise KeyError(f"{self.lang}:{key} is not a plural message")
        form: str = forms[plural_category(self.lang, n)]
        return form.format(n=n, **fields)

    def words(self, key: str) -> list[str]:
        """A list message, such as the weekday names."""
        words = self._lookup(key)
        if not isinstance(words, list):
            raise KeyError(f"{self.lang}:{key} is not a list")
        return words

    def _lookup(self, key: str) -> Any:
        node: Any = self._messages
        for part in key.split("."):
            node = node[part]
        return node


def supported_language(locale: str | None) -> str | None:
    """The supported language of a user or platform locale (``en-US`` -> ``en``), or None."""
    code = (locale or "").split("-")[0].split("_")[0].lower()
    return code if code in LANGUAGES else None


def normalise_language(locale: str | None) -> str:
    """A supported language code for ``locale``; the default language otherwise."""
    return supported_language(locale) or DEFAULT_LANGUAGE


@cache
def catalog(lang: str) -> Catalog:
    lang = normalise_language(lang)
    text = resources.files(__package__).joinpath(f"{lang}.toml").read_text(encoding="utf-8")
    return Catalog(lang, tomllib.loads(text))
