"""The gateway's side of a sink: the I/O a sink's :data:`~gateway.inbound.model.SinkDelivery`
asks for, each failure classified at this boundary into
:class:`~gateway.errors.RetryableDeliveryError` or :class:`~gateway.errors.PermanentDeliveryError`
(as a route does for the portal).

Every write is idempotent by the dossier's ``MaHoSo``, because a delivery that reached the
vendor just before the gateway died is delivered again after the restart: HTTP carries
``Idempotency-Key``, SQL rows skip a key already there, a file of the same name is replaced by
the same bytes. At least once on the wire, exactly once in the vendor's system.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import aiohttp
import aiomysql
import asyncpg

from gateway.errors import PermanentDeliveryError, RetryableDeliveryError
from gateway.inbound.model import (
    FILE_NAME,
    SQL_NAME,
    FileDelivery,
    HttpDelivery,
    SqlDelivery,
)
from gateway.model import PORTAL_TZ


class Transport(Protocol):
    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Delivered:
    """What the audit entry of a delivery records about the vendor's side."""

    detail: dict[str, Any]


class HttpTransport:
    """POST to the vendor's URL: TLS verified, no redirect followed, a bearer token if set."""

    def __init__(self, url: str, *, token: str = "", timeout_s: float = 30.0) -> None:
        self._url = url
        self._token = token
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout_s),
            connector=aiohttp.TCPConnector(ssl=ssl.create_default_context()),
        )

    async def send(self, delivery: HttpDelivery, dossier_code: str) -> Delivered:
        headers = {**delivery.headers, "Content-Type": delivery.content_type,
                   "Idempotency-Key": dossier_code}  # fmt: skip
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            async with self._http.post(
                self._url, data=delivery.body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RetryableDeliveryError(f"sink http: {type(exc).__name__}: {exc}") from exc
        if 200 <= status < 300 or status == 409:  # 409: the vendor holds it already
            return Delivered({"http_status": status})
        message = f"sink http: the vendor answered HTTP {status}"
        if status in (408, 429) or status >= 500:
            raise RetryableDeliveryError(message, http_status=status)
        raise PermanentDeliveryError(message, http_status=status)

    async def close(self) -> None:
        await self._http.close()


class SqlTransport:
    """Inserts a delivery's rows in one transaction, PostgreSQL (asyncpg) or MariaDB/MySQL
    (aiomysql), skipping rows whose key is there already. Table and column names come from the
    sink and are checked as plain identifiers; values always go as parameters."""

    def __init__(self, engine: str, dsn: str, *, timeout_s: float = 30.0) -> None:
        self._engine = engine
        self._dsn = dsn
        self._timeout_s = timeout_s

    async def send(self, delivery: SqlDelivery, dossier_code: str) -> Delivered:
        for row in delivery.rows:
            for name in (row.table, *row.values, *row.key):
                if not SQL_NAME.fullmatch(name):
                    raise PermanentDeliveryError(f"sink sql: {name[:40]!r} is not a plain name")
        if self._engine == "postgresql":
            inserted = await self._postgres(delivery)
        else:
            inserted = await self._mysql(delivery)
        return Delivered({"rows": len(delivery.rows), "inserted": inserted})

    async def _postgres(self, delivery: SqlDelivery) -> int:
        try:
            conn = await asyncpg.connect(self._dsn, timeout=self._timeout_s)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            raise RetryableDeliveryError(f"sink sql: {exc}") from exc
        inserted = 0
        try:
            async with conn.transaction():
                for row in delivery.rows:
                    columns = ", ".join(f'"{c}"' for c in row.values)
                    marks = ", ".join(f"${i + 1}" for i in range(len(row.values)))
                    keys = ", ".join(f'"{k}"' for k in row.key)
                    status = await conn.execute(
                        f'INSERT INTO "{row.table}" ({columns}) VALUES ({marks}) '  # noqa: S608
                        f"ON CONFLICT ({keys}) DO NOTHING",
                        *row.values.values(),
                        timeout=self._timeout_s,
                    )
                    inserted += int(status.rsplit(" ", 1)[-1])
        except asyncpg.PostgresError as exc:
            state = getattr(exc, "sqlstate", "") or ""
            if state[:2] in ("22", "23", "42"):  # data, integrity, schema: not worth retrying
                raise PermanentDeliveryError(f"sink sql: {exc}", code=state) from exc
            raise RetryableDeliveryError(f"sink sql: {exc}", code=state) from exc
        except (OSError, TimeoutError, asyncpg.InterfaceError) as exc:
            raise RetryableDeliveryError(f"sink sql: {exc}") from exc
        finally:
            await _close_pg(conn)
        return inserted

    async def _mysql(self, delivery: SqlDelivery) -> int:
        try:
            async with asyncio.timeout(self._timeout_s):
                conn = await aiomysql.connect(**_mysql_params(self._dsn, self._timeout_s))
        except (OSError, TimeoutError, aiomysql.Error) as exc:
            raise RetryableDeliveryError(f"sink sql: {exc}") from exc
        inserted = 0
        try:
            async with asyncio.timeout(self._timeout_s):
                await conn.begin()
                async with conn.cursor() as cur:
                    for row in delivery.rows:
                        columns = ", ".join(f"`{c}`" for c in row.values)
                        # bytes go as hex: the installed aiomysql cannot escape bytes
                        marks = ", ".join(
                            "UNHEX(%s)" if isinstance(v, bytes) else "%s"
                            for v in row.values.values()
                        )
                        again = f"`{row.key[0]}` = `{row.key[0]}`"
                        inserted += await cur.execute(
                            f"INSERT INTO `{row.table}` ({columns}) VALUES ({marks}) "  # noqa: S608
                            f"ON DUPLICATE KEY UPDATE {again}",
                            [_mysql_value(v) for v in row.values.values()],
                        )
                await conn.commit()
        except (aiomysql.IntegrityError, aiomysql.DataError, aiomysql.ProgrammingError) as exc:
            raise PermanentDeliveryError(f"sink sql: {exc}") from exc
        except (OSError, TimeoutError, aiomysql.Error) as exc:
            raise RetryableDeliveryError(f"sink sql: {exc}") from exc
        finally:
            conn.close()
        return inserted

    async def close(self) -> None:
        return None


async def _close_pg(conn: Any) -> None:
    try:
        await conn.close(timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        conn.terminate()


def _mysql_params(dsn: str, timeout_s: float) -> dict[str, Any]:
    url = urlsplit(dsn)
    return {
        "host": url.hostname or "127.0.0.1",
        "port": url.port or 3306,
        "user": unquote(url.username or ""),
        "password": unquote(url.password or ""),
        "db": url.path.strip("/"),
        "charset": "utf8mb4",
        "autocommit": False,
        "connect_timeout": timeout_s,
    }


def _mysql_value(value: object) -> object:
    """MariaDB's DATETIME has no zone: the portal's local time, as the vendor's clerks read it."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(PORTAL_TZ).replace(tzinfo=None)
    if isinstance(value, bytes):
        return value.hex()
    return value


class OutboxTransport:
    """Writes the file beside its final name, syncs it, renames it into place, syncs the folder:
    the vendor's system sees the whole file or none, and a crash leaves no half file."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    async def send(self, delivery: FileDelivery, dossier_code: str) -> Delivered:
        if not FILE_NAME.fullmatch(delivery.name):
            raise PermanentDeliveryError(f"sink outbox: {delivery.name[:40]!r} is not a plain name")
        try:
            await asyncio.to_thread(self._write, delivery)
        except OSError as exc:
            raise RetryableDeliveryError(f"sink outbox: {exc}") from exc
        return Delivered({"file": delivery.name, "size": len(delivery.content)})

    def _write(self, delivery: FileDelivery) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        final = self._folder / delivery.name
        partial = self._folder / f".{delivery.name}.{os.getpid()}.part"
        with partial.open("wb") as out:
            out.write(delivery.content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, final)
        folder = os.open(self._folder, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    async def close(self) -> None:
        return None
