"""Turns a database URL from the settings into the SQLite file it names."""

from __future__ import annotations

import re
from pathlib import Path

ACCEPTED_FORMS = (
    "sqlite:///relative/path.db, sqlite:////absolute/path.db, sqlite:path.db?mode=rwc, "
    "sqlite://path.db?mode=rwc or a plain file path"
)

# A URL scheme: at least two characters, so a Windows drive letter ("C:\...") still reads as a path.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
# SQLAlchemy names the driver after a plus sign: sqlite+aiosqlite:///x.db.
_SQLITE_SCHEME = re.compile(r"^sqlite(\+\w+)?$", re.IGNORECASE)
_MEMORY = ":memory:"
# Scheme and "//", then anything up to the last "@": covers "user:pa@ss@host" and "mysql:user@host".
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*:(?://)?).*@", re.DOTALL)


def database_path(url: str) -> Path:
    """The file behind ``url``; ``ValueError`` for anything that is not an on-disk SQLite database."""
    text = url.strip()
    match = _SCHEME.match(text)
    if match is None:
        path = text
    elif _SQLITE_SCHEME.match(match.group(1)):
        path = _sqlite_url_path(text[match.end() :])
    else:
        raise _rejected(url, "not a SQLite URL")
    if not path or path == _MEMORY:
        raise _rejected(url, "no database file named")
    return Path(path)


def _sqlite_url_path(rest: str) -> str:
    """The path part after ``sqlite:``; the query (sqlx's ``?mode=rwc``) does not matter here."""
    rest = rest.split("?", 1)[0]
    if rest.startswith("///"):
        return rest[3:]  # SQLAlchemy: "sqlite:///" + path, so "////abs" keeps its leading slash
    return rest.removeprefix("//")  # sqlx: "sqlite://path.db" is the same as "sqlite:path.db"


def _rejected(url: str, reason: str) -> ValueError:
    return ValueError(f"unsupported database URL {_redacted(url)!r} ({reason}); accepted: {ACCEPTED_FORMS}")


def _redacted(url: str) -> str:
    """``url`` without the user name and password (everything up to the last ``@``), never to reach a log."""
    return _USERINFO.sub(r"\1", url.strip())
