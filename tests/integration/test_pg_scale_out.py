"""Three gateway processes on one PostgreSQL deliver 50,000 records.

Each process has its own intake; the one-stop side spreads its pushes over the three. One
process is killed with SIGKILL half-way and not restarted: the other two take over its leases
when they expire. The portal ends with every acknowledged record, no progress step applied
twice, no dossier's status going backwards, nothing dead-lettered, and one audit chain.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from gateway.audit.chain import verify_chain
from gateway.store.postgres.store import PostgresStore
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
from tests.pg import pg_database

DOSSIERS = 12_500  # x 4 records = 50,000
PROCESSES = 3


@pytest.mark.timeout(900)
async def test_three_processes_on_one_postgresql_deliver_fifty_thousand(tmp_path: Path) -> None:
    records = feed(0, DOSSIERS)
    # A dossier's records go to one process, in order (as one one-stop system would send them).
    per_process = [
        [r for i in range(p * 4, len(records), 4 * PROCESSES) for r in records[i : i + 4]]
        for p in range(PROCESSES)
    ]
    codes = [f"000.00.00.H56-261102-{i:05d}" for i in range(DOSSIERS)]
    async with pg_database() as dsn, recording_portal() as portal:
        ports = [free_port() for _ in range(PROCESSES)]
        configs = [
            write_config(
                tmp_path, f"gw{n}", portal.url, ports[n], {"engine": "postgresql", "dsn": dsn}
            )
            for n in range(PROCESSES)
        ]
        procs = [await start_daemon(c, tmp_path / f"gw{n}.log") for n, c in enumerate(configs)]
        try:
            for port, proc in zip(ports, procs, strict=True):
                await wait_for_intake(port, proc)

            async def never_back() -> None:
                raise AssertionError("a live gateway refused a push")

            async def pusher(n: int) -> int:
                chunk = 1000
                mine = per_process[n]
                total = 0
                for i in range(0, len(mine), chunk):
                    total += await push(ports[n], mine[i : i + chunk], never_back)
                return total

            pushing = [asyncio.create_task(pusher(n)) for n in range(PROCESSES)]
            acknowledged = sum(await asyncio.gather(*pushing))
            acknowledged += await push(ports[0], stale(0, 300), never_back)

            half = portal.writes + 200
            async with asyncio.timeout(120):
                await portal.when(lambda: portal.writes >= half).wait()
            procs[2].send_signal(signal.SIGKILL)  # its leases expire; the others take them over
            assert await procs[2].wait() == -signal.SIGKILL

            async with asyncio.timeout(300):
                await portal.when(lambda: complete(portal.state, codes)).wait()
            for proc in procs[:2]:
                proc.send_signal(signal.SIGTERM)
                assert await proc.wait() == 0
        finally:
            for proc in procs:  # a failure above: never leave a daemon running
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()

        store = await PostgresStore.open(dsn, now=0.0)
        try:
            counts = await store.counts()
            entries = await store.audit_entries()
            owners = await store.query(
                "SELECT COUNT(DISTINCT detail::jsonb ->> 'owner') FROM audit WHERE event = 'leased'"
            )
            analyzed = await store.query(
                "SELECT COUNT(*) FROM pg_stat_user_tables "
                "WHERE relname IN ('records', 'dossiers') AND last_analyze IS NOT NULL"
            )
        finally:
            await store.close()

    assert acknowledged == len(records) + 300
    assert complete(portal.state, codes)
    assert portal.state.duplicate_progress == 0
    assert portal.backwards() == []
    assert counts["queued"] + counts["leased"] + counts["dead"] == 0
    assert counts["superseded"] >= 300
    assert owners[0][0] == PROCESSES  # every process delivered a share
    assert verify_chain(entries) is None
    assert analyzed[0][0] == 2  # the daemons analyzed the queue tables (autovacuum may be off)
