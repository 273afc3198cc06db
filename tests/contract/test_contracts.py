"""The contracts themselves: generated files are current, samples and fixtures validate."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
import xmlschema
from jsonschema import Draft7Validator

import contracts
from contracts.generate import outputs
from gateway.encoders.contract_check import check_message, looks_like_mojibake
from gateway.encoders.dvcqg_json import encode_dossier, encode_step, envelope
from gateway.encoders.wsdl import UnsafeXmlError, parse_xml
from gateway.errors import TranslationError
from gateway.model import PORTAL_TZ, Dossier, DossierStatus, ProgressStep
from gateway.simulator.onestop import generate_feed
from tests import factories

JSON_SAMPLES = [p for p in contracts.samples() if p.suffix == ".json"]
SOAP_ENV = "{http://schemas.xmlsoap.org/soap/envelope/}"


def test_committed_contracts_are_what_the_field_tables_generate() -> None:
    for name, text in outputs().items():
        committed = (contracts.directory() / name).read_text(encoding="utf-8")
        assert committed == text, f"{name} is stale: run python -m contracts.generate"


@pytest.mark.parametrize("name", sorted(outputs()))
def test_every_schema_is_a_valid_json_schema(name: str) -> None:
    if name.endswith(".json"):
        Draft7Validator.check_schema(json.loads(outputs()[name]))


def schema_of(sample: Path) -> str:
    return sample.name.split("--")[0].removesuffix(".json")


@pytest.mark.parametrize("sample", JSON_SAMPLES, ids=lambda p: p.name)
def test_every_json_sample_validates(sample: Path) -> None:
    schema = contracts.json_schema(schema_of(sample))
    body = json.loads(sample.read_text(encoding="utf-8"))
    errors = list(Draft7Validator(schema).iter_errors(body))
    assert errors == []


def test_every_message_has_a_sample() -> None:
    schemas = {n.removesuffix(".schema.json") for n in outputs() if n.endswith(".json")}
    assert schemas == {schema_of(p) for p in JSON_SAMPLES}


def test_soap_sample_validates_against_the_xsds() -> None:
    raw = (contracts.directory() / "samples" / "DongBoHoSoMC.request.soap.xml").read_bytes()
    root = parse_xml(raw)
    body = root.find(f"{SOAP_ENV}Body")
    header = root.find(f"{SOAP_ENV}Header")
    assert body is not None
    assert header is not None
    xmlschema.XMLSchema(str(contracts.xsd_path())).validate(body[0])
    xroad = xmlschema.XMLSchema(str(contracts.directory() / "xroad.xsd"))
    for element in header:
        xroad.validate(element)


def test_fixtures_and_a_simulated_feed_encode_to_valid_messages() -> None:
    start = datetime(2026, 11, 2, 7, 30, tzinfo=PORTAL_TZ)
    feed = generate_feed(120, seed=5, start=start).records
    dossiers = [r for r in feed if isinstance(r, Dossier)] + [factories.dossier()]
    steps = [r for r in feed if isinstance(r, ProgressStep)] + [factories.step()]
    for d in dossiers:
        body = envelope(
            session="s", agency_code=d.agency_code, service="DongBoHoSoMC",
            data=[encode_dossier(d)], updating=False,
        )  # fmt: skip
        check_message("DongBoHoSoMC.request", body)
    for s in steps:
        body = envelope(
            session="s", agency_code=s.agency_code, service="CapNhatTienDoHoSoMC",
            data=[encode_step(s)], updating=None,
        )  # fmt: skip
        check_message("CapNhatTienDoHoSoMC.request", body)
    assert dossiers
    assert steps


def dossier_body(**item_changes: object) -> dict[str, object]:
    item = {**encode_dossier(factories.dossier()), **item_changes}
    return envelope(
        session="s", agency_code="000.00.00.H56", service="DongBoHoSoMC", data=[item],
        updating=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "path", "rule"),
    [
        ({"NgayHenTra": "27/11/2026"}, "$.data[0].NgayHenTra", "pattern"),
        ({"NgayHenTra": ""}, "$.data[0].NgayHenTra", "minLength"),
        ({"TrangThaiHoSo": "11"}, "$.data[0].TrangThaiHoSo", "enum"),
        ({"TrangThaiHoSo": 2}, "$.data[0].TrangThaiHoSo", "type"),
        ({"TrichYeuHoSo": "x" * 1001}, "$.data[0].TrichYeuHoSo", "maxLength"),
        ({"TrichYeuHoSo": "   "}, "$.data[0].TrichYeuHoSo", "pattern"),
        ({"TrangThaiHoSo": "3", "NgayTuChoi": ""}, "$.data[0].NgayTuChoi", "minLength"),
        ({"DinhDanhCHS": [{"LoaiDinhDanh": "1", "SoDinhDanh": "12345"}]}, "$.data[0]", "oneOf"),
        ({"Unknown": "x"}, "$.data[0]", "additionalProperties"),
        ({"ChuHoSo": "Nguyá»…n VÄƒn A"}, "$.data[0].ChuHoSo", "mojibake"),
        ({"ChuHoSo": "Nguye\u0302\u0303n"}, "$.data[0].ChuHoSo", "NFC"),
    ],
)
def test_a_violation_names_the_json_path_and_the_rule(
    changes: dict[str, object], path: str, rule: str
) -> None:
    with pytest.raises(TranslationError) as caught:
        check_message("DongBoHoSoMC.request", dossier_body(**changes))
    matching = [p for p in caught.value.problems if p.path.startswith(path) and rule in p.reason]
    assert matching, caught.value.problems


def test_a_violation_does_not_echo_an_id_number() -> None:
    body = dossier_body(DinhDanhCHS=[{"LoaiDinhDanh": "1", "SoDinhDanh": "038190099999x"}])
    with pytest.raises(TranslationError) as caught:
        check_message("DongBoHoSoMC.request", body)
    assert "038190099999" not in str(caught.value)


def test_real_vietnamese_is_not_mojibake_and_mojibake_is() -> None:
    for good in ("Nguyễn Thị Ánh Tuyết", "Đăng ký khai sinh", "Hồ sơ", "café", "naïve"):
        assert not looks_like_mojibake(good), good
    for bad in ("Nguyá»…n", "Tráº§n VÄƒn BÃ¬nh", "Há»“ sÆ¡"):
        assert looks_like_mojibake(bad), bad


def test_status_one_needs_no_reception_date() -> None:
    d = replace(factories.dossier(), status=DossierStatus.SUBMITTED, received_at=None, due_at=None)
    body = envelope(
        session="s", agency_code=d.agency_code, service="DongBoHoSoMC",
        data=[encode_dossier(d)], updating=False,
    )  # fmt: skip
    check_message("DongBoHoSoMC.request", body)


@pytest.mark.parametrize(
    "raw",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        b'<!DOCTYPE lolz [<!ENTITY lol "lol">]><lolz>&lol;</lolz>',
        b"<x><unclosed></x>",
    ],
)
def test_xml_with_a_dtd_or_broken_xml_is_refused(raw: bytes) -> None:
    with pytest.raises(UnsafeXmlError):
        parse_xml(raw)


FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_every_fixture_record_encodes_to_messages_the_contracts_accept() -> None:
    from gateway.canonical import record_from_json
    from gateway.model import Result, apply_result

    raw = json.loads((FIXTURES / "canonical-records.json").read_text(encoding="utf-8"))
    snapshots: dict[str, Dossier] = {}
    checked = 0
    for item in raw:
        record = record_from_json(item)
        if isinstance(record, Result):
            update, closing = apply_result(snapshots[record.dossier_code], record)
            records: list[Dossier | ProgressStep] = [update, closing]
        else:
            records = [record]
        for r in records:
            if isinstance(r, Dossier):
                snapshots[r.dossier_code] = r
                body = envelope(session="s", agency_code=r.agency_code, service="DongBoHoSoMC",
                                data=[encode_dossier(r)], updating=False)  # fmt: skip
                check_message("DongBoHoSoMC.request", body)
            else:
                body = envelope(session="s", agency_code=r.agency_code,
                                service="CapNhatTienDoHoSoMC", data=[encode_step(r)],
                                updating=None)  # fmt: skip
                check_message("CapNhatTienDoHoSoMC.request", body)
            checked += 1
    assert checked == len(raw) + 1  # the result stands for an update and a closing step
