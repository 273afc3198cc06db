"""The admin API's reads of the store, on either engine, each bounded.

Both engines offer a read-only ``query``; they differ only in placeholders (``?`` for SQLite,
``$1`` for PostgreSQL), so each query is written with ``{}`` and numbered for the engine.
Every list has a ``LIMIT``; per-agency figures read only the rows that wait (queued, leased,
dead), through the ``(state, ...)`` index, never the delivered history.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.admin.metrics import StoreFigures
from gateway.store.contract import State
from gateway.store.outcomes import STEP_BLOCKED_SQL


class Queryable(Protocol):
    async def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...


@dataclass(frozen=True, slots=True)
class AgencyRow:
    """What waits for one agency."""

    agency_code: str
    queued: int
    leased: int
    dead: int
    blocked: int
    """Queued records that cannot go until an operator acts (the store's rule,
    :data:`gateway.store.outcomes.STEP_BLOCKED_SQL`)."""
    oldest_waiting_at: float | None
    next_attempt_at: float | None


RECORD_COLUMNS = (
    "id, kind, dossier_code, agency_code, state, attempts, next_attempt_at, accepted_at, "
    "updated_at, last_error, portal_code"
)


class Reader:
    """Bounded reads for the admin API."""

    def __init__(self, store: Queryable, *, numbered: bool, clock: Any = time.time) -> None:
        self._store = store
        self._numbered = numbered
        self._clock = clock

    def _sql(self, text: str) -> str:
        if not self._numbered:
            return text.replace("{}", "?")
        counter = itertools.count(1)
        parts = text.split("{}")
        return "".join(
            p + (f"${next(counter)}" if i < len(parts) - 1 else "") for i, p in enumerate(parts)
        )

    async def rows(self, text: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return await self._store.query(self._sql(text), params)

    async def figures(self) -> StoreFigures:
        states = {str(s): 0 for s in State}
        states.update(
            {
                str(s): int(n)
                for s, n in await self.rows("SELECT state, COUNT(*) FROM records GROUP BY state")
            }
        )
        oldest = await self.rows("SELECT MIN(accepted_at) FROM records WHERE state = 'queued'")
        # The live log is contiguous (archiving moves a prefix out): its length from the two
        # ends of the primary key, not a count over every entry on each scrape.
        entries = await self.rows("SELECT COALESCE(MAX(seq) - MIN(seq) + 1, 0) FROM audit")
        checkpoint = await self.rows("SELECT MAX(at) FROM audit_checkpoints")
        now = self._clock()
        return StoreFigures(
            states=states,
            oldest_queued_s=None if oldest[0][0] is None else max(0.0, now - float(oldest[0][0])),
            audit_entries=int(entries[0][0]),
            last_checkpoint_age_s=(
                None if checkpoint[0][0] is None else max(0.0, now - float(checkpoint[0][0]))
            ),
        )

    async def agencies(self) -> list[AgencyRow]:
        waiting = await self.rows(
            "SELECT agency_code, state, COUNT(*), MIN(accepted_at), MIN(next_attempt_at) "
            "FROM records WHERE state IN ('queued', 'leased', 'dead') "
            "GROUP BY agency_code, state"
        )
        blocked = await self.rows(
            "SELECT r.agency_code, COUNT(*) FROM records r "  # noqa: S608 - constants only
            "LEFT JOIN dossiers d ON d.dossier_code = r.dossier_code "
            f"WHERE r.state = 'queued' AND {STEP_BLOCKED_SQL} GROUP BY r.agency_code"
        )
        blocked_by = {str(a): int(n) for a, n in blocked}
        found: dict[str, dict[str, Any]] = {}
        for agency, state, count, oldest, due in waiting:
            row = found.setdefault(
                str(agency), {"queued": 0, "leased": 0, "dead": 0, "oldest": None, "due": None}
            )
            row[str(state)] = int(count)
            if state != "dead":
                row["oldest"] = _least(row["oldest"], oldest)
            if state == "queued":
                row["due"] = _least(row["due"], due)
        return [
            AgencyRow(
                agency_code=agency,
                queued=row["queued"],
                leased=row["leased"],
                dead=row["dead"],
                blocked=blocked_by.get(agency, 0),
                oldest_waiting_at=row["oldest"],
                next_attempt_at=row["due"],
            )
            for agency, row in sorted(found.items())
        ]

    async def records(self, dossier_code: str, limit: int) -> list[dict[str, Any]]:
        """A dossier's records, oldest first, each with why it waits (if it does)."""
        rows = await self.rows(
            "SELECT " + RECORD_COLUMNS + " FROM records WHERE dossier_code = {} "  # noqa: S608
            "ORDER BY id LIMIT {}",
            (dossier_code, limit),
        )
        found = [dict(zip(RECORD_COLUMNS.split(", "), row, strict=True)) for row in rows]
        now = self._clock()
        for index, record in enumerate(found):
            record["waiting_on"] = _waiting_on(record, found[:index], now)
        return found

    async def synced_within_hour(self, recent: int = 5000) -> tuple[int, int]:
        """Of the last ``recent`` dossier snapshots accepted, how many reached the portal within
        an hour of acceptance (delivered, ``updated_at - accepted_at <= 3600``)."""
        rows = await self.rows(
            "SELECT state, updated_at - accepted_at FROM records WHERE kind = 'dossier' "
            "AND state IN ('delivered', 'queued', 'leased', 'dead') ORDER BY id DESC LIMIT {}",
            (recent,),
        )
        fast = sum(1 for state, took in rows if state == "delivered" and float(took) <= 3600)
        return fast, len(rows)


def _least(a: float | None, b: object) -> float | None:
    if b is None:
        return a
    value = float(b)  # type: ignore[arg-type]
    return value if a is None else min(a, value)


def _waiting_on(record: dict[str, Any], earlier: list[dict[str, Any]], now: float) -> str:
    """Why a queued record has not gone yet, in the operator's words (the store's rules: a
    step waits for its dossier's snapshot and earlier steps; with no snapshot queued or in
    flight and one dead or quarantined, it is blocked until an operator acts)."""
    if record["state"] != "queued":
        return ""
    snapshots = [r for r in earlier if r["kind"] == "dossier"]
    waiting = [r for r in snapshots if r["state"] in ("queued", "leased")]
    stuck = [r for r in snapshots if r["state"] in ("dead", "quarantined")]
    if record["kind"] == "progress" and stuck and not waiting:
        last = stuck[-1]
        return f"blocked behind {last['state']} snapshot {last['id']}: replay it or send a newer"
    ahead = [r for r in earlier if r["state"] in ("queued", "leased")]
    if ahead:
        first = ahead[0]
        return f"waits for record {first['id']} ({first['kind']}, {first['state']}) of its dossier"
    if float(record["next_attempt_at"]) > now:
        return f"retry due in {float(record['next_attempt_at']) - now:.0f} s"
    return "due now"
