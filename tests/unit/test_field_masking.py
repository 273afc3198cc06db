"""Requests are masked by field in the audit log: the encoders mark the personal fields, the
routes pass them with the bytes, the audit masks them whole in JSON and in SOAP XML."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from gateway.audit import masking
from gateway.audit.attempts import SentRequest, describe_request
from gateway.audit.masking import mask_fields, mask_known, record_values
from gateway.config.schema import XRoadMemberConfig, XRoadSoapConfig
from gateway.encoders.dvcqg_json import PERSONAL_FIELDS, encode_dossier, encode_step, envelope
from gateway.encoders.wsdl import parse_xml
from gateway.model import ApplicantType, Supplement
from gateway.routes.xroad_soap import build_envelope
from tests.factories import T0, dossier, step

NAME = "Trần Văn Bình"
PARTNER = "Lê Thị Hoa"
TAX_CODE = "4219539879"
ACCOUNT = "TechID-4711"

PLANTED = dossier(
    owner_name=NAME,
    applicant_type=ApplicantType.CITIZEN,
    owner_account_id=ACCOUNT,
    other_info=f"Người đại diện theo pháp luật: {NAME}",
    summary=f"Đăng ký kết hôn giữa anh {NAME} và chị {PARTNER}",
    return_info=f"Gửi kết quả cho {PARTNER}, số 12 Lê Lợi",
    note=f"{PARTNER} gọi lại",
    fax="02838123456",
    owner_id_number=TAX_CODE,
    supplements=(
        Supplement("s1", PARTNER, f"Bổ sung giấy tờ của {NAME}", T0, received_by=PARTNER),
    ),
)
"""Every field a person's name or number can sit in, and a 10-digit tax code no text rule
finds (it is not a phone, a CCCD or a CMND number)."""
SECRETS = (NAME, PARTNER, TAX_CODE, ACCOUNT, "0912345678", "tuyet.nguyen@example.vn")


@pytest.fixture(autouse=True)
def hash_key() -> Iterator[None]:
    masking.set_hash_key(b"field-masking-test")
    yield
    masking.set_hash_key(None)


def rest_body() -> bytes:
    items = [encode_dossier(PLANTED)]
    body = envelope(
        session="s3cr3t", agency_code="000.00.00.H56", service="DongBoHoSoMC", data=items,
        updating=False,
    )  # fmt: skip
    return json.dumps(body, ensure_ascii=False).encode()


def soap_body() -> bytes:
    items = [encode_dossier(PLANTED)]
    body = envelope(
        session="(x-road)", agency_code="000.00.00.H56", service="DongBoHoSoMC", data=items,
        updating=False,
    )  # fmt: skip
    config = XRoadSoapConfig(
        security_server_url="http://127.0.0.1:1/xroad",
        client=XRoadMemberConfig(member_code="000.00.00.H56", subsystem_code="motcua"),
    )
    return build_envelope(config, body, issue=PLANTED.dossier_code, message_id="id-1")


def test_the_planted_values_are_on_the_wire() -> None:
    """The test is honest: every value searched for below is really in the bytes sent."""
    for raw in (rest_body(), soap_body()):
        text = raw.decode()
        assert all(value in text for value in SECRETS)


def test_a_rest_body_keeps_no_personal_field() -> None:
    described = describe_request(SentRequest("/mapi/g", rest_body(), PERSONAL_FIELDS))
    text = described.body_for(1, PLANTED.dossier_code, 1_000_000)
    assert [value for value in SECRETS if value in text] == []
    item = json.loads(text)["data"][0]
    assert item["MaHoSo"] == PLANTED.dossier_code  # what is not personal stays readable
    assert item["TenTTHC"] == "Thủ tục đăng ký khai sinh"
    assert item["TrichYeuHoSo"].startswith("<personal:")
    assert json.loads(text)["session"] == "<redacted>"


def test_a_soap_body_is_parsed_and_masked_element_by_element() -> None:
    raw = soap_body()
    described = describe_request(SentRequest("soap DongBoHoSoMC id-1", raw, PERSONAL_FIELDS))
    text = described.body_for(1, PLANTED.dossier_code, 1_000_000)
    assert [value for value in SECRETS if value in text] == []
    root = parse_xml(text.encode())  # still a well-formed envelope
    values = {el.tag.rsplit("}", 1)[-1]: el.text for el in root.iter() if isinstance(el.tag, str)}
    assert values["MaHoSo"] == PLANTED.dossier_code
    assert values["TenTTHC"] == "Thủ tục đăng ký khai sinh"
    for name in ("ChuHoSo", "TrichYeuHoSo", "SoGiayToChuHoSo", "DinhDanhCHS", "ThongTinKhac"):
        assert str(values[name]).startswith("<personal:"), name
    assert described.digest == __import__("hashlib").sha256(raw).hexdigest()


def test_the_same_citizen_gets_the_same_tag_in_json_and_in_xml() -> None:
    json_text = describe_request(SentRequest("x", rest_body(), PERSONAL_FIELDS)).body_for(
        1, PLANTED.dossier_code, 1_000_000
    )
    xml_text = describe_request(SentRequest("x", soap_body(), PERSONAL_FIELDS)).masked_text
    tag = json.loads(json_text)["data"][0]["ChuHoSo"]
    assert tag in xml_text.replace("&lt;", "<").replace("&gt;", ">")


def test_without_the_field_marks_only_patterns_are_masked() -> None:
    """What the issue found: without the marks, a name in the summary stays in the body."""
    text = describe_request(SentRequest("x", soap_body())).masked_text
    assert f"anh {NAME} và chị {PARTNER}" in text


def test_an_xml_body_that_does_not_parse_is_not_kept() -> None:
    raw = f"<a><ChuHoSo>{NAME}</ChuHoSo>".encode()
    text = describe_request(SentRequest("x", raw, PERSONAL_FIELDS)).masked_text
    assert NAME not in text
    assert "does not parse" in text


def test_an_xml_body_with_a_dtd_is_not_kept() -> None:
    raw = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>'
    assert "does not parse" in describe_request(SentRequest("x", raw)).masked_text


def test_steps_mask_the_handler_and_the_free_text() -> None:
    planted = step(handler=NAME, action=f"Trả kết quả cho {PARTNER}")
    body = envelope(
        session="s", agency_code="000.00.00.H56", service="CapNhatTienDoHoSoMC",
        data=[encode_step(planted)], updating=None,
    )  # fmt: skip
    masked = json.dumps(mask_fields(body, PERSONAL_FIELDS), ensure_ascii=False)
    assert NAME not in masked
    assert PARTNER not in masked
    assert "Chuyên viên" in masked  # a title is not a person


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, key)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, path)
    elif isinstance(value, str):
        yield path, value


@pytest.mark.parametrize(
    "planted",
    [
        PLANTED,
        replace(PLANTED, applicant_type=ApplicantType.BUSINESS, owner_name="Công ty TNHH An Khang"),
    ],
)
def test_every_wire_field_holding_personal_data_is_marked(planted: Any) -> None:
    """If an encoder grows a field that carries a planted value, it must be marked."""
    unmarked = {
        key
        for key, text in _strings(encode_dossier(planted))
        if any(value in text for value in (*SECRETS, planted.owner_name))
        and key not in PERSONAL_FIELDS
    }
    assert unmarked == set()


def test_a_records_own_values_are_masked_in_a_text_about_it() -> None:
    text = f"ChuHoSo '{NAME}' sai; {PARTNER} gọi; {TAX_CODE}; mã {PLANTED.dossier_code}"
    masked = mask_known(text, record_values(PLANTED))
    assert [value for value in (NAME, PARTNER, TAX_CODE) if value in masked] == []
    assert PLANTED.dossier_code in masked  # a dossier code is not personal
    assert mask_known("HTTP 503", ["", "503"]) == "HTTP 503"  # too short to search for


def test_a_steps_values_are_its_handler_and_action() -> None:
    values = record_values(step(handler=NAME, action=f"Trả kết quả cho {PARTNER}"))
    assert NAME in values
    assert f"Trả kết quả cho {PARTNER}" in values
