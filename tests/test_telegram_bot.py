"""The Telegram bot end to end: the real aiogram client against the fake Bot API on 127.0.0.1,
a real shared schedule DB written by the service's writer, and the fake DTEK site."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import NoReturn

import aiohttp
import pytest
from pydantic import SecretStr

from common.clock import KYIV
from common.dtek.fake_site import FakeDtekSite, sample_schedule
from common.notices import PageNotices
from common.notifications.outbox import sends_in_flight
from common.schedule import RegionSchedule
from common.store import ScheduleWriter
from tests.conftest import REPO_ROOT
from tests.fakes.telegram import FakeTelegram
from tests.known import known
from tests.metrics_helpers import sample
from tests.telegram_harness import (
    NOW,
    TODAY,
    TOMORROW,
    Clock,
    RunningBot,
    SharedDb,
    answer_address_up_to_the_house,
    make_settings,
    only_today,
    publish,
    start_bot,
    subscribe,
    with_day,
)
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e  # the bot against the fake Bot API, and once as a process


# --- onboarding and commands ------------------------------------------------------------------------


async def test_onboarding_to_a_subscription(telegram: FakeTelegram, shared_bot: RunningBot) -> None:
    user = telegram.user(1001, language_code="uk")
    await user.send("/start")
    await user.wait_for_message("Вітаю")
    picker = await user.wait_for_message("Оберіть свою чергу")
    assert [text for text, _ in picker.buttons[0]] == ["Черга 1.1", "Черга 1.2", "Черга 2.1"]
    assert any("Не знаю своєї черги" in text for row in picker.buttons for text, _ in row)
    await user.press("Черга 3.2")
    await user.wait_for_message("Підписано: Київ, Черга 3.2")
    photo = await user.wait_for_message(lambda m: m.photo is not None)
    assert "Сьогодні, пн 23.11" in known(photo.caption)
    assert "Відключення о 08:00, через 2 години." in known(photo.caption)
    assert await shared_bot.db.subscriptions("1001") == [("kem", "GPV3.2")]


async def test_commands_are_registered_in_both_languages(
    telegram: FakeTelegram, shared_bot: RunningBot
) -> None:
    await wait_until(lambda: all(telegram.my_commands(lang) for lang in ("", "uk", "en")))
    uk = dict(telegram.my_commands("uk"))
    en = dict(telegram.my_commands("en"))
    assert uk["schedule"] == "Графік на сьогодні й завтра"
    assert en["schedule"] == "Today's and tomorrow's schedule"
    assert dict(telegram.my_commands("")) == uk


async def test_schedule_picture_is_uploaded_once_then_reused(
    telegram: FakeTelegram, shared_bot: RunningBot
) -> None:
    first, second = telegram.user(1002), telegram.user(1003)
    await first.send("/schedule 3.2")
    uploaded = await first.wait_for_message(lambda m: m.photo is not None)
    await second.send("/schedule@fake_test_bot GPV3.2")
    reused = await second.wait_for_message(lambda m: m.photo is not None)
    uploaded_photo, reused_photo = known(uploaded.photo), known(reused.photo)
    assert not uploaded_photo.reused
    assert reused_photo.reused
    assert reused_photo.file_id == uploaded_photo.file_id


async def test_many_chats_asking_at_once_upload_the_picture_once(
    telegram: FakeTelegram, shared_bot: RunningBot
) -> None:
    users = [telegram.user(2000 + n) for n in range(20)]
    for user in users:  # all in the queue before the bot answers any
        await user.send("/schedule 3.2")
    photos = [known((await user.wait_for_message(lambda m: m.photo is not None)).photo) for user in users]
    assert sum(not photo.reused for photo in photos) == 1
    assert len({photo.file_id for photo in photos}) == 1


async def test_schedule_buttons_week_and_days(telegram: FakeTelegram, shared_bot: RunningBot) -> None:
    user = telegram.user(1004, language_code="en")
    await user.send("/schedule 3.2")
    await user.wait_for_message(lambda m: m.photo is not None)
    await user.press("📅 Week")
    week = await user.wait_for_message(lambda m: m.photo is not None)
    assert "Weekly plan of possible outages" in known(week.caption)
    await user.press("Tomorrow")
    tomorrow = await user.wait_for_message(lambda m: m.photo is not None)
    assert "Tomorrow, Tue 24.11" in known(tomorrow.caption)
    assert "Today," not in known(tomorrow.caption)


async def test_updates_and_schedule_lookups_are_counted(
    telegram: FakeTelegram, shared_bot: RunningBot
) -> None:
    user = telegram.user(1030)
    await user.send("/schedule 3.2")
    await user.wait_for_message(lambda m: m.photo is not None)
    await user.press("Завтра")
    await user.wait_for_message(lambda m: "Завтра," in (m.caption or ""))
    metrics = shared_bot.app.ctx.metrics
    assert sample(metrics, "dtek_updates_total", kind="message") == 1
    assert sample(metrics, "dtek_updates_total", kind="callback_query") == 1
    assert sample(metrics, "dtek_cache_lookups_total", result="hit") >= 1  # the second answer, at least


async def test_unknown_group_lists_the_valid_ones(telegram: FakeTelegram, shared_bot: RunningBot) -> None:
    user = telegram.user(1005)
    await user.send("/schedule 9.9")
    answer = await user.wait_for_message("Невідома черга")
    assert "«9.9»" in known(answer.text)
    assert "1.1, 1.2, 2.1" in known(answer.text)


async def test_forged_and_stale_buttons_get_a_fresh_menu(
    telegram: FakeTelegram, shared_bot: RunningBot
) -> None:
    user = telegram.user(1006)
    await user.send("/help")
    await user.wait_for_message("/schedule")
    await user.press_data("gr:sub:kem:GPV99.9")
    await user.wait_for_message("Це меню застаріло")
    menu = await user.wait_for_message("Оберіть свою чергу")
    assert menu.buttons
    await user.press_data("totally-unknown")
    await user.wait_for_message("Це меню застаріло")
    assert await shared_bot.db.subscriptions("1006") == []


async def test_odd_text_gets_help_and_the_bot_keeps_running(
    telegram: FakeTelegram, shared_bot: RunningBot
) -> None:
    user = telegram.user(1007)
    await user.send("ʕ•ᴥ•ʔ " * 300)
    await user.wait_for_message("/schedule")
    await user.send("/nosuchcommand")
    await user.wait_for_message("/schedule")
    await user.send("/status")
    status = await user.wait_for_message("Режим:")
    assert "спільна база сервісу розкладів" in known(status.text)


async def test_handler_failure_is_an_apology(
    telegram: FakeTelegram, shared_bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> NoReturn:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(shared_bot.db, "subscriptions", broken)
    user = telegram.user(1008)
    await user.send("/my")
    await user.wait_for_message("Вибачте, сталася помилка")
    monkeypatch.undo()
    await user.send("/help")
    await user.wait_for_message("/schedule")  # still running


async def test_only_admins_change_a_group_chats_subscriptions(
    telegram: FakeTelegram, shared_bot: RunningBot
) -> None:
    admin, member = telegram.user(2001), telegram.user(2002)
    group = telegram.group(-100500, admins={2001})
    await member.send("/subscribe", chat=group)
    await member.wait_for_message("лише адміністратори", chat=group)
    await admin.send("/subscribe", chat=group)
    await admin.wait_for_message("Оберіть свою чергу", chat=group)
    await member.press("Черга 1.1", chat=group)
    await member.wait_for_callback_answer()  # refused
    assert await shared_bot.db.subscriptions("-100500") == []
    await admin.press("Черга 1.1", chat=group)
    await admin.wait_for_message("Підписано", chat=group)
    assert await shared_bot.db.subscriptions("-100500") == [("kem", "GPV1.1")]


async def test_my_remind_quiet_lang(telegram: FakeTelegram, shared_bot: RunningBot) -> None:
    user = telegram.user(1009)
    await user.send("/remind")
    await user.wait_for_message("Нагадування")
    await user.press("🔴 15")
    await user.wait_for_callback_answer()
    await user.press("🟢 5")
    await user.wait_for_callback_answer()  # answered once saved
    recipient = known(await shared_bot.db.get_recipient("1009"))
    assert (recipient.lead_off_minutes, recipient.lead_on_minutes) == (15, 5)
    await user.send("/quiet 23:00-07:00")
    await user.wait_for_message("Тихі години: 23:00–07:00")
    await user.send("/quiet 25:00-07:00")
    await user.wait_for_message("Не вдалося розібрати")
    await user.send("/lang")
    await user.wait_for_message("Choose language")
    await user.press("English")
    await user.wait_for_message("Language changed: English.")
    await user.send("/my")
    my = await user.wait_for_message("Your subscriptions")
    assert "15 min before" in known(my.text)
    assert "23:00–07:00" in known(my.text)


async def test_several_subscriptions_and_unsubscribe(telegram: FakeTelegram, shared_bot: RunningBot) -> None:
    user = telegram.user(1011)
    await subscribe(shared_bot, user.id, "GPV1.1")
    await subscribe(shared_bot, user.id, "GPV3.2")
    await user.send("/my")
    my = await user.wait_for_message("Ваші підписки")
    assert "Київ · Черга 1.1" in known(my.text)
    assert "Київ · Черга 3.2" in known(my.text)
    await user.send("/schedule")
    first = await user.wait_for_message(lambda m: m.photo is not None)
    second = await user.wait_for_message(lambda m: m.photo is not None)
    assert "Черга 1.1" in known(first.caption)
    assert "Черга 3.2" in known(second.caption)
    await user.send("/unsubscribe")
    await user.wait_for_message("Від якої черги відписатися?")
    await user.press("❌ Київ · Черга 1.1")
    await user.wait_for_message("Підписку скасовано")
    assert await shared_bot.db.subscriptions("1011") == [("kem", "GPV3.2")]
    await user.press("❌ Київ · Черга 1.1")  # the same, now stale button
    await user.wait_for_message("Це меню застаріло")


async def test_pictures_can_be_turned_off(telegram: FakeTelegram, shared_bot: RunningBot) -> None:
    user = telegram.user(1012)
    await user.send("/pictures")
    await user.wait_for_message("Картинки вимкнено")
    await user.send("/schedule 3.2")
    text = await user.wait_for_message("Київ · Черга 3.2")
    assert text.photo is None
    assert "Сьогодні, пн 23.11" in known(text.text)
    await user.send("/pictures")
    await user.wait_for_message("Картинки увімкнено")
    await user.send("/schedule 3.2")
    assert (await user.wait_for_message(lambda m: m.photo is not None)).photo is not None


async def test_admin_stats_and_rate_limited_refresh(telegram: FakeTelegram, shared_bot: RunningBot) -> None:
    admin, stranger = telegram.user(1), telegram.user(1010)
    await subscribe(shared_bot, 1010)
    await stranger.send("/stats")
    await stranger.wait_for_message("лише для адміністраторів")
    await admin.send("/stats")
    stats = await admin.wait_for_message("Чатів:")
    assert "kem GPV3.2: 1" in known(stats.text)
    await admin.send("/refresh")
    await admin.wait_for_message("Дані оновлено (kem)")
    await admin.send("/refresh")
    await admin.wait_for_message("Примусове оновлення можливе через")


# --- notifications -----------------------------------------------------------------------------------


async def test_a_change_in_the_shared_db_reaches_every_subscriber(
    telegram: FakeTelegram, shared: SharedDb, shared_bot: RunningBot
) -> None:
    writer, _ = shared
    users = [telegram.user(3000 + i, language_code="uk") for i in range(3)]
    for user in users:
        await subscribe(shared_bot, user.id)
    await subscribe(shared_bot, 3100, group="GPV1.1")  # another group: must hear nothing
    telegram.user(3100)
    changed = with_day(sample_schedule("kem", TODAY), TODAY, "GPV3.2", "+" * 28 + "-" * 4 + "+" * 16)
    await publish(writer, changed)
    for user in users:
        notice = await user.wait_for_message("Графік змінився")
        assert "14:00–16:00: тепер світла немає" in known(notice.text)
        assert "08:00–11:30: тепер світло є" in known(notice.text)
    await wait_until(shared_bot.outbox_empty)
    assert telegram.chat(3100) is None or not [
        m for m in telegram.user(3100).messages if "змінився" in (m.text or "")
    ]


async def test_tomorrow_published(telegram: FakeTelegram, tmp_path: Path, dtek: FakeDtekSite) -> None:
    path = tmp_path / "schedules.db"
    async with await ScheduleWriter.open(path) as writer:
        await publish(writer, only_today(sample_schedule("kem", TODAY)))
        bot = await start_bot(make_settings(telegram, dtek, tmp_path, schedule_db_url=str(path)), Clock(NOW))
        user = telegram.user(4001, language_code="en")
        await subscribe(bot, user.id, lang="en")
        await publish(writer, sample_schedule("kem", TODAY))
        notice = await user.wait_for_message("Schedule published for Tomorrow, Tue 24.11")
        assert "00:30–04:00 no power" in known(notice.text)
        await bot.stop()


async def test_reminders_follow_the_clock_across_midnight(
    telegram: FakeTelegram, shared_bot: RunningBot
) -> None:
    user = telegram.user(5001)
    await subscribe(shared_bot, user.id)
    await shared_bot.db.set_leads(str(user.id), 15, 30)
    shared_bot.clock.set(datetime(2026, 11, 23, 7, 45, tzinfo=KYIV))
    await shared_bot.app.notifier.queue_reminders()
    reminder = await user.wait_for_message("⏰")
    assert reminder.text == "⏰ Через 15 хвилин (08:00) відключення світла: Черга 3.2."
    shared_bot.clock.set(datetime(2026, 11, 23, 11, 0, tzinfo=KYIV))
    await shared_bot.app.notifier.queue_reminders()
    back = await user.wait_for_message("⏰")
    assert back.text == "⏰ Через 30 хвилин (11:30) має повернутися світло: Черга 3.2."
    shared_bot.clock.set(datetime(2026, 11, 24, 0, 15, tzinfo=KYIV))  # tomorrow's 00:30 outage
    await shared_bot.app.notifier.queue_reminders()
    night = await user.wait_for_message("⏰")
    assert "(00:30)" in known(night.text)
    await shared_bot.app.notifier.queue_reminders()  # the same window again: nothing twice
    await wait_until(shared_bot.outbox_empty)
    assert sum("⏰" in (m.text or "") for m in user.messages) == 3


async def test_reminder_on_the_spring_dst_day(
    telegram: FakeTelegram, shared: SharedDb, shared_bot: RunningBot
) -> None:
    writer, _ = shared
    user = telegram.user(5002, language_code="en")
    await subscribe(shared_bot, user.id, lang="en")
    await shared_bot.db.set_leads(str(user.id), 60, None)
    day = date(2026, 3, 29)
    dst = RegionSchedule(
        region="kem", updated=None, groups={"GPV3.2": "Черга 3.2"}, days={day: {"GPV3.2": "+" * 8 + "-" * 40}}
    )
    shared_bot.clock.set(datetime(2026, 3, 28, 20, 0, tzinfo=KYIV))
    await publish(writer, dst)
    await user.wait_for_message("Schedule published for Tomorrow, Sun 29.03")
    # 04:00 summer time is one real hour after 02:00 winter time: 03:00 never happens that night.
    shared_bot.clock.set(datetime(2026, 3, 29, 2, 0, tzinfo=KYIV))
    assert await shared_bot.app.notifier.queue_reminders() == 1
    reminder = await user.wait_for_message("⏰")
    assert reminder.text == "⏰ Power goes off in 1 hour (04:00): Черга 3.2."


async def test_quiet_hours_drop_reminders_and_hold_change_notices(
    telegram: FakeTelegram, shared: SharedDb, shared_bot: RunningBot
) -> None:
    writer, _ = shared
    user = telegram.user(5003)
    await subscribe(shared_bot, user.id)
    await shared_bot.db.set_leads(str(user.id), 15, None)
    await shared_bot.db.set_quiet(
        str(user.id), *(datetime(2026, 1, 1, 23).time(), datetime(2026, 1, 1, 7).time())
    )
    shared_bot.clock.set(datetime(2026, 11, 24, 0, 15, tzinfo=KYIV))  # due inside quiet hours
    await shared_bot.app.notifier.queue_reminders()
    changed = with_day(sample_schedule("kem", TODAY), TOMORROW, "GPV3.2", "-" * 48)
    await publish(writer, changed)

    async def notice_held() -> bool:  # queued, and not due before the quiet hours end
        db = shared_bot.db
        return (await db.outbox_counts())["pending"] == 1 and not await db.due_messages(shared_bot.clock(), 1)

    await wait_until(notice_held)
    assert user.messages == []  # the reminder was dropped, the notice waits
    shared_bot.clock.set(datetime(2026, 11, 24, 7, 0, tzinfo=KYIV))
    notice = await user.wait_for_message("Графік змінився", timeout=5)
    assert "Сьогодні, вт 24.11" in known(notice.text)
    assert not any("⏰" in (m.text or "") for m in user.messages)


async def test_blocked_chat_is_deactivated_and_keeps_its_data(
    telegram: FakeTelegram, shared: SharedDb, shared_bot: RunningBot
) -> None:
    writer, _ = shared
    blocker, other = telegram.user(6001), telegram.user(6002)
    for user in (blocker, other):
        await subscribe(shared_bot, user.id)
    telegram.block(blocker)
    await publish(writer, with_day(sample_schedule("kem", TODAY), TODAY, "GPV3.2", "-" * 48))
    await other.wait_for_message("Графік змінився")

    async def deactivated() -> bool:
        return not known(await shared_bot.db.get_recipient("6001")).active

    await wait_until(deactivated)
    recipient = known(await shared_bot.db.get_recipient("6001"))
    assert not recipient.active
    assert await shared_bot.db.subscriptions("6001") == [("kem", "GPV3.2")]


async def test_429_pauses_and_the_message_still_arrives_once(
    telegram: FakeTelegram, shared: SharedDb, shared_bot: RunningBot
) -> None:
    writer, _ = shared
    user = telegram.user(6101)
    await subscribe(shared_bot, user.id)
    telegram.fail_next("sendMessage", status=429, retry_after=1)
    await publish(writer, with_day(sample_schedule("kem", TODAY), TODAY, "GPV3.2", "-" * 48))
    await user.wait_for_message("Графік змінився", timeout=8)
    await wait_until(shared_bot.outbox_empty)
    assert telegram.too_many_requests_count == 1
    assert sum("змінився" in (m.text or "") for m in user.messages) == 1
    assert await shared_bot.app.notifier.prune() == 0  # recent history is kept
    shared_bot.clock.set(NOW + timedelta(days=31))
    assert await shared_bot.app.notifier.prune() >= 1  # the sent row, a month later
    assert (await shared_bot.db.outbox_counts())["sent"] == 0


async def test_restart_in_the_middle_of_a_broadcast(
    telegram: FakeTelegram, dtek: FakeDtekSite, shared: SharedDb, tmp_path: Path
) -> None:
    writer, path = shared
    rate = 400
    settings = make_settings(telegram, dtek, tmp_path, schedule_db_url=str(path), telegram_rate_limit=rate)
    chats = [telegram.user(10_000 + i) for i in range(2000)]
    bot = await start_bot(settings, Clock(NOW))
    for user in chats:
        await subscribe(bot, user.id)
    await publish(writer, with_day(sample_schedule("kem", TODAY), TODAY, "GPV3.2", "-" * 48))
    await wait_until(lambda: telegram.sent_count >= 600, timeout=30)
    await bot.crash()
    sent_before_restart = telegram.sent_count
    assert sent_before_restart < 2000
    bot = await start_bot(settings, Clock(NOW))
    await wait_until(bot.outbox_empty, timeout=30)
    counts = [sum("змінився" in (m.text or "") for m in user.messages) for user in chats]
    assert min(counts) == 1  # nothing lost
    in_flight = sends_in_flight(rate)  # the worker's sends under way: the most a crash can cut off
    assert sum(counts) - len(chats) <= in_flight  # duplicates only for messages in flight at the crash
    await bot.stop()


# --- address lookup and standalone mode ------------------------------------------------------------


async def test_address_lookup_then_subscribe(
    telegram: FakeTelegram, dtek: FakeDtekSite, shared_bot: RunningBot
) -> None:
    user = telegram.user(7001)
    await user.send("/address")
    await user.wait_for_message("Введіть назву населеного пункту")
    await answer_address_up_to_the_house(user)
    await user.send("22А")
    found = await user.wait_for_message("Черга:")
    assert "Черга 2.2, Черга 3.1" in known(found.text)
    await user.press("✅ Підписатися на Черга 3.1")
    await user.wait_for_message("Підписано: Київ, Черга 3.1")
    assert sum(dtek.ajax_calls.values()) >= 1


async def test_standalone_mode_scrapes_the_fake_dtek_site(
    telegram: FakeTelegram, dtek: FakeDtekSite, tmp_path: Path
) -> None:
    bot = await start_bot(make_settings(telegram, dtek, tmp_path), Clock(NOW))
    user = telegram.user(8001)
    await user.send("/schedule 3.2")
    photo = await user.wait_for_message(lambda m: m.photo is not None)
    assert "Київ · Черга 3.2" in known(photo.caption)
    await user.send("/status")
    status = await user.wait_for_message("Режим:")
    assert "власне завантаження" in known(status.text)
    assert dtek.hits["kem"] == 1
    await bot.stop()


async def test_webhook_mode_checks_the_secret(
    telegram: FakeTelegram,
    dtek: FakeDtekSite,
    shared: SharedDb,
    tmp_path: Path,
    unused_tcp_port: int,
) -> None:
    _, path = shared
    settings = make_settings(
        telegram,
        dtek,
        tmp_path,
        schedule_db_url=str(path),
        telegram_webhook_url="https://bot.example.invalid/",
        telegram_webhook_secret=SecretStr("s3cret-token"),
        webhook_host="127.0.0.1",
        webhook_port=unused_tcp_port,
    )
    bot = await start_bot(settings, Clock(NOW))
    user = telegram.user(9001)
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": 9001, "type": "private"},
            "from": {"id": 9001, "is_bot": False, "first_name": "T", "language_code": "uk"},
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }
    url = f"http://127.0.0.1:{unused_tcp_port}/telegram/webhook"
    async with aiohttp.ClientSession() as session:
        async with session.post(
            url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}
        ) as answer:
            assert answer.status == 401
        assert user.messages == []
        async with session.post(
            url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
        ) as answer:
            assert answer.status == 200
    await user.wait_for_message("/schedule")
    webhook = telegram.calls_to("setWebhook")[-1].params
    assert webhook["url"] == "https://bot.example.invalid/telegram/webhook"
    assert webhook["secret_token"] == "s3cret-token"
    await bot.stop()


def test_missing_or_malformed_token_is_one_clear_line(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO_ROOT), "DATABASE_URL": str(tmp_path / "t.db")}
    for token in (None, "not-a-token:with spaces"):
        run_env = env if token is None else env | {"TELEGRAM_BOT_TOKEN": token}
        result = subprocess.run(
            [sys.executable, "-m", "telegram_bot"],
            cwd=tmp_path,
            env=run_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0
        assert "TELEGRAM_BOT_TOKEN" in result.stderr
        assert "Traceback" not in result.stderr
        if token:
            assert token not in result.stderr


# --- what DTEK announces ----------------------------------------------------------------------------


async def test_dteks_announcement_and_a_weekly_plan_not_in_force_from_the_shared_db(
    telegram: FakeTelegram, dtek: FakeDtekSite, shared: SharedDb, tmp_path: Path
) -> None:
    writer, path = shared
    notices = PageNotices(
        "За наказом НЕК Укренерго діятимуть\nстабілізаційні відключення.", {"showTablePlan": False}
    )
    await writer.save(
        sample_schedule("kem", TODAY), streets=None, fetched_at=NOW, duration_seconds=1.0, notices=notices
    )
    bot = await start_bot(make_settings(telegram, dtek, tmp_path, schedule_db_url=str(path)), Clock(NOW))
    user = telegram.user(8101, language_code="en")
    await user.send("/schedule 3.2")
    photo = await user.wait_for_message(lambda m: m.photo is not None)
    assert "📢 DTEK: За наказом НЕК Укренерго діятимуть" in known(photo.caption)
    assert "Full text in /status." in known(photo.caption)
    await user.press("📅 Week")
    week = await user.wait_for_message(lambda m: "Weekly plan" in (m.caption or ""))
    assert "Weekly plan of possible outages — not in force now" in known(week.caption)
    await user.send("/status")
    status = await user.wait_for_message("Mode:")
    assert "⚠️ Kyiv: DTEK's weekly plan is not in force now." in known(status.text)
    assert (
        "📢 DTEK's announcement (Kyiv, since 23.11.2026 06:00):\n"
        "За наказом НЕК Укренерго діятимуть\nстабілізаційні відключення."
    ) in known(status.text)
    await bot.stop()


async def test_standalone_mode_reads_dteks_announcement_from_the_page(
    telegram: FakeTelegram, dtek: FakeDtekSite, tmp_path: Path
) -> None:
    dtek.publish(sample_schedule("kem", TODAY), announcement="<p>Відключень <b>не буде</b>.</p>")
    bot = await start_bot(make_settings(telegram, dtek, tmp_path), Clock(NOW))
    user = telegram.user(8102)
    await user.send("/status")
    status = await user.wait_for_message("Режим:")
    assert "📢 Оголошення ДТЕК (Київ, з 23.11.2026 06:00):\nВідключень не буде." in known(status.text)
    assert "тижневий план" not in known(status.text)
    await bot.stop()


async def test_news_on_brings_each_new_announcement_once(
    telegram: FakeTelegram, dtek: FakeDtekSite, shared: SharedDb, tmp_path: Path
) -> None:
    writer, path = shared
    first = PageNotices("Стабілізаційні відключення діятимуть цілодобово.", {})
    await writer.save(
        sample_schedule("kem", TODAY), streets=None, fetched_at=NOW, duration_seconds=1.0, notices=first
    )
    bot = await start_bot(make_settings(telegram, dtek, tmp_path, schedule_db_url=str(path)), Clock(NOW))
    await subscribe(bot, 8201)
    user = telegram.user(8201)
    await user.send("/news")
    await user.wait_for_message("Нові оголошення ДТЕК: ні.")
    await user.send("/news увімкнути")
    await user.wait_for_message("📢 Оголошення ДТЕК увімкнено")
    await user.send("/news maybe")
    await user.wait_for_message("Не вдалося розібрати «maybe»")
    assert await bot.db.wants_news("8201")

    # A new text, published with a schedule change (the cache reloads at once on a new version).
    changed = with_day(sample_schedule("kem", TODAY), TOMORROW, "GPV1.1", "-" * 48)
    news = PageNotices("Відключення <скасовано>.\nДякуємо!", {})
    await writer.save(changed, streets=None, fetched_at=NOW, duration_seconds=1.0, notices=news)
    message = await user.wait_for_message("Нове оголошення ДТЕК")
    assert known(message.text) == "📢 Нове оголошення ДТЕК: Київ\n\nВідключення <скасовано>.\nДякуємо!"
    # The same words again, with other spacing: no second message.
    again = with_day(changed, TOMORROW, "GPV1.2", "-" * 48)
    respaced = PageNotices("Відключення  <скасовано>. Дякуємо!", {})
    await writer.save(again, streets=None, fetched_at=NOW, duration_seconds=1.0, notices=respaced)
    await wait_until(bot.outbox_empty)
    await user.send("/news off")
    await user.wait_for_message("Оголошення ДТЕК вимкнено.")
    news_rows = [m for m in user.messages if "Нове оголошення ДТЕК" in (m.text or "")]
    assert len(news_rows) == 1
    await bot.stop()
