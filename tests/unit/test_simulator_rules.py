"""The portal simulator's validation rules, one table row per rejection, plus its catalogue."""

from __future__ import annotations

import ast
import copy
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.simulator import catalogue, rules
from gateway.simulator.rules import Problem, check_dossier, check_is_updating, check_progress

DELETE = object()  # an edit value meaning "remove this key"

DOCUMENT: dict[str, Any] = {
    "TepDinhKemId": "f1",
    "TenTepDinhKem": "to-khai.pdf",
    "IsDeleted": "False",
    "MaThanhPhanHoSo": "TP1",
    "DuongDanTaiTepTin": "https://mc.example.vn/files/f1?download=1",
    "DuocSoHoa": "1",
    "DuocTaiSuDung": "0",
    "DuocLayTuKhoDMQG": "0",
    "MaKetQuaThayThe": "",
}
FEE: dict[str, Any] = {
    "TenPhiLePhi": "Lệ phí đăng ký",
    "MaPhiLePhi": "1",
    "HinhThucThu": "1",
    "Gia": "8000",
    "LoaiPhiLePhi": "1",
}
FULL_DOSSIER: dict[str, Any] = {
    "MaHoSo": "000.00.00.H56-260105-00001",
    "MaTTHC": "1.001193",
    "TenTTHC": "Thủ tục đăng ký khai sinh",
    "MaLinhVuc": "G15-TP07",
    "TenLinhVuc": "Hộ tịch",
    "KenhThucHien": "2",
    "SoBienNhan": "BN-0001",
    "ChuHoSo": "Nguyễn Văn A",
    "LoaiDoiTuong": "1",
    "MaDoiTuong": "",
    "ThongTinKhac": "",
    "Email": "a@example.vn",
    "Fax": "",
    "SoDienThoai": "0900000000",
    "TrichYeuHoSo": "Đăng ký khai sinh cho con",
    "NgayTiepNhan": "20260105083000",
    "NgayHenTra": "20260106170000",
    "TrangThaiHoSo": "4",
    "NgayTra": "",
    "ThongTinTra": "",
    "HinhThuc": "0",
    "NgayKetThucXuLy": "",
    "DonViXuLy": "UBND xã Đông Sơn",
    "GhiChu": "",
    "TaiLieuNop": [dict(DOCUMENT)],
    "DanhSachLePhi": [dict(FEE)],
    "DanhSachTepDinhKemKhac": [{"TenGiayTo": "Giấy chứng sinh", "SoLuong": 1, "LoaiGiayTo": 2}],
    "DanhSachHoSoBoSung": [
        {
            "HoSoBoSungId": "bs1",
            "NguoiYeuCauBoSung": "Chuyên viên",
            "NoiDungBoSung": "Bổ sung giấy chứng sinh",
            "NgayBoSung": "20260105090000",
            "NguoiTiepNhanBoSung": "Chuyên viên",
            "ThongTinTiepNhan": "",
            "NgayTiepNhanBoSung": "20260105100000",
            "TrangThaiBoSung": True,
            "DanhSachGiayToBoSung": [dict(DOCUMENT)],
            "DanhSachLePhiBoSung": [dict(FEE)],
            "NgayHenTraTruoc": "20260106170000",
            "NgayHenTraMoi": "20260107170000",
        }
    ],
    "DanhSachGiayToKetQua": [
        {
            "TenGiayTo": "Giấy khai sinh",
            "MaThanhPhanHoSo": "KQ1",
            "GiayToId": "r1",
            "DuongDanTepTinKetQua": "http://mc.example.vn:8080/kq/r1",
            "MaGiayToKetQua": "KQ.G15-TP07.1",
        }
    ],
    "SoGiayToChuHoSo": "001090000001",
    "NoiNopHoSo": "2",
    "HoSoCoThanhPhanSoHoa": "1",
    "TaiKhoanDuocXacThucVoiVNeID": "0",
    "DuocThanhToanTrucTuyen": "",
    "NgayTuChoi": "",
    "DinhDanhCHS": [
        {"LoaiDinhDanh": "1", "SoDinhDanh": "001090000001"},
        {"LoaiDinhDanh": "2", "SoDinhDanh": "123456789"},
    ],
    "NgayNopHoSo": "20260105080000",
    "DSKetNoiCSDL": [{"MaCSDL": "7"}],
}
FULL_PROGRESS: dict[str, Any] = {
    "MaHoSo": "000.00.00.H56-260105-00001",
    "NguoiXuLy": "Trần Thị B",
    "ChucDanh": "Công chức tư pháp - hộ tịch",
    "ThoiDiemXuLy": "20260105083000",
    "PhongBanXuLy": "Bộ phận một cửa",
    "NoiDungXuLy": "Tiếp nhận hồ sơ",
    "TrangThai": "2",
    "NgayBatDau": "20260105083000",
    "NgayKetThucTheoQuyDinh": "20260106170000",
}
CODES = frozenset(catalogue.load_catalogue().procedures)


