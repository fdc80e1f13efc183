"""The fleet as compose.yaml declares it, read so that tests can run it as local processes: each service's
command, environment (its ``environment:`` over the variables of ``.env.example``, which stands in for
``env_file: .env``), volumes and health check.

Reading it checks it against the programs, so the compose file cannot drift from them: a command that is
not ``python -m <program>``, a variable no program reads, a container path on no volume are errors
(:class:`ComposeError`) naming the service.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic_settings import BaseSettings

from discord_bot.settings import DiscordSettings
from schedule_service.settings import ServiceSettings
from telegram_bot.settings import TelegramSettings
from tests.conftest import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "compose.yaml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"

# The programs a service may run (``python -m <name>``) and the settings each one reads.
PROGRAMS: dict[str, type[BaseSettings]] = {
    "schedule_service": ServiceSettings,
    "telegram_bot": TelegramSettings,
    "discord_bot": DiscordSettings,
}
# Variables docker compose itself reads from .env; the programs never see them as settings.
COMPOSE_VARIABLES = frozenset({"COMPOSE_PROFILES", "COMPOSE_PROJECT_NAME", "COMPOSE_FILE"})


class ComposeError(AssertionError):
    """compose.yaml or .env.example asks for something the programs do not do."""


def variables_of(program: str) -> frozenset[str]:
    """The environment variables a program reads (pydantic-settings: field names, any case)."""
    return frozenset(name.upper() for name in PROGRAMS[program].model_fields)


ALL_VARIABLES: frozenset[str] = frozenset().union(*map(variables_of, PROGRAMS))


@dataclass(frozen=True)
class Service:
    """One service of compose.yaml, checked against its program."""

    name: str
    command: tuple[str, ...]  # as written: "python", "-m", program, ...
    health: tuple[str, ...]  # the healthcheck's command, without compose's "CMD"
    health_timeout: float  # seconds: a slower check counts as a failed one
    environment: Mapping[str, str]
    mounts: Mapping[str, str]  # container path -> named volume

    @property
    def program(self) -> str:
        return self.command[2]

    def local_command(self, *args: str) -> list[str]:
        """The command with this interpreter for compose's ``python`` (the image's is the same program)."""
        return [sys.executable, *self.command[1:], *args]

    def local_health_command(self) -> list[str]:
        return [sys.executable, *self.health[1:]]

    def local_env(
        self,
        volumes: Path,
        dotenv: Mapping[str, str],
        overrides: Mapping[str, str],
        *,
        without: Collection[str] = (),
    ) -> dict[str, str]:
        """The variables the container would get, with every volume a folder under ``volumes`` (so a
        volume two services mount is one folder); ``overrides`` (the fakes' addresses, short intervals)
        come last, ``without`` names variables to leave out."""
        unknown = set(overrides) - ALL_VARIABLES
        if unknown:
            raise ComposeError(f"no program reads {sorted(unknown)}: check the test's overrides")
        merged = {**dotenv, **self.environment}
        env = {name: self._local_path(name, value, volumes) for name, value in merged.items()}
        env |= overrides
        return {name: value for name, value in env.items() if name not in without}

    def _local_path(self, name: str, value: str, volumes: Path) -> str:
        if not value.startswith("/"):
            return value
        under = [m for m in self.mounts if value == m or value.startswith(f"{m}/")]
        if not under:
            raise ComposeError(f"{self.name}: {name}={value} is on no volume: it would be lost on restart")
        mount = max(under, key=len)
        return str(volumes / self.mounts[mount] / value.removeprefix(mount).lstrip("/"))


def load_fleet(path: Path = COMPOSE_FILE) -> dict[str, Service]:
    """compose.yaml's services by name, each checked (ComposeError naming what is wrong)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {name: _service(name, spec) for name, spec in document["services"].items()}


def load_env_example(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """``.env.example``'s variables ({} while there is none); each must be read by a program or compose."""
    if not path.exists():
        return {}
    variables: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        name, equals, value = text.partition("=")
        if not equals:
            raise ComposeError(f"{path.name}: {line!r} is no NAME=value line")
        variables[name.strip()] = value.strip().strip("'\"")
    unknown = set(variables) - ALL_VARIABLES - COMPOSE_VARIABLES
    if unknown:
        raise ComposeError(f"{path.name} sets {sorted(unknown)}, which no program reads")
    return {name: value for name, value in variables.items() if name not in COMPOSE_VARIABLES}


def _service(name: str, spec: Mapping[str, Any]) -> Service:
    command = _program_command(name, "command", list(spec["command"]))
    test = list(spec["healthcheck"]["test"])
    if test[:1] != ["CMD"]:
        raise ComposeError(f"{name}: the healthcheck must be an exec form ['CMD', ...], not {test}")
    health = _program_command(name, "healthcheck", test[1:])
    if health[2] != command[2]:
        raise ComposeError(f"{name}: the healthcheck runs {health[2]}, the service {command[2]}")
    environment = {str(key): str(value) for key, value in (spec.get("environment") or {}).items()}
    unread = set(environment) - variables_of(command[2])
    if unread:
        raise ComposeError(f"{name}: python -m {command[2]} does not read {sorted(unread)}")
    timeout = _seconds(name, str(spec["healthcheck"].get("timeout", "30s")))
    return Service(name, command, health, timeout, environment, _mounts(name, spec.get("volumes") or []))


def _seconds(service: str, duration: str) -> float:
    """A compose duration such as ``20s`` or ``1m30s``."""
    parts = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    if not duration or parts is None:
        raise ComposeError(f"{service}: {duration!r} is no duration this test reads (like 20s or 1m30s)")
    minutes, seconds = parts.groups()
    return 60 * int(minutes or 0) + int(seconds or 0)


def _program_command(service: str, what: str, argv: list[str]) -> tuple[str, ...]:
    if argv[:2] != ["python", "-m"] or len(argv) < 3 or argv[2] not in PROGRAMS:
        raise ComposeError(f"{service}: the {what} {argv} is not 'python -m' one of {sorted(PROGRAMS)}")
    return tuple(argv)


def _mounts(service: str, volumes: list[str]) -> dict[str, str]:
    mounts: dict[str, str] = {}
    for entry in volumes:
        source, _, target = entry.partition(":")
        target = target.split(":")[0]  # without a mode such as :ro
        if not target or source.startswith((".", "/", "~")):
            raise ComposeError(f"{service}: {entry!r} is no named volume mount")
        mounts[target.rstrip("/")] = source
    return mounts
