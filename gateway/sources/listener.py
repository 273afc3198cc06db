"""The intake listener: aiohttp's server behind a connection guard.

aiohttp's server has no deadline for a request's head and no bound on connections: 400
clients that send half a header and stall held 400 descriptors until the process ran out
(intake and the file-drop source stopped) and asyncio logged a traceback for every failed
``accept``. The guard wraps the server's protocol factory:

- **connection cap** (``intake.max_connections``, lowered to half the process's descriptor
  limit if that is smaller): at the cap the oldest connection that is *waiting for a request
  head* (a slow or idle client) is closed to make room; if every connection is inside a
  request, the new one gets a ``503`` with ``Retry-After`` and is closed.
- **head deadline** (``intake.header_timeout_s``): a connection must deliver each request's
  line and headers within this time of opening (or of its previous answer); a late one is
  closed (``408`` if it had begun).
- **body deadline** (``intake.body_timeout_s``): the whole body must arrive within this time
  of the head; a late one is answered ``408`` and the connection closed.
- **one log line per kind of overload** (:class:`OverloadLog`): the first event of a kind is
  logged at once, later ones at most once a minute with their count; repeated asyncio errors
  (``accept`` out of descriptors) likewise, never a traceback per event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import structlog
from aiohttp import web

from gateway.config.schema import IntakeConfig

log = structlog.get_logger("gateway.intake")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OVERLOAD_LOG_EVERY_S = 60.0
DESCRIPTOR_SHARE = 2
"""Intake may use at most 1/DESCRIPTOR_SHARE of the process's descriptors: the store, the
route's connections, the file-drop source and the logs need the rest."""


