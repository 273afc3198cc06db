"""The message catalogue: the common rejection and quarantine reasons in Vietnamese."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.canonical import record_from_json
from gateway.encoders.dvcqg_json import encode_dossier
from gateway.encoders.input_contract import schema_problems
from gateway.encoders.messages import CATALOGUE, both, localise, rule_of
from gateway.errors import TranslationError
from tests.contract.test_canonical_contract import BROKEN
from tests.factories import dossier

# Reasons the canonical reader words itself (what a vendor adapter or an older path gives).
READER_REASONS = [
    ("$.status: 11 is not one of 1, 2, 3", "enum", "giá trị không thuộc danh mục cho phép"),
    ("$.owner_name: required field is missing", "required", "thiếu trường bắt buộc"),
    ("$.x: unknown field", "additionalProperties", "trường không có trong đầu vào chuẩn"),
    ("$.fees[0].amount_vnd: expected an integer, got 'abc'", "type", "cần số nguyên"),
    ("$.received_at: '27/11' is not an ISO-8601 timestamp", "timestamp", "ISO-8601"),
    ("$.TrichYeuHoSo: required by DVCQG and empty", "dvcqg-required", "Cổng DVCQG yêu cầu"),
    ("$.NgayTuChoi: required for status 3 (refused)", "dvcqg-required-status", "trạng thái 3"),
    (
        "$.MaTTHC: local code '9.L' is not in the procedure table: add a line "
        "'9.L,<DVCQG code>' to config/mappings/procedures.csv",
        "mapping",
        "thêm dòng '9.L,<DVCQG code>' vào config/mappings/procedures.csv",
    ),
]


@pytest.mark.parametrize(("reason", "rule", "vietnamese"), READER_REASONS)
def test_common_reasons_have_a_rule_and_a_vietnamese_wording(
    reason: str, rule: str, vietnamese: str
) -> None:
    assert rule_of(reason) == rule
    worded = localise(reason, "vi")
    assert vietnamese in worded
    assert worded.split(":")[0] == reason.split(":", maxsplit=1)[0]  # the path stays as it is
    assert localise(reason, "en") == reason
    assert both(reason) == {"en": reason, "vi": worded}


@pytest.mark.parametrize(("why", "raw"), BROKEN, ids=[b[0] for b in BROKEN])
def test_every_schema_problem_is_worded_in_vietnamese(why: str, raw: object) -> None:
    for problem in schema_problems(raw):
        worded = localise(problem.reason, "vi")
        assert worded != problem.reason, why
        assert "schema rule" not in worded
        assert problem.rule in CATALOGUE or problem.rule in ("pattern", "type", "enum"), why


def test_the_quarantine_reason_of_an_incomplete_dossier_is_worded() -> None:
    with pytest.raises(TranslationError) as caught:
        encode_dossier(replace(dossier(), summary=""))
    assert localise(str(caught.value), "vi") == (
        "$.TrichYeuHoSo: Cổng DVCQG yêu cầu trường này nhưng đang để trống"
    )


def test_an_unknown_reason_stays_english() -> None:
    assert rule_of("the adapter crashed (KeyError)") == ""
    assert localise("the adapter crashed (KeyError)", "vi") == "the adapter crashed (KeyError)"


def test_the_reader_and_the_schema_agree_on_valid_records() -> None:
    raw = {"kind": "progress", "dossier_code": "D", "agency_code": "A", "handler": "Lê Văn Đức",
           "handled_at": "2026-11-02T08:00:00", "action": "Tiếp nhận", "status": "2"}  # fmt: skip
    assert schema_problems(raw) == []
    assert record_from_json(raw).status == 2
