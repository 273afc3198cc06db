"""PostgreSQL statements of the two-way features (issue 16), the same decisions as the SQLite
engine's ``two_way`` module: catalogue versions, records queued again by reconciliation or
re-sync, quarantined records released by ``mappings apply``. Writes run in the store's
transaction (:class:`PgTx`) with the dossiers' rows locked in code order, like every writer."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gateway.store.contract import is_backwards
from gateway.store.postgres.rows import CHANNEL, PgTx


async def latest_catalogue(conn: Any) -> tuple[int, float, str] | None:
    row = await conn.fetchrow(
        "SELECT version, synced_at, content FROM catalogue_versions ORDER BY version DESC LIMIT 1"
    )
    return (int(row[0]), float(row[1]), str(row[2])) if row else None


async def pending_catalogue(conn: Any) -> dict[str, str]:
    rows = await conn.fetch("SELECT code, detail FROM catalogue_pending")
    return {str(code): str(detail) for code, detail in rows}


async def dossier_records(conn: Any, codes: Sequence[str]) -> list[tuple[Any, ...]]:
    rows = await conn.fetch(
        "SELECT id, dossier_code, kind, state, payload FROM records "
        "WHERE dossier_code = ANY($1::text[]) AND kind IN ('dossier', 'progress') ORDER BY id",
        list(codes),
    )
    return [tuple(row) for row in rows]


async def keep_catalogue_detail(conn: Any, code: str, detail: str, now: float) -> None:
    await conn.execute(
        "INSERT INTO catalogue_pending (code, detail, fetched_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (code) DO UPDATE SET detail = $2, fetched_at = $3",
        code,
        detail,
        now,
    )


async def save_catalogue(
    tx: PgTx, content: str, digest: str, changes: dict[str, Any], now: float
) -> int:
    await tx.conn.execute("LOCK TABLE catalogue_versions IN EXCLUSIVE MODE")  # one numbering
    last = await tx.conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM catalogue_versions")
    version = int(last) + 1
    await tx.conn.execute(
        "INSERT INTO catalogue_versions (version, synced_at, digest, content, changes) "
        "VALUES ($1, $2, $3, $4, $5)",
        version,
        now,
        digest,
        content,
        json.dumps(changes, ensure_ascii=False),
    )
    await tx.conn.execute("DELETE FROM catalogue_pending")
    tx.audit(now, "catalogue_synced", None, "", {"version": version, **changes})
    return version


async def _lock(tx: PgTx, record_ids: Sequence[int], state: str) -> list[Any]:
    rows = await tx.conn.fetch(
        "SELECT id, kind, dossier_code, agency_code, status FROM records "
        "WHERE id = ANY($1::bigint[]) AND state = $2 ORDER BY id",
        list(record_ids),
        state,
    )
    await tx.lock_dossiers({row["dossier_code"]: row["agency_code"] for row in rows})
    return list(rows)


async def requeue_delivered(
    tx: PgTx, record_ids: Sequence[int], lost: Sequence[str], event: str, by: str, now: float
) -> list[int]:
    rows = await _lock(tx, record_ids, "delivered")
    if lost:
        await tx.conn.execute(
            "UPDATE dossiers SET on_portal = FALSE WHERE dossier_code = ANY($1::text[])",
            list(lost),
        )
    queued = []
    for row in rows:
        rid, code = int(row["id"]), str(row["dossier_code"])
        await tx.conn.execute(
            "UPDATE records SET state = 'queued', attempts = 0, rescues = 0, "
            "next_attempt_at = $2, updated_at = $2, uncertain = $3 "
            "WHERE id = $1 AND state = 'delivered'",
            rid,
            now,
            row["kind"] != "dossier",
        )
        tx.audit(now, event, rid, code, {"by": by, "lost": code in lost})
        queued.append(rid)
    if queued:
        await tx.conn.execute(f"NOTIFY {CHANNEL}")
    return queued


async def release_quarantined(
    tx: PgTx, record_ids: Sequence[int], by: str, now: float
) -> list[int]:
    queued = []
    for row in await _lock(tx, record_ids, "quarantined"):
        rid, kind, code = int(row["id"]), str(row["kind"]), str(row["dossier_code"])
        if kind == "result":
            continue
        if kind == "dossier":
            latest = await tx.conn.fetchrow(
                "SELECT r.id, r.status FROM dossiers d JOIN records r "
                "ON r.id = d.latest_snapshot_id WHERE d.dossier_code = $1",
                code,
            )
            if latest is not None and _newer(latest[0], latest[1], rid, row["status"]):
                await tx.conn.execute(
                    "UPDATE records SET state = 'superseded', updated_at = $2 WHERE id = $1",
                    rid,
                    now,
                )
                tx.audit(now, "release_superseded", rid, code, {"by": by, "by_id": latest[0]})
                continue
            await tx.conn.execute(
                "UPDATE records SET state = 'superseded', updated_at = $3 WHERE dossier_code = $1 "
                "AND kind = 'dossier' AND state = 'queued' AND id < $2",
                code,
                rid,
                now,
            )
            await tx.conn.execute(
                "UPDATE dossiers SET latest_snapshot_id = $2 WHERE dossier_code = $1", code, rid
            )
        await tx.conn.execute(
            "UPDATE records SET state = 'queued', attempts = 0, rescues = 0, "
            "next_attempt_at = $2, updated_at = $2 WHERE id = $1",
            rid,
            now,
        )
        tx.audit(now, "released", rid, code, {"by": by})
        queued.append(rid)
    if queued:
        await tx.conn.execute(f"NOTIFY {CHANNEL}")
    return queued


def _newer(latest_id: int, latest_status: int | None, rid: int, status: int | None) -> bool:
    if latest_id > rid:
        return True
    return latest_status is not None and status is not None and is_backwards(latest_status, status)
