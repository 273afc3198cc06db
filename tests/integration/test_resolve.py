"""Resolving a dead letter: settled outside the gateway, never sent, audited with who and why;
a resolved snapshot means the portal holds the dossier, so the steps it held go (both engines,
the command and the admin API)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
import yaml

from gateway.cli import main
from gateway.model import Record
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import DeadFilter, Incoming, Outcome, OutcomeKind
from gateway.store.postgres.store import PostgresStore
from gateway.store.sqlite.store import SqliteStore
from tests.admin_rig import admin_gateway
from tests.factories import dossier, step

AnyStore = SqliteStore | PostgresStore
CODE = "000.00.00.H56-261102-00001"


async def dead_snapshot_with_a_step(store: AnyStore) -> None:
    records: list[Record] = [dossier(CODE), step(CODE, minutes=10)]
    incoming = [Incoming("t", r, str(i)) for i, r in enumerate(records)]
    await store.accept(incoming, now=1.0, validate=validate_for_portal)
    [claimed] = await store.claim("w", 10, now=2.0, lease_s=30)  # the step waits its dossier
    dead = Outcome(claimed.record_id, claimed.lease_token, OutcomeKind.DEAD, at=3.0, route="t")
    await store.complete([dead])


async def test_a_resolved_snapshot_is_never_sent_and_releases_its_steps(store: AnyStore) -> None:
    await dead_snapshot_with_a_step(store)
    assert [b.dossier_code for b in await store.blocked()] == [CODE]
    assert await store.claim("w", 10, now=4.0, lease_s=30) == []
    ids = await store.resolve(
        DeadFilter(dossier_code=CODE), by="nguyenvana", note="entered on the portal", now=5.0
    )
    assert len(ids) == 1
    assert await store.dead_letters(DeadFilter()) == []
    assert await store.blocked() == []
    claimed = await store.claim("w", 10, now=6.0, lease_s=30)
    assert [c.record.kind.value for c in claimed] == ["progress"]  # the snapshot: never again
    counts = await store.counts()
    assert (counts["resolved"], counts["leased"]) == (1, 1)
    [entry] = [e for e in await store.audit_entries() if e.event == "resolved"]
    assert dict(entry.detail) == {
        "by": "nguyenvana",
        "from_state": "dead",
        "note": "entered on the portal",
        "portal_has_it": True,
    }
    assert await store.resolve(DeadFilter(dossier_code=CODE), by="x", note="", now=7.0) == []


def test_the_command_counts_then_resolves(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def prepare() -> None:
        s = await SqliteStore.open(tmp_path / "gw.db", now=0.0)
        try:
            await dead_snapshot_with_a_step(s)
        finally:
            await s.close()

    asyncio.run(prepare())
    config = tmp_path / "gateway.yaml"
    document = {
        "portal": {"base_url": "http://127.0.0.1:1", "username": "u", "password": "p"},
        "store": {"path": str(tmp_path / "gw.db")},
    }
    config.write_text(yaml.safe_dump(document), encoding="utf-8")
    base = ["dlq", "resolve", "--config", str(config)]
    assert main(base) == 2  # nothing named
    assert main([*base, "--all", "--dry-run"]) == 0
    assert "1 record(s) would be resolved" in capsys.readouterr().out
    assert main([*base, "--dossier", CODE, "--by", "ops", "--note", "duplicate"]) == 0
    assert "1 record(s) resolved (by ops)" in capsys.readouterr().out
    assert main(["dlq", "list", "--config", str(config)]) == 0
    assert "0 dead letter(s)" in capsys.readouterr().out


async def test_the_api_resolves_after_the_count(tmp_path: Path) -> None:
    async with (
        admin_gateway(tmp_path, replay_confirm_above=0) as rig,
        aiohttp.ClientSession() as http,
    ):
        from gateway.canonical import record_to_json

        await rig.push(http, [record_to_json(dossier(CODE, procedure_code="9.999999"))])
        async with asyncio.timeout(30):
            while (await rig.gateway.store.counts())["dead"] < 1:
                await rig.gateway.worker.next_round()
        url = rig.admin_url + "/api/v1/dead-letters/resolve"
        async with http.post(url, json={"all": True}, headers=rig.auth("viewer")) as r:
            assert r.status == 403
        headers = rig.auth("operator")
        async with http.post(url, json={"all": True, "dry_run": True}, headers=headers) as r:
            assert await r.json() == {"would_resolve": 1}
        async with http.post(url, json={"all": True}, headers=headers) as r:
            assert r.status == 409
        body = {"all": True, "confirm": 1, "note": "procedure withdrawn"}
        async with http.post(url, json=body, headers=headers) as r:
            assert (await r.json())["resolved"] == 1
        counts = await rig.gateway.store.counts()
        entries = await rig.gateway.store.audit_entries()
    assert (counts["dead"], counts["resolved"]) == (0, 1)
    [entry] = [e for e in entries if e.event == "resolved"]
    assert dict(entry.detail)["by"] == "operator-1 (admin API)"
