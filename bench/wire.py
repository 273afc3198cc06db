"""``make bench``: the gateway beside its limits, every baseline measured in the same run.

    .venv/bin/python bench/wire.py            # the default sizes (about 5 minutes here)
    DVCGW_BENCH_BACKLOG=1000000 make bench    # the full-size backlog (see the README)

One table and ``bench/results.json``. Every gateway figure runs the daemon as a user runs it:
a real ``dvc-gateway run`` process (SQLite ``synchronous=FULL``, REST route, audit log with
signed checkpoints and keyed masking), the portal simulator in a process of its own (a fresh
one per scenario, so no scenario sees another's dossiers), canonical records pushed to the
intake over HTTP in chunks of ``CHUNK`` by ``PUSHERS`` clients. Each dossier has five records:
its snapshot and four progress steps (``feed``), all delivered (nothing is superseded).

Rows, each beside its baseline:

- raw HTTP: plain aiohttp posting the same DVCQG bodies (the gateway's batch size and
  concurrency, ``DeliveryConfig`` defaults) to the same simulator: the wire's ceiling;
- raw storage: a bare SQLite insert loop, rows of the same size, ``CHUNK`` rows per commit,
  WAL and ``synchronous=FULL``: the disk's ceiling for intake;
- intake alone (the portal down), then the backlog drain once the portal comes up;
- end to end (first push -> last record acknowledged by the portal), then the latency of each
  record from its push to its acknowledgement at half that rate (p50, p99);
- backlog scaling: the same daemon started on a store already holding ``RECORDS`` and
  ``BACKLOG`` queued records, timed until ``RECORDS`` are delivered; peak RSS of the daemon;
- PostgreSQL with 1, 2 and 3 daemons (``bench/scale_out.py``), and procrastinate (the task
  queue a developer would otherwise reach for) enqueuing and completing no-op jobs on the
  same server (``bench/peer_queue.py``, in its own process).

Sizes (environment): ``DVCGW_BENCH_RECORDS`` (10000), ``DVCGW_BENCH_BACKLOG`` (200000),
``DVCGW_BENCH_PG_DOSSIERS`` (1000 per run), ``DVCGW_BENCH_PG`` (admin DSN), ``DVCGW_BENCH_JOBS``
(procrastinate jobs, 3000). Nothing here is asserted anywhere: figures are read, not tested.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.*, bench.*

import aiohttp
from aiohttp import web

from gateway.canonical import record_to_json
from gateway.config.schema import DeliveryConfig
from gateway.encoders.dvcqg_json import encode_dossier, encode_step, envelope
from gateway.model import Dossier, ProgressStep
from tests.daemons import free_port
from tests.factories import dossier, step

CHUNK = 100
"""Records per intake push, and rows per commit of the raw storage baseline."""
PUSHERS = 4
STEPS = 4
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
BATCH = (
    {"batch_size": int(os.environ["DVCGW_BENCH_BATCH_SIZE"])}
    if os.environ.get("DVCGW_BENCH_BATCH_SIZE")
    else {}
)
"""``delivery.batch_size`` of the SQLite daemons (default: the configuration's default)."""
PG_ADMIN = os.environ.get("DVCGW_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def code_of(i: int) -> str:
    """Dossier codes for up to 3 million dossiers (100,000 a day of November 2026)."""
    return f"000.00.00.H56-2611{1 + i // 100_000:02d}-{i % 100_000:05d}"


def records_of(i: int) -> list[Dossier | ProgressStep]:
    code = code_of(i)
    return [dossier(code), *(step(code, minutes=5 * (k + 1)) for k in range(STEPS))]


def feed(dossiers: int, first: int = 0) -> list[dict[str, Any]]:
    """Canonical JSON of ``dossiers`` dossiers, five records each, dossier-contiguous."""
    return [record_to_json(r) for i in range(first, first + dossiers) for r in records_of(i)]


# -- processes ----------------------------------------------------------------------------------


def serve_portal(port: int) -> None:
    """The simulator alone in this process, no access log (``--portal PORT``)."""
    from gateway.simulator.portal import SimulatorSettings, create_app  # noqa: PLC0415

    async def serve() -> None:
        runner = web.AppRunner(create_app(SimulatorSettings()), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(serve())


class Portal:
    """The portal simulator in its own process on ``port``."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._proc: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> Portal:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        self.stop()

    async def start(self) -> None:
        self._proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once
            [sys.executable, str(Path(__file__)), "--portal", str(self.port)]
        )
        await wait_http(f"{self.url}/mapi/login", self._proc, method="POST")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            self._proc.wait()


async def wait_http(url: str, proc: subprocess.Popen[bytes], method: str = "GET") -> None:
    """Until ``url`` answers at all (a refused connection means: not bound yet)."""
    async with asyncio.timeout(60), aiohttp.ClientSession() as http:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
            try:
                async with http.request(method, url, json={}) as response:
                    await response.read()
                    return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)


def signing_env() -> dict[str, str]:
    """The daemon's environment: an audit signing key and a masking join key, as in
    production (checkpoints are signed, masked values carry keyed tags)."""
    return {
        **os.environ,
        "DVC_GATEWAY_AUDIT_KEY": base64.b64encode(os.urandom(32)).decode(),
        "DVC_GATEWAY_HASH_KEY": base64.b64encode(os.urandom(32)).decode(),
    }


@dataclass
class Daemon:
    """One ``dvc-gateway run`` on a SQLite store in ``folder``."""

    folder: Path
    portal_url: str
    name: str = "gw"
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def db(self) -> Path:
        return self.folder / f"{self.name}.db"

    async def start(self) -> None:
        config = {
            "portal": {
                "base_url": self.portal_url,
                "username": "simulator",
                "password": "simulator",
            },
            "store": {"engine": "sqlite", "path": str(self.db)},
            "intake": {"port": self.port, "max_records_per_request": 1000},
            # The defaults (16 calls in flight, 10 records a call, 64 a round), except that a
            # portal back from an outage is probed every second instead of every 30 s, and the
            # few records whose call failed meanwhile retry within seconds: the drain measures
            # the gateway, not the outage's timers.
            "delivery": {
                **BATCH,
                "breaker": {"probe_interval_s": 1.0},
                "retry": {"base_delay_s": 0.5, "max_delay_s": 2.0, "budget_min_per_s": 50},
            },
            "logging": {"format": "json", "level": "WARNING"},
        }
        path = self.folder / f"{self.name}.yaml"
        path.write_text(json.dumps(config), encoding="utf-8")
        with (self.folder / f"{self.name}.log").open("ab") as sink:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once
                [sys.executable, "-m", "gateway", "run", "--config", str(path)],
                stdout=subprocess.DEVNULL,
                stderr=sink,
                env=signing_env(),
            )
        await wait_http(f"http://127.0.0.1:{self.port}/healthz", self.proc)

    def peak_rss_mb(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_s(self) -> float:
        """CPU seconds the daemon used so far (user + system): on a shared machine a
        steadier figure than the wall clock."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=120)

    def delivered(self) -> int:
        return count(self.db, "delivered")


def count(db: Path, state: str) -> int:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        return int(
            conn.execute("SELECT COUNT(*) FROM records WHERE state = ?", (state,)).fetchone()[0]
        )
    finally:
        conn.close()


async def until_delivered(daemon: Daemon, n: int, every: float = 0.02) -> float:
    """Wait until ``n`` records are delivered; return the time it happened."""
    async with asyncio.timeout(1800):
        while daemon.delivered() < n:  # noqa: ASYNC110 - another process's database
            await asyncio.sleep(every)
    return time.perf_counter()


async def push_all(port: int, records: list[dict[str, Any]], pushers: int = PUSHERS) -> float:
    """Push ``records`` in chunks, ``pushers`` at a time (each a contiguous share of whole
    dossiers, in order); return the seconds until the last receipt."""
    url = f"http://127.0.0.1:{port}/api/v1/intake/canonical"
    chunks = [records[i : i + CHUNK] for i in range(0, len(records), CHUNK)]
    share = -(-len(chunks) // pushers)
    started = time.perf_counter()

    async def pusher(http: aiohttp.ClientSession, mine: list[list[dict[str, Any]]]) -> None:
        for chunk in mine:
            async with http.post(url, json=chunk) as response:
                answer = await response.json()
                if response.status != 200 or answer["accepted"] != len(chunk):
                    raise RuntimeError(f"intake answered {response.status}: {answer}")

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(
            *(pusher(http, chunks[p * share : (p + 1) * share]) for p in range(pushers))
        )
    return time.perf_counter() - started


# -- baselines ----------------------------------------------------------------------------------


def dvcqg_bodies(dossiers: int, session: str) -> list[list[bytes]]:
    """The bodies the gateway sends for the feed, phase by phase (snapshots, then each step
    round): ``portal_batch_size`` records a call, one agency a call, as the route encodes
    them (``json.dumps(..., ensure_ascii=False)``)."""
    size = DeliveryConfig().portal_batch_size
    phases: list[list[bytes]] = []
    for k in range(STEPS + 1):
        items = [
            encode_dossier(dossier(code_of(i)))
            if k == 0
            else encode_step(step(code_of(i), minutes=5 * k))
            for i in range(dossiers)
        ]
        service = "DongBoHoSoMC" if k == 0 else "CapNhatTienDoHoSoMC"
        updating = False if k == 0 else None
        phases.append(
            [
                json.dumps(
                    envelope(
                        session=session,
                        agency_code=dossier().agency_code,
                        service=service,
                        data=items[b : b + size],
                        updating=updating,
                    ),
                    ensure_ascii=False,
                ).encode()
                for b in range(0, len(items), size)
            ]
        )
    return phases


async def raw_http(dossiers: int) -> dict[str, Any]:
    """Plain aiohttp: the same bodies, ``concurrency`` calls in flight, same simulator."""
    concurrency = DeliveryConfig().concurrency
    async with Portal(free_port()) as portal, aiohttp.ClientSession() as http:
        login = {"username": "simulator", "password": "simulator"}
        async with http.post(f"{portal.url}/mapi/login", json=login) as response:
            session = (await response.json())["session"]
        phases = dvcqg_bodies(dossiers, session)
        url = f"{portal.url}/mapi/g"
        headers = {"Content-Type": "application/json; charset=utf-8"}
        refused = 0
        started = time.perf_counter()
        for bodies in phases:
            queue = list(reversed(bodies))

            async def caller(queue: list[bytes] = queue) -> None:
                nonlocal refused
                while queue:
                    body = queue.pop()
                    async with http.post(url, data=body, headers=headers) as response:
                        answer = json.loads(await response.read())
                        refused += int(answer.get("error_code") != 0)

            await asyncio.gather(*(caller() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    n = dossiers * (STEPS + 1)
    return {"records": n, "seconds": seconds, "rate": n / seconds, "refused": refused}


def raw_storage(folder: Path, records: list[dict[str, Any]]) -> dict[str, Any]:
    """A bare insert loop: the same canonical JSON rows, ``CHUNK`` per commit, WAL, FULL."""
    conn = sqlite3.connect(folder / "raw.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE raw (id INTEGER PRIMARY KEY, k TEXT UNIQUE, payload TEXT)")
    rows = [json.dumps(r, ensure_ascii=False) for r in records]
    started = time.perf_counter()
    for first in range(0, len(rows), CHUNK):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO raw (k, payload) VALUES (?, ?)",
            [(uuid.uuid4().hex, p) for p in rows[first : first + CHUNK]],
        )
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    size = statistics.mean(len(p.encode()) for p in rows)
    return {"rows": len(rows), "seconds": seconds, "rate": len(rows) / seconds, "row_bytes": size}


# -- the gateway --------------------------------------------------------------------------------


async def intake_then_drain(folder: Path, dossiers: int) -> dict[str, Any]:
    """Queue the feed with the portal down, then start the portal and time the drain."""
    records = feed(dossiers)
    port = free_port()
    daemon = Daemon(folder, f"http://127.0.0.1:{port}", "backlog")
    await daemon.start()
    try:
        intake_s = await push_all(daemon.port, records)
        cpu_queued = daemon.cpu_s()
        async with Portal(port):
            started = time.perf_counter()
            first = None
            while daemon.delivered() == 0:  # noqa: ASYNC110 - another process's database
                await asyncio.sleep(0.02)
            first = time.perf_counter()
            done = await until_delivered(daemon, len(records))
        rss, cpu = daemon.peak_rss_mb(), daemon.cpu_s()
    finally:
        daemon.stop()
    n = len(records)
    return {
        "intake": {
            "records": n,
            "seconds": intake_s,
            "rate": n / intake_s,
            "cpu_ms_per_record": cpu_queued * 1000 / n,
        },
        "drain": {
            "records": n,
            "seconds": done - started,
            "rate": n / (done - started),
            "first_delivery_s": first - started,
            "rate_after_first": n / (done - first),
            "peak_rss_mb": rss,
            "cpu_ms_per_record": (cpu - cpu_queued) * 1000 / n,
        },
    }


async def end_to_end(folder: Path, dossiers: int) -> dict[str, Any]:
    records = feed(dossiers)
    async with Portal(free_port()) as portal:
        daemon = Daemon(folder, portal.url, "e2e")
        await daemon.start()
        try:
            started = time.perf_counter()
            pushing = asyncio.create_task(push_all(daemon.port, records))
            done = await until_delivered(daemon, len(records))
            await pushing
            cpu = daemon.cpu_s()
        finally:
            daemon.stop()
    n = len(records)
    seconds = done - started
    return {
        "records": n,
        "seconds": seconds,
        "rate": n / seconds,
        "cpu_ms_per_record": cpu * 1000 / n,
    }


async def latency(folder: Path, rate: float, seconds: float) -> dict[str, Any]:
    """Push one dossier's five records at a time at ``rate`` records/s for ``seconds``; each
    record's latency is its acknowledgement time (the delivered outcome's ``updated_at``)
    less the moment its push began."""
    per = STEPS + 1
    dossiers = max(20, int(rate * seconds / per))
    first = 1_000_000  # codes no other scenario uses
    pushed_at: dict[str, float] = {}
    url_of = "http://127.0.0.1:{}/api/v1/intake/canonical"
    async with Portal(free_port()) as portal:
        daemon = Daemon(folder, portal.url, "latency")
        await daemon.start()
        try:
            async with aiohttp.ClientSession() as http:
                begin = time.time()
                tasks = []

                async def push(i: int) -> None:
                    pushed_at[code_of(i)] = time.time()
                    chunk = feed(1, i)
                    async with http.post(url_of.format(daemon.port), json=chunk) as response:
                        if response.status != 200:
                            raise RuntimeError(f"intake answered {response.status}")

                for n in range(dossiers):
                    delay = begin + n * per / rate - time.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    tasks.append(asyncio.create_task(push(first + n)))
                await asyncio.gather(*tasks)
            await until_delivered(daemon, dossiers * per)
        finally:
            daemon.stop()
    conn = sqlite3.connect(daemon.db)
    rows = conn.execute(
        "SELECT dossier_code, updated_at FROM records WHERE state = 'delivered'"
    ).fetchall()
    conn.close()
    waits = sorted((at - pushed_at[code]) * 1000 for code, at in rows)
    return {
        "records": len(waits),
        "offered_rate": rate,
        "p50_ms": waits[len(waits) // 2],
        "p99_ms": waits[min(len(waits) - 1, int(len(waits) * 0.99))],
        "max_ms": waits[-1],
    }


async def fill_store(db: Path, dossiers: int) -> float:
    """Queue ``dossiers`` x 5 records through ``SqliteStore.accept`` (what intake commits,
    1,000 a transaction), without the HTTP intake: fast enough for a large backlog."""
    from gateway.audit.chain import AuditPolicy  # noqa: PLC0415
    from gateway.sources.intake import validate_for_portal  # noqa: PLC0415
    from gateway.store.contract import Incoming  # noqa: PLC0415
    from gateway.store.sqlite.store import SqliteStore  # noqa: PLC0415

    started = time.perf_counter()
    store = await SqliteStore.open(db, now=0.0, audit=AuditPolicy())
    try:
        for first in range(0, dossiers, 200):
            items = [
                Incoming("canonical", r, f"bench-{i}-{k}")
                for i in range(first, min(dossiers, first + 200))
                for k, r in enumerate(records_of(i))
            ]
            await store.accept(items, now=time.time(), validate=validate_for_portal)
    finally:
        await store.close()
    return time.perf_counter() - started


async def drain_backlog(folder: Path, queued: int, measured: int) -> dict[str, Any]:
    """A daemon started on a store holding ``queued`` records: seconds until ``measured``
    of them are delivered, and the daemon's peak RSS."""
    name = f"scale{queued}"
    fill_s = await fill_store(folder / f"{name}.db", queued // (STEPS + 1))
    async with Portal(free_port()) as portal:
        daemon = Daemon(folder, portal.url, name)
        started = time.perf_counter()
        await daemon.start()
        try:
            ready = time.perf_counter()
            done = await until_delivered(daemon, measured, every=0.1)
            rss, cpu = daemon.peak_rss_mb(), daemon.cpu_s()
        finally:
            daemon.stop()
    return {
        "queued": queued,
        "measured": measured,
        "fill_s": fill_s,
        "start_s": ready - started,
        "seconds": done - ready,
        "rate": measured / (done - ready),
        "peak_rss_mb": rss,
        "cpu_ms_per_record": cpu * 1000 / measured,
    }


# -- PostgreSQL ---------------------------------------------------------------------------------


async def postgres(dossiers: int) -> dict[str, Any]:
    from scale_out import deliver  # noqa: PLC0415 - bench/ is the script's folder

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        for processes in (1, 2, 3):
            try:
                seconds = await deliver(processes, dossiers, Path(folder))
            except Exception as exc:  # noqa: BLE001 - reported in the table, not hidden
                out[str(processes)] = {"error": repr(exc)}
                continue
            out[str(processes)] = {
                "records": 4 * dossiers,
                "seconds": seconds,
                "rate": 4 * dossiers / seconds,
            }
    return out


def peer_queue(jobs: int) -> dict[str, Any]:
    """procrastinate in its own process (``bench/peer_queue.py``); its failure is a row."""
    done = subprocess.run(
        [sys.executable, str(HERE / "peer_queue.py"), "--jobs", str(jobs), "--pg", PG_ADMIN],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    return dict(json.loads(lines[-1]))


# -- the table ----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version()}


def table(r: dict[str, Any]) -> str:
    http, disk = r["raw_http"]["rate"], r["raw_storage"]["rate"]
    rows: list[tuple[str, str, str, str]] = [
        ("raw HTTP: aiohttp, same bodies, 10/call, 16 in flight", f"{http:,.0f}", "", ""),
        ("raw SQLite insert, same rows, FULL, 100/commit", f"{disk:,.0f}", "", ""),
    ]

    def row(label: str, rate: float, base: float, name: str, target: str) -> None:
        rows.append((label, f"{rate:,.0f}", f"{rate / base:.2f}x {name}", target))

    row("intake (committed receipts)", r["intake"]["rate"], disk, "raw SQLite", ">= 0.5x")
    row(
        "end to end (first push -> last ack)", r["end_to_end"]["rate"], http, "raw HTTP", ">= 0.25x"
    )
    d = r["drain"]
    row(
        f"backlog drain ({d['records']:,} queued, portal down)",
        d["rate"],
        http,
        "raw HTTP",
        ">= 0.35x",
    )
    small, large = r["scaling"]["small"], r["scaling"]["large"]
    row(f"drain, {small['queued']:,} queued (daemon start)", small["rate"], http, "raw HTTP", "")
    rows.append(
        (
            f"drain, {large['queued']:,} queued (first {large['measured']:,})",
            f"{large['rate']:,.0f}",
            f"{large['rate'] / small['rate']:.2f}x {small['queued']:,} queued",
            ">= 0.9x",
        )
    )
    rss = max(small["peak_rss_mb"], large["peak_rss_mb"], d["peak_rss_mb"])
    rows.append(("peak RSS of the daemon (MB)", f"{rss:,.0f}", "", "<= 300"))
    lat = r["latency"]
    rows.append(
        (
            f"latency push -> ack at {lat['offered_rate']:,.0f}/s (half e2e) p50/p99 ms",
            f"{lat['p50_ms']:,.0f} / {lat['p99_ms']:,.0f}",
            "",
            "p99 <= 250",
        )
    )
    peer = r["procrastinate"]
    peer_rate = peer.get("complete_rate")
    for n, got in r["postgresql"].items():
        label = f"PostgreSQL, {n} daemon{'s' if n != '1' else ''} (end to end)"
        if "error" in got:
            rows.append((label, "failed", got["error"][:40], ""))
        elif peer_rate:
            target = ">= 10x" if n == "2" else ""
            rows.append(
                (
                    label,
                    f"{got['rate']:,.0f}",
                    f"{got['rate'] / peer_rate:.1f}x procrastinate",
                    target,
                )
            )
        else:
            rows.append((label, f"{got['rate']:,.0f}", "", ""))
    if peer_rate:
        rows.append(
            (
                f"procrastinate: {peer['jobs']:,} no-op jobs completed (after enqueue)",
                f"{peer_rate:,.0f}",
                f"enqueue {peer['enqueue_rate']:,.0f}/s, both {peer['rate']:,.0f}/s",
                "",
            )
        )
    else:
        rows.append(("procrastinate", "failed", peer.get("error", "")[:60], ""))
    widths = [max(len(x[i]) for x in rows) for i in range(4)]
    head = ("", "records/s", "ratio", "target")
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(x, widths, strict=True)) for x in rows]
    cpu = {
        "intake": r["intake"],
        "drain": d,
        "end to end": r["end_to_end"],
        f"{small['queued']:,} queued": small,
        f"{large['queued']:,} queued": large,
    }
    lines.append(
        "daemon CPU ms/record: "
        + ", ".join(f"{k} {v['cpu_ms_per_record']:.2f}" for k, v in cpu.items())
    )
    m = r["machine"]
    lines.append(f"machine: {m['nproc']} x {m['cpu']}, Python {m['python']}")
    return "\n".join(lines)


async def run() -> dict[str, Any]:
    records = _env_int("DVCGW_BENCH_RECORDS", 10_000)
    backlog = _env_int("DVCGW_BENCH_BACKLOG", 200_000)
    dossiers = records // (STEPS + 1)
    results: dict[str, Any] = {
        "machine": machine(),
        "sizes": {"records": records, "backlog": backlog},
    }
    stage = step_timer()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results["raw_http"] = await raw_http(dossiers)
        stage("raw HTTP")
        results["raw_storage"] = raw_storage(folder, feed(dossiers))
        stage("raw storage")
        both = await intake_then_drain(folder, dossiers)
        results["intake"], results["drain"] = both["intake"], both["drain"]
        stage("intake + drain")
        results["end_to_end"] = await end_to_end(folder, dossiers)
        stage("end to end")
        half = results["end_to_end"]["rate"] / 2
        results["latency"] = await latency(folder, half, 8.0)
        stage("latency")
        results["scaling"] = {
            "small": await drain_backlog(folder, records, records),
            "large": await drain_backlog(folder, backlog, records),
        }
        stage("backlog scaling")
    results["postgresql"] = await postgres(_env_int("DVCGW_BENCH_PG_DOSSIERS", 1000))
    stage("postgresql")
    results["procrastinate"] = peer_queue(_env_int("DVCGW_BENCH_JOBS", 3000))
    stage("procrastinate")
    return results


def step_timer() -> Callable[[str], None]:
    began = last = time.perf_counter()

    def stage(name: str) -> None:
        nonlocal last
        now = time.perf_counter()
        print(
            f"  {name}: {now - last:.0f} s (total {now - began:.0f} s)", file=sys.stderr, flush=True
        )
        last = now

    return stage


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--portal":
        serve_portal(int(sys.argv[2]))
        return
    from gateway.logs import configure  # noqa: PLC0415

    configure("console", "WARNING")
    results = asyncio.run(run())
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table(results))
    print(f"(written to {RESULTS.relative_to(HERE.parent)})")


if __name__ == "__main__":
    main()
