"""``dvc-gateway audit ...`` through the CLI's ``main``, on a real SQLite file and on a real
PostgreSQL database, each holding a signed log its own store engine wrote."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from gateway.audit.keys import public_key_b64
from gateway.cli import main
from tests.audit_support import EVERY, SIGNER, make_log, make_pg_log, run_standalone
from tests.pg import SharedDatabase

PUBLIC = public_key_b64(SIGNER.public)
CODE = "000.00.00.H56-261102-00003"


@dataclass(frozen=True)
class Store:
    """Where the log is (the configuration's ``store`` section), and SQL run on it as an
    intruder with database access would."""

    section: dict[str, str]

    def execute(self, sql: str) -> None:
        if self.section.get("engine") == "postgresql":
            asyncio.run(_pg_execute(self.section["dsn"], sql))
            return
        with closing(sqlite3.connect(self.section["path"])) as conn, conn:
            conn.execute(sql)


async def _pg_execute(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A signed log of 12 dossiers (36 entries), written by the engine under test."""
    if request.param == "sqlite":
        yield Store({"path": str(make_log(tmp_path, dossiers=12))})
        return
    database = SharedDatabase()  # a fresh database for this test alone
    try:
        make_pg_log(database.dsn, dossiers=12)
        yield Store({"engine": "postgresql", "dsn": database.dsn})
    finally:
        database.drop()


@pytest.fixture
def config(tmp_path: Path, store: Store) -> Path:
    return write_config(tmp_path, store.section)


def write_config(tmp_path: Path, store: dict[str, str]) -> Path:
    path = tmp_path / "gateway.yaml"
    document = {
        "portal": {"base_url": "http://127.0.0.1:1", "username": "u", "password": "p"},
        "store": store,
        "audit": {
            "public_key": PUBLIC,
            "checkpoint_every_entries": EVERY,
            "retention_days": 1,
            "archive_dir": str(tmp_path / "archive"),
        },
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_verify_show_search(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "audit", "verify", "--config", str(config))
    assert code == 0, out
    assert out.startswith("OK: 36 entries, 4 signed checkpoints")

    code, out = run(capsys, "audit", "show", CODE, "--config", str(config))
    assert code == 0
    assert f"audit timeline of {CODE}" in out
    for event in ("received", "translated", "queued"):
        assert event in out

    code, out = run(
        capsys, "audit", "search", "--config", str(config), "--event", "queued", "--jsonl"
    )
    found = [json.loads(line) for line in out.splitlines()]
    assert [f["event"] for f in found] == ["queued"] * 12
    assert found[3]["dossier_code"] == CODE

    code, out = run(
        capsys,
        "audit",
        "search",
        "--config",
        str(config),
        "--since",
        "1970-01-01T00:16:45+00:00",  # t = 1005
        "--until",
        "1970-01-01T00:16:47+00:00",
        "--jsonl",
    )
    assert {json.loads(line)["dossier_code"][-1] for line in out.splitlines()} == {"5", "6"}


def test_export_jsonl_verifies_standalone_and_csv_reads(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "export.jsonl"
    assert run(capsys, "audit", "export", "--config", str(config), "--out", str(out_file))[0] == 0
    code, out = run_standalone("--public-key", PUBLIC, "--max-gap", str(EVERY), str(out_file))
    assert code == 0, out

    part = tmp_path / "part.jsonl"
    window = ["--since", "1970-01-01T00:16:43+00:00", "--until", "1970-01-01T00:16:47+00:00"]
    argv = ["audit", "export", "--config", str(config), *window, "--out", str(part)]
    assert run(capsys, *argv)[0] == 0
    lines = [json.loads(line) for line in part.read_text(encoding="utf-8").splitlines()]
    assert (lines[0]["first_seq"], lines[0]["last_seq"]) == (10, 21)  # dossiers 3 to 6
    code, out = run_standalone("--public-key", PUBLIC, "--max-gap", str(EVERY), str(part))
    assert code == 0, out  # a range verifies from its header's prev_hash

    csv_file = tmp_path / "export.csv"
    argv = ["audit", "export", "--config", str(config), "--format", "csv", "--from-seq", "4"]
    assert run(capsys, *argv, "--to-seq", "9", "--out", str(csv_file))[0] == 0
    table = list(csv.DictReader(io.StringIO(csv_file.read_text(encoding="utf-8"))))
    assert [int(row["seq"]) for row in table] == [4, 5, 6, 7, 8, 9]
    assert table[0]["event"] == "received"


def test_an_edited_entry_is_found_at_its_seq(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    store.execute(f"UPDATE audit SET dossier_code = '{CODE}' WHERE seq = 17")
    code, out = run(capsys, "audit", "verify", "--config", str(config))
    assert code == 1
    assert out.startswith("FAILED: first bad entry: seq 17: "), out


def test_archive_then_verify_then_tamper(
    config: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(capsys, "audit", "archive", "--config", str(config))
    assert code == 0
    assert "archived to" in out
    code, out = run(capsys, "audit", "verify", "--config", str(config))
    assert code == 0, out
    assert "1 archive file(s) and the live log checked" in out
    code, out = run(capsys, "audit", "show", CODE, "--config", str(config))
    assert code == 0
    assert "received" in out  # from the archive file
    code, out = run(
        capsys, "audit", "search", "--config", str(config), "--event", "queued", "--jsonl"
    )
    assert len(out.splitlines()) == 12  # archived and live alike
    code, out = run(capsys, "audit", "search", "--config", str(config), "--dossier", CODE)
    assert code == 0
    assert "3 entries" in out
    store.execute("DELETE FROM audit WHERE seq = 33")
    code, out = run(capsys, "audit", "verify", "--config", str(config))
    assert code == 1
    assert "first bad entry: seq 33: entry seq 33 is missing" in out


def test_keygen_prints_a_usable_pair(capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.audit.keys import Signer, load_public_key

    code, out = run(capsys, "audit", "keygen")
    assert code == 0
    private = out.splitlines()[0].rsplit(" ", 1)[1]
    public = out.splitlines()[1].rsplit(" ", 1)[1]
    signer = Signer.from_text(private)
    mark = signer.sign(1, "0" * 64, 1.0)
    assert public_key_b64(load_public_key(public)) == public_key_b64(signer.public)
    assert mark.key_id == signer.key_id


def test_check_config_reports_the_signing_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.audit_support import PRIVATE

    config = write_config(tmp_path, {"path": str(tmp_path / "gw.db")})
    monkeypatch.setenv("DVC_GATEWAY_AUDIT_KEY", PRIVATE)
    code, out = run(capsys, "check-config", "--config", str(config))
    assert code == 0
    assert f"key id {SIGNER.key_id}" in out
    assert f"store   sqlite {tmp_path / 'gw.db'}" in out
    monkeypatch.setenv("DVC_GATEWAY_AUDIT_KEY", "not base64!")
    assert main(["check-config", "--config", str(config)]) == 2
    assert "not a base64 Ed25519 seed" in capsys.readouterr().err


def test_check_config_names_a_postgresql_store_without_its_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dsn = "postgresql://gateway:s3cret-pw@db.example.gov.vn:5432/gateway"
    config = write_config(tmp_path, {"engine": "postgresql", "dsn": dsn})
    code, out = run(capsys, "check-config", "--config", str(config))
    assert code == 0
    assert "store   postgresql postgresql://gateway:***@db.example.gov.vn:5432/gateway" in out
    assert "s3cret-pw" not in out


@pytest.fixture
def missing(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A ``store`` section naming a database that cannot be used."""
    if request.param == "sqlite":
        yield {"path": str(tmp_path / "absent.db")}
    elif request.param == "postgresql-unreachable":
        yield {"engine": "postgresql", "dsn": "postgresql://postgres@127.0.0.1:1/test"}
    else:
        database = SharedDatabase()  # empty: no gateway tables
        try:
            if request.param == "postgresql-absent":
                database.drop()
            yield {"engine": "postgresql", "dsn": database.dsn}
        finally:
            database.drop()


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("sqlite", "no such database"),
        ("postgresql-absent", "does not exist"),
        ("postgresql-unmigrated", "no audit tables"),
        ("postgresql-unreachable", "cannot connect"),  # nothing listens on port 1
    ],
    indirect=["missing"],
)
def test_a_missing_database_is_one_line_and_exit_code_2(
    missing: dict[str, str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, missing)
    for verb in ("verify", "archive"):
        assert main(["audit", verb, "--config", str(config)]) == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert err.startswith("error: "), err
        assert err.count("\n") == 1, err
        assert message in err
