"""Parse benchmark: what the service does with each page it scrapes (``parse_page``: the schedule, the
streets and the notices) on the real 790 KB page of dtek-dnem, against BeautifulSoup's ``html.parser`` of
the same page as the baseline: time (median of repeated runs) and peak memory (``tracemalloc``)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from pathlib import Path

from bs4 import BeautifulSoup

from benchmarks.suite import Row, median, ms, ratio, repeats, timed
from common.dtek.parse import parse_page

CAPTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "dtek"
PAGE = CAPTURES / "dnem-2025-12-18.html"
REGION = "dnem"
TIME_BENCHMARK = "parse the real DTEK page: time"
MEMORY_BENCHMARK = "parse the real DTEK page: peak memory"


async def run(quick: bool) -> list[Row]:
    if not PAGE.exists():
        return [
            Row(
                TIME_BENCHMARK,
                "skipped",
                note=f"capture {PAGE} not found: ../shared must sit beside the checkout",
            )
        ]
    html = PAGE.read_text(encoding="utf-8")

    def ours() -> object:
        return parse_page(html, region=REGION)

    def soup() -> object:
        return BeautifulSoup(html, "html.parser")

    times = repeats(quick, 10)
    # Interleaved, so that a noisy stretch of the machine hits both alike.
    ours_s: list[float] = []
    soup_s: list[float] = []
    for _ in range(times):
        ours_s += timed(ours, 1)
        soup_s += timed(soup, 1)
    size = f"{len(html) / 1000:.0f}k characters ({len(html.encode()) / 1024:.0f} KB), {times} runs"
    ours_peak, soup_peak = peak_bytes(ours), peak_bytes(soup)
    return [
        Row(
            TIME_BENCHMARK,
            ms(median(ours_s)),
            ms(median(soup_s)),
            ratio(median(ours_s), median(soup_s)),
            f"median; baseline: BeautifulSoup html.parser; {size}",
        ),
        Row(
            MEMORY_BENCHMARK,
            mib(ours_peak),
            mib(soup_peak),
            ratio(ours_peak, soup_peak),
            "tracemalloc peak above the page text; baseline: BeautifulSoup html.parser",
        ),
    ]


def peak_bytes(work: Callable[[], object]) -> int:
    """The most memory ``work`` held at once beyond what was allocated before it, in bytes."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def mib(size: float) -> str:
    return f"{size / 2**20:.3g} MiB"
