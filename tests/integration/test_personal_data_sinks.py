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
import re
import sqlite3
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway.audit.masking import mask_text, mask_value
from tests.factories import dossier
from tests.sinks import sinks_under

SINK_COLUMNS = {
    "audit": "event || ' ' || dossier_code || ' ' || detail",
    "audit_checkpoints": "hash || ' ' || key_id",
    "attempts": "COALESCE(message, '') || ' ' || COALESCE(portal_code, '')",
    "records": "COALESCE(last_error, '')",
}


DIGIT_RUN = re.compile(r"\d{6,}")
AT_SIGN = re.compile("@")


@dataclass
class Scan:
    needles: set[str] = field(default_factory=set)
    texts: dict[str, str] = field(default_factory=dict)
    audit_rows: int = 0

    def leaks(self) -> list[tuple[str, str]]:
        """Every (sink, value) where the value occurs in the sink's text, as a substring.

        Indexed rather than one ``in`` per value and sink: runs after long kill tests hold
        tens of thousands of values and tens of megabytes of sinks."""
        digits = {n for n in self.needles if n.isdigit()}
        emails: dict[str, set[str]] = {}
        for n in self.needles:
            if "@" in n and not n.isdigit():
                local, _, domain = n.rpartition("@")
                emails.setdefault(domain, set()).add(local)
        others = self.needles - digits - {f"{lo}@{d}" for d, los in emails.items() for lo in los}
        lengths = sorted({len(n) for n in digits})
        found: set[tuple[str, str]] = set()
        for name, text in self.texts.items():
            for run in DIGIT_RUN.findall(text):
                for size in lengths:
                    for i in range(len(run) - size + 1):
                        if run[i : i + size] in digits:
                            found.add((name, run[i : i + size]))
            for at in (m.start() for m in AT_SIGN.finditer(text)):
                before, after = text[max(0, at - 80) : at], text[at + 1 : at + 120]
                for domain, locals_ in emails.items():
                    if after.startswith(domain):
                        found.update(
                            (name, f"{local}@{domain}")
                            for local in locals_
                            if before.endswith(local)
                        )
            found.update((name, n) for n in others if n in text)
        return sorted(found)


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
        if not masked_already(line)
    ]
    assert unmasked == [], "log lines with something that looks like personal data"
    if scan.audit_rows:
        audit = "\n".join(t for n, t in scan.texts.items() if n.endswith(":audit"))
        assert "<personal" in audit, "no masked body was scanned: the scan reads the wrong thing"


def masked_already(line: str) -> bool:
    """Masking the line again changes nothing. A JSON line is masked as the logs mask it, key
    by key: a key id or a digest (``"key_id": "adcff821829851cb"``) may hold a 9-digit run
    that the text rules alone would take for an identity card number."""
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return mask_text(line) == line
    return bool(mask_value(event) == event)


def test_a_json_line_is_checked_key_by_key() -> None:
    key_id = '{"event": "audit_checkpoint_signed", "key_id": "adcff821829851cb"}'
    leak = '{"event": "x", "note": "so CMND 821829851"}'
    assert masked_already(key_id)
    assert not masked_already(leak)
    assert not masked_already("so CMND 821829851")


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
