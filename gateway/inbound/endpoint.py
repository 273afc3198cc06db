"""The inbound endpoint: ``POST /nps/createdossierfromdvcqg``, the way OpenCPS receives a
dossier filed on the national portal (spec dvcqg §2.4).

The answer is OpenCPS's ``{"error_code": ..., "message": ...}``: **0** created, **1**
duplicate (the same ``MaHoSo`` was received before; nothing new is stored), **-1** error (the
``errors`` list names each field path and rule, never a value). It comes only after the
dossier and its delivery job are committed with their audit entries, so a 0 or 1 means the
gateway owns the dossier; a -1 with HTTP 503 means nothing was stored and the portal sends
again.

Authentication: a bearer token (``inbound.token``, from the environment), compared in
constant time; mutual TLS when ``inbound.tls_client_ca`` is set (:func:`server_tls`).
Limits: the body size (413), attachments' size, count and content type
(:mod:`gateway.inbound.model`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import ssl
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import structlog
from aiohttp import web

from gateway.config.schema import InboundConfig
from gateway.errors import StoreError, TranslationError
from gateway.inbound.model import Limits, parse_portal_dossier
from gateway.store.inbound import InboundStore

log = structlog.get_logger("gateway.inbound")

CREATED, DUPLICATE, ERROR = 0, 1, -1
SOURCE = "dvcqg-push"
"""The source name the audit log records for dossiers the portal pushed."""

_dumps = partial(json.dumps, ensure_ascii=False)


def limits_of(config: InboundConfig) -> Limits:
    return Limits(
        max_attachment_bytes=config.max_attachment_bytes,
        max_total_bytes=config.max_total_bytes,
        max_attachments=config.max_attachments,
        allowed_extensions=tuple(e.lower() for e in config.allowed_extensions),
    )


def server_tls(config: InboundConfig) -> ssl.SSLContext | None:
    """The listener's TLS context: none without a certificate; with ``tls_client_ca``, a
    caller without a certificate from that CA is refused during the handshake."""
    if not config.tls_cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(config.tls_cert, config.tls_key or None)
    if config.tls_client_ca:
        context.load_verify_locations(config.tls_client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class InboundEndpoint:
    """Turns the portal's pushes into committed inbound dossiers."""

    def __init__(
        self,
        store: InboundStore,
        config: InboundConfig,
        *,
        sink_name: str,
        on_commit: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not config.token and not config.tls_client_ca:
            raise ValueError("inbound needs a token or mutual TLS")  # rules.py says it first
        self._store = store
        self._config = config
        self._limits = limits_of(config)
        self._sink_name = sink_name
        self._on_commit = on_commit
        self._clock = clock
        self.accepting = True

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self._config.max_body_bytes)
        app.router.add_post(self._config.path, self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        if self._config.token and not _authorised(request, self._config.token):
            return _answer(401, ERROR, "missing or wrong bearer token")
        if not self.accepting:
            return _answer(503, ERROR, "the gateway is shutting down", retry_after_s=5)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _answer(413, ERROR, f"body larger than {self._config.max_body_bytes} bytes")
        try:
            raw = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            return _answer(400, ERROR, "body is not UTF-8")
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno} column {exc.colno}"
            return _answer(400, ERROR, f"malformed JSON: {exc.msg} at {where}")
        try:
            dossier = parse_portal_dossier(raw, self._limits)
        except TranslationError as exc:
            errors = [{"path": p.path, "rule": p.rule, "reason": p.reason} for p in exc.problems]
            log.warning("inbound_refused", problems=len(errors),
                        paths=[p.path for p in exc.problems][:10])  # fmt: skip
            return _answer(400, ERROR, "the dossier was refused", errors=errors)
        digest = hashlib.sha256(body).hexdigest()
        try:
            receipt = await self._store.receive(
                SOURCE, dossier, digest, sink=self._sink_name, now=self._clock()
            )
        except StoreError as exc:
            log.error("inbound_store_failed", ma_ho_so=dossier.dossier_code, error=str(exc))
            message = "the gateway's store failed; nothing was stored: send again later"
            return _answer(503, ERROR, message, retry_after_s=30)
        log.info("inbound_committed", ma_ho_so=dossier.dossier_code, status=receipt.status)
        if receipt.status == "duplicate":
            return _answer(200, DUPLICATE, f"Hồ sơ {dossier.dossier_code} đã tồn tại")
        self._on_commit()
        return _answer(200, CREATED, f"Đã tiếp nhận hồ sơ {dossier.dossier_code}")


def _authorised(request: web.Request, token: str) -> bool:
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def _answer(
    status: int,
    code: int,
    message: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    retry_after_s: int | None = None,
) -> web.Response:
    body: dict[str, Any] = {"error_code": code, "message": message}
    if errors is not None:
        body["errors"] = errors
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else None
    return web.json_response(body, status=status, headers=headers, dumps=_dumps)
