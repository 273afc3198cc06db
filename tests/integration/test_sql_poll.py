"""SQL polling against real PostgreSQL, MariaDB and SQLite databases, with real kill -9."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters import registry
from gateway.config.schema import SqlPollConfig
from gateway.errors import SourceError
from gateway.sources.intake import validate_for_portal
from gateway.sources.sql_poll import SqlPollSource
from gateway.sources.vendor_db import open_vendor_db
from gateway.store.sqlite.store import SqliteStore
from tests.vendor_databases import T0, VendorDatabase, row, vendor_database

KILLER = Path(__file__).with_name("kill_between_read_and_queue.py")
ROWS = 23
"""Modified in groups of three at the same instant, so ties fall across batches of four."""


@pytest.fixture(params=["postgresql", "mysql", "sqlite"])
async def vendor(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VendorDatabase]:
    async for db in vendor_database(request.param, tmp_path):
        await db.upsert([row(i, T0 + timedelta(minutes=i // 3)) for i in range(1, ROWS + 1)])
        yield db


def source_for(config: SqlPollConfig, store: SqliteStore) -> SqlPollSource:
    adapter = registry.create(config.adapter, config.options, "test")
    return SqlPollSource(
        "onestop",
        config,
        adapter,
        store,
        open_vendor_db(config, "test"),
        validate=validate_for_portal,
        clock=lambda: 1000.0,
    )


async def drain(source: SqlPollSource) -> int:
    rounds = 1
    while await source.poll_once():
        rounds += 1
    return rounds


async def dossier_ids(store: SqliteStore) -> list[int]:
    rows = await store.query("SELECT dossier_code FROM records ORDER BY id")
    return [int(code.rsplit("-", 1)[1]) for (code,) in rows]


async def test_every_row_is_queued_once_and_changes_are_read_again(
    vendor: VendorDatabase, tmp_path: Path
) -> None:
    store = await SqliteStore.open(tmp_path / "gw.db", now=0)
    source = source_for(vendor.config(), store)
    try:
        assert await drain(source) == 6  # 23 rows in batches of 4
        assert await dossier_ids(store) == list(range(1, ROWS + 1))
        cursor = json.loads(await store.get_cursor("onestop") or "{}")
        assert cursor["id"] == ROWS
        record = json.loads((await store.query("SELECT payload FROM records LIMIT 1"))[0][0])
        assert record["summary"] == "Đăng ký khai sinh cho cháu Nguyễn Minh Khôi số 1"
        assert record["received_at"] == "2026-11-27T08:00:00+07:00"

        await vendor.upsert([row(5, T0 + timedelta(hours=5), status="waiting")])
        assert not await source.poll_once()
        assert await dossier_ids(store) == [*range(1, ROWS + 1), 5]
        states = await store.query(
            "SELECT state FROM records WHERE dossier_code LIKE '%00005' ORDER BY id"
        )
        assert [s for (s,) in states] == ["superseded", "queued"]
        assert not await source.poll_once()
        assert len(await dossier_ids(store)) == ROWS + 1
    finally:
        await source.close()
        await store.close()


async def test_a_row_the_adapter_rejects_is_audited_and_passed_over(
    vendor: VendorDatabase, tmp_path: Path
) -> None:
    await vendor.upsert([row(30, T0 + timedelta(hours=9), status="interoperating")])
    store = await SqliteStore.open(tmp_path / "gw.db", now=0)
    source = source_for(vendor.config(batch_size=100), store)
    try:
        await drain(source)
        assert 30 not in await dossier_ids(store)
        rejected = [e for e in await store.audit_entries() if e.event == "intake_rejected"]
        assert len(rejected) == 1
        assert "not sent to DVCQG" in rejected[0].detail["reason"]
        assert json.loads(await store.get_cursor("onestop") or "{}")["id"] == 30
    finally:
        await source.close()
        await store.close()


@pytest.mark.parametrize("when", ["before", "after"])
async def test_kill_9_around_a_commit_neither_loses_nor_duplicates(
    vendor: VendorDatabase, tmp_path: Path, when: str
) -> None:
    config = vendor.config()
    spec = {
        "kind": "sql_poll",
        "config": dataclasses.asdict(config),
        "store": str(tmp_path / "gw.db"),
        "kill_at": 3,
        "when": when,
    }
    done = subprocess.run(  # noqa: ASYNC221 - the child must run to its kill
        [sys.executable, str(KILLER), json.dumps(spec)], check=False, timeout=100
    )
    assert done.returncode == -9
    store = await SqliteStore.open(tmp_path / "gw.db", now=2000)
    source = source_for(config, store)
    try:
        committed = 3 if when == "after" else 2
        assert await dossier_ids(store) == list(range(1, 4 * committed + 1))
        await drain(source)
        assert await dossier_ids(store) == list(range(1, ROWS + 1))
        events = [e.event for e in await store.audit_entries()]
        assert "duplicate_ignored" not in events
    finally:
        await source.close()
        await store.close()


@pytest.mark.parametrize(
    ("engine", "dsn"),
    [
        ("postgresql", "postgresql://postgres@127.0.0.1:1/test"),
        ("mysql", "mysql://root@127.0.0.1:1/test"),
        ("sqlite", "/nonexistent/vendor.sqlite"),
    ],
)
async def test_an_unreachable_vendor_database_is_a_source_error(
    engine: str, dsn: str, tmp_path: Path
) -> None:
    config = VendorDatabase(engine, dsn).config(timeout_s=5.0)
    store = await SqliteStore.open(tmp_path / "gw.db", now=0)
    source = source_for(config, store)
    try:
        with pytest.raises(SourceError, match=engine.replace("postgresql", "postgresql")):
            await source.poll_once()
        assert await store.get_cursor("onestop") is None
    finally:
        await source.close()
        await store.close()


async def test_rows_out_of_watermark_order_stop_the_source(
    tmp_path: Path,
) -> None:
    async for db in vendor_database("sqlite", tmp_path):
        await db.upsert([row(i, T0 + timedelta(minutes=i)) for i in range(1, 4)])
        query = 'SELECT * FROM opencps_dossier WHERE "dossierId" > :after_id OR :after_ts = 0 '
        query += 'ORDER BY "dossierId" DESC LIMIT :limit'
        store = await SqliteStore.open(tmp_path / "gw.db", now=0)
        source = source_for(db.config(query=query), store)
        try:
            with pytest.raises(SourceError, match="not in"):
                await source.poll_once()
            assert await dossier_ids(store) == []
        finally:
            await source.close()
            await store.close()


def test_parameters_are_rewritten_for_each_driver() -> None:
    from gateway.sources.vendor_db import MysqlDb, PostgresDb

    query = (
        "SELECT x::timestamptz, '%Y' FROM t WHERE (a, b) > (:after_ts, :after_id) "
        "AND c = :after_ts LIMIT :limit"
    )
    config: Any = SqlPollConfig("opencps", "postgresql", "postgresql://x/y", query)
    pg = PostgresDb(config)
    assert pg._sql == (
        "SELECT x::timestamptz, '%Y' FROM t WHERE (a, b) > ($1, $2) AND c = $1 LIMIT $3"
    )
    my = MysqlDb(dataclasses.replace(config, engine="mysql", dsn="mysql://u@h/db"), "p")
    assert my._sql == (
        "SELECT x::timestamptz, '%%Y' FROM t WHERE (a, b) > (%(after_ts)s, %(after_id)s) "
        "AND c = %(after_ts)s LIMIT %(limit)s"
    )
