"""Each dossier's history, read from the store for the indicators.

The outbox keeps every record the gateway accepted with its state: a dossier snapshot or a step
the portal acknowledged is ``delivered``. A dossier's history is its latest accepted snapshot
(what the one-stop system holds), its latest delivered snapshot (what the portal holds) and its
delivered steps. Records are read in pages of ``PAGE`` by id, so a province's whole outbox is
never held as rows at once; only one compact history per dossier is kept.

The catalogue facts the rules need (legal duration, whether a procedure issues a document or
bears fees) come from a CSV file, ``indicators.procedures`` in the configuration, until the
catalogue sync provides them: ``procedure_code,legal_days,unit,issues_document,has_fees``
(``unit`` is ``working_days`` or ``days``; the last two are ``yes``/``no``/empty). Once a
catalogue is synced (``dvc-gateway catalogue sync``) its facts come first and the file fills
what it leaves unknown (:func:`merged_facts`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from gateway.canonical import record_from_json
from gateway.catalogue.snapshot import Snapshot
from gateway.config.schema import GatewayConfig
from gateway.errors import ConfigError, Problem, TranslationError
from gateway.indicators.f766 import DossierHistory, ProcedureFacts
from gateway.model import PORTAL_TZ, Dossier, ProgressStep

PAGE = 5000
MAX_PROCEDURES_BYTES = 5 * 1024 * 1024


class ReadableStore(Protocol):
    """The one read the indicators need: a read-only query (both engines have it)."""

    async def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]: ...


@dataclass
class _Dossier:
    local: Dossier | None = None
    synced: Dossier | None = None
    steps: list[ProgressStep] = field(default_factory=list)
    accepted_at: float | None = None


async def histories(store: ReadableStore) -> list[DossierHistory]:
    """Every dossier's history (dossiers the gateway holds a snapshot of)."""
    found: dict[str, _Dossier] = {}
    after = 0
    while True:
        # Only integers are formatted in (the engines differ in their placeholders).
        where = f"id > {int(after)} AND kind IN ('dossier', 'progress')"
        rows = await store.query(
            "SELECT id, kind, dossier_code, state, payload, accepted_at FROM records "  # noqa: S608
            f"WHERE {where} ORDER BY id LIMIT {PAGE}"
        )
        for row in rows:
            _add(found, row)
        if len(rows) < PAGE:
            break
        after = int(rows[-1][0])
    return [
        DossierHistory(
            local=entry.local,
            synced=entry.synced,
            steps=tuple(sorted(entry.steps, key=lambda s: s.handled_at)),
            accepted_at=(
                None
                if entry.accepted_at is None
                else datetime.fromtimestamp(entry.accepted_at, PORTAL_TZ)
            ),
        )
        for entry in found.values()
        if entry.local is not None
    ]


def _add(found: dict[str, _Dossier], row: Sequence[Any]) -> None:
    _, kind, code, state, payload, accepted_at = row
    entry = found.setdefault(str(code), _Dossier())
    if state == "quarantined" and kind != "dossier":
        return
    try:
        record = record_from_json(json.loads(payload))
    except TranslationError:
        return  # a stored payload the model no longer reads; the dossier's other rows count
    if kind == "dossier" and isinstance(record, Dossier):
        # A quarantined snapshot is a dossier the one-stop system received that the portal
        # would refuse: it counts as received and not synced (1.4), the first thing to fix.
        # Ids grow with acceptance: the last one read is the latest snapshot.
        entry.local = record
        if entry.accepted_at is None:
            entry.accepted_at = float(accepted_at)
        if state == "delivered":
            entry.synced = record
    elif kind == "progress" and isinstance(record, ProgressStep) and state == "delivered":
        entry.steps.append(record)


def load_procedures(path: Path) -> dict[str, ProcedureFacts]:
    """The catalogue facts file (see the module docstring); a ConfigError names every bad row."""
    key = "indicators.procedures"
    try:
        raw = path.read_bytes()[: MAX_PROCEDURES_BYTES + 1]
        text = raw.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(key, f"cannot read {path}: {exc}")]) from exc
    if len(raw) > MAX_PROCEDURES_BYTES:
        raise ConfigError([Problem(key, f"{path} is larger than {MAX_PROCEDURES_BYTES} bytes")])
    problems: list[Problem] = []
    facts: dict[str, ProcedureFacts] = {}
    for number, row in _rows(text):
        try:
            facts[row["procedure_code"].strip()] = ProcedureFacts(
                legal_days=float(row["legal_days"]) if row.get("legal_days", "").strip() else None,
                working_days=row.get("unit", "working_days").strip() != "days",
                issues_document=_yes_no(row.get("issues_document", "")),
                has_fees=_yes_no(row.get("has_fees", "")),
            )
        except (KeyError, ValueError) as exc:
            problems.append(Problem(key, f"{path} row {number}: {exc}"))
    if problems:
        raise ConfigError(problems)
    return facts


def _rows(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    for number, row in enumerate(reader, start=2):
        yield number, {k: (v or "") for k, v in row.items() if k is not None}


def _yes_no(text: str) -> bool | None:
    value = text.strip().lower()
    if value in ("", "?"):
        return None
    if value in ("yes", "có", "1", "true"):
        return True
    if value in ("no", "không", "0", "false"):
        return False
    raise ValueError(f"{text!r}: expected yes, no or empty")


def procedure_facts(config: GatewayConfig) -> dict[str, ProcedureFacts]:
    """The catalogue facts the configuration names (``indicators.procedures``), or none."""
    if not config.indicators.procedures:
        return {}
    return load_procedures(Path(config.indicators.procedures))


def catalogue_facts(catalogue: Snapshot | None) -> dict[str, ProcedureFacts]:
    """The facts the synced national catalogue gives (``LayThuTuc``, issue 16): legal duration
    and its unit, fees, a result document; unknown stays None."""
    if catalogue is None:
        return {}
    return {
        code: ProcedureFacts(
            legal_days=entry.legal_days,
            working_days=entry.working_days,
            issues_document=entry.issues_document,
            has_fees=entry.has_fees,
        )
        for code, entry in catalogue.procedures.items()
    }


def merged_facts(
    from_file: dict[str, ProcedureFacts], from_catalogue: dict[str, ProcedureFacts]
) -> dict[str, ProcedureFacts]:
    """The catalogue's facts first (the portal's own word); the ``indicators.procedures`` file
    fills what the catalogue leaves unknown, and covers procedures it does not list."""
    merged = dict(from_file)
    for code, synced in from_catalogue.items():
        local = from_file.get(code, ProcedureFacts())
        days_known = synced.legal_days is not None
        merged[code] = ProcedureFacts(
            legal_days=synced.legal_days if days_known else local.legal_days,
            working_days=synced.working_days if days_known else local.working_days,
            issues_document=_first(synced.issues_document, local.issues_document),
            has_fees=_first(synced.has_fees, local.has_fees),
        )
    return merged


def _first(*values: bool | None) -> bool | None:
    return next((v for v in values if v is not None), None)
