"""Row-level work of the SQLite engine, inside one open transaction (see :mod:`.store`)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from gateway.audit.attempts import attempt_entries
from gateway.audit.chain import ChainWriter
from gateway.canonical import record_from_json
from gateway.model import Dossier, ProgressStep
from gateway.store.accepting import ROW_COLUMNS, AcceptPlan, DossierFacts, NewRow
from gateway.store.contract import Claimed, DeadFilter, Outcome, OutcomeKind, Receipt, State
from gateway.store.outcomes import (
    ATTEMPT_COLUMNS,
    STATE_OF,
    STEP_MAY_GO_SQL,
    attempt_row,
    deferred_detail,
    newer_snapshot,
    overtaken_detail,
    rescue_entry,
    settled,
)

CLAIM_SQL = f"""
SELECT r.id, r.payload, r.attempts, r.dossier_code, COALESCE(d.on_portal, 0), r.uncertain,
       COALESCE(d.not_synced, 0)
FROM records r LEFT JOIN dossiers d ON d.dossier_code = r.dossier_code
WHERE r.state = 'queued' AND r.next_attempt_at <= :now
  AND NOT EXISTS (SELECT 1 FROM records o
                  WHERE o.dossier_code = r.dossier_code AND o.state = 'leased')
  AND (r.kind = 'dossier' OR (
        COALESCE(d.on_portal, 0) = 1 AND {STEP_MAY_GO_SQL}))
