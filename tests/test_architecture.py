"""The project's layering, checked on its import graph (read with ``ast``, nothing is imported).

Every import statement counts, wherever it stands: in a function, or under ``if TYPE_CHECKING`` (a cycle
hidden there still ties the modules together). ``from package import name`` is an edge to the package and,
when ``name`` is a submodule, to it as well: Python runs both.
"""

from __future__ import annotations

import ast
from collections.abc import Container, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMON = ("common",)
PROGRAMS = ("schedule_service", "telegram_bot", "discord_bot")
BOTS = ("telegram_bot", "discord_bot")
PIPELINE = "common.notifications"
BOT_DATABASE = "common.botdb"

Graph = Mapping[str, set[str]]


def module_paths() -> dict[str, Path]:
    """Dotted name -> file, for every module of common and the programs present."""
    modules: dict[str, Path] = {}
    for package in (*COMMON, *PROGRAMS):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported_names(source: str, module: str, *, is_package: bool) -> set[str]:
    """Every dotted name the source imports, relative imports resolved; ``from a import b`` gives both
    ``a`` and ``a.b``, which may be a module or a name inside ``a``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node.module, node.level, module, is_package=is_package)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _resolve(target: str | None, level: int, module: str, *, is_package: bool) -> str:
    if level == 0:
        return target or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    anchor = package[: len(package) - (level - 1)]
    return ".".join([*anchor, *([target] if target else [])])


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (the deepest module each imported name lies in)."""
    modules = module_paths()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        names = imported_names(
            path.read_text(encoding="utf-8"), module, is_package=path.name == "__init__.py"
        )
        targets = {_owning_module(name, modules) for name in names}
        graph[module] = {target for target in targets if target is not None and target != module}
    return graph


def _owning_module(name: str, modules: Container[str]) -> str | None:
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if (candidate := ".".join(parts[:end])) in modules:
            return candidate
    return None  # the standard library or a dependency


def find_cycles(graph: Graph) -> list[list[str]]:
    """One cycle per strongly connected group of modules, as a path that starts and ends at the same one."""
    cycles = []
    for group in _strongly_connected(graph):
        start = min(group)
        if len(group) > 1 or start in graph.get(start, ()):
            cycles.append(_path_back(graph, start, group))
    return sorted(cycles)


def _strongly_connected(graph: Graph) -> list[set[str]]:
    """Tarjan's algorithm; the graph is small enough for recursion."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for neighbour in sorted(graph.get(node, ())):
            if neighbour not in index:
                visit(neighbour)
                low[node] = min(low[node], low[neighbour])
            elif neighbour in stack:
                low[node] = min(low[node], index[neighbour])
        if low[node] == index[node]:
            group = set()
            while (member := stack.pop()) != node:
                group.add(member)
            groups.append(group | {node})

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def _path_back(graph: Graph, start: str, group: set[str]) -> list[str]:
    """The shortest path from ``start`` back to itself within its group (breadth first)."""
    paths = [[start]]
    while paths:
        path = paths.pop(0)
        for neighbour in sorted(graph.get(path[-1], ())):
            if neighbour == start:
                return [*path, start]
            if neighbour in group and neighbour not in path:
                paths.append([*path, neighbour])
    raise AssertionError(f"{start} is in a cycle without a path back")


def violations(graph: Graph, importers: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    """``a imports b`` for every module under ``importers`` importing one under ``forbidden``."""
    return sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        if _under(module, importers)
        for target in targets
        if _under(target, forbidden)
    )


def _under(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == package or module.startswith(f"{package}.") for package in packages)


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


# --- the rules -------------------------------------------------------------------------------------


def test_common_has_no_import_cycle(graph: Graph) -> None:
    common = {
        module: {target for target in targets if _under(target, COMMON)}
        for module, targets in graph.items()
        if _under(module, COMMON)
    }
    cycles = find_cycles(common)
    assert not cycles, "import cycles in common: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


def test_common_imports_no_program(graph: Graph) -> None:
    assert violations(graph, COMMON, PROGRAMS) == []


def test_the_bots_do_not_import_each_other(graph: Graph) -> None:
    for bot in BOTS:
        others = tuple(other for other in BOTS if other != bot)
        assert violations(graph, (bot,), others) == []


def test_the_schedule_service_imports_no_bot(graph: Graph) -> None:
    assert violations(graph, ("schedule_service",), BOTS) == []


def test_the_pipeline_and_the_bot_database_know_each_other_only_through_protocols(graph: Graph) -> None:
    assert violations(graph, (PIPELINE,), (BOT_DATABASE,)) == []
    assert violations(graph, (BOT_DATABASE,), (PIPELINE,)) == []


# --- the checker itself ----------------------------------------------------------------------------


def test_the_graph_holds_known_edges(graph: Graph) -> None:
    assert "common.changes" in graph[BOT_DATABASE]
    assert "common.notifications.watcher" in graph["common.notifications.feed"]
    assert "telegram_bot.delivery" in graph["telegram_bot.app"]


def test_type_checking_and_relative_imports_count() -> None:
    source = """
from typing import TYPE_CHECKING
from . import sibling
from ..store import sqlite
if TYPE_CHECKING:
    from common.botdb import BotDB
def later():
    import common.render.text
"""
    names = imported_names(source, "common.dtek.parse", is_package=False)
    assert {"common.dtek.sibling", "common.store.sqlite", "common.botdb", "common.render.text"} <= names
    package_names = imported_names("from .parse import x", "common.dtek", is_package=True)
    assert "common.dtek.parse" in package_names


def test_a_cycle_is_named_along_its_path() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "d"}, "e": set()}
    assert find_cycles(graph) == [["a", "b", "c", "a"], ["d", "d"]]
