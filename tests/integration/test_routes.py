"""Every road to the portal, over real sockets: the demo's records reach the simulator.

The simulator plays the portal, the X-Road REST forwarder, a SOAP security server and an
LGSP; a middleware records which paths each run used, so a route that silently fell back
to the direct REST path would fail here.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway.app import running
from gateway.canonical import record_to_json
from gateway.config.schema import (
    DeliveryConfig,
    GatewayConfig,
    MappingsConfig,
    PortalConfig,
    RetryConfig,
    RouteName,
)
from gateway.demo import DemoReport, check_portal, demo_config
from gateway.model import PORTAL_TZ, DossierStatus, Record
from gateway.simulator.onestop import generate_feed, to_json_records
from gateway.simulator.portal import STATE_KEY, PortalState, SimulatorSettings, create_app
from tests.factories import dossier, step
from tests.integration.test_end_to_end import drained, push

ROUTES: tuple[RouteName, ...] = ("dvcqg-rest", "xroad-rest", "xroad-soap", "lgsp")
PATH_PREFIX = {
    "dvcqg-rest": "/mapi/",
    "xroad-rest": "/XrdAdapter/RestService/forward/mapi/",
    "xroad-soap": "/xroad",
    "lgsp": "/lgsp/",
}


@dataclass
class Portal:
    url: str
    state: PortalState
    paths: list[str] = field(default_factory=list)


@pytest.fixture
async def portal() -> AsyncIterator[Portal]:
    app = create_app(SimulatorSettings())
    seen: list[str] = []

    @web.middleware
    async def record(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.path.startswith("/_sim"):
            seen.append(request.path)
        return await handler(request)

    app.middlewares.insert(0, record)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    yield Portal(f"http://127.0.0.1:{port}", app[STATE_KEY], seen)
    await runner.cleanup()


def config_for(tmp_path: Path, url: str, route: RouteName, **portal: Any) -> GatewayConfig:
    base = demo_config(tmp_path, url, route)
    return replace(
        base,
        portal=replace(base.portal, **portal),
        delivery=DeliveryConfig(
            concurrency=16, idle_poll_s=0.05, retry=RetryConfig(base_delay_s=0.01, max_delay_s=0.05)
        ),
    )


@pytest.mark.parametrize("route", ROUTES)
async def test_each_route_delivers_the_demo_records(
    tmp_path: Path, portal: Portal, route: RouteName
) -> None:
    start = datetime(2026, 11, 2, 7, 30, tzinfo=PORTAL_TZ)
    feed = to_json_records(generate_feed(150, seed=3, start=start))
    async with running(config_for(tmp_path, portal.url, route)) as gw:
        answer = await push(gw, feed)
        counts = await drained(gw)
        report = DemoReport()
        await check_portal(portal.url, gw.store, report)
    assert answer["accepted"] == len(feed)
    assert counts["dead"] == 0
    assert counts["quarantined"] == 0
    assert report.mismatches == []
    assert report.dossiers_matching == report.dossiers_expected > 0
    assert report.steps_matching == report.steps_expected > 0
    assert portal.paths
    assert all(p.startswith(PATH_PREFIX[route]) for p in portal.paths), set(portal.paths)


@pytest.mark.parametrize("route", ROUTES)
async def test_look_up_first_strategy_updates_what_the_portal_holds(
    tmp_path: Path, portal: Portal, route: RouteName
) -> None:
    async with running(config_for(tmp_path / "a", portal.url, route)) as gw:
        await push(gw, [record_to_json(dossier())])
        await drained(gw)
    newer = replace(dossier(), status=DossierStatus.PROCESSING)
    config = config_for(tmp_path / "b", portal.url, route, create_strategy="look-up-first")
    async with running(config) as gw:
        await push(gw, [record_to_json(newer)])
        counts = await drained(gw)
    assert counts["delivered"] == 1
    assert portal.state.dossiers[newer.dossier_code]["item"]["TrangThaiHoSo"] == "4"
    assert portal.state.rejected.get("DongBoHoSoMC", 0) == 0  # no "đã tồn tại" round trip
    assert portal.state.calls["TraCuuHoSo"] == 1


async def test_lgsp_token_is_renewed_once_after_it_expires(tmp_path: Path, portal: Portal) -> None:
    async with running(config_for(tmp_path, portal.url, "lgsp")) as gw:
        await push(gw, [record_to_json(dossier())])
        await drained(gw)
        async with aiohttp.ClientSession() as http:
            await http.post(f"{portal.url}/_sim/lgsp/expire-tokens")
        await push(gw, [record_to_json(step())])
        counts = await drained(gw)
    assert counts["delivered"] == 2
    assert portal.paths.count("/lgsp/token") == 2


async def test_lgspaccesstoken_flow(tmp_path: Path, portal: Portal) -> None:
    base = config_for(tmp_path, portal.url, "lgsp")
    lgsp = replace(base.routes.lgsp, auth="lgspaccesstoken", access_key="lgsp-demo-access")
    config = replace(base, routes=replace(base.routes, lgsp=lgsp))
    async with running(config) as gw:
        await push(gw, [record_to_json(dossier()), record_to_json(step())])
        counts = await drained(gw)
    assert counts["delivered"] == 2


async def test_xroad_rest_with_dstcode_as_query_parameter(tmp_path: Path, portal: Portal) -> None:
    base = config_for(tmp_path, portal.url, "xroad-rest")
    xroad = replace(base.routes.xroad_rest, dstcode_in="query")
    config = replace(base, routes=replace(base.routes, xroad_rest=xroad))
    async with running(config) as gw:
        await push(gw, [record_to_json(dossier())])
        counts = await drained(gw)
    assert counts["delivered"] == 1


async def test_wrong_dstcode_keeps_records_queued_behind_an_open_circuit(
    tmp_path: Path, portal: Portal
) -> None:
    # A wrong dstcode makes the X-Road login itself fail: an operator's fix, not the
    # record's fault. The record stays queued (never dead-lettered for a misconfiguration),
    # each attempt keeps the X-Road fault code, and the circuit opens instead of hammering.
    base = config_for(tmp_path, portal.url, "xroad-rest")
    xroad = replace(base.routes.xroad_rest, dstcode="VN:GOV:000.00.00.G99:nobody")
    config = replace(base, routes=replace(base.routes, xroad_rest=xroad))
    async with running(config) as gw:
        await push(gw, [record_to_json(dossier())])
        async with asyncio.timeout(30):
            while not any(b.state == "open" for b in gw.worker.guards.breakers.values()):
                await gw.worker.next_round()
        counts = await gw.store.counts()
        rows = await gw.store.query("SELECT portal_code FROM attempts")
    assert counts["dead"] == 0
    assert counts["queued"] + counts["leased"] == 1
    assert {row[0] for row in rows} == {"Server.ClientProxy.UnknownMember"}


async def test_routes_are_chosen_per_agency(tmp_path: Path, portal: Portal) -> None:
    base = config_for(tmp_path, portal.url, "dvcqg-rest")
    other = replace(dossier("000.00.00.H49-261102-00009"), agency_code="000.00.00.H49")
    routes = replace(base.routes, agencies={"000.00.00.H49": "xroad-soap"})
    async with running(replace(base, routes=routes)) as gw:
        await push(gw, [record_to_json(dossier()), record_to_json(other)])
        counts = await drained(gw)
        entries = await gw.store.audit_entries()
        breakers = set(gw.worker.guards.breakers)
        limiters = set(gw.worker.guards.rate_limits)
        budgets = set(gw.worker.guards.budgets)
    assert counts["delivered"] == 2
    assert "/xroad" in portal.paths
    assert "/mapi/g" in portal.paths
    # the audit, the breakers and the rate limits name the route each agency really took
    taken = {e.dossier_code: e.detail["route"] for e in entries if e.event == "delivered"}
    assert taken == {dossier().dossier_code: "dvcqg-rest", other.dossier_code: "xroad-soap"}
    assert breakers == {"dvcqg-rest/000.00.00.H56", "xroad-soap/000.00.00.H49"}
    assert limiters == budgets == {"dvcqg-rest", "xroad-soap"}


async def test_unknown_local_code_is_quarantined_naming_the_table(
    tmp_path: Path, portal: Portal
) -> None:
    table = tmp_path / "procedures.csv"
    table.write_text("local,dvcqg\n1.001193.000.00.00.H56,1.001193\n", encoding="utf-8")
    base = config_for(tmp_path, portal.url, "dvcqg-rest")
    routes = replace(base.routes, mappings=MappingsConfig(procedures=str(table)))
    local = dossier("000.00.00.H56-261102-00201", procedure_code="1.001193.000.00.00.H56")
    unknown = dossier("000.00.00.H56-261102-00202", procedure_code="9.999999.LOCAL")
    async with running(replace(base, routes=routes)) as gw:
        answer = await push(gw, [record_to_json(local), record_to_json(unknown)])
        counts = await drained(gw)
    assert [r["status"] for r in answer["results"]] == ["accepted", "quarantined"]
    assert str(table) in answer["results"][1]["reason"]
    assert counts["delivered"] == 1
    assert portal.state.dossiers["000.00.00.H56-261102-00201"]["item"]["MaTTHC"] == "1.001193"


async def test_derived_inter_agency_dossiers_are_not_synced(tmp_path: Path, portal: Portal) -> None:
    derived = dossier("000.00.00.H56-261102-00301", origin_dossier_code=dossier().dossier_code)
    records: list[Record] = [dossier(), derived, step("000.00.00.H56-261102-00301")]
    config = config_for(tmp_path, portal.url, "dvcqg-rest")
    async with running(config) as gw:
        await push(gw, [record_to_json(r) for r in records])
        counts = await drained(gw)
    assert counts["delivered"] == 3
    assert set(portal.state.dossiers) == {dossier().dossier_code}
    assert "000.00.00.H56-261102-00301" not in portal.state.progress
    # days later, after a restart: the dossier's next step is skipped too, not refused
    async with running(config) as gw:
        await push(gw, [record_to_json(step("000.00.00.H56-261102-00301", minutes=90))])
        counts = await drained(gw)
        entries = await gw.store.audit_entries()
    assert (counts["delivered"], counts["dead"]) == (4, 0)
    assert "000.00.00.H56-261102-00301" not in portal.state.progress
    skipped = [
        e
        for e in entries
        if e.event == "delivered" and e.dossier_code == "000.00.00.H56-261102-00301"
    ]
    assert [e.detail["error_code"] for e in skipped] == ["not-synced"] * 3


async def test_derived_dossiers_are_synced_when_configured(tmp_path: Path, portal: Portal) -> None:
    base = config_for(tmp_path, portal.url, "dvcqg-rest")
    config = replace(base, routes=replace(base.routes, sync_derived_dossiers=True))
    derived = dossier("000.00.00.H56-261102-00301", origin_dossier_code=dossier().dossier_code)
    async with running(config) as gw:
        await push(gw, [record_to_json(derived)])
        await drained(gw)
    assert "000.00.00.H56-261102-00301" in portal.state.dossiers


def test_demo_config_uses_the_simulator_account() -> None:
    config = demo_config(Path("x"), "http://127.0.0.1:1", "lgsp")
    assert isinstance(config.portal, PortalConfig)
    assert config.routes.default == "lgsp"


@pytest.mark.parametrize("route", ROUTES)
async def test_vietnamese_reaches_the_portal_nfc_without_mojibake(
    tmp_path: Path, portal: Portal, route: RouteName
) -> None:
    decomposed = unicodedata.normalize("NFD", "Nguyễn Thị Ánh Tuyết")
    record = dossier(owner_name=decomposed, summary="Đăng ký khai sinh cho cháu Nguyễn Minh Khôi")
    async with running(config_for(tmp_path, portal.url, route)) as gw:
        await push(gw, [record_to_json(record)])
        counts = await drained(gw)
    assert counts["delivered"] == 1
    held = portal.state.dossiers[record.dossier_code]["item"]
    assert held["ChuHoSo"] == unicodedata.normalize("NFC", decomposed) == "Nguyễn Thị Ánh Tuyết"
    assert held["TrichYeuHoSo"] == "Đăng ký khai sinh cho cháu Nguyễn Minh Khôi"


async def test_mojibake_is_quarantined_at_intake(tmp_path: Path, portal: Portal) -> None:
    record = dossier(owner_name="Nguyá»…n Thá»‹ Ãnh")
    async with running(config_for(tmp_path, portal.url, "dvcqg-rest")) as gw:
        answer = await push(gw, [record_to_json(record)])
    assert answer["results"][0]["status"] == "quarantined"
    assert (
        "$.data[0].ChuHoSo: text looks like UTF-8 decoded as Windows-1252"
        in (answer["results"][0]["reason"])
    )


async def test_local_statuses_are_mapped_at_intake(tmp_path: Path, portal: Portal) -> None:
    table = tmp_path / "statuses.csv"
    table.write_text("local,dvcqg\nprocessing,4\n", encoding="utf-8")
    base = config_for(tmp_path, portal.url, "dvcqg-rest")
    routes = replace(base.routes, mappings=MappingsConfig(statuses=str(table)))
    local = {**record_to_json(dossier("000.00.00.H56-261102-00401")), "status": "processing"}
    unknown = {**record_to_json(dossier("000.00.00.H56-261102-00402")), "status": "interoperating"}
    async with running(replace(base, routes=routes)) as gw:
        answer = await push(gw, [local, unknown])
        await drained(gw)
    assert [r["status"] for r in answer["results"]] == ["accepted", "rejected"]
    assert str(table) in answer["results"][1]["errors"][0]["reason"]
    assert portal.state.dossiers["000.00.00.H56-261102-00401"]["item"]["TrangThaiHoSo"] == "4"


@pytest.mark.parametrize("route", ["dvcqg-rest", "xroad-rest", "lgsp"])
async def test_expired_portal_session_is_renewed_on_every_json_route(
    tmp_path: Path, portal: Portal, route: RouteName
) -> None:
    async with running(config_for(tmp_path, portal.url, route)) as gw:
        await push(gw, [record_to_json(dossier())])
        await drained(gw)
        async with aiohttp.ClientSession() as http:
            await http.post(f"{portal.url}/_sim/expire-sessions")
        await push(gw, [record_to_json(step())])
        counts = await drained(gw)
    assert counts["delivered"] == 2
    assert counts["dead"] == 0
    assert sum(p.endswith("/mapi/login") for p in portal.paths) == 2


@pytest.mark.parametrize("route", ROUTES)
async def test_a_create_the_portal_already_holds_goes_again_as_an_update(
    tmp_path: Path, portal: Portal, route: RouteName
) -> None:
    async with running(config_for(tmp_path / "a", portal.url, route)) as gw:
        await push(gw, [record_to_json(dossier())])
        await drained(gw)
    newer = replace(dossier(), status=DossierStatus.PROCESSING)
    async with running(config_for(tmp_path / "b", portal.url, route)) as gw:
        await push(gw, [record_to_json(newer)])
        counts = await drained(gw)
    assert counts["delivered"] == 1
    assert portal.state.rejected["DongBoHoSoMC"] == 1  # the "đã tồn tại" answer
    assert portal.state.dossiers[newer.dossier_code]["versions"] == 2
    assert portal.state.dossiers[newer.dossier_code]["item"]["TrangThaiHoSo"] == "4"


async def test_a_soap_call_for_several_records_is_audited_once(
    tmp_path: Path, portal: Portal
) -> None:
    """The envelope is kept whole in one record's attempt entry; the others of the same call
    point to it and carry the same digest (50 copies of a batch would bloat the log)."""
    codes = [f"000.00.00.H56-261102-0000{i}" for i in range(3)]
    async with running(config_for(tmp_path, portal.url, "xroad-soap")) as gw:
        await push(gw, [record_to_json(dossier(code)) for code in codes])
        counts = await drained(gw)
        entries = await gw.store.audit_entries()
    assert counts["delivered"] == 3
    attempts = [e for e in entries if e.event == "attempt"]
    by_call: dict[str, list[Any]] = {}
    for entry in attempts:
        by_call.setdefault(entry.detail["request_digest"], []).append(entry)
    assert any(len(call) > 1 for call in by_call.values())  # the batch went in one call
    for call in by_call.values():
        whole = [e for e in call if "Envelope" in e.detail["request_body"]]
        assert len(whole) == 1
        pointer = f"[the request of record {whole[0].record_id}'s attempt entry]"
        assert all(e.detail["request_body"] == pointer for e in call if e not in whole)
        assert all("request_items" not in e.detail for e in call)
