"""The published canonical input contract (``contracts/canonical/v1/``): generated from the
model, current, valid for every sample and demo record, and the very rules intake applies."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

import contracts
from contracts import canonical_fields, generate_canonical
from gateway import canonical, model
from gateway.encoders.input_contract import problems_of, record_problems, schema_problems
from gateway.model import PORTAL_TZ
from gateway.simulator.onestop import generate_feed, to_json_records

ROOT = Path(__file__).parents[2]
FIXTURES = json.loads((ROOT / "tests/fixtures/canonical-records.json").read_text("utf-8"))
RECORD = Draft7Validator(contracts.canonical_schema("record"))


def test_committed_schemas_and_reference_page_are_what_the_model_generates() -> None:
    for name, text in generate_canonical.outputs().items():
        committed = (contracts.canonical_directory() / name).read_text(encoding="utf-8")
        assert committed == text, f"{name} is stale: run python -m contracts.generate"
    page = (ROOT / "docs/canonical-input.md").read_text(encoding="utf-8")
    assert page == generate_canonical.reference_page(), "run python -m contracts.generate"


@pytest.mark.parametrize("name", sorted(generate_canonical.outputs()))
def test_every_canonical_schema_is_a_valid_json_schema(name: str) -> None:
    Draft7Validator.check_schema(json.loads(generate_canonical.outputs()[name]))


def test_every_model_field_has_a_meaning_and_every_meaning_a_field() -> None:
    classes = [*generate_canonical.KINDS.values(), *generate_canonical.NESTED]
    assert {c.__name__ for c in classes} == set(canonical_fields.MEANINGS)
    for cls in classes:
        names = {f.name for f in dataclasses.fields(cls)}
        meanings = canonical_fields.MEANINGS[cls.__name__]
        assert names == set(meanings), cls.__name__
        for name, meaning in meanings.items():
            assert meaning.en, f"{cls.__name__}.{name}"
            assert meaning.vi, f"{cls.__name__}.{name}"
            generate_canonical.spec_section(meaning.dvcqg)  # raises for an unknown DVCQG field
    schema = contracts.canonical_schema("dossier")
    fees = schema["definitions"]["Fee"]["properties"]["amount_vnd"]
    assert fees["x-dvcqg"] == "LePhi.Gia"
    assert fees["x-spec"] == "§4.4 [C]"
    assert "đồng" in fees["x-description-vi"]


def test_the_schema_text_limit_is_the_readers() -> None:
    assert generate_canonical.MAX_TEXT_CHARS == canonical.MAX_TEXT_CHARS


def test_the_schemas_ship_as_package_data() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"canonical/v1/*.json"' in pyproject
    assert {p.name for p in contracts.canonical_directory().glob("*.schema.json")} == {
        "dossier.schema.json",
        "progress.schema.json",
        "result.schema.json",
        "record.schema.json",
    }


def _documented_records() -> list[tuple[str, Any]]:
    """Every canonical record shown in the README and the docs (heredocs and json blocks)."""
    found: list[tuple[str, Any]] = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        blocks = re.findall(r"<<'EOF'\n(.*?)\nEOF", text, re.S)
        blocks += re.findall(r"```json\n(.*?)\n```", text, re.S)
        for block in blocks:
            if not re.search(r'"kind": "(dossier|progress|result)"', block):
                continue
            value = json.loads(block)
            for index, record in enumerate(value if isinstance(value, list) else [value]):
                found.append((f"{path.name}[{index}]", record))
    return found


def test_the_readme_and_docs_show_canonical_records() -> None:
    places = {where.split("[")[0] for where, _ in _documented_records()}
    assert {"README.md", "canonical-input.md"} <= places


@pytest.mark.parametrize(
    ("where", "record"),
    [*((f"fixture[{i}]", r) for i, r in enumerate(FIXTURES)), *_documented_records()],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_every_sample_validates(where: str, record: Any) -> None:
    assert [e.message for e in RECORD.iter_errors(record)] == [], where
    assert schema_problems(record) == []
    built = canonical.record_from_json(record)
    assert record_problems(built) == []


@pytest.mark.parametrize("seed", [1, 2, 3, 11])
def test_every_demo_record_validates(seed: int) -> None:
    start = datetime(2026, 11, 2, 8, tzinfo=PORTAL_TZ)
    records = to_json_records(generate_feed(500, seed=seed, start=start))
    assert len(records) >= 500
    kinds = {r["kind"] for r in records}
    assert {"dossier", "progress"} <= kinds
    bad = [(i, e.message) for i, r in enumerate(records) for e in RECORD.iter_errors(r)]
    assert bad == []


def expected_problems(raw: object) -> set[tuple[str, str]]:
    """(path, rule) of every error jsonschema finds with the published record schema, with the
    documented convention: ``required`` and ``additionalProperties`` point at the field."""
    found = set()
    for error in RECORD.iter_errors(raw):
        path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
        if error.validator == "required":
            name = re.match(r"'(.+)' is a required property", error.message)
            assert name is not None
            found.add((f"{path}.{name[1]}", "required"))
        elif error.validator == "additionalProperties":
            extra = set(error.instance) - set(error.schema["properties"])
            found |= {(f"{path}.{key}", "additionalProperties") for key in extra}
        else:
            found.add((path, str(error.validator)))
    return found


def _dossier() -> dict[str, Any]:
    return dict(FIXTURES[0])


BROKEN: list[tuple[str, Any]] = [
    ("status out of range", {**_dossier(), "status": 11}),
    ("status as a boolean", {**_dossier(), "status": True}),
    ("status as text", {**_dossier(), "status": "processing"}),
    ("missing owner", {k: v for k, v in _dossier().items() if k != "owner_name"}),
    ("typo in a key", {**_dossier(), "ownr_name": "x"}),
    ("date not ISO", {**_dossier(), "received_at": "27/11/2026 08:15"}),
    ("amount not a number", {**_dossier(), "fees": [{"name": "Lệ phí", "amount_vnd": "8.000đ"}]}),
    ("nested unknown key", {**_dossier(), "documents": [{"file_id": "f", "x": 1}]}),
    ("text too long", {**_dossier(), "note": "x" * 10_001}),
    ("unknown kind", {**_dossier(), "kind": "dossiers"}),
    ("no kind", {k: v for k, v in _dossier().items() if k != "kind"}),
    ("result status 4", {**FIXTURES[5], "status": 4}),
    ("step handler a number", {**FIXTURES[3], "handler": 7}),
    ("not an object", ["a list"]),
]


@pytest.mark.parametrize(("why", "raw"), BROKEN, ids=[b[0] for b in BROKEN])
def test_the_checker_names_exactly_what_the_published_schema_refuses(why: str, raw: Any) -> None:
    expected = expected_problems(raw)
    assert expected, f"{why}: the schema should refuse it"
    assert {(p.path, p.rule) for p in schema_problems(raw)} == expected


def test_a_schema_error_is_worded_without_the_value() -> None:
    (error,) = RECORD.iter_errors({**_dossier(), "owner_id_number": 123456789012})
    (problem,) = problems_of(error)
    assert problem.path == "$.owner_id_number"
    assert "123456789012" not in problem.reason


def test_an_agency_code_that_is_not_the_mahoso_prefix_is_refused() -> None:
    record = canonical.record_from_json({**_dossier(), "agency_code": "000.00.00.H49"})
    (problem,) = record_problems(record)
    assert (problem.path, problem.rule) == ("$.agency_code", "agency-prefix")
    assert "'000.00.00.H56'" in problem.reason
    other_shape = {**_dossier(), "dossier_code": "G09.20-20260609-0092637"}
    assert record_problems(canonical.record_from_json(other_shape)) == []
    step = canonical.record_from_json({**FIXTURES[3], "agency_code": "000.00.00.H49"})
    assert isinstance(step, model.ProgressStep)
    assert [p.rule for p in record_problems(step)] == ["agency-prefix"]
