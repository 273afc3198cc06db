"""The canonical model: one vocabulary for the whole code base.

Every record a source delivers is translated by an adapter into one of three record kinds:

- :class:`Dossier`: a full snapshot of one dossier (hồ sơ), sent with ``DongBoHoSoMC``.
  A later snapshot of the same dossier code supersedes an undelivered earlier one.
- :class:`ProgressStep`: one processing step (tiến độ), sent with ``CapNhatTienDoHoSoMC``.
  Steps are events: each is delivered, in ``handled_at`` order, after the dossier exists.
- :class:`Result`: the outcome of a dossier (status 9/10, result documents, return date),
  delivered as a dossier update plus its closing step.

Field names are English; each field's docstring comment names the DVCQG field it becomes
(see ``docs/spec/dvcqg.md`` §4, §5 and §6). DVCQG names appear only in
encoders, contracts and docs. All timestamps are timezone-aware; the portal's zone is
:data:`PORTAL_TZ` (Asia/Ho_Chi_Minh).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

PORTAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
"""The zone every DVCQG date is written in (yyyyMMddHHmmss, Vietnam local time)."""


class DossierStatus(enum.IntEnum):
    """``TrangThaiHoSo`` / ``TrangThai`` (spec §6.1) [C]."""

    SUBMITTED = 1
    RECEIVED = 2
    REFUSED = 3
    PROCESSING = 4
    SUPPLEMENT_REQUESTED = 5
    FEES_REQUESTED = 6
    WITHDRAWN = 7
    STOPPED = 8
    FINISHED = 9
    RETURNED = 10

    @property
    def label(self) -> str:
        """The Vietnamese label the portal and the one-stop desks use."""
        return _STATUS_LABELS[self]


_STATUS_LABELS = {
    DossierStatus.SUBMITTED: "Mới đăng ký",
    DossierStatus.RECEIVED: "Được tiếp nhận",
    DossierStatus.REFUSED: "Không được tiếp nhận",
    DossierStatus.PROCESSING: "Đang xử lý",
    DossierStatus.SUPPLEMENT_REQUESTED: "Yêu cầu bổ sung giấy tờ",
    DossierStatus.FEES_REQUESTED: "Yêu cầu thực hiện nghĩa vụ tài chính",
    DossierStatus.WITHDRAWN: "Công dân yêu cầu rút hồ sơ",
    DossierStatus.STOPPED: "Dừng xử lý",
    DossierStatus.FINISHED: "Đã xử lý xong",
    DossierStatus.RETURNED: "Đã trả kết quả",
}


class Channel(enum.IntEnum):
    """``KenhThucHien`` (spec §6.2) [C]."""

    AT_DESK = 1
    ONLINE = 2
    POSTAL = 3

    @property
    def label(self) -> str:
        return {1: "Trực tiếp", 2: "Trực tuyến", 3: "Qua bưu chính công ích"}[self.value]


class ApplicantType(enum.IntEnum):
    """``LoaiDoiTuong`` (spec §6.3) [C for 1-2, C1 for 3-4]."""

    CITIZEN = 1
    BUSINESS = 2
    STATE_AGENCY = 3
    ORGANISATION = 4

    @property
    def label(self) -> str:
        return {1: "Công dân", 2: "Doanh nghiệp", 3: "Cơ quan nhà nước", 4: "Tổ chức"}[self.value]


class DeliveryForm(enum.IntEnum):
    """``HinhThuc``, how the result is handed over (spec §6.4) [C]."""

    AT_DESK = 0
    BY_POST = 1


class OnlinePayment(enum.IntEnum):
    """``DuocThanhToanTrucTuyen`` (spec §6.5): 0 none [I], 1 on DVCQG, 2 local gateway [C]."""

    NONE = 0
    ON_PORTAL = 1
    LOCAL_GATEWAY = 2


class ReuseKind(enum.IntEnum):
    """``DuocTaiSuDung`` (spec §6.7) [C1]."""

    NOT_REUSED = 0
    REUSED = 1
    REPLACED_BY_RESULT = 2


class IdentifierKind(enum.IntEnum):
    """``DinhDanhCHS.LoaiDinhDanh`` (spec §6.8) [C1]: 1 = 12-digit CCCD, 2 = 9-digit CMND."""

    CCCD = 1
    CMND = 2


class RecordKind(enum.StrEnum):
    """The three kinds of canonical record."""

    DOSSIER = "dossier"
    PROGRESS = "progress"
    RESULT = "result"


@dataclass(frozen=True, slots=True)
class SubmittedDocument:
    """One item of ``TaiLieuNop`` (spec §4.3): a file the applicant submitted."""

    file_id: str  # TepDinhKemId
    file_name: str  # TenTepDinhKem
    download_url: str  # DuongDanTaiTepTin: absolute URL the portal can download
    component_code: str = ""  # MaThanhPhanHoSo
    deleted: bool = False  # IsDeleted ("True"/"False")
    digitised: bool = False  # DuocSoHoa
    reuse: ReuseKind = ReuseKind.NOT_REUSED  # DuocTaiSuDung
    from_personal_store: bool = False  # DuocLayTuKhoDMQG
    replacing_result_code: str = ""  # MaKetQuaThayThe


@dataclass(frozen=True, slots=True)
class Fee:
    """One item of ``DanhSachLePhi`` (spec §4.4). Amount in đồng."""

    name: str  # TenPhiLePhi
    amount_vnd: int  # Gia
    code: str = ""  # MaPhiLePhi
    collection_form: str = ""  # HinhThucThu (code list unknown [?])
    fee_type: str = ""  # LoaiPhiLePhi (code list unknown [?])


@dataclass(frozen=True, slots=True)
class OtherPaper:
    """One item of ``DanhSachTepDinhKemKhac`` (spec §4.5): a paper item, not a file."""

    name: str  # TenGiayTo
    quantity: int  # SoLuong
    paper_type: int = 0  # LoaiGiayTo (code list unknown [?])


@dataclass(frozen=True, slots=True)
class Supplement:
    """One item of ``DanhSachHoSoBoSung`` (spec §4.6): a supplement round."""

    supplement_id: str  # HoSoBoSungId
    requested_by: str  # NguoiYeuCauBoSung
    content: str  # NoiDungBoSung
    requested_at: datetime  # NgayBoSung
    received_by: str = ""  # NguoiTiepNhanBoSung
    reception_info: str = ""  # ThongTinTiepNhan
    received_at: datetime | None = None  # NgayTiepNhanBoSung
    completed: bool = False  # TrangThaiBoSung
    documents: tuple[SubmittedDocument, ...] = ()  # DanhSachGiayToBoSung
    fees: tuple[Fee, ...] = ()  # DanhSachLePhiBoSung
    previous_due_at: datetime | None = None  # NgayHenTraTruoc
    new_due_at: datetime | None = None  # NgayHenTraMoi


@dataclass(frozen=True, slots=True)
class ResultDocument:
    """One item of ``DanhSachGiayToKetQua`` (spec §4.7): an issued paper."""

    name: str  # TenGiayTo
    document_id: str  # GiayToId
    download_url: str  # DuongDanTepTinKetQua
    component_code: str = ""  # MaThanhPhanHoSo
    result_code: str = ""  # MaGiayToKetQua


@dataclass(frozen=True, slots=True)
class OwnerIdentifier:
    """One item of ``DinhDanhCHS`` (spec §4.2, §6.8). The number is personal data."""

    kind: IdentifierKind  # LoaiDinhDanh
    number: str  # SoDinhDanh


@dataclass(frozen=True, slots=True)
class Dossier:
    """A full snapshot of one dossier (``DongBoHoSoMC`` item, spec §4.1 and §4.2)."""

    dossier_code: str  # MaHoSo
    agency_code: str  # madonvi (envelope): MaDinhDanh of the receiving agency
    procedure_code: str  # MaTTHC
    status: DossierStatus  # TrangThaiHoSo
    received_at: datetime | None  # NgayTiepNhan
    due_at: datetime | None  # NgayHenTra
    owner_name: str  # ChuHoSo
    applicant_type: ApplicantType = ApplicantType.CITIZEN  # LoaiDoiTuong
    procedure_name: str = ""  # TenTTHC
    field_code: str = ""  # MaLinhVuc
    field_name: str = ""  # TenLinhVuc
    channel: Channel | None = None  # KenhThucHien
    receipt_number: str = ""  # SoBienNhan
    owner_account_id: str = ""  # MaDoiTuong (DVCQG TechID of the owner)
    other_info: str = ""  # ThongTinKhac
    email: str = ""  # Email
    fax: str = ""  # Fax
    phone: str = ""  # SoDienThoai
    summary: str = ""  # TrichYeuHoSo
    returned_at: datetime | None = None  # NgayTra
    return_info: str = ""  # ThongTinTra
    delivery_form: DeliveryForm = DeliveryForm.AT_DESK  # HinhThuc
    processing_finished_at: datetime | None = None  # NgayKetThucXuLy
    handling_agency_name: str = ""  # DonViXuLy
    note: str = ""  # GhiChu
    documents: tuple[SubmittedDocument, ...] = ()  # TaiLieuNop
    fees: tuple[Fee, ...] = ()  # DanhSachLePhi
    other_papers: tuple[OtherPaper, ...] = ()  # DanhSachTepDinhKemKhac
    supplements: tuple[Supplement, ...] = ()  # DanhSachHoSoBoSung
    result_documents: tuple[ResultDocument, ...] = ()  # DanhSachGiayToKetQua
    owner_id_number: str = ""  # SoGiayToChuHoSo
    submission_place: str = ""  # NoiNopHoSo (1 portal, 2 local system [I])
    has_digitised_components: bool = False  # HoSoCoThanhPhanSoHoa
    vneid_verified: bool = False  # TaiKhoanDuocXacThucVoiVNeID
    online_payment: OnlinePayment = OnlinePayment.NONE  # DuocThanhToanTrucTuyen
    refused_at: datetime | None = None  # NgayTuChoi
    owner_identifiers: tuple[OwnerIdentifier, ...] = ()  # DinhDanhCHS
    submitted_at: datetime | None = None  # NgayNopHoSo
    databases_consulted: tuple[str, ...] = ()  # DSKetNoiCSDL[].MaCSDL
    origin_dossier_code: str = ""  # not sent: set for derived inter-agency (liên thông) dossiers

    kind = RecordKind.DOSSIER


@dataclass(frozen=True, slots=True)
class ProgressStep:
    """One processing step (``CapNhatTienDoHoSoMC`` item, spec §5)."""

    dossier_code: str  # MaHoSo
    agency_code: str  # madonvi (envelope)
    handler: str  # NguoiXuLy
    handled_at: datetime  # ThoiDiemXuLy
    action: str  # NoiDungXuLy
    status: DossierStatus  # TrangThai
    title: str = ""  # ChucDanh
    department: str = ""  # PhongBanXuLy
    started_at: datetime | None = None  # NgayBatDau
    deadline_at: datetime | None = None  # NgayKetThucTheoQuyDinh

    kind = RecordKind.PROGRESS


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of a dossier: a dossier update (status 9 or 10) plus its closing step."""

    dossier_code: str  # MaHoSo
    agency_code: str  # madonvi
    status: DossierStatus  # TrangThaiHoSo of the update, TrangThai of the closing step
    finished_at: datetime  # NgayKetThucXuLy, and ThoiDiemXuLy of the closing step
    handler: str  # NguoiXuLy of the closing step
    action: str = ""  # NoiDungXuLy of the closing step (defaults to the status label)
    returned_at: datetime | None = None  # NgayTra (status 10)
    return_info: str = ""  # ThongTinTra
    delivery_form: DeliveryForm | None = None  # HinhThuc, when it changed
    result_documents: tuple[ResultDocument, ...] = ()  # DanhSachGiayToKetQua
    title: str = ""  # ChucDanh of the closing step
    department: str = ""  # PhongBanXuLy of the closing step

    kind = RecordKind.RESULT


Record = Dossier | ProgressStep | Result
"""Any canonical record."""

RESULT_STATUSES = frozenset({DossierStatus.FINISHED, DossierStatus.RETURNED})


def apply_result(snapshot: Dossier, result: Result) -> tuple[Dossier, ProgressStep]:
    """The dossier update and the closing step a :class:`Result` stands for.

    ``snapshot`` is the latest known snapshot of the dossier; the update carries the result's
    status, dates and documents on top of it (the portal replaces whole snapshots).
    """
    update = replace(
        snapshot,
        status=result.status,
        processing_finished_at=result.finished_at,
        returned_at=result.returned_at or snapshot.returned_at,
        return_info=result.return_info or snapshot.return_info,
        delivery_form=(
            snapshot.delivery_form if result.delivery_form is None else result.delivery_form
        ),
        result_documents=result.result_documents or snapshot.result_documents,
    )
    step = ProgressStep(
        dossier_code=result.dossier_code,
        agency_code=result.agency_code,
        handler=result.handler,
        handled_at=result.returned_at or result.finished_at,
        action=result.action or result.status.label,
        status=result.status,
        title=result.title,
        department=result.department,
    )
    return update, step
