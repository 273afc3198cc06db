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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.audit.masking import MaskedText, mask_fields, mask_text, mask_xml
from gateway.store.contract import Outcome, OutcomeKind


@dataclass(frozen=True, slots=True)
class SentRequest:
    """The exact bytes a route sent for the record being delivered."""

    target: str
    body: bytes
    personal: frozenset[str] = frozenset()
    """The wire fields (JSON keys, XML element names) that carry personal data, as the
    encoder marks them: masked whole in the audit log's copy of the body."""


_last_request: contextvars.ContextVar[SentRequest | None] = contextvars.ContextVar(
    "audit_last_request", default=None
)


def note_request(target: str, body: bytes, personal: Iterable[str] = ()) -> None:
    """Routes call this with each message they send and the names of its personal fields
    (``gateway.encoders.dvcqg_json.PERSONAL_FIELDS``); the worker audits the last one."""
    _last_request.set(SentRequest(target, body, frozenset(personal)))


def take_request() -> SentRequest | None:
    """The request noted in this task since the last call (the worker calls it)."""
    request = _last_request.get()
    _last_request.set(None)
    return request


def peek_request() -> SentRequest | None:
    """The request noted in this task, left in place (for every record of one call)."""
    return _last_request.get()


@dataclass(slots=True)
class DescribedRequest:
    """A sent request as the audit log keeps it, worked out once per portal call."""

    digest: str
    """SHA-256 of the exact bytes sent (the whole call)."""
    masked: Any
    """The JSON body with personal data masked, or None for a body that is not JSON."""
    masked_text: str
    """The body as masked text (used when it is not JSON)."""
    first_record: int | None = None
    """The record whose entry holds a non-JSON body whole (the others point to it)."""

    @property
    def items(self) -> int | None:
        """How many records the call carried (a JSON ``data`` list), None if not JSON."""
        data = self.masked.get("data") if isinstance(self.masked, dict) else None
        if isinstance(data, list):
            return len(data)
        return None if self.masked is None else 1

    def body_for(self, record_id: int, dossier_code: str, max_bytes: int) -> MaskedText:
        """The masked body as one record's entry keeps it, so a 50-record call is not stored
        50 times: of a JSON call that carries several records (``data: [...]``), only this
        dossier's items; of any other body (a SOAP envelope), the whole text in the first
        record's entry and a pointer to it in the others (same ``request_digest``). Cut to
        ``max_bytes``. The digest always covers the whole call.

        The text is marked :class:`MaskedText`: every value in it was masked when the call
        was described (strings by field and pattern, numbers by pattern), so the audit
        writer does not mask a record's copy again."""
        if self.masked is None:
            if self.first_record is not None and self.first_record != record_id:
                return MaskedText(f"[the request of record {self.first_record}'s attempt entry]")
            self.first_record = record_id
            text = self.masked_text
        else:
            value = self.masked
            data = value.get("data") if isinstance(value, dict) else None
            if isinstance(data, list) and len(data) > 1:
                mine = [i for i in data if isinstance(i, dict) and i.get("MaHoSo") == dossier_code]
                value = {**value, "data": mine}
            text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        encoded = text.encode()
        if len(encoded) > max_bytes:
            cut = encoded[:max_bytes].decode("utf-8", errors="ignore")
            text = f"{cut}…[cut at {max_bytes} bytes]"
        return MaskedText(text)


def describe_request(request: SentRequest) -> DescribedRequest:
    """The digest of the exact bytes, and the body with personal data masked: by field (the
    route's personal fields, in JSON or in the SOAP XML), then by pattern everywhere else."""
    digest = hashlib.sha256(request.body).hexdigest()
    text = request.body.decode("utf-8", errors="replace")
    if text.lstrip("\ufeff \t\r\n").startswith("<"):
        return DescribedRequest(digest, None, _masked_xml(request))
    try:
        masked = _mask_numbers(mask_fields(json.loads(text), request.personal))
        return DescribedRequest(digest, masked, "")
    except (json.JSONDecodeError, RecursionError):
        return DescribedRequest(digest, None, mask_text(text))


def _mask_numbers(value: Any) -> Any:
    """JSON numbers that look like an ID or phone number (9 to 12 digits) masked as text:
    :func:`mask_fields` masks strings only, and the body is written out as it is."""
    if isinstance(value, dict):
        return {k: _mask_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_numbers(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = json.dumps(value)
        masked = mask_text(text)
        return value if masked == text else masked
    return value


def _masked_xml(request: SentRequest) -> str:
    # The hardened parser of the SOAP boundary (no DTD, no entities, no network); loaded
    # here only when a SOAP body is described, as zeep comes with its module.
    from gateway.encoders.wsdl import UnsafeXmlError, parse_xml  # noqa: PLC0415

    try:
        root = parse_xml(request.body)
    except UnsafeXmlError:
        return f"[XML body of {len(request.body)} bytes not kept: it does not parse]"
    return mask_xml(root, request.personal)


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
        if o.request_items is not None:
            sent["request_items"] = o.request_items
    transition: dict[str, Any] = {"attempt": attempt, "route": o.route}
    if o.portal_code is not None:
        transition["error_code"] = o.portal_code
    if o.message and o.kind is not OutcomeKind.DELIVERED:
        transition["message"] = o.message
    if o.kind is OutcomeKind.RETRY:
        transition["next_attempt_at"] = round(o.next_attempt_at, 3)
    return [("attempt", sent), (_OUTCOME_EVENTS[o.kind], transition)]
