"""Address lookup: suggestions as the user types, and house -> groups through DTEK's AJAX call."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Mapping
from datetime import date, datetime
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.clock import KYIV
from common.dtek.address import AddressLookup, HouseInfo, Outage, OutageType, search
from common.dtek.errors import BlockedPageError, FetchError, MalformedDataError
from common.dtek.fake_site import SAMPLE_HOUSES, SAMPLE_STREETS, FakeDtekSite, sample_schedule
from common.dtek.fetch import DtekFetcher
from common.dtek.parse import parse_page
from common.settings import DtekSettings

KYIV_CITY = "м. Київ"
KHRESHCHATYK = "вул. Хрещатик"
STREETS = [
    "вул. Хрещатик",
    "вул. Велика Васильківська",
    "просп. Перемоги",
    "пров. Кам’яний",
    "вул. Кам'янецька",
    "бульв. Лесі Українки",
    "вул. Нова Перемога",
    "вул. Переможна",
    "вул. Соборна",
]

# --- search --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["хрещ", "вул. хрещ", "вул.Хрещ", "вул хрещатик", "  ХРЕЩАТИК  "])
def test_search_ignores_type_prefix_case_and_spaces(query: str) -> None:
    assert search(STREETS, query) == ["вул. Хрещатик"]


@pytest.mark.parametrize("query", ["камян", "кам'ян", "кам’ян", "камʼян", "пров. Кам`ян"])
def test_search_ignores_apostrophe_variants(query: str) -> None:
    assert search(STREETS, query) == ["пров. Кам’яний", "вул. Кам'янецька"]


def test_search_settlement_prefixes() -> None:
    settlements = ["с. Київець", "м. Київ", "смт Київське", "с-ще Новокиївка"]
    assert search(settlements, "м. київ") == ["м. Київ", "с. Київець", "смт Київське", "с-ще Новокиївка"]
    assert search(settlements, "смт київс") == ["смт Київське"]


def test_search_ranks_whole_name_then_start_then_words_then_anywhere() -> None:
    assert search(STREETS, "перемо") == [
        "просп. Перемоги",  # the name starts with it
        "вул. Переможна",  # the name starts with it too: candidates' order
        "вул. Нова Перемога",  # a later word starts with it
    ]
    assert search(STREETS, "ремо") == ["просп. Перемоги", "вул. Нова Перемога", "вул. Переможна"]
    assert search(["вул. Соборна Нова", "вул. Соборна"], "соборна") == ["вул. Соборна", "вул. Соборна Нова"]


def test_search_every_typed_word_starts_a_word() -> None:
    assert search(STREETS, "вел вас") == ["вул. Велика Васильківська"]
    assert search(STREETS, "лес укр") == ["бульв. Лесі Українки"]
    assert search(STREETS, "вел соб") == []


def test_search_limit_and_duplicates() -> None:
    streets = [f"вул. Садова {n}" for n in range(20)]
    assert search(streets, "садова", limit=3) == ["вул. Садова 0", "вул. Садова 1", "вул. Садова 2"]
    assert search(["вул. Садова", "вул. Садова"], "сад") == ["вул. Садова"]
    assert search(streets, "садова", limit=0) == []


@pytest.mark.parametrize(
    "query", ["", "   ", "вул.", "м. ", "🔥🔥", "...", "x" * 2000, "х" * 2000, "Khreshchatyk"]
)
def test_search_odd_input_finds_nothing(query: str) -> None:
    assert search(STREETS, query) == []


def test_search_emoji_around_a_name_still_finds_it() -> None:
    assert search(STREETS, "⚡ Соборна ⚡") == ["вул. Соборна"]


@given(query=st.text(max_size=300), names=st.lists(st.text(max_size=40), max_size=20))
def test_search_never_raises_and_returns_only_candidates(query: str, names: list[str]) -> None:
    found = search(names, query, limit=5)
    assert len(found) <= 5
    assert set(found) <= set(names)
    assert len(found) == len(set(found))


# --- lookup against the fake site ----------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def site() -> AsyncIterator[FakeDtekSite]:
    async with FakeDtekSite() as fake:
        fake.publish(sample_schedule("kem", date(2026, 1, 5)), streets=SAMPLE_STREETS, houses=SAMPLE_HOUSES)
        yield fake


@pytest.fixture(params=["httpx", "curl_cffi"])
async def fetcher(request: pytest.FixtureRequest, site: FakeDtekSite) -> AsyncIterator[DtekFetcher]:
    settings = DtekSettings(
        _env_file=None,
        dtek_regions=["kem"],
        dtek_url_template=site.url_template,
        dtek_http_backend=request.param,
        dtek_retry_attempts=2,
        dtek_retry_base_delay_seconds=0,
    )
    async with DtekFetcher(settings) as fetcher:
        yield fetcher


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def lookup(fetcher: DtekFetcher, clock: Clock) -> AddressLookup:
    return AddressLookup(fetcher, region_interval_seconds=0.01, clock=clock)


def test_sample_houses_are_on_sample_streets() -> None:
    for settlement, street in SAMPLE_HOUSES:
        assert street in SAMPLE_STREETS[settlement]


async def test_fake_site_checks_token_cookie_and_xhr_header(site: FakeDtekSite) -> None:
    # The lookups below only get answers because the fetcher sends all three.
    url = f"{site.base_url}/kem/ua/ajax"
    form = {
        "method": "getHomeNum",
        "data[0][name]": "city",
        "data[0][value]": KYIV_CITY,
        "data[1][name]": "street",
        "data[1][value]": KHRESHCHATYK,
    }
    async with httpx.AsyncClient() as client:
        token = parse_page((await client.get(site.url_template.format(region="kem"))).text).csrf_token
        assert token
        good = {**form, "_csrf-dtek-kem": token}
        xhr = {"X-Requested-With": "XMLHttpRequest", "X-CSRF-Token": token}
        assert (await client.post(url, data=good, headers={"X-CSRF-Token": token})).status_code == 400
        assert (await client.post(url, data=form, headers=xhr)).status_code == 400
        assert (
            await client.post(url, data={**good, "_csrf-dtek-kem": "forged"}, headers=xhr)
        ).status_code == 400
        assert (await client.post(url, data=good, headers=xhr)).json()["result"] is True
        client.cookies.clear()
        assert (await client.post(url, data=good, headers=xhr)).status_code == 400
    assert site.ajax_rejected["kem"] == 4


async def test_houses_of_a_street(site: FakeDtekSite, lookup: AddressLookup) -> None:
    houses = await lookup.houses("kem", KYIV_CITY, KHRESHCHATYK)
    assert houses == {
        "1": HouseInfo("1", ["GPV1.1"], None),
        "22": HouseInfo("22", ["GPV2.2"], None),
        "22а": HouseInfo("22а", ["GPV2.2", "GPV3.1"], None),
    }
    assert site.hits["kem"] == 1  # the token came from one page
    assert site.ajax_calls["kem"] == 1
    assert site.ajax_rejected["kem"] == 0


async def test_groups_for(lookup: AddressLookup) -> None:
    assert await lookup.groups_for("kem", KYIV_CITY, KHRESHCHATYK, "22а") == HouseInfo(
        "22а", ["GPV2.2", "GPV3.1"], None
    )
    # Spaces and case as a user types them.
    found = await lookup.groups_for("kem", KYIV_CITY, KHRESHCHATYK, " 22 А")
    assert found is not None
    assert found.house == "22а"
    # Not on a schedule is not "unknown".
    assert await lookup.groups_for("kem", KYIV_CITY, "вул. Велика Васильківська", "100") == HouseInfo(
        "100", [], None
    )
    assert await lookup.groups_for("kem", KYIV_CITY, KHRESHCHATYK, "999") is None
    assert await lookup.groups_for("kem", KYIV_CITY, "вул. Неіснуюча", "1") is None


async def test_street_wide_answer(lookup: AddressLookup) -> None:
    street_wide = HouseInfo("-", ["GPV6.1"], None)
    assert await lookup.groups_for("kem", KYIV_CITY, "просп. Перемоги", "15") == street_wide
    # A settlement without a street list asks with an empty street.
    assert await lookup.groups_for("kem", "с. Гатне", "", "7") == HouseInfo("-", ["GPV3.2"], None)


async def test_exact_house_wins_over_street_wide(site: FakeDtekSite, lookup: AddressLookup) -> None:
    site.houses["kem", KYIV_CITY, "вул. Соборна"] = {"-": ["GPV1.2"], "3": ["GPV4.2"]}
    assert await lookup.groups_for("kem", KYIV_CITY, "вул. Соборна", "3") == HouseInfo("3", ["GPV4.2"], None)
    assert await lookup.groups_for("kem", KYIV_CITY, "вул. Соборна", "4") == HouseInfo("-", ["GPV1.2"], None)


async def test_outage_in_progress(site: FakeDtekSite, lookup: AddressLookup) -> None:
    address = ("kem", KYIV_CITY, KHRESHCHATYK)
    site.outages[(*address, "1")] = {
        "type": "2",
        "sub_type": "Аварійні ремонтні роботи",
        "start_date": "08:15 18.12.2025",
        "end_date": "14:00 18.12.2025",
    }
    site.outages[(*address, "22")] = {"type": "1", "sub_type": "Планові роботи", "end_date": "soon"}
    site.outages[(*address, "22а")] = {"type": "9", "sub_type": "?"}  # unknown type: no outage claimed
    houses = await lookup.houses(*address)
    assert houses["1"].outage == Outage(
        OutageType.EMERGENCY,
        "Аварійні ремонтні роботи",
        datetime(2025, 12, 18, 8, 15, tzinfo=KYIV),
        datetime(2025, 12, 18, 14, 0, tzinfo=KYIV),
    )
    assert houses["1"].groups == ["GPV1.1"]
    assert houses["22"].outage == Outage(OutageType.PLANNED, "Планові роботи", None, None)
    assert houses["22а"].outage is None


async def test_cached_answer_makes_no_second_call(
    site: FakeDtekSite, lookup: AddressLookup, clock: Clock
) -> None:
    first = await lookup.houses("kem", KYIV_CITY, KHRESHCHATYK)
    first.clear()  # a caller's copy: the cache keeps its own
    assert await lookup.groups_for("kem", KYIV_CITY, KHRESHCHATYK, "1") == HouseInfo("1", ["GPV1.1"], None)
    assert site.ajax_calls["kem"] == 1
    clock.now += 6 * 3600 + 1
    await lookup.houses("kem", KYIV_CITY, KHRESHCHATYK)
    assert site.ajax_calls["kem"] == 2


async def test_users_asking_at_once_share_one_call(site: FakeDtekSite, lookup: AddressLookup) -> None:
    answers = await asyncio.gather(*(lookup.houses("kem", KYIV_CITY, KHRESHCHATYK) for _ in range(5)))
    assert all(answer == answers[0] for answer in answers)
    assert "22а" in answers[0]
    assert site.ajax_calls["kem"] == 1


async def test_expired_token_is_a_clear_error_then_recovers(
    site: FakeDtekSite, lookup: AddressLookup
) -> None:
    await lookup.houses("kem", KYIV_CITY, KHRESHCHATYK)
    site.expire_sessions()
    with pytest.raises(FetchError, match="HTTP 400") as caught:
        await lookup.houses("kem", KYIV_CITY, "просп. Перемоги")
    assert not isinstance(caught.value, BlockedPageError)
    assert site.ajax_rejected["kem"] == 1
    # The refused token is dropped: the next lookup gets a fresh page, and with it a valid token.
    assert "-" in await lookup.houses("kem", KYIV_CITY, "просп. Перемоги")
    assert site.hits["kem"] == 2


async def test_unknown_method_is_result_false(site: FakeDtekSite, fetcher: DtekFetcher) -> None:
    with pytest.raises(FetchError, match="result=false: Bad request"):
        await fetcher.post_ajax("kem", {"method": "noSuchMethod"})
    assert site.ajax_calls["kem"] == 1


@pytest.mark.parametrize("blocked_from", ["page", "ajax"])
async def test_blocked_region(
    site: FakeDtekSite, lookup: AddressLookup, clock: Clock, blocked_from: str
) -> None:
    if blocked_from == "ajax":
        await lookup.houses("kem", KYIV_CITY, "просп. Перемоги")  # page and token before the block
    site.blocked.add("kem")
    with pytest.raises(BlockedPageError, match="after 2 attempts"):
        await lookup.houses("kem", KYIV_CITY, KHRESHCHATYK)
    hits = sum(site.hits.values()) + sum(site.ajax_calls.values())
    # Asking again at once would only prolong the block: refused without a request.
    with pytest.raises(BlockedPageError, match="not asking again"):
        await lookup.houses("kem", KYIV_CITY, KHRESHCHATYK)
    assert sum(site.hits.values()) + sum(site.ajax_calls.values()) == hits
    site.blocked.clear()
    clock.now += 30 * 60
    assert "22а" in await lookup.houses("kem", KYIV_CITY, KHRESHCHATYK)


# --- rate limits and odd answers, with a stand-in for the fetcher --------------------------------------


class RecordingPoster:
    def __init__(self, answer: Mapping[str, Any] | None = None) -> None:
        self.answer = (
            answer if answer is not None else {"result": True, "data": {"1": {"sub_type_reason": ["GPV1.1"]}}}
        )
        self.calls: list[tuple[str, str, float]] = []
        self.closed = False

    async def post_ajax(self, region: str, form: Mapping[str, str]) -> dict[str, Any]:
        self.calls.append((region, form["data[1][value]"], asyncio.get_running_loop().time()))
        return dict(self.answer)

    async def aclose(self) -> None:
        self.closed = True


def gaps(poster: RecordingPoster) -> list[float]:
    times = [at for *_, at in poster.calls]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


async def test_calls_in_one_region_are_spaced() -> None:
    poster = RecordingPoster()
    lookup = AddressLookup(poster, region_interval_seconds=0.2)
    for street in ("вул. А", "вул. Б", "вул. В"):
        await lookup.houses("kem", KYIV_CITY, street)
    assert [street for _, street, _ in poster.calls] == ["вул. А", "вул. Б", "вул. В"]
    assert all(gap >= 0.19 for gap in gaps(poster)), gaps(poster)


async def test_overall_cap_spaces_calls_across_regions() -> None:
    poster = RecordingPoster()
    lookup = AddressLookup(poster, region_interval_seconds=0.01, max_calls=1, per_seconds=0.2)
    await asyncio.gather(*(lookup.houses(region, "м. Х", "вул. А") for region in ("kem", "krem", "oem")))
    assert sorted(region for region, *_ in poster.calls) == ["kem", "krem", "oem"]
    assert all(gap >= 0.19 for gap in gaps(poster)), gaps(poster)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ([], {}),  # PHP's empty object
        (None, {}),
        ({"1": "odd", "2": {"sub_type_reason": None}}, {"2": HouseInfo("2", [], None)}),
        (
            {"3": {"sub_type_reason": ["GPV1001.1", 7, ""], "type": ""}},
            {"3": HouseInfo("3", ["GPV1001.1"], None)},
        ),
    ],
)
async def test_odd_house_data(data: Any, expected: dict[str, HouseInfo]) -> None:
    lookup = AddressLookup(RecordingPoster({"result": True, "data": data}))
    assert await lookup.houses("kem", KYIV_CITY, KHRESHCHATYK) == expected


async def test_aclose_closes_the_poster() -> None:
    poster = RecordingPoster()
    await AddressLookup(poster).aclose()
    assert poster.closed


async def test_data_that_is_no_object_is_malformed() -> None:
    lookup = AddressLookup(RecordingPoster({"result": True, "data": "nothing"}))
    with pytest.raises(MalformedDataError, match="data is not an object"):
        await lookup.houses("kem", KYIV_CITY, KHRESHCHATYK)
