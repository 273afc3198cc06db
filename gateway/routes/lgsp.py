"""Route ``lgsp``: the DVCQG JSON through a provincial LGSP (spec §1.3).

Two families of LGSP authentication are supported, chosen by ``routes.lgsp.auth``:

- ``wso2`` (WSO2 API Manager, e.g. Cà Mau) [C]: ``POST {lgsp}/token`` with
  ``grant_type=client_credentials`` and HTTP Basic ``consumer_key:consumer_secret``; the
  ``access_token`` goes as ``Authorization: Bearer`` on every call.
- ``lgspaccesstoken`` (Hậu Giang, HCM) [C1]: the header ``lgspaccesstoken`` carries the
  Base64 of ``{AccessKey, SecretKey, AppName, PartnerCode, PartnerCodeCus}``; the same
  ``/token`` call returns an ``access_token`` sent as ``Bearer`` together with the header.

The token is cached for its ``expires_in`` (less a minute; ``token_ttl_s`` when absent) and
renewed once when the LGSP answers HTTP 401. The DVCQG paths are published under
``portal_prefix`` [?]: where a given LGSP exposes them is a provincial decision. The DVCQG
session and create-or-update are those of ``dvcqg-rest``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import structlog

from gateway.config.schema import LgspConfig, PortalConfig
from gateway.errors import RetryableDeliveryError
from gateway.routes import http
from gateway.routes.dvcqg_rest import DvcqgRestRoute

log = structlog.get_logger("gateway.routes.lgsp")

TOKEN_MARGIN_S = 60.0
MAX_TOKEN_ANSWER_BYTES = 64 * 1024


def access_token_header(config: LgspConfig) -> str:
    """The ``lgspaccesstoken`` header value: Base64 of the credential object [C1]."""
    credential = {
        "AccessKey": config.access_key,
        "SecretKey": config.secret_key,
        "AppName": config.app_name,
        "PartnerCode": config.partner_code,
        "PartnerCodeCus": config.partner_code_cus,
    }
    raw = json.dumps(credential, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(raw).decode("ascii")


class LgspRoute(DvcqgRestRoute):
    """``dvcqg-rest`` through a provincial LGSP."""

    name = "lgsp"

    def __init__(
        self,
        portal: PortalConfig,
        lgsp: LgspConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(portal, clock=clock)
        self._lgsp = lgsp
        self._token: str | None = None
        self._token_until = 0.0
        self._token_lock = asyncio.Lock()

    def _url(self, path: str) -> str:
        return self._lgsp.base_url.rstrip("/") + self._lgsp.portal_prefix + path

    async def _auth_headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {await self._current_token()}"}
        if self._lgsp.auth == "lgspaccesstoken":
            headers["lgspaccesstoken"] = access_token_header(self._lgsp)
        return headers

    def _refused_auth(self, http_status: int, headers: Any) -> bool:
        if http_status != 401:
            return False
        self._token = None
        return True

    async def _current_token(self) -> str:
        async with self._token_lock:
            if self._token is not None and self._clock() < self._token_until:
                return self._token
            token, lifetime_s = await self._fetch_token()
            self._token = token
            self._token_until = self._clock() + max(0.0, lifetime_s - TOKEN_MARGIN_S)
            log.info("lgsp_token_obtained", auth=self._lgsp.auth)
            return token

    async def _fetch_token(self) -> tuple[str, float]:
        url = self._lgsp.base_url.rstrip("/") + self._lgsp.token_path
        headers: dict[str, str] = {}
        if self._lgsp.auth == "wso2":
            pair = f"{self._lgsp.consumer_key}:{self._lgsp.consumer_secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        else:
            headers["lgspaccesstoken"] = access_token_header(self._lgsp)
        form = {"grant_type": "client_credentials"}
        try:
            answer = await http.post(
                self._http,
                url,
                data=form,
                headers=headers,
                max_bytes=MAX_TOKEN_ANSWER_BYTES,
                peer="LGSP token endpoint",
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RetryableDeliveryError(f"LGSP token endpoint unreachable: {exc!r}") from exc
        return parse_token_answer(answer.status, answer.body, self._lgsp.token_ttl_s)


def parse_token_answer(status: int, raw: bytes, default_ttl_s: float) -> tuple[str, float]:
    """``(access_token, lifetime_s)`` from a ``/token`` answer, or a retryable error (a
    refused credential is the operator's fix, never the record's fault)."""
    if len(raw) > MAX_TOKEN_ANSWER_BYTES:
        raise RetryableDeliveryError("LGSP token answer too large", http_status=status)
    if status != 200:
        raise RetryableDeliveryError(f"LGSP refused the token request (HTTP {status})",
                                     http_status=status)  # fmt: skip
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RetryableDeliveryError("LGSP token answer is not JSON") from None
    token = payload.get("access_token") if isinstance(payload, dict) else None
    if not isinstance(token, str) or not token:
        raise RetryableDeliveryError("LGSP token answer has no access_token")
    expires = payload.get("expires_in")
    lifetime = float(expires) if isinstance(expires, int | float) and expires > 0 else default_ttl_s
    return token, lifetime
