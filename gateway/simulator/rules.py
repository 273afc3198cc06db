"""What the simulated portal accepts in ``DongBoHoSoMC`` and ``CapNhatTienDoHoSoMC``.

Pure functions: a value in, a list of :class:`Problem` out (empty means accepted). No I/O, no
clock, no state; whether a ``MaHoSo`` already exists is the portal's business, not this
module's. Every rule, its spec section and its confidence label are listed in
``docs/simulator.md``. Reasons are Vietnamese because the portal answers in Vietnamese; they
never echo the offending value, so a rejected ID number does not end up in a log.

Field tables are data: ``{field name: check}``. A field missing from its table is rejected
("Trường ... không được hỗ trợ"); a check receives the field's path (``data[2].NgayHenTra``)
and value.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from urllib.parse import urlsplit

TIMESTAMP_DIGITS = 14
TRICH_YEU_MAX_CHARS = 1000
NGUOI_XU_LY_MAX_CHARS = 50

REQUIRED = "bắt buộc, không được để trống"
NOT_STRING = "phải là chuỗi ký tự (JSON string)"
NOT_DATE = "ngày không hợp lệ (định dạng yyyyMMddHHmmss)"
NOT_URL = "phải là URL tuyệt đối http(s)"
NOT_INTEGER = "phải là số nguyên (JSON integer)"
NOT_BOOLISH = 'phải là true/false hoặc "0", "1", "True", "False"'
NOT_ARRAY = "phải là mảng (JSON array)"
NOT_OBJECT = "phải là đối tượng (JSON object)"
NOT_DATA = "bắt buộc, phải là mảng JSON không rỗng"
NOT_IS_UPDATING = 'bắt buộc, phải là chuỗi "True" hoặc "False"'
_BOOLISH_TEXT = frozenset({"0", "1", "True", "False"})


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason to reject, at a path inside the request body."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


Check = Callable[[str, object], list[Problem]]
ItemRule = Callable[[str, dict[str, object]], list[Problem]]


# -- value predicates ---------------------------------------------------------------------


def is_timestamp(text: str) -> bool:
    """``yyyyMMddHHmmss``: exactly 14 ASCII digits forming a real calendar time."""
    if len(text) != TIMESTAMP_DIGITS or not (text.isascii() and text.isdigit()):
        return False
    year, month, day = int(text[0:4]), int(text[4:6]), int(text[6:8])
    hour, minute, second = int(text[8:10]), int(text[10:12]), int(text[12:14])
    try:  # only the calendar is checked: the zone (Vietnam time) is implied
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return False
    return True


def is_absolute_http_url(text: str) -> bool:
    """An http or https URL with a host, no whitespace and a valid port if one is given."""
    if any(char.isspace() for char in text):
        return False
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        return False
    return parts.scheme in {"http", "https"} and bool(parts.hostname)


def _is_blank(obj: Mapping[str, object], name: str) -> bool:
    """Absent, or a string with nothing but whitespace. ``null`` is a type error, not blank."""
    if name not in obj:
        return True
    value = obj[name]
    return isinstance(value, str) and not value.strip()


# -- checks -------------------------------------------------------------------------------


def text(max_chars: int | None = None) -> Check:
    """Any JSON string, optionally no longer than ``max_chars`` characters."""

    def check(path: str, value: object) -> list[Problem]:
        if not isinstance(value, str):
            return [Problem(path, NOT_STRING)]
        if max_chars is not None and len(value) > max_chars:
            return [Problem(path, f"dài quá {max_chars} ký tự")]
        return []

    return check


def one_of(*allowed: str) -> Check:
    """A JSON string taken from ``allowed`` (``""`` only if listed)."""
    shown = ", ".join(f'"{value}"' for value in allowed)

    def check(path: str, value: object) -> list[Problem]:
        if not isinstance(value, str):
            return [Problem(path, NOT_STRING)]
        if value not in allowed:
            return [Problem(path, f"giá trị không hợp lệ (chấp nhận: {shown})")]
        return []

    return check


def date(path: str, value: object) -> list[Problem]:
    """``""`` (unknown) or a valid ``yyyyMMddHHmmss`` string."""
    if not isinstance(value, str):
        return [Problem(path, NOT_STRING)]
    if value and not is_timestamp(value):
        return [Problem(path, NOT_DATE)]
    return []


def url(path: str, value: object) -> list[Problem]:
    """An absolute http(s) URL the portal could download; ``""`` is not one."""
    if not isinstance(value, str):
        return [Problem(path, NOT_STRING)]
    if not is_absolute_http_url(value):
        return [Problem(path, NOT_URL)]
    return []


def integer(path: str, value: object) -> list[Problem]:
    """A JSON integer (``true``/``false`` and ``1.0`` are not integers)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return [Problem(path, NOT_INTEGER)]
    return []


