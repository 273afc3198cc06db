"""The inbound tables of the PostgreSQL engine (:mod:`gateway.store.inbound`).

Same rules as the SQLite engine's; several processes share the queue: a claim locks its
candidates with ``FOR UPDATE SKIP LOCKED``, and since a job is a candidate only when no
earlier job of its dossier and kind is queued or leased, two processes never lease two jobs
of one dossier (the second sees the first still queued, or leased)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from gateway.canonical import record_from_json
from gateway.inbound.model import InboundDossier, audit_detail, dossier_to_json
from gateway.inbound.reports import report_payload
from gateway.model import Dossier, ProgressStep
from gateway.store.contract import Incoming, Receipt, Rejected, SourceCursor
from gateway.store.inbound import (
    EVENT_PREFIX,
    ClaimedJob,
    InboundReceipt,
    JobKind,
    JobOutcome,
    JobOutcomeKind,
    JobRow,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from contextlib import AbstractAsyncContextManager

    from gateway.store.postgres.rows import PgTx

    T = TypeVar("T")

    class PostgresStore(Protocol):
        """What this module uses of :class:`gateway.store.postgres.store.PostgresStore`."""

        def _conn(self) -> AbstractAsyncContextManager[Any]: ...

        async def _write(self, work: Callable[[PgTx], Awaitable[T]]) -> T: ...


CLAIM_JOBS_SQL = """
SELECT j.id, j.dossier_code, j.target, j.payload, j.attempts, j.uncertain
FROM inbound_jobs j
WHERE j.kind = $1 AND j.state = 'queued' AND j.next_attempt_at <= $2
  AND NOT EXISTS (SELECT 1 FROM inbound_jobs o
                  WHERE o.dossier_code = j.dossier_code AND o.kind = j.kind
                    AND (o.state = 'leased' OR (o.state = 'queued' AND o.id < j.id)))
