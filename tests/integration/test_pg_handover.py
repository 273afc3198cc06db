"""SIGTERM on PostgreSQL: a stopping process hands its leases back at once.

Its portal calls hang (the simulator answers 10 s late), so when SIGTERM comes the round in
flight is cut at the grace period. The leases are long (10 minutes): had they been left to
expire, the next process would wait that long. Instead they are back in the queue when the
process exits, and the next process delivers everything at once, looking each record up
first (a cut call may have reached the portal).
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import aiohttp

from gateway.audit.chain import verify_chain
from gateway.store.postgres.store import PostgresStore
from tests.daemons import (
    complete,
    feed,
    free_port,
    push,
    recording_portal,
    start_daemon,
    wait_for_intake,
    write_config,
)
from tests.pg import pg_database

DOSSIERS = 50


def long_leases(path: Path) -> Path:
    config = json.loads(path.read_text(encoding="utf-8"))
    config["delivery"]["lease_s"] = 600
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


async def set_faults(url: str, faults: dict[str, object]) -> None:
    async with aiohttp.ClientSession() as http, http.post(f"{url}/_sim/faults", json=faults) as r:
        assert r.status == 200, await r.text()


async def leased(store: PostgresStore) -> int:
    [(count,)] = await store.query("SELECT COUNT(*) FROM records WHERE state = 'leased'")
    return int(count)


async def test_sigterm_hands_leases_to_the_next_process_at_once(tmp_path: Path) -> None:
    codes = [f"000.00.00.H56-261102-{i:05d}" for i in range(DOSSIERS)]
    async with pg_database() as dsn, recording_portal() as portal:
        store = await PostgresStore.open(dsn, now=0.0)
        await set_faults(portal.url, {"mode": "slow", "slow_s": 10})
        ports = [free_port(), free_port()]
        configs = [
            long_leases(
                write_config(
                    tmp_path, f"gw{n}", portal.url, ports[n], {"engine": "postgresql", "dsn": dsn}
                )
            )
            for n in range(2)
        ]
        first = await start_daemon(configs[0], tmp_path / "gw0.log", None, "--grace-s", "0.5")
        second = None
        try:
            await wait_for_intake(ports[0], first)

            async def never_back() -> None:
                raise AssertionError("the gateway refused a push")

            assert await push(ports[0], feed(0, DOSSIERS), never_back) == 4 * DOSSIERS
            async with asyncio.timeout(60):
                # another process's state: nothing to wait on but the database itself
                while await leased(store) == 0:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)  # the first calls are about to hang
            first.send_signal(signal.SIGTERM)
            assert await first.wait() == 0
            assert await leased(store) == 0  # handed back, not left to expire

            await set_faults(portal.url, {"mode": "none"})
            second = await start_daemon(configs[1], tmp_path / "gw1.log")
            async with asyncio.timeout(120):  # far less than the 600 s leases
                await portal.when(lambda: complete(portal.state, codes)).wait()
            second.send_signal(signal.SIGTERM)
            assert await second.wait() == 0
        finally:
            for proc in (first, second):
                if proc is not None and proc.returncode is None:
                    proc.kill()
                    await proc.wait()
        entries = await store.audit_entries()
        await store.close()

    released = [e for e in entries if e.event == "lease_released"]
    assert released
    assert not [e for e in entries if e.event == "lease_expired"]
    assert portal.state.duplicate_progress == 0
    assert portal.backwards() == []
    assert verify_chain(entries) is None