def edited(base: dict[str, Any], edits: dict[str, object]) -> dict[str, Any]:
    """A deep copy of ``base`` with dotted paths (``TaiLieuNop.0.IsDeleted``) set or deleted."""
    result = copy.deepcopy(base)
    for where, value in edits.items():
        *parents, last = where.split(".")
        target: Any = result
        for step in parents:
            target = target[int(step)] if step.isdigit() else target[step]
        key: int | str = int(last) if last.isdigit() else last
        if value is DELETE:
            del target[key]
        else:
            target[key] = value
    return result


@dataclass(frozen=True)
class Case:
    """Apply ``edits``; expect exactly one problem at ``path`` whose reason contains ``reason``."""

    edits: dict[str, object]
    path: str
    reason: str


def case(where: str, value: object, reason: str, *, id: str) -> Any:
    return pytest.param(Case({where: value}, wire_path(where), reason), id=id)


def wire_path(where: str) -> str:
    """``TaiLieuNop.0.IsDeleted`` -> ``TaiLieuNop[0].IsDeleted``, as problems spell paths."""
    path = ""
    for step in where.split("."):
        path += f"[{step}]" if step.isdigit() else f".{step}" if path else step
    return path


BAD_DATE = "ngày không hợp lệ (định dạng yyyyMMddHHmmss)"
REQUIRED = "bắt buộc, không được để trống"
NOT_STRING = "phải là chuỗi ký tự"
BAD_VALUE = "giá trị không hợp lệ"
NOT_URL = "phải là URL tuyệt đối http(s)"
NOT_INTEGER = "phải là số nguyên"

DOSSIER_DATES = ("NgayTiepNhan", "NgayHenTra", "NgayTra", "NgayKetThucXuLy", "NgayTuChoi")
NESTED_DATES = (
    "DanhSachHoSoBoSung.0.NgayBoSung",
    "DanhSachHoSoBoSung.0.NgayTiepNhanBoSung",
    "DanhSachHoSoBoSung.0.NgayHenTraTruoc",
    "DanhSachHoSoBoSung.0.NgayHenTraMoi",
)
BAD_DATES = {
    "iso": "2026-01-05T08:30:00",
    "13-digits": "2026010508300",
    "15-digits": "202601050830000",
    "feb-30": "20260230083000",
    "month-13": "20261305083000",
    "hour-24": "20260105240000",
    "second-60": "20260105083060",
    "year-0": "00000105083000",
    "spaces": " 20260105083000",
    "non-ascii-digits": "２０２６０１０５０８３０００",
}
BAD_URLS = {
    "empty": "",
    "relative": "/files/f1",
    "ftp": "ftp://mc.example.vn/f1",
    "no-host": "http://",
    "bad-port": "http://mc.example.vn:99999/f1",
    "space": "https://mc.example.vn/a b",
    "no-scheme": "mc.example.vn/f1",
}

