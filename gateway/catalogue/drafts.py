"""Mapping-table drafts: ``mappings suggest`` writes one, ``mappings apply`` reads it back.

A draft is a CSV file the operator reviews::

    kind,local,dvcqg,score,name,alternatives,records
    agency,000.00.00.H30,000.00.00.H62,100,UBND tỉnh Hậu Giang,...,12

One line per local code seen in the store (records still to deliver, dead or quarantined)
that the catalogue does not know after the mapping tables. ``dvcqg`` is filled in only when the
best suggestion scores :data:`CONFIDENT` or more; the operator fills in or corrects the rest,
or leaves a line's ``dvcqg`` empty to skip it. Field codes are listed for information only
(the portal's field code comes with the procedure; there is no field table).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gateway.canonical import record_from_json
from gateway.catalogue.checks import _mapped, suggestions
from gateway.catalogue.snapshot import Snapshot
from gateway.encoders.mapping import MappingTables
from gateway.errors import ConfigError, GatewayError, Problem
from gateway.model import Dossier, Record
from gateway.store.contract import DeadFilter

HEADER = ["kind", "local", "dvcqg", "score", "name", "alternatives", "records"]
CONFIDENT = 90.0
"""A suggestion this good is written into the draft's ``dvcqg`` column (still reviewed)."""
TABLE_KINDS = {"procedure": "procedures", "agency": "agencies"}
MAX_SCANNED = 100_000
MAX_DRAFT_BYTES = 5 * 1024 * 1024


class DraftStore(Protocol):
    async def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...

    async def dead_letters(self, where: DeadFilter, *, limit: int = 1000) -> list[Any]: ...

    async def release_quarantined(
        self, record_ids: Sequence[int], *, by: str, now: float
    ) -> list[int]: ...

    async def audit_system(self, event: str, detail: dict[str, Any], *, now: float) -> None: ...


@dataclass(slots=True)
class DraftLine:
    kind: str
    local: str
    dvcqg: str
    score: float
    name: str
    alternatives: str
    records: int


def _unknown(
    record: Record, tables: MappingTables, catalogue: Snapshot
) -> list[tuple[str, str, str, str]]:
    """``(kind, code, name, field)`` of each code of ``record`` the catalogue lacks."""
    found = []
    agency = _mapped(tables.agencies, record.agency_code)
    if catalogue.agencies and agency not in catalogue.agencies:
        name = record.handling_agency_name if isinstance(record, Dossier) else ""
        found.append(("agency", record.agency_code, name, ""))
    if isinstance(record, Dossier):
        procedure = _mapped(tables.procedures, record.procedure_code)
        if catalogue.procedures and procedure not in catalogue.procedures:
            found.append(
                ("procedure", record.procedure_code, record.procedure_name, record.field_code)
            )
        if record.field_code and catalogue.fields and record.field_code not in catalogue.fields:
            found.append(("field", record.field_code, record.field_name, ""))
    return found


async def draft(store: DraftStore, tables: MappingTables, catalogue: Snapshot) -> list[DraftLine]:
    """Every unknown local code in records not delivered yet, with its best suggestions."""
    states = "'queued', 'leased', 'dead', 'quarantined'"
    sql = f"SELECT payload FROM records WHERE state IN ({states}) ORDER BY id LIMIT {MAX_SCANNED}"  # noqa: S608
    rows = await store.query(sql)  # constants only: no input reaches the text
    seen: dict[tuple[str, str], tuple[str, str, int]] = {}
    for (payload,) in rows:
        try:
            record = record_from_json(json.loads(payload))
        except (GatewayError, ValueError):
            continue
        for kind, code, name, field_code in _unknown(record, tables, catalogue):
            old = seen.get((kind, code))
            seen[(kind, code)] = (
                old[0] or name if old else name,
                field_code,
                (old[2] if old else 0) + 1,
            )
    lines = []
    for (kind, code), (name, field_code, count) in sorted(seen.items()):
        best = suggestions(kind, code, name, catalogue, field_code=field_code)
        top = best[0] if best else None
        lines.append(
            DraftLine(
                kind=kind,
                local=code,
                dvcqg=top.code if top and top.score >= CONFIDENT and kind in TABLE_KINDS else "",
                score=top.score if top else 0.0,
                name=name,
                alternatives="; ".join(f"{s.code} {s.name} ({s.score:g})" for s in best),
                records=count,
            )
        )
    return lines


