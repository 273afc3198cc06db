"""Row-level work of the PostgreSQL engine, inside one open transaction (see
:mod:`gateway.store.postgres.store`): the audit chain, dossier locks, intake and replays
(delivery is in :mod:`gateway.store.postgres.delivery`).

Every method works on whole lists with a few statements (``unnest`` of arrays, ``COPY``), so
a batch costs a handful of round trips whatever its size.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gateway.audit.chain import AuditEntry, AuditPolicy, ChainHead, ChainWriter
from gateway.audit.keys import Checkpoint
from gateway.model import Result
from gateway.store.accepting import (
    ROW_COLUMNS,
    AcceptPlan,
    DossierFacts,
    plan_accept,
    record_key,
)
from gateway.store.contract import (
    DeadFilter,
    Incoming,
    Receipt,
    Rejected,
    Validate,
)

CHANNEL = "dvc_gateway_queued"


DEAD_COLUMNS = (
    "SELECT r.id, r.state, r.kind, r.dossier_code, r.agency_code, r.attempts, "
    "r.updated_at, r.portal_code, COALESCE(r.last_error, ''), r.payload FROM records r"
)
_DEAD_CODES = "SELECT DISTINCT r.dossier_code FROM records r"
_REPLAY_COLUMNS = (
    "SELECT r.id, r.kind, r.dossier_code, r.state, d.latest_snapshot_id "
    "FROM records r LEFT JOIN dossiers d ON d.dossier_code = r.dossier_code"
)
_RECORD_COLUMNS = ["id", *ROW_COLUMNS]
_AUDIT_COLUMNS = ["seq", "at", "event", "record_id", "dossier_code", "detail", "prev_hash", "hash"]
_CHECKPOINT_COLUMNS = ["seq", "at", "hash", "key_id", "signature"]


class _Collected:
    """The :class:`~gateway.audit.chain.AuditSink` of one flush: rows to COPY in one go."""

    def __init__(self) -> None:
        self.entries: list[tuple[Any, ...]] = []
        self.checkpoints: list[tuple[Any, ...]] = []

    def write_entry(self, entry: AuditEntry) -> None:
        detail = json.dumps(entry.detail, sort_keys=True, ensure_ascii=False)
        self.entries.append(
            (
                entry.seq,
                entry.at,
                entry.event,
                entry.record_id,
                entry.dossier_code,
                detail,
                entry.prev_hash,
                entry.hash,
            )
        )

    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        self.checkpoints.append(
            (
                checkpoint.seq,
                checkpoint.at,
                checkpoint.hash,
                checkpoint.key_id,
                checkpoint.signature,
            )
        )


class PgTx:
    """One open transaction: list-wide row work, and the audit entries it appends at the end.

    Entries wait in memory until :meth:`flush_audit`, which takes the chain's head row last
    (so processes append to one chain, and hold its lock only for the time of one COPY) and
    runs them through the same :class:`~gateway.audit.chain.ChainWriter` as SQLite: masking,
    hashing, and signed checkpoints by the same policy."""

    def __init__(self, conn: Any, policy: AuditPolicy) -> None:
        self.conn = conn
        self._policy = policy
        self._pending: list[tuple[float, str, int | None, str, dict[str, Any]]] = []
        self._seal_at: float | None = None
        self.sealed = False
        """Whether :meth:`seal` signed a checkpoint."""
        self.writer: ChainWriter | None = None

    def audit(
        self, at: float, event: str, record_id: int | None, code: str, detail: dict[str, Any]
    ) -> None:
        self._pending.append((at, event, record_id, code, detail))

    def seal(self, at: float) -> None:
        """Sign the head at the end of this transaction if its newest entries are unsigned."""
        self._seal_at = at

    async def flush_audit(self) -> None:
        """Append the pending entries to the chain under the head row's lock (taken last)."""
        if not self._pending and self._seal_at is None:
            return
        row = await self.conn.fetchrow(
            "SELECT seq, hash, checkpoint_seq, checkpoint_at FROM audit_head FOR UPDATE"
        )
        sink = _Collected()
        writer = ChainWriter(sink, self._policy, ChainHead(*row))
        for at, event, record_id, code, detail in self._pending:
            writer.append(at, event, record_id, code, detail)
        if self._seal_at is not None:
            self.sealed = writer.seal(self._seal_at) is not None
        if sink.entries:
            await self.conn.copy_records_to_table(
                "audit", records=sink.entries, columns=_AUDIT_COLUMNS
            )
        if sink.checkpoints:
            await self.conn.copy_records_to_table(
                "audit_checkpoints", records=sink.checkpoints, columns=_CHECKPOINT_COLUMNS
            )
        head = writer.head
        await self.conn.execute(
            "UPDATE audit_head SET seq = $1, hash = $2, checkpoint_seq = $3, checkpoint_at = $4",
            head.seq,
            head.hash,
            head.checkpoint_seq,
            head.checkpoint_at,
        )
        self._pending.clear()
        self.writer = writer  # the store logs its signed heads once the transaction commits

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

    # -- intake -----------------------------------------------------------------------------

    async def accept(
        self, items: Sequence[Incoming | Rejected], validate: Validate, now: float
    ) -> list[Receipt]:
        """Plan the batch against what is stored (read in a few queries; the dossier rows are
        locked first, so nobody changes them meanwhile) and write the plan."""
        incoming = [i.record for i in items if isinstance(i, Incoming)]
        await self.lock_dossiers({r.dossier_code: r.agency_code for r in incoming})
        keys = await self._key_ids([record_key(r) for r in incoming])
        facts = await self._facts(
            sorted({r.dossier_code for r in incoming}),
            {r.dossier_code for r in incoming if isinstance(r, Result)},
        )

        def key_id(key: str) -> int | None:
            return keys[key]  # KeyError: not fetched yet (a result's step), planned again

        def facts_of(code: str) -> DossierFacts:
            found = facts.get(code)
            return DossierFacts() if found is None else _copy(found)

        while True:
            plan = plan_accept(items, validate=validate, key_id=key_id, facts=facts_of)
            if not plan.missing_keys:
                break
            keys.update(await self._key_ids(sorted(plan.missing_keys)))
        return await self._apply(plan, now)

    async def _key_ids(self, keys: list[str]) -> dict[str, int | None]:
        rows = await self.conn.fetch(
            "SELECT event_key, id FROM records WHERE event_key = ANY($1::text[])", keys
        )
        found: dict[str, int | None] = dict.fromkeys(keys)
        found.update({str(k): int(i) for k, i in rows})
        return found

    async def _facts(self, codes: list[str], with_payload: set[str]) -> dict[str, DossierFacts]:
        rows = await self.conn.fetch(
            "SELECT d.dossier_code, r.id, r.status, "
            "CASE WHEN d.dossier_code = ANY($2::text[]) THEN r.payload END FROM dossiers d "
            "JOIN records r ON r.id = d.latest_snapshot_id WHERE d.dossier_code = ANY($1::text[])",
            codes,
            sorted(with_payload),
        )
        facts = {str(c): DossierFacts(rid, status, payload) for c, rid, status, payload in rows}
        waiting = await self.conn.fetch(
            "SELECT dossier_code, array_agg(id ORDER BY id) FILTER (WHERE state = 'queued'), "
            "array_agg(id ORDER BY id) FILTER (WHERE state = 'dead'), bool_or(uncertain) "
            "FROM records WHERE dossier_code = ANY($1::text[]) AND kind = 'dossier' "
            "AND state IN ('queued', 'dead') GROUP BY dossier_code",
            codes,
        )
        for code, queued, dead, uncertain in waiting:
            found = facts.setdefault(str(code), DossierFacts())
            found.queued = [int(i) for i in queued or ()]
            found.dead = [int(i) for i in dead or ()]
            found.uncertain = bool(uncertain)
        return facts

    async def _apply(self, plan: AcceptPlan, now: float) -> list[Receipt]:
        if plan.rows:
            ids = await self.conn.fetch(
                "SELECT nextval(pg_get_serial_sequence('records', 'id')) "
                "FROM generate_series(1, $1)",
                len(plan.rows),
            )
            for row, (rid,) in zip(plan.rows, ids, strict=True):
                row.id = int(rid)
            records = [(row.id, *row.values(now)) for row in plan.rows]
            await self.conn.copy_records_to_table(
                "records", records=records, columns=_RECORD_COLUMNS
            )
        if plan.superseded:
            await self.conn.execute(
                "UPDATE records SET state = 'superseded', updated_at = $2 "
                "WHERE id = ANY($1::bigint[])",
                plan.superseded,
                now,
            )
        if plan.latest:
            codes = sorted(plan.latest)
            await self.conn.execute(
                "UPDATE dossiers d SET latest_snapshot_id = x.id, agency_code = x.agency "
                "FROM unnest($1::text[], $2::bigint[], $3::text[]) AS x(code, id, agency) "
                "WHERE d.dossier_code = x.code",
                codes,
                [plan.latest[c].id for c in codes],
                [plan.latest[c].record.agency_code for c in codes],
            )
        for event, rid, code, detail in plan.resolved_entries():
            self.audit(now, event, rid, code, detail)
        receipts = plan.resolved_receipts()
        if any(r.status == "accepted" for r in receipts):
            await self.conn.execute(f"NOTIFY {CHANNEL}")
        return receipts

    # -- dead letters -----------------------------------------------------------------------

    async def replay(self, where: DeadFilter, by: str, now: float) -> list[int]:
        sql, params = dead_where(where)
        codes = await self.conn.fetch(f"{_DEAD_CODES} WHERE {sql}", *params)
        await self.lock_dossiers({row[0]: "" for row in codes}, create=False)
        rows = await self.conn.fetch(f"{_REPLAY_COLUMNS} WHERE {sql} ORDER BY r.id", *params)
        queued = []
        for rid, kind, code, state, latest in rows:
            detail = {"by": by, "from_state": state}
            if kind == "dossier" and latest != rid:
                await self.conn.execute(
                    "UPDATE records SET state = 'superseded', updated_at = $2 WHERE id = $1",
                    rid,
                    now,
                )
                self.audit(now, "replay_superseded", rid, code, {**detail, "by_id": latest})
                continue
            await self.conn.execute(
                "UPDATE records SET state = 'queued', attempts = 0, rescues = 0, "
                "next_attempt_at = $2, updated_at = $2, uncertain = TRUE WHERE id = $1",
                rid,
                now,
            )
            self.audit(now, "replayed", rid, code, detail)
            queued.append(int(rid))
        if queued:
            await self.conn.execute(f"NOTIFY {CHANNEL}")
        return queued


def _copy(facts: DossierFacts) -> DossierFacts:
    return DossierFacts(
        facts.latest,
        facts.latest_status,
        facts.latest_payload,
        list(facts.queued),
        list(facts.dead),
        facts.uncertain,
    )


def dead_where(where: DeadFilter) -> tuple[str, list[object]]:
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
