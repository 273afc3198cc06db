"""SQLite statements of the two-way features (issue 16): catalogue versions, records queued
again by reconciliation or re-sync, quarantined records released by ``mappings apply``.
Each write runs inside the store's transaction (:class:`SqliteTx`), audit entries included."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from gateway.store.contract import State, is_backwards
from gateway.store.sqlite.rows import SqliteTx


def latest_catalogue(conn: sqlite3.Connection) -> tuple[int, float, str] | None:
    row = conn.execute(
        "SELECT version, synced_at, content FROM catalogue_versions ORDER BY version DESC LIMIT 1"
    ).fetchone()
    return (int(row[0]), float(row[1]), str(row[2])) if row else None


def pending_catalogue(conn: sqlite3.Connection) -> dict[str, str]:
    rows = conn.execute("SELECT code, detail FROM catalogue_pending").fetchall()
    return {str(code): str(detail) for code, detail in rows}


def dossier_records(conn: sqlite3.Connection, codes: Sequence[str]) -> list[tuple[Any, ...]]:
    """``(id, dossier_code, kind, state, payload)`` of these dossiers' snapshots and steps."""
    marks = ", ".join("?" * len(codes))
    return conn.execute(
        "SELECT id, dossier_code, kind, state, payload FROM records "  # noqa: S608 - marks only
        f"WHERE dossier_code IN ({marks}) AND kind IN ('dossier', 'progress') ORDER BY id",
        list(codes),
    ).fetchall()


def keep_catalogue_detail(tx: SqliteTx, code: str, detail: str, now: float) -> None:
    tx.conn.execute(
        "INSERT OR REPLACE INTO catalogue_pending (code, detail, fetched_at) VALUES (?, ?, ?)",
        (code, detail, now),
    )


def save_catalogue(
    tx: SqliteTx, content: str, digest: str, changes: dict[str, Any], now: float
) -> int:
    (last,) = tx.conn.execute("SELECT COALESCE(MAX(version), 0) FROM catalogue_versions").fetchone()
    version = int(last) + 1
    tx.conn.execute(
        "INSERT INTO catalogue_versions (version, synced_at, digest, content, changes) "
        "VALUES (?, ?, ?, ?, ?)",
        (version, now, digest, content, json.dumps(changes, ensure_ascii=False)),
    )
    tx.conn.execute("DELETE FROM catalogue_pending")
    tx.audit(now, "catalogue_synced", None, "", {"version": version, **changes})
    return version


def requeue_delivered(
    tx: SqliteTx, record_ids: Sequence[int], lost: Sequence[str], event: str, by: str, now: float
) -> list[int]:
    """Queue delivered records again through the normal queue, audited ``event`` with ``by``.
    Dossiers in ``lost`` are marked as not on the portal first, so their snapshot goes as a
    create; re-queued steps are marked uncertain, so the worker looks on the portal before
    sending one again. A record no longer ``delivered`` (queued already) is left alone: a
    second run queues nothing twice. Return the ids queued."""
    for code in lost:
        tx.conn.execute("UPDATE dossiers SET on_portal = 0 WHERE dossier_code = ?", (code,))
    queued = []
    for rid in record_ids:
        row = tx.conn.execute(
            "SELECT kind, dossier_code FROM records WHERE id = ? AND state = 'delivered'", (rid,)
        ).fetchone()
        if row is None:
            continue
        tx.conn.execute(
            "UPDATE records SET state = 'queued', attempts = 0, rescues = 0, "
            "next_attempt_at = ?, updated_at = ?, uncertain = ? WHERE id = ?",
            (now, now, int(row[0] != "dossier"), rid),
        )
        tx.audit(now, event, rid, row[1], {"by": by, "lost": row[1] in lost})
        queued.append(rid)
    return queued


def release_quarantined(tx: SqliteTx, record_ids: Sequence[int], by: str, now: float) -> list[int]:
    """Queue quarantined records whose cause was fixed, audited ``released`` with ``by``. A
    dossier snapshot becomes its dossier's latest (it may be the first: a quarantined snapshot
    never is one) unless a newer snapshot, or one with a later status, is there already: then
    it is superseded (``release_superseded``). A quarantined result stays: it needs its
    dossier's snapshot at intake. Return the ids queued."""
    return [rid for rid in sorted(record_ids) if _release_one(tx, rid, by=by, now=now)]


def _release_one(tx: SqliteTx, rid: int, *, by: str, now: float) -> bool:
    row = tx.conn.execute(
        "SELECT kind, dossier_code, agency_code, status FROM records "
        "WHERE id = ? AND state = 'quarantined'",
        (rid,),
    ).fetchone()
    if row is None or row[0] == "result":
        return False
    kind, code, agency, status = row
    if kind == "dossier":
        latest = tx.conn.execute(
            "SELECT r.id, r.status FROM dossiers d JOIN records r ON r.id = d.latest_snapshot_id "
            "WHERE d.dossier_code = ?",
            (code,),
        ).fetchone()
        if latest is not None and _newer(latest[0], latest[1], rid, status):
            tx.set_state(rid, State.SUPERSEDED, now)
            tx.audit(now, "release_superseded", rid, code, {"by": by, "by_id": latest[0]})
            return False
        older = tx.conn.execute(
            "SELECT id FROM records WHERE dossier_code = ? AND kind = 'dossier' "
            "AND state = 'queued' AND id < ?",
            (code, rid),
        ).fetchall()
        for (old,) in older:
            tx.set_state(old, State.SUPERSEDED, now)
        tx.conn.execute(
            "INSERT INTO dossiers (dossier_code, agency_code, latest_snapshot_id) VALUES (?, ?, ?) "
            "ON CONFLICT(dossier_code) DO UPDATE SET "
            "latest_snapshot_id = excluded.latest_snapshot_id",
            (code, agency, rid),
        )
    tx.conn.execute(
        "UPDATE records SET state = 'queued', attempts = 0, rescues = 0, next_attempt_at = ?, "
        "updated_at = ? WHERE id = ?",
        (now, now, rid),
    )
    tx.audit(now, "released", rid, code, {"by": by})
    return True


def _newer(latest_id: int, latest_status: int | None, rid: int, status: int | None) -> bool:
    """Whether the dossier's latest snapshot should win over the released one."""
    if latest_id > rid:
        return True
    return latest_status is not None and status is not None and is_backwards(latest_status, status)
