"""Shared pieces of the audit tests: a signed log with known shape, the standalone verifier."""

from __future__ import annotations

import asyncio
import importlib.util
import io
import shutil
from contextlib import redirect_stdout
from pathlib import Path
from types import ModuleType

from gateway.audit.chain import AuditPolicy
from gateway.audit.keys import Signer
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import Incoming
from gateway.store.postgres.store import PostgresStore
from gateway.store.sqlite.store import SqliteStore
from tests.factories import dossier

ROOT = Path(__file__).parents[1]
EVERY = 10
SIGNER, PRIVATE = Signer.generate()


def policy() -> AuditPolicy:
    return AuditPolicy(checkpoint_every_entries=EVERY, checkpoint_every_s=1e9, signer=SIGNER)


async def fill(
    store: SqliteStore | PostgresStore, dossiers: int, *, start: float = 1000.0, tag: str = ""
) -> None:
    """Accept ``dossiers`` dossiers one per transaction, one second apart, then close."""
    try:
        for i in range(dossiers):
            code = f"000.00.00.H56-261102-{i:05d}"
            item = Incoming("canonical", dossier(code), f"{tag}raw-{i}")
            await store.accept([item], now=start + i, validate=validate_for_portal)
    finally:
        await store.close()


def make_log(folder: Path, dossiers: int = 40, tag: str = "") -> Path:
    """A closed SQLite store whose audit log has about 3 entries per dossier."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "gw.db"

    async def write() -> None:
        await fill(await SqliteStore.open(path, now=1000.0, audit=policy()), dossiers, tag=tag)

    asyncio.run(write())
    return path


def make_pg_log(dsn: str, dossiers: int = 40) -> None:
    """The same log, written by the PostgreSQL engine into the (empty) database at ``dsn``."""

    async def write() -> None:
        await fill(await PostgresStore.open(dsn, now=1000.0, audit=policy()), dossiers)

    asyncio.run(write())


def copy_log(source: Path, folder: Path) -> Path:
    target = folder / source.name
    shutil.copyfile(source, target)
    return target


def standalone() -> ModuleType:
    """``tools/verify_audit.py`` loaded from its file (it is not part of the package)."""
    spec = importlib.util.spec_from_file_location("verify_audit", ROOT / "tools/verify_audit.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_standalone(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = standalone().main(list(args))
    return int(code), out.getvalue()
