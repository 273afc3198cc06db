"""Gateway daemons as real processes against a recording portal simulator (for the big tests).

The simulator runs in the test's loop with a middleware that records, per dossier, the
``TrangThaiHoSo`` of every snapshot the portal applied (to check that no status went
backwards) and sets events the tests wait on instead of sleeping.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from gateway.canonical import record_to_json
from gateway.model import DossierStatus
from gateway.simulator.portal import STATE_KEY, PortalState, SimulatorSettings, create_app
from gateway.store.contract import STATUS_RANK
from gateway.store.sqlite.rows import CLAIM_SQL
from tests.factories import dossier, step
from tests.processes import track

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STEP_TIMES = {"20261102080500", "20261102080900"}


@dataclass
class RecordingPortal:
    url: str
    state: PortalState
    calls: int = 0
    writes: int = 0
    """Calls that write (dossiers, progress): the moments the kill tests choose from."""
    history: dict[str, list[int]] = field(default_factory=dict)
    waiters: list[tuple[Callable[[], bool], asyncio.Event]] = field(default_factory=list)

    def when(self, predicate: Callable[[], bool]) -> asyncio.Event:
        """An event set as soon as ``predicate`` holds after a portal call."""
        event = asyncio.Event()
        if predicate():
            event.set()
        else:
            self.waiters.append((predicate, event))
        return event

    def backwards(self) -> list[str]:
        """Dossiers whose applied statuses ever went backwards."""
        return [
            code
            for code, seen in self.history.items()
            if any(STATUS_RANK[b] < STATUS_RANK[a] for a, b in itertools.pairwise(seen))
        ]


@asynccontextmanager
async def recording_portal() -> AsyncIterator[RecordingPortal]:
    app = create_app(SimulatorSettings())
    portal = RecordingPortal("", app[STATE_KEY])

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path != "/mapi/g":
            return await handler(request)
        body = json.loads(await request.read())
        response = await handler(request)
        portal.calls += 1
        if body.get("service") in ("DongBoHoSoMC", "CapNhatTienDoHoSoMC"):
            portal.writes += 1
        if body.get("service") == "DongBoHoSoMC" and isinstance(response, web.Response):
            answer = json.loads(response.body)  # type: ignore[arg-type]
            if answer.get("error_code") == 0:
                for item in body["data"]:
                    portal.history.setdefault(item["MaHoSo"], []).append(int(item["TrangThaiHoSo"]))
        for predicate, event in list(portal.waiters):
            if predicate():
                event.set()
                portal.waiters.remove((predicate, event))
        return response

    app.middlewares.append(record)
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(
    folder: Path, name: str, portal_url: str, port: int, store: dict[str, Any]
) -> Path:
    config = {
        "portal": {"base_url": portal_url, "username": "simulator", "password": "simulator"},
        "store": store,
        "intake": {"port": port, "max_records_per_request": 1000},
        "delivery": {
            "concurrency": 4,
            "batch_size": 200,
            "portal_batch_size": 50,
            "idle_poll_s": 0.05,
            "lease_s": 3,
            "max_rescues": 10,
            "retry": {"base_delay_s": 0.05, "max_delay_s": 0.5},
        },
        "logging": {"format": "json", "level": "INFO"},
    }
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is valid YAML
    return path


async def start_daemon(
    config: Path, log: Path, env: dict[str, str] | None = None, *extra: str
) -> asyncio.subprocess.Process:
    """Start ``gateway run``, its log (INFO and up, see :func:`write_config`) appended to
    ``log``. The caller kills it in a ``finally`` or a fixture's teardown (see
    :func:`stop_daemon`); :mod:`tests.processes` fails the test that leaves it running."""
    with log.open("ab") as sink:  # the child keeps its own copy of the descriptor
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway",
            "run",
            "--config",
            str(config),
            *extra,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=sink,
            env=env,
        )
    track(proc.pid)
    return proc


async def stop_daemon(proc: asyncio.subprocess.Process) -> None:
    """Kill a daemon a test started, unless it has ended already (for ``finally`` blocks)."""
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


def explain(log: Path, db: Path | None = None, lines: int = 40) -> None:
    """Print the tail of a daemon's log and, for a SQLite store, its delivery state (pytest
    shows what a failed test printed): a failure explains itself."""
    tail = (
        log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        if log.exists()
        else []
    )
    print(f"--- last {len(tail)} lines of {log}", *tail, sep="\n")
    if db is not None and db.exists():
        try:
            state = sqlite_delivery_state(db)
        except sqlite3.Error as exc:  # best effort: the failure itself is what matters
            state = f"unreadable: {exc}"
        print(f"--- delivery state of {db}", state, sep="\n")


def sqlite_delivery_state(db: Path) -> str:
    """What a stalled delivery would show: records by state, leases by owner and expiry,
    queued records by kind and next attempt, how many a claim could take now (the
    per-dossier ordering rule included), the last attempt. Times are seconds from now. Read
    only: safe beside a running daemon, and changes nothing a restart would find."""
    now = time.time()
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        q = conn.execute
        states = q("SELECT state, COUNT(*) FROM records GROUP BY state").fetchall()
        leases = q(
            "SELECT lease_owner, COUNT(*), MIN(lease_until) - ?, MAX(lease_until) - ? "
            "FROM records WHERE state = 'leased' GROUP BY lease_owner",
            (now, now),
        ).fetchall()
        queued = q(
            "SELECT kind, uncertain, COUNT(*), MIN(next_attempt_at) - ?, "
            "MAX(next_attempt_at) - ?, MAX(attempts), MAX(rescues) "
            "FROM records WHERE state = 'queued' GROUP BY kind, uncertain",
            (now, now),
        ).fetchall()
        claimable = q(CLAIM_SQL, {"now": now, "scan": 1_000_000}).fetchall()
        last = q("SELECT ? - MAX(finished_at), COUNT(*) FROM attempts", (now,)).fetchone()
    finally:
        conn.close()
    return "\n".join(
        [
            f"records by state: {states}",
            f"leased (owner, count, min/max lease_until): {leases}",
            "queued (kind, uncertain, count, min/max next_attempt_at, attempts, rescues): "
            f"{queued}",
            f"claimable now: {len(claimable)} records of {len({r[3] for r in claimable})} dossiers",
            f"attempts: {last[1]}, the last {last[0]} s ago",
        ]
    )


async def wait_for_intake(port: int, proc: asyncio.subprocess.Process) -> None:
    """Wait until the daemon answers /healthz (a connection refusal means: not yet)."""
    async with asyncio.timeout(60), aiohttp.ClientSession() as http:
        while True:
            assert proc.returncode is None, "the daemon exited during start-up"
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)  # the process is still binding its socket


def feed(first: int, dossiers: int) -> list[dict[str, Any]]:
    """Four records per dossier: received, two steps, finished (a step closes it)."""
    records: list[dict[str, Any]] = []
    for i in range(first, first + dossiers):
        code = f"000.00.00.H56-261102-{i:05d}"
        records.append(record_to_json(dossier(code)))
        records.append(record_to_json(step(code, minutes=5)))
        records.append(record_to_json(step(code, minutes=9, status=DossierStatus.FINISHED)))
        records.append(record_to_json(dossier(code, status=DossierStatus.FINISHED)))
    return records


def stale(first: int, dossiers: int) -> list[dict[str, Any]]:
    """An older status of each dossier arriving late: must never reach the portal."""
    return [
        record_to_json(
            dossier(
                f"000.00.00.H56-261102-{i:05d}",
                status=DossierStatus.PROCESSING,
                summary="Bản cũ đến muộn",
            )
        )
        for i in range(first, first + dossiers)
    ]


async def push(port: int, chunk: list[dict[str, Any]], up: Callable[[], Awaitable[None]]) -> int:
    """Push one chunk until the gateway acknowledges it (it may be killed meanwhile)."""
    url = f"http://127.0.0.1:{port}/api/v1/intake/canonical"
    while True:
        try:
            async with aiohttp.ClientSession() as http, http.post(url, json=chunk) as response:
                if response.status == 200:
                    answer = await response.json()
                    return int(answer["accepted"]) + int(answer["duplicate"])
        except (aiohttp.ClientError, ConnectionError):
            pass
        await up()  # wait for the daemon to be back before pushing again


def complete(state: PortalState, codes: list[str]) -> bool:
    """Every dossier finished on the portal with both of its steps."""
    for code in codes:
        held = state.dossiers.get(code)
        if held is None or held["item"]["TrangThaiHoSo"] != "9":
            return False
        if {s["ThoiDiemXuLy"] for s in state.progress.get(code, [])} != STEP_TIMES:
            return False
    return True
