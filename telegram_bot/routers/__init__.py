"""One router per feature; ``all_routers`` lists them in the order the dispatcher tries them."""

from aiogram import Router

from telegram_bot.routers import (
    address,
    admin,
    fallback,
    language,
    quiet,
    remind,
    schedule,
    start,
    status,
    subscriptions,
)


def all_routers() -> list[Router]:
    # The fallback router (stale menus, unknown text) must come last.
    return [
        start.router,
        schedule.router,
        subscriptions.router,
        remind.router,
        quiet.router,
        address.router,
        language.router,
        status.router,
        admin.router,
        fallback.router,
    ]
