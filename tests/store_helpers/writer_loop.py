"""A schedule-service-like writer process for the crash test: saves one new version after another, each
with a large street list derived from its version number, until it is killed.

Run from the repository root: ``python -m tests.store_helpers.writer_loop DB``. Carries on after the
version stored in DB and prints ``ready`` once it has opened the file.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

from common.store import ScheduleReader, ScheduleWriter
from tests.store_helpers.versions import BASE_FETCH, REGION, schedule_for, streets_for


async def run(path: Path) -> None:
    async with await ScheduleReader.open(path) as reader:
        version = (await reader.versions()).get(REGION, 0)
    async with await ScheduleWriter.open(path) as writer:
        print("ready", flush=True)
        while True:
            version += 1
            await writer.save(
                schedule_for(version),
                streets=streets_for(version),
                fetched_at=BASE_FETCH + timedelta(minutes=version),
                duration_seconds=1.0,
            )


if __name__ == "__main__":
    asyncio.run(run(Path(sys.argv[1])))
