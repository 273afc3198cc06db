"""What only the SQLite engine does: one process per file, leases released at start,
migrations of an old file. The contract itself is in ``test_store_contract.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.errors import StoreError
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import Incoming, Outcome, OutcomeKind
from gateway.store.sqlite.store import SqliteStore
from tests.factories import dossier


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = await SqliteStore.open(tmp_path / "gw.db", now=0.0)
    yield s
    await s.close()


def incoming(*records: object) -> list[Incoming]:
    return [Incoming("test", r, f"digest-{i}") for i, r in enumerate(records)]  # type: ignore[arg-type]


async def accept(store: SqliteStore, *records: object) -> list[str]:
    receipts = await store.accept(incoming(*records), now=1.0, validate=validate_for_portal)
    return [r.status for r in receipts]


def delivered(c_id: int, token: int, at: float = 2.0) -> Outcome:
    return Outcome(c_id, token, OutcomeKind.DELIVERED, at=at, route="test")


async def test_leases_of_a_dead_process_are_released_at_start(tmp_path: Path) -> None:
    path = tmp_path / "gw.db"
    first = await SqliteStore.open(path, now=0.0)
    await first.accept(incoming(dossier()), now=1.0, validate=validate_for_portal)
    assert len(await first.claim("w", 10, now=2.0, lease_s=600)) == 1
    await first.close()  # as if killed: the lease is still in the file
    second = await SqliteStore.open(path, now=3.0)
    try:
        assert (await second.counts())["queued"] == 1
        assert len(await second.claim("w", 10, now=4.0, lease_s=600)) == 1
    finally:
        await second.close()


async def test_two_processes_cannot_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / "gw.db"
    first = await SqliteStore.open(path, now=0.0)
    try:
        with pytest.raises(StoreError, match="in use"):
            await SqliteStore.open(path, now=0.0)
    finally:
        await first.close()


async def test_a_version_1_file_is_migrated_when_opened(tmp_path: Path) -> None:
    import sqlite3

    from gateway.store.sqlite.schema import SCHEMA, SCHEMA_VERSION

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    conn.close()
    store = await SqliteStore.open(path, now=0.0)
    try:
        [(version,)] = await store.query("SELECT value FROM meta WHERE key = 'schema_version'")
        assert version == SCHEMA_VERSION
        await store.accept(incoming(dossier()), now=1.0, validate=validate_for_portal)
        assert (await store.counts())["queued"] == 1
    finally:
        await store.close()
