"""The strict JSON reader, the canonical reader's strict numbers and the input rules, one
rule at a time (the corpus in tests/integration/test_hostile_input.py runs them end to end)."""

from __future__ import annotations

import dataclasses
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.canonical import (
    DEFAULT_DOSSIER_CODE_PATTERN,
    DEFAULT_RULES,
    RecordRules,
    record_from_json,
    record_to_json,
    text_problem,
)
from gateway.config.loading import load_config, parse_config
from gateway.errors import ConfigError, TranslationError
from gateway.model import Channel, DossierStatus
from gateway.sources import strict_json
from gateway.sources.strict_json import StrictJsonError
from tests.factories import dossier

EXAMPLE = Path(__file__).parents[2] / "config" / "gateway.example.yaml"


def refused(text: str | bytes, max_depth: int = 64) -> StrictJsonError:
    with pytest.raises(StrictJsonError) as caught:
        strict_json.loads(text, max_depth=max_depth)
    return caught.value


def test_the_depth_limit_is_exact_and_named() -> None:
    assert strict_json.loads("[" * 5 + "]" * 5, max_depth=5) == [[[[[]]]]]
    error = refused("[" * 6 + "]" * 6, max_depth=5)
    assert (error.rule, str(error)) == ("depth", "nested deeper than 5 levels (rule depth)")
    assert strict_json.loads('["' + "[" * 100 + '"]', max_depth=2) == ["[" * 100]


def test_a_repeated_key_is_named_at_any_level() -> None:
    error = refused('[{"a": {"status": 1, "status\\u0000": 2, "status": 3}}]')
    assert error.rule == "duplicate-key"
    assert '"status"' in str(error)


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", "[-Infinity]", "[1e400]", "[-1E999]"])
def test_non_finite_numbers_are_refused(text: str) -> None:
    assert refused(text).rule == "non-finite-number"


def test_syntax_and_encoding_say_where() -> None:
    assert (
        str(refused("[1,\n 2,,]"))
        == "malformed JSON: Expecting value (rule syntax) at line 2 column 4"
    )
    assert refused(b"[1, \xff]").where == "byte 4"
    assert strict_json.loads("\ufeff[1]".encode()) == [1]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (4, DossierStatus.PROCESSING),
        ("4", DossierStatus.PROCESSING),
        (" 10 ", DossierStatus.RETURNED),
    ],
)
def test_enumerations_take_integers_and_ascii_digits(value: Any, expected: DossierStatus) -> None:
    raw = {**record_to_json(dossier()), "status": value}
    assert record_from_json(raw).status == expected


@pytest.mark.parametrize("value", [True, False, 1.0, 2.5, "2.0", "²", "٣", "4x", [], None])
def test_enumerations_refuse_booleans_floats_and_other_digits(value: Any) -> None:
    raw = {**record_to_json(dossier()), "status": value, "channel": value}
    with pytest.raises(TranslationError) as caught:
        record_from_json(raw)
    paths = {p.path for p in caught.value.problems}
    assert "$.status" in paths
    assert all("rule enum-" in p.reason for p in caught.value.problems if p.path == "$.status")


def test_a_boolean_field_refuses_a_float() -> None:
    raw = {**record_to_json(dossier()), "vneid_verified": 1.0}
    with pytest.raises(TranslationError, match=r"\$\.vneid_verified: expected true/false"):
        record_from_json(raw)
    assert record_from_json({**raw, "vneid_verified": 1}).vneid_verified is True  # type: ignore[union-attr]


def test_free_text_may_break_lines_but_codes_may_not() -> None:
    assert text_problem("dòng 1\r\ndòng 2\tx", multiline=True) == ""
    assert text_problem("A\nB") == "rule control-character: U+000A at character 2"
    assert (
        text_problem("x\u0085", multiline=True) == "rule control-character: U+0085 at character 2"
    )
    assert text_problem("a\u2067b", multiline=True) == "rule bidi-control: U+2067 at character 2"
    assert text_problem("Nguyễn Thị Ánh Tuyết 💡 ‍") == ""


def test_every_field_of_a_record_is_checked_with_its_path() -> None:
    record = dossier(
        summary="Đăng ký\nkhai sinh",
        channel=Channel.ONLINE,
        refused_at=datetime(2101, 1, 1, tzinfo=UTC),
        databases_consulted=("ok", "x\u202ey"),
    )
    document = dataclasses.replace(record.documents[0], file_name="a\x00b")
    record = dataclasses.replace(record, documents=(document,))
    paths = {p.path: p.reason for p in DEFAULT_RULES.problems(record)}
    assert "$.summary" not in paths
    assert paths["$.refused_at"] == "rule date-range: outside the years 1990-2100"
    assert paths["$.databases_consulted[1]"].startswith("rule bidi-control")
    assert paths["$.documents[0].file_name"].startswith("rule control-character")


def test_the_dossier_code_pattern_is_a_setting() -> None:
    loose = RecordRules(dossier_code_pattern=r"[A-Z]+-[0-9]+")
    assert loose.problems(dossier("HS-1")) == []
    assert [p.path for p in DEFAULT_RULES.problems(dossier("HS-1"))] == ["$.dossier_code"]
    for code in ("000.00.00.H56-261127-00001", "G09.20-20260609-0092637", "H56-261127-00031"):
        assert DEFAULT_RULES.problems(dossier(code)) == [], code
    derived = dossier(origin_dossier_code="../x")
    assert [p.path for p in DEFAULT_RULES.problems(derived)] == ["$.origin_dossier_code"]


def test_the_input_section_is_checked_and_the_example_documents_the_default() -> None:
    assert load_config(EXAMPLE, environ={}).input.dossier_code_pattern == (
        DEFAULT_DOSSIER_CODE_PATTERN
    )
    document = {
        "portal": {"base_url": "http://x", "username": "u", "password": "p"},
        "input": {"dossier_code_pattern": "([", "earliest_year": 1, "max_json_depth": 0},
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(document, environ={})
    paths = {p.path for p in caught.value.problems}
    assert paths == {"input.dossier_code_pattern", "input", "input.max_json_depth"}


def test_the_refused_characters_are_exactly_controls_bidi_and_surrogates() -> None:
    """Every character of the Basic Multilingual Plane, against Unicode's own categories."""
    for code in range(0x10000):
        char = chr(code)
        category = unicodedata.category(char)
        for multiline in (False, True):
            expected = (
                char in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
                or category == "Cs"
                or (category == "Cc" and not (multiline and char in "\t\n\r"))
            )
            assert bool(text_problem(f"a{char}b", multiline=multiline)) == expected, hex(code)
