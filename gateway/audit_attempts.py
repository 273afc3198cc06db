"""What a delivery attempt sent and got back, as audit entries.

Routes call :func:`note_request` with the exact bytes of each message they send; the delivery
worker takes the last one with :func:`take_request` (a context variable, so concurrent
deliveries in their own tasks do not mix) and puts its digest and masked body into the
``Outcome``; every store engine turns an outcome into entries with :func:`attempt_entries`.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from gateway.masking import mask_text, mask_value
from gateway.store.contract import Outcome, OutcomeKind


@dataclass(frozen=True, slots=True)
class SentRequest:
    """The exact bytes a route sent for the record being delivered."""

    target: str
    body: bytes


_last_request: contextvars.ContextVar[SentRequest | None] = contextvars.ContextVar(
    "audit_last_request", default=None
)


def note_request(target: str, body: bytes) -> None:
    """Routes call this with each message they send; the worker audits the last one."""
    _last_request.set(SentRequest(target, body))


def take_request() -> SentRequest | None:
    """The request noted in this task since the last call (the worker calls it)."""
    request = _last_request.get()
    _last_request.set(None)
    return request


def peek_request() -> SentRequest | None:
    """The request noted in this task, left in place (for every record of one call)."""
    return _last_request.get()


def describe_request(request: SentRequest, max_bytes: int) -> tuple[str, str]:
    """The digest of the exact bytes, and the body masked (and cut to ``max_bytes``)."""
    digest = hashlib.sha256(request.body).hexdigest()
    text = request.body.decode("utf-8", errors="replace")
    try:
        masked = json.dumps(mask_value(json.loads(text)), ensure_ascii=False, sort_keys=True)
    except json.JSONDecodeError:
        masked = mask_text(text)
    if len(masked.encode()) > max_bytes:
        cut = masked.encode()[:max_bytes].decode("utf-8", errors="ignore")
        masked = f"{cut}…[cut at {max_bytes} bytes]"
    return digest, masked


_OUTCOME_EVENTS = {
    OutcomeKind.DELIVERED: "delivered",
    OutcomeKind.RETRY: "retry_scheduled",
    OutcomeKind.DEAD: "dead_lettered",
    OutcomeKind.QUARANTINED: "quarantined",
}


def attempt_entries(o: Outcome, attempt: int) -> list[tuple[str, dict[str, Any]]]:
    """The two entries of a finished delivery attempt: what was sent and answered, then the
    record's transition. Every store engine writes these in the outcome's transaction."""
    sent: dict[str, Any] = {
        "attempt": attempt,
        "route": o.route,
        "outcome": str(o.kind),
        "latency_ms": round(o.latency_ms, 1),
        "http_status": o.http_status,
        "error_code": o.portal_code,
        "message": o.message,
    }
    if o.request_digest:
        sent["target"] = o.request_target
        sent["request_digest"] = o.request_digest
        sent["request_body"] = o.request_body
    transition: dict[str, Any] = {"attempt": attempt, "route": o.route}
    if o.portal_code is not None:
        transition["error_code"] = o.portal_code
    if o.message and o.kind is not OutcomeKind.DELIVERED:
        transition["message"] = o.message
    if o.kind is OutcomeKind.RETRY:
        transition["next_attempt_at"] = round(o.next_attempt_at, 3)
    return [("attempt", sent), (_OUTCOME_EVENTS[o.kind], transition)]
