"""Catalogue sync against the portal simulator over real sockets, into real stores (SQLite and
PostgreSQL); the simulator's catalogue controls; the route that cannot ask."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.catalogue.sync import SyncReport, current_snapshot, sync_catalogue
from gateway.config.schema import GatewayConfig, PortalConfig, RoutesConfig, StoreConfig
from gateway.delivery.ratelimit import RateLimit
from gateway.errors import GatewayError
from gateway.routes.router import RouterRoute, build_router
from gateway.simulator.portal import STATE_KEY, PortalState, SimulatorSettings, create_app
from gateway.store.engines import AnyStore, open_store
from tests.pg import pg_database

AGENCY = "000.00.00.H56"
HAU_GIANG, CAN_THO_NEW = "000.00.00.H30", "000.00.00.H62"


@dataclass
class Portal:
    url: str
    state: PortalState

    async def control(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{self.url}/_sim/{path}", json=body) as response,
        ):
            answer: dict[str, Any] = await response.json()
            answer["http_status"] = response.status
            return answer


@pytest.fixture
async def portal() -> AsyncIterator[Portal]:
    app = create_app(SimulatorSettings())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    yield Portal(f"http://127.0.0.1:{port}", app[STATE_KEY])
    await runner.cleanup()


def config_for(portal: Portal, store: StoreConfig, **routes: Any) -> GatewayConfig:
    return GatewayConfig(
        portal=PortalConfig(base_url=portal.url, username="simulator", password="simulator"),
        store=store,
        routes=RoutesConfig(**routes),
    )


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_config(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreConfig]:
    if request.param == "sqlite":
        yield StoreConfig(path=tmp_path / "gw.db")
        return
    async with pg_database() as dsn:
        yield StoreConfig(engine="postgresql", dsn=dsn)


Run = Callable[..., Awaitable[SyncReport]]


@pytest.fixture
async def synced(portal: Portal, store_config: StoreConfig) -> AsyncIterator[tuple[AnyStore, Run]]:
    store = await open_store(store_config, now=0.0)
    router = build_router(config_for(portal, store_config))
    clock = [1000.0]

    async def run(**options: Any) -> SyncReport:
        clock[0] += 1
        return await sync_catalogue(router, store, agency=AGENCY, clock=lambda: clock[0], **options)

    try:
        yield store, run
    finally:
        await router.close()
        await store.close()


async def test_a_sync_stores_the_whole_catalogue_with_an_audit_entry(
    synced: tuple[AnyStore, Run],
) -> None:
    store, run = synced
    assert await current_snapshot(store) is None
    report = await run()
    assert (report.complete, report.stored, report.version) == (True, True, 1)
    assert report.calls == 3 + 57  # three lists, one LayThuTuc per procedure
    snapshot = await current_snapshot(store)
    assert snapshot is not None
    assert (len(snapshot.procedures), len(snapshot.agencies)) == (57, 32)
    assert snapshot.fields["G15-TP07"] == "Hộ tịch"
    assert snapshot.procedures["1.001193"].fields == ("G15-TP07",)
    assert report.summary()["added"] == 57 + 32 + len(snapshot.fields)
    audit = await store.query("SELECT detail FROM audit WHERE event = 'catalogue_synced'")
    [(detail,)] = audit
    assert json.loads(detail)["summary"]["added"] == report.summary()["added"]


async def test_a_second_sync_reports_re_coding_renaming_and_removal_then_nothing(
    portal: Portal, synced: tuple[AnyStore, Run]
) -> None:
    store, run = synced
    await run()
    recode = {"op": "recode-agency", "code": HAU_GIANG, "new_code": CAN_THO_NEW}
    assert (await portal.control("catalogue", recode))["error_code"] == 0
    rename = {"op": "rename-procedure", "code": "1.000656", "name": "Đăng ký khai tử (mới)"}
    await portal.control("catalogue", rename)
    await portal.control("catalogue", {"op": "remove-procedure", "code": "1.000894"})
    second = await run()
    assert (second.stored, second.version) == (True, 2)
    assert second.changes["agency"]["recoded"] == [
        {"from": HAU_GIANG, "to": CAN_THO_NEW, "name": "UBND tỉnh Hậu Giang"}
    ]
    assert second.changes["procedure"]["removed"] == ["1.000894"]
    assert [r["code"] for r in second.changes["procedure"]["renamed"]] == ["1.000656"]
    snapshot = await current_snapshot(store)
    assert snapshot is not None
    assert snapshot.retired["agency"] == {HAU_GIANG: "UBND tỉnh Hậu Giang"}
    third = await run()
    assert (third.complete, third.stored, third.version) == (True, False, 2)
    assert await store.query("SELECT COUNT(*) FROM catalogue_versions") == [(2,)]


async def test_a_bounded_run_is_resumed_without_asking_again(
    portal: Portal, synced: tuple[AnyStore, Run]
) -> None:
    store, run = synced
    first = await run(max_details=10)
    assert (first.complete, first.fetched, first.remaining, first.version) == (False, 10, 47, None)
    assert await current_snapshot(store) is None  # nothing half-synced is ever used
    assert await store.query("SELECT COUNT(*) FROM catalogue_pending") == [(10,)]
    seen: list[tuple[int, int]] = []
    second = await run(progress=lambda done, total: seen.append((done, total)))
    assert (second.complete, second.resumed, second.fetched) == (True, 10, 47)
    assert portal.state.calls["LayThuTuc"] == 57  # each procedure asked once over both runs
    assert (seen[0], seen[-1]) == ((10, 57), (57, 57))
    assert await store.query("SELECT COUNT(*) FROM catalogue_pending") == [(0,)]


async def test_the_calls_wait_for_the_rate_limit(synced: tuple[AnyStore, Run]) -> None:
    _, run = synced
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    # 4 a second: every wait (0.25 s) is exact in binary, so the fake clock adds up exactly
    report = await run(limiter=RateLimit(4.0, lambda: now[0], sleep))
    assert report.calls == 60
    assert sum(waits) == (report.calls - 1) / 4.0  # burst 1: the first call goes at once


async def test_an_agency_on_the_soap_route_is_told_why_it_cannot_sync(
    portal: Portal, tmp_path: Path
) -> None:
    config = config_for(portal, StoreConfig(path=tmp_path / "gw.db"), default="xroad-soap")
    router: RouterRoute = build_router(config)
    try:
        with pytest.raises(GatewayError, match="route xroad-soap cannot ask"):
            await router.share("LayDanhSachTTHC", AGENCY)
    finally:
        await router.close()


async def test_the_simulator_controls_refuse_what_they_do_not_know(portal: Portal) -> None:
    unknown = await portal.control(
        "catalogue", {"op": "recode-agency", "code": "X", "new_code": "Y"}
    )
    assert (unknown["http_status"], unknown["error_code"]) == (400, -1)
    assert "not in the simulator's catalogue" in unknown["message"]
    bad_op = await portal.control("dossiers", {"op": "burn"})
    assert bad_op["http_status"] == 400
    assert "unknown operation" in bad_op["message"]
    bad_fraction = await portal.control("dossiers", {"op": "lose", "fraction": 2})
    assert bad_fraction["http_status"] == 400


async def test_a_re_coded_agency_is_refused_by_the_simulator_itself(portal: Portal) -> None:
    await portal.control("catalogue", {"op": "recode-agency", "code": AGENCY, "new_code": "N"})
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{portal.url}/mapi/login", json={"username": "simulator", "password": "simulator"}
        ) as response:
            session = (await response.json())["session"]
        body = {"session": session, "madonvi": AGENCY, "service": "LayDanhMucCoQuan"}
        async with http.post(f"{portal.url}/mapi/g", json=body) as response:
            refused = await response.json()
        async with http.post(f"{portal.url}/mapi/g", json={**body, "madonvi": "N"}) as response:
            listed = await response.json()
    assert refused["error_code"] == -1
    assert AGENCY in refused["message"]
    assert {"MADONVI": "N", "TENDONVI": "UBND tỉnh Thanh Hóa", "CAPDONVI": "tỉnh"} in listed[
        "result"
    ]
    reset = await portal.control("catalogue", {"op": "reset"})
    assert reset["error_code"] == 0
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{portal.url}/mapi/g", json=body) as response,
    ):
        assert (await response.json())["error_code"] == 0  # the packaged code is back
