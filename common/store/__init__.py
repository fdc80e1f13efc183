"""The shared schedule database: one writer (the schedule service), many read-only readers (the bots)."""

from common.sqlite_base import SchemaVersionError
from common.store.sqlite import (
    OUTCOME_OK,
    SCHEMA_VERSION,
    ChangeRecord,
    SaveResult,
    ScheduleReader,
    ScheduleWriter,
    ScrapeRecord,
    StoredSchedule,
    shown_version,
)
from common.store.url import database_path

__all__ = [
    "OUTCOME_OK",
    "SCHEMA_VERSION",
    "ChangeRecord",
    "SaveResult",
    "ScheduleReader",
    "ScheduleWriter",
    "SchemaVersionError",
    "ScrapeRecord",
    "StoredSchedule",
    "database_path",
    "shown_version",
]
