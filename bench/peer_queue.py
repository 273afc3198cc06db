"""The peer: procrastinate enqueuing and completing no-op jobs on the bench's PostgreSQL.

    .venv/bin/python bench/peer_queue.py [--jobs N] [--pg ADMIN-DSN] [--concurrency C]

procrastinate is the Python task queue on PostgreSQL a developer would otherwise reach for;
``bench/wire.py`` runs this in its own process (its failure to install or run is a row of the
table, not a crash of the bench). It creates a throw-away database, applies procrastinate's
schema, defers ``N`` no-op jobs in batches of 100, then runs one worker (``concurrency`` jobs at
a time, as many as the gateway's calls in flight) until the queue is empty. The last line of
output is JSON: jobs, enqueue and completion rates. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import time
import uuid
from typing import Any

import asyncpg


async def run(jobs: int, admin_dsn: str, concurrency: int) -> dict[str, float | int | str]:
    # A bench-only dependency (the [bench] extra): imported by name, so the type check of
    # make test does not need it installed; its API is used untyped here.
    procrastinate: Any = importlib.import_module("procrastinate")

    admin = await asyncpg.connect(admin_dsn, timeout=10)
    name = "dvcgw_peer_" + uuid.uuid4().hex[:8]
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = admin_dsn.rpartition("/")[0] + "/" + name
    try:
        app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn))

        async def nothing() -> None:
            return None

        noop = app.task(name="noop")(nothing)

        async with app.open_async():
            await app.schema_manager.apply_schema_async()
            started = time.perf_counter()
            for first in range(0, jobs, 100):
                await noop.batch_defer_async(*({} for _ in range(min(100, jobs - first))))
            enqueued = time.perf_counter()
            await app.run_worker_async(
                concurrency=concurrency, wait=False, install_signal_handlers=False
            )
            done = time.perf_counter()
            left = list(await app.job_manager.list_jobs_async(status="todo"))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    return {
        "jobs": jobs,
        "version": procrastinate.__version__,
        "enqueue_rate": jobs / (enqueued - started),
        "complete_rate": jobs / (done - enqueued),
        "rate": jobs / (done - started),
        "left": len(left),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.jobs, args.pg, args.concurrency))))


if __name__ == "__main__":
    main()
