"""The PostgreSQL claim query against a large backlog, with and without table statistics.

    .venv/bin/python bench/pg_claim.py [--dossiers N] [--claims K]

Queues ``4 x N`` records (each dossier and three steps) in a throw-away database, then times
``K`` runs of the claim's SELECT (the part whose plan depends on the statistics) and ``K``
whole rounds (claim ``LIMIT`` records and complete them as delivered, no portal call, so the
backlog moves on as in a daemon): first on tables that were never analyzed (a server with
``autovacuum = off``, or a burst autovacuum has not caught up with), then after
:meth:`PostgresStore.maintain`. The raw baseline, measured in the same run, is the cheapest
possible read of the same rows: the first ``2 x LIMIT`` queued records in due order,
straight from their index, with no ordering rule and no join.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.factories, tests.pg

from gateway.logs import configure
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import Incoming, Outcome, OutcomeKind
from gateway.store.postgres.delivery import CLAIM_SQL
from gateway.store.postgres.store import PostgresStore
from tests.factories import dossier, step
from tests.pg import pg_database

LIMIT = 100
RAW_SQL = (
    "SELECT id, payload FROM records WHERE state = 'queued' AND next_attempt_at <= $1 "
    "ORDER BY next_attempt_at, id LIMIT $2"
)


async def fill(store: PostgresStore, dossiers: int) -> None:
    for start in range(0, dossiers, 250):
        items = []
        for i in range(start, min(start + 250, dossiers)):
            code = f"000.00.00.H56-261102-{i:05d}"
            items.append(Incoming("bench", dossier(code), code))
            items += [
                Incoming("bench", step(code, minutes=10 * (k + 1)), f"{code}-{k}") for k in range(3)
            ]
        await store.accept(items, now=1.0, validate=validate_for_portal)


async def per_run_ms(store: PostgresStore, sql: str, claims: int) -> float:
    times = []
    async with store._conn() as conn:
        for _ in range(claims):
            began = time.perf_counter()
            await conn.fetch(sql, 2.0, LIMIT * 2)
            times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


async def rounds_ms(store: PostgresStore, claims: int) -> float:
    """Claim ``LIMIT`` records and complete them as delivered, as a delivery round does
    (without the portal call): the backlog moves on instead of piling up leases."""
    began = time.perf_counter()
    for _ in range(claims):
        claimed = await store.claim("bench", LIMIT, 2.0, 600.0)
        done = [
            Outcome(c.record_id, c.lease_token, OutcomeKind.DELIVERED, 2.0, "bench")
            for c in claimed
        ]
        await store.complete(done)
    return (time.perf_counter() - began) * 1000 / claims


async def phase(store: PostgresStore, claims: int) -> tuple[float, float, float]:
    raw = await per_run_ms(store, RAW_SQL, claims)
    bare = await per_run_ms(store, CLAIM_SQL, claims)
    return raw, bare, await rounds_ms(store, claims)


async def run(dossiers: int, claims: int) -> None:
    async with pg_database() as dsn:
        store = await PostgresStore.open(dsn, now=0.0, max_connections=2)
        try:
            await store.claim("bench", LIMIT, 2.0, 600.0)  # plans made on empty tables
            await fill(store, dossiers)
            before = await phase(store, claims)
            refreshed = await store.maintain()
            after = await phase(store, claims)
        finally:
            await store.close()
    print(f"{4 * dossiers} records queued, {dossiers} dossiers; median of {claims} runs")
    print(f"{'':36}{'never analyzed':>16}{'after maintain()':>18}")
    labels = ("raw baseline SELECT", "claim SELECT", f"claim {LIMIT} + complete them")
    for label, old, new in zip(labels, before, after, strict=True):
        print(f"{label:36}{old:13.1f} ms{new:15.1f} ms")
    print(f"maintain() analyzed: {', '.join(refreshed) or 'nothing'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dossiers", type=int, default=12_500)
    parser.add_argument("--claims", type=int, default=20)
    args = parser.parse_args()
    configure("console", "WARNING")
    asyncio.run(run(args.dossiers, args.claims))


if __name__ == "__main__":
    main()
