"""The ``LISTEN`` connection of a PostgreSQL store, kept alive across database restarts.

Every process that queues records sends ``NOTIFY dvc_gateway_queued``; each gateway process
holds one pooled connection that listens and calls its worker's ``wake``. When the database
ends that connection (a restart, a failover, an administrator's ``pg_terminate_backend``),
the process would stop hearing other processes and fall back to polling every
``delivery.idle_poll_s``. Instead it listens again as soon as the database takes
connections (backing off up to :data:`RELISTEN_MAX_WAIT_S`), logs the loss and the return
once each (``store_listener_lost``, ``store_listener_restored``), and calls ``wake`` once
on return: records queued while it was deaf are not waited for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import structlog
from tenacity import AsyncRetrying, retry_if_exception_type, wait_random_exponential

log = structlog.get_logger("gateway.store")

RELISTEN_MAX_WAIT_S = 30.0
"""The longest pause between two tries to listen again while the database is away."""


class Listener:
    """Holds one connection of ``pool`` with ``LISTEN channel`` on it while open."""

    def __init__(
        self,
        pool: Any,
        channel: str,
        callback: Callable[[], None],
        driver_errors: tuple[type[BaseException], ...],
    ) -> None:
        self._pool = pool
        self._channel = channel
        self._callback = callback
        self._driver_errors = driver_errors
        self._conn: Any = None
        self._relisten: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> None:
        """Listen now; a failure here is the caller's (the store is not usable yet)."""
        await self._listen()

    async def close(self) -> None:
        self._closed = True
        if self._relisten is not None:
            self._relisten.cancel()
            with suppress(asyncio.CancelledError):
                await self._relisten
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.remove_termination_listener(self._lost)
            with suppress(*self._driver_errors):  # the database may end it meanwhile
                await conn.remove_listener(self._channel, self._notified)
                await self._pool.release(conn)

    async def _listen(self) -> None:
        conn = await self._pool.acquire()
        try:
            await conn.add_listener(self._channel, self._notified)
        except BaseException:
            with suppress(*self._driver_errors):
                await self._pool.release(conn)
            raise
        conn.add_termination_listener(self._lost)
        self._conn = conn

    def _notified(self, *_: object) -> None:
        self._callback()

    def _lost(self, *_: object) -> None:
        """The database ended the connection (asyncpg gives a closed connection back to its
        pool on its own): listen again in the background."""
        self._conn = None
        if self._closed or (self._relisten is not None and not self._relisten.done()):
            return
        log.warning("store_listener_lost", channel=self._channel)
        self._relisten = asyncio.get_running_loop().create_task(self._listen_again())

    async def _listen_again(self) -> None:
        while self._conn is None:  # a new connection may be lost too before this ends
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(self._driver_errors),
                wait=wait_random_exponential(multiplier=0.1, max=RELISTEN_MAX_WAIT_S),
            ):
                with attempt:
                    await self._listen()
        log.info("store_listener_restored", channel=self._channel)
        self._callback()  # records queued while nobody listened
