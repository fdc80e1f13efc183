"""Polite fetching from the DTEK sites: browser-like requests, per-region cookies, few retries.

The sites sit behind Imperva/Incapsula, which blocks an address after a handful of quick requests, so the
fetcher warms up cookies once per session, backs off exponentially and gives up on a block within about a
minute (with the default settings) instead of hammering the site. Besides the shutdowns page it makes the
page's AJAX calls (address lookup), with the cookies and CSRF token of the last page fetched for the region.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random as _random
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Protocol, Self, TypeVar
from urllib.parse import urlencode, urljoin, urlsplit

import httpx

from common.dtek.errors import BlockedPageError, FetchError, MalformedDataError, RejectedError
from common.dtek.parse import is_block_page, read_meta
from common.settings import DtekSettings

log = logging.getLogger(__name__)

# A current desktop Chrome; a plain library User-Agent is the quickest way to get blocked.
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/150.0.0.0 Safari/537.36"
)
ACCEPT_LANGUAGE = "uk-UA,uk;q=0.9,en-US;q=0.8,en;q=0.7"
BROWSER_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept": (
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,"
        "*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
    ),
    "Accept-Language": ACCEPT_LANGUAGE,
    "Sec-Ch-Ua": '"Chromium";v="150", "Google Chrome";v="150", "Not.A/Brand";v="99"',
    "Sec-Ch-Ua-Mobile": "?0",
    "Sec-Ch-Ua-Platform": '"Windows"',
    "Sec-Fetch-Dest": "document",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Site": "none",
    "Sec-Fetch-User": "?1",
    "Upgrade-Insecure-Requests": "1",
}

# What the page's own JavaScript sends with its AJAX calls (jQuery), on top of the browser headers.
XHR_HEADERS = {
    "Accept": "application/json, text/javascript, */*; q=0.01",
    "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
    "X-Requested-With": "XMLHttpRequest",
    "Sec-Fetch-Dest": "empty",
    "Sec-Fetch-Mode": "cors",
    "Sec-Fetch-Site": "same-origin",
}
DEFAULT_AJAX_PATH = "/ua/ajax"

_T = TypeVar("_T")
_Method = Literal["GET", "POST"]  # all the fetcher sends; curl_cffi takes only known method names

_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    text: str


class _RetryableError(Exception):
    """An attempt failed in a way the next attempt may not repeat."""

    blocked = False


class _TransportError(_RetryableError):
    """A backend's network-level failure (connection, timeout, TLS...)."""


class _BlockedError(_RetryableError):
    """The anti-bot page came back instead of DTEK's answer."""

    blocked = True


