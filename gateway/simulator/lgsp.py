"""The LGSP front of the simulated portal (spec §1.3): a token endpoint and the DVCQG paths.

- ``POST /lgsp/token`` with ``grant_type=client_credentials`` and either HTTP Basic
  ``consumer_key:consumer_secret`` (WSO2 API Manager style) or the header
  ``lgspaccesstoken`` (Base64 of ``{AccessKey, SecretKey, AppName, PartnerCode,
  PartnerCodeCus}``, whose ``AccessKey`` must match) returns
  ``{access_token, token_type, expires_in, scope}``; anything else is HTTP 401.
- ``POST /lgsp/dvcqg/mapi/{login,g}`` needs ``Authorization: Bearer <token>`` (and, for a
  token obtained with ``lgspaccesstoken``, that header again), then behaves exactly like
  ``/mapi/*``. A missing, unknown or expired token is HTTP 401 with a WSO2-style fault.
- ``POST /_sim/lgsp/expire-tokens`` invalidates every token (tests use it to check renewal).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from .xroad import Portal

MAX_FORM_BYTES = 4096


@dataclass(frozen=True, slots=True)
class LgspSettings:
    """The credentials the simulated LGSP accepts."""

    consumer_key: str
    consumer_secret: str
    access_key: str
    token_ttl_s: float


@dataclass
class _Tokens:
    ttl_s: float
    clock: Callable[[], float]
    expires_at: dict[str, tuple[float, bool]] = field(default_factory=dict)

    def issue(self, with_header: bool) -> str:
        token = secrets.token_urlsafe(24)
        self.expires_at[token] = (self.clock() + self.ttl_s, with_header)
        return token

    def check(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        entry = self.expires_at.get(token)
        if entry is None or self.clock() >= entry[0]:
            return False
        return not entry[1] or bool(request.headers.get("lgspaccesstoken"))


def register(
    app: web.Application,
    portal: Portal,
    settings: LgspSettings,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Add the LGSP token endpoint and the DVCQG paths behind it."""
    tokens = _Tokens(settings.token_ttl_s, clock)

    async def token(request: web.Request) -> web.Response:
        body = (await request.read())[:MAX_FORM_BYTES].decode("utf-8", errors="replace")
        if "grant_type=client_credentials" not in body:
            return _unauthorised("unsupported_grant_type")
        with_header = "lgspaccesstoken" in request.headers
        if with_header and not _access_key_ok(request.headers["lgspaccesstoken"], settings):
            return _unauthorised("invalid_client")
        if not with_header and not _basic_ok(request, settings):
            return _unauthorised("invalid_client")
        value = tokens.issue(with_header)
        answer = {
            "access_token": value,
            "token_type": "Bearer",
            "expires_in": int(settings.token_ttl_s),
            "scope": "default",
        }
        return web.json_response(answer)

    async def gateway(request: web.Request) -> web.StreamResponse:
        if not tokens.check(request):
            fault = {"fault": {"code": 900901, "message": "Invalid Credentials"}}
            return web.json_response(fault, status=401)
        handler = portal.login if request.match_info["op"] == "login" else portal.service
        return await handler(request)

    async def expire(request: web.Request) -> web.Response:
        count = len(tokens.expires_at)
        tokens.expires_at.clear()
        return web.json_response({"error_code": 0, "expired": count})

    app.router.add_post("/lgsp/token", token)
    app.router.add_post("/lgsp/dvcqg/mapi/{op:login|g}", gateway)
    app.router.add_post("/_sim/lgsp/expire-tokens", expire)


def _unauthorised(error: str) -> web.Response:
    return web.json_response({"error": error}, status=401)


def _basic_ok(request: web.Request, settings: LgspSettings) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        pair = base64.b64decode(header.removeprefix("Basic "), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    login, _, password = pair.partition(":")
    return secrets.compare_digest(login.encode(), settings.consumer_key.encode()) and (
        secrets.compare_digest(password.encode(), settings.consumer_secret.encode())
    )


def _access_key_ok(header: str, settings: LgspSettings) -> bool:
    try:
        credential = json.loads(base64.b64decode(header, validate=True).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError):
        return False
    key = credential.get("AccessKey") if isinstance(credential, dict) else None
    return isinstance(key, str) and secrets.compare_digest(key, settings.access_key)
