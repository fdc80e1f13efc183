"""Telegram HTML markup for the shared renderer."""

from __future__ import annotations

import html


class TelegramHtml:
    def escape(self, text: str) -> str:
        return html.escape(text, quote=False)

    def bold(self, text: str) -> str:
        return f"<b>{text}</b>"


HTML = TelegramHtml()
