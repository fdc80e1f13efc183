"""A fake DTEK site on 127.0.0.1 serving pages built from our own schedules.

Used by the ``demo`` command and by the tests; it never serves a real capture. It can also play
the anti-bot block, server errors and a slow site (``delay``), and counts the requests it gets. Its address lookup
(``POST /{region}/ua/ajax``, ``method=getHomeNum``) and its change probe (``method=checkDisconUpdate``) check
the CSRF token and cookie as the real site does.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from aiohttp import web

from common.clock import KYIV
from common.dtek.page_builder import build_page, fact_object, preset_object
from common.dtek.parse import parse_page, update_text
from common.local_server import LocalServer
from common.schedule import SLOTS_PER_DAY, RegionSchedule

# Our own stand-in for the anti-bot page: the markers the parser looks for, none of the capture's text.
BLOCK_PAGE = (
    '<html><head><script src="/_Incapsula_Resource?SWJIYLWA=fake"></script></head>'
    '<body><iframe src="/_Incapsula_Resource?incident_id=fake">Request unsuccessful.</iframe></body></html>'
)
WARMUP_COOKIE = "visid_fake"
SAMPLE_STREETS = {
    "м. Київ": ["вул. Хрещатик", "вул. Велика Васильківська", "просп. Перемоги"],
    "с. Гатне": [""],
}
# (settlement, street) -> house -> groups; "-" stands for the whole street, [] for "not on a schedule".
SAMPLE_HOUSES: dict[tuple[str, str], dict[str, list[str]]] = {
    ("м. Київ", "вул. Хрещатик"): {"1": ["GPV1.1"], "22": ["GPV2.2"], "22а": ["GPV2.2", "GPV3.1"]},
    ("м. Київ", "вул. Велика Васильківська"): {"5": ["GPV4.1"], "72": ["GPV5.2"], "100": []},
    ("м. Київ", "просп. Перемоги"): {"-": ["GPV6.1"]},
    ("с. Гатне", ""): {"-": ["GPV3.2"]},
}
Address = tuple[str, str, str]  # (region, settlement, street)

# Our builder writes this attribute order; the fake only serves the builder's pages.
_PAGE_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]*)">')
_NO_OUTAGE = {"type": "", "sub_type": "", "start_date": "", "end_date": ""}


class FakeDtekSite(LocalServer):
    """Serves ``/{region}/ua/shutdowns`` per region; ``url_template`` plugs into ``DTEK_URL_TEMPLATE``.
    ``url_template_for(client)`` serves the same pages under ``/c/{client}/``, so that several programs
    pointed at one site are told apart: ``client_hits`` counts each one's page requests.

    ``houses[(region, settlement, street)]`` maps house -> groups for the lookup; ``outages[(region,
    settlement, street, house)]`` holds DTEK's fields of an outage in progress there (``type``,
    ``sub_type``, ``start_date``, ``end_date``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.pages: dict[str, str] = {}
        self.blocked: set[str] = set()
        self.error_status: dict[str, int] = {}
        self.hits: Counter[str] = Counter()  # page requests per region (any client), and "/" warm-ups
        self.client_hits: Counter[str] = Counter()  # page requests per client of url_template_for
        self.delay = 0.0  # seconds each schedule page takes to arrive: a slow DTEK
        # Cleared: page requests wait until it is set again, so a test can gather requests in flight.
        self.answering = asyncio.Event()
        self.answering.set()
        self.houses: dict[Address, dict[str, list[str]]] = {}
        self.outages: dict[tuple[str, str, str, str], dict[str, str]] = {}
        self.ajax_calls: Counter[str] = Counter()
        self.street_calls: Counter[Address] = Counter()  # getHomeNum calls per (region, settlement, street)
        self.ajax_rejected: Counter[str] = Counter()  # CSRF token, cookie or XHR header missing or wrong
        self.probe_calls: Counter[str] = Counter()  # checkDisconUpdate calls per region (also in ajax_calls)
        self.probe_text: dict[str, str] = {}  # region -> raw text answering its probes instead (garbage)
        self._csrf_sessions: dict[str, str] = {}  # CSRF cookie -> token of the page served with it

    @property
    def url_template(self) -> str:
        return f"{self.base_url}/{{region}}/ua/shutdowns"

    def url_template_for(self, client: str) -> str:
        """A ``DTEK_URL_TEMPLATE`` whose page requests count in ``client_hits[client]``."""
        if not re.fullmatch(r"[\w-]+", client):
            raise ValueError(f"a client name is one path segment of letters, digits, - and _: {client!r}")
        return f"{self.base_url}/c/{client}/{{region}}/ua/shutdowns"

    def publish(
        self,
        schedule: RegionSchedule,
        *,
        streets: Mapping[str, Sequence[str]] | None = None,
        houses: Mapping[tuple[str, str], Mapping[str, Sequence[str]]] | None = None,
        today: date | None = None,
        announcement: str | None = None,
        flags: Mapping[str, bool] | None = None,
    ) -> None:
        """Serves ``schedule``'s page; ``houses`` ((settlement, street) -> house -> groups) feeds the lookup;
        ``announcement`` (the modal's HTML) and ``flags`` as in ``build_page``."""
        region = schedule.region
        if not region:
            raise ValueError("the schedule needs a region to be published")
        self.pages[region] = build_page(
            schedule,
            streets=streets,
            today=today,
            ajax_url=f"/{region}/ua/ajax",
            announcement=announcement,
            flags=flags,
        )
        for (settlement, street), groups in (houses or {}).items():
            self.houses[region, settlement, street] = {house: list(g) for house, g in groups.items()}

    def expire_sessions(self) -> None:
        """Forgets every CSRF cookie handed out, as a server does when its sessions expire."""
        self._csrf_sessions.clear()

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._root)
        app.router.add_get("/{region}/ua/shutdowns", self._page)
        app.router.add_get("/c/{client}/{region}/ua/shutdowns", self._page)
        app.router.add_post("/{region}/ua/ajax", self._ajax)
        return app

    async def _root(self, request: web.Request) -> web.Response:
        self.hits["/"] += 1
        response = web.Response(text="<html><body>ДТЕК</body></html>", content_type="text/html")
        response.set_cookie(WARMUP_COOKIE, "1")
        return response

    async def _page(self, request: web.Request) -> web.Response:
        region = request.match_info["region"]
        self.hits[region] += 1
        if "client" in request.match_info:
            self.client_hits[request.match_info["client"]] += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        await self.answering.wait()
        if region in self.blocked:
            return _block_page()
        if region in self.error_status:
            return web.Response(text="Server error", status=self.error_status[region])
        if region not in self.pages:
            return web.Response(text="Not found", status=404)
        page = self.pages[region]
        response = web.Response(text=page, content_type="text/html")
        token = _PAGE_TOKEN.search(page)
        if token:
            cookie = secrets.token_urlsafe(16)
            self._csrf_sessions[cookie] = token.group(1)
            response.set_cookie(_csrf_param(region), cookie)
        return response

    async def _ajax(self, request: web.Request) -> web.Response:
        region = request.match_info["region"]
        self.ajax_calls[region] += 1
        form = await request.post()
        if form.get("method") == "checkDisconUpdate":
            self.probe_calls[region] += 1  # every one, refused or not: what the request budget counts
        if region in self.blocked:
            return _block_page()
        if not self._csrf_ok(request, form, region):
            self.ajax_rejected[region] += 1
            return web.Response(text="Unable to verify your data submission.", status=400)
        if form.get("method") == "checkDisconUpdate":
            return self._probe(region, form.get("update"))
        fields = {form.get(f"data[{i}][name]"): form.get(f"data[{i}][value]") for i in range(2)}
        city, street = fields.get("city"), fields.get("street")
        if form.get("method") != "getHomeNum" or not isinstance(city, str) or not isinstance(street, str):
            return web.json_response({"result": False, "text": "Bad request"})
        address = (region, city, street)
        self.street_calls[address] += 1
        houses = self.houses.get(address, {})
        data = {house: self._house_entry(address, house, groups) for house, groups in houses.items()}
        return web.json_response({"result": True, "data": data, "updateTimestamp": "10:00 01.01.2026"})

    def _probe(self, region: str, update: object) -> web.Response:
        """Like DTEK: ``result: false`` while ``update`` is the served data's ``fact.update``, else the data."""
        if region in self.probe_text:
            return web.Response(text=self.probe_text[region], content_type="text/html")
        if region not in self.pages:
            return web.json_response({"result": False})
        schedule = parse_page(self.pages[region], region=region).schedule  # whatever page is served now
        if update == update_text(schedule.updated):
            return web.json_response({"result": False})
        answer = {
            "result": True,
            "fact": fact_object(schedule),
            "preset": preset_object(schedule),
            "showTableSchedule": True,
            "showUserGroup": True,
        }
        return web.json_response(answer)

    def _csrf_ok(self, request: web.Request, form: Mapping[str, object], region: str) -> bool:
        param = _csrf_param(region)
        token = self._csrf_sessions.get(request.cookies.get(param, ""))
        return (
            token is not None
            and request.headers.get("X-Requested-With") == "XMLHttpRequest"
            and request.headers.get("X-CSRF-Token") == token
            and form.get(param) == token
        )

    def _house_entry(self, address: Address, house: str, groups: list[str]) -> dict[str, Any]:
        outage = self.outages.get((*address, house), {})
        return {**_NO_OUTAGE, **outage, "sub_type_reason": groups, "voluntarily": None}


