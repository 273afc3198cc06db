"""Dependency rules of docs/architecture.md, checked by reading the source with ``ast``."""

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
    ("gateway/config/typed_input.py", "pathlib"),  # builds Path values; never touches a file
    # zeep builds and parses envelopes from the packaged contract WSDL; it never sends.
    ("gateway/encoders/wsdl.py", "zeep"),
}
# What an adapter may import from the gateway: the model, its JSON codec, the error tree, the
# (pure) encoders and the dataclass reader its options use. Anything else could pull I/O in
# through the back door.
PURE_GATEWAY_MODULES = (
    "gateway.model",
    "gateway.canonical",
    "gateway.errors",
    "gateway.encoders",
    "gateway.config.typed_input",
    "gateway.inbound.model",
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


def imports_in(source: str, *, names: bool = False) -> Iterator[str]:
    """Every absolute import of ``source``, at any depth (a lazy import inside a function
    counts); with ``names``, also ``module.name`` for each name a ``from`` import takes."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            if names:
                yield from (f"{node.module}.{alias.name}" for alias in node.names)


def imported_modules(path: Path) -> Iterator[str]:
    return imports_in(path.read_text(encoding="utf-8"))


def pure_modules() -> list[Path]:
    return sorted(
        [
            *ROOT.glob("adapters/**/*.py"),
            *ROOT.glob("gateway/encoders/**/*.py"),
            ROOT / "gateway" / "config" / "typed_input.py",
            ROOT / "gateway" / "inbound" / "model.py",
            ROOT / "gateway" / "inbound" / "reports.py",
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
        (
            "from gateway.store.sqlite.store import SqliteStore",
            "imports gateway.store.sqlite.store",
        ),
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


# What each stage may not import (docs/architecture.md; each package's docstring says the same).
# The flow is sources -> store -> delivery -> routes -> encoders, with audit and config beside
# them: a stage never reaches forward into one that uses it, and nothing but the composition
# root (app, cli, demo) picks a store engine.
ENGINES = ("gateway.store.sqlite", "gateway.store.postgres", "gateway.store.engines")
RUNNING = (
    "gateway.app",
    "gateway.cli",
    "gateway.demo",
    "gateway.scaffold",
    "gateway.admin",
    "gateway.two_way",  # the daemon's catalogue check and daily sync, composed for app
)
LAYER_RULES: dict[str, tuple[str, ...]] = {
    "gateway/store": ("gateway.delivery", "gateway.routes", "gateway.sources", *RUNNING),
    "gateway/delivery": ("gateway.sources", *ENGINES, *RUNNING),
    "gateway/routes": ("gateway.store", "gateway.delivery", "gateway.sources", *RUNNING),
    "gateway/sources": ("gateway.delivery", "gateway.routes", *ENGINES, *RUNNING),
    "gateway/audit": (
        "gateway.delivery",
        "gateway.routes",
        "gateway.sources",
        *ENGINES,
        *RUNNING,
    ),
    "gateway/config": (
        "gateway.store",
        "gateway.delivery",
        "gateway.routes",
        "gateway.sources",
        *RUNNING,
    ),
    "gateway/encoders": (
        "gateway.store",
        "gateway.delivery",
        "gateway.routes",
        "gateway.sources",
        "gateway.audit",
        *RUNNING,
    ),
    # The operators' API and console are handed the store, the worker and the audit log by
    # the composition root: they pick no engine and reach no source or route themselves.
    "gateway/admin": (
        *ENGINES,
        "gateway.sources",
        "gateway.routes",
        "gateway.app",
        "gateway.cli",
        "gateway.demo",
    ),
    # The 766 preview reads the store through its read-only query; it picks no engine.
    "gateway/indicators": (
        "gateway.store",
        "gateway.delivery",
        "gateway.routes",
        "gateway.sources",
        *RUNNING,
    ),
    # Catalogue sync, intake checks, mapping drafts, reconciliation (issue 16): handed a store
    # and a route by the composition root (cli, app); it picks neither itself.
    "gateway/catalogue": (
        *ENGINES,
        "gateway.sources",
        "gateway.delivery",
        "gateway.routes",
        *RUNNING,
    ),
    # The inbound side is handed the store and the route by the composition root.
    "gateway/inbound": (*ENGINES, "gateway.sources", "gateway.routes", *RUNNING),
    # The simulator checks our wire code independently: it shares only the model with us.
    "gateway/simulator": (
        "gateway.encoders",
        "gateway.routes",
        "gateway.store",
        "gateway.delivery",
        "gateway.sources",
        "gateway.audit",
        "gateway.config",
        *RUNNING,
    ),
}


def all_imports(path: Path) -> Iterator[str]:
    """Every absolute import of a module, and each name its ``from`` imports take."""
    return imports_in(path.read_text(encoding="utf-8"), names=True)


def layer_violations(rel: str, source_imports: list[str]) -> list[str]:
    """The imports of the module at ``rel`` that its stage's rule forbids."""
    found = []
    for folder, forbidden in LAYER_RULES.items():
        if not rel.startswith(folder + "/"):
            continue
        for name in source_imports:
            for prefix in forbidden:
                if name == prefix or name.startswith(prefix + "."):
                    found.append(f"{rel} imports {name} ({folder} may not import {prefix})")
                    break
    return sorted(set(found))


def layered_modules() -> list[Path]:
    return sorted(p for folder in LAYER_RULES for p in ROOT.glob(f"{folder}/**/*.py"))


@pytest.mark.parametrize("path", layered_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_stage_imports_only_what_its_rule_allows(path: Path) -> None:
    rel = str(path.relative_to(ROOT))
    assert layer_violations(rel, list(all_imports(path))) == []


@pytest.mark.parametrize(
    ("rel", "planted"),
    [
        ("gateway/store/sqlite/store.py", "gateway.delivery.worker"),
        ("gateway/store/outcomes.py", "gateway.routes.contract"),
        ("gateway/simulator/portal.py", "gateway.encoders.dvcqg_json"),
        ("gateway/simulator/xroad.py", "gateway.routes.xroad_soap"),
        ("gateway/delivery/worker.py", "gateway.store.sqlite.store"),
        ("gateway/routes/dvcqg_rest.py", "gateway.store.contract"),
        ("gateway/encoders/dvcqg_json.py", "gateway.audit.masking"),
        ("gateway/config/schema.py", "gateway.store.engines"),
        ("gateway/sources/intake.py", "gateway.delivery.retry"),
    ],
)
def test_the_layer_check_catches_a_forbidden_import(rel: str, planted: str) -> None:
    path = ROOT / rel
    planted_source = path.read_text(encoding="utf-8") + f"\nfrom {planted} import planted\n"
    assert layer_violations(rel, list(all_imports(path))) == []
    found = layer_violations(rel, list(imports_in(planted_source)))
    assert any(f"imports {planted}" in v for v in found), found


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def import_graph() -> dict[str, set[str]]:
    paths = [*ROOT.glob("gateway/**/*.py"), *ROOT.glob("adapters/**/*.py")]
    names = {module_name(p) for p in paths}
    return {
        module_name(p): {n for n in all_imports(p) if n in names and n != module_name(p)}
        for p in paths
    }


def test_no_import_circle_between_modules() -> None:
    assert import_cycles(import_graph()) == []


def test_the_circle_check_finds_a_circle() -> None:
    graph = import_graph()
    graph["gateway.config.schema"].add("gateway.config.rules")  # the circle the layout broke
    assert ["gateway.config.rules", "gateway.config.schema"] in import_cycles(graph)


def test_the_top_level_holds_few_modules() -> None:
    """The stages live in packages; the top level keeps the model, the codec, the errors, the
    logs and the entry points."""
    assert len(list((ROOT / "gateway").glob("*.py"))) <= 10


def test_no_catch_all_module_names() -> None:
    names = {p.name for p in ROOT.glob("gateway/**/*.py")} | {
        p.name for p in ROOT.glob("adapters/**/*.py")
    }
    assert not names & {"utils.py", "helpers.py", "common.py", "misc.py"}
