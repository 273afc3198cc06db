"""The daemon as a real process: SIGKILL while it delivers, restart, nothing lost.

The portal simulator runs in the test's own event loop; the gateway runs as
``python -m gateway run --config FILE``. Synchronisation is by events the simulator sets
(via a test middleware), never by sleeping.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.audit.chain import verify_chain
from gateway.canonical import record_to_json
from gateway.model import DossierStatus
from gateway.simulator.portal import STATE_KEY, PortalState, SimulatorSettings, create_app
from gateway.store.sqlite.store import SqliteStore
from tests.daemons import free_port, start_daemon, wait_for_intake
from tests.factories import dossier, step

STEP_TIMES = {"20261102080500", "20261102080900"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class WatchedPortal:
    url: str
    state: PortalState
    calls: int = 0
    kill_after: int = 0
    enough: asyncio.Event | None = None
    done: asyncio.Event | None = None
    predicate: Callable[[PortalState], bool] | None = None


@pytest.fixture
async def portal() -> AsyncIterator[WatchedPortal]:
    app = create_app(SimulatorSettings())
    watched = WatchedPortal("", app[STATE_KEY])

    @web.middleware
    async def watch(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.path == "/mapi/g":
            watched.calls += 1
            if watched.enough and watched.calls >= watched.kill_after:
                watched.enough.set()
            if watched.done and watched.predicate and watched.predicate(watched.state):
                watched.done.set()
        return response

    app.middlewares.append(watch)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    watched.url = f"http://127.0.0.1:{port}"
    yield watched
    await runner.cleanup()


@pytest.fixture
async def spawned() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """Daemons a test started; any still running when it ends (a failure) are killed."""
    procs: list[asyncio.subprocess.Process] = []
    yield procs
    for proc in procs:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def write_config(folder: Path, portal_url: str, port: int) -> Path:
    config = {
        "portal": {"base_url": portal_url, "username": "simulator", "password": "simulator"},
        "store": {"path": str(folder / "gw.db")},
        "intake": {"port": port},
        "delivery": {
            "concurrency": 4,
            "batch_size": 8,
            "idle_poll_s": 0.05,
            "retry": {"base_delay_s": 0.05, "max_delay_s": 0.5},
        },
        "logging": {"format": "json", "level": "INFO"},
    }
    path = folder / "gateway.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is valid YAML
    return path


def feed(dossiers: int) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for i in range(dossiers):
        code = f"000.00.00.H56-261102-{i:05d}"
        records.append(record_to_json(dossier(code)))
        records.append(record_to_json(step(code, minutes=5)))
        records.append(record_to_json(step(code, minutes=9, status=DossierStatus.FINISHED)))
        records.append(record_to_json(dossier(code, status=DossierStatus.FINISHED)))
    return records


async def test_sigkill_while_delivering_loses_nothing(
    tmp_path: Path, portal: WatchedPortal, spawned: list[asyncio.subprocess.Process]
) -> None:
    dossiers = 150
    records = feed(dossiers)
    port = free_port()
    config = write_config(tmp_path, portal.url, port)
    log = tmp_path / "daemon.log"

    def complete(state: PortalState) -> bool:
        return len(state.dossiers) == dossiers and all(
            held["item"]["TrangThaiHoSo"] == "9"
            and {s["ThoiDiemXuLy"] for s in state.progress.get(code, [])} == STEP_TIMES
            for code, held in state.dossiers.items()
        )

    proc = await start_daemon(config, log)
    spawned.append(proc)
    await wait_for_intake(port, proc)
    acknowledged = 0
    async with aiohttp.ClientSession() as http:
        for i in range(0, len(records), 100):
            url = f"http://127.0.0.1:{port}/api/v1/intake/canonical"
            async with http.post(url, json=records[i : i + 100]) as response:
                answer = await response.json()
                acknowledged += answer["accepted"] + answer["duplicate"]
    assert acknowledged == len(records)

    portal.kill_after, portal.enough = portal.calls + 40, asyncio.Event()
    async with asyncio.timeout(60):
        await portal.enough.wait()
    proc.send_signal(signal.SIGKILL)
    assert await proc.wait() == -signal.SIGKILL
    assert portal.state.dossiers, "the kill came before any delivery"
    assert not complete(portal.state), "the kill came after the last delivery"

    portal.predicate, portal.done = complete, asyncio.Event()
    proc = await start_daemon(config, log)
    spawned.append(proc)
    if not complete(portal.state):
        async with asyncio.timeout(90):
            await portal.done.wait()
    proc.send_signal(signal.SIGTERM)
    assert await proc.wait() == 0  # SIGTERM is a clean stop

    # Every acknowledged record reached the portal.
    assert len(portal.state.dossiers) == dossiers
    for code, held in portal.state.dossiers.items():
        assert held["item"]["TrangThaiHoSo"] == "9", code
        times = {s["ThoiDiemXuLy"] for s in portal.state.progress[code]}
        assert times == STEP_TIMES, code

    # ... and the audit log has an entry for each, and its chain verifies.
    store = await SqliteStore.open(tmp_path / "gw.db", now=0.0)
    try:
        entries = await store.audit_entries()
        counts = await store.counts()
        ids = {row[0] for row in await store.query("SELECT id FROM records")}
    finally:
        await store.close()
    assert verify_chain(entries) is None
    audited = {(e.record_id, e.event) for e in entries}
    for record_id in ids:
        assert (record_id, "received") in audited
    assert counts["queued"] + counts["leased"] == 0
    assert counts["delivered"] + counts["superseded"] == len(ids)
