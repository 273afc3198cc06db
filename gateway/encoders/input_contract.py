"""The published canonical input contract, applied: ``contracts/canonical/v1/``.

One source of truth: the JSON Schema a vendor reads (and validates against in their own
tests) is the one the ``canonical`` adapter checks every record against before building it,
so a record the schema refuses is rejected with the path and the rule the schema gives
(``$.status``, rule ``enum``). Values are never echoed in these reasons (a mistyped field
may hold an ID number). On top of the schema, one rule JSON Schema cannot say because it
compares two fields: the agency code must be the ``MaHoSo`` prefix when the code has the
DVCQG shape (:func:`record_problems`).

Pure: the schema is package data read once; no other I/O.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import fastjsonschema
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

import contracts
from gateway.canonical import key_path
from gateway.errors import Problem, TranslationError
from gateway.model import Record

MAX_PROBLEMS = 20
"""At most this many problems are reported for one record."""
DVCQG_CODE = re.compile(r"(?P<prefix>[^-\s]+)-[0-9]{6}-[0-9]+")
"""The MaHoSo shape DVCQG generates: ``<MaDinhDanh>-<yyMMdd>-<digits>`` (spec §4.1)."""
AGENCY_PREFIX = "agency-prefix"
_SHAPES = {"timestamp": "is not an ISO-8601 timestamp", "integer": "is not an integer"}
"""The wording of a ``pattern`` error by the schema's ``x-format`` annotation."""


KINDS = ("dossier", "progress", "result")


@cache
def _validator(name: str) -> Draft7Validator:
    schema = contracts.canonical_schema(name)
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


@cache
def _fast(name: str) -> Any:
    return fastjsonschema.compile(contracts.canonical_schema(name))


def schema_problems(raw: object) -> list[Problem]:
    """Every way ``raw`` breaks the canonical schema, sorted by path (empty when it holds).

    A record with a known ``kind`` is checked against that kind's schema (the same rules as
    ``record.schema.json``, with shorter rule paths); anything else against
    ``record.schema.json``. The compiled validator answers "valid" quickly; only a violation
    is run through jsonschema, which names every path and rule."""
    kind = raw.get("kind") if isinstance(raw, dict) else None
    name = kind if isinstance(kind, str) and kind in KINDS else "record"
    try:
        _fast(name)(raw)
    except fastjsonschema.JsonSchemaException:
        pass
    else:
        return []
    found: dict[tuple[str, str], Problem] = {}
    for error in _validator(name).iter_errors(raw):
        for problem in problems_of(error):
            found.setdefault((problem.path, problem.rule), problem)
    return sorted(found.values(), key=lambda p: p.path)[:MAX_PROBLEMS]


def check_schema(raw: object) -> None:
    """Raise :class:`TranslationError` when ``raw`` breaks the canonical schema."""
    problems = schema_problems(raw)
    if problems:
        raise TranslationError(problems)


def json_path(parts: Any) -> str:
    """``$.fees[0].amount_vnd`` from a jsonschema error path (a hostile key quoted)."""
    path = "$"
    for part in parts:
        path = f"{path}[{part}]" if isinstance(part, int) else key_path(path, part)
    return path


def problems_of(error: ValidationError) -> list[Problem]:
    """The problems one schema error stands for, each at the field it is about.

    ``required`` and ``additionalProperties`` are reported at the missing or unknown field
    (``$.owner_name``), not at the object holding it; every other rule at the value."""
    path = json_path(error.absolute_path)
    rule = str(error.validator)
    value: Any = error.validator_value
    schema: Any = error.schema
    where = "/".join(str(p) for p in error.schema_path)
    instance = error.instance
    if rule == "required" and isinstance(instance, dict):
        missing = [n for n in value if n not in instance]
        return [
            Problem(key_path(path, n), f"required field is missing (schema rule {where})", rule)
            for n in missing
        ]
    if rule == "additionalProperties" and isinstance(instance, dict):
        known = schema.get("properties", {})
        return [
            Problem(key_path(path, key), f"unknown field (schema rule {where})", rule)
            for key in instance
            if key not in known
        ]
    return [Problem(path, f"{_reason(error)} (schema rule {where})", rule)]


def _reason(error: ValidationError) -> str:
    value: Any = error.validator_value
    schema: Any = error.schema
    rule = error.validator
    if rule == "type":
        allowed = value if isinstance(value, list) else [value]
        names = " or ".join(_TYPE_NAMES.get(str(t), str(t)) for t in allowed)
        return f"expected {names}, got " + (_json_type(error.instance))
    if rule == "enum":
        shown = [v for v in value if isinstance(v, int) and not isinstance(v, bool)] or [
            v for v in value if v is not None
        ]
        return "is not one of " + ", ".join(
            str(v) if isinstance(v, int) else repr(v) for v in shown
        )
    if rule == "const":
        return f"must be {value!r}"
    if rule == "maxLength":
        return f"longer than {value} characters"
    if rule == "pattern":
        shape = schema.get("x-format") if isinstance(schema, dict) else None
        return _SHAPES.get(str(shape), "does not have the expected shape")
    return f"breaks {rule}"


_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "object": "an object",
    "array": "an array",
    "null": "null",
}


def _json_type(value: object) -> str:
    for name, kind in (("a boolean", bool), ("an integer", int), ("a number", float)):
        if isinstance(value, kind):
            return name
    return {dict: "an object", list: "an array", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def record_problems(record: Record) -> list[Problem]:
    """Rules between fields of a built record: the agency code and the ``MaHoSo`` prefix.

    When ``dossier_code`` has the DVCQG shape ``<MaDinhDanh>-<yyMMdd>-<digits>``, its prefix
    must be ``agency_code``: the portal would otherwise file the dossier under another
    agency. A code of another shape is not compared (spec §4.1: ministries use their own)."""
    match = DVCQG_CODE.fullmatch(record.dossier_code)
    if match is None or match["prefix"] == record.agency_code:
        return []
    reason = f"does not match the dossier_code prefix {match['prefix']!r}"
    return [Problem("$.agency_code", reason, AGENCY_PREFIX)]


def check_record(record: Record) -> Record:
    """``record`` itself, or :class:`TranslationError` when :func:`record_problems` finds any."""
    problems = record_problems(record)
    if problems:
        raise TranslationError(problems)
    return record
