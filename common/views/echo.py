"""Text a user typed, made safe to show back to them."""

from __future__ import annotations

import unicodedata

ECHO_LIMIT = 40  # characters; enough for any group, time span, street or house number

# Control (Cc), format (Cf: bidirectional overrides and isolates, direction marks, zero-width characters),
# unpaired surrogate (Cs) and private-use (Co) characters.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co"})


def echo(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` as the bot may quote it: one line without invisible characters that could reorder or hide
    the answer around it (U+202E turns the rest of a line around), cut to ``limit`` characters."""
    # Whitespace controls (tab, newline) separate words: they become single spaces, not nothing.
    visible = "".join(c for c in text if c.isspace() or unicodedata.category(c) not in _INVISIBLE)
    shown = " ".join(visible.split())
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
