"""The deployment files agree with the programs and with each other: Dockerfile, .dockerignore, compose.yaml
and .env.example. Each is read as text (YAML for compose.yaml); nothing is built or started.

``docker-compose config`` itself runs in CI (.ci/check-compose), where docker-compose is installed.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from dotenv import dotenv_values
from pydantic_settings import BaseSettings

from common.store.url import database_path
from discord_bot.settings import DiscordSettings
from schedule_service.settings import ServiceSettings
from telegram_bot.settings import TelegramSettings

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "schedule_service", "telegram_bot", "discord_bot")
# compose service -> the program it runs, its profile (None: always runs) and its settings.
SERVICES: dict[str, tuple[str, str | None, type[BaseSettings]]] = {
    "schedule-service": ("schedule_service", None, ServiceSettings),
    "telegram-bot": ("telegram_bot", "telegram", TelegramSettings),
    "discord-bot": ("discord_bot", "discord", DiscordSettings),
}
BOTS = ("telegram-bot", "discord-bot")
SECRETS = ("TELEGRAM_BOT_TOKEN", "DISCORD_TOKEN", "TELEGRAM_WEBHOOK_SECRET")
# Variables .env.example may name beyond the settings' fields: compose's own.
EXAMPLE_EXTRAS = frozenset({"COMPOSE_PROFILES"})
# Tokens of the right shape, only so that the example's other values can be validated.
FAKE_TOKENS = {
    "telegram_bot_token": "123456:fake-token",
    "discord_token": "MTAxMDEwMTAxMDEwMTAxMDEw.GaBcDe.fake-signature-fake-signature",
}


# --- Dockerfile -------------------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == keyword]


def dockerfile_instructions(text: str) -> list[Instruction]:
    """Instructions with their continuation lines joined; comments and blank lines dropped."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # a comment inside a continued RUN does not end it
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    instructions = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
    return instructions


def dockerfile_stages() -> list[Stage]:
    stages: list[Stage] = []
    for instruction in dockerfile_instructions((ROOT / "Dockerfile").read_text(encoding="utf-8")):
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif stages:
            stages[-1].instructions.append(instruction)
    return stages


def env_assignments(stage: Stage) -> dict[str, str]:
    values: dict[str, str] = {}
    for args in stage.all("ENV"):
        for word in shlex.split(args):
            name, _, value = word.partition("=")
            values[name] = value
    return values


def test_the_image_installs_the_locked_dependencies_without_dev_tools() -> None:
    build, *_ = dockerfile_stages()
    installs = [run for run in build.all("RUN") if "uv sync" in run]
    assert len(installs) == 1, installs
    words = installs[0].split()
    assert {"--locked", "--no-dev", "--no-install-project"} <= set(words)
    # DTEK often blocks plain clients: DTEK_HTTP_BACKEND=curl_cffi must work in the container.
    assert "impersonate" in words[words.index("--extra") + 1 :][:1]


def test_the_final_stage_carries_only_the_venv_and_the_source() -> None:
    stages = dockerfile_stages()
    final = stages[-1]
    assert len(stages) >= 2, "a build stage keeps uv out of the final image"
    assert final.base == stages[0].base, "the venv runs only on the Python it was built with"
    assert not any("apt-get install" in run or "pip install" in run for run in final.all("RUN"))
    copied_from_build = [c for c in final.all("COPY") if c.startswith("--from=")]
    assert [c.split()[1] for c in copied_from_build] == ["/opt/venv"]
    assert "/opt/venv/bin" in env_assignments(final)["PATH"].split(":")[0]
    sources = {c.split()[0] for c in final.all("COPY") if not c.startswith("--")}
    assert sources == set(PACKAGES)
    # Every package of the checkout is in the image: a new one must be added to the Dockerfile.
    not_shipped = {"tests", "benchmarks"}
    assert {p.parent.name for p in ROOT.glob("*/__init__.py")} - not_shipped == set(PACKAGES)


