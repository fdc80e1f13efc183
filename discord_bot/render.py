"""Discord's rendering of the common schedule views: an embed (title, the state now, a field per day,
DTEK's update time and the stale note), the picture attached to it, and the buttons under it.

Pure: nothing here talks to Discord. The buttons' custom_id carries region, group and view, so a press
is understood after a restart too (the schedule Cog handles them as a DynamicItem).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import discord

from common.render.text import embed_fields
from common.views import Picture, ScheduleView, ViewKind

PICTURE_NAME = "schedule.png"
EMBED_TOTAL_LIMIT = 6000
DESCRIPTION_LIMIT = 4096
FRESH_COLOUR = 0x3498DB
STALE_COLOUR = 0xE67E22
# "sv:kem:GPV3.2:tomorrow": well under Discord's 100 characters for any region and group.
CUSTOM_ID = re.compile(r"sv:(?P<region>[a-z_]{1,20}):(?P<group>[^:]{1,40}):(?P<view>[a-z]{1,10})")


_VIEWS = frozenset(kind.value for kind in ViewKind)


class DiscordMarkup:
    """Discord markdown for :func:`common.render.text.embed_fields` and friends."""

    def escape(self, text: str) -> str:
        return discord.utils.escape_markdown(text)

    def bold(self, text: str) -> str:
        return f"**{text}**"


MARKUP = DiscordMarkup()


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    custom_id: str
    current: bool  # opens the view already shown (drawn as the primary button)


@dataclass(frozen=True, slots=True)
class ScheduleMessage:
    """A schedule as one Discord message: send ``embed`` with ``file()`` and the ``buttons``."""

    embed: discord.Embed
    picture: Picture | None
    buttons: tuple[Button, ...]

    def file(self) -> discord.File | None:
        """A fresh upload of the picture (discord.py reads a File once), or None without one."""
        if self.picture is None:
            return None
        return discord.File(io.BytesIO(self.picture.png), filename=PICTURE_NAME)

    def attachments(self) -> list[discord.File]:
        """For an edit: the new picture, or none (an edit keeps only the attachments it lists)."""
        upload = self.file()
        return [upload] if upload is not None else []


def view_custom_id(region: str, group: str, kind: ViewKind) -> str:
    return f"sv:{region}:{group}:{kind.value}"


def parse_custom_id(custom_id: str) -> tuple[str, str, ViewKind] | None:
    """(region, group, view) of a schedule button, or None for a custom_id that is none of ours."""
    match = CUSTOM_ID.fullmatch(custom_id)
    if match is None or match["view"] not in _VIEWS:
        return None
    return match["region"], match["group"], ViewKind(match["view"])


def schedule_message(view: ScheduleView) -> ScheduleMessage:
    rendered = view.rendered
    paragraphs = [MARKUP.escape(rendered.lead)] if rendered.lead else []
    if rendered.notes:
        paragraphs.append("\n".join(MARKUP.escape(note) for note in rendered.notes))
    embed = discord.Embed(
        title=rendered.title[:256],
        description="\n\n".join(paragraphs)[:DESCRIPTION_LIMIT] or None,
        colour=STALE_COLOUR if view.stale else FRESH_COLOUR,
        timestamp=view.fetched_at,
    )
    for name, value in embed_fields(rendered, MARKUP):
        embed.add_field(name=name, value=value, inline=False)
    while len(embed) > EMBED_TOTAL_LIMIT and embed.fields:  # a week of long days: the latest go
        embed.remove_field(len(embed.fields) - 1)
    if view.picture is not None:
        embed.set_image(url=f"attachment://{PICTURE_NAME}")
    buttons = tuple(
        Button(action.label, view_custom_id(view.region, view.group, action.view), action.view is view.kind)
        for action in view.actions
    )
    return ScheduleMessage(embed, view.picture, buttons)
