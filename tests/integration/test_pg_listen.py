"""Wake-ups between processes on PostgreSQL: records one store queues wake the other's worker
(LISTEN/NOTIFY), and still do after the database ended the listening connection."""

from __future__ import annotations

import asyncio
import io
import json

import asyncpg

from gateway import logs
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import Incoming
from gateway.store.postgres.store import PostgresStore
from tests.factories import dossier
from tests.pg import pg_database

WAIT_S = 30.0
"""Upper bound on waiting for the database; the waits end on events, not on this."""


class Wakes:
    """Counts the calls of a store's wake callback and lets a test wait for the next one."""

    def __init__(self) -> None:
        self.count = 0
        self._event = asyncio.Event()

    def __call__(self) -> None:
        self.count += 1
        self._event.set()

    async def next(self) -> None:
        async with asyncio.timeout(WAIT_S):
            await self._event.wait()
        self._event.clear()


async def queue(store: PostgresStore, code: str) -> None:
    receipts = await store.accept(
        [Incoming("t", dossier(code), code)], now=1.0, validate=validate_for_portal
    )
    assert receipts[0].status == "accepted"


async def test_records_queued_by_one_process_wake_the_other() -> None:
    async with pg_database() as dsn:
        listening = await PostgresStore.open(dsn, now=0.0)
        queuing = await PostgresStore.open(dsn, now=0.0)
        wakes = Wakes()
        try:
            await listening.listen(wakes)
            await queue(queuing, "A")
            await wakes.next()
        finally:
            await queuing.close()
            await listening.close()
    assert wakes.count == 1


async def test_listening_resumes_after_the_database_drops_the_connection() -> None:
    stream = io.StringIO()
    logs.configure("json", "INFO", stream=stream)
    async with pg_database() as dsn:
        listening = await PostgresStore.open(dsn, now=0.0)
        wakes = Wakes()
        try:
            await listening.listen(wakes)
            await drop_every_connection(dsn)
            await wakes.next()  # listening again: one wake for what was queued meanwhile
            queuing = await PostgresStore.open(dsn, now=0.0)
            try:
                await queue(queuing, "A")
                await wakes.next()  # and the notification of a new record arrives
            finally:
                await queuing.close()
        finally:
            await listening.close()
            logs.reset()
    assert wakes.count == 2
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert events.count("store_listener_lost") == 1
    assert events.count("store_listener_restored") == 1
    assert events.index("store_listener_lost") < events.index("store_listener_restored")


async def drop_every_connection(dsn: str) -> None:
    """End every session of the test database but this one, as a database restart does."""
    admin = await asyncpg.connect(dsn)
    try:
        dropped = await admin.fetchval(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    assert dropped > 0