DOSSIER_REJECTIONS = [
    # only the fields of §4.1-§4.7 exist
    case("Foo", "x", "Trường Foo không được hỗ trợ", id="unknown-field"),
    case("TaiLieuNop.0.Foo", "x", "Trường Foo không được hỗ trợ", id="unknown-nested-field"),
    case("NguoiXuLy", "x", "Trường NguoiXuLy không được hỗ trợ", id="progress-field-in-dossier"),
    # every scalar is a JSON string
    case("MaHoSo", 123, NOT_STRING, id="number-for-string"),
    case("TrangThaiHoSo", 4, NOT_STRING, id="number-for-status"),
    case("Email", None, NOT_STRING, id="null-for-string"),
    case("KenhThucHien", 2, NOT_STRING, id="number-for-channel"),
    case("NgayTiepNhan", 20260105083000, NOT_STRING, id="number-for-date"),
    case("DanhSachLePhi.0.Gia", 8000, NOT_STRING, id="number-for-fee"),
    case("DuocThanhToanTrucTuyen", False, NOT_STRING, id="bool-for-flag"),
    # required fields
    *(
        case(name, value, REQUIRED, id=f"required-{name}-{label}")
        for name in rules.DOSSIER_REQUIRED
        for label, value in (("missing", DELETE), ("empty", ""), ("blank", "  "))
    ),
    # dates required by status
    case("NgayTiepNhan", DELETE, "bắt buộc khi TrangThaiHoSo khác 1", id="reception-date"),
    case("NgayTiepNhan", "", "bắt buộc khi TrangThaiHoSo khác 1", id="reception-date-empty"),
    case("NgayHenTra", DELETE, "bắt buộc khi TrangThaiHoSo khác 1 và 3", id="due-date"),
    case("NgayHenTra", "", "bắt buộc khi TrangThaiHoSo khác 1 và 3", id="due-date-empty"),
    # date format, top level and nested
    *(
        case(name, value, BAD_DATE, id=f"date-{name}-{label}")
        for name in (*DOSSIER_DATES, "NgayNopHoSo")
        for label, value in BAD_DATES.items()
    ),
    *(case(where, "20260132000000", BAD_DATE, id=f"date-{where}") for where in NESTED_DATES),
    # enumerations
    *(
        case(name, value, BAD_VALUE, id=f"enum-{name}-{value or 'empty'}")
        for name, values in {
            "TrangThaiHoSo": ("0", "11", "04", " 4"),
            "KenhThucHien": ("0", "4", "Trực tuyến"),
            "LoaiDoiTuong": ("0", "5"),
            "HinhThuc": ("2", "00"),
            "DuocThanhToanTrucTuyen": ("3", "x"),
            "HoSoCoThanhPhanSoHoa": ("2", "true"),
            "TaiKhoanDuocXacThucVoiVNeID": ("2", "True"),
            "TaiLieuNop.0.IsDeleted": ("", "true", "0", "1"),
            "TaiLieuNop.0.DuocSoHoa": ("2",),
            "TaiLieuNop.0.DuocLayTuKhoDMQG": ("True",),
            "TaiLieuNop.0.DuocTaiSuDung": ("3",),
            "DanhSachHoSoBoSung.0.DanhSachGiayToBoSung.0.IsDeleted": ("no",),
            "DinhDanhCHS.0.LoaiDinhDanh": ("3", "0"),
        }.items()
        for value in values
    ),
    # identifiers
    case("DinhDanhCHS.0.SoDinhDanh", "00109000000", "12 chữ số", id="cccd-11-digits"),
    case("DinhDanhCHS.0.SoDinhDanh", "123456789", "12 chữ số", id="cccd-9-digits"),
    case("DinhDanhCHS.0.SoDinhDanh", "00109000000A", "12 chữ số", id="cccd-letter"),
    case("DinhDanhCHS.1.SoDinhDanh", "001090000001", "9 chữ số", id="cmnd-12-digits"),
    case("DinhDanhCHS.1.SoDinhDanh", "12345678 ", "9 chữ số", id="cmnd-space"),
    case("DinhDanhCHS.0.SoDinhDanh", DELETE, REQUIRED, id="identifier-number-missing"),
    case("DinhDanhCHS.0.LoaiDinhDanh", DELETE, REQUIRED, id="identifier-kind-missing"),
    case("DinhDanhCHS.0.SoDinhDanh", 1090000001, NOT_STRING, id="identifier-number-type"),
    case("DSKetNoiCSDL.0.MaCSDL", DELETE, REQUIRED, id="database-code-missing"),
    case("DSKetNoiCSDL.0.MaCSDL", 7, NOT_STRING, id="database-code-type"),
    # URLs
    *(
        case(where, value, NOT_URL, id=f"url-{where.split('.')[-1]}-{label}")
        for where in (
            "TaiLieuNop.0.DuongDanTaiTepTin",
            "DanhSachGiayToKetQua.0.DuongDanTepTinKetQua",
        )
        for label, value in BAD_URLS.items()
    ),
    # lengths
    case("TrichYeuHoSo", "x" * 1001, "dài quá 1000 ký tự", id="summary-too-long"),
    # the two integers and the one boolean
    case("DanhSachTepDinhKemKhac.0.SoLuong", "1", NOT_INTEGER, id="count-string"),
    case("DanhSachTepDinhKemKhac.0.SoLuong", 1.5, NOT_INTEGER, id="count-float"),
    case("DanhSachTepDinhKemKhac.0.SoLuong", True, NOT_INTEGER, id="count-bool"),
    case("DanhSachTepDinhKemKhac.0.LoaiGiayTo", "2", NOT_INTEGER, id="kind-string"),
    case("DanhSachTepDinhKemKhac.0.LoaiGiayTo", None, NOT_INTEGER, id="kind-null"),
    *(
        case("DanhSachHoSoBoSung.0.TrangThaiBoSung", value, "phải là true/false", id=f"bool-{i}")
        for i, value in enumerate(("yes", "true", 1, 0, None, ""))
    ),
    # arrays and their items
    case("TaiLieuNop", {}, "phải là mảng (JSON array)", id="array-is-object"),
    case("DanhSachLePhi", None, "phải là mảng (JSON array)", id="array-is-null"),
    case("DinhDanhCHS", "001090000001", "phải là mảng (JSON array)", id="array-is-string"),
    case("TaiLieuNop.0", "f1", "phải là đối tượng (JSON object)", id="item-is-string"),
    case("DanhSachGiayToKetQua.0", [], "phải là đối tượng (JSON object)", id="item-is-array"),
    # catalogue
    case("MaTTHC", "9.999999", "mã TTHC 9.999999 không có trong danh mục", id="unknown-tthc"),
    case("MaTTHC", "1.001193.000.00.00.H56", "không có trong danh mục", id="local-tthc-code"),
]