def write_draft(lines: Sequence[DraftLine]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for line in lines:
        writer.writerow(
            [
                line.kind,
                line.local,
                line.dvcqg,
                f"{line.score:g}",
                line.name,
                line.alternatives,
                line.records,
            ]
        )
    return out.getvalue()


def read_draft(path: Path, catalogue: Snapshot) -> list[tuple[str, str, str]]:
    """The reviewed draft's ``(kind, local, dvcqg)`` lines with a ``dvcqg`` code; every
    problem (unknown kind, a code the catalogue lacks) at once, as a ConfigError."""
    key = str(path)
    try:
        raw = path.read_bytes()[: MAX_DRAFT_BYTES + 1]
        text = raw.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(key, f"cannot read the draft: {exc}")]) from exc
    if len(raw) > MAX_DRAFT_BYTES:
        raise ConfigError([Problem(key, f"larger than {MAX_DRAFT_BYTES} bytes")])
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not {"kind", "local", "dvcqg"} <= set(reader.fieldnames):
        raise ConfigError([Problem(key, "the first line must name kind,local,dvcqg")])
    problems: list[Problem] = []
    chosen: dict[tuple[str, str], str] = {}
    for number, row in enumerate(reader, start=2):
        kind, local, code = (str(row.get(k) or "").strip() for k in ("kind", "local", "dvcqg"))
        where = f"{key} row {number}"
        if not code:
            continue
        if kind not in TABLE_KINDS:
            problems.append(
                Problem(where, f"kind {kind!r} has no mapping table (procedure, agency)")
            )
        elif not local:
            problems.append(Problem(where, "the local code is empty"))
        elif code not in catalogue.names(kind):
            problems.append(
                Problem(where, f"{code!r} is not a {kind} code of the national catalogue")
            )
        elif chosen.get((kind, local), code) != code:
            problems.append(Problem(where, f"{local!r} is mapped twice"))
        else:
            chosen[(kind, local)] = code
    if problems:
        raise ConfigError(problems)
    return [(kind, local, code) for (kind, local), code in chosen.items()]


def merge_table(path: Path, rows: dict[str, str]) -> int:
    """Write ``rows`` (local -> dvcqg) into the ``local,dvcqg`` table at ``path``: a local
    code already there gets its new code, the rest are appended; comments stay. Atomic (a
    temporary file renamed over the old one). Return how many mappings it wrote."""
    text = path.read_text(encoding="utf-8-sig") if path.exists() else "local,dvcqg\n"
    kept, changed = [], 0
    for line in text.splitlines():
        local = line.split(",", 1)[0].strip()
        if not line.startswith("#") and local in rows and local != "local":
            changed += 1
            continue
        kept.append(line)
    kept += [f"{local},{code}" for local, code in rows.items()]
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(kept) + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return len(rows)


async def release_fixed(
    store: DraftStore, validate: Callable[[Record], None], *, by: str, now: float
) -> tuple[list[int], int]:
    """Queue again every quarantined record ``validate`` now accepts (audited ``released``
    with ``by``); return those ids and how many stay quarantined."""
    letters = await store.dead_letters(DeadFilter(include_quarantined=True), limit=MAX_SCANNED)
    fixed, still = [], 0
    for letter in letters:
        if letter.state != "quarantined":
            continue
        try:
            validate(record_from_json(json.loads(letter.payload)))
        except (GatewayError, ValueError):
            still += 1
            continue
        fixed.append(letter.record_id)
    released = await store.release_quarantined(fixed, by=by, now=now) if fixed else []
    return released, still
