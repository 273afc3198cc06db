"""The admin API: what operators ask of a running gateway, on a listener of its own.

Every endpoint is one row of :data:`ENDPOINTS` (method, path, the least role that may call it,
what it does); the router, the role checks, the OpenAPI document and the tests all read that
table. ``/healthz`` and ``/readyz`` need no token (a service manager and a load balancer ask
them); everything else needs a bearer token of the role in the table (401 without a valid one,
403 with a weaker one). Every call that changes something, and every read of a record's payload
(personal data), writes an audit entry naming the token.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from gateway.admin.auth import Principal, Role, Tokens
from gateway.admin.endpoints import ENDPOINTS, Endpoint
from gateway.admin.metrics import Metrics
from gateway.admin.openapi import document
from gateway.admin.queries import Reader
from gateway.audit.archive import AuditQuery, AuditRepository, search
from gateway.audit.chain import AuditEntry
from gateway.config.schema import ROUTE_NAMES, GatewayConfig
from gateway.delivery.worker import DeliveryWorker
from gateway.errors import StoreError
from gateway.indicators.f766 import DossierHistory, ProcedureFacts
from gateway.model import PORTAL_TZ
from gateway.store.contract import DeadFilter, DeadLetter, Store

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PRINCIPAL_KEY = web.RequestKey("principal", Principal)
READY_TIMEOUT_S = 2.0
MAX_REPLAY_COUNT = 100_000
MAX_RECORD_ID = 2**63 - 1
MAX_IDS = 1000
MAX_NOTE = 500
SECRET_KEYS = ("password", "token", "dsn", "secret", "key")


@dataclass
class AdminDeps:
    """What the admin API reads and acts on (handed over by the composition root)."""

    config: Callable[[], GatewayConfig]
    store: Store
    reader: Reader
    worker: DeliveryWorker
    metrics: Metrics
    open_audit: Callable[[], AuditRepository]
    schema_current: Callable[[], Awaitable[bool]]
    indicators: Callable[[], Awaitable[list[tuple[str, float | None, float | None]]]] | None = None
    histories: Callable[[], Awaitable[list[DossierHistory]]] | None = None
    """Each dossier's history, for the console's Decision 766 page."""
    facts: Callable[[], Awaitable[dict[str, ProcedureFacts]]] | None = None
    """The catalogue facts the indicators use (synced catalogue, then the CSV)."""
    clock: Callable[[], float] = time.time
    draining: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.extra = extra


class AdminApi:
    """The handlers of :data:`ENDPOINTS`."""

    def __init__(self, deps: AdminDeps) -> None:
        self.deps = deps
        self.tokens = Tokens(deps.config().admin.tokens)

    def reload(self) -> None:
        """New tokens after a configuration reload."""
        self.tokens = Tokens(self.deps.config().admin.tokens)

    def add_routes(self, app: web.Application) -> None:
        for endpoint in ENDPOINTS:
            app.router.add_route(endpoint.method, endpoint.path, self._guarded(endpoint))

    def _guarded(self, endpoint: Endpoint) -> Handler:
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]] = getattr(
            self, endpoint.handler
        )

        async def guarded(request: web.Request) -> web.StreamResponse:
            role = endpoint.role
            if endpoint.handler == "metrics" and self.deps.config().admin.public_metrics:
                role = None
            if role is not None:
                principal = self.tokens.from_header(_header(request, "Authorization"))
                if principal is None:
                    return _json({"error": "missing or wrong bearer token"}, 401, bearer=True)
                if principal.role < role:
                    message = f"this needs the {role.name.lower()} role"
                    return _json({"error": message}, 403)
                request[PRINCIPAL_KEY] = principal
            try:
                return await handler(request)
            except ApiError as exc:
                return _json({"error": str(exc), **exc.extra}, exc.status)
            except StoreError as exc:
                return _json({"error": f"the store failed: {exc}"}, 503)

        return guarded

    # -- health ------------------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        if self.deps.draining:
            return _json({"status": "draining"}, 503)
        return _json({"status": "ok"}, 200)

    async def readyz(self, request: web.Request) -> web.Response:
        checks = await self.readiness()
        ready = all(checks.values())
        return _json({"ready": ready, "checks": checks}, 200 if ready else 503)

    async def readiness(self) -> dict[str, bool]:
        """Store reachable, schema current, at least one route not open-circuit, not draining."""
        checks = {"not_draining": not self.deps.draining}
        try:
            async with asyncio.timeout(READY_TIMEOUT_S):
                await self.deps.reader.rows("SELECT 1")
                checks["store"] = True
                checks["schema"] = await self.deps.schema_current()
        except (StoreError, TimeoutError):
            checks["store"] = False
            checks["schema"] = False
        checks["route"] = self.route_available()
        return checks

    def route_available(self) -> bool:
        """False when every breaker the worker holds is open (no road to the portal)."""
        breakers = self.deps.worker.guards.breakers
        return not breakers or any(b.state != "open" for b in breakers.values())

    async def metrics(self, request: web.Request) -> web.Response:
        metrics = self.deps.metrics
        breakers = {k: b.state for k, b in self.deps.worker.guards.breakers.items()}
        ready = all((await self.readiness()).values())
        await metrics.refresh(self.deps.reader.figures, breakers, ready, self.deps.indicators)
        return web.Response(
            body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def openapi(self, request: web.Request) -> web.Response:
        return _json(document(), 200)

    # -- reading -----------------------------------------------------------------------------

    async def status(self, request: web.Request) -> web.Response:
        now = self.deps.clock()
        figures = await self.deps.reader.figures()
        worker = self.deps.worker
        agencies = []
        for row in await self.deps.reader.agencies():
            route = worker.route_name(row.agency_code)
            breaker = worker.guards.breakers.get(f"{route}/{row.agency_code}")
            agencies.append(
                {
                    "agency": row.agency_code,
                    "route": route,
                    "queued": row.queued,
                    "leased": row.leased,
                    "dead": row.dead,
                    "blocked": row.blocked,
                    "oldest_waiting_age_s": _age(now, row.oldest_waiting_at),
                    "next_attempt_at": _iso(row.next_attempt_at),
                    "breaker": breaker.state if breaker else "closed",
                    "paused_by": worker.guards.paused_by(row.agency_code),
                }
            )
        fast, recent = await self.deps.reader.synced_within_hour()
        return _json(
            {
                "states": figures.states,
                "oldest_queued_age_s": figures.oldest_queued_s,
                "portal_down": worker.portal_down,
                "routes_available": self.route_available(),
                "synced_within_an_hour": {"synced": fast, "of": recent},
                "agencies": agencies,
                "audit": {
                    "entries": figures.audit_entries,
                    "last_checkpoint_age_s": figures.last_checkpoint_age_s,
                },
            },
            200,
        )

    async def records(self, request: web.Request) -> web.Response:
        dossier = request.query.get("dossier", "")
        if not dossier:
            raise ApiError(400, "dossier (MaHoSo) is required")
        rows = await self.deps.reader.records(dossier, self._limit(request))
        for row in rows:
            for key in ("next_attempt_at", "accepted_at", "updated_at"):
                row[key] = _iso(row[key])
        return _json({"dossier": dossier, "records": rows}, 200)

    async def timeline(self, request: web.Request) -> web.Response:
        code = request.match_info["code"]
        entries = await asyncio.to_thread(self._timeline, code)
        cap = self.deps.config().admin.max_list
        shown = entries[-cap:]
        return _json(
            {
                "dossier": code,
                "entries": [_entry(e) for e in shown],
                "total": len(entries),
                "truncated": len(entries) > len(shown),
            },
            200,
        )

    def _timeline(self, code: str) -> list[AuditEntry]:
        config = self.deps.config()
        repo = self.deps.open_audit()
        try:
            with repo.snapshot():
                return list(search(repo, AuditQuery(dossier_code=code), config.audit.archive_dir))
        finally:
            repo.close()

    async def dead_letters(self, request: web.Request) -> web.Response:
        where = _dead_filter(dict(request.query))
        letters = await self.deps.store.dead_letters(where, limit=self._limit(request))
        return _json({"dead_letters": [_letter(d) for d in letters]}, 200)

    async def dead_letter(self, request: web.Request) -> web.Response:
        record_id = _int(request.match_info["id"], "id")
        where = DeadFilter(record_ids=(record_id,), include_quarantined=True)
        letters = await self.deps.store.dead_letters(where, limit=1)
        if not letters:
            raise ApiError(404, f"record {record_id} is not dead-lettered or quarantined")
        answer = _letter(letters[0])
        if _bool(request.query.get("payload", "false"), "payload"):
            principal = request[PRINCIPAL_KEY]
            if principal.role < Role.OPERATOR:
                raise ApiError(403, "the payload holds personal data: it needs the operator role")
            await self.deps.store.note(
                "payload_read",
                {"by": principal.name, "record_id": record_id, "via": "admin API"},
                self.deps.clock(),
            )
            answer["payload"] = json.loads(letters[0].payload)
        return _json(answer, 200)

    async def routes(self, request: web.Request) -> web.Response:
        guards = self.deps.worker.guards
        return _json(
            {
                "routes": list(ROUTE_NAMES),
                "breakers": {
                    k: {
                        "state": b.state,
                        "retry_at": _iso(b.retry_at()) if b.state != "closed" else None,
                    }
                    for k, b in sorted(guards.breakers.items())
                },
                "paused": dict(guards.paused),
            },
            200,
        )

    async def config(self, request: web.Request) -> web.Response:
        return _json({"config": redact(self.deps.config())}, 200)

    # -- acting ------------------------------------------------------------------------------

    async def replay(self, request: web.Request) -> web.Response:
        body = await _body(request)
        where, count = await self._matching(body)
        if body.get("dry_run") is True:
            return _json({"would_replay": count}, 200)
        self._confirmed(body, count, "replayed", "would_replay")
        principal = request[PRINCIPAL_KEY]
        replayed = await self.deps.store.replay(
            where, by=f"{principal.name} (admin API)", now=self.deps.clock()
        )
        self.deps.worker.wake()
        return _json({"replayed": len(replayed), "ids": replayed[:1000]}, 200)

    async def resolve(self, request: web.Request) -> web.Response:
        body = await _body(request)
        note = body.get("note", "")
        if not isinstance(note, str) or len(note) > MAX_NOTE:
            raise ApiError(400, f"note must be a string of at most {MAX_NOTE} characters")
        where, count = await self._matching(body)
        if body.get("dry_run") is True:
            return _json({"would_resolve": count}, 200)
        self._confirmed(body, count, "resolved", "would_resolve")
        principal = request[PRINCIPAL_KEY]
        done = await self.deps.store.resolve(
            where, by=f"{principal.name} (admin API)", note=note, now=self.deps.clock()
        )
        self.deps.worker.wake()  # a resolved snapshot's steps may go now
        return _json({"resolved": len(done), "ids": done[:1000]}, 200)

    async def _matching(self, body: Mapping[str, Any]) -> tuple[DeadFilter, int]:
        """The filter a replay or a resolve names, and how many dead letters it covers."""
        where = _dead_filter(body)
        empty = not (where.record_ids or where.dossier_code or where.portal_code)
        if empty and where.since is None and where.until is None and body.get("all") is not True:
            raise ApiError(400, "name which records (ids, dossier, code, since, until) or all")
        matching = await self.deps.store.dead_letters(where, limit=MAX_REPLAY_COUNT)
        return where, len(matching)

    def _confirmed(self, body: Mapping[str, Any], count: int, verb: str, key: str) -> None:
        """Above ``admin.replay_confirm_above`` the caller repeats the count (409 otherwise)."""
        threshold = self.deps.config().admin.replay_confirm_above
        if count > threshold and body.get("confirm") != count:
            raise ApiError(
                409,
                f"{count} records would be {verb} (more than {threshold}): send confirm: {count}",
                **{key: count},
            )

    async def pause(self, request: web.Request) -> web.Response:
        return await self._pause(request, pause=True)

    async def resume(self, request: web.Request) -> web.Response:
        return await self._pause(request, pause=False)

    async def _pause(self, request: web.Request, *, pause: bool) -> web.Response:
        route = request.match_info["route"]
        if route not in ROUTE_NAMES:
            raise ApiError(404, f"unknown route {route!r}; routes: {', '.join(ROUTE_NAMES)}")
        body = await _body(request)
        agency = body.get("agency", "")
        if not isinstance(agency, str):
            raise ApiError(400, "agency must be a string")
        key = f"{route}/{agency}" if agency else route
        principal = request[PRINCIPAL_KEY]
        paused = self.deps.worker.guards.paused
        if pause:
            paused[key] = principal.name
        else:
            paused.pop(key, None)
            self.deps.worker.wake()
        event = "route_paused" if pause else "route_resumed"
        await self.deps.store.note(event, {"route": key, "by": principal.name}, self.deps.clock())
        return _json({"paused": dict(paused)}, 200)

    def _limit(self, request: web.Request) -> int:
        cap = self.deps.config().admin.max_list
        text = request.query.get("limit", str(cap))
        return max(1, min(cap, _int(text, "limit")))


# -- helpers -----------------------------------------------------------------------------------


def redact(config: GatewayConfig) -> dict[str, Any]:
    """The configuration as JSON, every value under a secret-looking key replaced."""

    def walk(value: Any, key: str = "") -> Any:
        if is_dataclass(value) and not isinstance(value, type):
            return {k: walk(v, k) for k, v in asdict(value).items()}
        if isinstance(value, Mapping):
            return {str(k): walk(v, str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v, key) for v in value]
        if any(word in key.lower() for word in SECRET_KEYS) and not key.endswith("_env"):
            return "***" if value else ""
        if isinstance(value, Path):
            return str(value)
        return value

    result: dict[str, Any] = walk(config)
    return result


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "the body must be a JSON object") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object")
    return body


def _dead_filter(values: Mapping[str, Any]) -> DeadFilter:
    ids = values.get("ids", ())
    if not isinstance(ids, (list, tuple)) or not all(
        isinstance(i, int) and not isinstance(i, bool) and 1 <= i <= MAX_RECORD_ID for i in ids
    ):
        raise ApiError(400, f"ids must be a list of record ids (1 to {MAX_RECORD_ID})")
    if len(ids) > MAX_IDS:
        raise ApiError(400, f"at most {MAX_IDS} ids at once")
    for name in ("dossier", "code"):
        if not isinstance(values.get(name, ""), str):
            raise ApiError(400, f"{name} must be a string")
    quarantined = values.get("quarantined", False)
    if isinstance(quarantined, str):
        quarantined = _bool(quarantined, "quarantined")
    if not isinstance(quarantined, bool):
        raise ApiError(400, "quarantined must be a boolean")
    return DeadFilter(
        record_ids=tuple(ids),
        dossier_code=values.get("dossier", ""),
        portal_code=values.get("code", ""),
        since=_when(values.get("since"), "since"),
        until=_when(values.get("until"), "until"),
        include_quarantined=quarantined,
    )


def _when(value: object, name: str) -> float | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be an ISO 8601 date-time")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ApiError(400, f"{name} must be an ISO 8601 date-time") from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=PORTAL_TZ)).timestamp()


def _int(text: str, name: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise ApiError(400, f"{name} must be a whole number")
    return int(text)


def _bool(text: str, name: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no", ""):
        return False
    raise ApiError(400, f"{name} must be true or false")


def _header(request: web.Request, name: str) -> str | None:
    try:
        return request.headers.get(name)
    except UnicodeDecodeError:  # a header that is not text cannot be a token
        return None


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(float(epoch), PORTAL_TZ).isoformat(timespec="seconds")


def _age(now: float, at: float | None) -> float | None:
    return None if at is None else round(max(0.0, now - at), 1)


def _letter(d: DeadLetter) -> dict[str, Any]:
    return {
        "id": d.record_id,
        "kind": d.kind,
        "state": d.state,
        "dossier": d.dossier_code,
        "agency": d.agency_code,
        "attempts": d.attempts,
        "portal_code": d.portal_code,
        "error": d.error,
        "dead_at": _iso(d.updated_at),
    }


def _entry(e: AuditEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": _iso(e.at),
        "event": e.event,
        "record_id": e.record_id,
        "detail": dict(e.detail),
    }


def _json(body: Any, status: int, *, bearer: bool = False) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="dvc-gateway"'} if bearer else None
    text = json.dumps(body, ensure_ascii=False, default=str)
    return web.Response(text=text, status=status, content_type="application/json", headers=headers)
