"""The check of a dossier the portal pushes down: fields, dates, Base64, sizes, content types."""

from __future__ import annotations

import base64

import pytest

from gateway.errors import TranslationError
from gateway.inbound.model import (
    Limits,
    dossier_from_json,
    dossier_to_json,
    parse_portal_dossier,
)
from tests.inbound_factories import PDF, PNG, b64, portal_body

DEFAULT = Limits()


def problems_of(body: object, limits: Limits = DEFAULT) -> dict[str, str]:
    with pytest.raises(TranslationError) as caught:
        parse_portal_dossier(body, limits)
    return {p.path: p.reason for p in caught.value.problems}


def test_a_full_body_becomes_the_canonical_dossier_and_survives_the_json_round_trip() -> None:
    dossier = parse_portal_dossier(portal_body())
    assert dossier.dossier_code == "G22.99-261127-0001"
    assert dossier.submitted_at is not None
    assert dossier.submitted_at.isoformat() == "2026-11-27T08:15:00+07:00"
    assert dossier.address.ward_code == "14758"
    assert dossier.fields == {"TenChuongTrinhKhuyenMai": "Mừng xuân 2027"}
    assert [(a.role, a.name, a.content_type) for a in dossier.attachments] == [
        ("form", "don-dang-ky.pdf", "application/pdf"),
        ("paper", "mau-phieu.png", "image/png"),
    ]
    assert dossier.attachments[0].content == PDF
    assert dossier_from_json(dossier_to_json(dossier)) == dossier


def test_every_problem_is_named_by_its_path_without_the_value() -> None:
    body = portal_body(MaHoSo="", NgayNopHoSo="27/11/2026", TenThuongNhan=["x"])
    body["TaiLieuNop"] = [{"TenTepDinhKem": "a.pdf", "Base64": "not base64!"}, "x"]
    found = problems_of(body)
    assert set(found) == {
        "$.MaHoSo",
        "$.NgayNopHoSo",
        "$.TenThuongNhan",
        "$.TaiLieuNop[0].Base64",
        "$.TaiLieuNop[1]",
    }
    assert "27/11/2026" not in " ".join(found.values())  # a date shape, not the value


def test_a_file_whose_bytes_are_not_its_type_is_refused() -> None:
    body = portal_body(TaiLieuNop=[{"TenTepDinhKem": "hop-dong.pdf", "Base64": b64(PNG)}])
    assert problems_of(body) == {"$.TaiLieuNop[0].Base64": "the content is not a pdf file"}


def test_a_file_type_outside_the_list_is_refused() -> None:
    exe = b"MZ" + b"\x00" * 30
    body = portal_body(TaiLieuNop=[{"TenTepDinhKem": "setup.exe", "Base64": b64(exe)}])
    assert "$.TaiLieuNop[0].TenTepDinhKem" in problems_of(body)
    only_pdf = Limits(allowed_extensions=("pdf",))
    assert "$.TaiLieuNop[0].TenTepDinhKem" in problems_of(portal_body(), only_pdf)


def test_size_limits_per_file_in_total_and_in_number() -> None:
    big = PDF + b"y" * 5000
    body = portal_body(TepDonDangKy=base64.b64encode(big).decode())
    assert problems_of(body, Limits(max_attachment_bytes=1000)) == {
        "$.TepDonDangKy": "larger than 1000 bytes"
    }
    assert "$" in problems_of(portal_body(), Limits(max_total_bytes=len(PDF)))
    many = [{"TenTepDinhKem": f"{i}.png", "Base64": b64(PNG)} for i in range(4)]
    assert "$.TaiLieuNop" in problems_of(portal_body(TaiLieuNop=many), Limits(max_attachments=3))


def test_a_body_that_is_not_an_object_is_one_problem_at_the_root() -> None:
    assert problems_of([1, 2]) == {"$": "expected a JSON object, got an array of 2 items"}
