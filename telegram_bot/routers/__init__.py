"""One router per feature, each built by its module's ``create_router()``."""

from aiogram import Router

from telegram_bot.routers import (
    address,
    admin,
    fallback,
    language,
    migration,
    news,
    outages,
    pictures,
    quiet,
    remind,
    schedule,
    start,
    status,
    subscriptions,
)


def create_routers() -> list[Router]:
    """Fresh routers in the order the dispatcher tries them: chat migrations first, the fallback (stale menus,
    free text) last."""
    modules = (
        migration,
        start,
        schedule,
        subscriptions,
        remind,
        quiet,
        pictures,
        news,
        address,
        outages,
        language,
        status,
        admin,
        fallback,
    )
    return [module.create_router() for module in modules]
