"""The metrics: what the service's scrape cycle records, the settings, and the endpoint over real HTTP."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from common.clock import KYIV
from common.dtek.fake_site import FakeDtekSite, sample_schedule
from common.dtek.fetch import DtekFetcher
from common.metrics import Metrics, MetricsPortError, serving_metrics
from common.settings import DtekSettings
from common.store import ScheduleWriter
from schedule_service.scrape import scrape_cycle
from schedule_service.service import recall_last_successes
from tests.conftest import REPO_ROOT
from tests.discord_harness import TOKEN as DISCORD_TOKEN
from tests.metrics_helpers import free_port, sample, taken_port
from tests.processes import base_env, run

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=KYIV)


class SteppingClock:
    """A clock that stands still until the test moves it."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


async def test_the_scrape_cycle_counts_outcomes_and_times_the_regions_data(tmp_path: Path) -> None:
    clock, metrics = SteppingClock(NOW), Metrics()
    async with FakeDtekSite() as site:
        site.publish(sample_schedule("kem", NOW.date()))
        site.publish(sample_schedule("oem", NOW.date()))
        site.blocked.add("oem")
        settings = DtekSettings(
            dtek_url_template=site.url_template,
            dtek_retry_attempts=1,
            dtek_retry_base_delay_seconds=0,
            _env_file=None,
        )
        async with DtekFetcher(settings) as fetcher, await ScheduleWriter.open(tmp_path / "s.db") as writer:
            for _ in range(2):
                await scrape_cycle(
                    ["kem", "oem"],
                    fetcher=fetcher,
                    writer=writer,
                    spacing_seconds=0,
                    now=clock,
                    metrics=metrics,
                )

    assert sample(metrics, "dtek_scrapes_total", region="kem", outcome="ok") == 2
    assert sample(metrics, "dtek_scrapes_total", region="oem", outcome="blocked") == 2
    assert sample(metrics, "dtek_scrape_duration_seconds_count", region="oem") == 2
    assert sample(metrics, "dtek_scrape_last_success_timestamp_seconds", region="kem") == NOW.timestamp()
    clock.at = NOW + timedelta(minutes=5)  # the age is read when asked, on the program's clock
    assert sample(metrics, "dtek_data_age_seconds", region="kem") == 300
    assert (
        metrics.registry.get_sample_value("dtek_data_age_seconds", {"region": "oem"}) is None
    )  # never fetched


def test_metrics_port_blank_is_unset_and_out_of_range_is_refused() -> None:
    assert DtekSettings(metrics_port=" ", _env_file=None).metrics_port is None  # type: ignore[arg-type]
    assert DtekSettings(metrics_port="9100", _env_file=None).metrics_port == 9100  # type: ignore[arg-type]
    for bad in (0, 65536):
        with pytest.raises(ValidationError, match="metrics_port"):
            DtekSettings(metrics_port=bad, _env_file=None)


def on_loopback(port: int | None) -> DtekSettings:
    return DtekSettings(metrics_port=port, metrics_host="127.0.0.1", _env_file=None)


async def test_the_endpoint_serves_the_metrics_over_http_until_left(caplog: pytest.LogCaptureFixture) -> None:
    metrics, port = Metrics(), free_port()
    metrics.cache_lookups.labels("hit").inc(3)
    url = f"http://127.0.0.1:{port}/metrics"
    caplog.set_level("INFO", logger="common.metrics")
    async with httpx.AsyncClient() as client:
        async with serving_metrics(metrics, on_loopback(port)):
            answer = await client.get(url)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain")
        assert 'dtek_cache_lookups_total{result="hit"} 3.0' in answer.text.splitlines()
        assert f"metrics on :{port}" in caplog.messages
        with pytest.raises(httpx.ConnectError):  # stopped on leaving
            await client.get(url)


async def test_a_taken_port_is_one_clear_error() -> None:
    with taken_port() as port, pytest.raises(MetricsPortError) as error:
        async with serving_metrics(Metrics(), on_loopback(port)):
            pass
    assert (
        str(error.value) == f"METRICS_PORT: cannot serve metrics on 127.0.0.1:{port}: address already in use"
    )


async def test_no_port_serves_nothing() -> None:
    async with serving_metrics(Metrics(), on_loopback(None)):
        pass  # nothing to connect to, nothing to fail


def test_each_metrics_has_its_own_registry() -> None:
    first, second = Metrics(), Metrics()
    first.updates.labels("message").inc()
    assert sample(first, "dtek_updates_total", kind="message") == 1
    assert sample(second, "dtek_updates_total", kind="message") == 0


async def test_a_restarted_service_shows_the_age_of_the_data_in_its_db(tmp_path: Path) -> None:
    clock, metrics = SteppingClock(NOW), Metrics()
    path = tmp_path / "s.db"
    async with await ScheduleWriter.open(path) as writer:
        await writer.save(
            sample_schedule("kem", NOW.date()), streets=None, fetched_at=NOW, duration_seconds=1.0
        )
    clock.at = NOW + timedelta(minutes=10)
    await recall_last_successes(metrics, path, ["kem", "oem"], now=clock)
    assert sample(metrics, "dtek_data_age_seconds", region="kem") == 600
    assert sample(metrics, "dtek_scrape_last_success_timestamp_seconds", region="kem") == NOW.timestamp()
    assert metrics.registry.get_sample_value("dtek_data_age_seconds", {"region": "oem"}) is None


# The bots' settings, with tokens of the right shape that no platform is asked about: the port fails first.
BOT_ENVIRONMENTS = {
    "telegram_bot": {"TELEGRAM_BOT_TOKEN": "123456:not-asked-for"},
    "discord_bot": {"DISCORD_TOKEN": DISCORD_TOKEN},
}


@pytest.mark.e2e
@pytest.mark.parametrize("program", sorted(BOT_ENVIRONMENTS))
async def test_a_bot_on_a_taken_metrics_port_says_so_in_one_line_and_exits_2(
    program: str, tmp_path: Path
) -> None:
    with taken_port() as port:
        env = (
            base_env()
            | BOT_ENVIRONMENTS[program]
            | {
                "PYTHONPATH": str(REPO_ROOT),
                "DATABASE_URL": str(tmp_path / "bot.db"),
                "METRICS_PORT": str(port),
                "METRICS_HOST": "127.0.0.1",
            }
        )
        code, _, err = await run([sys.executable, "-m", program], env, cwd=tmp_path)
    assert code == 2
    assert err == f"error: METRICS_PORT: cannot serve metrics on 127.0.0.1:{port}: address already in use\n"
    assert not (tmp_path / "bot.db").exists()  # nothing opened
