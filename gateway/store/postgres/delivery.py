"""Delivery-side row work of the PostgreSQL engine: claims, outcomes, lease release.

Functions of one open transaction (:class:`~gateway.store.postgres.rows.PgTx`); each works on
whole lists with a few statements.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gateway.audit.attempts import attempt_entries
from gateway.canonical import record_from_json
from gateway.model import Dossier, ProgressStep
from gateway.store.contract import Claimed, Outcome, OutcomeKind, State
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
from gateway.store.postgres.rows import CHANNEL, PgTx

CLAIM_SQL = f"""
SELECT r.id, r.payload, r.attempts, r.dossier_code, d.on_portal, r.uncertain, d.not_synced
FROM records r JOIN dossiers d ON d.dossier_code = r.dossier_code
WHERE r.state = 'queued' AND r.next_attempt_at <= $1 AND d.in_flight IS NULL
  AND (r.kind = 'dossier' OR (
        d.on_portal AND {STEP_MAY_GO_SQL}))
ORDER BY r.next_attempt_at, r.id
LIMIT $2
"""  # noqa: S608 - composed of constants, no input


async def claim(tx: PgTx, owner: str, limit: int, now: float, lease_s: float) -> list[Claimed]:
    rows = await tx.conn.fetch(CLAIM_SQL, now, limit * 2)
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
    for rid, payload, attempts, code, on_portal, uncertain, not_synced in picked:
        if rid not in tokens:
            continue  # taken and finished by another process since our snapshot
        token = tokens[rid]
        tx.audit(
            now, "leased", rid, code, {"owner": owner, "token": token, "attempt": attempts + 1}
        )
        record = record_from_json(json.loads(payload))
        assert isinstance(record, Dossier | ProgressStep)
        claimed.append(Claimed(rid, record, attempts, token, on_portal, uncertain, not_synced))
    await tx.conn.execute(
        "UPDATE dossiers d SET in_flight = x.id FROM "
        "unnest($1::bigint[], $2::text[]) AS x(id, code) WHERE d.dossier_code = x.code",
        [c.record_id for c in claimed],
        [c.record.dossier_code for c in claimed],
    )
    return claimed


async def complete(tx: PgTx, outcomes: Sequence[Outcome]) -> int:
    rows = await tx.conn.fetch(
        "SELECT DISTINCT dossier_code FROM records WHERE id = ANY($1::bigint[])",
        [o.record_id for o in outcomes],
    )
    await tx.lock_dossiers({row[0]: "" for row in rows}, create=False)
    held = await tx.conn.fetch(
        "SELECT r.id, r.kind, r.dossier_code, r.attempts, d.latest_snapshot_id FROM records r "
        "JOIN unnest($1::bigint[], $2::bigint[]) AS o(id, token) "
        "ON r.id = o.id AND r.lease_token = o.token "
        "LEFT JOIN dossiers d ON d.dossier_code = r.dossier_code WHERE r.state = 'leased'",
        [o.record_id for o in outcomes],
        [o.lease_token for o in outcomes],
    )
    # A lease that was lost (expired and taken over): the newer holder decides.
    current = {int(r[0]): (str(r[1]), str(r[2]), int(r[3])) for r in held}
    newer = {int(r[0]): newer_snapshot(str(r[1]), int(r[0]), r[4]) for r in held}
    applied = [o for o in outcomes if o.record_id in current]
    if applied:
        await _apply_outcomes(tx, applied, current, newer)
    return len(applied)


async def _apply_outcomes(
    tx: PgTx,
    outcomes: list[Outcome],
    current: dict[int, tuple[str, str, int]],
    newer: dict[int, int | None],
) -> None:
    """Apply outcomes whose lease is held, a few statements for the whole list."""
    await tx.conn.execute(
        "UPDATE dossiers d SET on_portal = d.on_portal OR x.delivered, "
        "not_synced = d.not_synced OR (x.delivered AND x.skipped), in_flight = "
        "CASE WHEN d.in_flight = x.id THEN NULL ELSE d.in_flight END "
        "FROM unnest($1::text[], $2::bigint[], $3::boolean[], $4::boolean[]) "
        "AS x(code, id, delivered, skipped) WHERE d.dossier_code = x.code",
        [current[o.record_id][1] for o in outcomes],
        [o.record_id for o in outcomes],
        [
            o.kind is OutcomeKind.DELIVERED and current[o.record_id][0] == "dossier"
            for o in outcomes
        ],
        [o.not_synced for o in outcomes],
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
        await _record_attempts(tx, tried, current)
    overtaken: list[tuple[int, int, float]] = []
    for o in outcomes:
        code, attempt = current[o.record_id][1], current[o.record_id][2] + 1
        state = State.QUEUED if o.kind is OutcomeKind.DEFERRED else STATE_OF[o.kind]
        if o.kind is OutcomeKind.DEFERRED:
            tx.audit(o.at, "deferred", o.record_id, code, deferred_detail(o))
        else:
            for event, detail in attempt_entries(o, attempt):
                tx.audit(o.at, event, o.record_id, code, detail)
        by = newer[o.record_id]
        if by is not None and settled(state, by) is State.SUPERSEDED:
            tx.audit(o.at, "superseded", o.record_id, code, overtaken_detail(by))
            overtaken.append((o.record_id, by, o.at))
    await _supersede_overtaken(tx, overtaken)


async def _supersede_overtaken(tx: PgTx, overtaken: list[tuple[int, int, float]]) -> None:
    """Supersede snapshots that came back from their lease after a newer one was accepted
    (:func:`~gateway.store.outcomes.settled`); the newer one inherits "may be on the portal"
    (the older one's call may have created the dossier there). Rows: (id, newer, at)."""
    if not overtaken:
        return
    await tx.conn.execute(
        "UPDATE records r SET state = 'superseded', lease_owner = NULL, lease_until = NULL, "
        "updated_at = x.at FROM unnest($1::bigint[], $2::float8[]) AS x(id, at) "
        "WHERE r.id = x.id",
        [row[0] for row in overtaken],
        [row[2] for row in overtaken],
    )
    await tx.conn.execute(
        "UPDATE records n SET uncertain = n.uncertain OR o.uncertain "
        "FROM unnest($1::bigint[], $2::bigint[]) AS x(old, new) "
        "JOIN records o ON o.id = x.old WHERE n.id = x.new",
        [row[0] for row in overtaken],
        [row[1] for row in overtaken],
    )


async def _record_attempts(
    tx: PgTx, tried: list[Outcome], current: dict[int, tuple[str, str, int]]
) -> None:
    await tx.conn.copy_records_to_table(
        "attempts",
        records=[attempt_row(o, current[o.record_id][2] + 1) for o in tried],
        columns=list(ATTEMPT_COLUMNS),
    )
    await tx.conn.execute(
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


async def release_expired(tx: PgTx, now: float, max_rescues: int) -> int:
    if not await _lock_dossiers_leased(tx, "lease_until < $1", now):
        return 0
    expired = await tx.conn.fetch(
        "SELECT r.id, r.dossier_code, r.rescues, r.kind, d.latest_snapshot_id FROM records r "
        "LEFT JOIN dossiers d ON d.dossier_code = r.dossier_code "
        "WHERE r.state = 'leased' AND r.lease_until < $1 ORDER BY r.id",
        now,
    )
    changes = [rescue_entry(row[2], max_rescues, "lease_expired") for row in expired]
    await _free_dossiers(tx, expired)
    await tx.conn.execute(
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
    overtaken: list[tuple[int, int, float]] = []
    for (rid, code, _, kind, latest), (state, _, event, detail) in zip(
        expired, changes, strict=True
    ):
        tx.audit(now, event, rid, code, detail)
        by = newer_snapshot(kind, rid, latest)
        if by is not None and settled(state, by) is State.SUPERSEDED:
            tx.audit(now, "superseded", rid, code, overtaken_detail(by))
            overtaken.append((int(rid), by, now))
    await _supersede_overtaken(tx, overtaken)
    return len(expired)


async def release_owned(tx: PgTx, owner: str, now: float) -> int:
    if not await _lock_dossiers_leased(tx, "lease_owner = $1", owner):
        return 0
    released = await tx.conn.fetch(
        "UPDATE records r SET state = 'queued', uncertain = TRUE, lease_owner = NULL, "
        "lease_until = NULL, updated_at = $2 FROM records x "
        "LEFT JOIN dossiers d ON d.dossier_code = x.dossier_code "
        "WHERE r.id = x.id AND r.state = 'leased' AND r.lease_owner = $1 "
        "RETURNING r.id, r.dossier_code, r.kind, d.latest_snapshot_id",
        owner,
        now,
    )
    await _free_dossiers(tx, released)
    overtaken: list[tuple[int, int, float]] = []
    for rid, code, kind, latest in sorted(released):
        tx.audit(now, "lease_released", rid, code, {"owner": owner})
        by = newer_snapshot(kind, rid, latest)
        if by is not None and settled(State.QUEUED, by) is State.SUPERSEDED:
            tx.audit(now, "superseded", rid, code, overtaken_detail(by))
            overtaken.append((int(rid), by, now))
    await _supersede_overtaken(tx, overtaken)
    if released:
        await tx.conn.execute(f"NOTIFY {CHANNEL}")  # the other processes take them now
    return len(released)


async def _lock_dossiers_leased(tx: PgTx, condition: str, value: object) -> bool:
    """Lock (in code order, as every writer does) the dossiers with a leased record matching
    ``condition`` (a constant with one ``$1``); False if there is none."""
    rows = await tx.conn.fetch(
        f"SELECT dossier_code FROM records WHERE state = 'leased' AND {condition}",  # noqa: S608
        value,
    )
    await tx.lock_dossiers({row[0]: "" for row in rows}, create=False)
    return bool(rows)


async def _free_dossiers(tx: PgTx, records: Sequence[Any]) -> None:
    """The dossiers of these (id, dossier_code) records no longer have them in flight."""
    await tx.conn.execute(
        "UPDATE dossiers d SET in_flight = NULL FROM unnest($1::text[], $2::bigint[]) "
        "AS x(code, id) WHERE d.dossier_code = x.code AND d.in_flight = x.id",
        [row[1] for row in records],
        [row[0] for row in records],
    )
