"""The operator verbs of issue 16 through ``dvc-gateway``'s own entry point, against the portal
simulator on loopback: what the operator types and reads (the README shows this output)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.app import running
from gateway.canonical import record_to_json
from gateway.catalogue.checks import with_catalogue
from gateway.catalogue.sync import current_snapshot
from gateway.cli import main
from gateway.config.loading import load_config
from gateway.encoders.mapping import MappingTables
from gateway.simulator.portal import STATE_KEY, PortalState, SimulatorSettings, create_app
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import Incoming
from gateway.store.sqlite.store import SqliteStore
from tests.factories import dossier

HAU_GIANG, NEW_CODE = "000.00.00.H30", "000.00.00.H62"


@pytest.fixture
async def portal() -> AsyncIterator[tuple[str, PortalState]]:
    app = create_app(SimulatorSettings())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    yield f"http://127.0.0.1:{port}", app[STATE_KEY]
    await runner.cleanup()


def write_config(tmp_path: Path, url: str) -> Path:
    agencies = tmp_path / "agencies.csv"
    agencies.write_text("# kept\nlocal,dvcqg\nSOTP-THANHHOA,000.00.00.H56\n", encoding="utf-8")
    document = {
        "portal": {"base_url": url, "username": "simulator", "password": "simulator"},
        "store": {"path": str(tmp_path / "gw.db")},
        "intake": {"port": 0},
        "delivery": {"idle_poll_s": 0.05},
        "routes": {"mappings": {"agencies": str(agencies)}},
        "catalogue": {"rate_per_s": 0},
    }
    path = tmp_path / "gateway.yaml"
    path.write_text(json.dumps(document), encoding="utf-8")  # JSON is valid YAML
    return path


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run a verb on a thread of its own (it runs its own event loop); its code and stdout."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(argv))
    return code, capsys.readouterr().out


async def control(url: str, path: str, body: dict[str, Any]) -> None:
    async with aiohttp.ClientSession() as http, http.post(f"{url}/_sim/{path}", json=body) as r:
        assert r.status == 200, await r.text()


async def test_catalogue_sync_show_and_mappings_suggest_apply(
    tmp_path: Path, portal: tuple[str, PortalState], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = portal
    config = str(write_config(tmp_path, url))
    code, out = await cli(capsys, "catalogue", "show", "--config", config)
    assert code == 2  # operator commands never create a database: the daemon does
    await (await SqliteStore.open(tmp_path / "gw.db", now=0.0)).close()
    code, out = await cli(capsys, "catalogue", "show", "--config", config)
    assert (code, out.strip()) == (1, "no catalogue synced yet: run dvc-gateway catalogue sync")

    code, out = await cli(capsys, "catalogue", "sync", "--config", config, "--max-details", "20")
    assert code == 0
    assert "catalogue sync unfinished: 20 procedure details fetched this run" in out
    assert "37 to go; run it again to resume" in out
    code, out = await cli(capsys, "catalogue", "sync", "--config", config)
    assert code == 0
    assert "catalogue synced: stored as version 1 (40 calls, 37 details fetched, 20 resumed)" in out
    assert "  agency         32     32        0        0        0" in out

    await control(
        url, "catalogue", {"op": "recode-agency", "code": HAU_GIANG, "new_code": NEW_CODE}
    )
    code, out = await cli(capsys, "catalogue", "sync", "--config", config)
    assert f"agency re-coded: {HAU_GIANG} -> {NEW_CODE} (UBND tỉnh Hậu Giang)" in out
    code, out = await cli(capsys, "catalogue", "show", "--config", config, "--json")
    assert json.loads(out)["version"] == 2
    code, out = await cli(capsys, "catalogue", "show", "--config", config)
    assert out.startswith("catalogue version 2, synced ")
    assert "57 procedures, " in out
    assert ", 32 agencies" in out

    store = await SqliteStore.open(tmp_path / "gw.db", now=0.0)
    try:  # what the daemon's intake check does (tested end to end in test_two_way.py)
        check = with_catalogue(validate_for_portal, MappingTables(), await current_snapshot(store))
        records = [dossier(f"{HAU_GIANG}-261102-{n:05d}", agency_code=HAU_GIANG) for n in range(2)]
        receipts = await store.accept(
            [Incoming("t", r, r.dossier_code) for r in records], now=1.0, validate=check
        )
        assert [r.status for r in receipts] == ["quarantined", "quarantined"]
    finally:
        await store.close()

    draft = tmp_path / "draft.csv"
    code, out = await cli(capsys, "mappings", "suggest", "--config", config, "--out", str(draft))
    assert code == 0
    assert out.startswith(f"1 unknown code(s) written to {draft}")
    lines = draft.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "kind,local,dvcqg,score,name,alternatives,records"
    assert lines[1].startswith(f"agency,{HAU_GIANG},{NEW_CODE},100,")
    assert lines[1].endswith(",2")
    code, out = await cli(capsys, "mappings", "apply", str(draft), "--config", config, "--by", "an")
    assert code == 0
    assert "1 mapping(s) written; 2 quarantined record(s) released, 0 still quarantined" in out
    table = (tmp_path / "agencies.csv").read_text(encoding="utf-8").splitlines()
    assert table == [
        "# kept",
        "local,dvcqg",
        "SOTP-THANHHOA,000.00.00.H56",
        f"{HAU_GIANG},{NEW_CODE}",
    ]

    draft.write_text("kind,local,dvcqg\nagency,X,000.00.00.H99\n", encoding="utf-8")
    code, _ = await cli(capsys, "mappings", "apply", str(draft), "--config", config)
    assert code == 2  # a configuration error: nothing written
    assert (tmp_path / "agencies.csv").read_text(encoding="utf-8").splitlines() == table


async def test_reconcile_and_resync_verbs(
    tmp_path: Path, portal: tuple[str, PortalState], capsys: pytest.CaptureFixture[str]
) -> None:
    url, state = portal
    config_path = write_config(tmp_path, url)
    config = str(config_path)
    codes = [f"000.00.00.H56-261102-{n:05d}" for n in range(3)]
    async with running(load_config(config_path)) as gw:
        intake = f"http://127.0.0.1:{gw.port}/api/v1/intake/canonical"
        async with aiohttp.ClientSession() as http:
            body = [record_to_json(dossier(c)) for c in codes]
            async with http.post(intake, json=body) as response:
                assert response.status == 200
        while (await gw.store.counts())["delivered"] < 3:
            await gw.worker.next_round()
        await control(url, "dossiers", {"op": "lose", "codes": codes[:1]})
        await control(url, "dossiers", {"op": "alter", "codes": codes[1:2], "status": 1})

        since = "2000-01-01T00:00:00"
        code, out = await cli(capsys, "reconcile", "--config", config, "--since", since)
        assert code == 1  # drift found, nothing fixed
        assert out.splitlines()[:2] == [
            "3 dossier(s) checked, 2 with drift",
            "  000.00.00.H56        missing 1, status_behind 1",
        ]
        assert f"  {codes[1]:<32} status_behind     portal 1, acknowledged 2" in out
        code, out = await cli(capsys, "reconcile", "--config", config, "--since", since, "--fix")
        assert (code, out.splitlines()[-1]) == (0, "2 record(s) queued again")
        while (await gw.store.counts())["queued"] + (await gw.store.counts())["leased"]:
            await gw.worker.next_round()
        code, out = await cli(capsys, "reconcile", "--config", config, "--since", since, "--json")
        assert (code, json.loads(out)["drift"]) == (0, 0)
        code, out = await cli(capsys, "resync", "--config", config, "--since", since, "--by", "an")
        assert out.strip() == "3 record(s) queued again"
        audited = await gw.store.query("SELECT detail FROM audit WHERE event = 'reconciled'")
        first = json.loads(audited[0][0])
        assert (len(audited), first["fix"], first["counts"]) == (
            3,
            False,
            {"000.00.00.H56": {"missing": 1, "status_behind": 1}},
        )
    assert all(state.dossiers[c]["item"]["TrangThaiHoSo"] == "2" for c in codes)
