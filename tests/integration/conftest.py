"""Fixtures the integration tests share: a store on each engine.

``store`` runs a test twice, on a fresh SQLite file and on a PostgreSQL database emptied for it
(one database per test module, see :class:`tests.pg.SharedDatabase`). A module that needs
another store defines its own ``store`` fixture, which takes precedence."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway.store.postgres.store import PostgresStore
from gateway.store.sqlite.store import SqliteStore
from tests.pg import SharedDatabase, reset

AnyStore = SqliteStore | PostgresStore


@pytest.fixture(scope="module")
def shared_pg() -> Iterator[SharedDatabase]:
    database = SharedDatabase()
    yield database
    database.drop()


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, shared_pg: SharedDatabase
) -> AsyncIterator[AnyStore]:
    if request.param == "sqlite":
        s: AnyStore = await SqliteStore.open(tmp_path / "gw.db", now=0.0)
    else:
        s = await PostgresStore.open(shared_pg.dsn, now=0.0, max_connections=2)
        await reset(s.query)
    yield s
    await s.close()
