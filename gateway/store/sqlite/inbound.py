"""The inbound tables of the SQLite engine (:mod:`gateway.store.inbound`).

It runs on the store's one database thread, in the store's transactions, so its audit entries
join the same chain as the outbox's."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from gateway.canonical import record_from_json
from gateway.inbound.model import InboundDossier, audit_detail, dossier_to_json
from gateway.inbound.reports import report_payload
from gateway.model import Dossier, ProgressStep
from gateway.store.contract import Incoming, Receipt, Rejected, SourceCursor, State
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
    import sqlite3
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    from gateway.store.sqlite.rows import SqliteTx

    T = TypeVar("T")

    class SqliteStore(Protocol):
        """What this module uses of :class:`gateway.store.sqlite.store.SqliteStore`."""

        @property
        def conn(self) -> sqlite3.Connection: ...

        def _tx(self) -> AbstractContextManager[SqliteTx]: ...

        async def _run(self, fn: Callable[[], T]) -> T: ...


CLAIM_JOBS_SQL = """
SELECT j.id, j.dossier_code, j.target, j.payload, j.attempts, j.uncertain
FROM inbound_jobs j
WHERE j.kind = :kind AND j.state = 'queued' AND j.next_attempt_at <= :now
  AND NOT EXISTS (SELECT 1 FROM inbound_jobs o
                  WHERE o.dossier_code = j.dossier_code AND o.kind = j.kind
                    AND (o.state = 'leased' OR (o.state = 'queued' AND o.id < j.id)))
