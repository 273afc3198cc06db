"""Dependency rules of ARCHITECTURE.md, checked by reading the source with ``ast``."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

# Adapters and encoders take values and return values: no sockets, files, clock, environment.
FORBIDDEN_IN_PURE = {
    "aiohttp",
    "asyncio",
    "socket",
    "ssl",
    "http",
    "urllib",
    "requests",
    "sqlite3",
    "asyncpg",
    "os",
    "pathlib",
    "io",
    "shutil",
    "subprocess",
    "time",
    "random",
    "zeep",
    "structlog",
    "logging",
    "tempfile",
    "glob",
}
# The registry finds plugins in installed package metadata: that is its one job.
ALLOWED_EXCEPTIONS = {("adapters/registry.py", "importlib")}


def imported_modules(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def pure_modules() -> list[Path]:
    return sorted([*ROOT.glob("adapters/**/*.py"), *ROOT.glob("gateway/encoders/**/*.py")])


@pytest.mark.parametrize("path", pure_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_modules_import_no_io(path: Path) -> None:
    rel = str(path.relative_to(ROOT))
    bad = [
        name
        for name in imported_modules(path)
        if name.split(".")[0] in FORBIDDEN_IN_PURE
        and (rel, name.split(".")[0]) not in ALLOWED_EXCEPTIONS
    ]
    assert bad == [], f"{rel} imports I/O or clock modules: {bad}"


def test_pure_modules_do_not_read_the_clock() -> None:
    for path in pure_modules():
        source = path.read_text(encoding="utf-8")
        for call in ("datetime.now(", "datetime.utcnow(", "date.today(", "time.time("):
            assert call not in source, f"{path.relative_to(ROOT)} calls {call}"


def test_simulator_does_not_import_the_wire_code_it_checks() -> None:
    for path in ROOT.glob("gateway/simulator/*.py"):
        for name in imported_modules(path):
            assert not name.startswith(("gateway.encoders", "gateway.routes")), (
                f"{path.name} imports {name}: the simulator must check our wire code independently"
            )


def test_no_catch_all_module_names() -> None:
    names = {p.name for p in ROOT.glob("gateway/**/*.py")} | {
        p.name for p in ROOT.glob("adapters/**/*.py")
    }
    assert not names & {"utils.py", "helpers.py", "common.py", "misc.py"}
