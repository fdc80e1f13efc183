"""Schedules whose every part is derived from a version number, so a reader can tell a torn read."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta

from common.clock import KYIV
from common.schedule import RegionSchedule

REGION = "kem"
GROUP_COUNT = 24
DAYS = (date(2025, 12, 18), date(2025, 12, 19))
_BASE_UPDATE = datetime(2025, 12, 18, 8, 0, tzinfo=KYIV)


def slots_for(version: int, part: str, group: int) -> str:
    """48 slots that differ between any two versions (a digest, not a short cycle)."""
    digest = hashlib.sha512(f"{version}/{part}/{group}".encode()).digest()
    return "".join("+-?"[byte % 3] for byte in digest[:48])


def schedule_for(version: int) -> RegionSchedule:
    groups = [f"GPV{i // 2 + 1}.{i % 2 + 1}" for i in range(GROUP_COUNT)]
    return RegionSchedule(
        region=REGION,
        updated=_BASE_UPDATE + timedelta(minutes=version),
        groups={group: f"Черга {group} v{version}" for group in groups},
        days={day: {g: slots_for(version, day.isoformat(), i) for i, g in enumerate(groups)} for day in DAYS},
        week={wd: {g: slots_for(version, f"wd{wd}", i) for i, g in enumerate(groups)} for wd in range(1, 8)},
    )


BASE_FETCH = datetime(2025, 12, 18, 8, 5, tzinfo=KYIV)
STREET_COUNT = 4000  # a street list of some 200 kB: a write long enough to be killed in the middle of


def streets_for(version: int) -> dict[str, list[str]]:
    """A settlement's street list in which every name carries the version."""
    return {"м. Київ": [f"вул. Тестова {index} (v{version})" for index in range(STREET_COUNT)]}