ORDER BY j.next_attempt_at, j.id
LIMIT :limit
"""


def insert_job(
    tx: SqliteTx, kind: JobKind, code: str, target: str, payload: dict[str, Any], now: float
) -> int:
    cur = tx.conn.execute(
        "INSERT INTO inbound_jobs (kind, dossier_code, target, payload, state, "
        "next_attempt_at, accepted_at, updated_at) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)",
        (str(kind), code, target, json.dumps(payload, ensure_ascii=False), now, now, now),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def divert_portal_hosted(
    tx: SqliteTx, items: Sequence[Incoming | Rejected], receipts: Sequence[Receipt], now: float
) -> int:
    """Inside the outbox's accept transaction: records of portal-hosted dossiers become
    ``report`` jobs instead of ``DongBoHoSoMC`` / ``CapNhatTienDoHoSoMC`` (the portal holds
    those dossiers already). A record quarantined because ``DongBoHoSoMC`` would refuse it
    is reported too (a report needs only a status and a time); one stored as superseded (its
    status would go backwards) is not. Return how many were diverted."""
    codes = {i.record.dossier_code for i in items if isinstance(i, Incoming)}
    if not codes:
        return 0
    marks = ", ".join("?" * len(codes))
    hosted = {
        row[0]
        for row in tx.conn.execute(
            f"SELECT dossier_code FROM inbound_dossiers WHERE dossier_code IN ({marks})",  # noqa: S608
            sorted(codes),
        )
    }
    diverted = 0
    for item, receipt in zip(items, receipts, strict=True):
        if not isinstance(item, Incoming) or item.record.dossier_code not in hosted:
            continue
        for rid in receipt.record_ids:
            row = tx.conn.execute(
                "SELECT payload FROM records WHERE id = ? AND state IN ('queued', 'quarantined') "
                "AND kind IN ('dossier', 'progress')",
                (rid,),
            ).fetchone()
            if row is None:
                continue
            record = record_from_json(json.loads(row[0]))
            assert isinstance(record, Dossier | ProgressStep)
            payload = report_payload(record)
            if payload is None:
                continue
            tx.set_state(rid, State.SUPERSEDED, now)
            job = insert_job(tx, JobKind.REPORT, record.dossier_code, "portal", payload, now)
            detail = {"job": job, "status": payload["status"], "kind": str(record.kind)}
            tx.audit(now, "status_report_queued", rid, record.dossier_code, detail)
            diverted += 1
    return diverted


def _receive(
    tx: SqliteTx, source: str, dossier: InboundDossier, digest: str, sink: str, now: float
) -> InboundReceipt:
    code = dossier.dossier_code
    known = tx.conn.execute(
        "SELECT digest FROM inbound_dossiers WHERE dossier_code = ?", (code,)
    ).fetchone()
    if known is not None:
        detail = {"source": source, "digest": digest, "same": known[0] == digest}
        tx.audit(now, "inbound_duplicate", None, code, detail)
        return InboundReceipt("duplicate")
    tx.conn.execute(
        "INSERT INTO inbound_dossiers (dossier_code, procedure_code, source, digest,"
        " payload, received_at) VALUES (?, ?, ?, ?, ?, ?)",
        (code, dossier.procedure_code, source, digest,
         json.dumps(dossier_to_json(dossier), ensure_ascii=False), now),
    )  # fmt: skip
    job = insert_job(tx, JobKind.DELIVER, code, sink, {"dossier_code": code}, now)
    detail = {"source": source, "job": job, "sink": sink, **audit_detail(dossier, digest)}
    tx.audit(now, "inbound_received", None, code, detail)
    return InboundReceipt("created", job)


def release_jobs_at_start(store: SqliteStore, now: float) -> None:
    """The process that held these leases is gone (this one holds the file lock)."""
    with store._tx() as tx:
        rows = tx.conn.execute(
            "UPDATE inbound_jobs SET state = 'queued', uncertain = 1, lease_owner = NULL, "
            "lease_until = NULL, updated_at = ? WHERE state = 'leased' "
            "RETURNING id, kind, dossier_code",
            (now,),
        ).fetchall()
        for jid, kind, code in sorted(rows):
            event = f"{EVENT_PREFIX[JobKind(kind)]}_lease_released_at_start"
            tx.audit(now, event, None, code, {"job": jid})


class SqliteInbound:
    """:class:`gateway.store.inbound.InboundStore` on a :class:`SqliteStore`."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    async def receive(
        self, source: str, dossier: InboundDossier, digest: str, *, sink: str, now: float
    ) -> InboundReceipt:
        def receive_sync() -> InboundReceipt:
            with self._store._tx() as tx:
                return _receive(tx, source, dossier, digest, sink, now)

        return await self._store._run(receive_sync)

    async def receive_batch(
        self,
        source: str,
        items: Sequence[tuple[InboundDossier, str]],
        *,
        sink: str,
        now: float,
        cursor: SourceCursor,
    ) -> list[InboundReceipt]:
        def receive_sync() -> list[InboundReceipt]:
            with self._store._tx() as tx:
                receipts = [_receive(tx, source, d, digest, sink, now) for d, digest in items]
                tx.conn.execute(
                    "INSERT INTO source_cursors (source, value, updated_at) VALUES (?, ?, ?)"
                    " ON CONFLICT(source) DO UPDATE SET value = excluded.value,"
                    " updated_at = excluded.updated_at",
                    (cursor.source, cursor.value, now),
                )
                return receipts

        return await self._store._run(receive_sync)

    async def is_portal_hosted(self, dossier_code: str) -> bool:
        def read() -> bool:
            row = self._store.conn.execute(
                "SELECT 1 FROM inbound_dossiers WHERE dossier_code = ?", (dossier_code,)
            ).fetchone()
            return row is not None

        return await self._store._run(read)

    async def claim_jobs(
        self, kind: JobKind, owner: str, limit: int, now: float, lease_s: float
    ) -> list[ClaimedJob]:
        def claim_sync() -> list[ClaimedJob]:
            with self._store._tx() as tx:
                rows = tx.conn.execute(
                    CLAIM_JOBS_SQL, {"kind": str(kind), "now": now, "limit": limit}
                ).fetchall()
                claimed = []
                for jid, code, target, payload, attempts, uncertain in rows:
                    token = tx._next_token()
                    tx.conn.execute(
                        "UPDATE inbound_jobs SET state = 'leased', lease_owner = ?, "
                        "lease_until = ?, lease_token = ?, updated_at = ? WHERE id = ?",
                        (owner, now + lease_s, token, now, jid),
                    )
                    body = json.loads(payload)
                    if kind is JobKind.DELIVER:
                        body = self._dossier_json(tx, code)
                    claimed.append(
                        ClaimedJob(jid, kind, code, target, body, attempts, token, bool(uncertain))
                    )
                return claimed

        return await self._store._run(claim_sync)

    @staticmethod
    def _dossier_json(tx: SqliteTx, code: str) -> dict[str, Any]:
        row = tx.conn.execute(
            "SELECT payload FROM inbound_dossiers WHERE dossier_code = ?", (code,)
        ).fetchone()
        value: dict[str, Any] = json.loads(row[0])
        return value

    async def complete_jobs(self, outcomes: list[JobOutcome]) -> int:
        def complete_sync() -> int:
            applied = 0
            with self._store._tx() as tx:
                for o in outcomes:
                    row = tx.conn.execute(
                        "SELECT kind, dossier_code, attempts FROM inbound_jobs "
                        "WHERE id = ? AND state = 'leased' AND lease_token = ?",
                        (o.job_id, o.lease_token),
                    ).fetchone()
                    if row is None:
                        continue  # the lease was lost: the newer holder decides
                    kind, code, attempts = row
                    state = "queued" if o.kind is JobOutcomeKind.RETRY else str(o.kind)
                    tx.conn.execute(
                        "UPDATE inbound_jobs SET state = ?, attempts = ?, next_attempt_at = ?, "
                        "updated_at = ?, lease_owner = NULL, lease_until = NULL, "
                        "last_error = ?, uncertain = MAX(uncertain, ?) WHERE id = ?",
                        (state, attempts + 1, o.next_attempt_at, o.at,
                         o.message or None, int(o.kind is JobOutcomeKind.RETRY), o.job_id),
                    )  # fmt: skip
                    event = f"{EVENT_PREFIX[JobKind(kind)]}_{o.kind}"
                    detail = {"job": o.job_id, "attempt": attempts + 1, **(o.detail or {})}
                    if o.message:
                        detail["message"] = o.message
                    tx.audit(o.at, event, None, code, detail)
                    applied += 1
            return applied

        return await self._store._run(complete_sync)

    async def release_expired_jobs(self, now: float) -> int:
        def release_sync() -> int:
            with self._store._tx() as tx:
                rows = tx.conn.execute(
                    "UPDATE inbound_jobs SET state = 'queued', uncertain = 1, lease_owner = NULL,"
                    " lease_until = NULL, updated_at = ? WHERE state = 'leased' AND lease_until < ?"
                    " RETURNING id, kind, dossier_code",
                    (now, now),
                ).fetchall()
                for jid, kind, code in sorted(rows):
                    event = f"{EVENT_PREFIX[JobKind(kind)]}_lease_expired"
                    tx.audit(now, event, None, code, {"job": jid})
                return len(rows)

        return await self._store._run(release_sync)

    async def replay_jobs(
        self, kind: JobKind, *, dossier_code: str = "", by: str, now: float
    ) -> list[int]:
        def replay_sync() -> list[int]:
            with self._store._tx() as tx:
                rows = tx.conn.execute(
                    "UPDATE inbound_jobs SET state = 'queued', attempts = 0, uncertain = 1, "
                    "next_attempt_at = ?, updated_at = ? WHERE kind = ? AND state = 'dead' "
                    "AND (? = '' OR dossier_code = ?) RETURNING id, dossier_code",
                    (now, now, str(kind), dossier_code, dossier_code),
                ).fetchall()
                for jid, code in sorted(rows):
                    tx.audit(now, f"{EVENT_PREFIX[kind]}_replayed", None, code,
                             {"job": jid, "by": by})  # fmt: skip
                return sorted(r[0] for r in rows)

        return await self._store._run(replay_sync)

    async def get_cursor(self, source: str) -> str | None:
        def read() -> str | None:
            row = self._store.conn.execute(
                "SELECT value FROM source_cursors WHERE source = ?", (source,)
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._store._run(read)

    async def jobs(self, kind: JobKind, *, state: str = "") -> list[JobRow]:
        def read() -> list[JobRow]:
            rows = self._store.conn.execute(
                "SELECT id, kind, dossier_code, state, attempts, COALESCE(last_error, '') "
                "FROM inbound_jobs WHERE kind = ? AND (? = '' OR state = ?) ORDER BY id",
                (str(kind), state, state),
            ).fetchall()
            return [JobRow(*r) for r in rows]

        return await self._store._run(read)

    async def next_job_due(self, kind: JobKind) -> float | None:
        def read() -> float | None:
            row = self._store.conn.execute(
                "SELECT MIN(next_attempt_at) FROM inbound_jobs WHERE kind = ? AND state = 'queued'",
                (str(kind),),
            ).fetchone()
            return None if row[0] is None else float(row[0])

        return await self._store._run(read)
