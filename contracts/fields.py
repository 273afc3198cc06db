"""The DVCQG field tables, once: every contract file in ``dvcqg/v1/`` is generated from them.

Each field names the spec section it comes from and the confidence label of that section
(``docs/spec/dvcqg.md``: [C] confirmed, [C1] one implementation, [I] inferred,
[?] unknown). ``python -m contracts.generate`` rewrites the JSON Schemas, the XSD and the
WSDL; a test fails when a committed contract differs from what the tables say.
"""

from __future__ import annotations

from dataclasses import dataclass

STATUS_CODES = tuple(str(code) for code in range(1, 11))
DATE_PATTERN = (
    "[0-9]{4}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])([01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]"
)
"""``yyyyMMddHHmmss`` in Asia/Ho_Chi_Minh (§4, [C]); ``""`` means unknown."""


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a DVCQG object.

    ``kind``: ``text`` (string), ``date`` (``""`` or yyyyMMddHHmmss), ``enum`` (one of
    ``values``), ``url`` (absolute http(s) URL), ``int`` (JSON integer), ``array`` (of the
    object named by ``item``).
    """

    name: str
    kind: str
    source: str
    required: bool = False
    values: tuple[str, ...] = ()
    max_chars: int | None = None
    item: str = ""
    doc: str = ""


def _t(
    name: str, source: str, *, required: bool = False, max_chars: int | None = None, doc: str = ""
) -> Field:
    return Field(name, "text", source, required=required, max_chars=max_chars, doc=doc)


def _d(name: str, source: str, doc: str = "") -> Field:
    return Field(name, "date", source, doc=doc)


def _e(
    name: str, source: str, values: tuple[str, ...], *, required: bool = False, doc: str = ""
) -> Field:
    return Field(name, "enum", source, required=required, values=values, doc=doc)


def _a(name: str, source: str, item: str, doc: str = "") -> Field:
    return Field(name, "array", source, item=item, doc=doc)


FLAG = ("", "0", "1")

DOCUMENT = (  # TaiLieuNop item, §4.3; also DanhSachGiayToBoSung (§4.6)
    _t("TepDinhKemId", "§4.3 [C]"),
    _t("TenTepDinhKem", "§4.3 [C]; TD truncates near 4000 characters [I]", max_chars=4000),
    _e("IsDeleted", "§4.3 [C]", ("True", "False")),
    _t("MaThanhPhanHoSo", "§4.3 [C]"),
    Field("DuongDanTaiTepTin", "url", "§4.3 [C]: an absolute URL the portal can download"),
    _e("DuocSoHoa", "§4.3 [C1], §6.6 [C]", FLAG),
    _e("DuocTaiSuDung", "§4.3, §6.7 [C1]", ("", "0", "1", "2")),
    _e("DuocLayTuKhoDMQG", "§4.3 [C], §6.6", FLAG),
    _t("MaKetQuaThayThe", "§4.3 [C1]"),
)
FEE = tuple(  # DanhSachLePhi item, §4.4 [C]; code lists of LoaiPhiLePhi/HinhThucThu [?]
    _t(name, "§4.4 [C]")
    for name in ("TenPhiLePhi", "MaPhiLePhi", "HinhThucThu", "Gia", "LoaiPhiLePhi")
)
OTHER_PAPER = (  # DanhSachTepDinhKemKhac item, §4.5 [C]
    _t("TenGiayTo", "§4.5 [C]"),
    Field("SoLuong", "int", "§4.5 [C]"),
    Field("LoaiGiayTo", "int", "§4.5 [C]; code list [?]"),
)
SUPPLEMENT = (  # DanhSachHoSoBoSung item, §4.6 [C]
    _t("HoSoBoSungId", "§4.6 [C]"),
    _t("NguoiYeuCauBoSung", "§4.6 [C]"),
    _t("NoiDungBoSung", "§4.6 [C]"),
    _d("NgayBoSung", "§4.6 [C]"),
    _t("NguoiTiepNhanBoSung", "§4.6 [C]"),
    _t("ThongTinTiepNhan", "§4.6 [C]"),
    _d("NgayTiepNhanBoSung", "§4.6 [C]"),
    _e("TrangThaiBoSung", "§4.6 [C] (a bool in TD [C1])", ("True", "False", "0", "1")),
    _a("DanhSachGiayToBoSung", "§4.6 [C]", "TepDinhKem"),
    _a("DanhSachLePhiBoSung", "§4.6 [C]", "LePhi"),
    _d("NgayHenTraTruoc", "§4.6 [C]"),
    _d("NgayHenTraMoi", "§4.6 [C]"),
)
RESULT_DOCUMENT = (  # DanhSachGiayToKetQua item, §4.7 [C]
    _t("TenGiayTo", "§4.7 [C]"),
    _t("MaThanhPhanHoSo", "§4.7 [C]"),
    _t("GiayToId", "§4.7 [C]"),
    Field("DuongDanTepTinKetQua", "url", "§4.7 [C]: downloadable result link (766 ind. 4.1)"),
    _t("MaGiayToKetQua", "§4.7 [C]"),
)
IDENTIFIER = (  # DinhDanhCHS item, §4.2, §6.8 [C1]
    _e("LoaiDinhDanh", "§6.8 [C1]: 1 = 12-digit CCCD, 2 = 9-digit CMND", ("1", "2"), required=True),
    _t("SoDinhDanh", "§4.2 [C1]; 12 digits for kind 1, 9 for kind 2", required=True),
)
DATABASE = (_t("MaCSDL", "§4.2 [C1]; code list [?]", required=True),)

DOSSIER = (  # DongBoHoSoMC data item: §4.1 then §4.2
    _t("MaHoSo", "§4.1 [C]", required=True),
    _t("MaTTHC", "§4.1 [C]: DVCQG procedure code (mapped from local codes)", required=True),
    _t("TenTTHC", "§4.1 [C]", required=True),
    _t("MaLinhVuc", "§4.1 [C]", required=True),
    _t("TenLinhVuc", "§4.1 [C]", required=True),
    _e(
        "KenhThucHien",
        "§4.1 (new), §6.2 [C]; empty counts as direct (766 ind. 3.3)",
        ("", "1", "2", "3"),
    ),
    _t("SoBienNhan", "§4.1 [C1]"),
    _t("ChuHoSo", "§4.1 [C]"),
    _e("LoaiDoiTuong", "§4.1, §6.3 [C for 1-2, C1 for 3-4]", ("1", "2", "3", "4"), required=True),
    _t("MaDoiTuong", "§4.1, §2.6 [C]: the owner's DVCQG TechID"),
    _t("ThongTinKhac", "§4.1 [C]"),
    _t("Email", "§4.1 [C] (may be empty)"),
    _t("Fax", "§4.1 [C]"),
    _t("SoDienThoai", "§4.1 [C] (may be empty)"),
    _t(
        "TrichYeuHoSo",
        "§4.1 [C]; 1000 characters at most [I] (TD truncates there)",
        required=True,
        max_chars=1000,
    ),
    _d("NgayTiepNhan", "§4.1 [C]; required unless TrangThaiHoSo is 1 (766 ind. 1.4) [I]"),
    _d("NgayHenTra", "§4.1 [C]; required unless TrangThaiHoSo is 1 or 3 (766 ind. 2.1) [I]"),
    _e("TrangThaiHoSo", "§4.1, §6.1 [C]", STATUS_CODES, required=True),
    _d("NgayTra", "§4.1 [C]"),
    _t("ThongTinTra", "§4.1 [C]"),
    _e("HinhThuc", "§4.1, §6.4 [C]: 0 at the desk, 1 by post", ("0", "1"), required=True),
    _d("NgayKetThucXuLy", "§4.1 [C]; compared with NgayHenTra by 766 ind. 2.1"),
    _t("DonViXuLy", "§4.1 [C]", required=True),
    _t("GhiChu", "§4.1 [C]"),
    _a("TaiLieuNop", "§4.1, §4.3 [C]", "TepDinhKem"),
    _a("DanhSachLePhi", "§4.1, §4.4 [C]", "LePhi"),
    _a("DanhSachTepDinhKemKhac", "§4.1, §4.5 [C]", "GiayToKhac"),
    _a("DanhSachHoSoBoSung", "§4.1, §4.6 [C]", "HoSoBoSung"),
    _a("DanhSachGiayToKetQua", "§4.1, §4.7 [C]", "GiayToKetQua"),
    _t("SoGiayToChuHoSo", "§4.2 [C1]"),
    _t("NoiNopHoSo", "§4.2 [C1]: 1 portal, 2 local system [I]"),
    _e("HoSoCoThanhPhanSoHoa", "§4.2, §6.6 [C]", FLAG),
    _e("TaiKhoanDuocXacThucVoiVNeID", "§4.2, §6.6 [C]", FLAG),
    _e("DuocThanhToanTrucTuyen", "§4.2, §6.5 [C]; 0 = none [I]", ("", "0", "1", "2")),
    _d("NgayTuChoi", "§4.2 [C1]; required when TrangThaiHoSo is 3 [I]"),
    _a("DinhDanhCHS", "§4.2, §6.8 [C1]", "DinhDanh"),
    _d("NgayNopHoSo", "§4.2 [C1]"),
    _a("DSKetNoiCSDL", "§4.2 [C1]", "KetNoiCSDL"),
)

PROGRESS = (  # CapNhatTienDoHoSoMC data item, §5
    _t("MaHoSo", "§5 [C]", required=True),
    _t(
        "NguoiXuLy",
        "§5 [C]; 50 characters at most [I] (TD truncates there)",
        required=True,
        max_chars=50,
    ),
    _t("ChucDanh", "§5 [C]"),
    Field(
        "ThoiDiemXuLy", "date", "§5 [C]: yyyyMMddHHmmss; scoring data (766 ind. 2.1)", required=True
    ),
    _t("PhongBanXuLy", "§5 [C]"),
    _t("NoiDungXuLy", "§5 [C]", required=True),
    _e("TrangThai", "§5, §6.1 [C]", STATUS_CODES, required=True),
    _d("NgayBatDau", "§5 [C]"),
    _d("NgayKetThucTheoQuyDinh", "§5 [C]"),
)

OBJECTS: dict[str, tuple[Field, ...]] = {
    "HoSo": DOSSIER,
    "TienDo": PROGRESS,
    "TepDinhKem": DOCUMENT,
    "LePhi": FEE,
    "GiayToKhac": OTHER_PAPER,
    "HoSoBoSung": SUPPLEMENT,
    "GiayToKetQua": RESULT_DOCUMENT,
    "DinhDanh": IDENTIFIER,
    "KetNoiCSDL": DATABASE,
}
"""Every object type, by the name the XSD gives it."""

STATUS_DATES = (
    ("NgayTiepNhan", ("1",), "§4.1 [C] + 766 ind. 1.4: every received dossier has it [I]"),
    ("NgayHenTra", ("1", "3"), "§4.1 [C] + 766 ind. 2.1: the on-time basis [I]"),
)
"""Dates required for every status except the listed ones."""

SPEC_REQUIRED_DATES = ("NgayTiepNhan", "NgayHenTra")
"""§4.1 [C] marks both required for every dossier; :data:`STATUS_DATES` excuses them for some
statuses by inference [I]. Whether the gateway relies on that inference is a setting
(``portal.relax_status_dates``)."""


def missing_dates(item: dict[str, object], *, relaxed: bool) -> list[str]:
    """The required dates an encoded dossier lacks: with ``relaxed``, as :data:`STATUS_DATES`
    says for its ``TrangThaiHoSo``; without, every date of :data:`SPEC_REQUIRED_DATES`."""
    status = item.get("TrangThaiHoSo")
    excused = {name for name, skip, _ in STATUS_DATES if relaxed and status in skip}
    return [n for n in SPEC_REQUIRED_DATES if n not in excused and not item.get(n)]
