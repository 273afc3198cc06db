"""Local codes -> DVCQG codes, from the mapping tables in ``config/mappings/`` (pure).

A one-stop system often keeps its own procedure codes (``2.000477.000.00.00.H56`` where the
portal wants ``1.000477``) and its own agency codes; the portal knows only ``MaTTHC`` and
``MaDinhDanh`` (spec §4.1, §3.3, §11). The tables are data, loaded by
:mod:`gateway.config.mappings`; this module applies them. A code that is already a DVCQG code of
the table (a value) passes unchanged; a code that is neither a key nor a value is an error
naming the table to extend, and the record is quarantined.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from gateway.errors import TranslationError, code_shown
from gateway.model import Dossier, ProgressStep, Record


@dataclass(frozen=True, slots=True)
class Table:
    """One mapping table: ``local -> dvcqg``, and where it came from (for messages)."""

    name: str
    source: str
    rows: Mapping[str, str] = field(default_factory=dict)
    dvcqg_codes: frozenset[str] = frozenset()
    """The right-hand column (codes that are already DVCQG codes)."""

    @classmethod
    def of(cls, name: str, source: str, rows: Mapping[str, str]) -> Table:
        return cls(name, source, dict(rows), frozenset(rows.values()))

    def map(self, code: str, path: str) -> str:
        if code in self.rows:
            return self.rows[code]
        if code in self.dvcqg_codes:
            return code
        shown = code_shown(code)  # a name in a code column is described, not quoted
        local = code if shown.startswith("'") else "<local code>"
        raise TranslationError.at(
            path,
            f"local code {shown} is not in the {self.name} table: add a line "
            f"'{local},<DVCQG code>' to {self.source}",
        )


_DVCQG_STATUSES = frozenset(str(code) for code in range(1, 11))


@dataclass(frozen=True, slots=True)
class MappingTables:
    """The configured tables; ``None`` means that code is passed through unchanged."""

    procedures: Table | None = None
    agencies: Table | None = None
    statuses: Table | None = None
    """Local status -> ``TrangThaiHoSo`` (1-10), applied to incoming records' ``status``."""

    def map_raw_status(self, raw: object) -> object:
        """An incoming record whose top-level ``status`` is a local status code, with the
        DVCQG code (an integer 1-10) in its place; applied before the adapter runs. A status
        that is already 1-10 passes; an unknown one names the table to extend."""
        if self.statuses is None or not isinstance(raw, dict):
            return raw
        status = raw.get("status")
        if not isinstance(status, str) or status.strip() in _DVCQG_STATUSES:
            return raw
        return {**raw, "status": int(self.statuses.map(status.strip(), "$.status"))}

    def apply(self, record: Record) -> Record:
        """The record with its local codes replaced by DVCQG codes."""
        agency = record.agency_code
        if self.agencies is not None:
            agency = self.agencies.map(agency, "$.madonvi")
        if isinstance(record, Dossier):
            procedure = record.procedure_code
            if self.procedures is not None:
                procedure = self.procedures.map(procedure, "$.MaTTHC")
            return replace(record, agency_code=agency, procedure_code=procedure)
        if isinstance(record, ProgressStep):
            return replace(record, agency_code=agency)
        return replace(record, agency_code=agency)
