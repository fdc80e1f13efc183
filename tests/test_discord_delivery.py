"""Outbox delivery to Discord (``discord_bot.delivery``).

End to end (marked e2e one by one): the real discord.py client logged in to the fake Discord, a real
``BotDB`` and the real ``OutboxWorker``. Without the network: payloads into embeds and texts within
Discord's limits, recipient ids, and the outcomes of errors that the fake cannot produce.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import aiohttp
import discord
import pytest
from discord.ext import commands

from common.botdb import BotDB
from common.changes import EventKind, ScheduleEvent
from common.messages import OutboxItem, OutboxRow
from common.notifications import OutboxWorker, SendOutcome
from common.render.text import Rendered, Section, render_event, rendered_to_json
from discord_bot.delivery import (
    DiscordSender,
    Post,
    channel_recipient,
    notice_embeds,
    outcome_of_error,
    parse_recipient,
    payload_posts,
    subscription_roles,
    user_recipient,
)
from tests import test_fake_discord as fake_discord_tests
from tests.fakes.discord import FakeDiscord, FakeMessage, _check_embeds, running
from tests.known import known
from tests.test_fake_discord import TOKEN, World

# The fake Discord's fixtures, shared with its own tests: the fake, its world (a guild with a channel the
# bot may post in and one where it may not, Alice with open DMs, Bob with closed ones), and the check that
# no task or thread of discord.py or the fake outlives a test.
fake = fake_discord_tests.fake
world = fake_discord_tests.world
nothing_left_running = fake_discord_tests.nothing_left_running

POST = "POST /channels/{channel_id}/messages"
OPEN_DM = "POST /users/@me/channels"
T0 = datetime(2026, 1, 20, 8, 0, tzinfo=UTC)
TOMORROW = date(2026, 1, 21)
REGION, GROUP = "kem", "GPV3.1"
EVENT = ScheduleEvent(EventKind.CHANGED, REGION, GROUP, TOMORROW, "+" * 48, "+" * 20 + "-" * 8 + "+" * 20)
NOTICE = render_event(EVENT, group_name="3.1", today=T0.date(), lang="uk")
# Eight sections of about 950 characters: over the 6,000 a message's embeds may hold, so two messages.
OVERSIZED = Rendered(
    title="Графік на тиждень",
    lead="Усі зміни разом",
    sections=tuple(
        Section(f"День {day}", tuple(f"рядок {day}.{n} " + "·" * 80 for n in range(10))) for day in range(8)
    ),
    notes=("Оновлено ДТЕК 20.01 09:00",),
)


@dataclass
class Clock:
    """The program's clock, moved by the test past a retry's due time."""

    at: datetime = T0

    def __call__(self) -> datetime:
        return self.at


def notice_payload(rendered: Rendered = NOTICE, **extra: Any) -> dict[str, Any]:
    """A change notice as the fan-out queues it (common.notifications.fanout)."""
    return {
        "kind": "event",
        "rendered": rendered_to_json(rendered),
        "region": REGION,
        "group": GROUP,
        "day": TOMORROW.isoformat(),
        **extra,
    }


def reminder_payload(text: str) -> dict[str, Any]:
    return {"kind": "reminder", "text": text, "expires": (T0 + timedelta(hours=1)).isoformat()}


def make_client(**options: Any) -> commands.Bot:
    # guild_ready_timeout: on_ready comes that long after the last GUILD_CREATE (2 s by default).
    return commands.Bot(
        command_prefix=commands.when_mentioned,
        intents=discord.Intents.default(),
        guild_ready_timeout=0.05,
        **options,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(
    fake: FakeDiscord, world: World, request: pytest.FixtureRequest
) -> AsyncIterator[commands.Bot]:
    # The module mixes e2e and unit tests, so each e2e test carries the mark: one missing it fails here.
    assert request.node.get_closest_marker("e2e"), "a test with the real client must be marked e2e"
    async with running(make_client(), TOKEN) as started:
        yield started


@pytest.fixture
async def db(tmp_path: Path, clock: Clock) -> AsyncIterator[BotDB]:
    async with await BotDB.open(tmp_path / "discord.db", now=clock) as db:
        yield db


def worker(db: BotDB, client: discord.Client, clock: Clock) -> OutboxWorker:
    """The worker as the bot runs it: roles to mention come from the channels' subscriptions."""
    sender = DiscordSender(client, mention_role=subscription_roles(db))
    return OutboxWorker(db, sender, rate_per_second=50, per_recipient_interval=0.01, now=clock)


