"""Canonical records -> DVCQG REST JSON (spec §3.1 envelope, §4 dossier, §5 progress).

Pure: values in, values out. Every scalar is written as a string, every date as
``yyyyMMddHHmmss`` in Vietnam local time, unknown dates as ``""`` (spec §4, [C]). Text is
NFC-normalised so that a decomposed "ệ" from a vendor's database reaches the portal in the
form the portal stores.

Before anything is built, :func:`check_dossier` and :func:`check_step` look for what the
portal would refuse (spec §4.1 "Req?" column); a record that fails raises
:class:`~gateway.errors.TranslationError` with the DVCQG field path, and is quarantined.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from gateway.errors import Problem, TranslationError
from gateway.model import (
    PORTAL_TZ,
    Dossier,
    DossierStatus,
    Fee,
    ProgressStep,
    ResultDocument,
    SubmittedDocument,
    Supplement,
)

DATE_FORMAT = "%Y%m%d%H%M%S"

SUMMARY_MAX_CHARS = 1000
"""``TrichYeuHoSo`` limit [I]: TD truncates to 1000 characters; we refuse instead of cutting."""

HANDLER_MAX_CHARS = 50
"""``NguoiXuLy`` limit [I]: TD truncates to 50 characters; we refuse instead of cutting."""

Json = dict[str, Any]

PERSONAL_FIELDS = frozenset(
    {
        # the owner and how to reach them
        "ChuHoSo",
        "MaDoiTuong",
        "Email",
        "Fax",
        "SoDienThoai",
        # identity and tax numbers
        "SoGiayToChuHoSo",
        "DinhDanhCHS",
        "SoDinhDanh",
        # people's names: the officials who handle a dossier are people too
        "NguoiXuLy",
        "NguoiYeuCauBoSung",
        "NguoiTiepNhanBoSung",
        # free text, where names, addresses and numbers are written in prose
        "TrichYeuHoSo",
        "ThongTinKhac",
        "ThongTinTra",
        "GhiChu",
        "NoiDungBoSung",
        "ThongTinTiepNhan",
        "NoiDungXuLy",
        "TenTepDinhKem",
    }
)
"""Wire fields of the messages built here that carry personal data. The portal gets them as
they are; every copy kept outside the outbox (the audit log's masked request body) masks them
whole, by name, whatever their content: a name in ``TrichYeuHoSo`` ("Đăng ký khai sinh cho
cháu Nguyễn Minh Khôi") has no pattern a text rule could find. The SOAP body carries the same
objects under the same element names."""


def format_date(value: datetime | None) -> str:
    """A DVCQG date: ``yyyyMMddHHmmss`` in Asia/Ho_Chi_Minh, or ``""`` when unknown."""
    if value is None:
        return ""
    if value.tzinfo is None:
        raise TranslationError.at("$", "a timestamp has no time zone")
    return value.astimezone(PORTAL_TZ).strftime(DATE_FORMAT)


def text(value: str) -> str:
    """NFC-normalised text, as the portal stores Vietnamese."""
    return unicodedata.normalize("NFC", value)


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _bool_word(value: bool) -> str:
    return "True" if value else "False"


def check_dossier(dossier: Dossier) -> None:
    """Raise :class:`TranslationError` if the portal would refuse this snapshot."""
    problems: list[Problem] = []
    required = {
        "MaHoSo": dossier.dossier_code,
        "MaTTHC": dossier.procedure_code,
        "TenTTHC": dossier.procedure_name,
        "MaLinhVuc": dossier.field_code,
        "TenLinhVuc": dossier.field_name,
        "TrichYeuHoSo": dossier.summary,
        "DonViXuLy": dossier.handling_agency_name,
    }
    for name, value in required.items():
        if not value.strip():
            problems.append(Problem(f"$.{name}", "required by DVCQG and empty"))
    if not dossier.agency_code.strip():
        problems.append(Problem("$.madonvi", "agency code (MaDinhDanh) is empty"))
    status = dossier.status
    if status is not DossierStatus.SUBMITTED and dossier.received_at is None:
        problems.append(Problem("$.NgayTiepNhan", f"required for status {status.value}"))
    no_due = {DossierStatus.SUBMITTED, DossierStatus.REFUSED}
    if status not in no_due and dossier.due_at is None:
        problems.append(Problem("$.NgayHenTra", f"required for status {status.value}"))
    if status is DossierStatus.REFUSED and dossier.refused_at is None:
        problems.append(Problem("$.NgayTuChoi", "required for status 3 (refused)"))
    if len(dossier.summary) > SUMMARY_MAX_CHARS:
        problems.append(Problem("$.TrichYeuHoSo", f"longer than {SUMMARY_MAX_CHARS} characters"))
    if problems:
        raise TranslationError(problems)


def check_step(step: ProgressStep) -> None:
    """Raise :class:`TranslationError` if the portal would refuse this progress step."""
    problems: list[Problem] = []
    for name, value in {
        "MaHoSo": step.dossier_code,
        "NguoiXuLy": step.handler,
        "NoiDungXuLy": step.action,
    }.items():
        if not value.strip():
            problems.append(Problem(f"$.{name}", "required by DVCQG and empty"))
    if len(step.handler) > HANDLER_MAX_CHARS:
        problems.append(Problem("$.NguoiXuLy", f"longer than {HANDLER_MAX_CHARS} characters"))
    if problems:
        raise TranslationError(problems)


def encode_dossier(dossier: Dossier) -> Json:
    """One ``DongBoHoSoMC`` data item (spec §4.1 and §4.2)."""
    check_dossier(dossier)
    d = dossier
    item: Json = {
        "MaHoSo": text(d.dossier_code),
        "MaTTHC": text(d.procedure_code),
        "TenTTHC": text(d.procedure_name),
        "MaLinhVuc": text(d.field_code),
        "TenLinhVuc": text(d.field_name),
        "KenhThucHien": "" if d.channel is None else str(d.channel.value),
        "SoBienNhan": text(d.receipt_number),
        "ChuHoSo": text(d.owner_name),
        "LoaiDoiTuong": str(d.applicant_type.value),
        "MaDoiTuong": text(d.owner_account_id),
        "ThongTinKhac": text(d.other_info),
        "Email": d.email,
        "Fax": d.fax,
        "SoDienThoai": d.phone,
        "TrichYeuHoSo": text(d.summary),
        "NgayTiepNhan": format_date(d.received_at),
        "NgayHenTra": format_date(d.due_at),
        "TrangThaiHoSo": str(d.status.value),
        "NgayTra": format_date(d.returned_at),
        "ThongTinTra": text(d.return_info),
        "HinhThuc": str(d.delivery_form.value),
        "NgayKetThucXuLy": format_date(d.processing_finished_at),
        "DonViXuLy": text(d.handling_agency_name),
        "GhiChu": text(d.note),
        "TaiLieuNop": [_document(doc) for doc in d.documents],
        "DanhSachLePhi": [_fee(fee) for fee in d.fees],
        "DanhSachTepDinhKemKhac": [
            {"TenGiayTo": text(p.name), "SoLuong": p.quantity, "LoaiGiayTo": p.paper_type}
            for p in d.other_papers
        ],
        "DanhSachHoSoBoSung": [_supplement(s) for s in d.supplements],
        "DanhSachGiayToKetQua": [_result_document(r) for r in d.result_documents],
        "SoGiayToChuHoSo": d.owner_id_number,
        "NoiNopHoSo": d.submission_place,
        "HoSoCoThanhPhanSoHoa": _flag(d.has_digitised_components),
        "TaiKhoanDuocXacThucVoiVNeID": _flag(d.vneid_verified),
        "DuocThanhToanTrucTuyen": str(d.online_payment.value),
        "NgayTuChoi": format_date(d.refused_at),
        "DinhDanhCHS": [
            {"LoaiDinhDanh": str(i.kind.value), "SoDinhDanh": i.number} for i in d.owner_identifiers
        ],
        "NgayNopHoSo": format_date(d.submitted_at),
        "DSKetNoiCSDL": [{"MaCSDL": code} for code in d.databases_consulted],
    }
    return item


def encode_step(step: ProgressStep) -> Json:
    """One ``CapNhatTienDoHoSoMC`` data item (spec §5)."""
    check_step(step)
    return {
        "MaHoSo": text(step.dossier_code),
        "NguoiXuLy": text(step.handler),
        "ChucDanh": text(step.title),
        "ThoiDiemXuLy": format_date(step.handled_at),
        "PhongBanXuLy": text(step.department),
        "NoiDungXuLy": text(step.action),
        "TrangThai": str(step.status.value),
        "NgayBatDau": format_date(step.started_at),
        "NgayKetThucTheoQuyDinh": format_date(step.deadline_at),
    }


def envelope(
    *, session: str, agency_code: str, service: str, data: list[Json], updating: bool | None
) -> Json:
    """The request body of spec §3.1: ``{session, madonvi, service, [isUpdating,] data}``."""
    body: Json = {"session": session, "madonvi": agency_code, "service": service}
    if updating is not None:
        body["isUpdating"] = _bool_word(updating)
    body["data"] = data
    return body


def _document(doc: SubmittedDocument) -> Json:
    return {
        "TepDinhKemId": doc.file_id,
        "TenTepDinhKem": text(doc.file_name),
        "IsDeleted": _bool_word(doc.deleted),
        "MaThanhPhanHoSo": doc.component_code,
        "DuongDanTaiTepTin": doc.download_url,
        "DuocSoHoa": _flag(doc.digitised),
        "DuocTaiSuDung": str(doc.reuse.value),
        "DuocLayTuKhoDMQG": _flag(doc.from_personal_store),
        "MaKetQuaThayThe": doc.replacing_result_code,
    }


def _fee(fee: Fee) -> Json:
    return {
        "TenPhiLePhi": text(fee.name),
        "MaPhiLePhi": fee.code,
        "HinhThucThu": fee.collection_form,
        "Gia": str(fee.amount_vnd),
        "LoaiPhiLePhi": fee.fee_type,
    }


def _supplement(s: Supplement) -> Json:
    return {
        "HoSoBoSungId": s.supplement_id,
        "NguoiYeuCauBoSung": text(s.requested_by),
        "NoiDungBoSung": text(s.content),
        "NgayBoSung": format_date(s.requested_at),
        "NguoiTiepNhanBoSung": text(s.received_by),
        "ThongTinTiepNhan": text(s.reception_info),
        "NgayTiepNhanBoSung": format_date(s.received_at),
        "TrangThaiBoSung": _bool_word(s.completed),
        "DanhSachGiayToBoSung": [_document(doc) for doc in s.documents],
        "DanhSachLePhiBoSung": [_fee(fee) for fee in s.fees],
        "NgayHenTraTruoc": format_date(s.previous_due_at),
        "NgayHenTraMoi": format_date(s.new_due_at),
    }


def _result_document(r: ResultDocument) -> Json:
    return {
        "TenGiayTo": text(r.name),
        "MaThanhPhanHoSo": r.component_code,
        "GiayToId": r.document_id,
        "DuongDanTepTinKetQua": r.download_url,
        "MaGiayToKetQua": r.result_code,
    }
