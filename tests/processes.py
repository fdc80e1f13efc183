"""Programs of the checkout run as real processes by tests: each one's output goes to a log file, so that a
failing test shows it; they stop with SIGTERM as a container does, and none outlives its test.

A test that starts one is e2e (tests/conftest.py). Typical use, in a fixture:

    async with Programs(tmp_path / "logs") as programs:
        service = await programs.start("service", [sys.executable, "-m", "schedule_service"], env)
        await service.wait_for_output("scrape region=kem outcome=ok")
        assert await service.stop() == 0
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import NamedTuple, Self

from tests.conftest import REPO_ROOT
from tests.waiting import wait_until

# What a child process needs of the test's own environment; nothing else leaks in (a developer's DTEK_*,
# TELEGRAM_* or DISCORD_* variables would change what the program does).
INHERITED = ("PATH", "HOME", "TMPDIR", "LANG")


def base_env() -> dict[str, str]:
    return {name: os.environ[name] for name in INHERITED if name in os.environ}


class Finished(NamedTuple):
    """A command that ran to its end: ``code, stdout, stderr = await run(...)``."""

    code: int
    stdout: str
    stderr: str


class Program:
    """One started process whose stdout and stderr go to ``log``."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log

    @property
    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    async def wait_for_output(self, text: str, *, timeout: float = 20.0) -> None:  # noqa: ASYNC109
        """Waits until the output contains ``text``; fails at once, with the output, if the process ends."""

        def seen() -> bool:
            if text in self.output:
                return True
            if not self.running:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.output}")
            return False

        await wait_until(seen, timeout, what=f"{self.name} to print {text!r}", interval=0.05)

    async def stop(self, *, timeout: float = 20.0) -> int:  # noqa: ASYNC109
        """SIGTERM, as ``docker compose stop`` sends, then the exit code; killed if it outlasts ``timeout``."""
        if self.running:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            await self.kill()
            raise AssertionError(f"{self.name} ignored SIGTERM for {timeout} s:\n{self.output}") from None

    async def kill(self) -> None:
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        await self.process.wait()


class Programs:
    """Starts programs with their logs in one folder; on exit kills those still running and prints every
    log (pytest shows a test's printed output when it fails)."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[Program] = []

    async def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], *, cwd: Path = REPO_ROOT
    ) -> Program:
        """Runs ``argv``; a later program of the same name (a restart) logs to a file of its own."""
        self.logs.mkdir(parents=True, exist_ok=True)
        log = self.logs / f"{name}.{sum(p.name == name for p in self.started) + 1}.log"
        with log.open("wb") as output:
            process = await asyncio.create_subprocess_exec(
                *argv, cwd=cwd, env=dict(env), stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=output
            )
        program = Program(name, process, log)
        self.started.append(program)
        return program

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.gather(*(program.kill() for program in self.started))
        for program in self.started:
            print(f"----- {program.log.name} (exit code {program.process.returncode})\n{program.output}")


async def run(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    cwd: Path = REPO_ROOT,
    timeout: float = 60.0,  # noqa: ASYNC109 - the run's deadline, after which it is killed
) -> Finished:
    """Runs a command to its end (killed after ``timeout`` seconds, then AssertionError)."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"{' '.join(argv)} did not finish within {timeout} s") from None
    assert process.returncode is not None  # communicate() waited for the exit
    return Finished(process.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace"))
