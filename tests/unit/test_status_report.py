"""``DongBoTrangThaiHoSo``: the canonical report of a record, its encoding, and the simulated
portal's checks (which the encoder must satisfy without sharing code with it)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from gateway.encoders.status_report import encode_status_report, status_envelope
from gateway.errors import TranslationError
from gateway.inbound.reports import report_payload
from gateway.model import DossierStatus
from gateway.simulator.hosted import HostedBook
from tests.factories import T0, dossier, step

CODE = "000.00.00.H56-261127-900001"


def test_a_snapshot_reports_the_date_of_its_status_and_its_documents() -> None:
    received = report_payload(dossier(CODE, receipt_number="BN-1"))
    assert received is not None
    assert (received["status"], received["handled_at"]) == (2, T0.isoformat())
    finished = dossier(CODE, status=DossierStatus.FINISHED,
                       processing_finished_at=T0 + timedelta(days=2))  # fmt: skip
    report = report_payload(finished)
    assert report is not None
    data = encode_status_report(report)
    assert data["TrangThai"] == "9"
    assert data["NgayXuLy"] == "20261104080000"
    assert data["MaHoSoDonVi"] == ""
    assert data["TaiLieuXuLy"][0]["TenTepDinhKem"] == "Tờ khai đăng ký khai sinh.pdf"
    assert data["TaiLieuXuLy"][0]["IsDeleted"] == "False"
    assert report_payload(replace(dossier(CODE), received_at=None)) is None


def test_a_step_reports_its_time_and_action() -> None:
    report = report_payload(step(CODE, minutes=30, status=DossierStatus.PROCESSING))
    assert report is not None
    data = encode_status_report(report)
    assert (data["TrangThai"], data["NgayXuLy"], data["NoiDung"]) == (
        "4",
        "20261102083000",
        "Chuyển xử lý hồ sơ",
    )
    body = status_envelope(session="s", agency_code="000.00.00.H56", data=data)
    assert (body["service"], body["type"], body["data"]) == ("DongBoTrangThaiHoSo", "2", data)


def test_a_report_the_portal_would_refuse_is_named_by_its_path() -> None:
    with pytest.raises(TranslationError) as caught:
        encode_status_report({"dossier_code": "", "status": 12, "handled_at": "yesterday"})
    assert [p.path for p in caught.value.problems] == [
        "$.data.MaHoSo",
        "$.data.TrangThai",
        "$.data.NgayXuLy",
    ]


def test_the_simulated_portal_takes_reports_of_dossiers_it_pushed_and_sees_the_order() -> None:
    book = HostedBook(pushed={CODE: {}})
    first = encode_status_report(report_payload(step(CODE, minutes=30)) or {})
    earlier = encode_status_report(report_payload(step(CODE, minutes=10)) or {})
    assert book.check_report(first) is None
    assert book.check_report(earlier) is None
    assert book.out_of_order == [CODE]
    assert book.check_report({**first, "MaHoSo": "other"}) is not None
    assert book.check_report({**first, "NgayXuLy": "2026-11-02"}) is not None
    assert [r["NgayXuLy"] for r in book.reports[CODE]] == ["20261102083000", "20261102081000"]
