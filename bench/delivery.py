"""Throughput of the store engines and of delivery, against raw baselines from the same run.

    .venv/bin/python bench/delivery.py [--records N] [--batch B] [--pg DSN-of-an-admin-db]

For each engine (SQLite in a temporary folder; PostgreSQL in a throw-away database created
from the admin DSN, skipped if unreachable) it prints:

- raw INSERT: the same number of rows of the same size, in transactions of B rows, with the
  engine's durability settings: the ceiling the store could reach;
- accept: ``Store.accept`` in batches of B (idempotency keys, ordering, audit chain);
- claim+complete: ``claim`` and ``complete`` without a portal (the queue's own cost);
- delivered: the worker delivering to the portal simulator on loopback, batches of 50.

No figure here is asserted anywhere; compare each line with its baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.factories

import asyncpg
from aiohttp import web

from gateway.config.schema import DeliveryConfig, PortalConfig
from gateway.delivery.worker import DeliveryWorker
from gateway.model import DossierStatus
from gateway.routes.dvcqg_rest import DvcqgRestRoute
from gateway.simulator.portal import SimulatorSettings, create_app
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import Incoming, Outcome, OutcomeKind
from gateway.store.engines import AnyStore
from gateway.store.postgres.store import PostgresStore
from gateway.store.sqlite.store import SqliteStore
from tests.factories import dossier, step


def records(n: int) -> list[Incoming]:
    out: list[Incoming] = []
    for i in range(n // 2):
        code = f"000.00.00.H56-261102-{i:05d}"
        out.append(Incoming("bench", dossier(code), f"d{i}"))
        out.append(Incoming("bench", step(code, 5, DossierStatus.PROCESSING), f"s{i}"))
    return out


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>9.0f} records/s  ({n} in {seconds:.2f} s)"


def raw_sqlite(path: Path, n: int, batch: int, size: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE raw (id INTEGER PRIMARY KEY, k TEXT UNIQUE, payload TEXT)")
    payload = "x" * size
    started = time.perf_counter()
    for first in range(0, n, batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO raw (k, payload) VALUES (?, ?)",
            [(uuid.uuid4().hex, payload) for _ in range(first, min(n, first + batch))],
        )
        conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - started


async def raw_pg(dsn: str, n: int, batch: int, size: int) -> float:
    conn = await asyncpg.connect(dsn)
    await conn.execute("CREATE TABLE raw (id BIGSERIAL PRIMARY KEY, k TEXT UNIQUE, payload TEXT)")
    payload = "x" * size
    started = time.perf_counter()
    for first in range(0, n, batch):
        async with conn.transaction():
            await conn.executemany(
                "INSERT INTO raw (k, payload) VALUES ($1, $2)",
                [(uuid.uuid4().hex, payload) for _ in range(first, min(n, first + batch))],
            )
    await conn.close()
    return time.perf_counter() - started


async def accept(store: AnyStore, items: list[Incoming], batch: int) -> float:
    started = time.perf_counter()
    for first in range(0, len(items), batch):
        await store.accept(items[first : first + batch], now=1.0, validate=validate_for_portal)
    return time.perf_counter() - started


async def claim_complete(store: AnyStore, n: int, batch: int) -> tuple[int, float]:
    done, started, now = 0, time.perf_counter(), 10.0
    while True:
        claimed = await store.claim("bench", batch, now, 60)
        if not claimed:
            return done, time.perf_counter() - started
        outcomes = [
            Outcome(
                c.record_id,
                c.lease_token,
                OutcomeKind.RETRY,
                at=now,
                route="b",
                next_attempt_at=1e12,
            )
            for c in claimed
        ]
        done += await store.complete(outcomes)


async def deliver(store: AnyStore, n: int) -> tuple[int, float]:
    runner = web.AppRunner(create_app(SimulatorSettings()), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    route = DvcqgRestRoute(PortalConfig(f"http://127.0.0.1:{port}", "simulator", "simulator"))
    config = replace(DeliveryConfig(), batch_size=200, portal_batch_size=50, concurrency=4)
    worker = DeliveryWorker(store, route, config)
    started = time.perf_counter()
    try:
        while await worker.run_once():
            pass
    finally:
        await route.close()
        await runner.cleanup()
    return (await store.counts())["delivered"], time.perf_counter() - started


async def bench_engine(name: str, store: AnyStore, raw_s: float, n: int, batch: int) -> None:
    items = records(n)
    print(f"\n{name}")
    print(f"  raw INSERT      {rate(n, raw_s)}")
    print(f"  accept          {rate(n, await accept(store, items, batch))}")
    done, seconds = await claim_complete(store, n, batch)
    print(f"  claim+complete  {rate(done, seconds)}")
    await store.query(
        "UPDATE records SET state = 'queued', next_attempt_at = 0, attempts = 0, uncertain = FALSE"
    )
    done, seconds = await deliver(store, n)
    print(f"  delivered       {rate(done, seconds)}")


async def main(n: int, batch: int, admin_dsn: str) -> None:
    size = 1500  # about a dossier's canonical JSON
    with tempfile.TemporaryDirectory() as folder:
        raw_s = raw_sqlite(Path(folder) / "raw.db", n, batch, size)
        store = await SqliteStore.open(Path(folder) / "gw.db", now=0.0)
        try:
            await bench_engine("sqlite (WAL, synchronous=FULL)", store, raw_s, n, batch)
        finally:
            await store.close()
    try:
        admin = await asyncpg.connect(admin_dsn, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"\npostgresql: skipped ({exc})")
        return
    name = "dvcgw_bench_" + uuid.uuid4().hex[:8]
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = admin_dsn.rpartition("/")[0] + "/" + name
    try:
        raw_s = await raw_pg(dsn, n, batch, size)
        pg = await PostgresStore.open(dsn, now=0.0)
        try:
            await bench_engine("postgresql", pg, raw_s, n, batch)
        finally:
            await pg.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _args() -> Any:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    return parser.parse_args()


if __name__ == "__main__":
    args = _args()
    asyncio.run(main(args.records, args.batch, args.pg))
