"""The delivery matrix: one gateway daemon per road and engine, a hostile simulator, SIGKILLs.

The simulator (in the test's loop) plays a strict portal with faults on every road: random
HTTP 500s, 429 with ``Retry-After``, resets after the call was applied, short sessions (and
LGSP tokens), and batches applied in part when refused. Its ledger judges what arrived:
duplicates, order violations, status regressions. The feed is :func:`tests.daemons.feed`
(four records per dossier) with late stale snapshots, and one step in ``REFUSED_EVERY``
dossiers carries text the portal refuses on its content (it must be dead-lettered with the
portal's reason, and nothing else may be).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web

from gateway.canonical import record_to_json
from gateway.simulator.faults import FAULTS_KEY, Faults
from gateway.simulator.portal import STATE_KEY, PortalState, SimulatorSettings, create_app
from tests.daemons import feed, free_port, push, stale, start_daemon, wait_for_intake
from tests.factories import step
from tests.wire import routes_section

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REFUSED = "NỘI DUNG BỊ TỪ CHỐI"
REFUSED_EVERY = 25
WRITES = ("DongBoHoSoMC", "CapNhatTienDoHoSoMC")


@dataclass(frozen=True, slots=True)
class Size:
    dossiers: int
    kills: int
    writes_between_kills: tuple[int, int]


SMALL = Size(dossiers=50, kills=2, writes_between_kills=(2, 6))
FULL = Size(dossiers=800, kills=8, writes_between_kills=(10, 40))  # 3,200 records + stale


def size() -> Size:
    """``DVCGW_SOAK=1`` (``make soak``): the full size; otherwise the small one (``make test``)."""
    return FULL if os.environ.get("DVCGW_SOAK") == "1" else SMALL


def code_of(i: int) -> str:
    return f"000.00.00.H56-261102-{i:05d}"


def refused(i: int) -> bool:
    return i % REFUSED_EVERY == REFUSED_EVERY - 1


def matrix_feed(dossiers: int) -> list[dict[str, Any]]:
    """:func:`tests.daemons.feed`, with the first step of every ``REFUSED_EVERY``-th dossier
    refused by the portal on its content."""
    records = feed(0, dossiers)
    for i in range(dossiers):
        if refused(i):
            bad = step(code_of(i), minutes=5, action=f"{REFUSED}: bước {i}")
            records[4 * i + 1] = record_to_json(bad)
    return records


def matrix_chunks(dossiers: int, per_chunk: int = 25) -> list[list[dict[str, Any]]]:
    """The feed in intake chunks of ``per_chunk`` dossiers, each dossier's closing snapshot
    one chunk late: it is accepted while the dossier's earlier snapshot may be in flight or
    waiting for a retry (the interleaving that sent a status backwards, issue 11), then the
    stale snapshots last."""
    records = matrix_feed(dossiers)
    groups = [records[i : i + 4 * per_chunk] for i in range(0, len(records), 4 * per_chunk)]
    opening = [[r for j, r in enumerate(g) if j % 4 != 3] for g in groups]
    closing = [[r for j, r in enumerate(g) if j % 4 == 3] for g in groups]
    chunks: list[list[dict[str, Any]]] = []
    for index, first in enumerate(opening):
        chunks.append(first)
        if index:
            chunks.append(closing[index - 1])
    chunks.append(closing[-1])
    chunks.append(stale(0, max(1, dossiers // 10)))
    return chunks


@dataclass
class HostilePortal:
    url: str
    state: PortalState
    faults: Faults
    waiters: list[tuple[Callable[[], bool], asyncio.Event]] = field(default_factory=list)

    def writes(self) -> int:
        return sum(self.state.calls.get(s, 0) for s in WRITES)

    def when(self, predicate: Callable[[], bool]) -> asyncio.Event:
        event = asyncio.Event()
        if predicate():
            event.set()
        else:
            self.waiters.append((predicate, event))
        return event

    def calls_beyond(self, calls: int) -> Callable[[], bool]:
        """A predicate: the portal has answered more than ``calls`` calls."""
        return lambda: sum(self.state.calls.values()) > calls

    def complete(self, dossiers: int) -> bool:
        """Every dossier finished on the portal with each step it should hold."""
        for i in range(dossiers):
            held = self.state.dossiers.get(code_of(i))
            if held is None or held["item"]["TrangThaiHoSo"] != "9":
                return False
            times = {s["ThoiDiemXuLy"] for s in self.state.progress.get(code_of(i), [])}
            want = {"20261102080900"} if refused(i) else {"20261102080500", "20261102080900"}
            if not want <= times:
                return False
        return True


@asynccontextmanager
async def hostile_portal(seed: int) -> AsyncIterator[HostilePortal]:
    settings = SimulatorSettings(session_ttl_s=5.0, lgsp_token_ttl_s=5.0, refused_text=REFUSED)
    faults = Faults(
        mode="random", failure_rate=0.15, retry_after="1", seed=seed, partial_apply=True
    )
    app = create_app(settings, fault_modes=faults)
    portal = HostilePortal("", app[STATE_KEY], app[FAULTS_KEY])

    @web.middleware
    async def notify(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        finally:
            for predicate, event in list(portal.waiters):
                if predicate():
                    event.set()
                    portal.waiters.remove((predicate, event))

    app.middlewares.insert(0, notify)  # outermost: sees the calls the faults cut short too
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    portal.url = f"http://127.0.0.1:{port}"
    try:
        yield portal
    finally:
        await runner.cleanup()


def write_matrix_config(
    folder: Path, route: str, portal_url: str, port: int, store: dict[str, Any]
) -> Path:
    config = {
        "portal": {"base_url": portal_url, "username": "simulator", "password": "simulator"},
        "store": store,
        "intake": {"port": port, "max_records_per_request": 1000},
        "routes": routes_section(route, portal_url),
        "delivery": {
            "concurrency": 4,
            "batch_size": 50,
            "portal_batch_size": 10,
            "idle_poll_s": 0.05,
            "lease_s": 3,
            "max_rescues": 10,
            "retry": {
                "base_delay_s": 0.05,
                "max_delay_s": 0.5,
                "max_attempts": 40,
                "budget_min_per_s": 100,
            },
            "breaker": {"failure_threshold": 20, "probe_interval_s": 0.5},
        },
        "logging": {"format": "json", "level": "WARNING"},
    }
    path = folder / f"gw-{route}.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is valid YAML
    return path


async def store_states(store: dict[str, Any]) -> dict[str, int]:
    """Records per state, read straight from the database (the daemon may be running)."""
    sql = "SELECT state, COUNT(*) FROM records GROUP BY state"
    if store.get("engine") == "postgresql":
        conn = await asyncpg.connect(store["dsn"])
        try:
            return {str(r[0]): int(r[1]) for r in await conn.fetch(sql)}
        finally:
            await conn.close()
    with sqlite3.connect(f"file:{store['path']}?mode=ro", uri=True) as conn:
        return {str(s): int(n) for s, n in conn.execute(sql).fetchall()}


async def dead_errors(store: dict[str, Any]) -> list[tuple[str, str]]:
    sql = "SELECT kind, COALESCE(last_error, '') FROM records WHERE state = 'dead' ORDER BY id"
    if store.get("engine") == "postgresql":
        conn = await asyncpg.connect(store["dsn"])
        try:
            return [(str(r[0]), str(r[1])) for r in await conn.fetch(sql)]
        finally:
            await conn.close()
    with sqlite3.connect(f"file:{store['path']}?mode=ro", uri=True) as conn:
        return [(str(k), str(e)) for k, e in conn.execute(sql).fetchall()]


@dataclass
class Run:
    kills: int
    acknowledged: int
    states: dict[str, int]
    dead: list[tuple[str, str]]
    report: dict[str, Any]
    complete: bool
    """The portal holds every dossier finished, with each step it should hold."""
    partially_applied: int
    injected: dict[str, int]

    def line(self, route: str, engine: str) -> str:
        r = self.report
        return (
            f"{route}/{engine}: duplicates={r['duplicates']} "
            f"order_violations={r['order_violations']} "
            f"regressions={r['status_regressions']} delivered={self.states.get('delivered', 0)} "
            f"dead={self.states.get('dead', 0)} queued={self.states.get('queued', 0)} "
            f"leased={self.states.get('leased', 0)} kills={self.kills} "
            f"complete={self.complete} partially_applied={self.partially_applied} "
            f"faults={self.injected}"
        )


async def run_matrix(
    tmp_path: Path, route: str, store: dict[str, Any], scale: Size, seed: int
) -> Run:
    """Push the feed while killing the daemon ``scale.kills`` times; wait until everything
    is acknowledged and the store has nothing left queued or leased; stop the daemon."""
    rng = random.Random(seed)
    chunks = matrix_chunks(scale.dossiers)
    port = free_port()
    log = tmp_path / "daemon.log"
    async with hostile_portal(seed) as portal:
        config = write_matrix_config(tmp_path, route, portal.url, port, store)
        up = asyncio.Event()
        proc = await start_daemon(config, log)

        async def wait_up() -> None:
            await up.wait()

        async def pusher() -> int:
            return sum([await push(port, chunk, wait_up) for chunk in chunks])

        pushing: asyncio.Task[int] | None = None
        try:
            await wait_for_intake(port, proc)
            up.set()
            pushing = asyncio.create_task(pusher())
            kills = 0
            for _ in range(scale.kills):
                after = portal.writes() + rng.randint(*scale.writes_between_kills)
                done = lambda after=after: (  # noqa: E731
                    portal.writes() >= after or portal.complete(scale.dossiers)
                )
                async with asyncio.timeout(120):
                    await portal.when(done).wait()
                if portal.complete(scale.dossiers):
                    break  # everything arrived before this kill: the test reports too few kills
                up.clear()
                proc.send_signal(signal.SIGKILL)
                assert await proc.wait() == -signal.SIGKILL
                kills += 1
                proc = await start_daemon(config, log)
                await wait_for_intake(port, proc)
                up.set()
            async with asyncio.timeout(300 if scale is FULL else 150):
                acknowledged = await pushing
                states = await store_states(store)
                while states.get("queued", 0) + states.get("leased", 0):
                    # the last outcomes are committed after the portal's last answer
                    event = portal.when(portal.calls_beyond(sum(portal.state.calls.values())))
                    with suppress(TimeoutError):
                        await asyncio.wait_for(event.wait(), 0.5)
                    states = await store_states(store)
            proc.send_signal(signal.SIGTERM)
            assert await proc.wait() == 0, log.read_text(encoding="utf-8")[-3000:]
            return Run(
                kills=kills,
                acknowledged=acknowledged,
                states=await store_states(store),
                dead=await dead_errors(store),
                report=portal.state.snapshot()["strict"],
                complete=portal.complete(scale.dossiers),
                partially_applied=portal.state.partially_applied,
                injected=dict(portal.faults.injected),
            )
        finally:  # a failed run leaves no daemon behind
            if pushing is not None:
                pushing.cancel()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