class OverloadLog:
    """Logs the first event of each kind at once, then at most one line per ``every_s``
    with how many happened since (``suppressed``)."""

    def __init__(
        self, every_s: float = OVERLOAD_LOG_EVERY_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._every_s = every_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._since: dict[str, int] = {}

    def note(self, event: str, **fields: Any) -> bool:
        """Count one ``event``; True when it was logged."""
        now = self._clock()
        count = self._since.get(event, 0) + 1
        last = self._last.get(event)
        if last is not None and now - last < self._every_s:
            self._since[event] = count
            return False
        self._last[event] = now
        self._since[event] = 0
        log.warning(event, events=count, **fields)
        return True

    def loop_errors(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """An asyncio exception handler: the first of each message in full, then counted."""
        message = str(context.get("message", "asyncio error"))
        now = self._clock()
        last = self._last.get(message)
        if last is not None and now - last < self._every_s:
            self._since[message] = self._since.get(message, 0) + 1
            return
        suppressed = self._since.get(message, 0)
        self._last[message] = now
        self._since[message] = 0
        if message.startswith("socket.accept() out of system resource"):
            # asyncio pauses accepting for a second and says so with a traceback each time
            log.error(
                "intake_accept_failed",
                error=str(context.get("exception", "")),
                events=suppressed + 1,
                advice="raise the descriptor limit (LimitNOFILE) or lower intake.max_connections",
            )
            return
        if suppressed:
            log.warning("asyncio_errors_repeated", message=message, events=suppressed)
        loop.default_exception_handler(context)

    @contextlib.contextmanager
    def handling_loop_errors(self, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
        previous = loop.get_exception_handler()
        loop.set_exception_handler(self.loop_errors)
        try:
            yield
        finally:
            loop.set_exception_handler(previous)


def accept_backlog(configured: int, cap: int) -> int:
    """``intake.backlog``, at most half the cap: asyncio accepts up to ``backlog`` sockets in
    one go before the guard can close any, so a burst must fit in the descriptors left."""
    return max(1, min(configured, cap // 2))


def connection_cap(configured: int) -> int:
    """``intake.max_connections``, lowered to a share of the descriptor limit (logged)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    allowed = max(1, soft // DESCRIPTOR_SHARE)
    if configured > allowed:
        log.warning(
            "intake_connection_cap_lowered",
            configured=configured,
            cap=allowed,
            descriptor_limit=soft,
        )
        return allowed
    return configured


class ConnectionGuard:
    """Wraps aiohttp's protocol factory: counts, caps and times out intake connections."""

    def __init__(
        self,
        config: IntakeConfig,
        *,
        overload: OverloadLog | None = None,
        max_connections: int | None = None,
    ) -> None:
        self.config = config
        self.overload = overload or OverloadLog()
        self.max_connections = (
            max_connections if max_connections is not None else config.max_connections
        )
        self._factory: Callable[[], asyncio.Protocol] | None = None
        self._open: dict[asyncio.BaseTransport, _Guarded] = {}
        self._waiting: dict[_Guarded, None] = {}  # oldest first
        self.refused = 0
        self.closed_waiting = 0
        self.timed_out_heads = 0
        self.timed_out_bodies = 0
        self._changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Until ``predicate`` holds after a change of connections (tests, the demo)."""
        while not predicate():
            self._changed.clear()
            await self._changed.wait()

    @property
    def open_connections(self) -> int:
        return len(self._open)

    @property
    def waiting_connections(self) -> int:
        """Open connections waiting for a request head (the ones closed first at the cap)."""
        return len(self._waiting)

    def wrap(self, factory: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        self._factory = factory
        return self._make

    def _make(self) -> asyncio.Protocol:
        assert self._factory is not None
        return _Guarded(self, self._factory)

    # -- connections ----------------------------------------------------------------------------

    def admit(self, conn: _Guarded, transport: asyncio.BaseTransport) -> bool:
        self._changed.set()
        if len(self._open) >= self.max_connections:
            if self._waiting:
                oldest = next(iter(self._waiting))
                self.closed_waiting += 1
                self.overload.note(
                    "intake_waiting_connection_closed_at_cap", cap=self.max_connections
                )
                oldest.give_up()
            else:
                self.refused += 1
                self.overload.note("intake_connection_refused_at_cap", cap=self.max_connections)
                return False
        self._open[transport] = conn
        return True

    def forget(self, conn: _Guarded, transport: asyncio.BaseTransport | None) -> None:
        self._changed.set()
        if transport is not None and self._open.get(transport) is conn:
            del self._open[transport]
        self._waiting.pop(conn, None)

    def waiting(self, conn: _Guarded, flag: bool) -> None:
        self._changed.set()
        if flag:
            self._waiting[conn] = None
        else:
            self._waiting.pop(conn, None)

    def refusal(self) -> bytes:
        body = json.dumps(
            {
                "error": f"the gateway takes at most {self.max_connections} connections at "
                "a time: send again later"
            }
        ).encode()
        head = (
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Retry-After: {self.config.busy_retry_after_s}\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode("ascii") + body

    # -- requests -------------------------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The head has arrived: stop its clock, start the body's; re-arm when answered."""
        conn = self._open.get(request.transport) if request.transport is not None else None
        if conn is None:
            return await handler(request)
        conn.request_started()
        loop = asyncio.get_running_loop()
        late = False

        def body_late() -> None:
            nonlocal late
            if not request.content.is_eof():
                late = True
                request.content.set_exception(TimeoutError("intake body deadline"))

        timer = loop.call_later(self.config.body_timeout_s, body_late)
        try:
            return await handler(request)
        except TimeoutError:
            if not late:
                raise
            self.timed_out_bodies += 1
            self.overload.note("intake_body_timed_out", timeout_s=self.config.body_timeout_s)
            seconds = f"{self.config.body_timeout_s:g}"
            response = web.json_response(
                {"error": f"request body not received within {seconds} s"}, status=408
            )
            response.force_close()
            return response
        finally:
            timer.cancel()
            conn.request_finished()


class _Guarded(asyncio.Protocol):
    """One connection: forwards to aiohttp's handler, keeps the head deadline."""

    def __init__(self, guard: ConnectionGuard, factory: Callable[[], asyncio.Protocol]) -> None:
        self._guard = guard
        self._factory = factory
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._begun = False  # bytes of a head received since the clock started

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if not self._guard.admit(self, transport):
            transport.write(self._guard.refusal())
            transport.close()
            return
        self._inner = self._factory()
        self._inner.connection_made(transport)
        self._wait_for_head()

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            if self._timer is not None:
                self._begun = True
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_clock()
        self._guard.forget(self, self._transport)
        if self._inner is not None:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    # -- the head deadline ----------------------------------------------------------------------

    def _wait_for_head(self) -> None:
        self._stop_clock()
        self._begun = False
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._guard.config.header_timeout_s, self._head_late)
        self._guard.waiting(self, True)

    def _stop_clock(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._guard.waiting(self, False)

    def _head_late(self) -> None:
        self._timer = None
        self._guard.timed_out_heads += 1
        self._guard.overload.note(
            "intake_header_timed_out", timeout_s=self._guard.config.header_timeout_s
        )
        self.give_up()

    def give_up(self) -> None:
        """Close a connection that is waiting for a head (``408`` if one had begun)."""
        self._stop_clock()
        if self._transport is not None and not self._transport.is_closing():
            if self._begun:
                self._transport.write(
                    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
                    b"Content-Length: 0\r\n\r\n"
                )
            self._transport.close()

    def request_started(self) -> None:
        self._stop_clock()

    def request_finished(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._wait_for_head()


class IntakeListener:
    """aiohttp's server for the intake app, behind a :class:`ConnectionGuard`."""

    def __init__(self, app: web.Application, config: IntakeConfig) -> None:
        self._config = config
        self.guard = ConnectionGuard(config, max_connections=connection_cap(config.max_connections))
        app.middlewares.insert(0, self.guard.middleware)
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            # The guard closes idle connections at header_timeout_s; aiohttp's own idle
            # timer is only a backstop behind it.
            keepalive_timeout=2 * config.header_timeout_s + 1,
        )
        self._server: asyncio.Server | None = None
        self._loop_errors = contextlib.ExitStack()

    async def start(self) -> None:
        await self._runner.setup()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._loop_errors.enter_context(self.guard.overload.handling_loop_errors(loop))
        self._server = await loop.create_server(
            self.guard.wrap(server),
            self._config.host,
            self._config.port,
            backlog=accept_backlog(self._config.backlog, self.guard.max_connections),
        )

    @property
    def port(self) -> int:
        """The port listened on (the configuration may ask for 0)."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop accepting, let answers in flight finish (aiohttp's shutdown), close."""
        if self._server is not None:
            self._server.close()
        await self._runner.cleanup()
        if self._server is not None:
            await self._server.wait_closed()
        self._loop_errors.close()
