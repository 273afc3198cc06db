"""Throw-away PostgreSQL databases for tests (``dvcgw_i4_<random>``), dropped afterwards.

The server is the one in CONTRIBUTING (127.0.0.1:5432, trust auth). Outside CI a missing
server skips the test and says why; with ``CI=true`` it fails instead.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg
import pytest

ADMIN_DSN = os.environ.get("DVCGW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
PREFIX = "dvcgw_i4_"
FAST_COMMITS = 'ALTER DATABASE "{name}" SET synchronous_commit = off'
"""Test databases do not wait for the WAL flush at commit: these tests kill gateway
processes, never the PostgreSQL server, so what they check does not depend on it, and a busy
disk would otherwise dominate their run time. Production keeps the default (``on``)."""


def dsn_for(name: str) -> str:
    base, _, _ = ADMIN_DSN.rpartition("/")
    return f"{base}/{name}"


async def _admin() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(ADMIN_DSN, timeout=30)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"PostgreSQL is not reachable at {ADMIN_DSN}: {exc}")


@asynccontextmanager
async def pg_database() -> AsyncIterator[str]:
    """Create an empty database, yield its DSN, drop it (with any open connections)."""
    name = PREFIX + uuid.uuid4().hex[:12]
    admin = await _admin()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.execute(FAST_COMMITS.format(name=name))
        try:
            yield dsn_for(name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


class SharedDatabase:
    """One database for a whole test module (CREATE DATABASE is slow on a busy disk); each
    test empties it with :func:`reset`. Created and dropped on loops of their own."""

    def __init__(self) -> None:
        self.name = PREFIX + uuid.uuid4().hex[:12]
        self.dsn = dsn_for(self.name)
        asyncio.run(self._admin(f'CREATE DATABASE "{self.name}"'))
        asyncio.run(self._admin(FAST_COMMITS.format(name=self.name)))

    @staticmethod
    async def _admin(sql: str) -> None:
        admin = await _admin()
        try:
            await admin.execute(sql)
        finally:
            await admin.close()

    def drop(self) -> None:
        asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


async def reset(conn_query: Callable[[str], Awaitable[object]]) -> None:
    """Empty the gateway's tables and restart the audit chain."""
    tables = ("attempts", "audit", "audit_checkpoints", "audit_archives", "source_cursors")
    for table in (*tables, "dossiers", "records"):
        await conn_query(f"DELETE FROM {table}")
    await conn_query(
        "UPDATE audit_head SET seq = 0, hash = repeat('0', 64), checkpoint_seq = 0, "
        "checkpoint_at = NULL"
    )