async def queue(db: BotDB, recipient: str, *payloads: Mapping[str, Any]) -> None:
    await db.ensure_recipient(recipient, "uk")
    items = [OutboxItem(recipient, f"{recipient}:{n}", p, T0) for n, p in enumerate(payloads)]
    assert await db.enqueue(items) == len(payloads)


async def pending_row(db: BotDB, clock: Clock) -> OutboxRow:
    [row] = await db.due_messages(clock() + timedelta(days=1), 10)
    return row


def field_names(messages: list[FakeMessage]) -> list[str]:
    return [f["name"] for m in messages for embed in m.embeds for f in embed.get("fields", [])]


# --- end to end: the real client, the fake Discord, the real worker ---------------------------------------


@pytest.mark.e2e
async def test_change_notice_is_posted_to_a_channel_as_an_embed_mentioning_only_the_role(
    fake: FakeDiscord, world: World, client: commands.Bot, db: BotDB, clock: Clock
) -> None:
    role = world.guild.role("Черга 3.1")
    channel = channel_recipient(world.general.id)
    server = str(world.guild.id)
    await db.subscribe_channel(channel, REGION, GROUP, server_id=server, lang="uk", mention_role=str(role.id))
    await queue(db, channel, notice_payload())

    assert await worker(db, client, clock).drain() == 1

    [message] = world.general.messages
    assert message.content == f"<@&{role.id}>"
    [embed] = message.embeds
    assert embed["title"] == NOTICE.title
    assert embed["description"] == NOTICE.lead
    [section] = NOTICE.sections
    assert embed["fields"] == [{"name": section.title, "value": "\n".join(section.lines), "inline": False}]
    [post] = fake.requests_to(POST)
    # The role is pinged, and nothing else could be: no @everyone, users or other roles.
    assert post.body["allowed_mentions"] == {"parse": [], "roles": [role.id]}
    assert await db.outbox_counts() == {"pending": 0, "sent": 1, "dead": 0}


@pytest.mark.e2e
async def test_reminders_go_by_dm_as_escaped_text_opening_the_dm_channel_once(
    fake: FakeDiscord, world: World, client: commands.Bot, db: BotDB, clock: Clock
) -> None:
    alice = user_recipient(world.alice.id)
    first = reminder_payload("Через 15 хвилин *вимкнуть* світло (черга 3_1)")
    await queue(db, alice, first, reminder_payload("Світло повернуть о 14:00"))

    assert await worker(db, client, clock).drain() == 2

    assert [m.content for m in world.alice.dms] == [
        r"Через 15 хвилин \*вимкнуть\* світло (черга 3\_1)",
        "Світло повернуть о 14:00",
    ]
    assert len(fake.requests_to(OPEN_DM)) == 1
    assert [r.body["allowed_mentions"] for r in fake.requests_to(POST)] == [{"parse": []}] * 2


@pytest.mark.e2e
async def test_closed_dms_deactivate_the_user_and_drop_their_rows_keeping_their_data(
    fake: FakeDiscord, world: World, client: commands.Bot, db: BotDB, clock: Clock
) -> None:
    bob = user_recipient(world.bob.id)
    await queue(db, bob, reminder_payload("Через 15 хвилин вимкнуть світло"), notice_payload())
    await db.subscribe(bob, REGION, GROUP)
    await db.set_leads(bob, 15, None)

    assert await worker(db, client, clock).drain() == 0

    recipient = known(await db.get_recipient(bob))
    assert not recipient.active
    assert "does not accept DMs" in known(recipient.deactivated_reason)
    assert "50007" in known(recipient.deactivated_reason)
    assert (recipient.lead_off_minutes, await db.subscriptions(bob)) == (15, [(REGION, GROUP)])
    assert await db.outbox_counts() == {"pending": 0, "sent": 0, "dead": 2}
    assert [r.code for r in fake.requests_to(POST)] == [50007]  # the second row was dropped, not tried
    assert world.bob.dms == []