ORDER BY r.next_attempt_at, r.id
LIMIT :scan
"""  # noqa: S608 - composed of constants, no input

_INSERT_ROW = (
    f"INSERT INTO records ({', '.join(ROW_COLUMNS)}) "  # noqa: S608 - constants only
    f"VALUES ({', '.join('?' * len(ROW_COLUMNS))})"
)

_INSERT_ATTEMPT = (
    f"INSERT INTO attempts ({', '.join(ATTEMPT_COLUMNS)}) "  # noqa: S608 - constants only
    f"VALUES ({', '.join('?' * len(ATTEMPT_COLUMNS))})"
)

DEAD_COLUMNS = (
    "SELECT r.id, r.state, r.kind, r.dossier_code, r.agency_code, r.attempts, r.updated_at, "
    "r.portal_code, COALESCE(r.last_error, ''), r.payload"
)
LEASED_COLUMNS = (
    "SELECT r.id, r.dossier_code, r.rescues, r.kind, d.latest_snapshot_id FROM records r "
    "LEFT JOIN dossiers d ON d.dossier_code = r.dossier_code WHERE r.state = 'leased'"
)
"""Leased records as :meth:`SqliteTx.rescue` takes them back (the caller adds a filter)."""
REPLAY_COLUMNS = (
    "SELECT r.id, r.kind, r.dossier_code, r.state, d.latest_snapshot_id "
    "FROM records r LEFT JOIN dossiers d ON d.dossier_code = r.dossier_code"
)


class SqliteTx:
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

    # -- intake -----------------------------------------------------------------------------

    def key_id(self, key: str) -> int | None:
        row = self.conn.execute("SELECT id FROM records WHERE event_key = ?", (key,)).fetchone()
        return None if row is None else int(row[0])

    def facts(self, code: str) -> DossierFacts:
        row = self.conn.execute(
            "SELECT r.id, r.status, r.payload FROM dossiers d "
            "JOIN records r ON r.id = d.latest_snapshot_id WHERE d.dossier_code = ?",
            (code,),
        ).fetchone()
        waiting = self.conn.execute(
            "SELECT id, state, uncertain FROM records WHERE dossier_code = ? "
            "AND kind = 'dossier' AND state IN ('queued', 'dead') ORDER BY id",
            (code,),
        ).fetchall()
        facts = DossierFacts(
            queued=[int(rid) for rid, state, _ in waiting if state == "queued"],
            dead=[int(rid) for rid, state, _ in waiting if state == "dead"],
            uncertain=any(uncertain for _, _, uncertain in waiting),
        )
        if row is not None:
            facts.latest, facts.latest_status, facts.latest_payload = row
        return facts

    def apply(self, plan: AcceptPlan, now: float) -> list[Receipt]:
        """Write an accept plan: its rows, supersessions, dossiers and audit entries."""
        for row in plan.rows:
            row.id = self._insert(row, now)
        for old in plan.superseded:
            self.set_state(old, State.SUPERSEDED, now)
        for code, row in plan.latest.items():
            self.conn.execute(
                "INSERT INTO dossiers (dossier_code, agency_code, latest_snapshot_id) "
                "VALUES (?, ?, ?) ON CONFLICT(dossier_code) DO UPDATE SET "
                "latest_snapshot_id = excluded.latest_snapshot_id, "
                "agency_code = excluded.agency_code",
                (code, row.record.agency_code, row.id),
            )
        for event, rid, code, detail in plan.resolved_entries():
            self.audit(now, event, rid, code, detail)
        return plan.resolved_receipts()

    def _insert(self, row: NewRow, now: float) -> int:
        cur = self.conn.execute(_INSERT_ROW, row.values(now))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def set_state(self, record_id: int, state: State, now: float) -> None:
        self.conn.execute(
            "UPDATE records SET state = ?, lease_owner = NULL, lease_until = NULL, "
            "updated_at = ? WHERE id = ?",
            (str(state), now, record_id),
        )

    # -- delivery ---------------------------------------------------------------------------

    def claim(self, owner: str, limit: int, now: float, lease_s: float) -> list[Claimed]:
        rows = self.conn.execute(CLAIM_SQL, {"now": now, "scan": limit * 4}).fetchall()
        seen: set[str] = set()
        claimed = []
        for rid, payload, attempts, dossier_code, on_portal, uncertain, not_synced in rows:
            if dossier_code in seen:
                continue
            seen.add(dossier_code)
            token = self._next_token()
            self.conn.execute(
                "UPDATE records SET state = 'leased', lease_owner = ?, "
                "lease_until = ?, lease_token = ?, updated_at = ? WHERE id = ?",
                (owner, now + lease_s, token, now, rid),
            )
            detail = {"owner": owner, "token": token, "attempt": attempts + 1}
            self.audit(now, "leased", rid, dossier_code, detail)
            record = record_from_json(json.loads(payload))
            assert isinstance(record, Dossier | ProgressStep)
            claimed.append(
                Claimed(
                    rid,
                    record,
                    attempts,
                    token,
                    bool(on_portal),
                    bool(uncertain),
                    bool(not_synced),
                )
            )
            if len(claimed) >= limit:
                break
        return claimed

    def _next_token(self) -> int:
        row = self.conn.execute(
            "UPDATE meta SET value = value + 1 WHERE key = 'lease_token' RETURNING value"
        ).fetchone()
        return int(row[0])

    def complete(self, o: Outcome) -> int:
        row = self.conn.execute(
            "SELECT r.kind, r.dossier_code, r.attempts, d.latest_snapshot_id FROM records r "
            "LEFT JOIN dossiers d ON d.dossier_code = r.dossier_code "
            "WHERE r.id = ? AND r.state = 'leased' AND r.lease_token = ?",
            (o.record_id, o.lease_token),
        ).fetchone()
        if row is None:
            return 0  # the lease was lost (expired and taken over): the newer holder decides
        kind, dossier_code, attempts, latest = row
        newer = newer_snapshot(kind, o.record_id, latest)
        if o.kind is OutcomeKind.DEFERRED:
            self.conn.execute(
                "UPDATE records SET state = 'queued', next_attempt_at = ?, updated_at = ?, "
                "lease_owner = NULL, lease_until = NULL WHERE id = ?",
                (o.next_attempt_at, o.at, o.record_id),
            )
            self.audit(o.at, "deferred", o.record_id, dossier_code, deferred_detail(o))
            self._settle(o.record_id, dossier_code, State.QUEUED, newer, o.at)
            return 1
        attempt = attempts + 1
        self.conn.execute(_INSERT_ATTEMPT, attempt_row(o, attempt))
        self.conn.execute(
            "UPDATE records SET state = ?, attempts = ?, next_attempt_at = ?, updated_at = ?, "
            "lease_owner = NULL, lease_until = NULL, last_error = ?, portal_code = ?, "
            "uncertain = MAX(uncertain, ?) WHERE id = ?",
            (
                str(STATE_OF[o.kind]),
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
            self.conn.execute(
                "UPDATE dossiers SET on_portal = 1, not_synced = MAX(not_synced, ?) "
                "WHERE dossier_code = ?",
                (int(o.not_synced), dossier_code),
            )
        for event, detail in attempt_entries(o, attempt):
            self.audit(o.at, event, o.record_id, dossier_code, detail)
        self._settle(o.record_id, dossier_code, STATE_OF[o.kind], newer, o.at)
        return 1

    def _settle(
        self, rid: int, dossier_code: str, state: State, newer: int | None, now: float
    ) -> None:
        """Supersede a snapshot coming back from its lease that a newer one overtook
        (:func:`~gateway.store.outcomes.settled`). The newer one inherits "may be on the
        portal": the older one's call may have created the dossier there."""
        if newer is None or settled(state, newer) is not State.SUPERSEDED:
            return
        self.set_state(rid, State.SUPERSEDED, now)
        self.conn.execute(
            "UPDATE records SET uncertain = MAX(uncertain, "
            "(SELECT uncertain FROM records WHERE id = ?)) WHERE id = ?",
            (rid, newer),
        )
        self.audit(now, "superseded", rid, dossier_code, overtaken_detail(newer))

    def rescue(self, leased: tuple[Any, ...], now: float, limit: int, event: str) -> None:
        """Return a record whose lease was lost (a row of :data:`LEASED_COLUMNS`) to the
        queue, or dead-letter a poison record."""
        rid, dossier_code, rescues, kind, latest = leased
        state, reason, event, detail = rescue_entry(rescues, limit, event)
        self.conn.execute(
            "UPDATE records SET state = ?, rescues = rescues + 1, uncertain = 1, "
            "lease_owner = NULL, lease_until = NULL, updated_at = ?, "
            "last_error = COALESCE(?, last_error) WHERE id = ?",
            (str(state), now, reason, rid),
        )
        self.audit(now, event, rid, dossier_code, detail)
        self._settle(rid, dossier_code, state, newer_snapshot(kind, rid, latest), now)

    def release_owned(self, owner: str, now: float) -> int:
        rows = self.conn.execute(
            f"{LEASED_COLUMNS} AND r.lease_owner = ? ORDER BY r.id", (owner,)
        ).fetchall()
        for rid, dossier_code, _, kind, latest in rows:
            self.conn.execute(
                "UPDATE records SET state = 'queued', uncertain = 1, lease_owner = NULL, "
                "lease_until = NULL, updated_at = ? WHERE id = ?",
                (now, rid),
            )
            self.audit(now, "lease_released", rid, dossier_code, {"owner": owner})
            newer = newer_snapshot(kind, rid, latest)
            self._settle(rid, dossier_code, State.QUEUED, newer, now)
        return len(rows)

    # -- dead letters -----------------------------------------------------------------------

    def replay(self, where: DeadFilter, by: str, now: float) -> list[int]:
        sql, params = dead_where(where)
        rows = self.conn.execute(f"{REPLAY_COLUMNS} WHERE {sql} ORDER BY r.id", params).fetchall()
        queued = []
        for rid, kind, dossier_code, state, latest in rows:
            detail = {"by": by, "from_state": state}
            if kind == "dossier" and latest != rid:
                self.set_state(rid, State.SUPERSEDED, now)
                superseded = {**detail, "by_id": latest}
                self.audit(now, "replay_superseded", rid, dossier_code, superseded)
                continue
            self.conn.execute(
                "UPDATE records SET state = 'queued', attempts = 0, rescues = 0, "
                "next_attempt_at = ?, updated_at = ?, uncertain = 1 WHERE id = ?",
                (now, now, rid),
            )
            self.audit(now, "replayed", rid, dossier_code, detail)
            queued.append(rid)
        return queued


def dead_where(where: DeadFilter) -> tuple[str, list[object]]:
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
