"""What both store engines decide the same way about delivery: the ordering rule of claims,
outcome states and audit details.

(Accepting is decided in :mod:`.accepting`; an attempt's entries in
:func:`gateway.audit.attempts.attempt_entries`.)
"""

from __future__ import annotations

from typing import Any

from gateway.store.contract import Outcome, OutcomeKind, State

STEP_MAY_GO_SQL = """
        NOT EXISTS (SELECT 1 FROM records o
                    WHERE o.dossier_code = r.dossier_code AND o.kind = 'dossier'
                      AND o.state = 'queued' AND o.id < r.id)
        AND NOT EXISTS (SELECT 1 FROM records p
                        WHERE p.dossier_code = r.dossier_code AND p.kind = 'progress'
                          AND p.state = 'queued'
                          AND (p.order_at < r.order_at
                               OR (p.order_at = r.order_at AND p.id < r.id)))"""
"""The per-dossier ordering rule for a queued progress step ``r`` (plain SQL, both engines;
the caller adds "its dossier is on the portal"): no snapshot of its dossier accepted before
it is still queued, and no earlier step (``handled_at``, then acceptance order) is."""

STEP_BLOCKED_SQL = """
        r.kind = 'progress' AND NOT COALESCE(d.on_portal, FALSE)
        AND NOT EXISTS (SELECT 1 FROM records s
                        WHERE s.dossier_code = r.dossier_code AND s.kind = 'dossier'
                          AND s.state IN ('queued', 'leased'))
        AND EXISTS (SELECT 1 FROM records b
                    WHERE b.dossier_code = r.dossier_code AND b.kind = 'dossier'
                      AND b.state IN ('dead', 'quarantined'))"""
"""When a queued record ``r`` (with its ``dossiers`` row ``d``, LEFT JOINed) is *blocked*: it
cannot go until an operator acts, because it is a step of a dossier the portal does not hold,
no snapshot of that dossier is queued or in flight, and one is dead-lettered or quarantined.
Replaying that snapshot, or a newer snapshot of the dossier, releases it. Nothing else
blocks: a dead step does not hold the dossier's later steps (they go; a replayed step then
arrives after them), and a snapshot never waits behind a dead record (a newer snapshot
supersedes a dead one). Plain SQL, both engines."""

BLOCKED_SQL = f"""
SELECT x.dossier_code, x.n, x.first_id, b.id, b.state, b.portal_code, COALESCE(b.last_error, '')
FROM (SELECT r.dossier_code, COUNT(*) AS n, MIN(r.id) AS first_id,
             (SELECT MAX(k.id) FROM records k
              WHERE k.dossier_code = r.dossier_code AND k.kind = 'dossier'
                AND k.state IN ('dead', 'quarantined')) AS blocker
      FROM records r LEFT JOIN dossiers d ON d.dossier_code = r.dossier_code
      WHERE r.state = 'queued' AND {STEP_BLOCKED_SQL}
      GROUP BY r.dossier_code) x
JOIN records b ON b.id = x.blocker
ORDER BY x.dossier_code
"""  # noqa: S608 - composed of constants, no input
"""One row per dossier with blocked records (``BlockedDossier``'s fields, in order); the
engine adds its ``LIMIT`` placeholder."""

NEXT_DUE_SQL = f"""
SELECT r.next_attempt_at
FROM records r LEFT JOIN dossiers d ON d.dossier_code = r.dossier_code
WHERE r.state = 'queued' AND NOT ({STEP_BLOCKED_SQL})
ORDER BY r.next_attempt_at LIMIT 1
"""  # noqa: S608 - composed of constants, no input
"""The earliest due time of a queued record that is not blocked (a blocked one has no next
attempt until an operator acts). ``ORDER BY ... LIMIT 1`` rather than ``MIN``: both engines
walk their queued-by-due-time index and stop at the first record that is not blocked,
instead of joining every queued record."""

STATE_OF = {
    OutcomeKind.DELIVERED: State.DELIVERED,
    OutcomeKind.RETRY: State.QUEUED,
    OutcomeKind.DEAD: State.DEAD,
    OutcomeKind.QUARANTINED: State.QUARANTINED,
}
"""The state a record goes to for each attempted outcome (DEFERRED is not an attempt)."""


def newer_snapshot(kind: str, record_id: int, latest_id: int | None) -> int | None:
    """The snapshot that replaces ``record_id``, or None: a dossier snapshot whose dossier's
    latest snapshot (``dossiers.latest_snapshot_id``) is another one was overtaken by a newer
    accepted snapshot (a backwards or quarantined snapshot never becomes the latest). Steps
    are never replaced."""
    if kind != "dossier" or latest_id is None or int(latest_id) == int(record_id):
        return None
    return int(latest_id)


def settled(state: State, newer: int | None) -> State:
    """The state of a record coming back from its lease (an outcome or a lost lease): a
    snapshot that a newer one overtook while it was leased is superseded instead of going
    back to the queue or to the dead letters, so it can never reach the portal after the
    newer one (never backwards). Delivered and quarantined stay what they are."""
    if newer is not None and state in (State.QUEUED, State.DEAD):
        return State.SUPERSEDED
    return state


def overtaken_detail(newer: int) -> dict[str, Any]:
    """The ``superseded`` entry of a snapshot :func:`settled` superseded on its return."""
    return {"by": newer, "reason": "newer_snapshot_accepted_while_leased"}


ATTEMPT_COLUMNS = (
    "record_id",
    "attempt",
    "finished_at",
    "route",
    "outcome",
    "http_status",
    "portal_code",
    "message",
    "latency_ms",
)
"""The ``attempts`` row of a tried outcome (:func:`attempt_row`)."""


def attempt_row(o: Outcome, attempt: int) -> tuple[Any, ...]:
    return (
        o.record_id,
        attempt,
        o.at,
        o.route,
        str(o.kind),
        o.http_status,
        o.portal_code,
        o.message,
        o.latency_ms,
    )


def deferred_detail(o: Outcome) -> dict[str, Any]:
    """The ``deferred`` entry: why the record was not tried, and when it will be."""
    return {"reason": o.message, "next_attempt_at": round(o.next_attempt_at, 3)}


def rescue_entry(
    rescues: int, limit: int, event: str
) -> tuple[State, str | None, str, dict[str, Any]]:
    """A record whose lease was lost (``event``: ``lease_expired`` or
    ``lease_released_at_start``) goes back to the queue, or, when that has happened more than
    ``limit`` times, to the dead letters as crashing the worker. Returns the new state, the
    error to record (None keeps the last one), and the audit event and detail."""
    if rescues + 1 > limit:
        reason = f"crashed the worker: its lease was lost {rescues + 1} times"
        return State.DEAD, reason, "dead_lettered", {"reason": "crashed_worker"}
    return State.QUEUED, None, event, {"rescues": rescues + 1}
