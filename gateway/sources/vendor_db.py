"""Read-only access to a vendor's database: PostgreSQL (asyncpg), MySQL/MariaDB (aiomysql),
SQLite (sqlite3 on a thread). The one boundary where those drivers' exceptions become
:class:`~gateway.errors.SourceError`.

The vendor's query names its parameters ``:after_ts``, ``:after_id`` and ``:limit``; each
driver gets them in its own style (``$1``, ``%(after_ts)s``, ``:after_ts``). A ``::type``
cast in a PostgreSQL query is left alone. Each connection is opened lazily, read-only where
the engine allows it, and dropped after an error so the next round reconnects.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import aiomysql
import asyncpg

from gateway.config.schema import SqlPollConfig
from gateway.errors import ConfigError, Problem, SourceError

PARAMS = ("after_ts", "after_id", "limit")
_PARAM = re.compile(r"(?<![:\w]):(after_ts|after_id|limit)\b")

Row = dict[str, Any]


class VendorDb(Protocol):
    """Runs the vendor's query with the watermark parameters."""

    async def fetch(self, params: Mapping[str, object]) -> list[Row]: ...

    async def close(self) -> None: ...


def open_vendor_db(config: SqlPollConfig, path: str) -> VendorDb:
    """The driver for ``config.engine`` (nothing is connected yet)."""
    if config.engine == "postgresql":
        return PostgresDb(config)
    if config.engine == "mysql":
        return MysqlDb(config, path)
    return SqliteDb(config)


class PostgresDb:
    def __init__(self, config: SqlPollConfig) -> None:
        self._config = config
        order: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match.group(1) not in order:
                order.append(match.group(1))
            return f"${order.index(match.group(1)) + 1}"

        self._sql = _PARAM.sub(number, config.query)
        self._order = order
        self._conn: asyncpg.Connection | None = None

    async def fetch(self, params: Mapping[str, object]) -> list[Row]:
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(
                    self._config.dsn,
                    timeout=self._config.timeout_s,
                    server_settings={"default_transaction_read_only": "on"},
                )
            rows = await self._conn.fetch(
                self._sql, *(params[n] for n in self._order), timeout=self._config.timeout_s
            )
        except (
            OSError,
            TimeoutError,
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            asyncpg.InternalClientError,
        ) as exc:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.terminate()  # it may be stuck in the failed query; a new one comes next
            raise SourceError(f"postgresql: {exc}") from exc
        return [dict(r.items()) for r in rows]

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            await conn.close(timeout=5)


class MysqlDb:
    def __init__(self, config: SqlPollConfig, path: str) -> None:
        self._config = config
        url = urlsplit(config.dsn)
        if url.scheme not in ("mysql", "mariadb") or not url.hostname or not url.path.strip("/"):
            raise ConfigError(
                [Problem(f"{path}.dsn", "expected mysql://user:password@host:port/database")]
            )
        self._connect = {
            "host": url.hostname,
            "port": url.port or 3306,
            "user": unquote(url.username or ""),
            "password": unquote(url.password or ""),
            "db": url.path.strip("/"),
            "charset": "utf8mb4",
            "autocommit": True,
            "connect_timeout": config.timeout_s,
        }
        self._sql = _PARAM.sub(lambda m: f"%({m.group(1)})s", config.query.replace("%", "%%"))
        self._conn: aiomysql.Connection | None = None

    async def fetch(self, params: Mapping[str, object]) -> list[Row]:
        try:
            async with asyncio.timeout(self._config.timeout_s):
                if self._conn is None or self._conn.closed:
                    self._conn = await aiomysql.connect(**self._connect)
                async with self._conn.cursor(aiomysql.DictCursor) as cur:
                    await cur.execute(self._sql, dict(params))
                    rows: list[Row] = list(await cur.fetchall())
        except (OSError, TimeoutError, aiomysql.Error) as exc:
            await self.close()
            raise SourceError(f"mysql: {exc}") from exc
        return rows

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class SqliteDb:
    """SQLite, opened read-only, on its own thread so the event loop never waits on disk."""

    def __init__(self, config: SqlPollConfig) -> None:
        self._config = config
        self._path = Path(config.dsn.removeprefix("sqlite://"))

    async def fetch(self, params: Mapping[str, object]) -> list[Row]:
        plain = {k: _sqlite_value(v) for k, v in params.items()}
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(self._fetch_sync, plain), self._config.timeout_s
            )
        except (sqlite3.Error, TimeoutError) as exc:
            raise SourceError(f"sqlite: {exc}") from exc

    def _fetch_sync(self, params: Mapping[str, object]) -> list[Row]:
        if not self._path.is_file():
            raise sqlite3.OperationalError(f"no database file at {self._path}")
        conn = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, timeout=5)
        try:
            conn.row_factory = sqlite3.Row
            return [dict(row) for row in conn.execute(self._config.query, params)]
        finally:
            conn.close()

    async def close(self) -> None:
        return None


def _sqlite_value(value: object) -> object:
    """SQLite keeps timestamps as text: compare them as text (and avoid the deprecated
    default datetime adapter)."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return value