def test_the_final_stage_runs_as_a_fixed_non_root_user() -> None:
    final = dockerfile_stages()[-1]
    users = final.all("USER")
    assert users, "the final stage must set USER"
    user = users[-1].split(":")[0]
    assert user.isdigit(), "numeric, so a runtime can tell it is not root"
    assert int(user) != 0
    # The volumes' mount points exist and belong to that user, so new named volumes get that owner.
    setup = " ".join(final.all("RUN"))
    assert f"--uid {user}" in setup
    for target in compose_mount_targets():
        assert re.search(rf"mkdir[^&]*{target}\b", setup), f"{target} is not created"
        assert re.search(rf"chown[^&]*{target}\b", setup), f"{target} is not owned by the app user"


def test_the_image_runtime_settings() -> None:
    final = dockerfile_stages()[-1]
    env = env_assignments(final)
    assert env["PYTHONUNBUFFERED"] == "1", "logs must reach `docker compose logs` at once"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert final.all("STOPSIGNAL") == ["SIGTERM"]
    assert final.all("WORKDIR") == ["/app"]
    assert final.all("CMD") == ['["python", "-m", "schedule_service"]']


def test_the_image_python_is_the_projects() -> None:
    base = dockerfile_base_image()
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    version = re.search(r'^python_version = "(\d+\.\d+)"', pyproject, re.MULTILINE)
    assert version is not None
    assert base.startswith(f"python:{version.group(1)}-slim"), base


def dockerfile_base_image() -> str:
    """The base image, through the ARG that names it for both stages."""
    base = dockerfile_stages()[0].base
    arg = re.fullmatch(r"\$\{(\w+)\}", base)
    if arg is None:
        return base
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    default = re.search(rf"^ARG {arg.group(1)}=(\S+)", text, re.MULTILINE)
    assert default is not None, f"ARG {arg.group(1)} has no default"
    return default.group(1)


def test_dockerignore_keeps_secrets_data_and_dev_files_out() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    assert {".env", "data/", "backups/", "*.db", ".venv/", "tests/", "benchmarks/", ".git"} <= patterns
    # What the build copies must stay in the context.
    for needed in ("pyproject.toml", "uv.lock", *PACKAGES):
        assert not any(p.strip("/") in (needed, "*") for p in patterns), needed


# --- compose.yaml -------------------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def service(name: str) -> dict[str, Any]:
    services = compose()["services"]
    assert isinstance(services, dict)
    found = services[name]
    assert isinstance(found, dict)
    return found


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool


def mounts(name: str) -> list[Mount]:
    """The service's volumes, short (``src:dst[:mode]``) or long syntax."""
    found = []
    for entry in service(name).get("volumes", []):
        if isinstance(entry, str):
            source, target, *mode = entry.split(":")
            found.append(Mount(source, target, "ro" in ",".join(mode).split(",")))
        else:
            found.append(Mount(entry["source"], entry["target"], bool(entry.get("read_only", False))))
    return found


def compose_mount_targets() -> set[str]:
    return {mount.target for name in SERVICES for mount in mounts(name)}


def db_directory(name: str, variable: str) -> str:
    url = service(name)["environment"][variable]
    return str(PurePosixPath(database_path(url)).parent)


def test_compose_runs_each_program_from_the_one_image() -> None:
    assert set(compose()["services"]) == set(SERVICES)
    for name, (program, _, _) in SERVICES.items():
        spec = service(name)
        assert spec["command"] == ["python", "-m", program]
        assert spec["build"] == "."
        assert spec["image"] == service("schedule-service")["image"]
        assert spec["env_file"] == ".env"
        assert spec["restart"] == "unless-stopped"
        assert spec["stop_signal"] == "SIGTERM"
        assert spec["init"] is True, "an init as PID 1 forwards SIGTERM before the program's handlers exist"
        assert spec["logging"]["driver"] == "json-file"
        assert {"max-size", "max-file"} <= set(spec["logging"]["options"]), "logs must be rotated"
    assert (ROOT / "Dockerfile").is_file(), "build: . needs the Dockerfile beside compose.yaml"


def test_compose_health_checks_call_each_programs_health_command() -> None:
    for name, (program, _, _) in SERVICES.items():
        test = service(name)["healthcheck"]["test"]
        assert test[:5] == ["CMD", "python", "-m", program, "health"], name


