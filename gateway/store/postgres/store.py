"""The PostgreSQL engine of the store contract: several gateway processes share one database.

Same contract and same audit chain as the SQLite engine; what differs is how processes that
run at the same time stay out of each other's way:

- **Claims** pick the next record of each dossier, then lock those dossiers' rows with
  ``FOR UPDATE SKIP LOCKED`` where ``in_flight IS NULL`` (re-checked on the latest row
  version) and mark them ``in_flight``, so at most one record of a dossier is leased across
  all processes and no claim ever waits for another. A picked record is leased only if it
  is still queued and due (the ``UPDATE ... WHERE state = 'queued'`` re-reads the latest
  committed row).
- **Leases** carry a fencing token from a sequence; a completion whose token is no longer
  the record's is ignored. Heartbeats extend leases; a killed process's leases expire after
  ``lease_s`` and the next sweep of any live process returns them to the queue.
- **No deadlocks by construction**: every transaction that waits for locks takes dossier
  rows in ``dossier_code`` order first; the audit head row is always locked last.
- **The audit chain** is written at the end of each transaction under ``SELECT ... FOR
  UPDATE`` of the one-row ``audit_head`` table, with the same canonical encoding as SQLite
  (:mod:`gateway.audit.chain`), so the chain never forks.
- **Wake-ups**: accepting or replaying records sends ``NOTIFY dvc_gateway_queued``;
  :meth:`PostgresStore.listen` turns it into a call (the worker's ``wake``), and listens
  again when the database drops that connection (:mod:`gateway.store.postgres.listener`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import asyncpg
import structlog
from asyncpg.exceptions import DeadlockDetectedError, SerializationError
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from gateway.audit.chain import AuditEntry, AuditPolicy, entry_from_row
from gateway.audit.keys import Checkpoint
from gateway.errors import StoreConflictError, StoreError
from gateway.store.contract import (
    BlockedDossier,
    Claimed,
    DeadFilter,
    DeadLetter,
    Incoming,
    Outcome,
    Receipt,
    Rejected,
    SourceCursor,
    State,
    Validate,
)
from gateway.store.outcomes import BLOCKED_SQL, NEXT_DUE_SQL
from gateway.store.postgres import delivery as pg_delivery
from gateway.store.postgres import schema as pg_schema
from gateway.store.postgres.listener import Listener
from gateway.store.postgres.rows import CHANNEL, DEAD_COLUMNS, PgTx, dead_where

T = TypeVar("T")
log = structlog.get_logger("gateway.store")


class PostgresStore:
    """:class:`~gateway.store.contract.Store` on PostgreSQL (asyncpg)."""

    def __init__(self, pool: Any, audit: AuditPolicy | None = None) -> None:
        self._pool = pool
        self._audit = audit or AuditPolicy()
        self._listener: Listener | None = None

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        now: float,
        max_connections: int = 8,
        audit: AuditPolicy | None = None,
    ) -> PostgresStore:
        """Connect, apply missing migrations. Leases of dead processes expire on their own
        (``release_expired``): live processes may share the database, so none is released
        at start."""
        del now  # the contract's signature; nothing here depends on the time
        try:
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=max_connections)
            async with pool.acquire() as conn:
                await pg_schema.migrate(conn)
                if await conn.fetchval("SHOW autovacuum") == "off":
                    log.warning("store_autovacuum_off", advice=AUTOVACUUM_ADVICE)
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreError(f"postgresql: {exc}") from exc
        return cls(pool, audit)

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        await self._pool.close()

    async def listen(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever any process queues records (LISTEN/NOTIFY), and once
        more when listening again after the database dropped the connection."""
        listener = Listener(self._pool, CHANNEL, callback, DRIVER_ERRORS)
        with _translated():
            await listener.start()
        self._listener = listener

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[PgTx]:
        with _translated():
            async with (
                self._pool.acquire() as conn,
                _discarded_if_broken(conn),
                conn.transaction(),
            ):
                tx = PgTx(conn, self._audit)
                yield tx
                await tx.flush_audit()
        if tx.writer is not None:
            tx.writer.committed()  # the signed heads go to the log as outside witnesses

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[Any]:
        """A pooled connection for reads and one-statement writes, errors translated."""
        with _translated():
            async with self._pool.acquire() as conn, _discarded_if_broken(conn):
                yield conn

    async def _write(self, work: Callable[[PgTx], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction; run it again (a few times, after a short random
        pause) when PostgreSQL aborted it for crossing another one (a deadlock or a
        serialization failure): nothing of the aborted run was committed."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(StoreConflictError),
            stop=stop_after_attempt(CONFLICT_ATTEMPTS),
            wait=wait_random_exponential(multiplier=0.01, max=0.5),
            reraise=True,
        ):
            with attempt:
                async with self._tx() as tx:
                    return await work(tx)
        raise AssertionError("unreachable: the last attempt returns or raises")

    # -- intake -----------------------------------------------------------------------------

    async def accept(
        self,
        items: Sequence[Incoming | Rejected],
        *,
        now: float,
        validate: Validate,
        cursor: SourceCursor | None = None,
    ) -> list[Receipt]:

        async def work(tx: PgTx) -> list[Receipt]:
            receipts = await tx.accept(items, validate, now)
            if cursor is not None:
                await tx.conn.execute(
                    "INSERT INTO source_cursors (source, value, updated_at) VALUES ($1, $2, $3)"
                    " ON CONFLICT (source) DO UPDATE SET value = excluded.value,"
                    " updated_at = excluded.updated_at",
                    cursor.source,
                    cursor.value,
                    now,
                )
            return receipts

        return await self._write(work)

    async def get_cursor(self, source: str) -> str | None:
        async with self._conn() as conn:
            value = await conn.fetchval(
                "SELECT value FROM source_cursors WHERE source = $1", source
            )
        return None if value is None else str(value)

    # -- delivery ---------------------------------------------------------------------------

    async def claim(self, owner: str, limit: int, now: float, lease_s: float) -> list[Claimed]:
        return await self._write(lambda tx: pg_delivery.claim(tx, owner, limit, now, lease_s))

    async def complete(self, outcomes: Sequence[Outcome]) -> int:
        if not outcomes:
            return 0
        return await self._write(lambda tx: pg_delivery.complete(tx, outcomes))

    async def heartbeat(self, owner: str, tokens: Sequence[int], now: float, lease_s: float) -> int:
        """One statement; rows being completed right now are skipped, not waited for (they
        need no longer lease, and waiting for them could deadlock with their completion)."""
        async with self._conn() as conn:
            status = await conn.execute(
                "UPDATE records SET lease_until = $1 WHERE id IN (SELECT id FROM records "
                "WHERE state = 'leased' AND lease_owner = $2 AND lease_token = ANY($3::bigint[]) "
                "ORDER BY id FOR UPDATE SKIP LOCKED)",
                now + lease_s,
                owner,
                list(tokens),
            )
        return int(status.split()[-1])

    async def release_expired(self, now: float, *, max_rescues: int = 5) -> int:
        return await self._write(lambda tx: pg_delivery.release_expired(tx, now, max_rescues))

    async def release(self, owner: str, now: float) -> int:
        return await self._write(lambda tx: pg_delivery.release_owned(tx, owner, now))

    async def maintain(self) -> list[str]:
        """ANALYZE the queue tables whose statistics went stale, when autovacuum has not (it
        may be off, or behind after a burst): a plan of the claim made without statistics
        reads every queued record (``bench/pg_claim.py``: 224 ms a claim with a
        50,000-record backlog, 6.7 ms with them). One process does it at a time; the others
        skip. Only the tables' owner may analyze them (the role that ran the migrations):
        a gateway connected as another role leaves it to autovacuum."""
        async with self._conn() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", STATS_LOCK):
                return []
            stale = await conn.fetch(
                "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
                "WHERE s.relid = ANY(ARRAY['records'::regclass, 'dossiers'::regclass]) "
                "AND s.n_mod_since_analyze > $1 + $2 * s.n_live_tup "
                "AND pg_has_role(c.relowner, 'USAGE') ORDER BY s.relname",
                ANALYZE_AFTER_ROWS,
                ANALYZE_AFTER_SHARE,
            )
            tables = [str(row[0]) for row in stale]
            for table in tables:
                await conn.execute(f"ANALYZE {table}")
        if tables:
            log.info("store_statistics_refreshed", tables=tables)
        return tables

    # -- dead letters -----------------------------------------------------------------------

    async def dead_letters(self, where: DeadFilter, *, limit: int = 1000) -> list[DeadLetter]:
        sql, params = dead_where(where)
        query = f"{DEAD_COLUMNS} WHERE {sql} ORDER BY r.updated_at, r.id LIMIT ${len(params) + 1}"
        async with self._conn() as conn:
            rows = await conn.fetch(query, *params, limit)
        return [DeadLetter(*row) for row in rows]

    async def replay(self, where: DeadFilter, *, by: str, now: float) -> list[int]:
        return await self._write(lambda tx: tx.replay(where, by, now))

    async def note(self, event: str, detail: dict[str, Any], now: float) -> None:
        async def work(tx: PgTx) -> None:
            tx.audit(now, event, None, "", detail)

        await self._write(work)

    async def audit_system(self, event: str, detail: dict[str, Any], *, now: float) -> None:
        """Audit a change that belongs to no record (configuration loaded, breaker opened)."""
        await self.note(event, detail, now)

    async def seal_audit(self, now: float) -> bool:
        """Sign the audit head if its newest entries are not covered by a checkpoint yet
        (any process may; the head row's lock makes one of them do it)."""

        async def work(tx: PgTx) -> PgTx:
            tx.seal(now)
            return tx

        return (await self._write(work)).sealed

    async def audit_checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint of the online log, in order."""
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT seq, at, hash, key_id, signature FROM audit_checkpoints ORDER BY seq"
            )
        return [Checkpoint(*row) for row in rows]

    # -- reading ----------------------------------------------------------------------------

    async def next_due(self) -> float | None:
        async with self._conn() as conn:
            value = await conn.fetchval(NEXT_DUE_SQL)
        return None if value is None else float(value)

    async def blocked(self, *, limit: int = 1000) -> list[BlockedDossier]:
        async with self._conn() as conn:
            rows = await conn.fetch(f"{BLOCKED_SQL} LIMIT $1", limit)
        return [BlockedDossier(*row) for row in rows]

    async def counts(self) -> dict[str, int]:
        async with self._conn() as conn:
            rows = await conn.fetch("SELECT state, COUNT(*) FROM records GROUP BY state")
        found = {str(s): 0 for s in State}
        found.update({str(r[0]): int(r[1]) for r in rows})
        return found

    async def audit_entries(self) -> list[AuditEntry]:
        """Every audit entry in order (for verification and tests)."""
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT seq, at, event, record_id, dossier_code, detail, prev_hash, hash "
                "FROM audit ORDER BY seq"
            )
        return [entry_from_row(row) for row in rows]

    async def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """A read-only query (``$1`` placeholders), for operator commands and tests."""
        async with self._conn() as conn:
            return [tuple(row) for row in await conn.fetch(sql, *params)]


STATS_LOCK = 0x64767373  # "dvss": the advisory lock key of the statistics upkeep
ANALYZE_AFTER_ROWS = 500
ANALYZE_AFTER_SHARE = 0.1
"""A table is analyzed once more than ``ANALYZE_AFTER_ROWS`` plus this share of its rows
changed since its last ANALYZE (autovacuum's own rule is 50 rows plus 10 %, so while it
keeps up the gateway never has to)."""

AUTOVACUUM_ADVICE = (
    "nothing clears the dead rows every lease and completion leaves in records and dossiers: "
    "turn autovacuum on, or schedule VACUUM ANALYZE of the gateway's tables"
)

DRIVER_ERRORS = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)
"""What asyncpg raises for a failed query or a lost connection; the store raises
``StoreError`` in their place."""

CONFLICT_ATTEMPTS = 5
"""How often a transaction aborted by a deadlock or serialization failure is run."""


@contextmanager
def _translated() -> Iterator[None]:
    """asyncpg's errors become the gateway's (``StoreConflictError`` for a transaction that
    crossed another one and may simply run again)."""
    try:
        yield
    except (DeadlockDetectedError, SerializationError) as exc:
        raise StoreConflictError(f"postgresql: {exc}") from exc
    except DRIVER_ERRORS as exc:
        raise StoreError(f"postgresql: {exc}") from exc


@asynccontextmanager
async def _discarded_if_broken(conn: Any) -> AsyncIterator[None]:
    """A connection the server ended in the middle of a query can come back from asyncpg with
    its protocol stuck in that query ("cannot switch to state 15; another operation (2) is in
    progress", MagicStack/asyncpg#784): close it, or the pool would hand it out again."""
    try:
        yield
    except asyncpg.InternalClientError:
        conn.terminate()
        raise
