"""Callback data and inline keyboards. Every button's data is short, typed and checked on the way back."""

from __future__ import annotations

from collections.abc import Iterable

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from common.dtek.regions import REGIONS
from common.i18n import LANGUAGES, Catalog
from common.schedule import RegionSchedule
from common.views import ScheduleView, ViewKind

LEAD_CHOICES = (0, 5, 10, 15, 30, 60)  # minutes; 0 = off
QUIET_PRESETS = (("22:00", "07:00"), ("23:00", "07:00"), ("00:00", "06:00"))


class RegionCb(CallbackData, prefix="rg"):
    purpose: str  # "sub" (subscribe) or "show"
    region: str


class GroupCb(CallbackData, prefix="gr"):
    purpose: str
    region: str
    group: str


class ViewCb(CallbackData, prefix="vw"):
    region: str
    group: str
    view: ViewKind  # an unknown value does not parse: the button is outdated


class UnsubCb(CallbackData, prefix="un"):
    region: str
    group: str


class LeadCb(CallbackData, prefix="ld"):
    which: str  # "off" or "on"
    minutes: int


class QuietCb(CallbackData, prefix="qt"):
    start: str  # "HHMM", or "off"
    end: str


class LangCb(CallbackData, prefix="lg"):
    code: str


class AddressCb(CallbackData, prefix="ad"):
    step: str  # "start", "city", "street", "save" (the address found, kept in the FSM state)
    index: int = 0
    generation: int = 0  # which suggestion list the index refers to, or which found address to save


def region_picker(regions: Iterable[str], purpose: str, lang: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for code in regions:
        builder.button(text=REGIONS[code].name(lang), callback_data=RegionCb(purpose=purpose, region=code))
    builder.adjust(2)
    return builder.as_markup()


def group_picker(schedule: RegionSchedule, region: str, purpose: str, t: Catalog) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for group in schedule.sorted_groups():
        builder.button(
            text=schedule.group_name(group),
            callback_data=GroupCb(purpose=purpose, region=region, group=group),
        )
    builder.adjust(3)
    if purpose == "sub":
        builder.row(*_buttons([(t("bot.unknown_group_button"), AddressCb(step="start"))]))
    return builder.as_markup()


def schedule_buttons(view: ScheduleView) -> InlineKeyboardMarkup:
    """The view's actions, two to a row; each opens its view of the same group in this message."""
    builder = InlineKeyboardBuilder()
    for action in view.actions:
        builder.button(
            text=action.label, callback_data=ViewCb(region=view.region, group=view.group, view=action.view)
        )
    builder.adjust(2)
    return builder.as_markup()


def unsubscribe_picker(items: Iterable[tuple[str, str, str]]) -> InlineKeyboardMarkup:
    """``items``: (region, group, label)."""
    builder = InlineKeyboardBuilder()
    for region, group, label in items:
        builder.button(text=f"❌ {label}", callback_data=UnsubCb(region=region, group=group))
    builder.adjust(1)
    return builder.as_markup()


def lead_picker(t: Catalog, current_off: int | None, current_on: int | None) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for which, current in (("off", current_off), ("on", current_on)):
        buttons = []
        for minutes in LEAD_CHOICES:
            label = t("bot.off_word") if minutes == 0 else f"{minutes}"
            mark = "• " if (current or 0) == minutes else ""
            buttons.append(
                (f"{mark}{'🔴' if which == 'off' else '🟢'} {label}", LeadCb(which=which, minutes=minutes))
            )
        builder.row(*_buttons(buttons))
    return builder.as_markup()


def quiet_picker(t: Catalog) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for start, end in QUIET_PRESETS:
        builder.button(
            text=f"{start}–{end}",
            callback_data=QuietCb(start=start.replace(":", ""), end=end.replace(":", "")),
        )
    builder.button(text=t("bot.quiet_none"), callback_data=QuietCb(start="off", end="off"))
    builder.adjust(2)
    return builder.as_markup()


def language_picker() -> InlineKeyboardMarkup:
    names = {"uk": "Українська", "en": "English"}
    builder = InlineKeyboardBuilder()
    for code in LANGUAGES:
        builder.button(text=names[code], callback_data=LangCb(code=code))
    return builder.as_markup()


def choice_list(step: str, labels: Iterable[str], generation: int) -> InlineKeyboardMarkup:
    """Suggestions of the address conversation; the index refers to the list of this generation kept in
    the FSM state."""
    builder = InlineKeyboardBuilder()
    for index, label in enumerate(labels):
        builder.button(text=label, callback_data=AddressCb(step=step, index=index, generation=generation))
    builder.adjust(1)
    return builder.as_markup()


def without_button(markup: InlineKeyboardMarkup | None, data: str) -> InlineKeyboardMarkup | None:
    """``markup`` without the button whose callback data is ``data``; None when no button is left."""
    rows = [[b for b in row if b.callback_data != data] for row in (markup.inline_keyboard if markup else [])]
    kept = [row for row in rows if row]
    return InlineKeyboardMarkup(inline_keyboard=kept) if kept else None


def _buttons(items: Iterable[tuple[str, CallbackData]]) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(text=text, callback_data=data.pack()) for text, data in items]
