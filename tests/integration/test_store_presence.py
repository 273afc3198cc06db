"""The SQLite file under the daemon: deleted or replaced while running, missing at a restart,
missing for an operator command. Real files, a real daemon in the test's loop, the real CLI.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import structlog
from aiohttp import web

from gateway.app import running
from gateway.canonical import record_to_json
from gateway.cli import main
from gateway.config.schema import GatewayConfig
from gateway.demo import demo_config
from gateway.errors import StoreLostError, StoreUnavailableError
from gateway.simulator.portal import SimulatorSettings, create_app
from gateway.store.sqlite.presence import anchor_path, read_anchor
from tests.factories import dossier
from tests.pg import PREFIX, SharedDatabase, dsn_for


@pytest.fixture
async def portal_url() -> AsyncIterator[str]:
    runner = web.AppRunner(create_app(SimulatorSettings()), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def one(n: int) -> list[dict[str, Any]]:
    return [record_to_json(dossier(f"000.00.00.H56-261102-{n:05d}"))]


async def post(port: int, records: list[Any]) -> tuple[int, dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/intake/canonical"
    async with aiohttp.ClientSession() as http, http.post(url, json=records) as response:
        return response.status, await response.json()


def config(tmp_path: Path, url: str) -> GatewayConfig:
    return demo_config(tmp_path, url)


@pytest.mark.parametrize("how", ["deleted", "replaced"])
async def test_a_store_file_deleted_or_replaced_under_the_daemon_stops_intake(
    tmp_path: Path, portal_url: str, how: str
) -> None:
    gateway = config(tmp_path, portal_url)
    db = gateway.store.path
    with structlog.testing.capture_logs() as logs:
        async with running(gateway) as gw:
            status, _ = await post(gw.port, one(1))
            assert status == 200
            if how == "deleted":
                db.unlink()
            else:  # a restore by ``mv`` over the live file
                stranger = sqlite3.connect(tmp_path / "restored.db")
                stranger.execute("CREATE TABLE t (a)")
                stranger.close()
                os.replace(tmp_path / "restored.db", db)
            answers = [await post(gw.port, one(n)) for n in (2, 3, 4)]
            with pytest.raises(StoreLostError):
                await gw.store.counts()
    assert [status for status, _ in answers] == [503, 503, 503]
    assert all("nothing was stored" in body["error"] for _, body in answers)
    lost = [e for e in logs if e["event"] == "store_file_lost"]
    assert len(lost) == 1  # one clear line, not one per request
    assert how in lost[0]["problem"]
    assert str(db) in lost[0]["problem"]


async def test_a_restart_on_a_missing_store_with_an_anchor_is_refused(
    tmp_path: Path, portal_url: str
) -> None:
    gateway = config(tmp_path, portal_url)
    db = gateway.store.path
    async with running(gateway) as gw:
        assert (await post(gw.port, one(1)))[0] == 200
    anchor = read_anchor(db)
    assert anchor is not None
    assert anchor["seq"] > 1  # the close sealed the head and rewrote the anchor
    for path in db.parent.glob(db.name + "*"):
        if path != anchor_path(db):
            path.unlink()  # the database, its WAL and its lock are gone; the anchor stays
    with pytest.raises(StoreUnavailableError) as refused:
        async with running(gateway):
            pytest.fail("the daemon started on a missing store")
    assert str(db) in str(refused.value)
    assert f"audit chain at seq {anchor['seq']}" in str(refused.value)
    assert "--new-store" in str(refused.value)
    assert not db.exists()  # refused before anything was created

    async with running(gateway, new_store=True) as gw:
        entries = await gw.store.audit_entries()
    first = [e for e in entries if e.event == "store_started_new"]
    assert len(first) == 1
    assert first[0].detail["previous_anchor"]["seq"] == anchor["seq"]
    assert first[0].detail["previous_anchor"]["hash"] == anchor["hash"]


async def test_audit_archives_alone_also_show_a_store_existed(
    tmp_path: Path, portal_url: str
) -> None:
    gateway = config(tmp_path, portal_url)
    archives = gateway.audit.archive_dir
    archives.mkdir(parents=True)
    (archives / "audit-000000000001-000000000500.jsonl").write_text("{}\n")
    with pytest.raises(StoreUnavailableError, match="1 audit archive file"):
        async with running(gateway):
            pytest.fail("the daemon started on a missing store")
    assert not gateway.store.path.exists()


async def test_a_first_start_creates_the_store_and_its_anchor(
    tmp_path: Path, portal_url: str
) -> None:
    gateway = config(tmp_path, portal_url)
    async with running(gateway) as gw:
        assert (await post(gw.port, one(1)))[0] == 200
        entries = await gw.store.audit_entries()
    assert gateway.store.path.exists()
    assert read_anchor(gateway.store.path) is not None
    assert "store_started_new" not in {e.event for e in entries}


def write_yaml(tmp_path: Path, db: Path) -> Path:
    path = tmp_path / "gateway.yaml"
    document = {
        "portal": {"base_url": "http://127.0.0.1:1", "username": "u", "password": "p"},
        "store": {"engine": "sqlite", "path": str(db)},
        "audit": {"archive_dir": str(tmp_path / "archive")},
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["dlq", "list"],
        ["dlq", "show", "1"],
        ["replay", "--all"],
        ["db", "migrate"],
        ["audit", "verify"],
        ["audit", "search"],
        ["audit", "export"],
    ],
)
def test_operator_commands_never_create_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    db = tmp_path / "wrong" / "gateway.db"
    config_file = write_yaml(tmp_path, db)
    code = main([*argv, "--config", str(config_file)])
    err = capsys.readouterr().err
    assert code == 2
    assert str(db) in err
    assert not db.exists()
    assert not db.parent.exists()


def test_run_refuses_a_missing_store_with_an_anchor_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "gateway.db"
    anchor_path(db).write_text(json.dumps({"store": str(db), "seq": 42, "hash": "ab" * 32}))
    code = main(["run", "--config", str(write_yaml(tmp_path, db))])
    err = capsys.readouterr().err
    assert code == 2
    assert "audit chain at seq 42" in err
    assert not db.exists()


def write_pg_yaml(tmp_path: Path, dsn: str) -> Path:
    path = tmp_path / "gateway-pg.yaml"
    document = {
        "portal": {"base_url": "http://127.0.0.1:1", "username": "u", "password": "p"},
        "store": {"engine": "postgresql", "dsn": dsn},
        "audit": {"archive_dir": str(tmp_path / "archive")},
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


async def _tables(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        count = await conn.fetchval(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
        return int(count)
    finally:
        await conn.close()


def test_operator_commands_never_create_a_postgresql_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = SharedDatabase()  # empty: no gateway tables
    try:
        config_file = write_pg_yaml(tmp_path, database.dsn)
        for argv in (["status"], ["dlq", "list"], ["replay", "--all"]):
            code = main([*argv, "--config", str(config_file)])
            err = capsys.readouterr().err
            assert code == 2, argv
            assert f"database {database.name!r} has no gateway schema" in err
        assert asyncio.run(_tables(database.dsn)) == 0
        assert main(["db", "migrate", "--config", str(config_file)]) == 0  # this one may
        assert asyncio.run(_tables(database.dsn)) > 0
        assert main(["status", "--config", str(config_file)]) == 0
    finally:
        database.drop()


def test_an_operator_command_on_an_unknown_postgresql_database_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = dsn_for(PREFIX + "missing_" + uuid.uuid4().hex[:8])
    code = main(["status", "--config", str(write_pg_yaml(tmp_path, missing))])
    assert code == 2
    assert "does not exist" in capsys.readouterr().err
