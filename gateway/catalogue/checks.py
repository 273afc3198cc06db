"""The intake check against the national catalogue (issue 16, item 2).

A dossier whose procedure (``MaTTHC``) or field (``MaLinhVuc``) code, or any record whose
agency code (``madonvi``), is not in the latest synced catalogue after the mapping tables is
quarantined at intake, before the portal refuses it, with the reason and the best
suggestions (:mod:`.names`). Before the first sync there is no catalogue and nothing changes.
The catalogue check runs first, then the usual checks (strict mapping tables, contract).
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.catalogue.names import Suggestion, suggest
from gateway.catalogue.snapshot import Snapshot
from gateway.encoders.mapping import MappingTables, Table
from gateway.errors import Problem, TranslationError, code_shown
from gateway.model import Dossier, Record

RULE = "catalogue"
TABLE_FOR = {"procedure": "procedures", "field": "", "agency": "agencies"}


def _mapped(table: Table | None, code: str) -> str:
    """The code after a table, leniently: a code the table does not know stays as it is (the
    strict table check comes after, with its own reason)."""
    return table.rows.get(code, code) if table is not None else code


def suggestions(
    kind: str, code: str, name: str, catalogue: Snapshot, *, field_code: str = ""
) -> list[Suggestion]:
    """The best catalogue codes for an unknown ``code``: a retired code is matched by the name
    it had (a re-coding finds its new code at 100), else by ``name`` and the code itself."""
    candidates = catalogue.names(kind)
    retired_name = catalogue.retired.get(kind, {}).get(code, "")
    fields = {c: p.fields for c, p in catalogue.procedures.items()} if kind == "procedure" else None
    return suggest(
        code,
        retired_name or name,
        candidates,
        candidate_fields=fields,
        local_field=field_code,
    )


def unknown_code(
    kind: str, path: str, code: str, name: str, catalogue: Snapshot, *, field_code: str = ""
) -> Problem:
    found = suggestions(kind, code, name, catalogue, field_code=field_code)
    retired = code in catalogue.retired.get(kind, {})
    what = "was retired from" if retired else "is not in"
    best = "; ".join(f"{s.code} '{s.name}' ({s.score:g}, {s.why})" for s in found)
    reason = f"{kind} code {code_shown(code)} {what} the national catalogue"
    reason += f"; best matches: {best}" if best else "; no similar name in the catalogue"
    if TABLE_FOR[kind]:
        reason += f"; map it in routes.mappings.{TABLE_FOR[kind]} (dvc-gateway mappings suggest)"
    return Problem(path, reason, RULE)


def catalogue_problems(record: Record, tables: MappingTables, catalogue: Snapshot) -> list[Problem]:
    """What the catalogue says is wrong with ``record`` (empty: nothing)."""
    problems: list[Problem] = []
    agency = _mapped(tables.agencies, record.agency_code)
    if catalogue.agencies and agency not in catalogue.agencies:
        name = record.handling_agency_name if isinstance(record, Dossier) else ""
        problems.append(unknown_code("agency", "$.madonvi", agency, name, catalogue))
    if not isinstance(record, Dossier):
        return problems
    procedure = _mapped(tables.procedures, record.procedure_code)
    if catalogue.procedures and procedure not in catalogue.procedures:
        problems.append(
            unknown_code(
                "procedure",
                "$.MaTTHC",
                procedure,
                record.procedure_name,
                catalogue,
                field_code=record.field_code,
            )
        )
    if record.field_code and catalogue.fields and record.field_code not in catalogue.fields:
        problems.append(
            unknown_code("field", "$.MaLinhVuc", record.field_code, record.field_name, catalogue)
        )
    return problems


def with_catalogue(
    validate: Callable[[Record], None], tables: MappingTables, catalogue: Snapshot | None
) -> Callable[[Record], None]:
    """``validate`` preceded by the catalogue check; ``validate`` itself with no catalogue."""
    if catalogue is None:
        return validate

    def checked(record: Record) -> None:
        problems = catalogue_problems(record, tables, catalogue)
        if problems:
            raise TranslationError(problems)
        validate(record)

    return checked
