"""Pulling portal-hosted dossiers by date range from the simulated portal (``DanhSachHoSo`` +
``LayTaiLieuHoSo``): a day at a time, the watermark committed with the dossiers (a failed
commit stores neither), a bad dossier audited and skipped, a range pulled twice storing
nothing twice."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gateway.config.schema import InboundPullConfig
from gateway.demo import demo_config
from gateway.errors import PermanentDeliveryError, StoreError
from gateway.inbound.model import Limits
from gateway.inbound.pulling import HostedPull, fetch_on
from gateway.model import PORTAL_TZ
from gateway.routes.router import RouterRoute, build_router
from gateway.simulator.hosted import broken_body, hosted_body
from gateway.simulator.portal import STATE_KEY, PortalState, SimulatorSettings, create_app
from gateway.store.inbound import JobKind
from gateway.store.sqlite.store import SqliteStore

AGENCY = "000.00.00.H56"
DAY0 = datetime(2026, 11, 20, tzinfo=PORTAL_TZ)


@pytest.fixture
async def portal() -> AsyncIterator[tuple[str, PortalState]]:
    app = create_app(SimulatorSettings())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    state = app[STATE_KEY]
    rng = random.Random(3)
    for i in range(1, 31):  # one every 3 hours: four days of filings
        body = hosted_body(i, rng, datetime(2026, 11, 27))
        body["NgayNopHoSo"] = (DAY0 + timedelta(hours=3 * i)).strftime("%Y%m%d%H%M%S")
        state.hosted.served[body["MaHoSo"]] = body
    bad = {**broken_body(1), "NgayNopHoSo": (DAY0 + timedelta(hours=4)).strftime("%Y%m%d%H%M%S")}
    state.hosted.served[bad["MaHoSo"]] = bad
    yield f"http://127.0.0.1:{port}", state
    await runner.cleanup()


@pytest.fixture
async def rig(
    tmp_path: Path, portal: tuple[str, PortalState]
) -> AsyncIterator[tuple[SqliteStore, RouterRoute, HostedPull]]:
    url, _ = portal
    store = await SqliteStore.open(tmp_path / "gw.db", now=0.0)
    router = build_router(demo_config(tmp_path, url, "dvcqg-rest"))
    config = InboundPullConfig(enabled=True, agency=AGENCY, start_at=DAY0.isoformat(),
                               window_s=86400, settle_s=0)  # fmt: skip
    now = (DAY0 + timedelta(days=6)).timestamp()
    pull = HostedPull(store.inbound, fetch_on(lambda: router, AGENCY), store.note, config,
                      Limits(), sink_name="outbox", clock=lambda: now)  # fmt: skip
    yield store, router, pull
    await router.close()
    await store.close()


async def test_a_day_at_a_time_with_the_watermark_in_the_same_transaction(
    tmp_path: Path, rig: tuple[SqliteStore, RouterRoute, HostedPull], portal: Any
) -> None:
    store, _, pull = rig
    _, state = portal
    assert await pull.run_once() == 7  # 03:00 .. 21:00 of day 0; the broken one refused
    assert (
        await store.inbound.get_cursor(pull.cursor_name) == (DAY0 + timedelta(days=1)).isoformat()
    )
    refused = [e for e in await store.audit_entries() if e.event == "inbound_pull_refused"]
    assert [e.detail["paths"] for e in refused] == [["$.TaiLieuNop[0].Base64"]]

    other = sqlite3.connect(tmp_path / "gw.db")  # the next commit fails as a whole
    other.execute("ALTER TABLE inbound_jobs RENAME TO held")
    other.commit()
    with pytest.raises(StoreError):
        await pull.run_once()
    assert (
        await store.inbound.get_cursor(pull.cursor_name) == (DAY0 + timedelta(days=1)).isoformat()
    )
    assert await store.query("SELECT COUNT(*) FROM inbound_dossiers") == [(7,)]
    other.execute("ALTER TABLE held RENAME TO inbound_jobs")
    other.commit()
    other.close()

    pulled = 7
    while created := await pull.run_once():
        pulled += created
    assert pulled == 30
    codes = {row[0] for row in await store.query("SELECT dossier_code FROM inbound_dossiers")}
    assert codes == {c for c in state.hosted.served if "BROKEN" not in c}
    jobs = await store.inbound.jobs(JobKind.DELIVER)
    assert len(jobs) == 30
    stored = await store.query(
        "SELECT payload FROM inbound_dossiers WHERE dossier_code = ?", (sorted(codes)[0],)
    )
    assert '"role": "paper"' in stored[0][0]  # the papers came with LayTaiLieuHoSo

    await store.query("DELETE FROM source_cursors")  # pull everything again
    horizon = (DAY0 + timedelta(days=6)).isoformat()
    while await store.inbound.get_cursor(pull.cursor_name) != horizon:
        assert await pull.run_once() == 0
    assert len(await store.inbound.jobs(JobKind.DELIVER)) == 30  # nothing stored twice
    duplicates = [e for e in await store.audit_entries() if e.event == "inbound_duplicate"]
    assert len(duplicates) == 30


async def test_the_soap_road_cannot_pull(tmp_path: Path, portal: tuple[str, PortalState]) -> None:
    url, _ = portal
    router = build_router(demo_config(tmp_path, url, "xroad-soap"))
    try:
        with pytest.raises(PermanentDeliveryError, match="cannot pull DanhSachHoSo"):
            await fetch_on(lambda: router, AGENCY)("DanhSachHoSo", {})
    finally:
        await router.close()
