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
  (:mod:`gateway.audit`), so the chain never forks.
- **Wake-ups**: accepting or replaying records sends ``NOTIFY dvc_gateway_queued``;
  :meth:`PostgresStore.listen` turns it into a call (the worker's ``wake``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from gateway.audit import AuditEntry, canonical_bytes, chain_hash
from gateway.canonical import record_from_json, record_to_json
from gateway.errors import StoreError, TranslationError
from gateway.model import Dossier, ProgressStep, Record, Result, apply_result
from gateway.store import pg_schema
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
from gateway.store.outcomes import (
    EVENT_OF,
    STATE_OF,
    outcome_detail,
    stale_reason,
)
from gateway.store.sqlite import record_key

CHANNEL = "dvc_gateway_queued"

_CLAIM_SQL = """
SELECT r.id, r.payload, r.attempts, r.dossier_code, d.on_portal, r.uncertain
FROM records r JOIN dossiers d ON d.dossier_code = r.dossier_code
WHERE r.state = 'queued' AND r.next_attempt_at <= $1 AND d.in_flight IS NULL
  AND (r.kind = 'dossier' OR (
        d.on_portal
        AND NOT EXISTS (SELECT 1 FROM records o
                        WHERE o.dossier_code = r.dossier_code AND o.kind = 'dossier'
                          AND o.state = 'queued' AND o.id < r.id)
        AND NOT EXISTS (SELECT 1 FROM records p
                        WHERE p.dossier_code = r.dossier_code AND p.kind = 'progress'
                          AND p.state = 'queued'
                          AND (p.order_at < r.order_at
                               OR (p.order_at = r.order_at AND p.id < r.id)))))
ORDER BY r.next_attempt_at, r.id
LIMIT $2
"""

_DEAD_COLUMNS = (
    "SELECT r.id, r.state, r.kind, r.dossier_code, r.agency_code, r.attempts, "
    "r.updated_at, r.portal_code, COALESCE(r.last_error, ''), r.payload FROM records r"
)
_DEAD_CODES = "SELECT DISTINCT r.dossier_code FROM records r"
_REPLAY_COLUMNS = (
    "SELECT r.id, r.kind, r.dossier_code, r.state, d.latest_snapshot_id "
    "FROM records r LEFT JOIN dossiers d ON d.dossier_code = r.dossier_code"
)


class PostgresStore:
    """:class:`~gateway.store.contract.Store` on PostgreSQL (asyncpg)."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        self._listener: Any = None

    @classmethod
    async def open(cls, dsn: str, *, now: float, max_connections: int = 8) -> PostgresStore:
        """Connect, apply missing migrations. Leases of dead processes expire on their own
        (``release_expired``): live processes may share the database, so none is released
        at start."""
        del now  # the contract's signature; nothing here depends on the time
        try:
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=max_connections)
            async with pool.acquire() as conn:
                await pg_schema.migrate(conn)
        except (OSError, asyncpg.PostgresError) as exc:
            raise StoreError(f"postgresql: {exc}") from exc
        return cls(pool)

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        await self._pool.close()

    async def listen(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever any process queues records (LISTEN/NOTIFY)."""
        self._listener = await self._pool.acquire()  # held until close

        def on_notify(*_: object) -> None:
            callback()

        await self._listener.add_listener(CHANNEL, on_notify)

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[_PgTx]:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                tx = _PgTx(conn)
                yield tx
                await tx.flush_audit()
        except asyncpg.PostgresError as exc:
            raise StoreError(f"postgresql: {exc}") from exc

    # -- intake -----------------------------------------------------------------------------

    async def accept(
        self,
        items: Sequence[Incoming | Rejected],
        *,
        now: float,
        validate: Validate,
        cursor: SourceCursor | None = None,
    ) -> list[Receipt]:
        async with self._tx() as tx:
            incoming = [i.record for i in items if isinstance(i, Incoming)]
            await tx.lock_dossiers({r.dossier_code: r.agency_code for r in incoming})
            await tx.prefetch([record_key(r) for r in incoming], [r.dossier_code for r in incoming])
            receipts = [await self._accept_one(tx, item, now, validate) for item in items]
            if cursor is not None:
                await tx.conn.execute(
                    "INSERT INTO source_cursors (source, value, updated_at) VALUES ($1, $2, $3)"
                    " ON CONFLICT (source) DO UPDATE SET value = excluded.value,"
                    " updated_at = excluded.updated_at",
                    cursor.source,
                    cursor.value,
                    now,
                )
            if any(r.status == "accepted" for r in receipts):
                await tx.conn.execute(f"NOTIFY {CHANNEL}")
            return receipts

    async def get_cursor(self, source: str) -> str | None:
        async with self._pool.acquire() as conn:
            value = await conn.fetchval(
                "SELECT value FROM source_cursors WHERE source = $1", source
            )
        return None if value is None else str(value)

    async def _accept_one(
        self, tx: _PgTx, item: Incoming | Rejected, now: float, validate: Validate
    ) -> Receipt:
        if isinstance(item, Rejected):
            detail = {"source": item.source, "raw_digest": item.raw_digest, "reason": item.reason}
            tx.audit(now, "intake_rejected", None, "", detail)
            return Receipt("rejected", (), item.reason)
        record = item.record
        key = record_key(record)
        duplicate = await tx.duplicate(key, item.source, item.raw_digest, record.dossier_code, now)
        if duplicate:
            return duplicate
        if isinstance(record, Result):
            return await self._accept_result(tx, item, key, now, validate)
        return await self._insert(tx, item.source, item.raw_digest, record, key, now, validate)

    async def _accept_result(
        self, tx: _PgTx, item: Incoming, key: str, now: float, validate: Validate
    ) -> Receipt:
        result = item.record
        assert isinstance(result, Result)
        payload = await tx.conn.fetchval(
            "SELECT r.payload FROM dossiers d JOIN records r ON r.id = d.latest_snapshot_id "
            "WHERE d.dossier_code = $1",
            result.dossier_code,
        )
        if payload is None:
            reason = "$.dossier_code: no dossier snapshot with this code was accepted before"
            rid = await tx.insert_record(key, item.source, result, State.QUARANTINED, now, reason)
            detail = {"source": item.source, "raw_digest": item.raw_digest, "reason": reason}
            tx.audit(now, "quarantined", rid, result.dossier_code, detail)
            return Receipt("quarantined", (rid,), reason)
        snapshot = record_from_json(json.loads(payload))
        assert isinstance(snapshot, Dossier)
        update, step = apply_result(snapshot, result)
        first = await self._insert(tx, item.source, item.raw_digest, update, key, now, validate)
        second = await self._insert(
            tx, item.source, item.raw_digest, step, record_key(step), now, validate
        )
        status = "quarantined" if "quarantined" in (first.status, second.status) else "accepted"
        return Receipt(status, first.record_ids + second.record_ids, first.reason or second.reason)

    async def _insert(
        self,
        tx: _PgTx,
        source: str,
        raw_digest: str,
        record: Dossier | ProgressStep,
        key: str,
        now: float,
        validate: Validate,
    ) -> Receipt:
        code = record.dossier_code
        duplicate = await tx.duplicate(key, source, raw_digest, code, now)
        if duplicate:
            return duplicate
        base = {"source": source, "raw_digest": raw_digest}
        try:
            validate(record)
        except TranslationError as exc:
            reason = str(exc)
            rid = await tx.insert_record(key, source, record, State.QUARANTINED, now, reason)
            tx.audit(now, "quarantined", rid, code, {**base, "reason": reason})
            return Receipt("quarantined", (rid,), reason)
        detail = {**base, "kind": str(record.kind), "status": record.status.value}
        if not isinstance(record, Dossier):
            rid = await tx.insert_record(key, source, record, State.QUEUED, now, "")
            tx.audit(now, "received", rid, code, detail)
            tx.audit(now, "queued", rid, code, {})
            return Receipt("accepted", (rid,))
        stale = stale_reason(await tx.latest_status(code), record.status)
        if stale is not None:
            rid = await tx.insert_record(key, source, record, State.SUPERSEDED, now, stale)
            tx.audit(now, "superseded", rid, code, {**base, "reason": "status_backwards"})
            return Receipt("accepted", (rid,), stale)
        rid, older = await tx.insert_snapshot(key, source, record, now)
        tx.audit(now, "received", rid, code, detail)
        for old in older:
            tx.audit(now, "superseded", old, code, {"by": rid})
        tx.audit(now, "queued", rid, code, {})
        return Receipt("accepted", (rid,))

    # -- delivery ---------------------------------------------------------------------------

    async def claim(self, owner: str, limit: int, now: float, lease_s: float) -> list[Claimed]:
        async with self._tx() as tx:
            rows = await tx.conn.fetch(_CLAIM_SQL, now, limit * 2)
            first: dict[str, Any] = {}
            for row in rows:
                first.setdefault(row[3], row)
            if not first:
                return []
            locked = await tx.conn.fetch(
                "SELECT dossier_code FROM dossiers WHERE dossier_code = ANY($1::text[]) "
                "AND in_flight IS NULL ORDER BY dossier_code FOR UPDATE SKIP LOCKED",
                list(first),
            )
            free = {str(row[0]) for row in locked}
            picked = [row for code, row in first.items() if code in free][:limit]
            if not picked:
                return []
            leased = await tx.conn.fetch(
                "UPDATE records SET state = 'leased', lease_owner = $1, lease_until = $2, "
                "lease_token = nextval('lease_tokens'), updated_at = $3 "
                "WHERE id = ANY($4::bigint[]) AND state = 'queued' AND next_attempt_at <= $3 "
                "RETURNING id, lease_token",
                owner,
                now + lease_s,
                now,
                [row[0] for row in picked],
            )
            tokens = {int(r[0]): int(r[1]) for r in leased}
            claimed = []
            for rid, payload, attempts, code, on_portal, uncertain in picked:
                if rid not in tokens:
                    continue  # taken and finished by another process since our snapshot
                token = tokens[rid]
                detail = {"owner": owner, "token": token, "attempt": attempts + 1}
                tx.audit(now, "leased", rid, code, detail)
                record = record_from_json(json.loads(payload))
                assert isinstance(record, Dossier | ProgressStep)
                claimed.append(Claimed(rid, record, attempts, token, on_portal, uncertain))
            await tx.conn.execute(
                "UPDATE dossiers d SET in_flight = x.id FROM "
                "unnest($1::bigint[], $2::text[]) AS x(id, code) WHERE d.dossier_code = x.code",
                [c.record_id for c in claimed],
                [c.record.dossier_code for c in claimed],
            )
            return claimed

    async def complete(self, outcomes: Sequence[Outcome]) -> int:
        if not outcomes:
            return 0
        async with self._tx() as tx:
            rows = await tx.conn.fetch(
                "SELECT DISTINCT dossier_code FROM records WHERE id = ANY($1::bigint[])",
                [o.record_id for o in outcomes],
            )
            await tx.lock_dossiers({row[0]: "" for row in rows}, create=False)
            held = await tx.conn.fetch(
                "SELECT r.id, r.kind, r.dossier_code, r.attempts FROM records r "
                "JOIN unnest($1::bigint[], $2::bigint[]) AS o(id, token) "
                "ON r.id = o.id AND r.lease_token = o.token WHERE r.state = 'leased'",
                [o.record_id for o in outcomes],
                [o.lease_token for o in outcomes],
            )
            # A lease that was lost (expired and taken over): the newer holder decides.
            current = {int(r[0]): (str(r[1]), str(r[2]), int(r[3])) for r in held}
            applied = [o for o in outcomes if o.record_id in current]
            if applied:
                await self._apply(tx, applied, current)
            return len(applied)

    async def _apply(
        self, tx: _PgTx, outcomes: list[Outcome], current: dict[int, tuple[str, str, int]]
    ) -> None:
        """Apply outcomes whose lease is held, a few statements for the whole list."""
        await tx.conn.execute(
            "UPDATE dossiers d SET on_portal = d.on_portal OR x.delivered, in_flight = "
            "CASE WHEN d.in_flight = x.id THEN NULL ELSE d.in_flight END "
            "FROM unnest($1::text[], $2::bigint[], $3::boolean[]) AS x(code, id, delivered) "
            "WHERE d.dossier_code = x.code",
            [current[o.record_id][1] for o in outcomes],
            [o.record_id for o in outcomes],
            [
                o.kind is OutcomeKind.DELIVERED and current[o.record_id][0] == "dossier"
                for o in outcomes
            ],
        )
        deferred = [o for o in outcomes if o.kind is OutcomeKind.DEFERRED]
        if deferred:
            await tx.conn.executemany(
                "UPDATE records SET state = 'queued', next_attempt_at = $2, updated_at = $3, "
                "lease_owner = NULL, lease_until = NULL WHERE id = $1",
                [(o.record_id, o.next_attempt_at, o.at) for o in deferred],
            )
        tried = [o for o in outcomes if o.kind is not OutcomeKind.DEFERRED]
        if tried:
            await tx.conn.copy_records_to_table(
                "attempts",
                records=[
                    (
                        o.record_id,
                        current[o.record_id][2] + 1,
                        o.at,
                        o.route,
                        str(o.kind),
                        o.http_status,
                        o.portal_code,
                        o.message,
                        o.latency_ms,
                    )
                    for o in tried
                ],
                columns=[
                    "record_id",
                    "attempt",
                    "finished_at",
                    "route",
                    "outcome",
                    "http_status",
                    "portal_code",
                    "message",
                    "latency_ms",
                ],
            )
            await tx.conn.executemany(
                "UPDATE records SET state = $2, attempts = $3, next_attempt_at = $4,"
                " updated_at = $5, lease_owner = NULL, lease_until = NULL, last_error = $6,"
                " portal_code = $7, uncertain = uncertain OR $8 WHERE id = $1",
                [
                    (
                        o.record_id,
                        str(STATE_OF[o.kind]),
                        current[o.record_id][2] + 1,
                        o.next_attempt_at if o.kind is OutcomeKind.RETRY else 0.0,
                        o.at,
                        o.message if o.kind is not OutcomeKind.DELIVERED else None,
                        o.portal_code,
                        o.kind is OutcomeKind.RETRY,
                    )
                    for o in tried
                ],
            )
        for o in outcomes:
            code, attempt = current[o.record_id][1], current[o.record_id][2] + 1
            if o.kind is OutcomeKind.DEFERRED:
                deferred_detail = {
                    "reason": o.message,
                    "next_attempt_at": round(o.next_attempt_at, 3),
                }
                tx.audit(o.at, "deferred", o.record_id, code, deferred_detail)
            else:
                tx.audit(o.at, EVENT_OF[o.kind], o.record_id, code, outcome_detail(o, attempt))

    async def heartbeat(self, owner: str, tokens: Sequence[int], now: float, lease_s: float) -> int:
        async with self._pool.acquire() as conn:
            status = await conn.execute(
                "UPDATE records SET lease_until = $1 WHERE state = 'leased' "
                "AND lease_owner = $2 AND lease_token = ANY($3::bigint[])",
                now + lease_s,
                owner,
                list(tokens),
            )
        return int(status.split()[-1])

    async def release_expired(self, now: float, *, max_rescues: int = 5) -> int:
        async with self._tx() as tx:
            rows = await tx.conn.fetch(
                "SELECT dossier_code FROM records WHERE state = 'leased' AND lease_until < $1",
                now,
            )
            if not rows:
                return 0
            await tx.lock_dossiers({row[0]: "" for row in rows}, create=False)
            expired = await tx.conn.fetch(
                "SELECT id, dossier_code, rescues FROM records "
                "WHERE state = 'leased' AND lease_until < $1 ORDER BY id",
                now,
            )
            for rid, code, rescues in expired:
                await tx.conn.execute(
                    "UPDATE dossiers SET in_flight = NULL "
                    "WHERE dossier_code = $1 AND in_flight = $2",
                    code,
                    rid,
                )
                if rescues + 1 > max_rescues:
                    reason = f"crashed the worker: its lease was lost {rescues + 1} times"
                    await tx.conn.execute(
                        "UPDATE records SET state = 'dead', rescues = rescues + 1, "
                        "lease_owner = NULL, lease_until = NULL, updated_at = $2, last_error = $3 "
                        "WHERE id = $1",
                        rid,
                        now,
                        reason,
                    )
                    tx.audit(now, "dead_lettered", rid, code, {"reason": "crashed_worker"})
                    continue
                await tx.conn.execute(
                    "UPDATE records SET state = 'queued', rescues = rescues + 1, uncertain = TRUE,"
                    " lease_owner = NULL, lease_until = NULL, updated_at = $2 WHERE id = $1",
                    rid,
                    now,
                )
                tx.audit(now, "lease_expired", rid, code, {"rescues": rescues + 1})
            return len(expired)

    # -- dead letters -----------------------------------------------------------------------

    async def dead_letters(self, where: DeadFilter, *, limit: int = 1000) -> list[DeadLetter]:
        sql, params = _dead_where(where)
        query = f"{_DEAD_COLUMNS} WHERE {sql} ORDER BY r.updated_at, r.id LIMIT ${len(params) + 1}"
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(query, *params, limit)
        return [DeadLetter(*row) for row in rows]

    async def replay(self, where: DeadFilter, *, by: str, now: float) -> list[int]:
        sql, params = _dead_where(where)
        async with self._tx() as tx:
            codes = await tx.conn.fetch(f"{_DEAD_CODES} WHERE {sql}", *params)
            await tx.lock_dossiers({row[0]: "" for row in codes}, create=False)
            rows = await tx.conn.fetch(f"{_REPLAY_COLUMNS} WHERE {sql} ORDER BY r.id", *params)
            queued = []
            for rid, kind, code, state, latest in rows:
                detail = {"by": by, "from_state": state}
                if kind == "dossier" and latest != rid:
                    await tx.conn.execute(
                        "UPDATE records SET state = 'superseded', updated_at = $2 WHERE id = $1",
                        rid,
                        now,
                    )
                    tx.audit(now, "replay_superseded", rid, code, {**detail, "by_id": latest})
                    continue
                await tx.conn.execute(
                    "UPDATE records SET state = 'queued', attempts = 0, rescues = 0, "
                    "next_attempt_at = $2, updated_at = $2, uncertain = TRUE WHERE id = $1",
                    rid,
                    now,
                )
                tx.audit(now, "replayed", rid, code, detail)
                queued.append(int(rid))
            if queued:
                await tx.conn.execute(f"NOTIFY {CHANNEL}")
            return queued

    async def note(self, event: str, detail: dict[str, Any], now: float) -> None:
        async with self._tx() as tx:
            tx.audit(now, event, None, "", detail)

    async def audit_system(self, event: str, detail: dict[str, Any], *, now: float) -> None:
        """Audit a change that belongs to no record (configuration loaded or reloaded)."""
        await self.note(event, detail, now)

    async def seal_audit(self, now: float) -> bool:
        """Signed checkpoints are written by the SQLite engine only so far: the PostgreSQL
        chain is hash-linked and verifiable, but not yet signed (see README)."""
        return False

    # -- reading ----------------------------------------------------------------------------

    async def next_due(self) -> float | None:
        async with self._pool.acquire() as conn:
            value = await conn.fetchval(
                "SELECT MIN(next_attempt_at) FROM records WHERE state = 'queued'"
            )
        return None if value is None else float(value)

    async def counts(self) -> dict[str, int]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch("SELECT state, COUNT(*) FROM records GROUP BY state")
        found = {str(s): 0 for s in State}
        found.update({str(r[0]): int(r[1]) for r in rows})
        return found

    async def audit_entries(self) -> list[AuditEntry]:
        """Every audit entry in order (for verification and tests)."""
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT seq, at, event, record_id, dossier_code, detail, prev_hash, hash "
                "FROM audit ORDER BY seq"
            )
        return [
            AuditEntry(seq, at, event, rid, code, json.loads(detail), prev, h)
            for seq, at, event, rid, code, detail, prev, h in rows
        ]

    async def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """A read-only query (``$1`` placeholders), for operator commands and tests."""
        async with self._pool.acquire() as conn:
            return [tuple(row) for row in await conn.fetch(sql, *params)]


