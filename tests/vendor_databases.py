"""Real vendor databases for the SQL-polling tests: an ``opencps_dossier`` table (a subset of
OpenCPS's columns) in a fresh PostgreSQL or MariaDB database, or a SQLite file.

Databases are named ``dvcgw_i6_<random>`` and dropped afterwards. Without the service the
test is skipped with the reason, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiomysql
import asyncpg
import pytest

from gateway.config.schema import SqlPollConfig

PG_ADMIN = os.environ.get("DVCGW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
T0 = datetime(2026, 11, 27, 8, 0)

COLUMNS = (
    "dossierId",
    "dossierNo",
    "serviceCode",
    "serviceName",
    "domainCode",
    "domainName",
    "govAgencyCode",
    "govAgencyName",
    "dossierName",
    "contactName",
    "dossierStatus",
    "receiveDate",
    "dueDate",
    "modifiedDate",
)

QUERIES = {
    "postgresql": (
        'SELECT * FROM opencps_dossier WHERE ("modifiedDate", "dossierId") > (:after_ts, '
        ':after_id) ORDER BY "modifiedDate", "dossierId" LIMIT :limit'
    ),
    "mysql": (
        "SELECT * FROM opencps_dossier WHERE (`modifiedDate`, `dossierId`) > (:after_ts, "
        ":after_id) ORDER BY `modifiedDate`, `dossierId` LIMIT :limit"
    ),
    "sqlite": (
        'SELECT * FROM opencps_dossier WHERE ("modifiedDate", "dossierId") > (:after_ts, '
        ':after_id) ORDER BY "modifiedDate", "dossierId" LIMIT :limit'
    ),
}

_TYPES = {
    "postgresql": ("BIGINT PRIMARY KEY", "TEXT", "TIMESTAMP"),
    "mysql": ("BIGINT PRIMARY KEY", "VARCHAR(500)", "DATETIME"),
    "sqlite": ("INTEGER PRIMARY KEY", "TEXT", "TEXT"),
}


def row(dossier_id: int, modified: datetime, status: str = "processing") -> tuple[Any, ...]:
    """One OpenCPS dossier row, Vietnamese text included."""
    return (
        dossier_id,
        f"000.00.00.H56-261127-{dossier_id:05d}",
        "1.001193",
        "Thủ tục đăng ký khai sinh",
        "G15-TP07",
        "Hộ tịch",
        "000.00.00.H56",
        "UBND tỉnh Thanh Hóa",
        f"Đăng ký khai sinh cho cháu Nguyễn Minh Khôi số {dossier_id}",
        "Nguyễn Thị Ánh Tuyết",
        status,
        T0,
        T0 + timedelta(days=1),
        modified,
    )


@dataclass
class VendorDatabase:
    """A vendor database holding ``opencps_dossier``; ``upsert`` writes rows into it."""

    engine: str
    dsn: str

    def config(self, **changes: Any) -> SqlPollConfig:
        base: dict[str, Any] = {
            "adapter": "opencps",
            "engine": self.engine,
            "dsn": self.dsn,
            "query": QUERIES[self.engine],
            "timestamp_column": "modifiedDate",
            "id_column": "dossierId",
            "batch_size": 4,
            "interval_s": 0.05,
            "timeout_s": 10.0,
        }
        base.update(changes)
        return SqlPollConfig(**base)

    async def upsert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        if self.engine == "postgresql":
            conn = await asyncpg.connect(self.dsn)
            try:
                cols = ", ".join(f'"{c}"' for c in COLUMNS)
                marks = ", ".join(f"${i + 1}" for i in range(len(COLUMNS)))
                sets = ", ".join(f'"{c}" = excluded."{c}"' for c in COLUMNS[1:])
                await conn.executemany(
                    f"INSERT INTO opencps_dossier ({cols}) VALUES ({marks}) "
                    f'ON CONFLICT ("dossierId") DO UPDATE SET {sets}',
                    rows,
                )
            finally:
                await conn.close()
        elif self.engine == "mysql":
            conn = await aiomysql.connect(**MYSQL, db=self.dsn.rsplit("/", 1)[1], autocommit=True)
            try:
                cols = ", ".join(f"`{c}`" for c in COLUMNS)
                marks = ", ".join(["%s"] * len(COLUMNS))
                async with conn.cursor() as cur:
                    await cur.executemany(
                        f"REPLACE INTO opencps_dossier ({cols}) VALUES ({marks})",
                        rows,
                    )
            finally:
                conn.close()
        else:
            with sqlite3.connect(self.dsn) as conn:
                cols = ", ".join(f'"{c}"' for c in COLUMNS)
                marks = ", ".join(["?"] * len(COLUMNS))
                conn.executemany(
                    f"INSERT OR REPLACE INTO opencps_dossier ({cols}) VALUES ({marks})",
                    [tuple(_sqlite(v) for v in r) for r in rows],
                )
            conn.close()


def _sqlite(value: Any) -> Any:
    return value.isoformat(sep=" ") if isinstance(value, datetime) else value


def _ddl(engine: str) -> str:
    key, text, stamp = _TYPES[engine]
    quote = "`" if engine == "mysql" else '"'
    types = {"dossierId": key, "receiveDate": stamp, "dueDate": stamp, "modifiedDate": stamp}
    cols = ", ".join(f"{quote}{c}{quote} {types.get(c, text)}" for c in COLUMNS)
    return f"CREATE TABLE opencps_dossier ({cols})"


def _unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} is not reachable ({exc!r}); the SQL-polling test needs it"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


async def vendor_database(engine: str, tmp_path: Path) -> AsyncIterator[VendorDatabase]:
    """Create the database and its table, yield it, drop it."""
    name = f"dvcgw_i6_{uuid.uuid4().hex[:12]}"
    if engine == "sqlite":
        path = tmp_path / "vendor.sqlite"
        with sqlite3.connect(path) as conn:
            conn.execute(_ddl("sqlite"))
        conn.close()
        yield VendorDatabase("sqlite", str(path))
        return
    if engine == "postgresql":
        try:
            admin = await asyncpg.connect(PG_ADMIN, timeout=5)
        except (OSError, asyncpg.PostgresError) as exc:
            _unavailable("PostgreSQL", exc)
        await admin.execute(f"CREATE DATABASE {name}")
        dsn = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
        try:
            conn = await asyncpg.connect(dsn)
            await conn.execute(_ddl("postgresql"))
            await conn.close()
            yield VendorDatabase("postgresql", dsn)
        finally:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            await admin.close()
        return
    try:
        admin_my = await aiomysql.connect(**MYSQL, autocommit=True, connect_timeout=5)
    except (OSError, aiomysql.Error) as exc:
        _unavailable("MariaDB", exc)
    async with admin_my.cursor() as cur:
        await cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        await cur.execute(f"USE {name}")
        await cur.execute(_ddl("mysql"))
    try:
        yield VendorDatabase("mysql", f"mysql://root@127.0.0.1:3306/{name}")
    finally:
        async with admin_my.cursor() as cur:
            await cur.execute(f"DROP DATABASE IF EXISTS {name}")
        admin_my.close()
