"""Outages at saved addresses: the bot DB's saved addresses, the address watch against the fake DTEK site
(planned works, an emergency, no outage), its request budget, and the texts it sends and shows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from common.botdb import BotDB
from common.clock import KYIV
from common.dtek.address import AddressLookup, Outage, OutageChange, OutageType, StreetAddress, outage_change
from common.dtek.fake_site import SAMPLE_HOUSES, SAMPLE_STREETS, FakeDtekSite, sample_schedule
from common.dtek.fetch import DtekFetcher
from common.i18n import catalog
from common.notifications.address_watch import AddressWatch, create_address_watch
from common.render.outage import render_outage_change
from common.settings import BotSettings
from common.views.outages import OutagesCommand, outages_answer, read_outages_command, save_for_alerts

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=KYIV)
KHRESHCHATYK_1 = StreetAddress("kem", "м. Київ", "вул. Хрещатик", "1")
KHRESHCHATYK_22 = StreetAddress("kem", "м. Київ", "вул. Хрещатик", "22")
VASYLKIVSKA_5 = StreetAddress("kem", "м. Київ", "вул. Велика Васильківська", "5")
EMERGENCY = {
    "type": "2",
    "sub_type": "Аварійні ремонтні роботи",
    "start_date": "08:40 23.11.2026",
    "end_date": "12:30 23.11.2026",
}
PLANNED = {
    "type": "1",
    "sub_type": "Планові ремонтні роботи",
    "start_date": "09:00 23.11.2026",
    "end_date": "",
}


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return (self.now - NOW).total_seconds()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def site() -> AsyncIterator[FakeDtekSite]:
    async with FakeDtekSite() as fake:
        fake.publish(sample_schedule("kem", date(2026, 11, 23)), streets=SAMPLE_STREETS, houses=SAMPLE_HOUSES)
        yield fake


@pytest.fixture
async def lookup(site: FakeDtekSite, clock: Clock) -> AsyncIterator[AddressLookup]:
    settings = BotSettings(
        _env_file=None,
        database_url="unused",
        dtek_regions=["kem"],
        dtek_url_template=site.url_template,
        dtek_retry_attempts=1,
        dtek_retry_base_delay_seconds=0,
    )
    found = AddressLookup(DtekFetcher(settings), region_interval_seconds=0.001, clock=clock.monotonic)
    yield found
    await found.aclose()


@pytest.fixture
async def db(tmp_path: Path, clock: Clock) -> AsyncIterator[BotDB]:
    async with await BotDB.open(tmp_path / "bot.db", now=clock) as opened:
        yield opened


def watch(db: BotDB, lookup: AddressLookup, clock: Clock, *, calls_per_hour: int = 60) -> AddressWatch:
    return AddressWatch(db, lookup, interval=timedelta(minutes=15), calls_per_hour=calls_per_hour, now=clock)


async def watcher(db: BotDB, chat: str, address: StreetAddress, lang: str = "uk") -> None:
    await db.ensure_recipient(chat, lang)
    await save_for_alerts(db, chat, address)


async def queued(db: BotDB) -> list[tuple[str, str]]:
    """(recipient, title) of each pending message."""
    rows = await db.due_messages(NOW + timedelta(days=1), limit=100)
    return [(row.recipient_id, row.payload["rendered"]["title"]) for row in rows]


# --- the model ----------------------------------------------------------------------------------------------


def outage(end: str = "12:30", kind: OutageType = OutageType.EMERGENCY, reason: str = "Аварійні") -> Outage:
    start = datetime(2026, 11, 23, 8, 40, tzinfo=KYIV)
    hours, minutes = map(int, end.split(":"))
    return Outage(kind, reason, start, start.replace(hour=hours, minute=minutes))


def test_outage_change_tells_start_new_end_and_end() -> None:
    assert outage_change("", None) is None
    assert outage_change("", outage()) is OutageChange.STARTED
    assert outage_change(outage().key, outage()) is None
    assert outage_change(outage().key, outage("14:00")) is OutageChange.RESCHEDULED
    assert outage_change(outage().key, outage(kind=OutageType.PLANNED)) is OutageChange.STARTED
    assert outage_change(outage().key, None) is OutageChange.ENDED


def test_an_emergency_without_the_schedule_says_the_schedule_does_not_apply() -> None:
    extreme = outage(reason="Екстренні відключення (Аварійне без застосування графіку погодинних відключень)")
    assert extreme.suspends_schedule
    assert not outage().suspends_schedule
    uk = render_outage_change("м. Київ, вул. Хрещатик, 1", OutageChange.STARTED, extreme, lang="uk")
    assert uk.title == "⚠️ Аварійне відключення: м. Київ, вул. Хрещатик, 1"
    assert uk.lead == (
        "Екстренні відключення (Аварійне без застосування графіку погодинних відключень)."
        " Початок: 08:40 23.11. Світло очікують: 12:30 23.11."
        " Поки триває це відключення, графік погодинних відключень за адресою не діє."
    )


def test_alert_texts_in_english() -> None:
    rescheduled = render_outage_change("Kyiv 1", OutageChange.RESCHEDULED, outage("14:00"), lang="en")
    assert (rescheduled.title, rescheduled.lead) == (
        "🕓 New time for power: Kyiv 1",
        "DTEK now expects power back: 14:00 23.11.",
    )
    ended = render_outage_change("Kyiv 1", OutageChange.ENDED, None, lang="en")
    assert (ended.title, ended.lead) == (
        "✅ Outage over: Kyiv 1",
        "DTEK no longer reports an outage at this address.",
    )


# --- the bot's database -------------------------------------------------------------------------------------


async def test_one_saved_address_per_region_replaced_and_forgotten(db: BotDB) -> None:
    await db.ensure_recipient("42", "uk")
    await db.save_address("42", KHRESHCHATYK_1)
    await db.save_address("42", KHRESHCHATYK_22)
    assert await db.saved_addresses("42") == [KHRESHCHATYK_22]
    assert await db.forget_addresses("42") == 1
    assert await db.saved_addresses("42") == []


async def test_only_active_recipients_with_alerts_on_watch_a_street(db: BotDB) -> None:
    for chat in ("1", "2", "3"):
        await watcher(db, chat, KHRESHCHATYK_1)
    await db.ensure_recipient("4", "uk")
    await db.save_address("4", VASYLKIVSKA_5)  # saved, alerts off
    await db.deactivate("2", "blocked")
    await db.set_outage_alerts("3", False)
    assert await db.watched_streets() == [KHRESHCHATYK_1.street_key]
    assert [(r.id, house) for r, house in await db.street_watchers(*KHRESHCHATYK_1.street_key)] == [
        ("1", "1")
    ]


async def test_a_moved_chat_keeps_its_address_and_alerts(db: BotDB) -> None:
    await watcher(db, "-100", KHRESHCHATYK_1)
    assert await db.move_recipient("-100", "-100200")
    assert await db.saved_addresses("-100200") == [KHRESHCHATYK_1]
    assert await db.wants_outage_alerts("-100200")
    assert await db.saved_addresses("-100") == []


# --- the watch against the fake site --------------------------------------------------------------------------


async def test_first_look_records_then_start_new_end_and_end_are_told_once(
    db: BotDB, lookup: AddressLookup, site: FakeDtekSite, clock: Clock
) -> None:
    site.outages["kem", "м. Київ", "вул. Хрещатик", "22"] = PLANNED  # already on when the watch begins
    await watcher(db, "1", KHRESHCHATYK_1)
    await watcher(db, "2", KHRESHCHATYK_1, lang="en")
    await watcher(db, "3", KHRESHCHATYK_22)
    address_watch = watch(db, lookup, clock)
    assert await address_watch.run_once() == 0  # a first look only records
    assert site.ajax_calls["kem"] == 1  # one call for the street, whatever the number of chats on it

    site.outages["kem", "м. Київ", "вул. Хрещатик", "1"] = EMERGENCY
    clock.now += timedelta(minutes=15)
    assert await address_watch.run_once() == 2
    assert await queued(db) == [
        ("1", "⚠️ Аварійне відключення: м. Київ, вул. Хрещатик, 1"),
        ("2", "⚠️ Emergency outage: м. Київ, вул. Хрещатик, 1"),
    ]
    clock.now += timedelta(minutes=15)
    assert await address_watch.run_once() == 0  # unchanged: nobody told again

    site.outages["kem", "м. Київ", "вул. Хрещатик", "1"] = {**EMERGENCY, "end_date": "15:00 23.11.2026"}
    del site.outages["kem", "м. Київ", "вул. Хрещатик", "22"]
    clock.now += timedelta(minutes=15)
    assert await address_watch.run_once() == 3
    titles = await queued(db)
    assert ("1", "🕓 Новий час відновлення: м. Київ, вул. Хрещатик, 1") in titles
    assert ("3", "✅ Відключення завершилося: м. Київ, вул. Хрещатик, 22") in titles

    del site.outages["kem", "м. Київ", "вул. Хрещатик", "1"]
    clock.now += timedelta(minutes=15)
    assert await address_watch.run_once() == 2
    assert site.ajax_calls["kem"] == 5


async def test_a_street_is_asked_at_most_once_an_interval(
    db: BotDB, lookup: AddressLookup, site: FakeDtekSite, clock: Clock
) -> None:
    await watcher(db, "1", KHRESHCHATYK_1)
    address_watch = watch(db, lookup, clock)
    await address_watch.run_once()
    clock.now += timedelta(minutes=14)
    await address_watch.run_once()
    assert site.ajax_calls["kem"] == 1
    clock.now += timedelta(minutes=1)
    await address_watch.run_once()
    assert site.ajax_calls["kem"] == 2


async def test_the_hourly_budget_per_region_holds_and_waiting_streets_go_first(
    db: BotDB, lookup: AddressLookup, site: FakeDtekSite, clock: Clock
) -> None:
    await watcher(db, "1", KHRESHCHATYK_1)
    await watcher(db, "2", VASYLKIVSKA_5)
    await watcher(db, "3", StreetAddress("kem", "м. Київ", "просп. Перемоги", "3"))
    address_watch = watch(db, lookup, clock, calls_per_hour=2)
    await address_watch.run_once()
    assert site.ajax_calls["kem"] == 2  # the third street waits
    for _ in range(3):  # every 15 minutes for 45 minutes: the budget is spent
        clock.now += timedelta(minutes=15)
        await address_watch.run_once()
    assert site.ajax_calls["kem"] == 2
    clock.now += timedelta(minutes=15)  # an hour after the first calls
    await address_watch.run_once()
    assert site.ajax_calls["kem"] == 4
    assert site.street_calls == {  # the street never asked went first, then one of those asked an hour ago
        VASYLKIVSKA_5.street_key: 2,
        KHRESHCHATYK_1.street_key: 1,
        ("kem", "м. Київ", "просп. Перемоги"): 1,
    }


async def test_a_blocked_region_keeps_the_last_state_and_tells_nobody(
    db: BotDB, lookup: AddressLookup, site: FakeDtekSite, clock: Clock
) -> None:
    site.outages["kem", "м. Київ", "вул. Хрещатик", "1"] = EMERGENCY
    await watcher(db, "1", KHRESHCHATYK_1)
    address_watch = watch(db, lookup, clock)
    await address_watch.run_once()
    site.blocked.add("kem")
    clock.now += timedelta(minutes=15)
    assert await address_watch.run_once() == 0
    assert await db.outage_states(*KHRESHCHATYK_1.street_key) == {"1": await _key_of(EMERGENCY)}
    assert await queued(db) == []


async def _key_of(fields: dict[str, str]) -> str:
    start = datetime.strptime(fields["start_date"], "%H:%M %d.%m.%Y").replace(tzinfo=KYIV)
    end = datetime.strptime(fields["end_date"], "%H:%M %d.%m.%Y").replace(tzinfo=KYIV)
    return Outage(OutageType(int(fields["type"])), fields["sub_type"], start, end).key


def test_the_watch_is_off_at_interval_zero(db: BotDB, lookup: AddressLookup, clock: Clock) -> None:
    off = BotSettings(_env_file=None, database_url="x", address_watch_interval_minutes=0)
    on = BotSettings(_env_file=None, database_url="x")
    assert create_address_watch(db, lookup, off, now=clock) is None
    assert isinstance(create_address_watch(db, lookup, on, now=clock), AddressWatch)


# --- the lookup's freshness and the views ---------------------------------------------------------------------


async def test_an_answer_older_than_the_bound_is_asked_again(
    lookup: AddressLookup, site: FakeDtekSite, clock: Clock
) -> None:
    await lookup.groups_for(*KHRESHCHATYK_1.street_key, "1")
    clock.now += timedelta(minutes=9)
    info = await lookup.groups_for(*KHRESHCHATYK_1.street_key, "1", max_age_seconds=600)
    assert site.ajax_calls["kem"] == 1
    assert info is not None
    assert info.outage is None
    site.outages["kem", "м. Київ", "вул. Хрещатик", "1"] = PLANNED
    clock.now += timedelta(minutes=2)
    cached = await lookup.groups_for(*KHRESHCHATYK_1.street_key, "1")  # any age will do: the cached copy
    assert cached is not None
    assert cached.outage is None
    info = await lookup.groups_for(*KHRESHCHATYK_1.street_key, "1", max_age_seconds=600)
    assert site.ajax_calls["kem"] == 2
    assert info is not None
    assert info.outage is not None


@pytest.mark.parametrize(
    ("typed", "command"),
    [
        ("", OutagesCommand.SHOW),
        (" on ", OutagesCommand.ON),
        ("вимк", OutagesCommand.OFF),
        ("maybe", None),
        ("off", OutagesCommand.OFF),
        ("забути", OutagesCommand.FORGET),
        ("DROP TABLE", None),
    ],
)
def test_reading_the_outages_command(typed: str, command: OutagesCommand | None) -> None:
    assert read_outages_command(typed) is command


async def test_outages_answers_show_switch_and_forget(
    db: BotDB, lookup: AddressLookup, site: FakeDtekSite
) -> None:
    t = catalog("uk")
    await db.ensure_recipient("1", "uk")
    assert await outages_answer(db, lookup, "1", OutagesCommand.ON, t) == [t("outages.none")]
    assert not await db.wants_outage_alerts("1")  # nothing saved: nothing switched on
    await save_for_alerts(db, "1", KHRESHCHATYK_1)
    site.outages["kem", "м. Київ", "вул. Хрещатик", "1"] = PLANNED
    assert await outages_answer(db, lookup, "1", OutagesCommand.SHOW, t) == [
        "🔔 Сповіщення про відключення за збереженою адресою: увімкнено.",
        "🔧 Планові роботи: м. Київ, вул. Хрещатик, 1. Планові ремонтні роботи. Початок: 09:00 23.11."
        " Світло очікують: невідомо.",
    ]
    assert await outages_answer(db, lookup, "1", OutagesCommand.OFF, t) == [t("outages.off")]
    assert not await db.wants_outage_alerts("1")
    assert await outages_answer(db, lookup, "1", OutagesCommand.FORGET, t) == [t("outages.forgotten")]
    assert await db.saved_addresses("1") == []