def _dead_where(where: DeadFilter) -> tuple[str, list[object]]:
    """SQL (``$n`` placeholders, columns of ``records r``) for the dead letters ``where`` covers."""
    states = ["dead", "quarantined"] if where.include_quarantined else ["dead"]
    params: list[object] = [states]
    clauses = ["r.state = ANY($1::text[])"]
    if where.record_ids:
        params.append(list(where.record_ids))
        clauses.append(f"r.id = ANY(${len(params)}::bigint[])")
    if where.dossier_code:
        params.append(where.dossier_code)
        clauses.append(f"r.dossier_code = ${len(params)}")
    if where.portal_code:
        params.append(where.portal_code)
        clauses.append(f"r.portal_code = ${len(params)}")
    if where.since is not None:
        params.append(where.since)
        clauses.append(f"r.updated_at >= ${len(params)}")
    return " AND ".join(clauses), params


class _PgTx:
    """One open transaction: row helpers, and the audit entries it will append at the end."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._pending: list[tuple[float, str, int | None, str, dict[str, Any]]] = []
        self._keys: dict[str, int] = {}
        self._absent: set[str] = set()
        self._status: dict[str, int | None] = {}

    def audit(
        self, at: float, event: str, record_id: int | None, code: str, detail: dict[str, Any]
    ) -> None:
        self._pending.append((at, event, record_id, code, detail))

    async def flush_audit(self) -> None:
        """Append the pending entries to the chain under the head row's lock (taken last)."""
        if not self._pending:
            return
        seq, prev = await self.conn.fetchrow("SELECT seq, hash FROM audit_head FOR UPDATE")
        rows = []
        for at, event, record_id, code, detail in self._pending:
            seq += 1
            payload = canonical_bytes(seq, at, event, record_id, code, detail)
            digest = chain_hash(prev, payload)
            text = json.dumps(detail, sort_keys=True, ensure_ascii=False)
            rows.append((seq, round(at, 6), event, record_id, code, text, prev, digest))
            prev = digest
        await self.conn.copy_records_to_table(
            "audit",
            records=rows,
            columns=[
                "seq",
                "at",
                "event",
                "record_id",
                "dossier_code",
                "detail",
                "prev_hash",
                "hash",
            ],
        )
        await self.conn.execute("UPDATE audit_head SET seq = $1, hash = $2", seq, prev)
        self._pending.clear()

    async def lock_dossiers(self, agencies: dict[str, str], *, create: bool = True) -> None:
        """Lock these dossiers' rows in code order (creating missing ones when ``create``)."""
        codes = sorted(agencies)
        if not codes:
            return
        if create:
            await self.conn.execute(
                "INSERT INTO dossiers (dossier_code, agency_code) "
                "SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
                codes,
                [agencies[c] for c in codes],
            )
        await self.conn.execute(
            "SELECT 1 FROM dossiers WHERE dossier_code = ANY($1::text[]) "
            "ORDER BY dossier_code FOR UPDATE",
            codes,
        )

    async def prefetch(self, keys: list[str], codes: list[str]) -> None:
        """Read once, for a whole accepted batch, which keys exist and each dossier's latest
        status (the dossier rows are locked, so nobody else changes them meanwhile)."""
        rows = await self.conn.fetch(
            "SELECT event_key, id FROM records WHERE event_key = ANY($1::text[])", keys
        )
        self._keys = {str(k): int(i) for k, i in rows}
        self._absent = set(keys) - set(self._keys)
        rows = await self.conn.fetch(
            "SELECT d.dossier_code, r.status FROM dossiers d "
            "LEFT JOIN records r ON r.id = d.latest_snapshot_id "
            "WHERE d.dossier_code = ANY($1::text[])",
            sorted(set(codes)),
        )
        self._status = {str(c): s for c, s in rows}

    async def latest_status(self, code: str) -> int | None:
        if code in self._status:
            return self._status[code]
        value = await self.conn.fetchval(
            "SELECT r.status FROM dossiers d JOIN records r ON r.id = d.latest_snapshot_id "
            "WHERE d.dossier_code = $1",
            code,
        )
        return None if value is None else int(value)

    async def insert_snapshot(
        self, key: str, source: str, record: Dossier, now: float
    ) -> tuple[int, list[int]]:
        """Insert a queued snapshot, supersede the older queued ones and make it the
        dossier's latest, in one statement; return its id and the superseded ids."""
        row = await self.conn.fetchrow(
            "WITH ins AS (INSERT INTO records (event_key, source, kind, dossier_code,"
            " agency_code, payload, state, next_attempt_at, accepted_at, updated_at, status)"
            " VALUES ($1, $2, 'dossier', $3, $4, $5, 'queued', $6, $6, $6, $7) RETURNING id),"
            " sup AS (UPDATE records SET state = 'superseded', updated_at = $6"
            " WHERE dossier_code = $3 AND kind = 'dossier' AND state = 'queued' RETURNING id),"
            " dos AS (UPDATE dossiers SET latest_snapshot_id = (SELECT id FROM ins),"
            " agency_code = $4 WHERE dossier_code = $3)"
            " SELECT (SELECT id FROM ins), ARRAY(SELECT id FROM sup ORDER BY id)",
            key,
            source,
            record.dossier_code,
            record.agency_code,
            json.dumps(record_to_json(record), ensure_ascii=False),
            now,
            int(record.status),
        )
        rid = int(row[0])
        self._keys[key] = rid
        self._status[record.dossier_code] = int(record.status)
        return rid, [int(i) for i in row[1]]

    async def duplicate(
        self, key: str, source: str, raw_digest: str, code: str, now: float
    ) -> Receipt | None:
        if key in self._keys:
            rid: int | None = self._keys[key]
        elif key in self._absent:
            rid = None
        else:
            rid = await self.conn.fetchval("SELECT id FROM records WHERE event_key = $1", key)
        if rid is None:
            return None
        self.audit(
            now, "duplicate_ignored", rid, code, {"source": source, "raw_digest": raw_digest}
        )
        return Receipt("duplicate", (int(rid),))

    async def insert_record(
        self, key: str, source: str, record: Record, state: State, now: float, error: str
    ) -> int:
        order_at = record.handled_at.timestamp() if isinstance(record, ProgressStep) else None
        rid = await self.conn.fetchval(
            "INSERT INTO records (event_key, source, kind, dossier_code, agency_code, order_at,"
            " payload, state, next_attempt_at, accepted_at, updated_at, last_error, status)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $9, $10, $11) RETURNING id",
            key,
            source,
            str(record.kind),
            record.dossier_code,
            record.agency_code,
            order_at,
            json.dumps(record_to_json(record), ensure_ascii=False),
            str(state),
            now,
            error or None,
            int(record.status) if isinstance(record, Dossier) else None,
        )
        self._keys[key] = int(rid)
        return int(rid)
