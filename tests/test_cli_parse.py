"""The ``parse`` command's contract: canonical JSON on stdout, exit 2 with one line on stderr otherwise."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from common.dtek.page_builder import page_html
from tests.conftest import CAPTURES, REPO_ROOT

pytestmark = pytest.mark.e2e  # every test runs the CLI as a process


def run_parse(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "schedule_service", "parse", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=60,
    )


def test_parse_capture_prints_canonical_json(capture: Callable[[str], str]) -> None:
    capture("dnem-2025-12-18.html")  # skips with a reason when ../shared is absent
    result = run_parse(str(CAPTURES / "dnem-2025-12-18.html"), "--json")
    assert result.returncode == 0
    text = result.stdout.decode("utf-8")
    assert "Черга 1.1" in text  # UTF-8, not \u escapes
    data = json.loads(text)
    assert list(data) == ["days", "groups", "region", "updated", "week"]
    assert data["region"] == "dnem"
    assert data["updated"] == "2025-12-18T20:00:00+02:00"
    assert data["days"]["2025-12-18"]["GPV1.1"] == "----++++++++++++++--------------+++++++-------++"
    assert list(data["days"]["2025-12-18"]) == sorted(data["days"]["2025-12-18"])
    assert list(data["week"]) == ["1", "2", "3", "4", "5", "6", "7"]


def test_parse_region_option(capture: Callable[[str], str]) -> None:
    capture("dnem-2025-12-18.html")
    result = run_parse(str(CAPTURES / "dnem-2025-12-18.html"), "--region", "krem", "--json")
    assert json.loads(result.stdout)["region"] == "krem"


def test_parse_blocked_page_exit_2(capture: Callable[[str], str]) -> None:
    capture("blocked-incapsula.html")
    result = run_parse(str(CAPTURES / "blocked-incapsula.html"), "--json")
    assert result.returncode == 2
    assert result.stdout == b""
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert "anti-bot block page" in lines[0]


def test_parse_non_schedule_and_malformed(tmp_path: Path) -> None:
    plain = tmp_path / "plain.html"
    plain.write_text("<html><body>Сторінку не знайдено</body></html>", encoding="utf-8")
    result = run_parse(str(plain), "--json")
    assert (result.returncode, result.stdout) == (2, b"")
    assert "no schedule data" in result.stderr.decode()

    broken = tmp_path / "broken.html"
    broken.write_text('<script>DisconSchedule.fact = {"data": {"1": [}</script>', encoding="utf-8")
    result = run_parse(str(broken), "--json")
    assert (result.returncode, result.stdout) == (2, b"")
    assert "malformed data" in result.stderr.decode()

    result = run_parse(str(tmp_path / "missing.html"), "--json")
    assert result.returncode == 2
    assert "cannot read" in result.stderr.decode()


def test_parse_warns_about_unknown_values(tmp_path: Path) -> None:
    hours = {str(h): "yes" for h in range(1, 25)} | {"5": "storm"}
    page = tmp_path / "odd.html"
    page.write_text(
        page_html(region="oem", fact={"data": {"1766008800": {"GPV1.1": hours}}}, preset=None, streets={}),
        encoding="utf-8",
    )
    result = run_parse(str(page), "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["days"]["2025-12-18"]["GPV1.1"][8:10] == "??"
    assert "warning: slot value 'storm'" in result.stderr.decode()
