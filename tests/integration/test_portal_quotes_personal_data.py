"""A portal that quotes the values it refuses does not put them in our logs or audit log.

A hostile portal on loopback answers every ``DongBoHoSoMC`` with a refusal that quotes the
owner's name, phone, ID number and the summary back. The gateway dead-letters the records;
their portal message is kept (attempts, ``last_error``, the audit log, the daemon's log) with
the record's own personal values masked, so the scan of the test's folder finds none.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway import logs
from gateway.app import Gateway, running
from gateway.audit.config_digest import set_digest_key
from gateway.audit.masking import set_hash_key
from gateway.canonical import record_to_json
from gateway.config.schema import (
    DeliveryConfig,
    GatewayConfig,
    IntakeConfig,
    PortalConfig,
    RetryConfig,
    StoreConfig,
)
from gateway.model import ApplicantType
from tests.factories import dossier
from tests.personal_scan import scan_folder


@pytest.fixture(autouse=True)
def no_keys_left_behind() -> Iterator[None]:
    """The run installs its join-hash and digest keys process-wide: remove them after."""
    yield
    set_hash_key(None)
    set_digest_key(None)


CITIZEN = dossier(
    "000.00.00.H56-261102-00001",
    owner_name="Trần Văn Bình",
    summary="Đăng ký khai sinh cho cháu Trần Minh Khôi",
)
BUSINESS = dossier(
    "000.00.00.H56-261102-00002",
    owner_name="Công ty TNHH Thương mại An Khang",
    applicant_type=ApplicantType.BUSINESS,
    owner_id_number="4219539879",
    other_info="Người đại diện theo pháp luật: Lê Thị Hoa",
)


@pytest.fixture
async def quoting_portal() -> AsyncIterator[tuple[str, list[str]]]:
    said: list[str] = []

    async def login(_: web.Request) -> web.Response:
        return web.json_response({"error_code": 0, "session": "s-1"})

    async def service(request: web.Request) -> web.Response:
        body: dict[str, Any] = await request.json()
        item = body["data"][0]
        message = (
            f"Dữ liệu không hợp lệ: ChuHoSo '{item['ChuHoSo']}' (SĐT {item['SoDienThoai']}, "
            f"số giấy tờ {item['SoGiayToChuHoSo']}); trích yếu '{item['TrichYeuHoSo']}'; "
            f"{item['ThongTinKhac']}"
        )
        said.append(message)
        return web.json_response({"error_code": 99, "message": message})

    app = web.Application()
    app.router.add_post("/mapi/login", login)
    app.router.add_post("/mapi/g", service)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    yield f"http://127.0.0.1:{port}", said
    await runner.cleanup()


async def dead(gw: Gateway, count: int) -> None:
    async with asyncio.timeout(60):
        while (await gw.store.counts())["dead"] < count:
            await gw.worker.next_round()


async def test_values_the_portal_quotes_back_are_masked_everywhere(
    tmp_path: Path, quoting_portal: tuple[str, list[str]]
) -> None:
    url, said = quoting_portal
    config = GatewayConfig(
        portal=PortalConfig(base_url=url, username="u", password="p"),
        store=StoreConfig(path=tmp_path / "gw.db"),
        intake=IntakeConfig(port=0),
        delivery=DeliveryConfig(
            batch_size=1, idle_poll_s=0.05, retry=RetryConfig(base_delay_s=0.01, max_delay_s=0.05)
        ),
    )
    with (tmp_path / "gateway.log").open("w", encoding="utf-8") as sink:
        logs.configure("json", "DEBUG", stream=sink)
        async with running(config, environ={"DVC_GATEWAY_HASH_KEY": "k"}) as gw:
            records = [record_to_json(CITIZEN), record_to_json(BUSINESS)]
            intake = f"http://127.0.0.1:{gw.port}/api/v1/intake/canonical"
            async with aiohttp.ClientSession() as http, http.post(intake, json=records) as answer:
                assert (await answer.json())["accepted"] == 2
            await dead(gw, 2)
            errors = await gw.store.query("SELECT last_error FROM records ORDER BY id")

    quoted = "\n".join(said)
    for value in ("Trần Văn Bình", "0912345678", "4219539879", "Lê Thị Hoa", "Trần Minh Khôi"):
        assert value in quoted  # the portal really quoted them back
    assert all(e.startswith("Dữ liệu không hợp lệ: ChuHoSo '<personal:") for (e,) in errors)
    scan = scan_folder(tmp_path)
    assert "gateway.log" in scan.texts
    assert [f"{f.sink}: {f.kind} {f.value}" for f in scan.findings] == []