@pytest.mark.parametrize(
    ("where", "code", "reason"),
    [
        ("readonly", 50013, "may not post"),
        ("deleted", 10003, "channel was deleted"),
        ("unknown user", 10013, "no longer exists"),
    ],
)
@pytest.mark.e2e
async def test_an_unreachable_channel_or_user_is_blocked(
    fake: FakeDiscord,
    world: World,
    client: commands.Bot,
    db: BotDB,
    clock: Clock,
    where: str,
    code: int,
    reason: str,
) -> None:
    recipient = {
        "readonly": channel_recipient(world.readonly.id),
        "deleted": channel_recipient(1_234_567_890),
        "unknown user": user_recipient(9_876_543_210),
    }[where]
    await queue(db, recipient, notice_payload())

    assert await worker(db, client, clock).drain() == 0

    deactivated = known(await db.get_recipient(recipient))
    assert not deactivated.active
    assert reason in known(deactivated.deactivated_reason)
    assert str(code) in known(deactivated.deactivated_reason)
    assert await db.outbox_counts() == {"pending": 0, "sent": 0, "dead": 1}
    assert world.readonly.messages == []


@pytest.mark.e2e
async def test_a_500_once_is_retried_by_discord_py_and_posted_once(
    fake: FakeDiscord, world: World, client: commands.Bot, db: BotDB, clock: Clock
) -> None:
    fake.fail_next(POST, 500)
    await queue(db, channel_recipient(world.general.id), notice_payload())

    assert await worker(db, client, clock).drain() == 1  # discord.py waited a second and tried again

    assert [r.status for r in fake.requests_to(POST)] == [500, 200]
    assert len(world.general.messages) == 1
    assert await db.outbox_counts() == {"pending": 0, "sent": 1, "dead": 0}


@pytest.mark.e2e
async def test_a_server_error_discord_py_gives_up_on_is_retried_by_the_worker(
    fake: FakeDiscord, world: World, client: commands.Bot, db: BotDB, clock: Clock
) -> None:
    fake.fail_next(POST, 503)  # not among the statuses discord.py retries itself
    await queue(db, channel_recipient(world.general.id), notice_payload())
    outbox = worker(db, client, clock)

    assert await outbox.drain() == 0
    row = await pending_row(db, clock)
    assert (row.attempts, row.parts_sent, row.not_before) == (1, 0, T0 + timedelta(seconds=5))
    assert world.general.messages == []

    clock.at = row.not_before
    assert await outbox.drain() == 1
    assert [r.status for r in fake.requests_to(POST)] == [503, 200]
    assert len(world.general.messages) == 1
    assert known(await db.get_recipient(channel_recipient(world.general.id))).active


@pytest.mark.e2e
async def test_an_oversized_notice_goes_in_parts_and_a_retry_sends_only_the_missing_one(
    fake: FakeDiscord, world: World, client: commands.Bot, db: BotDB, clock: Clock
) -> None:
    payload = notice_payload(OVERSIZED)
    first, second = payload_posts(payload)
    fake.fail_next(POST, 503, after=1)
    await queue(db, channel_recipient(world.general.id), payload)
    outbox = worker(db, client, clock)

    assert await outbox.drain() == 0
    row = await pending_row(db, clock)
    assert (row.attempts, row.parts_sent) == (1, 1)
    assert len(world.general.messages) == 1

    clock.at = row.not_before
    assert await outbox.drain() == 1

    messages = world.general.messages
    assert len(messages) == 2
    assert [r.status for r in fake.requests_to(POST)] == [200, 503, 200]
    assert field_names(messages[:1]) == [f.name for e in first.embeds for f in e.fields]
    assert field_names(messages[1:]) == [f.name for e in second.embeds for f in e.fields]
    assert field_names(messages) == [section.title for section in OVERSIZED.sections]
    assert [known(m.embed)["title"] for m in messages] == [OVERSIZED.title] * 2
    assert messages[1].embeds[-1]["footer"] == {"text": "Оновлено ДТЕК 20.01 09:00"}


