"""After the whole run: no log or audit sink holds the test data's ID numbers, phones, e-mails.

``tests/sinks.py`` sends in-process logs to a session file and moves the scan to the end. The
scan reads every ``*.log``, ``*.jsonl`` (archives, exports), ``*.csv`` and, in every SQLite
store, the audit entries, checkpoints, attempt messages and last errors. The values searched
for are the personal fields of ``tests/factories.py`` plus those of every record any test
store accepted (which covers the demo's generated feed). The outbox payload itself is the
data to deliver and is not a log; it is where the values are taken from.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway.masking import mask_text
from tests.factories import dossier
from tests.sinks import sinks_under

SINK_COLUMNS = {
    "audit": "event || ' ' || dossier_code || ' ' || detail",
    "audit_checkpoints": "hash || ' ' || key_id",
    "attempts": "COALESCE(message, '') || ' ' || COALESCE(portal_code, '')",
    "records": "COALESCE(last_error, '')",
}


@dataclass
class Scan:
    needles: set[str] = field(default_factory=set)
    texts: dict[str, str] = field(default_factory=dict)
    audit_rows: int = 0

    def leaks(self) -> list[tuple[str, str]]:
        return [
            (name, needle)
            for name, text in self.texts.items()
            for needle in sorted(self.needles)
            if needle in text
        ]


def personal_values(record: dict[str, object]) -> Iterable[str]:
    for key in ("phone", "email", "owner_id_number"):
        value = record.get(key)
        if isinstance(value, str) and len(value) >= 6:
            yield value
    identifiers = record.get("owner_identifiers")
    if isinstance(identifiers, list):
        for ident in identifiers:
            if isinstance(ident, dict) and len(str(ident.get("number", ""))) >= 6:
                yield str(ident["number"])


def read_store(path: Path, scan: Scan) -> None:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return
    with conn:
        for table, expression in SINK_COLUMNS.items():
            try:
                rows = conn.execute(f"SELECT {expression} FROM {table}").fetchall()
            except sqlite3.Error:
                continue
            scan.texts[f"{path}:{table}"] = "\n".join(r[0] for r in rows)
            scan.audit_rows += len(rows) if table == "audit" else 0
        try:
            payloads = conn.execute("SELECT payload FROM records").fetchall()
        except sqlite3.Error:
            payloads = []
    for (payload,) in payloads:
        scan.needles.update(personal_values(json.loads(payload)))


def scan_folder(base: Path) -> Scan:
    scan = Scan()
    factory = dossier()
    scan.needles.update({factory.phone, factory.email, factory.owner_id_number})
    for path in sinks_under(base):
        if path.suffix == ".db":
            read_store(path, scan)
        else:
            scan.texts[str(path)] = path.read_text(encoding="utf-8", errors="replace")
    return scan


@pytest.mark.sink_scan
def test_no_sink_holds_personal_data(tmp_path_factory: pytest.TempPathFactory) -> None:
    scan = scan_folder(tmp_path_factory.getbasetemp())
    assert scan.leaks() == []
    assert len(scan.needles) >= 3
    assert any(name.endswith("in-process.log") for name in scan.texts)
    logs = {name: text for name, text in scan.texts.items() if name.endswith(".log")}
    unmasked = [
        (name, line)
        for name, text in logs.items()
        for line in text.splitlines()
        if mask_text(line) != line
    ]
    assert unmasked == [], "log lines with something that looks like personal data"
    if scan.audit_rows:
        audit = "\n".join(t for n, t in scan.texts.items() if n.endswith(":audit"))
        assert "<personal" in audit, "no masked body was scanned: the scan reads the wrong thing"


def test_the_scan_finds_a_planted_leak() -> None:
    # Outside pytest's base folder, or the final scan would find this planted leak too.
    with tempfile.TemporaryDirectory() as folder:
        planted_leaks_are_found(Path(folder))


def planted_leaks_are_found(tmp_path: Path) -> None:
    (tmp_path / "daemon.log").write_text('{"event": "x", "to": "tuyet.nguyen@example.vn"}\n')
    export = tmp_path / "sub" / "export.jsonl"
    export.parent.mkdir()
    export.write_text('{"entry": {"detail": {"message": "CCCD 038190012345"}}}\n')
    scan = scan_folder(tmp_path)
    assert sorted(scan.leaks()) == [
        (str(tmp_path / "daemon.log"), "tuyet.nguyen@example.vn"),
        (str(export), "038190012345"),
    ]
