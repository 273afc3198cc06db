"""The portal simulator over real HTTP: a loopback server and a real ``aiohttp.ClientSession``."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from gateway.simulator import PortalState, SimulatorSettings, create_app, run_simulator
from gateway.simulator.portal import STATE_KEY

AGENCY = "000.00.00.H56"
BAD_SESSION = {"error_code": 401, "message": "Phiên làm việc không hợp lệ hoặc đã hết hạn"}
OK = {"error_code": 0, "message": "Thành công"}
NOT_JSON = {"error_code": -1, "message": "Dữ liệu gửi lên không phải JSON hợp lệ"}


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Portal:
    """A running simulator and a client for it."""

    http: aiohttp.ClientSession
    server: TestServer
    state: PortalState
    clock: FakeClock

    async def post(self, path: str, body: object = None, *, raw: bytes | None = None) -> Any:
        """POST JSON (or raw bytes); return the decoded JSON answer, checking HTTP 200."""
        status, answer = await self.post_status(path, body, raw=raw)
        assert status == 200
        return answer

    async def post_status(
        self, path: str, body: object = None, *, raw: bytes | None = None
    ) -> tuple[int, Any]:
        data = raw if raw is not None else None
        json_body = body if raw is None else None
        async with self.http.post(self.server.make_url(path), json=json_body, data=data) as resp:
            answer = await resp.json()
            if isinstance(answer, dict) and "error_code" in answer:
                assert type(answer["error_code"]) is int
            return resp.status, answer

    async def login(self) -> str:
        answer = await self.post("/mapi/login", {"username": "simulator", "password": "simulator"})
        assert answer["error_code"] == 0
        session: str = answer["session"]
        return session

    async def call(self, service: str, session: str, **params: Any) -> Any:
        body = {"session": session, "madonvi": AGENCY, "service": service, **params}
        return await self.post("/mapi/g", body)

    async def sync(
        self, session: str, items: list[dict[str, Any]], *, updating: bool = False
    ) -> Any:
        flag = "True" if updating else "False"
        return await self.call("DongBoHoSoMC", session, isUpdating=flag, data=items)

    async def inspect(self) -> Any:
        async with self.http.get(self.server.make_url("/_sim/state")) as resp:
            assert resp.status == 200
            return await resp.json()


@asynccontextmanager
async def serving(settings: SimulatorSettings | None = None) -> AsyncIterator[Portal]:
    clock, state = FakeClock(), PortalState()
    app = create_app(settings or SimulatorSettings(), state=state, clock=clock)
    server = TestServer(app, host="127.0.0.1")
    async with server, aiohttp.ClientSession() as http:
        yield Portal(http, server, state, clock)


@pytest.fixture
async def portal() -> AsyncIterator[Portal]:
    async with serving() as running:
        yield running


@pytest.fixture
async def session(portal: Portal) -> str:
    return await portal.login()


def dossier(code: str = "000.00.00.H56-260105-00001", **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "MaHoSo": code,
        "MaTTHC": "1.001193",
        "TenTTHC": "Thủ tục đăng ký khai sinh",
        "MaLinhVuc": "G15-TP07",
        "TenLinhVuc": "Hộ tịch",
        "KenhThucHien": "2",
        "LoaiDoiTuong": "1",
        "TrichYeuHoSo": "Đăng ký khai sinh",
        "NgayTiepNhan": "20260105083000",
        "NgayHenTra": "20260106170000",
        "TrangThaiHoSo": "2",
        "HinhThuc": "0",
        "DonViXuLy": "UBND xã Đông Sơn",
        "TaiLieuNop": [
            {
                "TepDinhKemId": "f1",
                "TenTepDinhKem": "to-khai.pdf",
                "IsDeleted": "False",
                "MaThanhPhanHoSo": "TP1",
                "DuongDanTaiTepTin": "https://mc.example.vn/files/f1",
            }
        ],
        "DinhDanhCHS": [{"LoaiDinhDanh": "1", "SoDinhDanh": "001090000001"}],
    }
    item.update(changes)
    return item


def step(code: str = "000.00.00.H56-260105-00001", **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "MaHoSo": code,
        "NguoiXuLy": "Trần Thị B",
        "ChucDanh": "Công chức",
        "ThoiDiemXuLy": "20260105083000",
        "PhongBanXuLy": "Một cửa",
        "NoiDungXuLy": "Tiếp nhận hồ sơ",
        "TrangThai": "2",
        "NgayBatDau": "",
        "NgayKetThucTheoQuyDinh": "",
    }
    item.update(changes)
    return item


# -- login and sessions -------------------------------------------------------------------


async def test_login_opens_a_session(portal: Portal) -> None:
    answer = await portal.post("/mapi/login", {"username": "simulator", "password": "simulator"})
    assert answer["error_code"] == 0
    assert answer["message"] == "Thành công"
    assert isinstance(answer["session"], str)
    assert len(answer["session"]) >= 32
    assert answer["session"] != await portal.login()


@pytest.mark.parametrize(
    "body",
    [
        {"username": "simulator", "password": "wrong"},
        {"username": "other", "password": "simulator"},
        {"username": "simulator"},
        {},
        {"username": "simulator", "password": None},
        {"username": ["simulator"], "password": "simulator"},
    ],
)
async def test_login_refuses_wrong_credentials(portal: Portal, body: dict[str, Any]) -> None:
    answer = await portal.post("/mapi/login", body)
    assert answer == {"error_code": 1, "message": "Sai tên đăng nhập hoặc mật khẩu"}


async def test_credentials_are_configurable() -> None:
    async with serving(SimulatorSettings(username="000.00.00.H56", password="bí mật")) as portal:
        default = {"username": "simulator", "password": "simulator"}
        assert (await portal.post("/mapi/login", default))["error_code"] == 1
        configured = {"username": "000.00.00.H56", "password": "bí mật"}
        assert (await portal.post("/mapi/login", configured))["error_code"] == 0


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({}, id="missing"),
        pytest.param({"session": ""}, id="empty"),
        pytest.param({"session": "not-a-session"}, id="unknown"),
        pytest.param({"session": 42}, id="number"),
    ],
)
async def test_calls_need_a_valid_session(portal: Portal, params: dict[str, Any]) -> None:
    body = {"madonvi": AGENCY, "service": "LayDanhSachTTHC", **params}
    assert await portal.post("/mapi/g", body) == BAD_SESSION


async def test_session_expires_after_its_ttl(portal: Portal, session: str) -> None:
    portal.clock.now += 599.0
    assert (await portal.call("LayDanhSachTTHC", session))["error_code"] == 0
    portal.clock.now += 1.0
    assert await portal.call("LayDanhSachTTHC", session) == BAD_SESSION
    fresh = await portal.login()
    assert (await portal.call("LayDanhSachTTHC", fresh))["error_code"] == 0


async def test_session_ttl_is_configurable() -> None:
    async with serving(SimulatorSettings(session_ttl_s=30)) as portal:
        session = await portal.login()
        portal.clock.now += 30
        assert await portal.call("LayDanhSachTTHC", session) == BAD_SESSION


async def test_expire_sessions_invalidates_every_session(portal: Portal, session: str) -> None:
    other = await portal.login()
    assert await portal.post("/_sim/expire-sessions") == {**OK, "expired": 2}
    assert await portal.call("LayDanhSachTTHC", session) == BAD_SESSION
    assert await portal.call("LayDanhSachTTHC", other) == BAD_SESSION


# -- envelope -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/mapi/login", "/mapi/g"])
@pytest.mark.parametrize(
    "raw",
    [b"{bad json", b"", b"[1, 2]", b'"text"', b"null", b"\xff\xfe{}", b'{"a": NaN}'],
    ids=["syntax", "empty", "array", "string", "null", "not-utf8", "nan"],
)
async def test_body_must_be_a_json_object(portal: Portal, path: str, raw: bytes) -> None:
    assert await portal.post_status(path, raw=raw) == (400, NOT_JSON)


async def test_oversized_body_is_refused() -> None:
    async with serving(SimulatorSettings(max_body_bytes=1024)) as portal:
        body = {"username": "simulator", "password": "x" * 2000}
        status, answer = await portal.post_status("/mapi/login", body)
        assert status == 413
        assert answer == {
            "error_code": -1,
            "message": "Dữ liệu gửi lên vượt quá giới hạn 1024 byte",
        }


@pytest.mark.parametrize(
    ("madonvi", "message"),
    [
        ("000.00.00.H99", "Mã đơn vị 000.00.00.H99 không có trong danh mục cơ quan"),
        ("", "Thiếu tham số madonvi"),
        (None, "Thiếu tham số madonvi"),
    ],
)
async def test_agency_must_be_in_the_catalogue(
    portal: Portal, session: str, madonvi: str | None, message: str
) -> None:
    body = {"session": session, "madonvi": madonvi, "service": "LayDanhSachTTHC"}
    assert await portal.post("/mapi/g", body) == {"error_code": -1, "message": message}


@pytest.mark.parametrize("madonvi", ["000.00.00.G22", "H26.16", "000.03.20.H38"])
async def test_any_catalogue_agency_may_call(portal: Portal, session: str, madonvi: str) -> None:
    body = {"session": session, "madonvi": madonvi, "service": "LayDanhSachTTHC"}
    assert (await portal.post("/mapi/g", body))["error_code"] == 0


@pytest.mark.parametrize(
    ("service", "message"),
    [
        ("DongBoHoiDap", "Dịch vụ DongBoHoiDap không được hỗ trợ"),
        ("dongbohosomc", "Dịch vụ dongbohosomc không được hỗ trợ"),
        ("", "Thiếu tham số service"),
    ],
)
async def test_unknown_service(portal: Portal, session: str, service: str, message: str) -> None:
    assert await portal.call(service, session) == {"error_code": -1, "message": message}


# -- DongBoHoSoMC -------------------------------------------------------------------------


async def test_dossier_is_stored_and_can_be_looked_up(portal: Portal, session: str) -> None:
    item = dossier()
    assert await portal.sync(session, [item]) == OK
    assert portal.state.dossiers[item["MaHoSo"]] == {"madonvi": AGENCY, "item": item, "versions": 1}
    found = await portal.call("TraCuuHoSo", session, mahoso=item["MaHoSo"])
    assert found == {**OK, "result": [item]}


async def test_update_replaces_the_dossier(portal: Portal, session: str) -> None:
    await portal.sync(session, [dossier()])
    changed = dossier(TrangThaiHoSo="4", GhiChu="Đang xử lý")
    assert await portal.sync(session, [changed], updating=True) == OK
    assert await portal.sync(session, [changed], updating=True) == OK
    record = portal.state.dossiers[changed["MaHoSo"]]
    assert record["item"] == changed
    assert record["versions"] == 3


async def test_insert_of_an_existing_dossier_is_refused(portal: Portal, session: str) -> None:
    first = dossier()
    await portal.sync(session, [first])
    answer = await portal.sync(
        session, [dossier("000.00.00.H56-260105-00002"), dossier(GhiChu="x")]
    )
    assert answer == {
        "error_code": -3,
        "message": "Hồ sơ 000.00.00.H56-260105-00001 đã tồn tại trên Cổng DVCQG",
    }
    assert list(portal.state.dossiers) == [first["MaHoSo"]]
    assert portal.state.dossiers[first["MaHoSo"]]["item"] == first


async def test_a_repeat_inside_one_insert_collides(portal: Portal, session: str) -> None:
    answer = await portal.sync(session, [dossier(), dossier()])
    assert answer["error_code"] == -3
    assert portal.state.dossiers == {}


async def test_update_of_an_unknown_dossier_is_refused(portal: Portal, session: str) -> None:
    answer = await portal.sync(session, [dossier("000.00.00.H56-260105-00009")], updating=True)
    assert answer == {
        "error_code": -1,
        "message": "Hồ sơ 000.00.00.H56-260105-00009 không tồn tại trên Cổng DVCQG",
    }
    assert portal.state.dossiers == {}


async def test_several_dossiers_in_one_call(portal: Portal, session: str) -> None:
    codes = [f"000.00.00.H56-260105-0000{n}" for n in range(1, 4)]
    assert await portal.sync(session, [dossier(code) for code in codes]) == OK
    assert list(portal.state.dossiers) == codes


async def test_the_call_is_atomic(portal: Portal, session: str) -> None:
    items = [dossier(f"000.00.00.H56-260105-0000{n}") for n in range(3)]
    items[2]["NgayHenTra"] = "20260230080000"
    answer = await portal.sync(session, items)
    assert answer == {
        "error_code": -1,
        "message": "data[2].NgayHenTra: ngày không hợp lệ (định dạng yyyyMMddHHmmss)",
    }
    assert portal.state.dossiers == {}


@pytest.mark.parametrize(
    ("value", "present"),
    [("true", True), ("1", True), ("", True), (True, True), (None, True), (None, False)],
)
async def test_is_updating_must_be_a_true_or_false_string(
    portal: Portal, session: str, value: object, present: bool
) -> None:
    params: dict[str, Any] = {"data": [dossier()]}
    if present:
        params["isUpdating"] = value
    answer = await portal.call("DongBoHoSoMC", session, **params)
    assert answer == {
        "error_code": -1,
        "message": 'isUpdating: bắt buộc, phải là chuỗi "True" hoặc "False"',
    }


@pytest.mark.parametrize("service", ["DongBoHoSoMC", "CapNhatTienDoHoSoMC"])
@pytest.mark.parametrize("data", [[], {}, "x", None], ids=["empty", "object", "string", "null"])
async def test_data_must_be_a_non_empty_array(
    portal: Portal, session: str, service: str, data: object
) -> None:
    answer = await portal.call(service, session, isUpdating="False", data=data)
    assert answer == {"error_code": -1, "message": "data: bắt buộc, phải là mảng JSON không rỗng"}


WIRE_REJECTIONS = [
    ({"Foo": "x"}, "data[0].Foo: Trường Foo không được hỗ trợ"),
    ({"MaHoSo": ""}, "data[0].MaHoSo: bắt buộc, không được để trống"),
    ({"TrangThaiHoSo": 2}, "data[0].TrangThaiHoSo: phải là chuỗi ký tự (JSON string)"),
    ({"NgayTiepNhan": ""}, "data[0].NgayTiepNhan: bắt buộc khi TrangThaiHoSo khác 1"),
    ({"NgayHenTra": ""}, "data[0].NgayHenTra: bắt buộc khi TrangThaiHoSo khác 1 và 3"),
    ({"TrangThaiHoSo": "3"}, "data[0].NgayTuChoi: bắt buộc khi TrangThaiHoSo là 3"),
    ({"NgayTra": "2026-01-06"}, "data[0].NgayTra: ngày không hợp lệ (định dạng yyyyMMddHHmmss)"),
    ({"TrangThaiHoSo": "11"}, "data[0].TrangThaiHoSo: giá trị không hợp lệ (chấp nhận: "),
    ({"LoaiDoiTuong": "5"}, "data[0].LoaiDoiTuong: giá trị không hợp lệ (chấp nhận: "),
    ({"HinhThuc": "2"}, "data[0].HinhThuc: giá trị không hợp lệ (chấp nhận: "),
    ({"KenhThucHien": "4"}, "data[0].KenhThucHien: giá trị không hợp lệ (chấp nhận: "),
    ({"DuocThanhToanTrucTuyen": "3"}, "data[0].DuocThanhToanTrucTuyen: giá trị không hợp lệ"),
    ({"TaiKhoanDuocXacThucVoiVNeID": "2"}, "data[0].TaiKhoanDuocXacThucVoiVNeID: giá trị"),
    ({"TrichYeuHoSo": "x" * 1001}, "data[0].TrichYeuHoSo: dài quá 1000 ký tự"),
    ({"MaTTHC": "9.999999"}, "data[0].MaTTHC: mã TTHC 9.999999 không có trong danh mục TTHC"),
    (
        {"DinhDanhCHS": [{"LoaiDinhDanh": "2", "SoDinhDanh": "001090000001"}]},
        "data[0].DinhDanhCHS[0].SoDinhDanh: phải gồm đúng 9 chữ số khi LoaiDinhDanh là 2",
    ),
    ({"DSKetNoiCSDL": [{"MaCSDL": 7}]}, "data[0].DSKetNoiCSDL[0].MaCSDL: phải là chuỗi ký tự"),
    (
        {"TaiLieuNop": [{"DuongDanTaiTepTin": "/files/f1"}]},
        "data[0].TaiLieuNop[0].DuongDanTaiTepTin: phải là URL tuyệt đối http(s)",
    ),
    (
        {"TaiLieuNop": [{"IsDeleted": "0"}]},
        "data[0].TaiLieuNop[0].IsDeleted: giá trị không hợp lệ",
    ),
    (
        {"DanhSachTepDinhKemKhac": [{"TenGiayTo": "x", "SoLuong": "1"}]},
        "data[0].DanhSachTepDinhKemKhac[0].SoLuong: phải là số nguyên (JSON integer)",
    ),
    (
        {"DanhSachHoSoBoSung": [{"TrangThaiBoSung": "yes"}]},
        "data[0].DanhSachHoSoBoSung[0].TrangThaiBoSung: phải là true/false",
    ),
    (
        {"DanhSachGiayToKetQua": [{"DuongDanTepTinKetQua": "ftp://x/y"}]},
        "data[0].DanhSachGiayToKetQua[0].DuongDanTepTinKetQua: phải là URL tuyệt đối http(s)",
    ),
]


@pytest.mark.parametrize(("changes", "message"), WIRE_REJECTIONS)
async def test_invalid_dossier_is_refused(
    portal: Portal, session: str, changes: dict[str, Any], message: str
) -> None:
    answer = await portal.sync(session, [dossier(**changes)])
    assert answer["error_code"] == -1
    assert answer["message"].startswith(message)
    assert portal.state.dossiers == {}


async def test_unknown_procedure_is_accepted_when_the_check_is_off() -> None:
    async with serving(SimulatorSettings(strict_catalogue=False)) as portal:
        session = await portal.login()
        assert await portal.sync(session, [dossier(MaTTHC="9.999999")]) == OK


async def test_every_problem_is_in_the_message(portal: Portal, session: str) -> None:
    items = [dossier(HinhThuc="9"), dossier("000.00.00.H56-260105-00002", Foo="x")]
    answer = await portal.sync(session, items)
    assert answer["message"].split("; ") == [
        'data[0].HinhThuc: giá trị không hợp lệ (chấp nhận: "0", "1")',
        "data[1].Foo: Trường Foo không được hỗ trợ",
    ]


# -- CapNhatTienDoHoSoMC ------------------------------------------------------------------


async def test_progress_is_appended_in_arrival_order(portal: Portal, session: str) -> None:
    await portal.sync(session, [dossier()])
    steps = [step(), step(TrangThai="4", NoiDungXuLy="Chuyển xử lý")]
    assert await portal.call("CapNhatTienDoHoSoMC", session, data=steps) == OK
    later = [step(TrangThai="9", NoiDungXuLy="Ký duyệt")]
    assert await portal.call("CapNhatTienDoHoSoMC", session, data=later) == OK
    assert portal.state.progress == {"000.00.00.H56-260105-00001": [*steps, *later]}


async def test_repeated_progress_is_counted_and_kept(portal: Portal, session: str) -> None:
    await portal.sync(session, [dossier()])
    await portal.call("CapNhatTienDoHoSoMC", session, data=[step()])
    await portal.call("CapNhatTienDoHoSoMC", session, data=[step(), step(ChucDanh="Khác")])
    assert len(portal.state.progress["000.00.00.H56-260105-00001"]) == 3
    assert portal.state.duplicate_progress == 1


async def test_progress_for_an_unsynced_dossier_is_refused(portal: Portal, session: str) -> None:
    await portal.sync(session, [dossier()])
    steps = [step(), step("000.00.00.H56-260105-00007")]
    answer = await portal.call("CapNhatTienDoHoSoMC", session, data=steps)
    assert answer == {
        "error_code": -1,
        "message": "Hồ sơ 000.00.00.H56-260105-00007 chưa được đồng bộ lên Cổng DVCQG",
    }
    assert portal.state.progress == {}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"TrangThai": "0"}, "data[1].TrangThai: giá trị không hợp lệ"),
        ({"ThoiDiemXuLy": ""}, "data[1].ThoiDiemXuLy: bắt buộc, không được để trống"),
        ({"NgayBatDau": "20261305000000"}, "data[1].NgayBatDau: ngày không hợp lệ"),
        ({"NguoiXuLy": "x" * 51}, "data[1].NguoiXuLy: dài quá 50 ký tự"),
        ({"TrangThaiHoSo": "2"}, "data[1].TrangThaiHoSo: Trường TrangThaiHoSo không được hỗ trợ"),
    ],
)
async def test_invalid_progress_is_refused(
    portal: Portal, session: str, changes: dict[str, Any], message: str
) -> None:
    await portal.sync(session, [dossier()])
    answer = await portal.call("CapNhatTienDoHoSoMC", session, data=[step(), step(**changes)])
    assert answer["error_code"] == -1
    assert answer["message"].startswith(message)
    assert portal.state.progress == {}


# -- sharing services ---------------------------------------------------------------------


async def test_look_up_of_an_unknown_dossier_is_empty(portal: Portal, session: str) -> None:
    assert await portal.call("TraCuuHoSo", session, mahoso="H56-khong-co") == {**OK, "result": []}


async def test_look_up_needs_a_code(portal: Portal, session: str) -> None:
    answer = await portal.call("TraCuuHoSo", session)
    assert answer == {"error_code": -1, "message": "Thiếu tham số mahoso"}


async def test_procedure_list_comes_from_the_catalogue(portal: Portal, session: str) -> None:
    answer = await portal.call("LayDanhSachTTHC", session)
    assert answer["error_code"] == 0
    assert len(answer["result"]) == 57
    assert {"MATTHC": "1.001193", "TENTTHC": "Thủ tục đăng ký khai sinh"} in answer["result"]


async def test_procedure_detail(portal: Portal, session: str) -> None:
    answer = await portal.call("LayThuTuc", session, maTTHC="1.000894")
    [detail] = answer.pop("result")
    assert answer == OK
    assert {k: detail[k] for k in ("MATTHC", "TENTTHC", "LINHVUCTHUCHIEN")} == {
        "MATTHC": "1.000894",
        "TENTTHC": "Thủ tục đăng ký kết hôn",
        "LINHVUCTHUCHIEN": [{"MALINHVUC": "G15-TP07", "TENLINHVUC": "Hộ tịch"}],
    }
    # [I] keys (gateway/simulator/catalogue_services.py) from the sample's raw columns
    assert detail["CAPTHUCHIEN"] == "Cấp Xã"
    [channel] = detail["CACHTHUCTHUCHIEN"]
    assert channel["THOIGIAN"][0]["THOIGIANGIAIQUYET"] == "1"
    assert channel["PHILEPHI"][0]["MOTA"].startswith("không")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"maTTHC": "9.999999"}, "Thủ tục 9.999999 không có trong danh mục TTHC của Cổng DVCQG"),
        ({}, "Thiếu tham số maTTHC"),
    ],
)
async def test_procedure_detail_refusals(
    portal: Portal, session: str, params: dict[str, Any], message: str
) -> None:
    assert await portal.call("LayThuTuc", session, **params) == {
        "error_code": -1,
        "message": message,
    }


# -- inspection API -----------------------------------------------------------------------


async def test_state_endpoint_shows_what_was_accepted(portal: Portal, session: str) -> None:
    item = dossier()
    await portal.sync(session, [item])
    await portal.sync(session, [item])  # -3
    await portal.call("CapNhatTienDoHoSoMC", session, data=[step(), step()])
    await portal.call("NoSuchService", session)
    assert await portal.inspect() == {
        "dossiers": {item["MaHoSo"]: {"madonvi": AGENCY, "item": item, "versions": 1}},
        "progress": {item["MaHoSo"]: [step(), step()]},
        "stats": {
            "calls": {"login": 1, "DongBoHoSoMC": 2, "CapNhatTienDoHoSoMC": 1, "NoSuchService": 1},
            "rejected": {"DongBoHoSoMC": 1, "NoSuchService": 1},
            "duplicate_progress": 1,
            "partially_applied": 0,
        },
        "strict": {
            "duplicates": 1,
            "order_violations": 0,
            "status_regressions": 0,
            "dossiers": {
                "duplicates": [item["MaHoSo"]],
                "order_violations": [],
                "status_regressions": {},
            },
        },
    }


async def test_state_endpoint_returns_a_copy(portal: Portal, session: str) -> None:
    await portal.sync(session, [dossier()])
    before = copy.deepcopy(portal.state.dossiers)
    snapshot = portal.state.snapshot()
    snapshot["dossiers"].clear()
    assert portal.state.dossiers == before


async def test_reset_forgets_everything_but_sessions(portal: Portal, session: str) -> None:
    await portal.sync(session, [dossier()])
    await portal.call("CapNhatTienDoHoSoMC", session, data=[step()])
    assert await portal.post("/_sim/reset") == OK
    assert await portal.inspect() == {
        "dossiers": {},
        "progress": {},
        "stats": {"calls": {}, "rejected": {}, "duplicate_progress": 0, "partially_applied": 0},
        "strict": {
            "duplicates": 0,
            "order_violations": 0,
            "status_regressions": 0,
            "dossiers": {"duplicates": [], "order_violations": [], "status_regressions": {}},
        },
    }
    assert await portal.sync(session, [dossier()]) == OK


async def test_state_is_shared_with_the_app(portal: Portal) -> None:
    assert portal.server.app is not None
    assert portal.server.app[STATE_KEY] is portal.state


# -- run_simulator ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_run_simulator_serves_until_cancelled() -> None:
    port, ready = _free_port(), asyncio.Event()
    task = asyncio.create_task(run_simulator("127.0.0.1", port, SimulatorSettings(), ready=ready))
    await asyncio.wait_for(ready.wait(), timeout=10)
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{port}/mapi/login"
        async with http.post(url, json={"username": "simulator", "password": "simulator"}) as resp:
            assert (await resp.json())["error_code"] == 0
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()