@pytest.mark.e2e
async def test_the_sender_reports_the_parts_that_arrived_before_a_failure(
    fake: FakeDiscord, world: World, client: commands.Bot
) -> None:
    fake.fail_next(POST, 503, after=1)
    sender = DiscordSender(client)
    recipient = channel_recipient(world.general.id)

    failed = await sender.send(recipient, notice_payload(OVERSIZED), parts_sent=0)
    done = await sender.send(recipient, notice_payload(OVERSIZED), parts_sent=2)

    assert (failed.status, failed.parts_delivered) == ("failed", 1)
    assert "503" in known(failed.error)
    assert done == SendOutcome("sent")  # nothing left to send, and nothing was
    assert len(fake.requests_to(POST)) == 2


@pytest.mark.e2e
async def test_an_unexplained_404_fails_without_deactivating(
    fake: FakeDiscord, world: World, client: commands.Bot, db: BotDB, clock: Clock
) -> None:
    # A bare 404 (code 0) is what a wrong API address gives: it must not cost every recipient its alerts.
    fake.fail_next(POST, 404)
    recipient = channel_recipient(world.general.id)
    await queue(db, recipient, notice_payload())

    assert await worker(db, client, clock).drain() == 0

    assert known(await db.get_recipient(recipient)).active
    row = await pending_row(db, clock)
    assert row.attempts == 1


@pytest.mark.e2e
async def test_a_rate_limit_longer_than_discord_py_waits_pauses_the_row_without_an_attempt(
    fake: FakeDiscord, world: World, db: BotDB, clock: Clock
) -> None:
    # With max_ratelimit_timeout discord.py raises RateLimited for a longer wait instead of sleeping.
    fake.fail_next(POST, 429, retry_after=45)
    recipient = channel_recipient(world.general.id)
    await queue(db, recipient, notice_payload())

    async with running(make_client(max_ratelimit_timeout=30), TOKEN) as client:
        assert await worker(db, client, clock).drain() == 0
        row = await pending_row(db, clock)
        assert (row.attempts, row.not_before) == (0, T0 + timedelta(seconds=45))

        clock.at = row.not_before
        assert await worker(db, client, clock).drain() == 1  # a new worker: the old one pauses 45 s

    assert [r.status for r in fake.requests_to(POST)] == [429, 200]
    assert len(world.general.messages) == 1


# --- without the network -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("channel:42", ("channel", 42)), ("user:18446744073709551615", ("user", 2**64 - 1))],
)
def test_recipient_ids(text: str, expected: tuple[str, int]) -> None:
    recipient = parse_recipient(text)
    assert (recipient.kind, recipient.id) == expected
    assert str(recipient) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "42",
        "channel:",
        "channel:0",
        "channel:042",
        "channel:-1",
        "channel:4 2",
        "user:42 ",
        "User:42",
        "guild:42",
        "channel:١٢",  # Arabic-Indic digits, which int() would take
        "user:18446744073709551616",  # past 64 bits
        "channel:42:7",
    ],
)
def test_malformed_recipient_ids_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a Discord recipient"):
        parse_recipient(text)


