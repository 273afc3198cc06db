"""Reading and maintaining the audit log of a SQLite store from another process.

The daemon holds the store; operator commands (``dvc-gateway audit ...``) open the database
file with their own connection: reads run in one read transaction (a consistent snapshot
while the daemon keeps writing, thanks to WAL), and archiving deletes moved entries in one
short ``BEGIN IMMEDIATE`` transaction that the daemon's writes simply wait for.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gateway.audit.archive import ArchiveRef, AuditQuery
from gateway.audit.chain import AuditEntry, ChainHead, entry_from_row
from gateway.audit.keys import Checkpoint
from gateway.errors import ArchiveBusyError, StoreUnavailableError

_ENTRY_COLUMNS = "seq, at, event, record_id, dossier_code, detail, prev_hash, hash"


class SqliteAuditRepository:
    """:class:`gateway.audit.archive.AuditRepository` over a SQLite store file."""

    def __init__(self, path: Path, *, writable: bool = False) -> None:
        if not path.exists():
            raise StoreUnavailableError(f"{path}: no such database")
        self._archive_lock = _lock_archiver(path) if writable else None
        mode = "rw" if writable else "ro"
        try:
            uri = f"{path.resolve().as_uri()}?mode={mode}"
            self._conn = sqlite3.connect(uri, uri=True, isolation_level=None)
            self._conn.execute("PRAGMA busy_timeout=10000")
        except sqlite3.Error as exc:
            self._unlock()
            raise StoreUnavailableError(f"sqlite: {exc}") from exc

    def close(self) -> None:
        self._conn.close()
        self._unlock()

    def _unlock(self) -> None:
        if self._archive_lock is not None:
            os.close(self._archive_lock)  # closing the descriptor drops the flock
            self._archive_lock = None

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Every read inside sees the same committed state."""
        self._conn.execute("BEGIN")
        try:
            yield
        finally:
            self._conn.execute("COMMIT")

    def checkpoints(self, from_seq: int = 0) -> list[Checkpoint]:
        rows = self._conn.execute(
            "SELECT seq, at, hash, key_id, signature FROM audit_checkpoints "
            "WHERE seq >= ? ORDER BY seq",
            (from_seq,),
        ).fetchall()
        return [Checkpoint(*row) for row in rows]

    def entries(self, from_seq: int = 0, to_seq: int | None = None) -> Iterator[AuditEntry]:
        cursor = self._conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM audit WHERE seq >= ? AND seq <= ? ORDER BY seq",  # noqa: S608
            (from_seq, to_seq if to_seq is not None else 2**62),
        )
        for row in cursor:
            yield entry_from_row(row)

    def first_seq(self) -> int | None:
        row = self._conn.execute("SELECT MIN(seq) FROM audit").fetchone()
        return None if row[0] is None else int(row[0])

    def last_seq(self) -> int | None:
        row = self._conn.execute("SELECT MAX(seq) FROM audit").fetchone()
        return None if row[0] is None else int(row[0])

    def entry_at(self, seq: int) -> AuditEntry | None:
        row = self._conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM audit WHERE seq = ?",  # noqa: S608
            (seq,),
        ).fetchone()
        return None if row is None else entry_from_row(row)

    def archives(self) -> list[ArchiveRef]:
        rows = self._conn.execute(
            "SELECT first_seq, last_seq, last_hash, file_name, file_digest FROM audit_archives "
            "ORDER BY first_seq"
        ).fetchall()
        return [ArchiveRef(*row) for row in rows]

    def last_checkpoint_before(self, at: float) -> int | None:
        """The newest checkpoint whose entry is older than ``at`` and is not the newest entry."""
        row = self._conn.execute(
            "SELECT MAX(c.seq) FROM audit_checkpoints c JOIN audit a ON a.seq = c.seq "
            "WHERE a.at < ? AND c.seq < (SELECT MAX(seq) FROM audit)",
            (at,),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def commit_archive(self, ref: ArchiveRef, created_at: float) -> None:
        """Record an archive file and delete the entries and checkpoints it holds."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            self._conn.execute(
                "INSERT INTO audit_archives (first_seq, last_seq, last_hash, file_name,"
                " file_digest, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (ref.first_seq, ref.last_seq, ref.last_hash, ref.file_name, ref.digest, created_at),
            )
            self._conn.execute("DELETE FROM audit WHERE seq <= ?", (ref.last_seq,))
            self._conn.execute("DELETE FROM audit_checkpoints WHERE seq <= ?", (ref.last_seq,))
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def find(self, query: AuditQuery) -> Iterator[AuditEntry]:
        """Entries matching the query's indexed parts (time, dossier, event); the caller
        applies the rest with :meth:`AuditQuery.matches`."""
        where = ["at >= ?", "at < ?"]
        params: list[object] = [query.since or 0.0, query.until or 1e18]
        if query.dossier_code:
            where.append("dossier_code = ?")
            params.append(query.dossier_code)
        if query.events:
            where.append(f"event IN ({', '.join('?' * len(query.events))})")
            params.extend(query.events)
        sql = f"SELECT {_ENTRY_COLUMNS} FROM audit WHERE {' AND '.join(where)} ORDER BY seq"  # noqa: S608
        for row in self._conn.execute(sql, params):
            yield entry_from_row(row)


def _lock_archiver(path: Path) -> int:
    """One archiver at a time (the daemon's retention, ``audit archive`` by hand): an
    exclusive ``flock`` on ``<db>.archive-lock``, held until the repository closes. Two runs
    at once would pick the same range and write the same file name, the second over the
    first, leaving a digest in ``audit_archives`` that no longer matches its file."""
    fd = os.open(path.with_name(path.name + ".archive-lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise ArchiveBusyError("another process is archiving this audit log now") from exc
    return fd


# -- the writing side, used by the store inside its transactions ------------------------------


def chain_head(conn: sqlite3.Connection) -> ChainHead:
    """Where the audit chain stands (the newest entry, else the newest archived one)."""
    row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    if row is None:
        row = conn.execute(
            "SELECT last_seq, last_hash FROM audit_archives ORDER BY first_seq DESC LIMIT 1"
        ).fetchone()
    mark = conn.execute(
        "SELECT seq, at FROM audit_checkpoints ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    head = ChainHead() if row is None else ChainHead(row[0], row[1])
    if mark is not None:
        return ChainHead(head.seq, head.hash, mark[0], mark[1])
    return head


class AuditRows:
    """The SQLite side of :class:`gateway.audit.chain.AuditSink`."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def write_entry(self, entry: AuditEntry) -> None:
        self._conn.execute(
            "INSERT INTO audit (seq, at, event, record_id, dossier_code, detail, prev_hash, hash)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry.seq,
                entry.at,
                entry.event,
                entry.record_id,
                entry.dossier_code,
                entry.detail_json or json.dumps(entry.detail, sort_keys=True, ensure_ascii=False),
                entry.prev_hash,
                entry.hash,
            ),
        )

    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._conn.execute(
            "INSERT INTO audit_checkpoints (seq, at, hash, key_id, signature)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                checkpoint.seq,
                checkpoint.at,
                checkpoint.hash,
                checkpoint.key_id,
                checkpoint.signature,
            ),
        )
