"""The admin API's endpoints as data: method, path, the least role, what it does, its
parameters. The router, the role checks, the OpenAPI document and the tests read this table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.admin.auth import Role


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One route of the API."""

    method: str
    path: str
    role: Role | None
    """The least role that may call it; None: no token needed."""
    handler: str
    summary: str
    query: tuple[tuple[str, str, str], ...] = ()
    """(name, type, description) of its query parameters."""
    body: Mapping[str, Any] | None = None
    """JSON Schema of its request body."""


REPLAY_BODY = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "ids": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
            "maxItems": 1000,
        },
        "dossier": {"type": "string", "maxLength": 64},
        "code": {"type": "string", "maxLength": 16},
        "since": {"type": "string", "format": "date-time"},
        "until": {"type": "string", "format": "date-time"},
        "quarantined": {"type": "boolean"},
        "all": {"type": "boolean"},
        "dry_run": {"type": "boolean"},
        "confirm": {"type": "integer"},
    },
}
RESOLVE_BODY = {
    **REPLAY_BODY,
    "properties": {
        **REPLAY_BODY["properties"],  # type: ignore[dict-item]
        "note": {"type": "string", "maxLength": 500},
    },
}
PAUSE_BODY = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"agency": {"type": "string", "maxLength": 64}},
}
DEAD_QUERY = (
    ("dossier", "string", "MaHoSo"),
    ("code", "string", "the portal's error_code"),
    ("since", "string", "dead-lettered at or after (ISO 8601)"),
    ("until", "string", "dead-lettered before (ISO 8601)"),
    ("quarantined", "boolean", "include quarantined records"),
    ("limit", "integer", "rows at most"),
)
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/healthz", None, "healthz", "Liveness: 200 ok, 503 while draining"),
    Endpoint("GET", "/readyz", None, "readyz", "Readiness: store, schema, a route not open"),
    Endpoint("GET", "/metrics", Role.VIEWER, "metrics", "Prometheus metrics"),
    Endpoint("GET", "/api/v1/openapi.json", None, "openapi", "This document"),
    Endpoint("GET", "/api/v1/status", Role.VIEWER, "status", "Counts, ages, routes, agencies"),
    Endpoint(
        "GET",
        "/api/v1/records",
        Role.VIEWER,
        "records",
        "A dossier's records with why each waits",
        query=(("dossier", "string", "MaHoSo (required)"), ("limit", "integer", "rows at most")),
    ),
    Endpoint(
        "GET",
        "/api/v1/dossiers/{code}/timeline",
        Role.VIEWER,
        "timeline",
        "A dossier's audit timeline (masked), the newest entries up to the list cap",
    ),
    Endpoint(
        "GET", "/api/v1/dead-letters", Role.VIEWER, "dead_letters", "Dead letters", DEAD_QUERY
    ),
    Endpoint(
        "GET",
        "/api/v1/dead-letters/{id}",
        Role.VIEWER,
        "dead_letter",
        "One dead letter; payload=true (operator, audited) adds the record",
        query=(("payload", "boolean", "include the record (personal data)"),),
    ),
    Endpoint(
        "POST",
        "/api/v1/dead-letters/replay",
        Role.OPERATOR,
        "replay",
        "Queue dead letters again: dry_run counts; above the threshold confirm must repeat it",
        body=REPLAY_BODY,
    ),
    Endpoint(
        "POST",
        "/api/v1/dead-letters/resolve",
        Role.OPERATOR,
        "resolve",
        "Mark dead letters settled outside the gateway (never sent; a snapshot: the portal has "
        "it); dry_run counts, above the threshold confirm must repeat it",
        body=RESOLVE_BODY,
    ),
    Endpoint("GET", "/api/v1/routes", Role.VIEWER, "routes", "Routes, breakers, pauses"),
    Endpoint(
        "POST",
        "/api/v1/routes/{route}/pause",
        Role.OPERATOR,
        "pause",
        "Pause a route (or one agency on it) in this process",
        body=PAUSE_BODY,
    ),
    Endpoint(
        "POST",
        "/api/v1/routes/{route}/resume",
        Role.OPERATOR,
        "resume",
        "Resume a route (or one agency on it)",
        body=PAUSE_BODY,
    ),
    Endpoint("GET", "/api/v1/config", Role.ADMIN, "config", "The configuration, secrets redacted"),
)