class Untouchable:
    """A client that must not be used."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the sender touched the client ({name})")


@pytest.mark.parametrize(
    ("recipient", "payload", "error"),
    [
        ("channel:abc", notice_payload(), "not a Discord recipient"),
        ("42", notice_payload(), "not a Discord recipient"),
        ("channel:42", {"kind": "event"}, "neither 'rendered' nor 'text'"),
        ("channel:42", {"rendered": {"lead": "no title"}}, "title"),
    ],
)
async def test_a_malformed_row_fails_with_the_reason_without_touching_discord(
    recipient: str, payload: dict[str, Any], error: str
) -> None:
    sender = DiscordSender(cast(discord.Client, Untouchable()))

    outcome = await sender.send(recipient, payload, parts_sent=0)

    assert outcome.status == "failed"
    assert error in known(outcome.error)
    assert recipient in known(outcome.error)


@dataclass
class BrokenNetwork:
    """A client whose channels take ``works`` posts, then lose the connection."""

    works: int
    posted: list[Post] = field(default_factory=list)

    def get_partial_messageable(self, channel_id: int, **_: Any) -> BrokenNetwork:
        return self

    async def send(self, content: str | None, **options: Any) -> None:
        if len(self.posted) == self.works:
            raise aiohttp.ServerDisconnectedError()
        self.posted.append(Post(content, options["embeds"]))


async def test_a_network_error_fails_counting_the_parts_that_arrived() -> None:
    network = BrokenNetwork(works=1)
    sender = DiscordSender(cast(discord.Client, network))

    outcome = await sender.send("channel:42", notice_payload(OVERSIZED), parts_sent=0)

    assert (outcome.status, outcome.parts_delivered) == ("failed", 1)
    assert "ServerDisconnectedError" in known(outcome.error)
    assert len(network.posted) == 1


@dataclass
class Response:
    """What discord.HTTPException reads of aiohttp's response."""

    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)


def http_error(kind: type[discord.HTTPException], status: int, code: int, **headers: str) -> Any:
    response = cast(aiohttp.ClientResponse, Response(status, "reason", headers))
    return kind(response, {"message": "refused", "code": code})


def test_error_outcomes() -> None:
    # A 429 discord.py did not handle (without Cloudflare's Via header it takes it for a ban).
    limited = outcome_of_error(http_error(discord.HTTPException, 429, 0, **{"Retry-After": "7"}), 2)
    assert (limited.status, limited.retry_after, limited.parts_delivered) == ("retry_after", 7.0, 2)
    unsaid = outcome_of_error(http_error(discord.HTTPException, 429, 0), 0)
    assert (unsaid.status, unsaid.retry_after) == ("retry_after", 5.0)
    gone = outcome_of_error(http_error(discord.Forbidden, 403, 50001), 0)
    assert gone.status == "blocked"
    assert "can no longer see" in known(gone.error)
    for odd in (http_error(discord.Forbidden, 403, 40002), http_error(discord.NotFound, 404, 10008)):
        assert outcome_of_error(odd, 1) == SendOutcome(
            "failed", error=f"{odd.status} (code {odd.code}): refused", parts_delivered=1
        )
    too_big = outcome_of_error(http_error(discord.HTTPException, 400, 50035), 0)
    assert too_big.status == "failed"


def test_a_notice_is_one_embed_with_its_markdown_escaped() -> None:
    rendered = Rendered(
        title="Черга *3.1*",
        lead="Світло_вимкнуть",
        sections=(Section("Завтра", ("🔴 10:00–14:00 `немає`", "- разом 4 год")),),
        notes=("Оновлено *ДТЕК*",),
    )

    [[embed]] = notice_embeds(rendered)

    assert embed.title == r"Черга \*3.1\*"
    assert embed.description == r"Світло\_вимкнуть"
    [field_] = embed.fields
    assert (field_.name, field_.value) == ("Завтра", "🔴 10:00–14:00 \\`немає\\`\n\\- разом 4 год")
    assert embed.footer.text == "Оновлено *ДТЕК*"  # a footer shows no markdown
    assert embed.colour is not None


def test_a_notice_of_only_a_title_is_one_embed() -> None:
    [[embed]] = notice_embeds(Rendered(title="Графік прибрали"))
    assert (embed.title, embed.description, embed.fields, embed.footer.text) == (
        "Графік прибрали",
        None,
        [],
        None,
    )