def test_fixture_uses_every_field() -> None:
    assert set(FULL_DOSSIER) == set(rules.DOSSIER_FIELDS)
    assert set(FULL_PROGRESS) == set(rules.PROGRESS_FIELDS)


def test_full_dossier_is_accepted() -> None:
    assert check_dossier("data[0]", FULL_DOSSIER, procedure_codes=CODES) == []


@pytest.mark.parametrize(
    "edits",
    [
        pytest.param({}, id="as-is"),
        pytest.param({"TrangThaiHoSo": "1", "NgayTiepNhan": "", "NgayHenTra": ""}, id="status-1"),
        pytest.param(
            {"TrangThaiHoSo": "3", "NgayHenTra": "", "NgayTuChoi": "20260105090000"},
            id="status-3-refused",
        ),
        pytest.param({"TrichYeuHoSo": "x" * 1000}, id="summary-1000"),
        pytest.param({"TaiLieuNop": [], "DinhDanhCHS": []}, id="empty-arrays"),
        pytest.param({"DanhSachHoSoBoSung.0.TrangThaiBoSung": "0"}, id="bool-text-0"),
        pytest.param({"DanhSachHoSoBoSung.0.TrangThaiBoSung": "True"}, id="bool-text-true"),
        pytest.param({"DanhSachHoSoBoSung.0.TrangThaiBoSung": False}, id="bool-false"),
        pytest.param({"NgayTra": "20240229235959"}, id="leap-day"),
        pytest.param({"DanhSachTepDinhKemKhac.0.SoLuong": 0}, id="count-zero"),
        pytest.param({"TaiLieuNop.0.DuongDanTaiTepTin": "HTTP://MC.example.vn/f"}, id="url-caps"),
        pytest.param({"TenTTHC": "Tên khác danh mục"}, id="name-not-checked"),
        pytest.param({"MaLinhVuc": "X"}, id="field-code-not-checked"),
        *(
            pytest.param({"TrangThaiHoSo": str(code)}, id=f"status-{code}")
            for code in (2, *range(4, 11))
        ),
    ],
)
def test_valid_variants_are_accepted(edits: dict[str, object]) -> None:
    dossier = edited(FULL_DOSSIER, edits)
    assert check_dossier("data[0]", dossier, procedure_codes=CODES) == []