class _Session(Protocol):
    """One cookie-keeping HTTP session; the fetcher holds one per region."""

    async def send(
        self,
        method: _Method,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> _Response: ...

    async def aclose(self) -> None: ...


def _decode(content: bytes, content_type: str | None) -> str:
    # DTEK pages are UTF-8; honour a declared charset, but never let a library guess one.
    match = _CHARSET.search(content_type or "")
    encoding = match.group(1) if match else "utf-8"
    try:
        return content.decode(encoding, errors="replace")
    except LookupError:
        return content.decode("utf-8", errors="replace")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class _HttpxSession:
    def __init__(self, settings: DtekSettings) -> None:
        self._client = httpx.AsyncClient(
            headers=BROWSER_HEADERS,
            timeout=httpx.Timeout(settings.dtek_timeout_seconds),
            follow_redirects=True,
        )

    async def send(
        self,
        method: _Method,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> _Response:
        try:
            response = await self._client.request(method, url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise _TransportError(_describe(exc)) from exc
        return _Response(
            response.status_code, _decode(response.content, response.headers.get("content-type"))
        )

    async def aclose(self) -> None:
        await self._client.aclose()


class _CurlSession:
    def __init__(self, settings: DtekSettings) -> None:
        from curl_cffi.requests import AsyncSession, Response  # optional dependency: checked in DtekFetcher()

        # The impersonated browser brings its own matching User-Agent and client hints; overriding them
        # would contradict the TLS fingerprint, so only the language is ours.
        self._session: AsyncSession[Response] = AsyncSession(
            impersonate=settings.dtek_impersonate,
            headers={"Accept-Language": ACCEPT_LANGUAGE},
            timeout=settings.dtek_timeout_seconds,
            allow_redirects=True,
        )

    async def send(
        self,
        method: _Method,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> _Response:
        from curl_cffi.requests.exceptions import RequestException

        try:
            response = await self._session.request(method, url, data=body, headers=dict(headers or {}))
        except RequestException as exc:
            raise _TransportError(_describe(exc)) from exc
        return _Response(
            response.status_code, _decode(response.content, response.headers.get("content-type"))
        )

    async def aclose(self) -> None:
        await self._session.close()


def _require_curl_cffi() -> None:
    try:
        import curl_cffi.requests  # noqa: F401
    except ImportError as exc:
        raise RuntimeError(
            "DTEK_HTTP_BACKEND=curl_cffi needs the optional curl_cffi package: "
            "install the 'impersonate' extra (uv sync --extra impersonate)"
        ) from exc


def _safe_url(url: str) -> str:
    # Logs and error messages carry no query string, fragment or credentials.
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def _site_root(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


def _checked(response: _Response, url: str) -> _Response:
    """``response`` if it is DTEK's answer; a retryable error or a ``FetchError`` otherwise."""
    if is_block_page(response.text):
        raise _BlockedError(f"anti-bot block page (HTTP {response.status})")
    if response.status == 429 or response.status >= 500:
        raise _RetryableError(f"HTTP {response.status}")
    if response.status == 400:
        raise RejectedError(f"HTTP 400 from {_safe_url(url)} (stale session or token; not retried)")
    if response.status >= 400:
        raise FetchError(f"HTTP {response.status} from {_safe_url(url)} (not retried)")
    return response


@dataclass(frozen=True, slots=True)
class _AjaxTarget:
    """Where and with which CSRF token a page's AJAX calls go."""

    url: str
    page_url: str
    csrf_param: str
    csrf_token: str


def _ajax_target(html: str, page_url: str) -> _AjaxTarget | None:
    """The page's AJAX target; None when the page has no CSRF token or points its AJAX at another site."""
    meta = read_meta(html)
    param, token = meta.get("csrf-param"), meta.get("csrf-token")
    url = urljoin(page_url, meta.get("ajaxUrl") or DEFAULT_AJAX_PATH)
    # The token and cookies belong to the page's site: never hand them to another one.
    if not (param and token) or urlsplit(url).netloc != urlsplit(page_url).netloc:
        return None
    return _AjaxTarget(url, page_url, param, token)


def _json_object(text: str, url: str) -> dict[str, Any]:
    shown = _safe_url(url)
    try:
        answer = json.loads(text)
    except json.JSONDecodeError:
        raise FetchError(f"the answer from {shown} is not JSON") from None
    if not isinstance(answer, dict):
        raise FetchError(f"the answer from {shown} is not a JSON object")
    if not answer.get("result", True):
        raise FetchError(f"{shown} answered result=false: {answer.get('text') or 'no reason given'}")
    return answer


def _probe_answer(text: str, url: str) -> dict[str, Any]:
    try:
        answer = json.loads(text)
    except json.JSONDecodeError:
        raise MalformedDataError(f"the probe answer from {_safe_url(url)} is not JSON") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("result"), bool):
        raise MalformedDataError(f"the probe answer from {_safe_url(url)} has no boolean result")
    return answer


@dataclass(slots=True)
class _RegionSession:
    http: _Session
    warmed_up: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    ajax: _AjaxTarget | None = None  # from the last page fetched with these cookies


class DtekFetcher:
    """Fetches DTEK shutdowns pages and makes their AJAX calls, one cookie session per region.

    ``sleep`` and ``random`` are injectable so tests can check the backoff without waiting.
    """

    def __init__(
        self,
        settings: DtekSettings,
        *,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if settings.dtek_http_backend == "curl_cffi":
            _require_curl_cffi()
        self._settings = settings
        self._sleep = sleep
        self._random = random
        self._sessions: dict[str, _RegionSession] = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            await session.http.aclose()

    def _backoff_delay(self, failed_attempts: int) -> float:
        """Wait after the ``failed_attempts``-th failure: base*2**(n-1) capped, then equal jitter.

        At least half the capped delay is kept so retries never come back-to-back.
        """
        settings = self._settings
        capped = min(
            settings.dtek_retry_base_delay_seconds * 2.0 ** (failed_attempts - 1),
            settings.dtek_retry_max_delay_seconds,
        )
        return capped / 2 + capped / 2 * self._random()

    async def fetch_page(self, region: str) -> str:
        """The HTML of ``region``'s shutdowns page; ``BlockedPageError`` or ``FetchError`` otherwise."""
        url = self._settings.page_url(region)
        return await self._with_retries(region, _safe_url(url), lambda session: self._get_page(session, url))

    async def post_ajax(self, region: str, form: Mapping[str, str]) -> dict[str, Any]:
        """POSTs ``form`` to the AJAX URL of ``region``'s page, as the page's own JavaScript does.

        Goes with the page's cookies and CSRF token (fetching the page first when this session has none).
        Returns the JSON answer; ``FetchError`` when it is not an object or says ``result: false``,
        ``BlockedPageError`` when blocked.
        """
        target = f"the AJAX URL of {_safe_url(self._settings.page_url(region))}"
        return await self._with_retries(region, target, lambda session: self._post(session, region, form))

    async def check_update(self, region: str, update: str) -> dict[str, Any] | None:
        """Asks whether ``region``'s data changed since ``update`` (its ``fact.update``), as the page's own
        script does every 5 minutes (``method=checkDisconUpdate``).

        Exactly one request, with the cookies and CSRF token of the last page loaded for the region: no
        warm-up, no retry, no page load, so a probe never costs more than itself. None (nothing sent) when
        no page was loaded, or its token was dropped after a failure: the next full page load renews it.
        Returns the answer (``result`` false: unchanged); ``BlockedPageError``, ``RejectedError`` (HTTP 400),
        ``FetchError`` or ``MalformedDataError`` (not a JSON object with a boolean ``result``) otherwise.
        """
        session = self._sessions.get(region)
        target = session.ajax if session is not None else None
        if session is None or target is None:
            return None
        try:
            text = await self._send_xhr(session, target, {"method": "checkDisconUpdate", "update": update})
        except _RetryableError as exc:
            session.ajax = None
            if exc.blocked:
                await self._drop_session(region, session)  # the block sticks to the cookies
                raise BlockedPageError(f"probe blocked by Imperva/Incapsula: {exc}") from None
            raise FetchError(f"probe of {_safe_url(target.url)} failed: {exc}") from None
        return _probe_answer(text, target.url)

    async def _with_retries(
        self, region: str, target: str, attempt: Callable[[_RegionSession], Awaitable[_T]]
    ) -> _T:
        """Runs ``attempt`` with the region's session until it succeeds, backing off between failures."""
        attempts = self._settings.dtek_retry_attempts
        failure = _RetryableError("no attempt made")  # replaced: settings ask for at least one attempt
        for number in range(1, attempts + 1):
            session = await self._session(region)
            log.debug("DTEK %s: %s (attempt %d/%d)", region, target, number, attempts)
            try:
                return await attempt(session)
            except _RetryableError as exc:
                failure = exc
                if exc.blocked:
                    # The block sticks to the cookies: start the next attempt as a new visitor.
                    await self._drop_session(region, session)
            if number < attempts:
                delay = self._backoff_delay(number)
                log.warning(
                    "DTEK %s attempt %d/%d failed: %s; retrying in %.1f s",
                    region,
                    number,
                    attempts,
                    failure,
                    delay,
                )
                await self._sleep(delay)
        if failure.blocked:
            raise BlockedPageError(f"blocked by Imperva/Incapsula after {attempts} attempts ({target})")
        raise FetchError(f"could not fetch {target} after {attempts} attempts: {failure}")

    async def _get_page(self, session: _RegionSession, url: str) -> str:
        response = _checked(await session.http.send("GET", url), url)
        session.ajax = _ajax_target(response.text, url)
        return response.text

    async def _post(self, session: _RegionSession, region: str, form: Mapping[str, str]) -> dict[str, Any]:
        if session.ajax is None:
            await self._get_page(session, self._settings.page_url(region))
        target = session.ajax
        if target is None:
            raise FetchError(f"the {region} page gives no CSRF token or same-site ajaxUrl for AJAX calls")
        return _json_object(await self._send_xhr(session, target, form), target.url)

    async def _send_xhr(self, session: _RegionSession, target: _AjaxTarget, form: Mapping[str, str]) -> str:
        """POSTs ``form`` as the page's jQuery does: its cookies, CSRF token (header and form field)."""
        body = urlencode({**form, target.csrf_param: target.csrf_token}).encode()
        headers = {
            **XHR_HEADERS,
            "X-CSRF-Token": target.csrf_token,
            "Origin": _site_root(target.url).rstrip("/"),
            "Referer": target.page_url,
        }
        try:
            response = _checked(
                await session.http.send("POST", target.url, body=body, headers=headers), target.url
            )
        except FetchError:
            # Most likely an expired or refused token: the next call starts from a fresh page.
            session.ajax = None
            raise
        return response.text

    async def _session(self, region: str) -> _RegionSession:
        session = self._sessions.get(region)
        if session is None:
            session = self._sessions[region] = _RegionSession(self._new_http())
        async with session.lock:
            if not session.warmed_up:
                session.warmed_up = True
                await self._warm_up(session.http, _site_root(self._settings.page_url(region)))
        return session

    async def _warm_up(self, http: _Session, root: str) -> None:
        # Imperva hands out its visitor cookies on any page; getting them first makes the real request
        # look like a returning browser. Not getting them is no reason to skip the real request.
        try:
            response = await http.send("GET", root)
        except _TransportError as exc:
            log.warning("DTEK warm-up GET %s failed, going on without cookies: %s", _safe_url(root), exc)
            return
        log.debug("DTEK warm-up GET %s: HTTP %d", _safe_url(root), response.status)

    async def _drop_session(self, region: str, session: _RegionSession) -> None:
        if self._sessions.get(region) is session:
            del self._sessions[region]
        await session.http.aclose()

    def _new_http(self) -> _Session:
        if self._settings.dtek_http_backend == "curl_cffi":
            return _CurlSession(self._settings)
        return _HttpxSession(self._settings)
