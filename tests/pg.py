"""Throw-away PostgreSQL databases for tests (``dvcgw_i4_<random>``), dropped afterwards.

The server is the one in CONTRIBUTING (127.0.0.1:5432, trust auth). Outside CI a missing
server skips the test and says why; with ``CI=true`` it fails instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

ADMIN_DSN = os.environ.get("DVCGW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
PREFIX = "dvcgw_i4_"


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
        try:
            yield dsn_for(name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
