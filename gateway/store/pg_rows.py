"""Row-level work of the PostgreSQL engine, inside one open transaction (see :mod:`.postgres`).

Every method works on whole lists with a few statements (``unnest`` of arrays, ``COPY``), so
a batch costs a handful of round trips whatever its size.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gateway.audit import AuditEntry, AuditPolicy, ChainHead, ChainWriter
from gateway.audit_attempts import attempt_entries
from gateway.audit_keys import Checkpoint
from gateway.canonical import record_from_json
from gateway.model import Dossier, ProgressStep, Result
from gateway.store.accepting import AcceptPlan, DossierFacts, plan_accept, record_key
from gateway.store.contract import (
    Claimed,
    DeadFilter,
    Incoming,
    Outcome,
    OutcomeKind,
    Receipt,
    Rejected,
    Validate,
)
from gateway.store.outcomes import STATE_OF, deferred_detail, rescue_entry

CHANNEL = "dvc_gateway_queued"

CLAIM_SQL = """
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

DEAD_COLUMNS = (
    "SELECT r.id, r.state, r.kind, r.dossier_code, r.agency_code, r.attempts, "
    "r.updated_at, r.portal_code, COALESCE(r.last_error, ''), r.payload FROM records r"
)
_DEAD_CODES = "SELECT DISTINCT r.dossier_code FROM records r"
_REPLAY_COLUMNS = (
    "SELECT r.id, r.kind, r.dossier_code, r.state, d.latest_snapshot_id "
    "FROM records r LEFT JOIN dossiers d ON d.dossier_code = r.dossier_code"
)
_RECORD_COLUMNS = [
    "id",
    "event_key",
    "source",
    "kind",
    "dossier_code",
    "agency_code",
    "order_at",
    "payload",
    "state",
    "status",
    "next_attempt_at",
    "accepted_at",
    "updated_at",
    "last_error",
]
_AUDIT_COLUMNS = ["seq", "at", "event", "record_id", "dossier_code", "detail", "prev_hash", "hash"]
_CHECKPOINT_COLUMNS = ["seq", "at", "hash", "key_id", "signature"]
_ATTEMPT_COLUMNS = [
    "record_id",
    "attempt",
    "finished_at",
    "route",
    "outcome",
    "http_status",
    "portal_code",
    "message",
    "latency_ms",
]


