"""Shared test fixtures. The real DTEK captures are read from ../shared beside the checkout, never copied."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CAPTURES = REPO_ROOT.parent / "shared" / "fixtures" / "dtek"


@pytest.fixture
def capture():
    """Returns a function reading one real capture by file name (skips, saying why, if ../shared is absent)."""

    def read(name: str) -> str:
        path = CAPTURES / name
        if not path.exists():
            pytest.skip(f"real capture {path} not found: ../shared must sit beside the checkout")
        return path.read_text(encoding="utf-8")

    return read