ORDER BY j.next_attempt_at, j.id
LIMIT $3
FOR UPDATE OF j SKIP LOCKED
"""


async def insert_job(
    tx: PgTx, kind: JobKind, code: str, target: str, payload: dict[str, Any], now: float
) -> int:
    job: int = await tx.conn.fetchval(
        "INSERT INTO inbound_jobs (kind, dossier_code, target, payload, state, "
        "next_attempt_at, accepted_at, updated_at) VALUES ($1, $2, $3, $4, 'queued', $5, $5, $5)"
        " RETURNING id",
        str(kind),
        code,
        target,
        json.dumps(payload, ensure_ascii=False),
        now,
    )
    return job


async def divert_portal_hosted(
    tx: PgTx, items: Sequence[Incoming | Rejected], receipts: Sequence[Receipt], now: float
) -> int:
    """As :func:`gateway.store.sqlite.inbound.divert_portal_hosted`, inside the outbox's
    accept transaction."""
    codes = sorted({i.record.dossier_code for i in items if isinstance(i, Incoming)})
    if not codes:
        return 0
    rows = await tx.conn.fetch(
        "SELECT dossier_code FROM inbound_dossiers WHERE dossier_code = ANY($1::text[])", codes
    )
    hosted = {r[0] for r in rows}
    diverted = 0
    for item, receipt in zip(items, receipts, strict=True):
        if not isinstance(item, Incoming) or item.record.dossier_code not in hosted:
            continue
        for rid in receipt.record_ids:
            payload_json = await tx.conn.fetchval(
                "SELECT payload FROM records WHERE id = $1 AND state IN ('queued', 'quarantined') "
                "AND kind IN ('dossier', 'progress')",
                rid,
            )
            if payload_json is None:
                continue
            record = record_from_json(json.loads(payload_json))
            assert isinstance(record, Dossier | ProgressStep)
            payload = report_payload(record)
            if payload is None:
                continue
            await tx.conn.execute(
                "UPDATE records SET state = 'superseded', lease_owner = NULL, lease_until = NULL,"
                " updated_at = $2 WHERE id = $1",
                rid,
                now,
            )
            job = await insert_job(tx, JobKind.REPORT, record.dossier_code, "portal", payload, now)
            detail = {"job": job, "status": payload["status"], "kind": str(record.kind)}
            tx.audit(now, "status_report_queued", rid, record.dossier_code, detail)
            diverted += 1
    return diverted


async def _receive(
    tx: PgTx, source: str, dossier: InboundDossier, digest: str, sink: str, now: float
) -> InboundReceipt:
    code = dossier.dossier_code
    inserted = await tx.conn.fetchval(
        "INSERT INTO inbound_dossiers (dossier_code, procedure_code, source, digest,"
        " payload, received_at) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (dossier_code) DO NOTHING RETURNING 1",
        code,
        dossier.procedure_code,
        source,
        digest,
        json.dumps(dossier_to_json(dossier), ensure_ascii=False),
        now,
    )
    if inserted is None:
        known = await tx.conn.fetchval(
            "SELECT digest FROM inbound_dossiers WHERE dossier_code = $1", code
        )
        detail = {"source": source, "digest": digest, "same": known == digest}
        tx.audit(now, "inbound_duplicate", None, code, detail)
        return InboundReceipt("duplicate")
    job = await insert_job(tx, JobKind.DELIVER, code, sink, {"dossier_code": code}, now)
    detail = {"source": source, "job": job, "sink": sink, **audit_detail(dossier, digest)}
    tx.audit(now, "inbound_received", None, code, detail)
    return InboundReceipt("created", job)


class PostgresInbound:
    """:class:`gateway.store.inbound.InboundStore` on a :class:`PostgresStore`."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    async def receive(
        self, source: str, dossier: InboundDossier, digest: str, *, sink: str, now: float
    ) -> InboundReceipt:
        return await self._store._write(lambda tx: _receive(tx, source, dossier, digest, sink, now))

    async def receive_batch(
        self,
        source: str,
        items: Sequence[tuple[InboundDossier, str]],
        *,
        sink: str,
        now: float,
        cursor: SourceCursor,
    ) -> list[InboundReceipt]:
        async def work(tx: PgTx) -> list[InboundReceipt]:
            receipts = [await _receive(tx, source, d, digest, sink, now) for d, digest in items]
            await tx.conn.execute(
                "INSERT INTO source_cursors (source, value, updated_at) VALUES ($1, $2, $3)"
                " ON CONFLICT (source) DO UPDATE SET value = excluded.value,"
                " updated_at = excluded.updated_at",
                cursor.source,
                cursor.value,
                now,
            )
            return receipts

        return await self._store._write(work)

    async def is_portal_hosted(self, dossier_code: str) -> bool:
        async with self._store._conn() as conn:
            found = await conn.fetchval(
                "SELECT 1 FROM inbound_dossiers WHERE dossier_code = $1", dossier_code
            )
        return found is not None

    async def claim_jobs(
        self, kind: JobKind, owner: str, limit: int, now: float, lease_s: float
    ) -> list[ClaimedJob]:
        async def work(tx: PgTx) -> list[ClaimedJob]:
            rows = await tx.conn.fetch(CLAIM_JOBS_SQL, str(kind), now, limit)
            claimed = []
            for jid, code, target, payload, attempts, uncertain in rows:
                token = await tx.conn.fetchval(
                    "UPDATE inbound_jobs SET state = 'leased', lease_owner = $1, "
                    "lease_until = $2, lease_token = nextval('lease_tokens'), updated_at = $3 "
                    "WHERE id = $4 RETURNING lease_token",
                    owner,
                    now + lease_s,
                    now,
                    jid,
                )
                body = json.loads(payload)
                if kind is JobKind.DELIVER:
                    body = json.loads(
                        await tx.conn.fetchval(
                            "SELECT payload FROM inbound_dossiers WHERE dossier_code = $1", code
                        )
                    )
                claimed.append(
                    ClaimedJob(jid, kind, code, target, body, attempts, token, uncertain)
                )
            return claimed

        return await self._store._write(work)

    async def complete_jobs(self, outcomes: list[JobOutcome]) -> int:
        async def work(tx: PgTx) -> int:
            applied = 0
            for o in sorted(outcomes, key=lambda o: o.job_id):
                row = await tx.conn.fetchrow(
                    "SELECT kind, dossier_code, attempts FROM inbound_jobs "
                    "WHERE id = $1 AND state = 'leased' AND lease_token = $2 FOR UPDATE",
                    o.job_id,
                    o.lease_token,
                )
                if row is None:
                    continue
                kind, code, attempts = row
                state = "queued" if o.kind is JobOutcomeKind.RETRY else str(o.kind)
                await tx.conn.execute(
                    "UPDATE inbound_jobs SET state = $1, attempts = $2, next_attempt_at = $3, "
                    "updated_at = $4, lease_owner = NULL, lease_until = NULL, last_error = $5, "
                    "uncertain = uncertain OR $6 WHERE id = $7",
                    state,
                    attempts + 1,
                    o.next_attempt_at,
                    o.at,
                    o.message or None,
                    o.kind is JobOutcomeKind.RETRY,
                    o.job_id,
                )
                detail = {"job": o.job_id, "attempt": attempts + 1, **(o.detail or {})}
                if o.message:
                    detail["message"] = o.message
                tx.audit(o.at, f"{EVENT_PREFIX[JobKind(kind)]}_{o.kind}", None, code, detail)
                applied += 1
            return applied

        return await self._store._write(work)

    async def release_expired_jobs(self, now: float) -> int:
        async def work(tx: PgTx) -> int:
            rows = await tx.conn.fetch(
                "UPDATE inbound_jobs SET state = 'queued', uncertain = TRUE, lease_owner = NULL,"
                " lease_until = NULL, updated_at = $1 WHERE id IN (SELECT id FROM inbound_jobs"
                " WHERE state = 'leased' AND lease_until < $1 ORDER BY id FOR UPDATE SKIP LOCKED)"
                " RETURNING id, kind, dossier_code",
                now,
            )
            for jid, kind, code in sorted(rows):
                event = f"{EVENT_PREFIX[JobKind(kind)]}_lease_expired"
                tx.audit(now, event, None, code, {"job": jid})
            return len(rows)

        return await self._store._write(work)

    async def replay_jobs(
        self, kind: JobKind, *, dossier_code: str = "", by: str, now: float
    ) -> list[int]:
        async def work(tx: PgTx) -> list[int]:
            rows = await tx.conn.fetch(
                "UPDATE inbound_jobs SET state = 'queued', attempts = 0, uncertain = TRUE, "
                "next_attempt_at = $1, updated_at = $1 WHERE kind = $2 AND state = 'dead' "
                "AND ($3 = '' OR dossier_code = $3) RETURNING id, dossier_code",
                now,
                str(kind),
                dossier_code,
            )
            for jid, code in sorted(rows):
                tx.audit(now, f"{EVENT_PREFIX[kind]}_replayed", None, code,
                         {"job": jid, "by": by})  # fmt: skip
            return sorted(r[0] for r in rows)

        return await self._store._write(work)

    async def get_cursor(self, source: str) -> str | None:
        async with self._store._conn() as conn:
            value = await conn.fetchval(
                "SELECT value FROM source_cursors WHERE source = $1", source
            )
        return None if value is None else str(value)

    async def jobs(self, kind: JobKind, *, state: str = "") -> list[JobRow]:
        async with self._store._conn() as conn:
            rows = await conn.fetch(
                "SELECT id, kind, dossier_code, state, attempts, COALESCE(last_error, '') "
                "FROM inbound_jobs WHERE kind = $1 AND ($2 = '' OR state = $2) ORDER BY id",
                str(kind),
                state,
            )
        return [JobRow(*r) for r in rows]

    async def next_job_due(self, kind: JobKind) -> float | None:
        async with self._store._conn() as conn:
            value = await conn.fetchval(
                "SELECT MIN(next_attempt_at) FROM inbound_jobs WHERE kind = $1 "
                "AND state = 'queued'",
                str(kind),
            )
        return None if value is None else float(value)