def test_minimal_dossier_is_accepted() -> None:
    names = (*rules.DOSSIER_REQUIRED, "NgayTiepNhan", "NgayHenTra")
    minimal = {name: FULL_DOSSIER[name] for name in names}
    assert check_dossier("data[0]", minimal, procedure_codes=CODES) == []


@pytest.mark.parametrize("rule", DOSSIER_REJECTIONS)
def test_dossier_rejection(rule: Case) -> None:
    problems = check_dossier("data[3]", edited(FULL_DOSSIER, rule.edits), procedure_codes=CODES)
    assert [problem.path for problem in problems] == [f"data[3].{rule.path}"]
    assert rule.reason in problems[0].reason


def test_refusal_needs_a_refusal_date() -> None:
    dossier = edited(FULL_DOSSIER, {"TrangThaiHoSo": "3"})
    assert check_dossier("data[0]", dossier) == [
        Problem("data[0].NgayTuChoi", "bắt buộc khi TrangThaiHoSo là 3")
    ]


def test_reasons_read_as_the_portal_writes_them() -> None:
    dossier = edited(FULL_DOSSIER, {"NgayHenTra": "20260230080000"})
    [problem] = check_dossier("data[2]", dossier)
    assert str(problem) == "data[2].NgayHenTra: ngày không hợp lệ (định dạng yyyyMMddHHmmss)"


def test_every_problem_is_reported_not_only_the_first() -> None:
    dossier = edited(FULL_DOSSIER, {"Foo": 1, "MaHoSo": DELETE, "NgayTra": "x", "HinhThuc": "9"})
    paths = [problem.path for problem in check_dossier("data[0]", dossier)]
    assert sorted(paths) == sorted(
        ["data[0].Foo", "data[0].MaHoSo", "data[0].NgayTra", "data[0].HinhThuc"]
    )


def test_catalogue_check_can_be_switched_off() -> None:
    dossier = edited(FULL_DOSSIER, {"MaTTHC": "9.999999"})
    assert check_dossier("data[0]", dossier, procedure_codes=None) == []


def test_reasons_do_not_echo_identifier_numbers() -> None:
    dossier = edited(FULL_DOSSIER, {"DinhDanhCHS.0.SoDinhDanh": "0010900000"})
    [problem] = check_dossier("data[0]", dossier)
    assert "0010900000" not in problem.reason


@pytest.mark.parametrize("item", ["x", 1, None, [FULL_DOSSIER]])
def test_dossier_that_is_not_an_object(item: object) -> None:
    assert check_dossier("data[1]", item) == [Problem("data[1]", "phải là đối tượng (JSON object)")]


PROGRESS_REJECTIONS = [
    case("Foo", "x", "Trường Foo không được hỗ trợ", id="unknown-field"),
    case("TrangThaiHoSo", "2", "Trường TrangThaiHoSo không được hỗ trợ", id="dossier-field"),
    *(
        case(name, value, REQUIRED, id=f"required-{name}-{label}")
        for name in rules.PROGRESS_REQUIRED
        for label, value in (("missing", DELETE), ("empty", ""))
    ),
    *(
        case(name, value, BAD_DATE, id=f"date-{name}-{label}")
        for name in ("ThoiDiemXuLy", "NgayBatDau", "NgayKetThucTheoQuyDinh")
        for label, value in BAD_DATES.items()
    ),
    *(case("TrangThai", value, BAD_VALUE, id=f"status-{value}") for value in ("0", "11", "x")),
    case("TrangThai", 2, NOT_STRING, id="status-number"),
    case("ChucDanh", None, NOT_STRING, id="null-text"),
    case("NguoiXuLy", "x" * 51, "dài quá 50 ký tự", id="handler-too-long"),
]


def test_full_progress_is_accepted() -> None:
    assert check_progress("data[0]", FULL_PROGRESS) == []


