"""Shared test fixtures and options. The real DTEK captures are read from ../shared beside the checkout,
never copied.

``--clock-at ISO`` runs the suite at another wall-clock instant (``time-machine``, ticking from there),
to prove that no test depends on the date it runs on. It reaches everything in this process; real
processes started by tests keep the real clock, so such tests take their dates from
:func:`real_kyiv_now`.

Slow tests are marked ``e2e`` and left out of the fast run ``pytest -m "not e2e"``. A test is e2e when
- its module says so (``pytestmark = pytest.mark.e2e``: the bot against the fake Bot API, the service's
  CLI as a process), or it is marked itself (a long timing test), or
- it runs a bot with its harness (tests/telegram_harness.py, tests/discord_harness.py, plugins: their
  fixtures serve every module), in whatever file it is written: it uses, directly or through another
  fixture, one of a harness's fixtures that start the bot (its ``BOT_FIXTURES``), or its module imports a harness's
  starter ``start_bot`` (a module's own fixture that starts the bot, such as test_telegram_views.py's
  ``start``, does), or
- it starts a real process: that is known only while it runs, so such a test left unmarked fails,
  saying so (an audit hook sees every process started).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine

from common.clock import KYIV, as_kyiv

REPO_ROOT = Path(__file__).resolve().parents[1]
CAPTURES = REPO_ROOT.parent / "shared" / "fixtures" / "dtek"

# The bots' end-to-end harnesses: their fixtures are found by name in every test module.
TELEGRAM_HARNESS = "tests.telegram_harness"
DISCORD_HARNESS = "tests.discord_harness"
pytest_plugins = [TELEGRAM_HARNESS, DISCORD_HARNESS]

_TRAVEL = pytest.StashKey[time_machine.travel]()


def real_kyiv_now() -> datetime:
    """The real wall clock in Kyiv, also under --clock-at: the clock of the processes tests start."""
    hatch = time_machine.escape_hatch
    return datetime.fromtimestamp(hatch.time.time() if hatch.is_travelling() else time.time(), KYIV)


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset: write e.g. 2027-03-28T01:50+02:00")
    return moment


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--clock-at",
        type=_instant,
        metavar="ISO",
        help="run the in-process tests with the wall clock starting at this instant, e.g. 2027-03-28T01:50+02:00",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Started here, before collection, so that module constants, fixtures and every event loop see it.
    # A timestamp, not the datetime: time-machine would set TZ for a zoneinfo or UTC destination, and
    # the processes tests start would inherit it.
    moment: datetime | None = config.getoption("clock_at")
    if moment is not None:
        travel = time_machine.travel(moment.timestamp(), tick=True)
        travel.start()
        config.stash[_TRAVEL] = travel
    sys.addaudithook(_count_processes)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _TRAVEL in config.stash:
        config.stash[_TRAVEL].stop()


def pytest_report_header(config: pytest.Config) -> str:
    moment: datetime | None = config.getoption("clock_at")
    if moment is None:
        return "clock: real"
    return f"clock: shifted to {as_kyiv(moment):%Y-%m-%d %H:%M:%S %Z} Kyiv, ticking; real processes keep the real clock"


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    harnesses = []
    for name in pytest_plugins:
        harness = config.pluginmanager.get_plugin(name)
        assert harness is not None, f"{name} is not registered: the bot's tests could not run"
        harnesses.append(harness)
    for item in items:
        fixtures = getattr(item, "fixturenames", ())  # with the fixtures the test's fixtures use
        module = getattr(item, "module", None)
        for harness in harnesses:
            imports_starter = module is not None and any(
                v is harness.start_bot for v in vars(module).values()
            )
            if harness.BOT_FIXTURES.intersection(fixtures) or imports_starter:
                item.add_marker(pytest.mark.e2e)
                break


_processes_started = 0


def _count_processes(event: str, _args: tuple[Any, ...]) -> None:
    global _processes_started
    if event == "subprocess.Popen":  # also raised by asyncio's create_subprocess_exec
        _processes_started += 1


@pytest.fixture(autouse=True)
def real_processes_are_e2e(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails an unmarked test that starts a real process: it would slow the fast run, and under
    --clock-at the process would not share the test's clock."""
    before = _processes_started
    yield
    if _processes_started > before and request.node.get_closest_marker("e2e") is None:
        pytest.fail("this test starts a real process: mark it e2e (see tests/conftest.py)", pytrace=False)


@pytest.fixture
def capture() -> Callable[[str], str]:
    """Returns a function reading one real capture by file name (skips, saying why, if ../shared is absent)."""

    def read(name: str) -> str:
        path = CAPTURES / name
        if not path.exists():
            pytest.skip(f"real capture {path} not found: ../shared must sit beside the checkout")
        return path.read_text(encoding="utf-8")

    return read


def _sqlite_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if "_connection_worker_thread" in t.name and t.is_alive()}


@pytest.fixture(autouse=True)
def no_open_sqlite_connections() -> Iterator[None]:
    """Fails a test that leaves an aiosqlite connection open: its thread would keep the process alive."""
    before = _sqlite_threads()
    yield
    deadline = time.monotonic() + 2
    while (leaked := _sqlite_threads() - before) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not leaked, f"{len(leaked)} aiosqlite connection(s) left open by this test"
