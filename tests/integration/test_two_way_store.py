"""The store side of issue 16 on both engines: quarantined records released, delivered
records queued again, catalogue versions numbered once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.catalogue.checks import with_catalogue
from gateway.catalogue.drafts import draft
from gateway.catalogue.snapshot import ProcedureEntry, Snapshot
from gateway.config.schema import StoreConfig
from gateway.encoders.mapping import MappingTables
from gateway.errors import TranslationError
from gateway.model import Record
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import Incoming, Outcome, OutcomeKind
from gateway.store.engines import AnyStore, open_store
from tests.factories import dossier, step
from tests.pg import pg_database

CODE = "000.00.00.H56-261102-00001"


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AnyStore]:
    if request.param == "sqlite":
        opened = await open_store(StoreConfig(path=tmp_path / "gw.db"), now=0.0)
        yield opened
        await opened.close()
        return
    async with pg_database() as dsn:
        opened = await open_store(StoreConfig(engine="postgresql", dsn=dsn), now=0.0)
        yield opened
        await opened.close()


def refuse(record: Record) -> None:
    raise TranslationError.at("$.madonvi", "agency code is not in the national catalogue")


async def test_a_released_first_snapshot_becomes_its_dossiers_latest(store: AnyStore) -> None:
    items = [Incoming("t", dossier(CODE), "a"), Incoming("t", step(CODE), "b")]
    receipts = await store.accept(items, now=1.0, validate=refuse)
    assert [r.status for r in receipts] == ["quarantined", "quarantined"]
    ids = [r.record_ids[0] for r in receipts]
    assert await store.release_quarantined(ids, by="op", now=2.0) == ids
    assert await store.release_quarantined(ids, by="op", now=3.0) == []  # nothing twice
    states = await store.query("SELECT state FROM records ORDER BY id")
    assert [s for (s,) in states] == ["queued", "queued"]
    latest = await store.query("SELECT latest_snapshot_id FROM dossiers")
    assert latest == [(ids[0],)]
    audited = await store.query("SELECT detail FROM audit WHERE event = 'released' ORDER BY seq")
    assert [json.loads(d)["by"] for (d,) in audited] == ["op", "op"]
    claimed = await store.claim("w", 10, now=4.0, lease_s=30.0)
    assert [c.record_id for c in claimed] == [ids[0]]  # the step waits for its dossier


async def test_a_released_snapshot_older_than_the_latest_is_superseded(store: AnyStore) -> None:
    [quarantined] = await store.accept(
        [Incoming("t", dossier(CODE), "a")], now=1.0, validate=refuse
    )
    newer = dossier(CODE, summary="Bản mới")
    await store.accept([Incoming("t", newer, "b")], now=2.0, validate=validate_for_portal)
    assert await store.release_quarantined(quarantined.record_ids, by="op", now=3.0) == []
    states = await store.query("SELECT state FROM records ORDER BY id")
    assert [s for (s,) in states] == ["superseded", "queued"]


async def test_delivered_records_are_queued_again_once(store: AnyStore) -> None:
    items = [Incoming("t", dossier(CODE), "a"), Incoming("t", step(CODE), "b")]
    await store.accept(items, now=1.0, validate=validate_for_portal)
    for now in (2.0, 3.0):  # the dossier, then its step
        [claimed] = await store.claim("w", 10, now=now, lease_s=30.0)
        outcome = Outcome(claimed.record_id, claimed.lease_token, OutcomeKind.DELIVERED, now, "r")
        assert await store.complete([outcome]) == 1
    ids = [rid for (rid,) in await store.query("SELECT id FROM records ORDER BY id")]
    queued = await store.requeue_delivered(
        ids, lost=[CODE], event="reconcile_requeued", by="op", now=4.0
    )
    assert queued == ids
    again = await store.requeue_delivered(
        ids, lost=[CODE], event="reconcile_requeued", by="op", now=5.0
    )
    assert again == []
    [first] = await store.claim("w", 10, now=6.0, lease_s=30.0)
    assert (first.record_id, first.on_portal) == (ids[0], False)  # lost: sent as a create
    rows = await store.query("SELECT state, uncertain FROM records ORDER BY id")
    assert [(s, bool(u)) for s, u in rows] == [("leased", False), ("queued", True)]


async def test_catalogue_versions_are_numbered_and_audited(store: AnyStore) -> None:
    assert await store.latest_catalogue() is None
    await store.keep_catalogue_detail("1.001193", "{}", 1.0)
    await store.keep_catalogue_detail("1.001193", '{"a": 1}', 1.5)
    assert await store.pending_catalogue() == {"1.001193": '{"a": 1}'}
    assert await store.save_catalogue("{}", "d1", {"summary": {}}, 2.0) == 1
    assert await store.save_catalogue('{"x": 1}', "d2", {"summary": {}}, 3.0) == 2
    assert await store.latest_catalogue() == (2, 3.0, '{"x": 1}')
    assert await store.pending_catalogue() == {}
    events = await store.query("SELECT detail FROM audit WHERE event = 'catalogue_synced'")
    assert [json.loads(d)["version"] for (d,) in events] == [1, 2]


async def test_dossier_records_are_those_of_the_codes_asked_in_id_order(store: AnyStore) -> None:
    other = "000.00.00.H56-261102-00002"
    items = [
        Incoming("t", dossier(CODE), "a"),
        Incoming("t", dossier(other), "b"),
        Incoming("t", step(CODE), "c"),
    ]
    await store.accept(items, now=1.0, validate=validate_for_portal)
    rows = await store.dossier_records([CODE])
    assert [(code, kind, state) for _, code, kind, state, _ in rows] == [
        (CODE, "dossier", "queued"),
        (CODE, "progress", "queued"),
    ]
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    assert json.loads(rows[0][4])["dossier_code"] == CODE
    assert await store.dossier_records([]) == []


async def test_a_draft_names_local_procedure_codes_with_their_national_code(
    store: AnyStore,
) -> None:
    catalogue = Snapshot(
        procedures={
            "1.001193": ProcedureEntry("Thủ tục đăng ký khai sinh", ("G15-TP07",)),
            "1.000656": ProcedureEntry("Thủ tục đăng ký khai tử", ("G15-TP07",)),
        },
        fields={"G15-TP07": "Hộ tịch"},
        agencies={"000.00.00.H56": "UBND tỉnh Thanh Hóa"},
    )
    check = with_catalogue(validate_for_portal, MappingTables(), catalogue)
    records = [
        dossier(CODE, procedure_code="1.001193.000.00.00.H56"),
        dossier("000.00.00.H56-261102-00002", procedure_code="KT-LOCAL",
                procedure_name="Đăng ký khai tử"),
    ]  # fmt: skip
    receipts = await store.accept(
        [Incoming("t", r, r.dossier_code) for r in records], now=1.0, validate=check
    )
    assert [r.status for r in receipts] == ["quarantined", "quarantined"]
    lines = await draft(store, MappingTables(), catalogue)
    assert [(x.local, x.dvcqg, x.score) for x in lines] == [
        ("1.001193.000.00.00.H56", "1.001193", 100.0),  # the code prefix
        ("KT-LOCAL", "1.000656", 100.0),  # the name (98, "Thủ tục" dropped) + the same field
    ]
