"""Twenty SIGKILLs at random moments while 20,000 records are pushed and delivered.

The one-stop side keeps pushing (a chunk that was not acknowledged is pushed again after the
restart); the daemon (SQLite) is killed after a random number of portal calls, 20 times, and
restarted each time. Every kill comes while records are still to deliver (checked) and after
the restarted daemon wrote to the portal again. At the end the portal holds every acknowledged
record, no progress step was applied twice, no dossier's status went backwards (late stale
snapshots included), nothing is dead-lettered and the audit chain verifies.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import signal
from pathlib import Path

import pytest

from gateway.audit.chain import verify_chain
from gateway.store.sqlite.store import SqliteStore
from tests.daemons import (
    complete,
    explain,
    feed,
    free_port,
    push,
    recording_portal,
    stale,
    start_daemon,
    stop_daemon,
    wait_for_intake,
    write_config,
)

DOSSIERS = 5_000  # x 4 records = 20,000
KILLS = 20
LEAST_WRITES = DOSSIERS * 3 // 50
"""Portal writes the whole delivery takes at the least, however fast the machine: 15,000
records go (each dossier's first snapshot is superseded by its last one, pushed in the same
chunk), each at least once in a call of at most 50 (``portal_batch_size``)."""


@pytest.mark.timeout(300)
async def test_twenty_sigkills_while_delivering_twenty_thousand_records(tmp_path: Path) -> None:
    rng = random.Random(20)
    # The kills come when the portal has seen these numbers of writes (3 to 12 apart, the last
    # one at 144): all of them well within the delivery. (Kills 5 to 25 writes after each
    # restart added up to 300-330 writes, as many as the whole delivery made: one run in five,
    # the last kill waited for writes that could not come. Issue 19.)
    targets = list(itertools.accumulate(rng.randint(3, 12) for _ in range(KILLS)))
    assert targets[-1] <= LEAST_WRITES // 2
    records = feed(0, DOSSIERS)
    chunks = [records[i : i + 1000] for i in range(0, len(records), 1000)]
    chunks.append(stale(0, 200))
    codes = [f"000.00.00.H56-261102-{i:05d}" for i in range(DOSSIERS)]
    port = free_port()
    log, db = tmp_path / "daemon.log", tmp_path / "gw.db"
    async with recording_portal() as portal:
        config = write_config(tmp_path, "gw", portal.url, port, {"path": str(db)})
        up = asyncio.Event()
        kills = 0
        pushing: asyncio.Task[int] | None = None
        proc = await start_daemon(config, log)

        async def wait_up() -> None:
            await up.wait()

        async def pusher() -> int:
            return sum([await push(port, chunk, wait_up) for chunk in chunks])

        try:
            await wait_for_intake(port, proc)
            up.set()
            pushing = asyncio.create_task(pusher())
            for target in targets:
                # and at least one write by the daemon just restarted
                after = max(target, portal.writes + 1)
                async with asyncio.timeout(60):
                    await portal.when(lambda after=after: portal.writes >= after).wait()  # type: ignore[misc]
                up.clear()
                proc.send_signal(signal.SIGKILL)
                assert await proc.wait() == -signal.SIGKILL
                kills += 1
                assert not complete(portal.state, codes), f"kill {kills} came after the delivery"
                proc = await start_daemon(config, log)
                await wait_for_intake(port, proc)
                up.set()
            async with asyncio.timeout(120):
                acknowledged = await pushing
                await portal.when(lambda: complete(portal.state, codes)).wait()
            proc.send_signal(signal.SIGTERM)
            assert await proc.wait() == 0
        except BaseException:
            print(f"portal writes: {portal.writes}, kills: {kills}, kill targets: {targets}")
            explain(log, db)
            raise
        finally:  # whatever happened: no daemon, no pusher left behind
            await stop_daemon(proc)
            if pushing is not None and not pushing.done():
                pushing.cancel()

    assert kills == KILLS
    assert acknowledged == len(records) + 200
    assert complete(portal.state, codes)
    assert portal.state.duplicate_progress == 0
    assert portal.backwards() == []
    store = await SqliteStore.open(db, now=0.0)
    try:
        counts = await store.counts()
        entries = await store.audit_entries()
    finally:
        await store.close()
    assert counts["queued"] + counts["leased"] + counts["dead"] == 0
    assert counts["superseded"] >= 200  # at least the stale snapshots
    assert verify_chain(entries) is None
