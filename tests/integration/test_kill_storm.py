"""Twenty SIGKILLs at random moments while 20,000 records are pushed and delivered.

The one-stop side keeps pushing (a chunk that was not acknowledged is pushed again after the
restart); the daemon (SQLite) is killed after a random number of portal calls, 20 times, and
restarted each time. At the end the portal holds every acknowledged record, no progress step
was applied twice, no dossier's status went backwards (late stale snapshots included), nothing
is dead-lettered and the audit chain verifies.
"""

from __future__ import annotations

import asyncio
import random
import signal
from pathlib import Path

import pytest

from gateway.audit.chain import verify_chain
from gateway.store.sqlite.store import SqliteStore
from tests.daemons import (
    complete,
    feed,
    free_port,
    push,
    recording_portal,
    stale,
    start_daemon,
    wait_for_intake,
    write_config,
)

DOSSIERS = 5_000  # x 4 records = 20,000
KILLS = 20


@pytest.mark.timeout(300)
async def test_twenty_sigkills_while_delivering_twenty_thousand_records(tmp_path: Path) -> None:
    rng = random.Random(20)
    records = feed(0, DOSSIERS)
    chunks = [records[i : i + 1000] for i in range(0, len(records), 1000)]
    chunks.append(stale(0, 200))
    codes = [f"000.00.00.H56-261102-{i:05d}" for i in range(DOSSIERS)]
    port = free_port()
    log = tmp_path / "daemon.log"
    async with recording_portal() as portal:
        config = write_config(tmp_path, "gw", portal.url, port, {"path": str(tmp_path / "gw.db")})
        up = asyncio.Event()
        proc = await start_daemon(config, log)

        async def wait_up() -> None:
            await up.wait()

        async def pusher() -> int:
            return sum([await push(port, chunk, wait_up) for chunk in chunks])

        await wait_for_intake(port, proc)
        up.set()
        pushing = asyncio.create_task(pusher())
        kills = 0
        for _ in range(KILLS):
            after = portal.writes + rng.randint(5, 25)
            async with asyncio.timeout(60):
                await portal.when(lambda after=after: portal.writes >= after).wait()  # type: ignore[misc]
            up.clear()
            proc.send_signal(signal.SIGKILL)
            assert await proc.wait() == -signal.SIGKILL
            kills += 1
            proc = await start_daemon(config, log)
            await wait_for_intake(port, proc)
            up.set()
        async with asyncio.timeout(120):
            acknowledged = await pushing
            await portal.when(lambda: complete(portal.state, codes)).wait()
        proc.send_signal(signal.SIGTERM)
        assert await proc.wait() == 0

    assert kills == KILLS
    assert acknowledged == len(records) + 200
    assert complete(portal.state, codes)
    assert portal.state.duplicate_progress == 0
    assert portal.backwards() == []
    store = await SqliteStore.open(tmp_path / "gw.db", now=0.0)
    try:
        counts = await store.counts()
        entries = await store.audit_entries()
    finally:
        await store.close()
    assert counts["queued"] + counts["leased"] + counts["dead"] == 0
    assert counts["superseded"] >= 200  # at least the stale snapshots
    assert verify_chain(entries) is None
