"""The embedded SQLite engine of the store contract (the default).

WAL journal, ``synchronous=FULL`` (a commit survives power loss), ``BEGIN IMMEDIATE`` for
every write. All database work runs on one dedicated thread with one connection, so the
event loop never blocks on disk and SQLite sees a single writer. One gateway process owns a
database file at a time (an exclusive ``flock`` on ``<db>.lock``); so at start every lease
left by a killed process is released at once.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from gateway.audit.chain import AuditEntry, AuditPolicy, ChainWriter, entry_from_row
from gateway.audit.keys import Checkpoint
from gateway.errors import StoreError
from gateway.store.accepting import plan_accept
from gateway.store.contract import (
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
from gateway.store.sqlite.audit import AuditRows, chain_head
from gateway.store.sqlite.group import GroupCommit
from gateway.store.sqlite.rows import DEAD_COLUMNS, SqliteTx, dead_where
from gateway.store.sqlite.schema import MIGRATIONS, SCHEMA

T = TypeVar("T")


class SqliteStore:
    """:class:`~gateway.store.contract.Store` on one SQLite file."""

    def __init__(self, path: Path, audit: AuditPolicy | None = None) -> None:
        self._path = path
        self._audit = audit or AuditPolicy()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._conn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._group = GroupCommit(self._group_tx)

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        now: float,
        audit: AuditPolicy | None = None,
        operator: bool = False,
        max_rescues: int = 5,
    ) -> SqliteStore:
        """Open (creating if needed) the database and release leases a dead process left.

        ``operator=True`` is for operator commands (``dlq``, ``replay``, ``status``) next to a
        running daemon: no process lock and no lease release; writes wait for the daemon's
        transaction (``busy_timeout``) like any second SQLite writer."""
        store = cls(path, audit)
        try:
            await store._run(lambda: store._open_sync(lock=not operator))
            if not operator:
                await store._run(lambda: store._release_all_sync(now, max_rescues))
        except BaseException:
            await store.close()
            raise
        return store

    # -- plumbing ---------------------------------------------------------------------------

    async def _run(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn)
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {exc}") from exc

    def _open_sync(self, *, lock: bool) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        if lock:
            lock_path = self._path.with_name(self._path.name + ".lock")
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                os.close(fd)
                raise StoreError(f"{self._path} is in use by another gateway process") from exc
            self._lock_fd = fd
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(SCHEMA)
        self._conn = conn
        self._migrate_sync()

    def _migrate_sync(self) -> None:
        """Apply the versioned migrations this file does not have yet, each in its own
        transaction together with the new ``schema_version``."""
        conn = self.conn
        (version,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        for target in sorted(v for v in MIGRATIONS if v > version):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[target].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (target,))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("store is closed")
        return self._conn

    @contextmanager
    def _tx(self) -> Iterator[SqliteTx]:
        with self._group_tx() as (tx, _):
            yield tx

    @contextmanager
    def _group_tx(self) -> Iterator[tuple[SqliteTx, ChainWriter]]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            writer = ChainWriter(AuditRows(conn), self._audit, chain_head(conn))
            yield SqliteTx(conn, writer), writer
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        writer.committed()

    async def _write(self, job: Callable[[SqliteTx], T]) -> T:
        """Run ``job`` in a write transaction shared with the writes queued meanwhile
        (group commit, :mod:`.group`): answered once that transaction is committed."""
        future = self._group.submit(job)
        await self._run(self._group.flush)
        try:
            return cast(T, await future)
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {exc}") from exc

    async def close(self) -> None:
        def close_sync() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

        await self._run(close_sync)
        self._executor.shutdown(wait=True)

    # -- intake -----------------------------------------------------------------------------

    async def accept(
        self,
        items: Sequence[Incoming | Rejected],
        *,
        now: float,
        validate: Validate,
        cursor: SourceCursor | None = None,
    ) -> list[Receipt]:
        def accept_sync(tx: SqliteTx) -> list[Receipt]:
            plan = plan_accept(items, validate=validate, key_id=tx.key_id, facts=tx.facts)
            receipts = tx.apply(plan, now)
            if cursor is not None:
                tx.conn.execute(
                    "INSERT INTO source_cursors (source, value, updated_at) VALUES (?, ?, ?)"
                    " ON CONFLICT(source) DO UPDATE SET value = excluded.value,"
                    " updated_at = excluded.updated_at",
                    (cursor.source, cursor.value, now),
                )
            return receipts

        return await self._write(accept_sync)

    async def get_cursor(self, source: str) -> str | None:
        def get_sync() -> str | None:
            row = self.conn.execute(
                "SELECT value FROM source_cursors WHERE source = ?", (source,)
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._run(get_sync)

    # -- delivery ---------------------------------------------------------------------------

    async def claim(self, owner: str, limit: int, now: float, lease_s: float) -> list[Claimed]:
        def claim_sync() -> list[Claimed]:
            with self._tx() as tx:
                return tx.claim(owner, limit, now, lease_s)

        return await self._run(claim_sync)

    async def complete(self, outcomes: Sequence[Outcome]) -> int:
        def complete_sync(tx: SqliteTx) -> int:
            return sum(tx.complete(o) for o in outcomes)

        return await self._write(complete_sync)

    async def heartbeat(self, owner: str, tokens: Sequence[int], now: float, lease_s: float) -> int:
        def beat_sync() -> int:
            with self._tx() as tx:
                return sum(
                    tx.conn.execute(
                        "UPDATE records SET lease_until = ? WHERE state = 'leased' "
                        "AND lease_owner = ? AND lease_token = ?",
                        (now + lease_s, owner, token),
                    ).rowcount
                    for token in tokens
                )

        return await self._run(beat_sync)

    async def maintain(self) -> list[str]:
        """Nothing to keep: this store never writes ``sqlite_stat1``, so SQLite plans its
        queries from the indexes alone and the plans do not drift as the tables grow."""
        return []

    async def release_expired(self, now: float, *, max_rescues: int = 5) -> int:
        def release_sync() -> int:
            with self._tx() as tx:
                rows = tx.conn.execute(
                    "SELECT id, dossier_code, rescues FROM records "
                    "WHERE state = 'leased' AND lease_until < ?",
                    (now,),
                ).fetchall()
                for rid, dossier_code, rescues in rows:
                    tx.rescue(rid, dossier_code, rescues, now, max_rescues, "lease_expired")
                return len(rows)

        return await self._run(release_sync)

    async def release(self, owner: str, now: float) -> int:
        def release_sync() -> int:
            with self._tx() as tx:
                return tx.release_owned(owner, now)

        return await self._run(release_sync)

    def _release_all_sync(self, now: float, max_rescues: int = 5) -> None:
        with self._tx() as tx:
            rows = tx.conn.execute(
                "SELECT id, dossier_code, rescues FROM records WHERE state = 'leased'"
            ).fetchall()
            for rid, dossier_code, rescues in rows:
                tx.rescue(rid, dossier_code, rescues, now, max_rescues, "lease_released_at_start")

    # -- dead letters -----------------------------------------------------------------------

    async def dead_letters(self, where: DeadFilter, *, limit: int = 1000) -> list[DeadLetter]:
        def list_sync() -> list[DeadLetter]:
            sql, params = dead_where(where)
            query = f"{DEAD_COLUMNS} FROM records r WHERE {sql} ORDER BY r.updated_at, r.id LIMIT ?"
            rows = self.conn.execute(query, (*params, limit)).fetchall()
            return [DeadLetter(*row) for row in rows]

        return await self._run(list_sync)

    async def replay(self, where: DeadFilter, *, by: str, now: float) -> list[int]:
        def replay_sync() -> list[int]:
            with self._tx() as tx:
                return tx.replay(where, by, now)

        return await self._run(replay_sync)

    async def note(self, event: str, detail: dict[str, Any], now: float) -> None:
        def note_sync() -> None:
            with self._tx() as tx:
                tx.audit(now, event, None, "", detail)

        await self._run(note_sync)

    # -- reading ----------------------------------------------------------------------------

    async def next_due(self) -> float | None:
        def next_due_sync() -> float | None:
            row = self.conn.execute(
                "SELECT MIN(next_attempt_at) FROM records WHERE state = 'queued'"
            ).fetchone()
            return None if row is None or row[0] is None else float(row[0])

        return await self._run(next_due_sync)

    async def counts(self) -> dict[str, int]:
        def counts_sync() -> dict[str, int]:
            rows = self.conn.execute(
                "SELECT state, COUNT(*) FROM records GROUP BY state"
            ).fetchall()
            found = {str(s): 0 for s in State}
            found.update(dict(rows))
            return found

        return await self._run(counts_sync)

    async def audit_entries(self) -> list[AuditEntry]:
        """Every audit entry in order (for verification and tests)."""

        def read_sync() -> list[AuditEntry]:
            rows = self.conn.execute(
                "SELECT seq, at, event, record_id, dossier_code, detail, prev_hash, hash "
                "FROM audit ORDER BY seq"
            ).fetchall()
            return [entry_from_row(row) for row in rows]

        return await self._run(read_sync)

    async def audit_checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint of the online log, in order."""

        def read_sync() -> list[Checkpoint]:
            rows = self.conn.execute(
                "SELECT seq, at, hash, key_id, signature FROM audit_checkpoints ORDER BY seq"
            ).fetchall()
            return [Checkpoint(*row) for row in rows]

        return await self._run(read_sync)

    async def seal_audit(self, now: float) -> bool:
        """Sign the audit head if its newest entries are not covered by a checkpoint yet."""

        def seal_sync() -> bool:
            with self._tx() as tx:
                return tx.seal(now)

        return await self._run(seal_sync)

    async def audit_system(self, event: str, detail: dict[str, Any], *, now: float) -> None:
        """Audit a change that belongs to no record (configuration loaded, breaker opened)."""

        def write_sync() -> None:
            with self._tx() as tx:
                tx.audit(now, event, None, "", detail)

        await self._run(write_sync)

    async def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """A read-only query, for operator commands and tests."""
        return await self._run(lambda: self.conn.execute(sql, params).fetchall())
