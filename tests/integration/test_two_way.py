"""Two-way end to end (issue 16): the whole daemon, the portal simulator and the operator
verbs' functions over real sockets and a real SQLite file.

- a re-coded agency is quarantined at intake with the right suggestion; ``mappings suggest``
  drafts the mapping, ``mappings apply`` writes it and releases the records, which reach the
  portal under the new code;
- a portal that lost 5 % of the dossiers and altered the status of 2 % is reconciled to no
  drift by ``reconcile --fix``, with no status regression and no step twice.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gateway import two_way
from gateway.app import Gateway, running
from gateway.canonical import record_to_json
from gateway.catalogue.checks import with_catalogue
from gateway.catalogue.drafts import draft, merge_table, read_draft, release_fixed, write_draft
from gateway.catalogue.reconcile import reconcile, resync
from gateway.catalogue.sync import current_snapshot, sync_catalogue
from gateway.config.mappings import load_tables
from gateway.config.schema import (
    CatalogueConfig,
    DeliveryConfig,
    GatewayConfig,
    IntakeConfig,
    MappingsConfig,
    PortalConfig,
    RetryConfig,
    RoutesConfig,
    StoreConfig,
)
from gateway.errors import ConfigError
from gateway.model import PORTAL_TZ, DossierStatus, Record
from gateway.routes.router import build_router
from gateway.simulator.portal import STATE_KEY, PortalState, SimulatorSettings, create_app
from gateway.sources.intake import Intake, portal_validator
from gateway.store.contract import STATUS_RANK
from gateway.store.sqlite.store import SqliteStore
from tests.factories import dossier, step
from tests.pg import pg_database

THANH_HOA = "000.00.00.H56"
HAU_GIANG, NEW_CODE = "000.00.00.H30", "000.00.00.H62"


@dataclass
class Portal:
    url: str
    state: PortalState

    async def control(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{self.url}/_sim/{path}", json=body) as response,
        ):
            assert response.status == 200, await response.text()
            answer: dict[str, Any] = await response.json()
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


def gateway_config(tmp_path: Path, portal: Portal) -> GatewayConfig:
    agencies = tmp_path / "agencies.csv"
    if not agencies.exists():
        agencies.write_text(f"local,dvcqg\nSOTP-THANHHOA,{THANH_HOA}\n", encoding="utf-8")
    return GatewayConfig(
        portal=PortalConfig(base_url=portal.url, username="simulator", password="simulator"),
        store=StoreConfig(path=tmp_path / "gw.db"),
        intake=IntakeConfig(port=0),
        delivery=DeliveryConfig(
            idle_poll_s=0.05, retry=RetryConfig(base_delay_s=0.01, max_delay_s=0.05)
        ),
        routes=RoutesConfig(mappings=MappingsConfig(agencies=str(agencies))),
    )


async def push(gw: Gateway, records: list[Any]) -> dict[str, Any]:
    url = f"http://127.0.0.1:{gw.port}/api/v1/intake/canonical"
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


async def sync(config: GatewayConfig) -> None:
    store = await SqliteStore.open(config.store.path, now=time.time())
    router = build_router(config)
    try:
        report = await sync_catalogue(router, store, agency=THANH_HOA, clock=time.time)
        assert (report.complete, report.stored) == (True, True)
    finally:
        await router.close()
        await store.close()


async def test_a_re_coded_agency_is_quarantined_suggested_mapped_and_released(
    tmp_path: Path, portal: Portal
) -> None:
    config = gateway_config(tmp_path, portal)
    await sync(config)  # version 1: Hậu Giang under its old code
    await portal.control(
        "catalogue", {"op": "recode-agency", "code": HAU_GIANG, "new_code": NEW_CODE}
    )
    await sync(config)  # version 2: re-coded (§11)
    old = [
        dossier(
            f"{HAU_GIANG}-261102-{n:05d}",
            agency_code=HAU_GIANG,
            handling_agency_name="UBND tỉnh Hậu Giang",
        )
        for n in range(3)
    ]
    good = dossier(f"{THANH_HOA}-261102-00001")
    async with running(config) as gw:
        answer = await push(gw, [record_to_json(r) for r in [*old, good]])
        assert (answer["accepted"], answer["quarantined"]) == (1, 3)
        reasons = await gw.store.query(
            "SELECT last_error FROM records WHERE state = 'quarantined' ORDER BY id"
        )
        await drained(gw)
    assert good.dossier_code in portal.state.dossiers
    for (reason,) in reasons:
        assert f"agency code '{HAU_GIANG}' was retired from the national catalogue" in reason
        assert f"best matches: {NEW_CODE} 'UBND tỉnh Hậu Giang' (100" in reason

    # mappings suggest -> the operator's review -> mappings apply (the verbs' own functions)
    store = await SqliteStore.open(config.store.path, now=time.time())
    try:
        catalogue = await current_snapshot(store)
        assert catalogue is not None
        tables = load_tables(config.routes.mappings)
        lines = await draft(store, tables, catalogue)
        assert [(x.kind, x.local, x.dvcqg, x.records) for x in lines] == [
            ("agency", HAU_GIANG, NEW_CODE, 3)
        ]
        reviewed = tmp_path / "draft.csv"
        reviewed.write_text(write_draft(lines), encoding="utf-8")
        chosen = read_draft(reviewed, catalogue)
        assert chosen == [("agency", HAU_GIANG, NEW_CODE)]
        merge_table(Path(config.routes.mappings.agencies), {HAU_GIANG: NEW_CODE})
        tables = load_tables(config.routes.mappings)
        validate = with_catalogue(portal_validator(tables), tables, catalogue)
        released, still = await release_fixed(store, validate, by="tester", now=time.time())
        assert (len(released), still) == (3, 0)
        audited = await store.query("SELECT detail FROM audit WHERE event = 'released'")
        assert [json.loads(d)["by"] for (d,) in audited] == ["tester"] * 3
    finally:
        await store.close()
    async with running(gateway_config(tmp_path, portal)) as gw:  # the daemon, restarted
        counts = await drained(gw)
    assert counts["delivered"] == 4
    for record in old:
        assert portal.state.dossiers[record.dossier_code]["madonvi"] == NEW_CODE


async def test_a_bad_draft_is_refused_whole(tmp_path: Path, portal: Portal) -> None:
    config = gateway_config(tmp_path, portal)
    await sync(config)
    store = await SqliteStore.open(config.store.path, now=time.time())
    try:
        catalogue = await current_snapshot(store)
    finally:
        await store.close()
    assert catalogue is not None
    bad = tmp_path / "draft.csv"
    bad.write_text(
        "kind,local,dvcqg\nagency,A,000.00.00.H99\nfield,F,G15-TP07\nprocedure,P,1.001193\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        read_draft(bad, catalogue)
    reasons = [str(p) for p in caught.value.problems]
    assert len(reasons) == 2
    assert "row 2: '000.00.00.H99' is not a agency code" in reasons[0]
    assert "row 3: kind 'field' has no mapping table" in reasons[1]


DOSSIERS = 100


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreConfig]:
    if request.param == "sqlite":
        yield StoreConfig(path=tmp_path / "gw.db")
        return
    async with pg_database() as dsn:
        yield StoreConfig(engine="postgresql", dsn=dsn)


async def test_a_lossy_portal_is_reconciled_to_no_drift(
    tmp_path: Path, portal: Portal, engine: StoreConfig
) -> None:
    config = replace(gateway_config(tmp_path, portal), store=engine)
    records: list[Record] = []
    for n in range(DOSSIERS):
        code = f"{THANH_HOA}-261102-{n:05d}"
        records += [dossier(code), step(code, minutes=5)]
    since = time.time() - 1
    async with running(config) as gw:
        answer = await push(gw, [record_to_json(r) for r in records])
        assert answer["accepted"] == 2 * DOSSIERS
        assert (await drained(gw))["delivered"] == 2 * DOSSIERS
        lost = (await portal.control("dossiers", {"op": "lose", "fraction": 0.05, "seed": 16}))[
            "codes"
        ]
        held = sorted(set(portal.state.dossiers))
        altered = held[:2]  # 2 % put back to "submitted" (1): behind our "received" (2)
        await portal.control("dossiers", {"op": "alter", "codes": altered, "status": 1})
        assert len(lost) == 5

        router = build_router(config)
        try:
            seen = await reconcile(
                gw.store, router, router.tables, since=since, until=None, by="t", clock=time.time,
                progress_service="TraCuuTienDoHoSo",
            )  # fmt: skip
            assert seen.checked == DOSSIERS
            kinds = sorted((d.kind, d.dossier_code) for d in seen.drifts)
            assert kinds == sorted(
                [("missing", c) for c in lost] + [("status_behind", c) for c in altered]
            )
            assert seen.counts() == {THANH_HOA: {"missing": 5, "status_behind": 2}}
            assert seen.requeued == []  # without --fix nothing moves

            fixed = await reconcile(
                gw.store, router, router.tables, since=since, until=None, by="t", clock=time.time,
                progress_service="TraCuuTienDoHoSo", fix=True,
            )  # fmt: skip
            assert len(fixed.requeued) == 5 * 2 + 2  # lost: snapshot + step; behind: snapshot
            await drained(gw)
            after = await reconcile(
                gw.store, router, router.tables, since=since, until=None, by="t", clock=time.time,
                progress_service="TraCuuTienDoHoSo",
            )  # fmt: skip
        finally:
            await router.close()
    assert (after.checked, after.drifts) == (DOSSIERS, [])
    assert portal.state.duplicate_progress == 0
    for n in range(DOSSIERS):
        code = f"{THANH_HOA}-261102-{n:05d}"
        assert portal.state.dossiers[code]["item"]["TrangThaiHoSo"] == str(
            int(DossierStatus.RECEIVED)
        )
        assert len(portal.state.progress[code]) == 1  # every step once, none twice


async def test_a_newer_portal_state_is_reported_never_overwritten(
    tmp_path: Path, portal: Portal
) -> None:
    config = gateway_config(tmp_path, portal)
    code = f"{THANH_HOA}-261102-00001"
    since = time.time() - 1
    async with running(config) as gw:
        await push(gw, [record_to_json(dossier(code))])
        await drained(gw)
        await portal.control("dossiers", {"op": "alter", "codes": [code], "status": 9})
        router = build_router(config)
        try:
            report = await reconcile(
                gw.store, router, router.tables, since=since, until=None, by="t",
                clock=time.time, fix=True,
            )  # fmt: skip
        finally:
            await router.close()
        await drained(gw)
    assert [(d.kind, d.record_ids) for d in report.drifts] == [("portal_ahead", ())]
    assert report.requeued == []
    assert portal.state.dossiers[code]["item"]["TrangThaiHoSo"] == "9"
    assert portal.state.dossiers[code]["versions"] == 1
    assert STATUS_RANK[9] > STATUS_RANK[int(DossierStatus.RECEIVED)]


async def test_resync_queues_a_range_again_once(tmp_path: Path, portal: Portal) -> None:
    config = gateway_config(tmp_path, portal)
    codes = [f"{THANH_HOA}-261102-{n:05d}" for n in range(3)]
    since = time.time() - 1
    async with running(config) as gw:
        await push(gw, [record_to_json(r) for c in codes for r in (dossier(c), step(c))])
        await drained(gw)
        first = await resync(gw.store, since=since, until=None, by="t", clock=time.time)
        second = await resync(gw.store, since=since, until=None, by="t", clock=time.time)
        assert (len(first), second) == (6, [])  # what is queued already is not queued twice
        await drained(gw)
    assert portal.state.duplicate_progress == 0  # steps looked up before being sent again
    for code in codes:
        assert portal.state.dossiers[code]["versions"] == 2  # the snapshot again, as an update
        assert len(portal.state.progress[code]) == 1


async def test_the_daemons_daily_sync_reaches_intake_without_a_reload(
    tmp_path: Path, portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    switched = asyncio.Event()
    original = Intake.use

    def use(self: Intake, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        switched.set()  # the daemon handed intake a check against the new version

    monkeypatch.setattr(Intake, "use", use)
    base = gateway_config(tmp_path, portal)
    config = replace(
        base,
        catalogue=CatalogueConfig(agency=THANH_HOA, rate_per_s=0, daily_sync=True,
                                  daily_first_after_s=0),
    )  # fmt: skip
    async with running(config) as gw:
        await asyncio.wait_for(switched.wait(), 60)
        assert await gw.store.query("SELECT version FROM catalogue_versions") == [(1,)]
        answer = await push(
            gw, [record_to_json(dossier("000.00.00.H99-261102-00001", agency_code="000.00.00.H99"))]
        )
    assert answer["quarantined"] == 1  # checked against the version the daemon just synced


async def test_the_nightly_sweep_fixes_what_the_portal_lost(
    tmp_path: Path, portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = replace(
        gateway_config(tmp_path, portal),
        catalogue=CatalogueConfig(rate_per_s=0, nightly_reconcile="fix", reconcile_days=1),
    )
    waits: list[float] = []

    def one_night(stop: asyncio.Event) -> Callable[[float], Awaitable[bool]]:
        async def wait(seconds: float) -> bool:
            waits.append(seconds)
            return len(waits) > 1  # the first night comes at once, then the daemon stops

        return wait

    monkeypatch.setattr(two_way, "waiting_on", one_night)
    codes = [f"{THANH_HOA}-261102-{n:05d}" for n in range(10)]
    async with running(replace(config, catalogue=CatalogueConfig())) as gw:  # no sweep yet
        await push(gw, [record_to_json(dossier(c)) for c in codes])
        await drained(gw)
        await portal.control("dossiers", {"op": "lose", "codes": codes[:2]})
        await two_way.nightly_reconcile(config, gw.store, gw.worker, asyncio.Event())
        await drained(gw)
        audited = await gw.store.query("SELECT detail FROM audit WHERE event = 'reconciled'")
    assert waits[1] == 86400  # the next night
    [(detail,)] = audited
    assert json.loads(detail)["counts"] == {THANH_HOA: {"missing": 2}}
    assert sorted(portal.state.dossiers) == codes  # the lost ones are back


def test_seconds_until_the_next_hour_in_portal_time() -> None:
    at = datetime(2026, 12, 5, 1, 30, tzinfo=PORTAL_TZ).timestamp()
    assert two_way.seconds_until(at, 2) == 1800
    assert two_way.seconds_until(at, 1) == 86400 - 1800  # passed today: tomorrow


async def test_a_refused_look_up_is_reported_and_the_others_still_checked(
    tmp_path: Path, portal: Portal
) -> None:
    table = f"local,dvcqg\nSOTP-THANHHOA,{THANH_HOA}\nHG,{HAU_GIANG}\n"
    (tmp_path / "agencies.csv").write_text(table, encoding="utf-8")  # Hậu Giang is known
    config = gateway_config(tmp_path, portal)
    moved = dossier(f"{HAU_GIANG}-261102-00001", agency_code=HAU_GIANG)
    kept = [dossier(f"{THANH_HOA}-261102-{n:05d}") for n in range(3)]
    since = time.time() - 1
    async with running(config) as gw:
        await push(gw, [record_to_json(r) for r in [moved, *kept]])
        await drained(gw)
        recode = {"op": "recode-agency", "code": HAU_GIANG, "new_code": NEW_CODE}
        await portal.control("catalogue", recode)  # the portal now refuses the old madonvi
        router = build_router(config)
        try:
            report = await reconcile(
                gw.store, router, router.tables, since=since, until=None, by="t",
                clock=time.time, progress_service="NoSuchService",
            )  # fmt: skip
        finally:
            await router.close()
    assert report.checked == 3
    [drift] = report.drifts
    assert (drift.dossier_code, drift.kind) == (moved.dossier_code, "not_checked")
    assert HAU_GIANG in drift.detail
    assert portal.state.calls["NoSuchService"] == 1  # refused once, then not asked again
