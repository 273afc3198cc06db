"""Real targets for the reference sinks: a fresh PostgreSQL or MariaDB database with the
``SqlRowsSink`` tables (``dvcgw_i18_<random>``, dropped afterwards). Without the service the
test is skipped with the reason, except under ``CI=true``, where it fails."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiomysql
import asyncpg
import pytest

from adapters.sinks import SQL_TABLES
from tests.pg import ADMIN_DSN, dsn_for

MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}


def _unavailable(what: str, exc: BaseException) -> None:
    if os.environ.get("CI") == "true":
        raise exc
    pytest.skip(f"{what} is not reachable: {exc}")


@asynccontextmanager
async def sink_database(engine: str) -> AsyncIterator[str]:
    """Yield the DSN of a new database holding the sink's tables."""
    name = "dvcgw_i18_" + uuid.uuid4().hex[:12]
    if engine == "postgresql":
        try:
            admin = await asyncpg.connect(ADMIN_DSN, timeout=10)
        except (OSError, asyncpg.PostgresError) as exc:
            _unavailable("PostgreSQL", exc)
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            conn = await asyncpg.connect(dsn_for(name))
            await conn.execute(SQL_TABLES["postgresql"])
            await conn.close()
            yield dsn_for(name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
        return
    try:
        admin_my = await aiomysql.connect(**MYSQL, autocommit=True, connect_timeout=5)
    except (OSError, aiomysql.Error) as exc:
        _unavailable("MariaDB", exc)
    async with admin_my.cursor() as cur:
        await cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        await cur.execute(f"USE {name}")
        for statement in SQL_TABLES["mysql"].split(";"):
            if statement.strip():
                await cur.execute(statement)
    try:
        yield f"mysql://root@127.0.0.1:3306/{name}"
    finally:
        async with admin_my.cursor() as cur:
            await cur.execute(f"DROP DATABASE IF EXISTS {name}")
        admin_my.close()


async def fetch(engine: str, dsn: str, sql: str) -> list[tuple[Any, ...]]:
    """Read the vendor's tables back, as the vendor's system would."""
    if engine == "postgresql":
        conn = await asyncpg.connect(dsn)
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()
    conn_my = await aiomysql.connect(**MYSQL, db=dsn.rsplit("/", 1)[1], autocommit=True)
    try:
        async with conn_my.cursor() as cur:
            await cur.execute(sql)
            return [tuple(r) for r in await cur.fetchall()]
    finally:
        conn_my.close()
