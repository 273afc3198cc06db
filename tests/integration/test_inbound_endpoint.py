"""``POST /nps/createdossierfromdvcqg`` on a real listener with a real SQLite store: the
OpenCPS answer (0 created, 1 duplicate, -1 error), the bearer token, the limits, and an
answer that comes only after the commit."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.config.schema import InboundConfig
from gateway.inbound.endpoint import InboundEndpoint
from gateway.store.inbound import JobKind
from gateway.store.sqlite.store import SqliteStore
from tests.inbound_factories import PNG, b64, portal_body

TOKEN = "s3cret-portal-token"


@dataclass
class Rig:
    store: SqliteStore
    url: str
    http: aiohttp.ClientSession

    async def post(self, body: Any, token: str = TOKEN) -> tuple[int, dict[str, Any]]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        async with self.http.post(self.url, data=data, headers=headers) as response:
            return response.status, await response.json()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    store = await SqliteStore.open(tmp_path / "gw.db", now=0.0)
    config = InboundConfig(enabled=True, token=TOKEN, max_body_bytes=64 * 1024)
    endpoint = InboundEndpoint(store.inbound, config, sink_name="outbox", clock=lambda: 5.0)
    runner = web.AppRunner(endpoint.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as http:
        yield Rig(store, f"http://127.0.0.1:{port}/nps/createdossierfromdvcqg", http)
    await runner.cleanup()
    await store.close()


async def test_created_then_duplicate_and_the_dossier_is_committed_before_the_answer(
    rig: Rig,
) -> None:
    status, answer = await rig.post(portal_body("G22-1"))
    assert (status, answer["error_code"]) == (200, 0)
    stored = await rig.store.query("SELECT dossier_code FROM inbound_dossiers")
    assert stored == [("G22-1",)]
    assert [j.state for j in await rig.store.inbound.jobs(JobKind.DELIVER)] == ["queued"]
    status, answer = await rig.post(portal_body("G22-1"))
    assert (status, answer["error_code"]) == (200, 1)
    assert len(await rig.store.inbound.jobs(JobKind.DELIVER)) == 1
    events = [e.event for e in await rig.store.audit_entries()]
    assert events == ["inbound_received", "inbound_duplicate"]


async def test_a_wrong_or_missing_token_is_refused_and_nothing_is_stored(rig: Rig) -> None:
    status, answer = await rig.post(portal_body(), token="guess")
    assert (status, answer["error_code"]) == (401, -1)
    assert await rig.store.query("SELECT COUNT(*) FROM inbound_dossiers") == [(0,)]


async def test_a_bad_dossier_gets_minus_one_with_every_path(rig: Rig) -> None:
    body = portal_body(MaTTHC="", TaiLieuNop=[{"TenTepDinhKem": "x.pdf", "Base64": b64(PNG)}])
    status, answer = await rig.post(body)
    assert (status, answer["error_code"]) == (400, -1)
    assert {e["path"] for e in answer["errors"]} == {"$.MaTTHC", "$.TaiLieuNop[0].Base64"}
    status, answer = await rig.post(b"{not json")
    assert (status, answer["error_code"]) == (400, -1)
    assert "line 1" in answer["message"]
    assert await rig.store.query("SELECT COUNT(*) FROM inbound_dossiers") == [(0,)]


async def test_a_body_over_the_limit_is_413(rig: Rig) -> None:
    huge = portal_body(TepDonDangKy="A" * 80_000)
    status, answer = await rig.post(huge)
    assert (status, answer["error_code"]) == (413, -1)


async def test_a_failed_store_answers_503_and_the_portal_sends_again(
    rig: Rig, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "gw.db")  # another process breaks the database
    other.execute("ALTER TABLE inbound_dossiers RENAME TO gone")
    other.commit()
    other.close()
    status, answer = await rig.post(portal_body())
    assert (status, answer["error_code"]) == (503, -1)
    assert "nothing was stored" in answer["message"]


def test_no_token_and_no_mutual_tls_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="token or mutual TLS"):
        InboundEndpoint(object(), InboundConfig(enabled=True), sink_name="outbox")  # type: ignore[arg-type]