class _Collected:
    """The :class:`~gateway.audit.AuditSink` of one flush: rows to COPY in one go."""

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
    runs them through the same :class:`~gateway.audit.ChainWriter` as SQLite: masking,
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
        queued = await self.conn.fetch(
            "SELECT dossier_code, array_agg(id ORDER BY id) FROM records "
            "WHERE dossier_code = ANY($1::text[]) AND kind = 'dossier' AND state = 'queued' "
            "GROUP BY dossier_code",
            codes,
        )
        for code, ids in queued:
            facts.setdefault(str(code), DossierFacts()).queued = [int(i) for i in ids]
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
            records = [
                (
                    row.id,
                    row.key,
                    row.source,
                    str(row.record.kind),
                    row.record.dossier_code,
                    row.record.agency_code,
                    row.order_at,
                    row.payload,
                    str(row.state),
                    row.status,
                    now,
                    now,
                    now,
                    row.error or None,
                )
                for row in plan.rows
            ]
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

    # -- delivery ---------------------------------------------------------------------------

    async def claim(self, owner: str, limit: int, now: float, lease_s: float) -> list[Claimed]:
        rows = await self.conn.fetch(CLAIM_SQL, now, limit * 2)
        first: dict[str, Any] = {}
        for row in rows:
            first.setdefault(row[3], row)
        if not first:
            return []
        locked = await self.conn.fetch(
            "SELECT dossier_code FROM dossiers WHERE dossier_code = ANY($1::text[]) "
            "AND in_flight IS NULL ORDER BY dossier_code FOR UPDATE SKIP LOCKED",
            list(first),
        )
        free = {str(row[0]) for row in locked}
        picked = [row for code, row in first.items() if code in free][:limit]
        if not picked:
            return []
        leased = await self.conn.fetch(
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
            self.audit(
                now, "leased", rid, code, {"owner": owner, "token": token, "attempt": attempts + 1}
            )
            record = record_from_json(json.loads(payload))
            assert isinstance(record, Dossier | ProgressStep)
            claimed.append(Claimed(rid, record, attempts, token, on_portal, uncertain))
        await self.conn.execute(
            "UPDATE dossiers d SET in_flight = x.id FROM "
            "unnest($1::bigint[], $2::text[]) AS x(id, code) WHERE d.dossier_code = x.code",
            [c.record_id for c in claimed],
            [c.record.dossier_code for c in claimed],
        )
        return claimed

    async def complete(self, outcomes: Sequence[Outcome]) -> int:
        rows = await self.conn.fetch(
            "SELECT DISTINCT dossier_code FROM records WHERE id = ANY($1::bigint[])",
            [o.record_id for o in outcomes],
        )
        await self.lock_dossiers({row[0]: "" for row in rows}, create=False)
        held = await self.conn.fetch(
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
            await self._apply_outcomes(applied, current)
        return len(applied)

    async def _apply_outcomes(
        self, outcomes: list[Outcome], current: dict[int, tuple[str, str, int]]
    ) -> None:
        """Apply outcomes whose lease is held, a few statements for the whole list."""
        await self.conn.execute(
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
            await self.conn.executemany(
                "UPDATE records SET state = 'queued', next_attempt_at = $2, updated_at = $3, "
                "lease_owner = NULL, lease_until = NULL WHERE id = $1",
                [(o.record_id, o.next_attempt_at, o.at) for o in deferred],
            )
        tried = [o for o in outcomes if o.kind is not OutcomeKind.DEFERRED]
        if tried:
            await self._record_attempts(tried, current)
        for o in outcomes:
            code, attempt = current[o.record_id][1], current[o.record_id][2] + 1
            if o.kind is OutcomeKind.DEFERRED:
                self.audit(o.at, "deferred", o.record_id, code, deferred_detail(o))
                continue
            for event, detail in attempt_entries(o, attempt):
                self.audit(o.at, event, o.record_id, code, detail)

    async def _record_attempts(
        self, tried: list[Outcome], current: dict[int, tuple[str, str, int]]
    ) -> None:
        await self.conn.copy_records_to_table(
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
            columns=_ATTEMPT_COLUMNS,
        )
        await self.conn.execute(
            "UPDATE records r SET state = x.state, attempts = x.attempts, "
            "next_attempt_at = x.next_at, updated_at = x.at, lease_owner = NULL, "
            "lease_until = NULL, last_error = x.error, portal_code = x.code, "
            "uncertain = r.uncertain OR x.retry "
            "FROM unnest($1::bigint[], $2::text[], $3::int[], $4::float8[], $5::float8[], "
            "$6::text[], $7::text[], $8::boolean[]) "
            "AS x(id, state, attempts, next_at, at, error, code, retry) WHERE r.id = x.id",
            [o.record_id for o in tried],
            [str(STATE_OF[o.kind]) for o in tried],
            [current[o.record_id][2] + 1 for o in tried],
            [o.next_attempt_at if o.kind is OutcomeKind.RETRY else 0.0 for o in tried],
            [o.at for o in tried],
            [o.message if o.kind is not OutcomeKind.DELIVERED else None for o in tried],
            [o.portal_code for o in tried],
            [o.kind is OutcomeKind.RETRY for o in tried],
        )

    async def release_expired(self, now: float, max_rescues: int) -> int:
        rows = await self.conn.fetch(
            "SELECT dossier_code FROM records WHERE state = 'leased' AND lease_until < $1", now
        )
        if not rows:
            return 0
        await self.lock_dossiers({row[0]: "" for row in rows}, create=False)
        expired = await self.conn.fetch(
            "SELECT id, dossier_code, rescues FROM records "
            "WHERE state = 'leased' AND lease_until < $1 ORDER BY id",
            now,
        )
        changes = [rescue_entry(rescues, max_rescues, "lease_expired") for _, _, rescues in expired]
        await self.conn.execute(
            "UPDATE dossiers d SET in_flight = NULL FROM unnest($1::text[], $2::bigint[]) "
            "AS x(code, id) WHERE d.dossier_code = x.code AND d.in_flight = x.id",
            [row[1] for row in expired],
            [row[0] for row in expired],
        )
        await self.conn.execute(
            "UPDATE records r SET state = x.state, rescues = r.rescues + 1, uncertain = TRUE, "
            "lease_owner = NULL, lease_until = NULL, updated_at = $3, "
            "last_error = COALESCE(x.error, r.last_error) "
            "FROM unnest($1::bigint[], $2::text[], $4::text[]) AS x(id, state, error) "
            "WHERE r.id = x.id",
            [row[0] for row in expired],
            [str(state) for state, _, _, _ in changes],
            now,
            [error for _, error, _, _ in changes],
        )
        for (rid, code, _), (_, _, event, detail) in zip(expired, changes, strict=True):
            self.audit(now, event, rid, code, detail)
        return len(expired)

    async def release_owned(self, owner: str, now: float) -> int:
        rows = await self.conn.fetch(
            "SELECT dossier_code FROM records WHERE state = 'leased' AND lease_owner = $1", owner
        )
        if not rows:
            return 0
        await self.lock_dossiers({row[0]: "" for row in rows}, create=False)
        released = await self.conn.fetch(
            "UPDATE records SET state = 'queued', uncertain = TRUE, lease_owner = NULL, "
            "lease_until = NULL, updated_at = $2 WHERE state = 'leased' AND lease_owner = $1 "
            "RETURNING id, dossier_code",
            owner,
            now,
        )
        await self.conn.execute(
            "UPDATE dossiers d SET in_flight = NULL FROM unnest($1::text[], $2::bigint[]) "
            "AS x(code, id) WHERE d.dossier_code = x.code AND d.in_flight = x.id",
            [row[1] for row in released],
            [row[0] for row in released],
        )
        for rid, code in sorted(released):
            self.audit(now, "lease_released", rid, code, {"owner": owner})
        if released:
            await self.conn.execute(f"NOTIFY {CHANNEL}")  # the other processes take them now
        return len(released)

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
    return DossierFacts(facts.latest, facts.latest_status, facts.latest_payload, list(facts.queued))


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