def boolish(path: str, value: object) -> list[Problem]:
    """A JSON boolean or one of the strings ``"0"``, ``"1"``, ``"True"``, ``"False"``."""
    if isinstance(value, bool) or (isinstance(value, str) and value in _BOOLISH_TEXT):
        return []
    return [Problem(path, NOT_BOOLISH)]


def check_object(
    path: str,
    value: object,
    fields: Mapping[str, Check],
    required: tuple[str, ...] = (),
) -> list[Problem]:
    """A JSON object whose every key is in ``fields`` and whose ``required`` keys are filled."""
    if not isinstance(value, dict):
        return [Problem(path, NOT_OBJECT)]
    problems: list[Problem] = []
    for name, field_value in value.items():
        check = fields.get(name)
        if check is None:
            problems.append(Problem(f"{path}.{name}", f"Trường {name} không được hỗ trợ"))
        elif not (name in required and _is_blank(value, name)):
            problems.extend(check(f"{path}.{name}", field_value))
    problems.extend(
        Problem(f"{path}.{name}", REQUIRED) for name in required if _is_blank(value, name)
    )
    return problems


def array_of(
    fields: Mapping[str, Check],
    *,
    required: tuple[str, ...] = (),
    item_rule: ItemRule | None = None,
) -> Check:
    """A JSON array (possibly empty) of objects checked by :func:`check_object`."""

    def check(path: str, value: object) -> list[Problem]:
        if not isinstance(value, list):
            return [Problem(path, NOT_ARRAY)]
        problems: list[Problem] = []
        for index, item in enumerate(value):
            item_path = f"{path}[{index}]"
            problems.extend(check_object(item_path, item, fields, required))
            if item_rule is not None and isinstance(item, dict):
                problems.extend(item_rule(item_path, item))
        return problems

    return check


def _identifier_length(path: str, item: dict[str, object]) -> list[Problem]:
    """``SoDinhDanh`` has 12 digits for ``LoaiDinhDanh`` 1 (CCCD) and 9 for 2 (old CMND)."""
    kind, number = item.get("LoaiDinhDanh"), item.get("SoDinhDanh")
    digits = {"1": 12, "2": 9}.get(kind) if isinstance(kind, str) else None
    if digits is None or not isinstance(number, str) or not number.strip():
        return []  # a wrong kind, a wrong type or a blank number is reported by its own check
    if len(number) == digits and number.isascii() and number.isdigit():
        return []
    return [
        Problem(f"{path}.SoDinhDanh", f"phải gồm đúng {digits} chữ số khi LoaiDinhDanh là {kind}")
    ]


# -- field tables -------------------------------------------------------------------------

_TEXT = text()
_FLAG = one_of("", "0", "1")
STATUS_CODES = tuple(str(code) for code in range(1, 11))

# §4.3; also the shape of DanhSachGiayToBoSung (§4.6)
DOCUMENT_FIELDS: Mapping[str, Check] = {
    "TepDinhKemId": _TEXT,
    "TenTepDinhKem": _TEXT,
    "IsDeleted": one_of("True", "False"),
    "MaThanhPhanHoSo": _TEXT,
    "DuongDanTaiTepTin": url,
    "DuocSoHoa": _FLAG,
    "DuocTaiSuDung": one_of("", "0", "1", "2"),
    "DuocLayTuKhoDMQG": _FLAG,
    "MaKetQuaThayThe": _TEXT,
}

# §4.4; also the shape of DanhSachLePhiBoSung (§4.6)
FEE_FIELDS: Mapping[str, Check] = dict.fromkeys(
    ("TenPhiLePhi", "MaPhiLePhi", "HinhThucThu", "Gia", "LoaiPhiLePhi"), _TEXT
)

