"""``dvc-gateway status`` and ``dlq list`` through the CLI's ``main`` show the records blocked
behind a dead-lettered snapshot, with the record that blocks them, on a SQLite file and on a
PostgreSQL database; ``replay`` releases them (issue 11)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.model import Record
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import Incoming, Outcome, OutcomeKind
from gateway.store.postgres.store import PostgresStore
from gateway.store.sqlite.store import SqliteStore
from tests.factories import dossier, step
from tests.pg import SharedDatabase

A, B = "000.00.00.H56-261102-00001", "000.00.00.H56-261102-00002"
REFUSAL = "Thủ tục 9.9 không có trong danh mục TTHC"


async def dead_dossier_with_steps(store: SqliteStore | PostgresStore) -> int:
    """Dossier A refused by the portal with two steps queued behind it; dossier B queued."""
    records: list[Record] = [dossier(A), step(A, minutes=10), step(A, minutes=20)]
    items = [Incoming("t", r, f"d{i}") for i, r in enumerate(records)]
    receipts = await store.accept(items, now=1.0, validate=validate_for_portal)
    [c] = await store.claim("w", 10, now=2.0, lease_s=60)
    refused = Outcome(
        c.record_id, c.lease_token, OutcomeKind.DEAD, at=3.0, route="t", portal_code="-1",
        message=REFUSAL,
    )  # fmt: skip
    await store.complete([refused])
    await store.accept([Incoming("t", dossier(B), "b")], now=4.0, validate=validate_for_portal)
    await store.close()
    return receipts[0].record_ids[0]


@pytest.fixture(params=["sqlite", "postgresql"])
def section(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        path = tmp_path / "gw.db"
        yield {"path": str(path)}
        return
    database = SharedDatabase()
    try:
        yield {"engine": "postgresql", "dsn": database.dsn}
    finally:
        database.drop()


async def make_store(section: dict[str, str]) -> int:
    if section.get("engine") == "postgresql":
        return await dead_dossier_with_steps(await PostgresStore.open(section["dsn"], now=0.0))
    return await dead_dossier_with_steps(await SqliteStore.open(Path(section["path"]), now=0.0))


def write_config(tmp_path: Path, store: dict[str, str]) -> Path:
    path = tmp_path / "gateway.yaml"
    document = {
        "portal": {"base_url": "http://127.0.0.1:1", "username": "u", "password": "p"},
        "store": store,
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_status_and_dlq_list_show_what_a_dead_snapshot_blocks_until_it_is_replayed(
    section: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = asyncio.run(make_store(section))
    config = str(write_config(tmp_path, section))

    out = run(capsys, "status", "--config", config)
    assert "blocked              2  queued behind a dead or quarantined snapshot of 1" in out
    assert "next attempt due now" in out  # dossier B is ready; the blocked ones are not counted

    status = json.loads(run(capsys, "status", "--config", config, "--json"))
    assert status["states"]["queued"] == 3
    assert status["states"]["dead"] == 1
    assert status["blocked"] == 2
    [blocked] = status["blocked_dossiers"]
    assert (blocked["dossier_code"], blocked["records"], blocked["blocked_by"]) == (A, 2, dead)
    assert (blocked["blocker_state"], blocked["portal_code"]) == ("dead", "-1")

    listing = run(capsys, "dlq", "list", "--config", config)
    [line] = [row for row in listing.splitlines() if "[blocks" in row]
    assert line.split()[0] == str(dead)
    assert line.endswith("[blocks 2 queued record(s)]")
    assert f"  {A}  2 record(s) from {dead + 1}, behind dead record {dead}" in listing

    shown = run(capsys, "dlq", "show", "--config", config, str(dead))
    assert f"blocks       2 queued record(s) of its dossier, from {dead + 1}" in shown

    assert "1 record(s) queued again" in run(
        capsys, "replay", "--config", config, "--id", str(dead), "--by", "tester"
    )
    status = json.loads(run(capsys, "status", "--config", config, "--json"))
    assert (status["blocked"], status["blocked_dossiers"]) == (0, [])
    assert "blocked" not in run(capsys, "dlq", "list", "--config", config)


def test_status_says_nothing_is_due_when_only_blocked_records_wait(
    section: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(make_store(section))
    config = str(write_config(tmp_path, section))
    # Deliver B so that only A's blocked steps are queued.
    asyncio.run(deliver_everything_ready(section))
    out = run(capsys, "status", "--config", config)
    assert "next attempt due" not in out
    assert (
        json.loads(run(capsys, "status", "--config", config, "--json"))["next_attempt_due"] is None
    )


async def deliver_everything_ready(section: dict[str, str]) -> None:
    if section.get("engine") == "postgresql":
        store: SqliteStore | PostgresStore = await PostgresStore.open(section["dsn"], now=0.0)
    else:
        store = await SqliteStore.open(Path(section["path"]), now=0.0)
    try:
        claimed = await store.claim("w", 10, now=10.0, lease_s=60)
        assert [c.record.dossier_code for c in claimed] == [B]
        done = [Outcome(c.record_id, c.lease_token, OutcomeKind.DELIVERED, at=11.0, route="t")
                for c in claimed]  # fmt: skip
        await store.complete(done)
    finally:
        await store.close()