@pytest.mark.parametrize(
    "edits",
    [
        pytest.param({"NguoiXuLy": "x" * 50}, id="handler-50"),
        pytest.param({"NgayBatDau": "", "NgayKetThucTheoQuyDinh": ""}, id="optional-dates-empty"),
        pytest.param({"ChucDanh": DELETE, "PhongBanXuLy": DELETE}, id="optional-text-absent"),
    ],
)
def test_valid_progress_variants_are_accepted(edits: dict[str, object]) -> None:
    assert check_progress("data[0]", edited(FULL_PROGRESS, edits)) == []


@pytest.mark.parametrize("rule", PROGRESS_REJECTIONS)
def test_progress_rejection(rule: Case) -> None:
    problems = check_progress("data[1]", edited(FULL_PROGRESS, rule.edits))
    assert [problem.path for problem in problems] == [f"data[1].{rule.path}"]
    assert rule.reason in problems[0].reason


@pytest.mark.parametrize("value", [None, [], {}, "x", {"MaHoSo": "1"}])
def test_data_must_be_a_non_empty_array(value: object) -> None:
    expected = [Problem("data", "bắt buộc, phải là mảng JSON không rỗng")]
    assert rules.check_dossier_data(value) == expected
    assert rules.check_progress_data(value) == expected


def test_data_problems_name_the_item_index() -> None:
    bad = edited(FULL_PROGRESS, {"TrangThai": "0"})
    problems = rules.check_progress_data([FULL_PROGRESS, FULL_PROGRESS, bad])
    assert [problem.path for problem in problems] == ["data[2].TrangThai"]


@pytest.mark.parametrize("value", ["True", "False"])
def test_is_updating_accepts_the_two_strings(value: str) -> None:
    assert check_is_updating(value) == []


@pytest.mark.parametrize("value", [True, False, "true", "false", "1", "0", "", None, 1, [], {}])
def test_is_updating_refuses_anything_else(value: object) -> None:
    expected = [Problem("isUpdating", 'bắt buộc, phải là chuỗi "True" hoặc "False"')]
    assert check_is_updating(value) == expected


# -- catalogue ----------------------------------------------------------------------------


def test_catalogue_holds_the_samples() -> None:
    loaded = catalogue.load_catalogue()
    assert len(loaded.procedures) == 57
    assert len(loaded.agencies) == 32
    birth = loaded.procedures["1.001193"]
    assert (birth.ma_tthc, birth.ten_tthc, birth.ma_linh_vuc, birth.ten_linh_vuc) == (
        "1.001193",
        "Thủ tục đăng ký khai sinh",
        "G15-TP07",
        "Hộ tịch",
    )
    assert birth.cap_thuc_hien == "Cấp Xã"
    assert birth.thoi_han.startswith("1 OTHER")
    assert loaded.agencies["000.00.00.H56"].name == "UBND tỉnh Thanh Hóa"
    assert "H56.24(C)" in loaded.agencies


def test_catalogue_copies_values_as_seen() -> None:
    loaded = catalogue.load_catalogue()
    assert loaded.procedures["3.000333"].ma_linh_vuc == ""  # no field code in the sample
    assert all(code == procedure.ma_tthc for code, procedure in loaded.procedures.items())


# -- independence -------------------------------------------------------------------------

SIMULATOR_DIR = Path(catalogue.__file__).parent
PORTAL_MODULES = (
    "catalogue",
    "catalogue_services",
    "rules",
    "portal",
    "contracts",
    "xroad",
    "lgsp",
    "faults",
    "hosted",
    "strict",
)
# the package also holds other simulators. Besides the standard library and aiohttp the portal
# may read the contract files (the ``contracts`` package) with validators of its own.
CONTRACT_READERS = ("contracts", "jsonschema", "xmlschema", "lxml")


@pytest.mark.parametrize("module", ["__init__", *PORTAL_MODULES])
def test_portal_simulator_imports_only_stdlib_aiohttp_and_itself(module: str) -> None:
    """An independent check of our wire code must not share it (docs/simulator.md)."""
    tree = ast.parse((SIMULATOR_DIR / f"{module}.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            names = [f"gateway.simulator.{node.module or alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            own = name.removeprefix("gateway.simulator.").split(".")[0] in PORTAL_MODULES
            allowed = (
                top in sys.stdlib_module_names or top == "aiohttp" or own or top in CONTRACT_READERS
            )
            assert allowed, f"{module}.py imports {name}"
