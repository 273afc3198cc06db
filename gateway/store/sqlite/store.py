"""The embedded SQLite engine of the store contract (the default).

WAL journal, ``synchronous=FULL`` (a commit survives power loss), ``BEGIN IMMEDIATE`` for
every write. All database work runs on one dedicated thread with one connection, so the
event loop never blocks on disk and SQLite sees a single writer. One gateway process owns a
database file at a time (an exclusive ``flock`` on ``<db>.lock``); so at start every lease
left by a killed process is released at once.

Before every operation the store checks that its path still names the file it opened
(:mod:`~gateway.store.sqlite.presence`): a file deleted or replaced under the daemon stops the
store (:class:`~gateway.errors.StoreLostError`, logged once as ``store_file_lost``) instead of
writing into an unlinked inode. The daemon's store keeps ``<db>.anchor`` (the audit head at
each seal) so a restart on a missing file is refused; operator commands open an existing file
only.
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

import structlog

from gateway.audit.chain import AuditEntry, AuditPolicy, ChainWriter, entry_from_row
from gateway.audit.keys import Checkpoint
from gateway.errors import StoreError, StoreLostError, StoreUnavailableError
from gateway.store.accepting import plan_accept
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
from gateway.store.sqlite import two_way
from gateway.store.sqlite.audit import AuditRows, chain_head
from gateway.store.sqlite.group import GroupCommit
from gateway.store.sqlite.inbound import (
    SqliteInbound,
    divert_portal_hosted,
    release_jobs_at_start,
)
from gateway.store.sqlite.presence import FileIdentity, write_anchor
from gateway.store.sqlite.rows import DEAD_COLUMNS, LEASED_COLUMNS, SqliteTx, dead_where
from gateway.store.sqlite.rows import resolve as resolve_rows
from gateway.store.sqlite.schema import MIGRATIONS, SCHEMA

T = TypeVar("T")
log = structlog.get_logger("gateway.store")


class SqliteStore:
    """:class:`~gateway.store.contract.Store` on one SQLite file."""

    def __init__(self, path: Path, audit: AuditPolicy | None = None) -> None:
        self._path = path
        self._audit = audit or AuditPolicy()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._conn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._identity: FileIdentity | None = None
        self._lost: str | None = None
        self._keeps_anchor = False
        self.inbound = SqliteInbound(self)
        """The inbound tables (:mod:`gateway.store.inbound`)."""
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
        transaction (``busy_timeout``) like any second SQLite writer, and never create a
        database: a missing file is a StoreUnavailableError naming the path."""
        store = cls(path, audit)
        try:
            await store._run(lambda: store._open_sync(lock=not operator, create=not operator))
            if not operator:
                store._keeps_anchor = True
                await store._run(lambda: store._release_all_sync(now, max_rescues))
                await store._run(lambda: store._anchor_sync(now))
        except BaseException:
            await store.close()
            raise
        return store

    # -- plumbing ---------------------------------------------------------------------------

    async def _run(self, fn: Callable[[], T], *, check: bool = True) -> T:
        def guarded() -> T:
            if check:
                self._check_file_sync()
            return fn()

        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, guarded)
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite: {exc}") from exc

    def _check_file_sync(self) -> None:
        """Refuse to go on once the path no longer names the file we opened (sticky)."""
        if self._lost is None and self._identity is not None:
            self._lost = self._identity.problem()
            if self._lost is not None:
                log.error(
                    "store_file_lost",
                    path=str(self._path),
                    problem=self._lost,
                    advice="intake refuses (503) and delivery waits: restore the file or "
                    "restart the gateway",
                )
        if self._lost is not None:
            raise StoreLostError(f"{self._lost}: the store stopped accepting")

    def _anchor_sync(self, now: float) -> None:
        """Rewrite ``<db>.anchor`` with the audit head (the daemon's store only)."""
        if not self._keeps_anchor:
            return
        head = chain_head(self.conn)
        try:
            write_anchor(self._path, seq=head.seq, head_hash=head.hash, at=now)
        except OSError as exc:  # the database itself is fine: say so, do not fail the seal
            log.warning("store_anchor_not_written", path=str(self._path), error=str(exc))

    def _open_sync(self, *, lock: bool, create: bool = True) -> None:
        if not create and not self._path.exists():
            raise StoreUnavailableError(
                f"{self._path}: no such database (check store.path; operator commands never "
                "create one)"
            )
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
        self._identity = FileIdentity.of(self._path)
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

        await self._run(close_sync, check=False)
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
            divert_portal_hosted(tx, items, receipts, now)
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
                    f"{LEASED_COLUMNS} AND r.lease_until < ? ORDER BY r.id", (now,)
                ).fetchall()
                for row in rows:
                    tx.rescue(row, now, max_rescues, "lease_expired")
                return len(rows)

        return await self._run(release_sync)

    async def release(self, owner: str, now: float) -> int:
        def release_sync() -> int:
            with self._tx() as tx:
                return tx.release_owned(owner, now)

        return await self._run(release_sync)

    def _release_all_sync(self, now: float, max_rescues: int = 5) -> None:
        with self._tx() as tx:
            rows = tx.conn.execute(f"{LEASED_COLUMNS} ORDER BY r.id").fetchall()
            for row in rows:
                tx.rescue(row, now, max_rescues, "lease_released_at_start")
        release_jobs_at_start(self, now)

    # -- dead letters -----------------------------------------------------------------------

    async def dead_letters(self, where: DeadFilter, *, limit: int = 1000) -> list[DeadLetter]:
        def list_sync() -> list[DeadLetter]:
            sql, params = dead_where(where)
            query = f"{DEAD_COLUMNS} FROM records r WHERE {sql} ORDER BY r.updated_at, r.id LIMIT ?"
            rows = self.conn.execute(query, (*params, limit)).fetchall()
            return [DeadLetter(*row) for row in rows]

        return await self._run(list_sync)

    async def resolve(self, where: DeadFilter, *, by: str, note: str, now: float) -> list[int]:
        def resolve_sync() -> list[int]:
            with self._tx() as tx:
                return resolve_rows(tx, where, by, note, now)

        return await self._run(resolve_sync)

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
            row = self.conn.execute(NEXT_DUE_SQL).fetchone()
            return None if row is None or row[0] is None else float(row[0])

        return await self._run(next_due_sync)

    async def blocked(self, *, limit: int = 1000) -> list[BlockedDossier]:
        def blocked_sync() -> list[BlockedDossier]:
            rows = self.conn.execute(f"{BLOCKED_SQL} LIMIT ?", (limit,)).fetchall()
            return [BlockedDossier(*row) for row in rows]

        return await self._run(blocked_sync)

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
                sealed = tx.seal(now)
            if sealed:
                self._anchor_sync(now)
            return sealed

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

    # -- two-way with the portal (gateway/catalogue; SQL in two_way.py) --------------------------

    async def latest_catalogue(self) -> tuple[int, float, str] | None:
        """The newest synced catalogue: ``(version, synced_at, content JSON)``, or None."""
        return await self._run(lambda: two_way.latest_catalogue(self.conn))

    async def pending_catalogue(self) -> dict[str, str]:
        """Procedure details an unfinished sync fetched, by procedure code."""
        return await self._run(lambda: two_way.pending_catalogue(self.conn))

    async def dossier_records(self, codes: Sequence[str]) -> list[tuple[Any, ...]]:
        """``(id, dossier_code, kind, state, payload)`` of these dossiers' snapshots and steps,
        by id (reconciliation)."""
        return await self._run(lambda: two_way.dossier_records(self.conn, codes))

    async def keep_catalogue_detail(self, code: str, detail: str, now: float) -> None:
        """Remember one fetched procedure detail until the sync that fetched it finishes."""
        await self._write(lambda tx: two_way.keep_catalogue_detail(tx, code, detail, now))

    async def save_catalogue(
        self, content: str, digest: str, changes: dict[str, Any], now: float
    ) -> int:
        """Store a new catalogue version, forget the pending details and audit
        ``catalogue_synced`` with ``changes``, in one transaction; return the version."""
        return await self._write(
            lambda tx: two_way.save_catalogue(tx, content, digest, changes, now)
        )

    async def requeue_delivered(
        self, record_ids: Sequence[int], *, lost: Sequence[str], event: str, by: str, now: float
    ) -> list[int]:
        """Queue delivered records again (reconciliation, re-sync): see
        :func:`gateway.store.sqlite.two_way.requeue_delivered`."""
        return await self._write(
            lambda tx: two_way.requeue_delivered(tx, record_ids, lost, event, by, now)
        )

    async def release_quarantined(
        self, record_ids: Sequence[int], *, by: str, now: float
    ) -> list[int]:
        """Queue quarantined records whose cause was fixed (``mappings apply``): see
        :func:`gateway.store.sqlite.two_way.release_quarantined`."""
        return await self._write(lambda tx: two_way.release_quarantined(tx, record_ids, by, now))