# §4.5
OTHER_PAPER_FIELDS: Mapping[str, Check] = {
    "TenGiayTo": _TEXT,
    "SoLuong": integer,
    "LoaiGiayTo": integer,
}

# §4.6
SUPPLEMENT_FIELDS: Mapping[str, Check] = {
    "HoSoBoSungId": _TEXT,
    "NguoiYeuCauBoSung": _TEXT,
    "NoiDungBoSung": _TEXT,
    "NgayBoSung": date,
    "NguoiTiepNhanBoSung": _TEXT,
    "ThongTinTiepNhan": _TEXT,
    "NgayTiepNhanBoSung": date,
    "TrangThaiBoSung": boolish,
    "DanhSachGiayToBoSung": array_of(DOCUMENT_FIELDS),
    "DanhSachLePhiBoSung": array_of(FEE_FIELDS),
    "NgayHenTraTruoc": date,
    "NgayHenTraMoi": date,
}

# §4.7
RESULT_FIELDS: Mapping[str, Check] = {
    "TenGiayTo": _TEXT,
    "MaThanhPhanHoSo": _TEXT,
    "GiayToId": _TEXT,
    "DuongDanTepTinKetQua": url,
    "MaGiayToKetQua": _TEXT,
}

# §4.1 then §4.2, in the spec's order
DOSSIER_FIELDS: Mapping[str, Check] = {
    "MaHoSo": _TEXT,
    "MaTTHC": _TEXT,
    "TenTTHC": _TEXT,
    "MaLinhVuc": _TEXT,
    "TenLinhVuc": _TEXT,
    "KenhThucHien": one_of("", "1", "2", "3"),
    "SoBienNhan": _TEXT,
    "ChuHoSo": _TEXT,
    "LoaiDoiTuong": one_of("1", "2", "3", "4"),
    "MaDoiTuong": _TEXT,
    "ThongTinKhac": _TEXT,
    "Email": _TEXT,
    "Fax": _TEXT,
    "SoDienThoai": _TEXT,
    "TrichYeuHoSo": text(TRICH_YEU_MAX_CHARS),
    "NgayTiepNhan": date,
    "NgayHenTra": date,
    "TrangThaiHoSo": one_of(*STATUS_CODES),
    "NgayTra": date,
    "ThongTinTra": _TEXT,
    "HinhThuc": one_of("0", "1"),
    "NgayKetThucXuLy": date,
    "DonViXuLy": _TEXT,
    "GhiChu": _TEXT,
    "TaiLieuNop": array_of(DOCUMENT_FIELDS),
    "DanhSachLePhi": array_of(FEE_FIELDS),
    "DanhSachTepDinhKemKhac": array_of(OTHER_PAPER_FIELDS),
    "DanhSachHoSoBoSung": array_of(SUPPLEMENT_FIELDS),
    "DanhSachGiayToKetQua": array_of(RESULT_FIELDS),
    "SoGiayToChuHoSo": _TEXT,
    "NoiNopHoSo": _TEXT,
    "HoSoCoThanhPhanSoHoa": _FLAG,
    "TaiKhoanDuocXacThucVoiVNeID": _FLAG,
    "DuocThanhToanTrucTuyen": one_of("", "0", "1", "2"),
    "NgayTuChoi": date,
    "DinhDanhCHS": array_of(
        {"LoaiDinhDanh": one_of("1", "2"), "SoDinhDanh": _TEXT},
        required=("LoaiDinhDanh", "SoDinhDanh"),
        item_rule=_identifier_length,
    ),
    "NgayNopHoSo": date,
    "DSKetNoiCSDL": array_of({"MaCSDL": _TEXT}, required=("MaCSDL",)),
}
DOSSIER_REQUIRED = (
    "MaHoSo",
    "MaTTHC",
    "TenTTHC",
    "MaLinhVuc",
    "TenLinhVuc",
    "LoaiDoiTuong",
    "TrichYeuHoSo",
    "TrangThaiHoSo",
    "HinhThuc",
    "DonViXuLy",
)