def test_the_shared_db_volume_is_mounted_where_every_program_looks() -> None:
    directory = db_directory("schedule-service", "SCHEDULE_DB_URL")
    shared = [m for m in mounts("schedule-service") if m.target == directory]
    assert len(shared) == 1, f"no volume at {directory}"
    assert not shared[0].read_only
    for name in SERVICES:
        assert db_directory(name, "SCHEDULE_DB_URL") == directory
        # Not read-only even for the bots: SQLite's WAL needs its side files; they open the DB read-only.
        assert shared[0] in mounts(name), name


def test_each_bot_keeps_its_own_db_on_its_own_volume() -> None:
    declared = set(compose()["volumes"])
    shared = {m.source for m in mounts("schedule-service")}
    seen: set[str] = set()
    for name in BOTS:
        directory = db_directory(name, "DATABASE_URL")
        own = [m for m in mounts(name) if m.target == directory]
        assert len(own) == 1, f"{name}: no volume at {directory}"
        assert not own[0].read_only
        assert own[0].source in declared, "a named volume, not a host path"
        assert own[0].source not in shared | seen
        seen.add(own[0].source)
    assert shared <= declared


def test_bots_start_after_the_service_is_healthy() -> None:
    for name in BOTS:
        assert service(name)["depends_on"] == {"schedule-service": {"condition": "service_healthy"}}


def enabled_services(profiles: set[str]) -> set[str]:
    return {name for name, (_, profile, _) in SERVICES.items() if profile is None or profile in profiles}


@pytest.mark.parametrize("choice", ["telegram,discord", "telegram", "discord", ""])
def test_each_choice_of_bots_starts_what_it_needs(choice: str) -> None:
    profiles = {p for p in choice.split(",") if p}
    for name, (_, profile, _) in SERVICES.items():
        assert service(name).get("profiles", []) == ([profile] if profile else [])
    enabled = enabled_services(profiles)
    assert "schedule-service" in enabled
    for name in enabled:
        assert set(service(name).get("depends_on", {})) <= enabled


# --- .env.example ---------------------------------------------------------------------------------------------

_EXAMPLE_LINE = re.compile(r"^#? ?([A-Z][A-Z0-9_]*)=(.*)$")


def example_lines() -> dict[str, tuple[str, bool]]:
    """Variable -> (value, set): every ``NAME=value`` line, commented (a default shown) or not."""
    lines: dict[str, tuple[str, bool]] = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        match = _EXAMPLE_LINE.match(line)
        if match:
            assert match.group(1) not in lines, f"{match.group(1)} is listed twice"
            lines[match.group(1)] = (match.group(2), not line.startswith("#"))
    return lines


def test_env_example_documents_every_setting() -> None:
    listed = set(example_lines())
    fields = {name.upper() for _, _, settings in SERVICES.values() for name in settings.model_fields}
    assert fields - listed == set(), "settings missing from .env.example"
    assert listed - fields - EXAMPLE_EXTRAS == set(), ".env.example names variables no program reads"


def test_env_example_holds_no_secret() -> None:
    lines = example_lines()
    for name in SECRETS:
        assert lines[name][0] == "", f"{name} must be empty in the example"


def test_env_example_chooses_existing_profiles() -> None:
    value, is_set = example_lines()["COMPOSE_PROFILES"]
    assert is_set
    profiles = {profile for _, profile, _ in SERVICES.values() if profile}
    assert set(value.split(",")) == profiles


@pytest.mark.parametrize("name", list(SERVICES))
def test_env_example_with_tokens_gives_valid_settings(name: str) -> None:
    """The example as compose hands it to a container (its own environment on top) is accepted."""
    _, _, settings = SERVICES[name]
    values: dict[str, object] = {k.lower(): v for k, v in dotenv_values(ROOT / ".env.example").items()}
    values.update({k.lower(): v for k, v in service(name)["environment"].items()})
    values.update(FAKE_TOKENS)
    # model_validate reads only these values, never the test process's environment or a .env.
    settings.model_validate(values)


def test_an_empty_schedule_db_url_makes_a_bot_scrape_for_itself() -> None:
    """What "Run one bot alone" relies on: SCHEDULE_DB_URL= (as `-e SCHEDULE_DB_URL=` gives) is unset."""
    for settings in (TelegramSettings, DiscordSettings):
        parsed = settings.model_validate({"schedule_db_url": "", **FAKE_TOKENS})
        assert parsed.schedule_db_url is None
