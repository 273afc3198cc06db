"""Throughput of the pulling sources, each against a raw baseline measured in the same run.

    .venv/bin/python bench/sources.py [--rows 5000] [--engine sqlite|postgresql|mysql]

(``postgresql`` and ``mysql`` use the local test servers, see ``tests/vendor_databases.py``.)

SQL polling: the raw baseline reads the same rows through the same driver and query, batch
by batch (no translation, no outbox); a second baseline commits already translated records
to the outbox (no reading). The source does both plus translation and the watermark.
File drop: the baseline reads and parses an NDJSON file; the source also translates,
commits and moves it. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))  # tests/ holds the data builders

from adapters import registry
from gateway import logs
from gateway.canonical import record_to_json
from gateway.config.schema import FileDropConfig
from gateway.sources.file_drop import FileDropSource
from gateway.sources.file_formats import parse_records
from gateway.sources.intake import validate_for_portal
from gateway.sources.pulling import jsonable, translate_batch
from gateway.sources.sql_poll import SqlPollSource
from gateway.sources.vendor_db import open_vendor_db
from gateway.store.contract import Incoming, Rejected
from gateway.store.sqlite.store import SqliteStore
from tests.factories import dossier
from tests.vendor_databases import COLUMNS, T0, VendorDatabase, row, vendor_database

BATCH = 500


async def timed(label: str, rows: int, work: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await work()
    elapsed = time.perf_counter() - started
    print(f"  {label:<48} {rows / elapsed:>10,.0f} rows/s  ({elapsed:.2f} s)")
    return elapsed


async def bench_sql(engine: str, rows: int, tmp: Path) -> None:
    print(f"SQL polling, {engine}, {rows} rows, batches of {BATCH}")
    async for vendor in vendor_database(engine, tmp):
        await vendor.upsert([row(i, T0 + timedelta(seconds=i // 3)) for i in range(1, rows + 1)])
        await _bench_vendor(vendor, rows, tmp)


async def _bench_vendor(vendor: VendorDatabase, rows: int, tmp: Path) -> None:
    config = vendor.config(batch_size=BATCH)
    adapter = registry.create("opencps", {}, "bench")

    async def read_only() -> None:
        db = open_vendor_db(config, "bench")
        after: tuple[object, object] = (T0 - timedelta(days=1), 0)
        while got := await db.fetch({"after_ts": after[0], "after_id": after[1], "limit": BATCH}):
            after = (got[-1]["modifiedDate"], got[-1]["dossierId"])
        await db.close()

    base_read = await timed("baseline: read through the driver", rows, read_only)
    translated = translate_batch("b", adapter, [jsonable(r) for r in _rows(rows)])[0]
    base_commit = await _commit_only(tmp / "commit-only.db", translated, rows)
    store = await SqliteStore.open(tmp / "source.db", now=0)
    source = SqlPollSource(
        "b", config, adapter, store, open_vendor_db(config, "b"), validate=validate_for_portal
    )

    async def drain() -> None:
        while await source.poll_once():
            pass

    full = await timed("source: read + translate + commit + watermark", rows, drain)
    assert (await store.counts())["queued"] == rows
    await source.close()
    await store.close()
    print(f"  source time / (read + commit baselines): {full / (base_read + base_commit):.2f}")


async def _commit_only(path: Path, items: list[Incoming | Rejected], rows: int) -> float:
    store = await SqliteStore.open(path, now=0)

    async def commit() -> None:
        for i in range(0, len(items), BATCH):
            await store.accept(items[i : i + BATCH], now=1, validate=validate_for_portal)

    elapsed = await timed("baseline: commit translated records", rows, commit)
    await store.close()
    return elapsed


def _rows(n: int) -> list[dict[str, object]]:
    return [dict(zip(COLUMNS, row(i, T0), strict=True)) for i in range(1, n + 1)]


async def bench_file(rows: int, tmp: Path) -> None:
    print(f"File drop, NDJSON, {rows} canonical records")
    inbox = tmp / "inbox"
    inbox.mkdir()
    lines = [
        json.dumps(record_to_json(dossier(f"000.00.00.H56-261127-{i:05d}")), ensure_ascii=False)
        for i in range(rows)
    ]
    data = "\n".join(lines).encode()
    (inbox / "export.ndjson").write_bytes(data)

    async def parse_only() -> None:
        parse_records((inbox / "export.ndjson").read_bytes(), "ndjson", max_records=rows)

    base = await timed("baseline: read and parse the file", rows, parse_only)
    adapter = registry.create("canonical", {}, "bench")
    translated = translate_batch("x", adapter, [json.loads(line) for line in lines])[0]
    base_commit = await _commit_only(tmp / "file-commit-only.db", translated, rows)
    store = await SqliteStore.open(tmp / "drop.db", now=0)
    config = FileDropConfig(adapter="canonical", path=inbox, settle_s=0, batch_size=BATCH)
    source = FileDropSource("drop", config, adapter, store, validate=validate_for_portal)
    full = await timed("source: parse + translate + commit + move", rows, source.poll_once)
    assert (await store.counts())["queued"] == rows
    await store.close()
    print(f"  source time / (parse + commit baselines): {full / (base + base_commit):.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--engine", default="sqlite", choices=["sqlite", "postgresql", "mysql"])
    args = parser.parse_args()
    logs.configure("console", "WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        await bench_sql(args.engine, args.rows, Path(tmp))
        await bench_file(args.rows, Path(tmp))


if __name__ == "__main__":
    asyncio.run(main())
