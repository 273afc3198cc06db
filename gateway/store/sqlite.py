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
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from gateway.audit import AuditEntry, AuditPolicy, ChainWriter
from gateway.audit_attempts import attempt_entries
from gateway.audit_keys import Checkpoint
from gateway.canonical import record_from_json, record_to_json
from gateway.errors import StoreError, TranslationError
from gateway.masking import mask_text
from gateway.model import Dossier, ProgressStep, Record, Result, apply_result
from gateway.store.audit_sqlite import AuditRows, chain_head
from gateway.store.contract import (
    Claimed,
    DeadFilter,
    DeadLetter,
    Incoming,
    Outcome,
    OutcomeKind,
    Receipt,
    Rejected,
    SourceCursor,
    State,
    Validate,
)
from gateway.store.outcomes import stale_reason
from gateway.store.schema import MIGRATIONS, SCHEMA

T = TypeVar("T")

_CLAIM_SQL = """
SELECT r.id, r.payload, r.attempts, r.dossier_code, COALESCE(d.on_portal, 0), r.uncertain
FROM records r LEFT JOIN dossiers d ON d.dossier_code = r.dossier_code
WHERE r.state = 'queued' AND r.next_attempt_at <= :now
  AND NOT EXISTS (SELECT 1 FROM records o
                  WHERE o.dossier_code = r.dossier_code AND o.state = 'leased')
  AND (r.kind = 'dossier' OR (
        COALESCE(d.on_portal, 0) = 1
        AND NOT EXISTS (SELECT 1 FROM records o
                        WHERE o.dossier_code = r.dossier_code AND o.kind = 'dossier'
                          AND o.state = 'queued' AND o.id < r.id)
        AND NOT EXISTS (SELECT 1 FROM records p
                        WHERE p.dossier_code = r.dossier_code AND p.kind = 'progress'
                          AND p.state = 'queued'
                          AND (p.order_at < r.order_at
                               OR (p.order_at = r.order_at AND p.id < r.id)))))
ORDER BY r.next_attempt_at, r.id
LIMIT :scan
"""

_DEAD_COLUMNS = (
    "SELECT r.id, r.state, r.kind, r.dossier_code, r.agency_code, r.attempts, r.updated_at, "
    "r.portal_code, COALESCE(r.last_error, ''), r.payload"
)
_REPLAY_COLUMNS = (
    "SELECT r.id, r.kind, r.dossier_code, r.state, d.latest_snapshot_id "
    "FROM records r LEFT JOIN dossiers d ON d.dossier_code = r.dossier_code"
)


