from __future__ import annotations

import unicodedata
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.encoders.dvcqg_json import encode_dossier, encode_step, envelope, format_date
from gateway.errors import TranslationError
from gateway.model import DossierStatus
from tests.factories import dossier, step


def test_dates_are_vietnam_local_time_in_portal_format() -> None:
    assert format_date(datetime(2026, 11, 2, 1, 0, 5, tzinfo=UTC)) == "20261102080005"
    assert format_date(None) == ""


def test_dossier_item_has_string_scalars_and_portal_names() -> None:
    item = encode_dossier(dossier())
    assert item["MaHoSo"] == "000.00.00.H56-261102-00001"
    assert item["TrangThaiHoSo"] == "2"
    assert item["KenhThucHien"] == "2"
    assert item["HinhThuc"] == "0"
    assert item["NgayTiepNhan"] == "20261102080000"
    assert item["DinhDanhCHS"] == [{"LoaiDinhDanh": "1", "SoDinhDanh": "038190012345"}]
    assert item["TaiLieuNop"][0]["IsDeleted"] == "False"
    scalars = [v for v in item.values() if not isinstance(v, list)]
    assert all(isinstance(v, str) for v in scalars)


def test_text_is_nfc_normalised() -> None:
    decomposed = unicodedata.normalize("NFD", "Nguyễn Thị Ánh Tuyết")
    item = encode_dossier(dossier(owner_name=decomposed))
    assert item["ChuHoSo"] == "Nguyễn Thị Ánh Tuyết"
    assert unicodedata.is_normalized("NFC", item["ChuHoSo"])


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"summary": ""}, "$.TrichYeuHoSo"),
        ({"procedure_name": " "}, "$.TenTTHC"),
        ({"due_at": None}, "$.NgayHenTra"),
        ({"received_at": None}, "$.NgayTiepNhan"),
        ({"status": DossierStatus.REFUSED}, "$.NgayTuChoi"),
        ({"summary": "x" * 1001}, "$.TrichYeuHoSo"),
    ],
)
def test_what_the_portal_would_refuse_is_a_translation_error(
    changes: dict[str, Any], path: str
) -> None:
    with pytest.raises(TranslationError) as caught:
        encode_dossier(dossier(**changes))
    assert path in {p.path for p in caught.value.problems}


def test_submitted_dossier_needs_no_reception_or_due_date() -> None:
    item = encode_dossier(dossier(status=DossierStatus.SUBMITTED, received_at=None, due_at=None))
    assert item["NgayTiepNhan"] == ""
    assert item["NgayHenTra"] == ""


def test_step_item_and_handler_limit() -> None:
    item = encode_step(step())
    assert item["ThoiDiemXuLy"] == "20261102081000"
    assert item["TrangThai"] == "4"
    with pytest.raises(TranslationError):
        encode_step(replace(step(), handler="x" * 51))


def test_envelope_carries_is_updating_as_a_word() -> None:
    body = envelope(session="s", agency_code="A", service="DongBoHoSoMC", data=[], updating=True)
    assert body == {
        "session": "s",
        "madonvi": "A",
        "service": "DongBoHoSoMC",
        "isUpdating": "True",
        "data": [],
    }
    body = envelope(session="s", agency_code="A", service="X", data=[], updating=None)
    assert "isUpdating" not in body
