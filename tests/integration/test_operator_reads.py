"""Operator reads of personal data leave a trace (issue 12, item 11): ``dlq show --payload``
and ``audit export`` write an audit entry with who asked, before anything is printed or
written; ``audit export`` of a log that fails its checks exits 1 and writes nothing. The
operator's entries never break ``audit verify`` (no unsigned checkpoint among signed ones)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from gateway.audit.keys import public_key_b64
from gateway.cli import main
from gateway.cli.operator import OPERATOR_ENV
from gateway.sources.intake import validate_for_portal
from gateway.store.contract import Incoming, Outcome, OutcomeKind
from gateway.store.postgres.store import PostgresStore
from gateway.store.sqlite.store import SqliteStore
from tests.audit_support import EVERY, SIGNER, make_log, make_pg_log, policy, run_standalone
from tests.factories import dossier
from tests.pg import SharedDatabase

PUBLIC = public_key_b64(SIGNER.public)


def write_config(tmp_path: Path, store: dict[str, str]) -> Path:
    path = tmp_path / "gateway.yaml"
    document = {
        "portal": {"base_url": "http://127.0.0.1:1", "username": "u", "password": "p"},
        "store": store,
        "audit": {
            "public_key": PUBLIC,
            "checkpoint_every_entries": EVERY,
            "archive_dir": str(tmp_path / "archive"),
        },
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def entries(db: Path, event: str) -> list[dict[str, Any]]:
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT detail FROM audit WHERE event = ? ORDER BY seq", (event,))
        return [json.loads(detail) for (detail,) in rows]


@pytest.fixture
def dead_letter(tmp_path: Path) -> tuple[Path, int]:
    """A signed SQLite log holding one dead letter (its payload has the owner's data)."""
    path = tmp_path / "gw.db"

    async def write() -> int:
        store = await SqliteStore.open(path, now=1000.0, audit=policy())
        try:
            item = Incoming("canonical", dossier(), "raw-1")
            await store.accept([item], now=1000.0, validate=validate_for_portal)
            [claimed] = await store.claim("w", 1, now=1001.0, lease_s=60)
            refused = Outcome(
                claimed.record_id, claimed.lease_token, OutcomeKind.DEAD, at=1002.0, route="t",
                portal_code="-1", message="thiếu MaTTHC",
            )  # fmt: skip
            await store.complete([refused])
            await store.seal_audit(1003.0)
            return claimed.record_id
        finally:
            await store.close()

    return path, asyncio.run(write())


def test_dlq_show_payload_is_audited_with_who_asked(
    tmp_path: Path,
    dead_letter: tuple[Path, int],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db, record_id = dead_letter
    config = str(write_config(tmp_path, {"path": str(db)}))
    assert main(["dlq", "show", "--config", config, str(record_id)]) == 0
    assert dossier().owner_name not in capsys.readouterr().out
    assert entries(db, "payload_read") == []  # nothing personal was shown: nothing to audit

    argv = ["dlq", "show", "--config", config, str(record_id), "--payload"]
    assert main([*argv, "--as", "kiemtra.vien"]) == 0
    assert dossier().owner_name in capsys.readouterr().out
    monkeypatch.setenv(OPERATOR_ENV, "from.environment")
    assert main(argv) == 0
    reads = entries(db, "payload_read")
    assert [r["by"] for r in reads] == ["kiemtra.vien", "from.environment"]
    assert reads[0]["record_id"] == record_id
    assert reads[0]["dossier_code"] == dossier().dossier_code

    # the operator holds no signing key: its entries wait for the daemon's signed checkpoint
    assert main(["audit", "verify", "--config", config]) == 0, capsys.readouterr().out
    assert "the newest 2 entries await their checkpoint" in capsys.readouterr().out


@pytest.fixture(params=["sqlite", "postgresql"])
def store_section(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A signed log of 12 dossiers written by the engine under test."""
    if request.param == "sqlite":
        yield {"path": str(make_log(tmp_path / "log", dossiers=12))}
        return
    database = SharedDatabase()
    try:
        make_pg_log(database.dsn, dossiers=12)
        yield {"engine": "postgresql", "dsn": database.dsn}
    finally:
        database.drop()


def execute(section: dict[str, str], sql: str) -> None:
    if section.get("engine") == "postgresql":

        async def run() -> None:
            store = await PostgresStore.open(section["dsn"], now=0.0, max_connections=1)
            try:
                await store.query(sql)
            finally:
                await store.close()

        asyncio.run(run())
        return
    with closing(sqlite3.connect(section["path"])) as conn, conn:
        conn.execute(sql)


def audit_events(section: dict[str, str], event: str) -> list[dict[str, Any]]:
    if section.get("engine") != "postgresql":
        return entries(Path(section["path"]), event)

    async def run() -> list[dict[str, Any]]:
        store = await PostgresStore.open(section["dsn"], now=0.0, max_connections=1)
        try:
            return [dict(e.detail) for e in await store.audit_entries() if e.event == event]
        finally:
            await store.close()

    return asyncio.run(run())


def test_an_export_is_audited_and_still_verifies(
    tmp_path: Path, store_section: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path, store_section))
    out = tmp_path / "export.jsonl"
    argv = ["audit", "export", "--config", config, "--out", str(out), "--by", "thanhtra.so"]
    assert main(argv) == 0
    [exported] = audit_events(store_section, "audit_exported")
    assert exported["by"] == "thanhtra.so"
    assert (exported["format"], exported["to"]) == ("jsonl", "file")
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert lines[-1]["entry"]["event"] == "audit_exported"  # the export carries its own trace
    code, text = run_standalone("--public-key", PUBLIC, "--max-gap", str(EVERY), str(out))
    assert code == 0, text
    assert main(["audit", "verify", "--config", config]) == 0, capsys.readouterr().out


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_export_of_a_broken_log_exits_1_and_writes_nothing(
    tmp_path: Path, store_section: dict[str, str], capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    config = str(write_config(tmp_path, store_section))
    execute(store_section, "UPDATE audit SET dossier_code = 'X' WHERE seq = 17")
    out = tmp_path / f"export.{fmt}"
    argv = ["audit", "export", "--config", config, "--format", fmt, "--out", str(out)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("FAILED: first bad entry: seq 17"), err
    assert "nothing exported" in err
    assert not out.exists()
    assert audit_events(store_section, "audit_exported") == []


def test_a_replay_without_the_signing_key_keeps_a_signed_log_verifiable(
    tmp_path: Path, dead_letter: tuple[Path, int], capsys: pytest.CaptureFixture[str]
) -> None:
    """The last checkpoint is decades old: the default policy would have sealed the replay's
    entry with an unsigned checkpoint, and ``audit verify`` would have failed on it."""
    db, record_id = dead_letter
    config = str(write_config(tmp_path, {"path": str(db)}))
    assert main(["replay", "--config", config, "--id", str(record_id), "--by", "vanhanh"]) == 0
    assert [r["by"] for r in entries(db, "replayed")] == ["vanhanh"]
    with closing(sqlite3.connect(db)) as conn:
        assert (
            conn.execute("SELECT count(*) FROM audit_checkpoints WHERE key_id = ''").fetchone()[0]
            == 0
        )
    assert main(["audit", "verify", "--config", config]) == 0, capsys.readouterr().out
