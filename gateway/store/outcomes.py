"""What both store engines decide the same way: outcome states, audit events and details."""

from __future__ import annotations

from typing import Any

from gateway.model import DossierStatus
from gateway.store.contract import Outcome, OutcomeKind, State, is_backwards

STATE_OF = {
    OutcomeKind.DELIVERED: State.DELIVERED,
    OutcomeKind.RETRY: State.QUEUED,
    OutcomeKind.DEAD: State.DEAD,
    OutcomeKind.QUARANTINED: State.QUARANTINED,
}
"""The state a record goes to for each attempted outcome (DEFERRED is not an attempt)."""

EVENT_OF = {
    OutcomeKind.DELIVERED: "delivered",
    OutcomeKind.RETRY: "retry_scheduled",
    OutcomeKind.DEAD: "dead_lettered",
    OutcomeKind.QUARANTINED: "quarantined",
}


def outcome_detail(o: Outcome, attempt: int) -> dict[str, Any]:
    """The audit detail of one attempt's outcome: codes and the portal's answer only."""
    detail: dict[str, Any] = {
        "attempt": attempt,
        "route": o.route,
        "latency_ms": round(o.latency_ms, 1),
    }
    if o.http_status is not None:
        detail["http_status"] = o.http_status
    if o.portal_code is not None:
        detail["error_code"] = o.portal_code
    if o.message:
        detail["message"] = o.message
    if o.kind is OutcomeKind.RETRY:
        detail["next_attempt_at"] = round(o.next_attempt_at, 3)
    return detail


def stale_reason(latest_status: int | None, new: DossierStatus) -> str | None:
    """Why a snapshot would move its dossier backwards at the portal, or None if it would not."""
    if latest_status is None or not is_backwards(latest_status, new):
        return None
    return f"superseded: status {int(new)} is older than status {latest_status} accepted before"
