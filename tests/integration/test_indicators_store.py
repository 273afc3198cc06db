"""The indicators read each dossier's history from either engine, and the command prints it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

from gateway.cli import main
from gateway.errors import ConfigError
from gateway.indicators.reading import histories, load_procedures
from gateway.model import DossierStatus, Record
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import Incoming, Outcome, OutcomeKind
from gateway.store.postgres.store import PostgresStore
from gateway.store.sqlite.store import SqliteStore
from tests.factories import dossier, step

AnyStore = SqliteStore | PostgresStore
SYNCED = "000.00.00.H56-261102-00001"
UNSYNCED = "000.00.00.H56-261102-00002"
QUARANTINED = "000.00.00.H56-261102-00003"


async def fill(store: AnyStore) -> None:
    """Dossier 1: S2 and a step delivered, then S4 accepted (queued); dossier 2 accepted and
    never delivered; dossier 3 quarantined (no summary: the portal would refuse it)."""
    first: list[Record] = [
        dossier(SYNCED, status=DossierStatus.RECEIVED),
        step(SYNCED, minutes=10),
        dossier(UNSYNCED),
        dossier(QUARANTINED, summary=""),
    ]
    incoming = [Incoming("test", r, f"d{i}") for i, r in enumerate(first)]
    receipts = await store.accept(incoming, now=1.0, validate=validate_for_portal)
    assert [r.status for r in receipts] == ["accepted", "accepted", "accepted", "quarantined"]
    claimed = await store.claim("w", 10, now=2.0, lease_s=30)
    done = [
        Outcome(c.record_id, c.lease_token, OutcomeKind.DELIVERED, at=3.0, route="test")
        for c in claimed
        if c.record.dossier_code == SYNCED
    ]
    assert await store.complete(done) == 1  # the step waits for its dossier
    claimed = await store.claim("w", 10, now=4.0, lease_s=30)
    steps = [
        Outcome(c.record_id, c.lease_token, OutcomeKind.DELIVERED, at=5.0, route="test")
        for c in claimed
        if c.record.dossier_code == SYNCED
    ]
    assert await store.complete(steps) == 1
    newer = dossier(SYNCED, status=DossierStatus.PROCESSING)
    await store.accept([Incoming("test", newer, "d9")], now=6.0, validate=validate_for_portal)


async def test_a_history_is_what_each_side_holds(store: AnyStore) -> None:
    await fill(store)
    found = {h.local.dossier_code: h for h in await histories(store)}
    assert set(found) == {SYNCED, UNSYNCED, QUARANTINED}
    synced = found[SYNCED]
    assert synced.local.status == DossierStatus.PROCESSING  # the one-stop system's latest
    assert synced.synced is not None
    assert synced.synced.status == DossierStatus.RECEIVED  # what the portal acknowledged
    assert [s.status for s in synced.steps] == [DossierStatus.PROCESSING]
    assert found[UNSYNCED].synced is None
    assert found[QUARANTINED].synced is None  # received, and not on the portal


def test_the_command_prints_the_table_and_what_to_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def prepare() -> None:
        store = await SqliteStore.open(tmp_path / "gw.db", now=0.0)
        try:
            await fill(store)
        finally:
            await store.close()

    asyncio.run(prepare())
    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "portal": {"base_url": "http://127.0.0.1:1", "username": "u", "password": "p"},
                "store": {"path": str(tmp_path / "gw.db")},
                "indicators": {"points": {"1.4": 9}},
            }
        ),
        encoding="utf-8",
    )
    base = ["indicators", "--config", str(config), "--period", "2026-11"]
    assert main([*base, "--json", "--as-of", "2026-12-01T09:00:00+07:00"]) == 0
    answer = json.loads(capsys.readouterr().out)
    [section] = answer["sections"]
    sync = next(i for i in section["indicators"] if i["code"] == "1.4")
    assert (sync["numerator"], sync["denominator"], sync["max_points"]) == (1, 3, 9)
    assert sync["points"] == 3
    assert answer["sync_by_agency"][0]["received"] == 3
    assert main([*base, "explain", "--indicator", "1.4"]) == 0
    out = capsys.readouterr().out
    assert UNSYNCED in out
    assert QUARANTINED in out
    assert SYNCED not in out.split("\n", 1)[1]  # the first line names the indicator only
    assert main([*base, "--lang", "en"]) == 0
    assert "Dossiers synced to the portal" in capsys.readouterr().out
    assert main([*base[:-1], "2026-13"]) == 2


def test_the_procedures_file_names_every_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "procedures.csv"
    path.write_text(
        "procedure_code,legal_days,unit,issues_document,has_fees\n"
        "1.001193,1,working_days,yes,no\n"
        "1.000656,five,days,,\n"
        "2.002516,3,days,maybe,\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_procedures(path)
    assert [p.reason.split(":")[0] for p in caught.value.problems] == [
        f"{path} row 3",
        f"{path} row 4",
    ]
    path.write_text(
        "procedure_code,legal_days,unit,issues_document,has_fees\n1.000656,5,days,no,có\n",
        encoding="utf-8",
    )
    facts = load_procedures(path)["1.000656"]
    assert (facts.legal_days, facts.working_days, facts.issues_document, facts.has_fees) == (
        5,
        False,
        False,
        True,
    )
