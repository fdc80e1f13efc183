"""The polite DTEK fetcher: retries, backoff, warm-up, per-region cookies, both HTTP backends."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl

import httpx
import pytest
import respx
from aiohttp import web

from common.dtek.errors import BlockedPageError, FetchError
from common.dtek.fetch import DtekFetcher
from common.dtek.page_builder import page_html
from common.dtek.parse import parse_page
from common.settings import DtekSettings

BLOCK_PAGE = (
    Path(__file__).resolve().parents[1].parent / "shared/fixtures/dtek/blocked-incapsula.html"
).read_text(encoding="utf-8")
PAGE = "<html><body><h1>Графік відключень</h1><script>DisconSchedule.fact = {}</script></body></html>"

KEM_ROOT = "https://www.dtek-kem.com.ua/"
KEM_PAGE = "https://www.dtek-kem.com.ua/ua/shutdowns"
KREM_ROOT = "https://www.dtek-krem.com.ua/"
KREM_PAGE = "https://www.dtek-krem.com.ua/ua/shutdowns"
KEM_AJAX = "https://www.dtek-kem.com.ua/ua/ajax"
TOKEN_PAGE = page_html(region="kem", fact={"data": []}, preset=None, streets={})
TOKEN = parse_page(TOKEN_PAGE).csrf_token
FORM = {"method": "getHomeNum", "data[0][name]": "city", "data[0][value]": "м. Київ"}


def make_settings(**values: Any) -> DtekSettings:
    values.setdefault("dtek_regions", ["kem"])
    values.setdefault("dtek_retry_base_delay_seconds", 1.0)
    values.setdefault("dtek_retry_max_delay_seconds", 30.0)
    return DtekSettings(_env_file=None, **values)


class SleepRecorder:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def sleep() -> SleepRecorder:
    return SleepRecorder()


class FetcherFor(Protocol):
    """Builds a fetcher with the given jitter and settings overrides (any DtekSettings fields)."""

    def __call__(self, random: float = 0.5, **values: Any) -> DtekFetcher: ...


@pytest.fixture
def fetcher_for(sleep: SleepRecorder) -> FetcherFor:
    def build(random: float = 0.5, **values: Any) -> DtekFetcher:
        return DtekFetcher(make_settings(**values), sleep=sleep, random=lambda: random)

    return build


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        yield mock


def html(status: int = 200, text: str = PAGE, set_cookie: str | None = None) -> httpx.Response:
    headers = {"content-type": "text/html"}
    if set_cookie:
        headers["set-cookie"] = set_cookie
    return httpx.Response(status, content=text.encode(), headers=headers)


def paths(router: respx.MockRouter) -> list[str]:
    return [str(call.request.url) for call in router.calls]


# --- httpx backend, mocked with respx -----------------------------------------------------------------


async def test_success_returns_decoded_page(
    router: respx.MockRouter, fetcher_for: FetcherFor, sleep: SleepRecorder
) -> None:
    router.get(KEM_ROOT).mock(return_value=html(text="home"))
    router.get(KEM_PAGE).mock(return_value=html())
    async with fetcher_for() as fetcher:
        text = await fetcher.fetch_page("kem")
    assert text == PAGE
    assert "Графік відключень" in text
    assert sleep.delays == []


async def test_warm_up_once_per_region_before_first_page_request(
    router: respx.MockRouter, fetcher_for: FetcherFor
) -> None:
    router.get(KEM_ROOT).mock(return_value=html(text="home"))
    router.get(KEM_PAGE).mock(return_value=html())
    router.get(KREM_ROOT).mock(return_value=html(text="home"))
    router.get(KREM_PAGE).mock(return_value=html())
    async with fetcher_for(dtek_regions=["kem", "krem"]) as fetcher:
        await fetcher.fetch_page("kem")
        await fetcher.fetch_page("kem")
        await fetcher.fetch_page("krem")
    assert paths(router) == [KEM_ROOT, KEM_PAGE, KEM_PAGE, KREM_ROOT, KREM_PAGE]


async def test_block_drops_session_and_warms_up_again(
    router: respx.MockRouter, fetcher_for: FetcherFor
) -> None:
    router.get(KEM_ROOT).mock(return_value=html(text="home"))
    router.get(KEM_PAGE).mock(side_effect=[html(200, BLOCK_PAGE), html()])
    async with fetcher_for() as fetcher:
        assert await fetcher.fetch_page("kem") == PAGE
    assert paths(router) == [KEM_ROOT, KEM_PAGE, KEM_ROOT, KEM_PAGE]


async def test_retries_on_500_then_succeeds(
    router: respx.MockRouter, fetcher_for: FetcherFor, sleep: SleepRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    router.get(KEM_ROOT).mock(return_value=html(text="home"))
    page = router.get(KEM_PAGE).mock(side_effect=[html(500, "oops"), html()])
    caplog.set_level(logging.DEBUG, logger="common.dtek.fetch")
    async with fetcher_for() as fetcher:
        assert await fetcher.fetch_page("kem") == PAGE
    attempts = [r for r in caplog.records if r.levelno == logging.DEBUG and "attempt" in r.getMessage()]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(attempts) == 2
    assert len(warnings) == 1
    assert "HTTP 500" in warnings[0]
    assert page.call_count == 2
    assert sleep.delays == [0.75]
    # A server error is not a block: the cookies are kept, so no second warm-up.
    assert router.routes[0].call_count == 1


async def test_retries_on_429(
    router: respx.MockRouter, fetcher_for: FetcherFor, sleep: SleepRecorder
) -> None:
    router.get(KEM_ROOT).mock(return_value=html(text="home"))
    page = router.get(KEM_PAGE).mock(side_effect=[html(429, "slow down"), html()])
    async with fetcher_for() as fetcher:
        assert await fetcher.fetch_page("kem") == PAGE
    assert page.call_count == 2
    assert len(sleep.delays) == 1


@pytest.mark.parametrize(
    ("random", "expected"),
    [
        # base 1, max 3: raw delays 1, 2, 4 -> capped 1, 2, 3; equal jitter keeps at least half.
        (0.0, [0.5, 1.0, 1.5]),
        (0.5, [0.75, 1.5, 2.25]),
        (0.999, [0.9995, 1.999, 2.9985]),
    ],
)
async def test_exponential_backoff_delays(
    router: respx.MockRouter,
    fetcher_for: FetcherFor,
    sleep: SleepRecorder,
    random: float,
    expected: list[float],
) -> None:
    router.get(KEM_ROOT).mock(return_value=html(text="home"))
    page = router.get(KEM_PAGE).mock(return_value=html(503, "unavailable"))
    fetcher = fetcher_for(
        random=random,
        dtek_retry_attempts=4,
        dtek_retry_base_delay_seconds=1.0,
        dtek_retry_max_delay_seconds=3.0,
    )
    async with fetcher:
        with pytest.raises(FetchError):
            await fetcher.fetch_page("kem")
    assert page.call_count == 4
    assert sleep.delays == pytest.approx(expected)


async def test_gives_up_after_attempts_with_fetch_error(
    router: respx.MockRouter, fetcher_for: FetcherFor, sleep: SleepRecorder
) -> None:
    router.get(KEM_ROOT).mock(return_value=html(text="home"))
    page = router.get(KEM_PAGE).mock(return_value=html(503, "unavailable"))
    async with fetcher_for(dtek_retry_attempts=3) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch_page("kem")
    assert not isinstance(caught.value, BlockedPageError)
    message = str(caught.value)
    assert "HTTP 503" in message
    assert KEM_PAGE in message
    assert "3 attempts" in message
    assert page.call_count == 3
    assert len(sleep.delays) == 2  # no pointless wait after the last attempt


async def test_404_is_not_retried(
    router: respx.MockRouter, fetcher_for: FetcherFor, sleep: SleepRecorder
) -> None:
    router.get(KEM_ROOT).mock(return_value=html(text="home"))
    page = router.get(KEM_PAGE).mock(return_value=html(404, "not found"))
    async with fetcher_for() as fetcher:
        with pytest.raises(FetchError, match="HTTP 404"):
            await fetcher.fetch_page("kem")
    assert page.call_count == 1
    assert sleep.delays == []


@pytest.mark.parametrize("status", [200, 403])
async def test_block_page_ends_in_blocked_page_error(
    router: respx.MockRouter, fetcher_for: FetcherFor, sleep: SleepRecorder, status: int
) -> None:
    root = router.get(KEM_ROOT).mock(return_value=html(text="home"))
    page = router.get(KEM_PAGE).mock(return_value=html(status, BLOCK_PAGE))
    async with fetcher_for(dtek_retry_attempts=3) as fetcher:
        with pytest.raises(BlockedPageError, match="Imperva/Incapsula after 3 attempts"):
            await fetcher.fetch_page("kem")
    assert page.call_count == 3
    assert root.call_count == 3  # fresh session, fresh warm-up, every attempt
    assert len(sleep.delays) == 2


async def test_last_failure_decides_the_error(router: respx.MockRouter, fetcher_for: FetcherFor) -> None:
    router.get(KEM_ROOT).mock(return_value=html(text="home"))
    router.get(KEM_PAGE).mock(side_effect=[html(403, BLOCK_PAGE), html(502, "bad gateway")])
    async with fetcher_for(dtek_retry_attempts=2) as fetcher:
        with pytest.raises(FetchError, match="HTTP 502"):
            await fetcher.fetch_page("kem")


async def test_timeout_is_retried_then_fetch_error(
    router: respx.MockRouter, fetcher_for: FetcherFor, sleep: SleepRecorder
) -> None:
    router.get(KEM_ROOT).mock(return_value=html(text="home"))
    page = router.get(KEM_PAGE).mock(side_effect=httpx.ReadTimeout("timed out"))
    async with fetcher_for(dtek_retry_attempts=3) as fetcher:
        with pytest.raises(FetchError, match=r"ReadTimeout: timed out") as caught:
            await fetcher.fetch_page("kem")
    assert "3 attempts" in str(caught.value)
    assert page.call_count == 3
    assert len(sleep.delays) == 2


async def test_network_error_then_success(router: respx.MockRouter, fetcher_for: FetcherFor) -> None:
    router.get(KEM_ROOT).mock(return_value=html(text="home"))
    router.get(KEM_PAGE).mock(side_effect=[httpx.ConnectError("refused"), html()])
    async with fetcher_for() as fetcher:
        assert await fetcher.fetch_page("kem") == PAGE


async def test_warm_up_failure_is_ignored(
    router: respx.MockRouter, fetcher_for: FetcherFor, sleep: SleepRecorder
) -> None:
    root = router.get(KEM_ROOT).mock(side_effect=httpx.ConnectError("refused"))
    router.get(KEM_PAGE).mock(return_value=html())
    async with fetcher_for() as fetcher:
        assert await fetcher.fetch_page("kem") == PAGE
    assert root.call_count == 1
    assert sleep.delays == []


async def test_browser_like_headers(router: respx.MockRouter, fetcher_for: FetcherFor) -> None:
    router.get(KEM_ROOT).mock(return_value=html(text="home"))
    page = router.get(KEM_PAGE).mock(return_value=html())
    async with fetcher_for() as fetcher:
        await fetcher.fetch_page("kem")
    for call in router.calls:
        headers = call.request.headers
        assert headers["accept-language"].startswith("uk-UA,uk;q=0.9")
        assert "Chrome/" in headers["user-agent"]
        assert headers["user-agent"].startswith("Mozilla/5.0")
        assert "python-httpx" not in headers["user-agent"]
        assert headers["accept"].startswith("text/html")
    assert page.called


async def test_cookies_are_kept_per_region(router: respx.MockRouter, fetcher_for: FetcherFor) -> None:
    template = "https://dtek.test/{region}/ua/shutdowns"
    router.get("https://dtek.test/").mock(
        side_effect=[
            html(text="home", set_cookie="visid=A; Path=/"),
            html(text="home", set_cookie="visid=B; Path=/"),
        ]
    )
    kem = router.get("https://dtek.test/kem/ua/shutdowns").mock(return_value=html())
    krem = router.get("https://dtek.test/krem/ua/shutdowns").mock(return_value=html())
    async with fetcher_for(dtek_regions=["kem", "krem"], dtek_url_template=template) as fetcher:
        await fetcher.fetch_page("kem")
        await fetcher.fetch_page("krem")
        await fetcher.fetch_page("kem")
    assert [call.request.headers.get("cookie") for call in kem.calls] == ["visid=A", "visid=A"]
    assert [call.request.headers.get("cookie") for call in krem.calls] == ["visid=B"]


async def test_messages_carry_no_query_string(router: respx.MockRouter, fetcher_for: FetcherFor) -> None:
    template = "https://dtek.test/{region}/ua/shutdowns?token=s3cret"
    router.get("https://dtek.test/").mock(return_value=html(text="home"))
    router.get("https://dtek.test/kem/ua/shutdowns").mock(return_value=html(500, "oops"))
    async with fetcher_for(dtek_url_template=template, dtek_retry_attempts=2) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch_page("kem")
    assert "https://dtek.test/kem/ua/shutdowns" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def answer(payload: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(
        status, content=json.dumps(payload).encode(), headers={"content-type": "application/json"}
    )


def ajax_router(router: respx.MockRouter, *answers: httpx.Response) -> tuple[respx.Route, respx.Route]:
    router.get(KEM_ROOT).mock(return_value=html(text="home", set_cookie="visid=A; Path=/"))
    page = router.get(KEM_PAGE).mock(return_value=html(text=TOKEN_PAGE))
    ajax = router.post(KEM_AJAX).mock(side_effect=list(answers))
    return page, ajax


async def test_post_ajax_fetches_the_page_then_posts_like_its_script(
    router: respx.MockRouter, fetcher_for: FetcherFor
) -> None:
    page, ajax = ajax_router(router, answer({"result": True, "data": {}}))
    async with fetcher_for() as fetcher:
        assert await fetcher.post_ajax("kem", FORM) == {"result": True, "data": {}}
    assert paths(router) == [KEM_ROOT, KEM_PAGE, KEM_AJAX]  # "/ua/ajax" resolved against the page
    request = ajax.calls.last.request
    assert dict(parse_qsl(request.content.decode())) == {**FORM, "_csrf-dtek-kem": TOKEN}
    assert request.headers["x-csrf-token"] == TOKEN
    assert request.headers["x-requested-with"] == "XMLHttpRequest"
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert request.headers["cookie"] == "visid=A"
    assert request.headers["referer"] == KEM_PAGE
    assert page.call_count == 1


async def test_post_ajax_uses_the_token_of_the_last_page_fetched(
    router: respx.MockRouter, fetcher_for: FetcherFor
) -> None:
    page, ajax = ajax_router(router, answer({"result": True}), answer({"result": True}))
    async with fetcher_for() as fetcher:
        await fetcher.fetch_page("kem")
        await fetcher.post_ajax("kem", FORM)
        await fetcher.post_ajax("kem", FORM)
    assert page.call_count == 1
    assert ajax.call_count == 2


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>oops</html>", "is not JSON"),
        (b"[1, 2]", "is not a JSON object"),
        (b'{"result": false, "text": "wrong street"}', "result=false: wrong street"),
        (b'{"result": false}', "result=false: no reason given"),
    ],
)
async def test_post_ajax_refuses_odd_answers(
    router: respx.MockRouter, fetcher_for: FetcherFor, sleep: SleepRecorder, body: bytes, reason: str
) -> None:
    _, ajax = ajax_router(router, httpx.Response(200, content=body))
    async with fetcher_for() as fetcher:
        with pytest.raises(FetchError, match=reason) as caught:
            await fetcher.post_ajax("kem", FORM)
    assert not isinstance(caught.value, BlockedPageError)
    assert KEM_AJAX in str(caught.value)
    assert ajax.call_count == 1  # a wrong answer is not retried
    assert sleep.delays == []


async def test_post_ajax_block_starts_a_new_visitor_with_a_new_page(
    router: respx.MockRouter, fetcher_for: FetcherFor, sleep: SleepRecorder
) -> None:
    ajax_router(router, html(403, BLOCK_PAGE), answer({"result": True}))
    async with fetcher_for() as fetcher:
        assert await fetcher.post_ajax("kem", FORM) == {"result": True}
    assert paths(router) == [KEM_ROOT, KEM_PAGE, KEM_AJAX, KEM_ROOT, KEM_PAGE, KEM_AJAX]
    assert len(sleep.delays) == 1


async def test_post_ajax_blocked_every_time_is_blocked_page_error(
    router: respx.MockRouter, fetcher_for: FetcherFor
) -> None:
    _, ajax = ajax_router(router, *[html(200, BLOCK_PAGE)] * 3)
    async with fetcher_for(dtek_retry_attempts=3) as fetcher:
        with pytest.raises(BlockedPageError, match="after 3 attempts"):
            await fetcher.post_ajax("kem", FORM)
    assert ajax.call_count == 3


async def test_post_ajax_retries_server_errors_with_the_same_token(
    router: respx.MockRouter, fetcher_for: FetcherFor, sleep: SleepRecorder
) -> None:
    page, ajax = ajax_router(router, answer({}, status=502), answer({"result": True}))
    async with fetcher_for() as fetcher:
        assert await fetcher.post_ajax("kem", FORM) == {"result": True}
    assert page.call_count == 1
    assert ajax.call_count == 2
    assert sleep.delays == [0.75]


async def test_refused_token_is_not_reused(router: respx.MockRouter, fetcher_for: FetcherFor) -> None:
    page, _ = ajax_router(router, answer({}, status=400), answer({"result": True}))
    async with fetcher_for() as fetcher:
        with pytest.raises(FetchError, match="HTTP 400"):
            await fetcher.post_ajax("kem", FORM)
        assert await fetcher.post_ajax("kem", FORM) == {"result": True}
    assert page.call_count == 2


@pytest.mark.parametrize(
    "page",
    [
        PAGE,  # no CSRF meta at all
        TOKEN_PAGE.replace('content="/ua/ajax"', 'content="https://elsewhere.test/ua/ajax"'),
    ],
)
async def test_post_ajax_needs_a_token_for_this_site(
    router: respx.MockRouter, fetcher_for: FetcherFor, page: str
) -> None:
    router.get(KEM_ROOT).mock(return_value=html(text="home"))
    router.get(KEM_PAGE).mock(return_value=html(text=page))
    async with fetcher_for() as fetcher:
        with pytest.raises(FetchError, match="no CSRF token or same-site ajaxUrl"):
            await fetcher.post_ajax("kem", FORM)
    assert paths(router) == [KEM_ROOT, KEM_PAGE]  # nothing was sent anywhere else


def test_missing_curl_cffi_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "curl_cffi", None)
    monkeypatch.setitem(sys.modules, "curl_cffi.requests", None)
    with pytest.raises(RuntimeError, match=r"uv sync --extra impersonate"):
        DtekFetcher(make_settings(dtek_http_backend="curl_cffi"))


# --- both backends against a real local server --------------------------------------------------------


@dataclass
class Seen:
    path: str
    cookie: str | None
    user_agent: str
    accept_language: str


@dataclass
class FakeDtek:
    template: str
    seen: list[Seen] = field(default_factory=list)
    blocked: set[str] = field(default_factory=set)

    def count(self, path: str) -> int:
        return sum(1 for request in self.seen if request.path == path)


@pytest.fixture
async def fake_dtek() -> AsyncIterator[FakeDtek]:
    state = FakeDtek(template="")

    def record(request: web.Request) -> None:
        state.seen.append(
            Seen(
                request.path,
                request.headers.get("Cookie"),
                request.headers.get("User-Agent", ""),
                request.headers.get("Accept-Language", ""),
            )
        )

    async def root(request: web.Request) -> web.Response:
        record(request)
        response = web.Response(text="home", content_type="text/html")
        response.set_cookie("visid_incap_1", "warm", path="/")
        return response

    async def page(request: web.Request) -> web.Response:
        record(request)
        if request.match_info["region"] in state.blocked:
            return web.Response(status=403, body=BLOCK_PAGE.encode(), content_type="text/html")
        # No charset in the header on purpose: the body must still decode as UTF-8.
        return web.Response(body=PAGE.encode(), content_type="text/html")

    app = web.Application()
    app.router.add_get("/", root)
    app.router.add_get("/{region}/ua/shutdowns", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state.template = f"http://127.0.0.1:{port}/{{region}}/ua/shutdowns"
    try:
        yield state
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("backend", ["httpx", "curl_cffi"])
async def test_real_server_page_with_warm_up_cookie(
    fake_dtek: FakeDtek, fetcher_for: FetcherFor, backend: str
) -> None:
    fetcher = fetcher_for(dtek_http_backend=backend, dtek_url_template=fake_dtek.template)
    async with fetcher:
        text = await fetcher.fetch_page("kem")
    assert text == PAGE
    assert "Графік відключень" in text
    assert [request.path for request in fake_dtek.seen] == ["/", "/kem/ua/shutdowns"]
    warm_up, page = fake_dtek.seen
    assert warm_up.cookie is None
    assert page.cookie is not None
    assert "visid_incap_1=warm" in page.cookie
    assert "Chrome/" in page.user_agent
    assert page.accept_language.startswith("uk-UA")


@pytest.mark.parametrize("backend", ["httpx", "curl_cffi"])
async def test_real_server_block_403(
    fake_dtek: FakeDtek, fetcher_for: FetcherFor, sleep: SleepRecorder, backend: str
) -> None:
    fake_dtek.blocked.add("kem")
    fetcher = fetcher_for(
        dtek_http_backend=backend, dtek_url_template=fake_dtek.template, dtek_retry_attempts=3
    )
    async with fetcher:
        with pytest.raises(BlockedPageError, match="after 3 attempts"):
            await fetcher.fetch_page("kem")
    assert fake_dtek.count("/kem/ua/shutdowns") == 3
    assert fake_dtek.count("/") == 3
    # Each attempt after a block starts a new visitor: no old cookie comes back on the warm-up.
    assert all(request.cookie is None for request in fake_dtek.seen if request.path == "/")
    assert len(sleep.delays) == 2