def _block_page() -> web.Response:
    return web.Response(text=BLOCK_PAGE, status=403, content_type="text/html")


def _csrf_param(region: str) -> str:
    # Yii names its CSRF cookie like the form field; the page builder uses the same name.
    return f"_csrf-dtek-{region}"


def sample_schedule(region: str, today: date, *, groups: int = 6) -> RegionSchedule:
    """A plausible schedule for today and tomorrow: rotating outages of a few hours per group,
    with half-hour edges, plus a weekly plan of possible outages."""
    keys = [f"GPV{queue}.{sub}" for queue in range(1, groups + 1) for sub in (1, 2)]
    days = {
        day: {key: _rotating_day(index + offset * 3) for index, key in enumerate(keys)}
        for offset, day in enumerate((today, today + timedelta(days=1)))
    }
    week = {
        weekday: {key: _rotating_day(index + weekday, possible=True) for index, key in enumerate(keys)}
        for weekday in range(1, 8)
    }
    return RegionSchedule(
        region=region,
        updated=datetime.combine(today, time(7, 30), KYIV),
        groups={key: f"Черга {key.removeprefix('GPV')}" for key in keys},
        days=days,
        week=week,
    )


def _rotating_day(shift: int, *, possible: bool = False) -> str:
    outage = "?" if possible else "-"
    slots = ["+"] * SLOTS_PER_DAY
    # Outages of 3.5 hours every 12 hours, starting on a half hour that moves with the group.
    for start in (shift * 3 % 24 + 1, shift * 3 % 24 + 25):
        for slot in range(start, min(start + 7, SLOTS_PER_DAY)):
            slots[slot] = outage
    return "".join(slots)
