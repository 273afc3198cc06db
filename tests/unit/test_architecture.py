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
    "importlib",
    "pytest",
    "asyncmy",
    "aiomysql",
    "pymysql",
    "psycopg",
    "psycopg2",
    "mmap",
    "signal",
    "multiprocessing",
    "threading",
    "concurrent",
    "selectors",
    "fcntl",
    "builtins",
    "sys",
    "platform",
    "ctypes",
}
# The registry finds plugins in installed package metadata: that is its one job. The
# conformance suite is a set of pytest tests vendors run (it reads no files either).
ALLOWED_EXCEPTIONS = {
    ("adapters/registry.py", "importlib"),
    ("adapters/conformance.py", "pytest"),
    ("gateway/typed_input.py", "pathlib"),  # builds Path values; never touches a file
}
# What an adapter may import from the gateway: the model, its JSON codec, the error tree, the
# (pure) encoders and the dataclass reader its options use. Anything else could pull I/O in
# through the back door.
PURE_GATEWAY_MODULES = (
    "gateway.model",
    "gateway.canonical",
    "gateway.errors",
    "gateway.encoders",
    "gateway.typed_input",
)
# Calls and names that read the clock, the environment or files.
IMPURE_CALLS = {"open", "exec", "eval", "__import__", "input", "print", "breakpoint"}
IMPURE_ATTRIBUTES = {
    "now",
    "utcnow",
    "today",
    "environ",
    "getenv",
    "read_text",
    "read_bytes",
    "write_text",
    "write_bytes",
    "monotonic",
    "perf_counter",
}


def imported_modules(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def pure_modules() -> list[Path]:
    return sorted(
        [
            *ROOT.glob("adapters/**/*.py"),
            *ROOT.glob("gateway/encoders/**/*.py"),
            ROOT / "gateway" / "typed_input.py",
        ]
    )


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


def impurities(source: str, rel: str) -> list[str]:
    """Everything in an adapter's source that reaches for I/O, the clock or the environment."""
    found = []
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            names = []
        for name in names:
            top = name.split(".")[0]
            if top in FORBIDDEN_IN_PURE and (rel, top) not in ALLOWED_EXCEPTIONS:
                found.append(f"imports {name}")
            if top == "gateway" and not name.startswith(PURE_GATEWAY_MODULES):
                found.append(f"imports {name} (adapters may use only {PURE_GATEWAY_MODULES})")
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in IMPURE_CALLS:
                found.append(f"calls {func.id}()")
        if isinstance(node, ast.Attribute) and node.attr in IMPURE_ATTRIBUTES:
            found.append(f"uses .{node.attr}")
    return found


@pytest.mark.parametrize(
    "path", sorted(ROOT.glob("adapters/**/*.py")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_adapters_reach_for_no_io_clock_or_environment(path: Path) -> None:
    rel = str(path.relative_to(ROOT))
    assert impurities(path.read_text(encoding="utf-8"), rel) == [], rel


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import socket", "imports socket"),
        ("from urllib.request import urlopen", "imports urllib.request"),
        ("import asyncpg", "imports asyncpg"),
        ("from gateway.store.sqlite import SqliteStore", "imports gateway.store.sqlite"),
        ("from datetime import datetime\nx = datetime.now()", "uses .now"),
        ("import datetime\nx = datetime.date.today()", "uses .today"),
        ("from os import environ", "imports os"),
        ("import os\nx = os.environ['DVCQG']", "imports os"),
        ("x = open('/etc/passwd').read()", "calls open()"),
        ("def f(p):\n    return p.read_text()", "uses .read_text"),
    ],
)
def test_the_architecture_check_catches_impure_adapters(source: str, expected: str) -> None:
    found = impurities(source, "adapters/planted.py")
    assert any(item.startswith(expected) for item in found), found


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
