"""The demo on each of the four routes leaves no personal data in any sink (issue 12).

Each run pushes the simulated one-stop feed (about 300 records: citizens and businesses,
their CCCD and tax numbers, phones, e-mails, summaries that name children, spouses and the
deceased, handlers' names) through intake to the portal simulator over one route. Then the
operator's own commands write what they write (an audit archive, JSONL and CSV exports, the
timeline, a search, the dead-letter list), and :mod:`tests.personal_scan` reads every sink of
the run: the daemon's log, every table and column of the store except the outbox payload,
the archive files, the exports and what the commands printed. It searches them for every
owner's name, phone, e-mail, fax, identity and tax number of the accepted records, and for
any person's full name the feed can draw, with and without diacritics. Nothing is found.

The scan is checked the other way too: the outbox payload, which it skips, holds the names.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from gateway.audit.config_digest import set_digest_key
from gateway.audit.masking import set_hash_key
from gateway.cli import main
from gateway.config.schema import ROUTE_NAMES
from gateway.demo import run_demo
from tests.personal_scan import FULL_NAME, SinkScan, scan_folder, search

RECORDS = 300


@pytest.fixture(autouse=True)
def no_keys_left_behind() -> Iterator[None]:
    """The run installs its join-hash and digest keys process-wide: remove them after."""
    yield
    set_hash_key(None)
    set_digest_key(None)


def operator_config(folder: Path) -> Path:
    """The configuration an operator would point the CLI at for the demo's store."""
    path = folder / "operator.yaml"
    document = {
        "portal": {"base_url": "http://127.0.0.1:1", "username": "u", "password": "p"},
        "store": {"path": str(folder / "gateway.db")},
        "audit": {
            "public_key": (folder / "audit-public.key").read_text(encoding="utf-8").strip(),
            "archive_dir": str(folder / "audit-archive"),
            "retention_days": 1e-9,  # everything up to the last checkpoint is old enough
        },
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def operator_commands(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Archive, export, show, search and list, as an operator would; keep what they print."""
    config = str(operator_config(folder))
    with closing(sqlite3.connect(folder / "gateway.db")) as conn:
        (code,) = conn.execute(
            "SELECT dossier_code FROM records WHERE kind = 'dossier' ORDER BY id LIMIT 1"
        ).fetchone()
    commands = [
        ["audit", "archive"],
        ["audit", "export", "--out", str(folder / "export.jsonl"), "--by", "scan"],
        ["audit", "export", "--format", "csv", "--out", str(folder / "export.csv")],
        ["audit", "show", code],
        ["audit", "search", "--jsonl", "--limit", "100000"],
        ["dlq", "list", "--quarantined"],
    ]
    printed = []
    for argv in commands:
        assert main([*argv, "--config", config]) == 0, argv
        out, err = capsys.readouterr()
        printed.append(out + err)
    (folder / "cli-output.txt").write_text("\n".join(printed), encoding="utf-8")
    assert list((folder / "audit-archive").glob("audit-*.jsonl")), "nothing was archived"


@pytest.mark.parametrize("route", ROUTE_NAMES)
def test_the_demo_on_each_route_leaves_no_personal_data_in_any_sink(
    route: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "demo"
    assert run_demo(records=RECORDS, seed=12, keep=folder, route=route) == 0  # type: ignore[arg-type]
    assert "OK: the portal holds exactly what the gateway accepted" in capsys.readouterr().out
    operator_commands(folder, capsys)

    scan = scan_folder(folder)

    sinks = set(scan.texts)
    assert "gateway.log" in sinks
    assert "cli-output.txt" in sinks
    assert {"export.jsonl", "export.csv"} <= sinks
    assert any(s.startswith("audit-archive/") for s in sinks)
    assert {"gateway.db:audit.detail", "gateway.db:records.last_error"} <= sinks
    assert len(scan.values) >= RECORDS // 3  # the owners of the accepted dossiers
    assert {"owner_name", "phone", "owner_id_number", "owner_identifiers"} <= set(
        scan.values.values()
    )
    assert [f"{f.sink}: {f.kind} {f.value}" for f in scan.findings] == []
    assert_the_scan_finds_what_the_outbox_holds(folder, scan)


def assert_the_scan_finds_what_the_outbox_holds(folder: Path, scan: SinkScan) -> None:
    """The same search over the one column it skips finds the names, numbers and addresses."""
    with closing(sqlite3.connect(folder / "gateway.db")) as conn:
        payloads = "\n".join(p for (p,) in conn.execute("SELECT payload FROM records"))
    control = SinkScan(values=scan.values, texts={"records.payload": payloads})
    search(control)
    kinds = control.counts()
    assert kinds["full_name"] >= RECORDS // 3
    assert min(kinds[k] for k in ("owner_name", "phone", "email", "owner_identifiers")) > 0
    assert FULL_NAME.search(payloads)
