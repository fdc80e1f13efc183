"""Shared test fixtures. The real DTEK captures are read from ../shared beside the checkout, never copied."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CAPTURES = REPO_ROOT.parent / "shared" / "fixtures" / "dtek"


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
