"""Rejection and quarantine reasons name the field and the rule, never the value (issue 12,
item 9): a name typed into the wrong field must not reach the audit log through its reason."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.fields import FieldReader
from gateway.canonical import record_from_json, record_to_json
from gateway.encoders.mapping import Table
from gateway.encoders.wsdl import codec
from gateway.encoders.xroad_soap import SoapMessage
from gateway.errors import TranslationError, code_shown, value_shape
from tests.factories import dossier

NAME = "Trần Văn Bình"
CCCD = "038190012345"
PHONE = "0912345678"


def reasons(exc: pytest.ExceptionInfo[TranslationError]) -> dict[str, str]:
    return {p.path: p.reason for p in exc.value.problems}


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("status", NAME, "rule enum-number"),  # only integers or ASCII digits are numbers
        ("status", CCCD, "is not one of 1, 2"),
        ("status", int(CCCD), "is not one of 1, 2"),
        ("channel", PHONE, "is not one of"),
        ("received_at", NAME, "is not an ISO-8601 timestamp"),
        ("received_at", f"{CCCD}T08:00", "is not an ISO-8601 timestamp"),
        ("vneid_verified", NAME, "expected true/false"),
        ("kind", NAME, "must be one of"),
    ],
)
def test_canonical_reasons_describe_the_value_without_quoting_it(
    field: str, value: Any, rule: str
) -> None:
    record = {**record_to_json(dossier()), field: value}
    with pytest.raises(TranslationError) as exc:
        record_from_json(record)
    found = reasons(exc)
    assert rule in found[f"$.{field}"]
    text = str(exc.value)
    assert NAME not in text
    assert CCCD not in text
    assert PHONE not in text


def test_a_short_status_is_still_shown_to_the_vendor() -> None:
    with pytest.raises(TranslationError) as exc:
        record_from_json({**record_to_json(dossier()), "status": 11})
    assert "11 is not one of 1, 2, 3" in reasons(exc)["$.status"]


@pytest.mark.parametrize(
    ("value", "shape"),
    [
        (11, "11"),
        ("3", "'3'"),
        (123456789012, "a number of 12 digits"),
        (CCCD, "a string of 12 characters"),
        (NAME, "a string of 13 characters"),
        ("", "an empty string"),
        (None, "null"),
        (True, "true"),
        (1.5, "a number with a fraction"),
        ([NAME], "an array of 1 items"),
        ({"a": NAME}, "an object"),
    ],
)
def test_value_shape(value: object, shape: str) -> None:
    assert value_shape(value) == shape


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("1.001193", "'1.001193'"),
        ("G15-TP07", "'G15-TP07'"),
        ("processing", "'processing'"),
        (NAME, "a string of 13 characters"),
        (PHONE, "a string of 10 characters"),
        ("a" * 41, "a string of 41 characters"),
    ],
)
def test_codes_are_quoted_only_when_they_look_like_codes(value: str, shown: str) -> None:
    assert code_shown(value) == shown


def test_adapter_field_reasons_do_not_quote_the_value() -> None:
    reader = FieldReader({"count": NAME, "receiveDate": f"{NAME} {CCCD}"})
    reader.integer("count")
    reader.date("receiveDate")
    with pytest.raises(TranslationError) as exc:
        reader.finish()
    found = reasons(exc)
    assert found == {
        "$.count": "expected an integer, got a string of 13 characters",
        "$.receiveDate": "a string of 26 characters is not a date this adapter understands",
    }


def test_an_unmapped_local_code_is_named_only_when_it_is_a_code() -> None:
    table = Table.of("procedures", "mappings/procedures.csv", {"TT-01": "1.001193"})
    with pytest.raises(TranslationError) as exc:
        table.map("TT-02", "$.procedure_code")
    assert "local code 'TT-02' is not in the procedures table" in str(exc.value)
    with pytest.raises(TranslationError) as exc:
        table.map(NAME, "$.procedure_code")
    assert NAME not in str(exc.value)
    assert "a string of 13 characters" in str(exc.value)


def test_a_soap_build_error_keeps_the_rule_not_the_quoted_value() -> None:
    message = SoapMessage("DongBoHoSoMC", {}, {"madonvi": "x", NAME: CCCD})
    with pytest.raises(TranslationError) as exc:
        codec().build(message)
    assert "unexpected keyword argument" in str(exc.value)
    assert NAME not in str(exc.value)
