"""What every benchmark of the suite shares: the row it reports, repeated timing with a median, and the
machine it ran on.

A benchmark module has ``async def run(quick: bool) -> list[Row]`` (``quick``: fewer repeats and smaller
sizes, for a check that it still works), and is listed in ``benchmarks/__main__.py``. Figures are printed,
never asserted: machines are noisy.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Row:
    """One figure of the table."""

    benchmark: str  # what was measured, e.g. "parse the real 790 KB page"
    figure: str  # the value with its unit, e.g. "41.2 ms"
    baseline: str = ""  # the baseline's value measured in the same run, if there is one
    ratio: str = ""  # figure / baseline (e.g. "0.31×"), if there is a baseline
    note: str = ""  # how many runs, sizes, what the figure means


def machine() -> str:
    """One line naming the machine: cores, CPU, Python."""
    cpu = platform.processor() or platform.machine()
    return f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, Python {platform.python_version()}"


def repeats(quick: bool, full: int, short: int = 3) -> int:
    return short if quick else full


def timed(work: Callable[[], object], times: int) -> list[float]:
    """Seconds each of ``times`` calls of ``work`` took."""
    durations = []
    for _ in range(times):
        started = time.perf_counter()
        work()
        durations.append(time.perf_counter() - started)
    return durations


async def timed_async(work: Callable[[], Awaitable[object]], times: int) -> list[float]:
    """Seconds each of ``times`` awaits of ``work()`` took."""
    durations = []
    for _ in range(times):
        started = time.perf_counter()
        await work()
        durations.append(time.perf_counter() - started)
    return durations


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}×" if baseline else ""


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table."""
    lines = ["| benchmark | figure | baseline | ratio | note |", "|---|---|---|---|---|"]
    lines += [f"| {r.benchmark} | {r.figure} | {r.baseline} | {r.ratio} | {r.note} |" for r in rows]
    return "\n".join(lines)
