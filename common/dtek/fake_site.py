"""A fake DTEK site on 127.0.0.1 serving pages built from our own schedules.

Used by the ``demo`` command and by the tests; it never serves a real capture. It can also play
the anti-bot block and server errors, and counts the requests it gets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta

from aiohttp import web

from common.dtek.page_builder import build_page
from common.schedule import KYIV, SLOTS_PER_DAY, RegionSchedule

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


class FakeDtekSite:
    """Serves ``/{region}/ua/shutdowns`` per region; ``url_template`` plugs into ``DTEK_URL_TEMPLATE``."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        self.blocked: set[str] = set()
        self.error_status: dict[str, int] = {}
        self.hits: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url_template(self) -> str:
        return f"{self.base_url}/{{region}}/ua/shutdowns"

    def publish(
        self,
        schedule: RegionSchedule,
        *,
        streets: Mapping[str, Sequence[str]] | None = None,
        today: date | None = None,
    ) -> None:
        if not schedule.region:
            raise ValueError("the schedule needs a region to be published")
        self.pages[schedule.region] = build_page(schedule, streets=streets, today=today)

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_get("/", self._root)
        app.router.add_get("/{region}/ua/shutdowns", self._page)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDtekSite:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _root(self, request: web.Request) -> web.Response:
        self.hits["/"] += 1
        response = web.Response(text="<html><body>ДТЕК</body></html>", content_type="text/html")
        response.set_cookie(WARMUP_COOKIE, "1")
        return response

    async def _page(self, request: web.Request) -> web.Response:
        region = request.match_info["region"]
        self.hits[region] += 1
        if region in self.blocked:
            return web.Response(text=BLOCK_PAGE, status=403, content_type="text/html")
        if region in self.error_status:
            return web.Response(text="Server error", status=self.error_status[region])
        if region not in self.pages:
            return web.Response(text="Not found", status=404)
        return web.Response(text=self.pages[region], content_type="text/html")


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
