"""A bot-like reader process: loads one region in a loop and checks each load is one whole version.

Run from the repository root: ``python -m tests.store_helpers.reader_loop DB FINAL_VERSION SECONDS``.
Prints ``ready`` after opening, then one JSON line with the counts; SIGTERM ends the loop early.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path

from common.store import ScheduleReader, StoredSchedule
from tests.store_helpers.versions import REGION, schedule_for


def is_whole_version(stored: StoredSchedule) -> bool:
    expected = schedule_for(stored.version)
    return (
        stored.schedule.to_canonical() == expected.to_canonical()
        and stored.content_hash == expected.content_hash()
    )


async def run(path: Path, final_version: int, seconds: float) -> dict[str, object]:
    loads = torn = 0
    errors: list[str] = []
    seen: set[int] = set()
    deadline = time.monotonic() + seconds
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    async with await ScheduleReader.open(path) as reader:
        print("ready", flush=True)
        while time.monotonic() < deadline and not stopping.is_set():
            try:
                stored = await reader.load(REGION)
            except Exception as exc:  # counted and reported: the test asserts there are none
                errors.append(repr(exc))
                continue
            loads += 1
            if stored is None or not is_whole_version(stored):
                torn += 1
                continue
            seen.add(stored.version)
            if stored.version >= final_version:
                break
    return {
        "loads": loads,
        "torn": torn,
        "errors": errors[:5],
        "error_count": len(errors),
        "versions": len(seen),
    }


if __name__ == "__main__":
    db, final, seconds = sys.argv[1:4]
    print(json.dumps(asyncio.run(run(Path(db), int(final), float(seconds)))), flush=True)
