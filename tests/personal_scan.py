"""Scanning a finished run's sinks for the personal data of the records it carried.

A sink is anything the gateway writes that is not the data to deliver: log files, the audit
log (live table, checkpoints, archive files, exports) and every other table and column of the
SQLite store, except ``records.payload`` (the outbox itself, where the values come from).

Three kinds of values are searched for:

- the records' own values: owner names (people and businesses), phone numbers, e-mail
  addresses, fax numbers, identity and tax numbers, the owner's portal account id;
- every person's full name the one-stop simulator can draw
  (:mod:`gateway.simulator.onestop_names`: surname, middle name and given name from its
  lists), wherever it appears: inside a summary (a child, a spouse, the deceased), in an
  "other information" text, a handler's name;
- the same full names with their diacritics removed (an e-mail local part or a slug is not a
  name, but "Nguyen Van An" in an error message is).
"""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gateway.simulator import onestop_names as names

SINK_SUFFIXES = (".log", ".jsonl", ".csv", ".json", ".txt")
OUTBOX = ("records", "payload")
"""The one column that is the data to deliver, not a sink."""

PERSONAL_KEYS = ("owner_name", "phone", "email", "fax", "owner_id_number", "owner_account_id")


def _plain(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _alternation(words: Iterable[str]) -> str:
    return "|".join(sorted({re.escape(w) for w in words}, key=len, reverse=True))


def _name_pattern(plain: bool) -> re.Pattern[str]:
    conv = _plain if plain else (lambda s: s)
    surnames = _alternation(conv(s) for s in names.SURNAMES)
    middles = _alternation(conv(m) for m in (*names.MIDDLE_MALE, *names.MIDDLE_FEMALE))
    givens = _alternation(conv(g) for g in (*names.GIVEN_MALE, *names.GIVEN_FEMALE))
    return re.compile(rf"(?<!\w)(?:{surnames}) (?:{middles}) (?:{givens})(?!\w)")


FULL_NAME = _name_pattern(plain=False)
"""A person's full name as the simulated one-stop system draws it (NFC, with diacritics)."""
PLAIN_NAME = _name_pattern(plain=True)
"""The same names with diacritics removed, as a careless log line might write them."""


@dataclass
class Finding:
    sink: str
    kind: str
    value: str


@dataclass
class SinkScan:
    """What was read and what was found."""

    values: dict[str, str] = field(default_factory=dict)
    """Each personal value of the records -> its kind."""
    texts: dict[str, str] = field(default_factory=dict)
    """Each sink -> its text."""
    findings: list[Finding] = field(default_factory=list)

    def counts(self) -> Counter[str]:
        return Counter(f.kind for f in self.findings)

    def by_sink(self) -> Counter[str]:
        return Counter(f.sink for f in self.findings)


def record_values(payload: dict[str, object]) -> Iterator[tuple[str, str]]:
    """The personal values of one canonical record, each with its kind."""
    for key in PERSONAL_KEYS:
        value = payload.get(key)
        if isinstance(value, str) and len(value.strip()) >= 5:
            yield key, value.strip()
    identifiers = payload.get("owner_identifiers")
    if isinstance(identifiers, list):
        for ident in identifiers:
            number = str(ident.get("number", "")) if isinstance(ident, dict) else ""
            if len(number) >= 6:
                yield "owner_identifiers", number


def read_database(path: Path, scan: SinkScan) -> None:
    """Every table and text column of a SQLite store, except the outbox payload."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            for column in columns:
                if (table, column) == OUTBOX:
                    continue
                rows = conn.execute(f'SELECT "{column}" FROM "{table}"').fetchall()
                text = "\n".join(str(r[0]) for r in rows if r[0] is not None)
                if text:
                    scan.texts[f"{path.name}:{table}.{column}"] = text
        if "records" in tables:
            for (payload,) in conn.execute("SELECT payload FROM records"):
                record = json.loads(payload)
                if isinstance(record, dict):
                    scan.values.update((v, k) for k, v in record_values(record))
    finally:
        conn.close()


def scan_folder(folder: Path) -> SinkScan:
    """Read every sink under ``folder`` and search it."""
    scan = SinkScan()
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".db":
            read_database(path, scan)
        elif path.suffix in SINK_SUFFIXES:
            scan.texts[str(path.relative_to(folder))] = path.read_text("utf-8", errors="replace")
    search(scan)
    return scan


def search(scan: SinkScan) -> None:
    """Fill ``scan.findings``: every record value, full name and plain name in every sink."""
    values = sorted(scan.values, key=len, reverse=True)
    for sink, text in scan.texts.items():
        for value in values:
            if value in text:
                scan.findings.append(Finding(sink, scan.values[value], value))
        for match in FULL_NAME.finditer(text):
            scan.findings.append(Finding(sink, "full_name", match.group()))
        for match in PLAIN_NAME.finditer(_plain(FULL_NAME.sub(" ", text))):
            scan.findings.append(Finding(sink, "plain_name", match.group()))
