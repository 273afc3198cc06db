"""Fault modes of the portal simulator: how a struggling portal behaves, on demand.

Every mode acts on every road to the portal: ``/mapi/*``, the X-Road REST forwarder
(``/XrdAdapter/RestService/forward/mapi/*``), the X-Road SOAP security server (``/xroad``)
and the LGSP (``/lgsp/dvcqg/mapi/*``, and ``/lgsp/token`` as a login).

========================  ==============================================================
mode                      what a service call gets
========================  ==============================================================
``none``                  the normal answer
``down``                  HTTP 503 with an HTML page (a proxy in front of a portal that is down)
``slow``                  the normal answer, ``slow_s`` seconds late (client timeouts)
``error``                 HTTP 500 with an HTML page; nothing is applied
``throttle``              HTTP 429 with ``Retry-After: <retry_after>`` (seconds or HTTP date)
``reset_after_apply``     the call is applied, then the connection is reset before the answer
``random``                with probability ``failure_rate`` one of error, throttle,
                          reset_after_apply (seeded by ``seed``); otherwise normal
========================  ==============================================================

``count`` limits a mode to the next N calls (then it returns to ``none``); 0 means no limit.
Logins (``.../mapi/login``, ``/lgsp/token``) are affected by ``down`` and ``slow`` only.

``partial_apply`` (true/false, with any mode) plays a portal whose writes are not atomic:
when it refuses a multi-item call for some items, it still applies the items no problem
names (and answers with the refusal). A gateway that re-sends a refused batch without
asking what the portal holds applies those items twice.

Set the mode with ``POST /_sim/faults`` (``{"mode": "throttle", "retry_after": "5"}``), read it
and the number of faults injected per mode with ``GET /_sim/faults``, or start the simulator
with ``dvc-gateway simulate-portal --fault MODE ...``.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from aiohttp import web

MODES = ("none", "down", "slow", "error", "throttle", "reset_after_apply", "random")
_RANDOM_MODES = ("error", "throttle", "reset_after_apply")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FORWARD = "/XrdAdapter/RestService/forward"
SERVICE_PATHS = frozenset({"/mapi/g", f"{FORWARD}/mapi/g", "/lgsp/dvcqg/mapi/g", "/xroad"})
LOGIN_PATHS = frozenset(
    {"/mapi/login", f"{FORWARD}/mapi/login", "/lgsp/dvcqg/mapi/login", "/lgsp/token"}
)
PARTIAL_APPLY: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "simulator_partial_apply", default=False
)
"""Set for the request being served when the portal applies the valid part of a refused
call (read by the service layer)."""


@dataclass
class Faults:
    """The fault mode in force, and how many faults of each kind were injected."""

    mode: str = "none"
    slow_s: float = 2.0
    retry_after: str = "5"
    failure_rate: float = 0.0
    count: int = 0
    seed: int | None = None
    partial_apply: bool = False
    injected: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.check()
        self._rng = random.Random(self.seed)  # noqa: S311 - fault injection, not cryptography

    def check(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if not 0.0 <= self.failure_rate <= 1.0:
            raise ValueError("failure_rate must be between 0 and 1")
        if not isinstance(self.partial_apply, bool):
            raise ValueError("partial_apply must be true or false")
        if self.slow_s < 0 or self.count < 0:
            raise ValueError("slow_s and count must not be negative")

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a ``POST /_sim/faults`` body (unknown keys and bad values are refused)."""
        allowed = {f.name for f in fields(self)} - {"injected"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
        before = asdict(self)
        for key, value in changes.items():
            setattr(self, key, value)
        try:
            self.check()
        except ValueError:
            for key in changes:
                setattr(self, key, before[key])
            raise
        if "seed" in changes:
            self._rng = random.Random(self.seed)  # noqa: S311

    def pick(self, path: str) -> str:
        """The fault for this call (``none`` for a normal answer), counting it."""
        mode = self.mode
        if mode == "random":
            mode = (
                self._rng.choice(_RANDOM_MODES)
                if self._rng.random() < self.failure_rate
                else "none"
            )
        if path in LOGIN_PATHS and mode not in ("down", "slow"):
            return "none"
        if mode != "none":
            self.injected[mode] = self.injected.get(mode, 0) + 1
            if self.count:
                self.count -= 1
                if self.count == 0:
                    self.mode = "none"
        return mode

    def describe(self) -> dict[str, Any]:
        return asdict(self)


FAULTS_KEY = web.AppKey("simulator_faults", Faults)
_HTML = "text/html; charset=utf-8"


def install(app: web.Application, faults: Faults | None = None) -> Faults:
    """Add the fault middleware (outermost) and ``/_sim/faults`` to a simulator app."""
    app[FAULTS_KEY] = faults if faults is not None else Faults()
    app.middlewares.insert(0, _inject)
    app.router.add_get("/_sim/faults", _handle_get)
    app.router.add_post("/_sim/faults", _handle_post)
    return app[FAULTS_KEY]


@web.middleware
async def _inject(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path not in SERVICE_PATHS and request.path not in LOGIN_PATHS:
        return await handler(request)
    faults = request.app[FAULTS_KEY]
    PARTIAL_APPLY.set(faults.partial_apply)  # this request's task only
    mode = faults.pick(request.path)
    if mode == "down":
        return web.Response(
            status=503,
            text="<h1>503 Service Unavailable</h1>",
            content_type=None,
            headers={"Content-Type": _HTML},
        )
    if mode == "error":
        return web.Response(
            status=500,
            text="<h1>500 Internal Server Error</h1>",
            content_type=None,
            headers={"Content-Type": _HTML},
        )
    if mode == "throttle":
        return web.Response(
            status=429,
            text="<h1>429 Too Many Requests</h1>",
            content_type=None,
            headers={"Content-Type": _HTML, "Retry-After": faults.retry_after},
        )
    if mode == "slow":
        await request.read()  # kept by aiohttp for the handler, even if the client gives up
        await asyncio.sleep(faults.slow_s)
        return await handler(request)
    response = await handler(request)
    if mode == "reset_after_apply":
        transport = request.transport
        if transport is not None:
            transport.abort()  # the call was applied; the client never hears so
    return response


async def _handle_get(request: web.Request) -> web.Response:
    return web.json_response(request.app[FAULTS_KEY].describe())


async def _handle_post(request: web.Request) -> web.Response:
    try:
        body = json.loads(await request.text())
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        request.app[FAULTS_KEY].update(body)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.json_response(request.app[FAULTS_KEY].describe())
