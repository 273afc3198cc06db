"""Intake -> SQLite outbox -> DVCQG REST route -> the portal simulator, over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.app import Gateway, running
from gateway.canonical import record_to_json
from gateway.config.schema import (
    DeliveryConfig,
    GatewayConfig,
    IntakeConfig,
    PortalConfig,
    RetryConfig,
    SourceConfig,
    StoreConfig,
)
from gateway.model import DossierStatus, Record, Result
from gateway.simulator.portal import STATE_KEY, PortalState, SimulatorSettings, create_app
from tests.factories import T0, dossier, result_document, step


@dataclass
class Portal:
    url: str
    state: PortalState
    runner: web.AppRunner


@pytest.fixture
async def portal() -> AsyncIterator[Portal]:
    app = create_app(SimulatorSettings())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    yield Portal(f"http://127.0.0.1:{port}", app[STATE_KEY], runner)
    await runner.cleanup()


def gateway_config(tmp_path: Path, portal_url: str, **intake: Any) -> GatewayConfig:
    return GatewayConfig(
        portal=PortalConfig(base_url=portal_url, username="simulator", password="simulator"),
        store=StoreConfig(path=tmp_path / "gw.db"),
        intake=IntakeConfig(port=0, **intake),
        delivery=DeliveryConfig(
            idle_poll_s=0.05, retry=RetryConfig(base_delay_s=0.01, max_delay_s=0.05)
        ),
    )


async def push(gw: Gateway, records: list[Any], source: str = "canonical") -> dict[str, Any]:
    url = f"http://127.0.0.1:{gw.port}/api/v1/intake/{source}"
    async with aiohttp.ClientSession() as http, http.post(url, json=records) as response:
        assert response.status == 200, await response.text()
        answer: dict[str, Any] = await response.json()
        return answer


async def drained(gw: Gateway) -> dict[str, int]:
    async with asyncio.timeout(60):
        while True:
            counts = await gw.store.counts()
            if counts["queued"] + counts["leased"] == 0:
                return counts
            await gw.worker.next_round()


async def test_dossier_steps_and_result_reach_the_portal(tmp_path: Path, portal: Portal) -> None:
    code = dossier().dossier_code
    result = Result(
        dossier_code=code,
        agency_code=dossier().agency_code,
        status=DossierStatus.FINISHED,
        finished_at=T0.replace(hour=16),
        handler="Lê Văn Cường",
        result_documents=(result_document(),),
    )
    records: list[Record] = [dossier(), step(minutes=20), step(minutes=5), result]
    async with running(gateway_config(tmp_path, portal.url)) as gw:
        answer = await push(gw, [record_to_json(r) for r in records])
        assert answer["accepted"] == 4
        counts = await drained(gw)
    assert counts["delivered"] == 4  # first snapshot, two steps, the result's update + step
    held = portal.state.dossiers[code]
    assert held["item"]["TrangThaiHoSo"] == "9"
    assert held["item"]["DanhSachGiayToKetQua"][0]["GiayToId"] == "kq1"
    times = [s["ThoiDiemXuLy"] for s in portal.state.progress[code]]
    assert times == ["20261102080500", "20261102082000", "20261102160000"]


async def test_rejected_and_quarantined_records_are_reported(
    tmp_path: Path, portal: Portal
) -> None:
    good = record_to_json(dossier())
    bad = {**record_to_json(dossier("000.00.00.H56-261102-00002")), "status": 42}
    refused = record_to_json(dossier("000.00.00.H56-261102-00003", summary=""))
    async with running(gateway_config(tmp_path, portal.url)) as gw:
        answer = await push(gw, [good, bad, refused])
        await drained(gw)
        counts = await gw.store.counts()
    assert [r["status"] for r in answer["results"]] == ["accepted", "rejected", "quarantined"]
    assert answer["results"][1]["errors"] == [
        {
            "path": "$.status",
            "rule": "enum",
            "reason": "is not one of 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 "
            "(schema rule properties/status/enum)",
        }
    ]
    assert "TrichYeuHoSo" in answer["results"][2]["reason"]
    assert counts["quarantined"] == 1
    assert set(portal.state.dossiers) == {dossier().dossier_code}


async def test_a_dossier_already_on_the_portal_is_sent_as_an_update(
    tmp_path: Path, portal: Portal
) -> None:
    async with running(gateway_config(tmp_path / "a", portal.url)) as gw:
        await push(gw, [record_to_json(dossier())])
        await drained(gw)
    # A second gateway with an empty store does not know the portal holds the dossier:
    # the portal answers "đã tồn tại" and the record goes again as an update.
    newer = replace(dossier(), status=DossierStatus.PROCESSING)
    async with running(gateway_config(tmp_path / "b", portal.url)) as gw:
        await push(gw, [record_to_json(newer)])
        counts = await drained(gw)
    assert counts["delivered"] == 1
    assert portal.state.dossiers[newer.dossier_code]["item"]["TrangThaiHoSo"] == "4"


async def test_portal_down_means_retry_not_loss(tmp_path: Path) -> None:
    # Nothing listens on this port: every attempt fails with a connection error.
    config = gateway_config(tmp_path, "http://127.0.0.1:9")
    async with running(config) as gw:
        await push(gw, [record_to_json(dossier())])
        async with asyncio.timeout(30):
            while not await gw.store.query("SELECT 1 FROM attempts WHERE outcome = 'retry'"):
                await gw.worker.next_round()
        counts = await gw.store.counts()
    assert counts["queued"] + counts["leased"] == 1
    assert counts["dead"] == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"{not json", 400), (b'{"a": 1}', 400), (b"\xff", 400)],
)
async def test_malformed_bodies_get_a_clear_400(
    tmp_path: Path, portal: Portal, body: bytes, status: int
) -> None:
    async with running(gateway_config(tmp_path, portal.url)) as gw:
        url = f"http://127.0.0.1:{gw.port}/api/v1/intake/canonical"
        async with aiohttp.ClientSession() as http, http.post(url, data=body) as response:
            assert response.status == status
            assert "error" in await response.json()


async def test_limits_and_unknown_sources(tmp_path: Path, portal: Portal) -> None:
    config = gateway_config(tmp_path, portal.url, max_body_bytes=2048, max_records_per_request=2)
    async with running(config) as gw, aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{gw.port}/api/v1/intake"
        async with http.post(f"{base}/canonical", json=[{}, {}, {}]) as response:
            assert response.status == 413
        async with http.post(f"{base}/canonical", data=b"[" + b" " * 4096 + b"]") as response:
            assert response.status == 413
        async with http.post(f"{base}/nope", json=[]) as response:
            assert response.status == 404
        assert (await gw.store.counts())["queued"] == 0


async def test_intake_token_is_required_when_configured(tmp_path: Path, portal: Portal) -> None:
    sources = {"desk": SourceConfig(adapter="canonical", token="s3cret")}
    async with running(gateway_config(tmp_path, portal.url, sources=sources)) as gw:
        url = f"http://127.0.0.1:{gw.port}/api/v1/intake/desk"
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=[]) as response:
                assert response.status == 401
            headers = {"Authorization": "Bearer s3cret"}
            async with http.post(url, json=[], headers=headers) as response:
                assert response.status == 200
