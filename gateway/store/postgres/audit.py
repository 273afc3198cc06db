"""Reading and maintaining the audit log of a PostgreSQL store from another process.

The repository contract is synchronous (operator commands, and the daemon's retention on a
worker thread) and the project's PostgreSQL driver, asyncpg, is asynchronous: the repository
owns one connection and a private event loop (:class:`asyncio.Runner`) that runs each call to
its end. So there is one driver, one DSN format and one boundary where asyncpg's errors become
:class:`~gateway.errors.StoreError`. A repository is used by the thread that opened it.

- **Snapshots** are one ``REPEATABLE READ READ ONLY`` transaction: every read inside sees the
  same committed state while daemons keep appending. Writers commit whole transactions under
  the lock of the ``audit_head`` row, so a snapshot always holds a gap-free prefix of the chain.
- **Streams** (:meth:`~PostgresAuditRepository.entries`, :meth:`~PostgresAuditRepository.find`)
  read ``PAGE`` rows at a time in seq order, each page starting after the last seq of the one
  before: millions of entries never sit in memory, and a stream left unfinished holds nothing
  open on the server.
- **Writers are not disturbed.** They append seq values above the head and lock ``audit_head``
  last; archiving deletes only rows below the newest entry and never touches ``audit_head``,
  so neither waits for the other.
- **One archiver at a time.** Several gateway processes may share the database, and each runs
  retention. A ``writable`` repository takes a session-level advisory lock when it opens and
  keeps it until it closes, so a whole archive run (read the range, write its file, delete
  the rows) is exclusive. Without it, two processes would pick the same range and write the
  same file name, the second one (with another ``created_at``) over the first one's file,
  leaving a digest in ``audit_archives`` that no longer matches. If the lock is held
  elsewhere, opening raises :class:`~gateway.errors.ArchiveBusyError` at once: nothing waits,
  and the daemon tries again next round. :meth:`~PostgresAuditRepository.commit_archive`
  re-checks in its own transaction that the range still begins the live log, and
  ``audit_archives.first_seq`` is a primary key, so even a run that bypassed the lock could
  not record a range twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import asyncpg

from gateway.audit.archive import ArchiveRef, AuditQuery
from gateway.audit.chain import AuditEntry, entry_from_row
from gateway.audit.keys import Checkpoint
from gateway.errors import ArchiveBusyError, StoreError, StoreUnavailableError
from gateway.store.postgres.store import DRIVER_ERRORS

T = TypeVar("T")

ARCHIVE_LOCK = 0x64766361  # "dvca": the advisory lock key of the one archiver
PAGE = 1000
"""Entries per read of a stream (an attempt entry may carry a body of up to 64 KiB)."""
CONNECT_TIMEOUT_S = 10.0
LAST_SEQ = 2**62
"""Above any seq: the open end of a range."""

_ENTRY_COLUMNS = "seq, at, event, record_id, dossier_code, detail, prev_hash, hash"


class PostgresAuditRepository:
    """:class:`gateway.audit.archive.AuditRepository` over a PostgreSQL store."""

    def __init__(self, dsn: str, *, writable: bool = False) -> None:
        self._runner = asyncio.Runner(loop_factory=asyncio.new_event_loop)  # not the thread's
        try:
            self._conn: Any = self._runner.run(_connect(dsn, writable=writable))
        except BaseException:
            self._runner.close()
            raise

    def close(self) -> None:
        """Close the connection (which ends a snapshot and frees the archive lock)."""
        try:
            with contextlib.suppress(*DRIVER_ERRORS):
                self._runner.run(self._conn.close(timeout=CONNECT_TIMEOUT_S))
        finally:
            self._runner.close()

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        try:
            return self._runner.run(work)
        except DRIVER_ERRORS as exc:
            raise StoreError(f"postgresql: {exc}") from exc

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every read inside sees the same committed state."""
        tx = self._conn.transaction(isolation="repeatable_read", readonly=True)
        self._run(tx.start())
        try:
            yield
        finally:
            self._run(tx.commit())

    def checkpoints(self, from_seq: int = 0) -> list[Checkpoint]:
        rows = self._run(
            self._conn.fetch(
                "SELECT seq, at, hash, key_id, signature FROM audit_checkpoints "
                "WHERE seq >= $1 ORDER BY seq",
                from_seq,
            )
        )
        return [Checkpoint(*row) for row in rows]

    def entries(self, from_seq: int = 0, to_seq: int | None = None) -> Iterator[AuditEntry]:
        """The entries ``from_seq``..``to_seq`` in order, read ``PAGE`` at a time."""
        upto = LAST_SEQ if to_seq is None else to_seq
        return self._pages(["seq <= $2"], [upto], after=from_seq - 1)

    def first_seq(self) -> int | None:
        return self._seq("SELECT MIN(seq) FROM audit")

    def last_seq(self) -> int | None:
        return self._seq("SELECT MAX(seq) FROM audit")

    def _seq(self, sql: str, *params: object) -> int | None:
        value = self._run(self._conn.fetchval(sql, *params))
        return None if value is None else int(value)

    def entry_at(self, seq: int) -> AuditEntry | None:
        row = self._run(
            self._conn.fetchrow(f"SELECT {_ENTRY_COLUMNS} FROM audit WHERE seq = $1", seq)  # noqa: S608
        )
        return None if row is None else entry_from_row(row)

    def archives(self) -> list[ArchiveRef]:
        rows = self._run(
            self._conn.fetch(
                "SELECT first_seq, last_seq, last_hash, file_name, file_digest "
                "FROM audit_archives ORDER BY first_seq"
            )
        )
        return [ArchiveRef(*row) for row in rows]

    def last_checkpoint_before(self, at: float) -> int | None:
        """The newest checkpoint whose entry is older than ``at`` and is not the newest entry."""
        return self._seq(
            "SELECT MAX(c.seq) FROM audit_checkpoints c JOIN audit a ON a.seq = c.seq "
            "WHERE a.at < $1 AND c.seq < (SELECT MAX(seq) FROM audit)",
            at,
        )

    def commit_archive(self, ref: ArchiveRef, created_at: float) -> None:
        """Record an archive file and delete the entries and checkpoints it holds, in one
        transaction; refused (nothing changes) if the range no longer begins the live log."""
        self._run(self._commit_archive(ref, created_at))

    async def _commit_archive(self, ref: ArchiveRef, created_at: float) -> None:
        async with self._conn.transaction():
            first = await self._conn.fetchval("SELECT MIN(seq) FROM audit")
            if first != ref.first_seq:
                raise StoreError(
                    f"audit archive {ref.file_name} not recorded: the live log now begins at "
                    f"seq {first}, not {ref.first_seq} (archived by another run?)"
                )
            await self._conn.execute(
                "INSERT INTO audit_archives (first_seq, last_seq, last_hash, file_name,"
                " file_digest, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                ref.first_seq,
                ref.last_seq,
                ref.last_hash,
                ref.file_name,
                ref.digest,
                created_at,
            )
            await self._conn.execute("DELETE FROM audit WHERE seq <= $1", ref.last_seq)
            await self._conn.execute("DELETE FROM audit_checkpoints WHERE seq <= $1", ref.last_seq)

    def find(self, query: AuditQuery) -> Iterator[AuditEntry]:
        """Entries matching the query's indexed parts (time, dossier, event), in seq order;
        the caller applies the rest with :meth:`AuditQuery.matches`."""
        where = ["at >= $2", "at < $3"]
        params: list[object] = [query.since or 0.0, query.until or 1e18]
        if query.dossier_code:
            params.append(query.dossier_code)
            where.append(f"dossier_code = ${len(params) + 1}")
        if query.events:
            params.append(list(query.events))
            where.append(f"event = ANY(${len(params) + 1}::text[])")
        return self._pages(where, params, after=-1)

    def _pages(self, where: list[str], params: list[object], *, after: int) -> Iterator[AuditEntry]:
        """Entries with seq above ``after`` that satisfy ``where`` (whose placeholders start
        at ``$2``), in seq order, one page per query."""
        sql = (
            f"SELECT {_ENTRY_COLUMNS} FROM audit WHERE seq > $1 AND {' AND '.join(where)} "  # noqa: S608
            f"ORDER BY seq LIMIT {PAGE}"
        )
        while True:
            rows = self._run(self._conn.fetch(sql, after, *params))
            yield from (entry_from_row(row) for row in rows)
            if len(rows) < PAGE:
                return
            after = rows[-1][0]


async def _connect(dsn: str, *, writable: bool) -> Any:
    """A connection to a migrated gateway database; read-only unless ``writable``, which
    holds the archive lock."""
    settings = {"application_name": "dvc-gateway audit"}
    if not writable:
        settings["default_transaction_read_only"] = "on"
    try:
        conn = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_S, server_settings=settings)
    except (*DRIVER_ERRORS, ValueError) as exc:
        raise StoreUnavailableError(f"postgresql: cannot connect: {exc}") from exc
    try:
        if await conn.fetchval("SELECT to_regclass('audit_archives')") is None:
            raise StoreUnavailableError(
                "postgresql: this database has no audit tables (run `dvc-gateway db migrate`)"
            )
        if writable and not await conn.fetchval("SELECT pg_try_advisory_lock($1)", ARCHIVE_LOCK):
            raise ArchiveBusyError("another process is archiving this audit log now")
    except DRIVER_ERRORS as exc:
        conn.terminate()
        raise StoreError(f"postgresql: {exc}") from exc
    except BaseException:
        conn.terminate()
        raise
    return conn