def record_key(record: Record) -> str:
    """The idempotency key of a logical event: the same record pushed twice has one key."""
    body = json.dumps(record_to_json(record), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


class SqliteStore:
    """:class:`~gateway.store.contract.Store` on one SQLite file."""

    def __init__(self, path: Path, audit: AuditPolicy | None = None) -> None:
        self._path = path
        self._audit = audit or AuditPolicy()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._conn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None

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
    def _tx(self) -> Iterator[_Tx]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            writer = ChainWriter(AuditRows(conn), self._audit, chain_head(conn))
            tx = _Tx(conn, writer)
            yield tx
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        writer.committed()

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
        def accept_sync() -> list[Receipt]:
            with self._tx() as tx:
                receipts = [self._accept_one(tx, item, now, validate) for item in items]
                if cursor is not None:
                    tx.conn.execute(
                        "INSERT INTO source_cursors (source, value, updated_at) VALUES (?, ?, ?)"
                        " ON CONFLICT(source) DO UPDATE SET value = excluded.value,"
                        " updated_at = excluded.updated_at",
                        (cursor.source, cursor.value, now),
                    )
                return receipts

        return await self._run(accept_sync)

    async def get_cursor(self, source: str) -> str | None:
        def get_sync() -> str | None:
            row = self.conn.execute(
                "SELECT value FROM source_cursors WHERE source = ?", (source,)
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._run(get_sync)

    def _accept_one(
        self, tx: _Tx, item: Incoming | Rejected, now: float, validate: Validate
    ) -> Receipt:
        if isinstance(item, Rejected):
            tx.audit(
                now,
                "intake_rejected",
                None,
                "",
                {"source": item.source, "raw_digest": item.raw_digest, "reason": item.reason},
            )
            return Receipt("rejected", (), item.reason)
        record = item.record
        key = record_key(record)
        duplicate = _duplicate(tx, key, item.source, item.raw_digest, record.dossier_code, now)
        if duplicate:
            return duplicate
        if isinstance(record, Result):
            return self._accept_result(tx, item, key, now, validate)
        return self._insert(tx, item.source, item.raw_digest, record, key, now, validate)

    def _accept_result(
        self, tx: _Tx, item: Incoming, key: str, now: float, validate: Validate
    ) -> Receipt:
        result = item.record
        assert isinstance(result, Result)
        row = tx.conn.execute(
            "SELECT r.payload FROM dossiers d JOIN records r ON r.id = d.latest_snapshot_id "
            "WHERE d.dossier_code = ?",
            (result.dossier_code,),
        ).fetchone()
        if row is None:
            reason = "$.dossier_code: no dossier snapshot with this code was accepted before"
            rid = tx.insert_record(key, item.source, result, State.QUARANTINED, now, reason)
            tx.audit(
                now,
                "quarantined",
                rid,
                result.dossier_code,
                {"source": item.source, "raw_digest": item.raw_digest, "reason": reason},
            )
            return Receipt("quarantined", (rid,), reason)
        snapshot = record_from_json(json.loads(row[0]))
        assert isinstance(snapshot, Dossier)
        update, step = apply_result(snapshot, result)
        first = self._insert(tx, item.source, item.raw_digest, update, key, now, validate)
        second = self._insert(
            tx, item.source, item.raw_digest, step, record_key(step), now, validate
        )
        status = "quarantined" if "quarantined" in (first.status, second.status) else "accepted"
        return Receipt(status, first.record_ids + second.record_ids, first.reason or second.reason)

    def _insert(
        self,
        tx: _Tx,
        source: str,
        raw_digest: str,
        record: Dossier | ProgressStep,
        key: str,
        now: float,
        validate: Validate,
    ) -> Receipt:
        duplicate = _duplicate(tx, key, source, raw_digest, record.dossier_code, now)
        if duplicate:
            return duplicate
        try:
            validate(record)
        except TranslationError as exc:
            reason = str(exc)
            rid = tx.insert_record(key, source, record, State.QUARANTINED, now, reason)
            tx.audit(
                now,
                "quarantined",
                rid,
                record.dossier_code,
                {"source": source, "raw_digest": raw_digest, "reason": reason},
            )
            return Receipt("quarantined", (rid,), reason)
        if isinstance(record, Dossier):
            stale = _stale_status(tx, record)
            if stale is not None:
                rid = tx.insert_record(key, source, record, State.SUPERSEDED, now, stale)
                tx.audit(
                    now,
                    "superseded",
                    rid,
                    record.dossier_code,
                    {"source": source, "raw_digest": raw_digest, "reason": "status_backwards"},
                )
                return Receipt("accepted", (rid,), stale)
        rid = tx.insert_record(key, source, record, State.QUEUED, now, "")
        tx.audit(
            now,
            "received",
            rid,
            record.dossier_code,
            {"source": source, "raw_digest": raw_digest},
        )
        tx.audit(
            now,
            "translated",
            rid,
            record.dossier_code,
            {"kind": str(record.kind), "status": record.status.value, "event_key": key},
        )
        if isinstance(record, Dossier):
            self._supersede_older(tx, record.dossier_code, rid, now)
            tx.conn.execute(
                "INSERT INTO dossiers (dossier_code, agency_code, latest_snapshot_id) "
                "VALUES (?, ?, ?) ON CONFLICT(dossier_code) DO UPDATE SET "
                "latest_snapshot_id = excluded.latest_snapshot_id, "
                "agency_code = excluded.agency_code",
                (record.dossier_code, record.agency_code, rid),
            )
        tx.audit(now, "queued", rid, record.dossier_code, {})
        return Receipt("accepted", (rid,))

    def _supersede_older(self, tx: _Tx, dossier_code: str, newer_id: int, now: float) -> None:
        rows = tx.conn.execute(
            "SELECT id FROM records WHERE dossier_code = ? AND kind = 'dossier' "
            "AND state = 'queued' AND id < ?",
            (dossier_code, newer_id),
        ).fetchall()
        for (old_id,) in rows:
            tx.set_state(old_id, State.SUPERSEDED, now)
            tx.audit(now, "superseded", old_id, dossier_code, {"by": newer_id})

    # -- delivery ---------------------------------------------------------------------------

    async def claim(self, owner: str, limit: int, now: float, lease_s: float) -> list[Claimed]:
        def claim_sync() -> list[Claimed]:
            with self._tx() as tx:
                rows = tx.conn.execute(_CLAIM_SQL, {"now": now, "scan": limit * 4}).fetchall()
                seen: set[str] = set()
                claimed = []
                for rid, payload, attempts, dossier_code, on_portal, uncertain in rows:
                    if dossier_code in seen:
                        continue
                    seen.add(dossier_code)
                    token = tx.next_token()
                    tx.conn.execute(
                        "UPDATE records SET state = 'leased', lease_owner = ?, "
                        "lease_until = ?, lease_token = ?, updated_at = ? WHERE id = ?",
                        (owner, now + lease_s, token, now, rid),
                    )
                    tx.audit(
                        now,
                        "leased",
                        rid,
                        dossier_code,
                        {"owner": owner, "token": token, "attempt": attempts + 1},
                    )
                    record = record_from_json(json.loads(payload))
                    assert isinstance(record, Dossier | ProgressStep)
                    claimed.append(
                        Claimed(rid, record, attempts, token, bool(on_portal), bool(uncertain))
                    )
                    if len(claimed) >= limit:
                        break
                return claimed

        return await self._run(claim_sync)

    async def complete(self, outcomes: Sequence[Outcome]) -> int:
        def complete_sync() -> int:
            with self._tx() as tx:
                return sum(self._complete_one(tx, o) for o in outcomes)

        return await self._run(complete_sync)

    def _complete_one(self, tx: _Tx, o: Outcome) -> int:
        row = tx.conn.execute(
            "SELECT kind, dossier_code, attempts FROM records "
            "WHERE id = ? AND state = 'leased' AND lease_token = ?",
            (o.record_id, o.lease_token),
        ).fetchone()
        if row is None:
            return 0  # the lease was lost (expired and taken over): the newer holder decides
        kind, dossier_code, attempts = row
        if o.kind is OutcomeKind.DEFERRED:
            tx.conn.execute(
                "UPDATE records SET state = 'queued', next_attempt_at = ?, updated_at = ?, "
                "lease_owner = NULL, lease_until = NULL WHERE id = ?",
                (o.next_attempt_at, o.at, o.record_id),
            )
            deferred = {"reason": o.message, "next_attempt_at": round(o.next_attempt_at, 3)}
            tx.audit(o.at, "deferred", o.record_id, dossier_code, deferred)
            return 1
        attempt = attempts + 1
        tx.conn.execute(
            "INSERT INTO attempts (record_id, attempt, finished_at, route, outcome, http_status,"
            " portal_code, message, latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                o.record_id,
                attempt,
                o.at,
                o.route,
                str(o.kind),
                o.http_status,
                o.portal_code,
                o.message,
                o.latency_ms,
            ),
        )
        new_state = {
            OutcomeKind.DELIVERED: State.DELIVERED,
            OutcomeKind.RETRY: State.QUEUED,
            OutcomeKind.DEAD: State.DEAD,
            OutcomeKind.QUARANTINED: State.QUARANTINED,
        }[o.kind]
        tx.conn.execute(
            "UPDATE records SET state = ?, attempts = ?, next_attempt_at = ?, updated_at = ?, "
            "lease_owner = NULL, lease_until = NULL, last_error = ?, portal_code = ?, "
            "uncertain = MAX(uncertain, ?) WHERE id = ?",
            (
                str(new_state),
                attempt,
                o.next_attempt_at if o.kind is OutcomeKind.RETRY else 0,
                o.at,
                o.message if o.kind is not OutcomeKind.DELIVERED else None,
                o.portal_code,
                int(o.kind is OutcomeKind.RETRY),
                o.record_id,
            ),
        )
        if o.kind is OutcomeKind.DELIVERED and kind == "dossier":
            tx.conn.execute(
                "UPDATE dossiers SET on_portal = 1 WHERE dossier_code = ?", (dossier_code,)
            )
        for event, detail in attempt_entries(o, attempt):
            tx.audit(o.at, event, o.record_id, dossier_code, detail)
        return 1

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

    async def release_expired(self, now: float, *, max_rescues: int = 5) -> int:
        def release_sync() -> int:
            with self._tx() as tx:
                rows = tx.conn.execute(
                    "SELECT id, dossier_code, rescues FROM records "
                    "WHERE state = 'leased' AND lease_until < ?",
                    (now,),
                ).fetchall()
                for rid, dossier_code, rescues in rows:
                    _rescue(tx, rid, dossier_code, rescues, now, max_rescues, "lease_expired")
                return len(rows)

        return await self._run(release_sync)

    def _release_all_sync(self, now: float, max_rescues: int = 5) -> None:
        with self._tx() as tx:
            rows = tx.conn.execute(
                "SELECT id, dossier_code, rescues FROM records WHERE state = 'leased'"
            ).fetchall()
            for rid, dossier_code, rescues in rows:
                _rescue(tx, rid, dossier_code, rescues, now, max_rescues, "lease_released_at_start")

    # -- dead letters -----------------------------------------------------------------------

    async def dead_letters(self, where: DeadFilter, *, limit: int = 1000) -> list[DeadLetter]:
        def list_sync() -> list[DeadLetter]:
            sql, params = _dead_where(where)
            query = (
                f"{_DEAD_COLUMNS} FROM records r WHERE {sql} ORDER BY r.updated_at, r.id LIMIT ?"
            )
            rows = self.conn.execute(query, (*params, limit)).fetchall()
            return [DeadLetter(*row) for row in rows]

        return await self._run(list_sync)

    async def replay(self, where: DeadFilter, *, by: str, now: float) -> list[int]:
        def replay_sync() -> list[int]:
            with self._tx() as tx:
                sql, params = _dead_where(where)
                query = f"{_REPLAY_COLUMNS} WHERE {sql} ORDER BY r.id"
                rows = tx.conn.execute(query, params).fetchall()
                queued = []
                for rid, kind, dossier_code, state, latest in rows:
                    detail = {"by": by, "from_state": state}
                    if kind == "dossier" and latest != rid:
                        tx.set_state(rid, State.SUPERSEDED, now)
                        tx.audit(
                            now, "replay_superseded", rid, dossier_code, {**detail, "by_id": latest}
                        )
                        continue
                    tx.conn.execute(
                        "UPDATE records SET state = 'queued', attempts = 0, rescues = 0, "
                        "next_attempt_at = ?, updated_at = ?, uncertain = 1 WHERE id = ?",
                        (now, now, rid),
                    )
                    tx.audit(now, "replayed", rid, dossier_code, detail)
                    queued.append(rid)
                return queued

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
            return [
                AuditEntry(seq, at, event, rid, code, json.loads(detail), prev, h)
                for seq, at, event, rid, code, detail, prev, h in rows
            ]

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


def _stale_status(tx: _Tx, record: Dossier) -> str | None:
    """Why this snapshot would move its dossier backwards at the portal, or None."""
    row = tx.conn.execute(
        "SELECT r.status FROM dossiers d JOIN records r ON r.id = d.latest_snapshot_id "
        "WHERE d.dossier_code = ?",
        (record.dossier_code,),
    ).fetchone()
    return stale_reason(None if row is None else row[0], record.status)


def _rescue(
    tx: _Tx, rid: int, dossier_code: str, rescues: int, now: float, limit: int, event: str
) -> None:
    """Return a record whose lease was lost to the queue, or dead-letter a poison record."""
    if rescues + 1 > limit:
        reason = f"crashed the worker: its lease was lost {rescues + 1} times"
        tx.conn.execute(
            "UPDATE records SET state = 'dead', rescues = rescues + 1, lease_owner = NULL, "
            "lease_until = NULL, updated_at = ?, last_error = ? WHERE id = ?",
            (now, reason, rid),
        )
        tx.audit(now, "dead_lettered", rid, dossier_code, {"reason": "crashed_worker"})
        return
    tx.conn.execute(
        "UPDATE records SET state = 'queued', rescues = rescues + 1, uncertain = 1, "
        "lease_owner = NULL, lease_until = NULL, updated_at = ? WHERE id = ?",
        (now, rid),
    )
    tx.audit(now, event, rid, dossier_code, {"rescues": rescues + 1})


def _dead_where(where: DeadFilter) -> tuple[str, list[object]]:
    """SQL (qmark style, columns of ``records r``) selecting the dead letters ``where`` covers."""
    states = ("'dead', 'quarantined'") if where.include_quarantined else "'dead'"
    clauses, params = [f"r.state IN ({states})"], list[object]()
    if where.record_ids:
        clauses.append(f"r.id IN ({', '.join('?' * len(where.record_ids))})")
        params.extend(where.record_ids)
    if where.dossier_code:
        clauses.append("r.dossier_code = ?")
        params.append(where.dossier_code)
    if where.portal_code:
        clauses.append("r.portal_code = ?")
        params.append(where.portal_code)
    if where.since is not None:
        clauses.append("r.updated_at >= ?")
        params.append(where.since)
    return " AND ".join(clauses), params


def _duplicate(
    tx: _Tx, key: str, source: str, raw_digest: str, dossier_code: str, now: float
) -> Receipt | None:
    """The receipt for a record accepted before under the same idempotency key, if any."""
    row = tx.conn.execute("SELECT id FROM records WHERE event_key = ?", (key,)).fetchone()
    if row is None:
        return None
    tx.audit(
        now, "duplicate_ignored", row[0], dossier_code, {"source": source, "raw_digest": raw_digest}
    )
    return Receipt("duplicate", (row[0],))


class _Tx:
    """Helpers bound to one open transaction; audit entries go through the chain writer."""

    def __init__(self, conn: sqlite3.Connection, writer: ChainWriter) -> None:
        self.conn = conn
        self._writer = writer

    def audit(
        self,
        at: float,
        event: str,
        record_id: int | None,
        dossier_code: str,
        detail: dict[str, Any],
    ) -> None:
        self._writer.append(at, event, record_id, dossier_code, detail)

    def seal(self, at: float) -> bool:
        return self._writer.seal(at) is not None

    def insert_record(
        self, key: str, source: str, record: Record, state: State, now: float, error: str
    ) -> int:
        order_at = record.handled_at.timestamp() if isinstance(record, ProgressStep) else None
        cur = self.conn.execute(
            "INSERT INTO records (event_key, source, kind, dossier_code, agency_code, order_at,"
            " payload, state, attempts, next_attempt_at, accepted_at, updated_at, last_error,"
            " status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)",
            (
                key,
                source,
                str(record.kind),
                record.dossier_code,
                record.agency_code,
                order_at,
                json.dumps(record_to_json(record), ensure_ascii=False),
                str(state),
                now,
                now,
                now,
                mask_text(error) or None,  # a reason may quote the record
                int(record.status) if isinstance(record, Dossier) else None,
            ),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def set_state(self, record_id: int, state: State, now: float) -> None:
        self.conn.execute(
            "UPDATE records SET state = ?, lease_owner = NULL, lease_until = NULL, "
            "updated_at = ? WHERE id = ?",
            (str(state), now, record_id),
        )

    def next_token(self) -> int:
        row = self.conn.execute(
            "UPDATE meta SET value = value + 1 WHERE key = 'lease_token' RETURNING value"
        ).fetchone()
        return int(row[0])