def assert_within_limits(messages: list[list[discord.Embed]]) -> None:
    """Every message passes the fake's copy of Discord's checks (25 fields, 10 embeds, 6,000 in all)."""
    for embeds in messages:
        _check_embeds([embed.to_dict() for embed in embeds])


def test_more_than_25_fields_take_a_second_embed_in_the_same_message() -> None:
    sections = tuple(Section(f"Черга {n}", (f"🔴 {n}:00",)) for n in range(30))
    rendered = Rendered(title="Усі черги", sections=sections, notes=("примітка",))

    [embeds] = notice_embeds(rendered)

    assert [len(embed.fields) for embed in embeds] == [25, 5]
    assert [embed.title for embed in embeds] == ["Усі черги", None]
    assert [embed.footer.text for embed in embeds] == [None, "примітка"]
    assert_within_limits([embeds])


def test_more_than_6000_characters_take_several_messages_each_headed_by_the_title() -> None:
    messages = notice_embeds(OVERSIZED)

    assert len(messages) == 2
    assert_within_limits(messages)
    assert [embeds[0].title for embeds in messages] == [OVERSIZED.title] * 2
    assert messages[0][0].description == OVERSIZED.lead
    names = [f.name for embeds in messages for embed in embeds for f in embed.fields]
    assert names == [section.title for section in OVERSIZED.sections]  # nothing lost, in order
    assert [e.footer.text for embeds in messages for e in embeds] == [None, "Оновлено ДТЕК 20.01 09:00"]


def test_a_long_lead_and_long_notes_still_fit() -> None:
    rendered = Rendered(
        title="Т" * 300,
        lead="\n".join(["рядок " + "л" * 90] * 60),  # about 5,800 characters: two descriptions
        sections=(Section("С", ("з" * 900,)),),
        notes=("н" * 3000,),
    )

    messages = notice_embeds(rendered)

    assert_within_limits(messages)
    descriptions = [e.description for embeds in messages for e in embeds if e.description]
    assert "\n".join(descriptions) == rendered.lead
    assert len(known(messages[0][0].title)) == 256
    assert len(known(messages[-1][-1].footer.text)) == 2048


def test_a_long_reminder_goes_in_parts_with_the_mention_on_the_first() -> None:
    text = "\n".join(["Світло вимкнуть о 14:00 за графіком черги 3.1"] * 100)  # about 4,600 characters

    posts = payload_posts({"kind": "reminder", "text": text}, mention_role=77)

    assert len(posts) == 3
    assert all(len(known(post.content)) <= 2000 for post in posts)
    assert known(posts[0].content).startswith("<@&77>\n")
    assert "\n".join(known(post.content) for post in posts) == f"<@&77>\n{text}"
    assert [post.allowed_mentions.to_dict() for post in posts] == [
        {"roles": [77], "parse": []},
        {"parse": []},
        {"parse": []},
    ]


class Roles:
    """A role store answering one role for every channel subscription, and counting the questions."""

    def __init__(self, role: str | None) -> None:
        self.role = role
        self.asked: list[tuple[str, str, str]] = []

    async def mention_role(self, recipient_id: str, region: str, group: str) -> str | None:
        self.asked.append((recipient_id, region, group))
        return self.role


async def test_the_role_to_mention_comes_from_a_channels_subscription_to_the_payloads_group() -> None:
    roles = Roles("77")
    lookup = subscription_roles(roles)

    assert await lookup("channel:5", notice_payload()) == 77
    assert await lookup("user:5", notice_payload()) is None  # DMs mention nobody
    assert await lookup("channel:5", reminder_payload("Світло")) is None  # no group in the payload
    assert roles.asked == [("channel:5", REGION, GROUP)]


async def test_a_stored_role_that_is_no_discord_id_fails_the_row_without_touching_discord() -> None:
    sender = DiscordSender(
        cast(discord.Client, Untouchable()), mention_role=subscription_roles(Roles("@here"))
    )

    outcome = await sender.send("channel:42", notice_payload(), parts_sent=0)

    assert outcome.status == "failed"
    assert "mention_role" in known(outcome.error)
