"""Status reports on each road to the simulated portal: the JSON roads send
``DongBoTrangThaiHoSo`` (logging in again when the session expired), the SOAP road says it
cannot, and the simulated portal refuses a report of a dossier it never pushed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from gateway.config.schema import RouteName
from gateway.demo import demo_config
from gateway.errors import PermanentDeliveryError
from gateway.inbound.reports import report_payload
from gateway.routes.router import build_router
from gateway.routes.status_report import send_status_report
from gateway.simulator.portal import STATE_KEY, PortalState, SimulatorSettings, create_app
from tests.factories import step

CODE = "000.00.00.H56-261127-900001"


@pytest.fixture
async def portal() -> AsyncIterator[tuple[str, PortalState]]:
    app = create_app(SimulatorSettings())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    app[STATE_KEY].hosted.pushed[CODE] = {}
    yield f"http://127.0.0.1:{port}", app[STATE_KEY]
    await runner.cleanup()


@pytest.mark.parametrize("route", ["dvcqg-rest", "xroad-rest", "lgsp"])
async def test_json_roads_send_the_report_and_log_in_again_once_expired(
    tmp_path: Path, portal: tuple[str, PortalState], route: RouteName
) -> None:
    url, state = portal
    router = build_router(demo_config(tmp_path, url, route))
    try:
        first = report_payload(step(CODE, minutes=5))
        assert first is not None
        sent = await send_status_report(router, first)
        assert sent.portal_code == "0"
        assert [r["TrangThai"] for r in state.hosted.reports[CODE]] == ["4"]
        async with (  # the portal forgets every session
            aiohttp.ClientSession() as http,
            http.post(f"{url}/_sim/expire-sessions") as response,
        ):
            assert (await response.json())["expired"] >= 1
        second = report_payload(step(CODE, minutes=9))
        assert second is not None
        await send_status_report(router, second)
        assert [r["NgayXuLy"] for r in state.hosted.reports[CODE]] == [
            "20261102080500",
            "20261102080900",
        ]
        unknown = report_payload(step("000.00.00.H56-261127-X", minutes=9))
        assert unknown is not None
        with pytest.raises(PermanentDeliveryError):
            await send_status_report(router, unknown)
    finally:
        await router.close()


async def test_the_soap_road_names_itself_as_unable(
    tmp_path: Path, portal: tuple[str, PortalState]
) -> None:
    url, _ = portal
    router = build_router(demo_config(tmp_path, url, "xroad-soap"))
    try:
        report = report_payload(step(CODE))
        assert report is not None
        with pytest.raises(PermanentDeliveryError, match="cannot send DongBoTrangThaiHoSo"):
            await send_status_report(router, report)
    finally:
        await router.close()