# §5
PROGRESS_FIELDS: Mapping[str, Check] = {
    "MaHoSo": _TEXT,
    "NguoiXuLy": text(NGUOI_XU_LY_MAX_CHARS),
    "ChucDanh": _TEXT,
    "ThoiDiemXuLy": date,
    "PhongBanXuLy": _TEXT,
    "NoiDungXuLy": _TEXT,
    "TrangThai": one_of(*STATUS_CODES),
    "NgayBatDau": date,
    "NgayKetThucTheoQuyDinh": date,
}
PROGRESS_REQUIRED = ("MaHoSo", "NguoiXuLy", "ThoiDiemXuLy", "NoiDungXuLy", "TrangThai")

# Dates a dossier must carry, by TrangThaiHoSo: (field, needed for this status?, reason).
_STATUS_DATES: tuple[tuple[str, Callable[[object], bool], str], ...] = (
    ("NgayTiepNhan", lambda status: status != "1", "bắt buộc khi TrangThaiHoSo khác 1"),
    (
        "NgayHenTra",
        lambda status: status not in {"1", "3"},
        "bắt buộc khi TrangThaiHoSo khác 1 và 3",
    ),
    ("NgayTuChoi", lambda status: status == "3", "bắt buộc khi TrangThaiHoSo là 3"),
)


_SPEC_REQUIRED_DATES = ("NgayTiepNhan", "NgayHenTra")


def _catalogue_problems(
    path: str, code: object, procedure_codes: Container[str] | None
) -> list[Problem]:
    """``MaTTHC`` is in the catalogue (a wrong type or a blank code has its own problem)."""
    if procedure_codes is None or not isinstance(code, str) or not code.strip():
        return []
    if code in procedure_codes:
        return []
    reason = f"mã TTHC {code} không có trong danh mục TTHC của Cổng DVCQG"
    return [Problem(f"{path}.MaTTHC", reason)]


# -- public entry points ------------------------------------------------------------------


def check_dossier(
    path: str,
    item: object,
    *,
    procedure_codes: Container[str] | None = None,
    strict_dates: bool = False,
) -> list[Problem]:
    """Every problem with one ``DongBoHoSoMC`` dossier object.

    ``procedure_codes`` is the catalogue ``MaTTHC`` must come from; ``None`` skips that check.
    ``strict_dates``: ``NgayTiepNhan`` and ``NgayHenTra`` for every status (spec §4.1 as
    written), not only where the relaxation [I] wants them.
    """
    problems = check_object(path, item, DOSSIER_FIELDS, DOSSIER_REQUIRED)
    if not isinstance(item, dict):
        return problems
    status = item.get("TrangThaiHoSo")
    for name, needed, reason in _STATUS_DATES:
        spec_required = strict_dates and name in _SPEC_REQUIRED_DATES
        if (spec_required or needed(status)) and _is_blank(item, name):
            problems.append(
                Problem(f"{path}.{name}", "bắt buộc (§4.1)" if spec_required else reason)
            )
    problems.extend(_catalogue_problems(path, item.get("MaTTHC"), procedure_codes))
    return problems


def check_progress(path: str, item: object) -> list[Problem]:
    """Every problem with one ``CapNhatTienDoHoSoMC`` progress object."""
    return check_object(path, item, PROGRESS_FIELDS, PROGRESS_REQUIRED)


def check_data(value: object, check_item: Check) -> list[Problem]:
    """The ``data`` parameter: a non-empty array whose every item passes ``check_item``."""
    if not isinstance(value, list) or not value:
        return [Problem("data", NOT_DATA)]
    problems: list[Problem] = []
    for index, item in enumerate(value):
        problems.extend(check_item(f"data[{index}]", item))
    return problems


def check_dossier_data(
    value: object, *, procedure_codes: Container[str] | None = None, strict_dates: bool = False
) -> list[Problem]:
    """The ``data`` parameter of ``DongBoHoSoMC``."""
    check = partial(check_dossier, procedure_codes=procedure_codes, strict_dates=strict_dates)
    return check_data(value, check)


def check_progress_data(value: object) -> list[Problem]:
    """The ``data`` parameter of ``CapNhatTienDoHoSoMC``."""
    return check_data(value, check_progress)


def check_is_updating(value: object) -> list[Problem]:
    """``isUpdating`` is the string ``"True"`` or ``"False"``; a JSON boolean is refused."""
    if isinstance(value, str) and value in {"True", "False"}:
        return []
    return [Problem("isUpdating", NOT_IS_UPDATING)]
