"""The benchmark suite: ``uv run python -m benchmarks [--quick] [--only NAME ...]`` prints one table of every
figure (see BENCHMARKS.md for what each means and the figures measured on the development machine)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import time

from benchmarks.suite import Row, machine, table

# Each module has ``async def run(quick: bool) -> list[Row]``; in the order of the table.
MODULES: tuple[str, ...] = (
    "parse",
    "source",
    "pictures",
    "bot_memory",
    "telegram_burst",
    "outbox_throughput",
    "change_delivery",
    "dtek_load",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller sizes: a smoke run")
    parser.add_argument("--only", nargs="*", default=None, choices=MODULES, help="run only these benchmarks")
    args = parser.parse_args()
    rows: list[Row] = []
    started = time.monotonic()
    for name in args.only or MODULES:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"running {name} ...", flush=True)
        rows += asyncio.run(module.run(args.quick))
    print()
    print(
        f"machine: {machine()}; {'quick' if args.quick else 'full'} run in {time.monotonic() - started:.0f} s"
    )
    print()
    print(table(rows))


if __name__ == "__main__":
    main()
