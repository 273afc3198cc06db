"""The portal's side of portal-hosted dossiers (spec dvcqg §2.3-§2.4): it pushes dossiers
filed on the portal to the gateway's ``createdossierfromdvcqg`` endpoint, with duplicates and
faults, and checks the ``DongBoTrangThaiHoSo`` reports that come back.

- :class:`HostedBook` is what the simulated portal knows: the dossiers it pushed and the
  status reports it received, in arrival order; a report that goes back in time
  (``NgayXuLy`` earlier than the last one of its dossier) is counted as out of order.
- :func:`push_dossiers` plays the push: every dossier until the gateway answers 0 or 1
  (resending after a refused connection, a 5xx or a lost answer), plus deliberate repeats
  (which must answer 1) and broken bodies (which must answer -1 and be stored nowhere).

Like the rest of the simulator it builds its own bodies and imports nothing from the gateway.
"""

from __future__ import annotations

import asyncio
import base64
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
DATE = "%Y%m%d%H%M%S"


@dataclass
class HostedBook:
    """The dossiers the portal pushed and the status reports it received."""

    pushed: dict[str, dict[str, Any]] = field(default_factory=dict)
    reports: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    out_of_order: list[str] = field(default_factory=list)
    repeats: int = 0
    """Reports identical to the last one of their dossier (a resend after a lost answer):
    accepted and not kept twice, as a status is a state, not an event."""

    served: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Dossiers the portal holds for the gateway to pull (``DanhSachHoSo``)."""

    def reset(self) -> None:
        self.served.clear()
        self.pushed.clear()
        self.reports.clear()
        self.out_of_order.clear()
        self.repeats = 0

    def check_report(self, data: object) -> str | None:
        """Record one ``DongBoTrangThaiHoSo`` ``data`` object; return why it is refused."""
        if not isinstance(data, dict):
            return "data phải là một đối tượng"
        code, status, when = data.get("MaHoSo"), data.get("TrangThai"), data.get("NgayXuLy")
        if not isinstance(code, str) or code not in self.pushed:
            return "Hồ sơ không phải hồ sơ nộp trên Cổng DVCQG"
        if not isinstance(status, str) or not status.isdigit() or not 1 <= int(status) <= 11:
            return "TrangThai không hợp lệ"
        try:
            datetime.strptime(str(when), DATE)
        except ValueError:
            return "NgayXuLy phải có dạng yyyyMMddHHmmss"
        if not isinstance(data.get("TaiLieuXuLy", []), list):
            return "TaiLieuXuLy phải là một mảng"
        earlier = self.reports.setdefault(code, [])
        if earlier and earlier[-1] == data:
            self.repeats += 1
            return None
        if earlier and str(when) < str(earlier[-1]["NgayXuLy"]):
            self.out_of_order.append(code)
        earlier.append(dict(data))
        return None

    def list_served(self, params: Mapping[str, Any]) -> list[dict[str, Any]] | str:
        """``DanhSachHoSo``: the dossiers filed in ``[ngayNhan1, ngayNhan2)`` (both
        ``yyyyMMddHHmmss`` [I]), without their papers (``LayTaiLieuHoSo`` gives those)."""
        since, until = params.get("ngayNhan1"), params.get("ngayNhan2")
        for value in (since, until):
            try:
                datetime.strptime(str(value), DATE)
            except ValueError:
                return "ngayNhan1 và ngayNhan2 phải có dạng yyyyMMddHHmmss"
        found = [
            {k: v for k, v in body.items() if k != "TaiLieuNop"}
            for body in self.served.values()
            if str(since) <= body["NgayNopHoSo"] < str(until)
        ]
        return sorted(found, key=lambda b: (b["NgayNopHoSo"], b["MaHoSo"]))

    def papers(self, code: object) -> list[dict[str, Any]] | str:
        """``LayTaiLieuHoSo``: the papers of one served dossier."""
        body = self.served.get(str(code))
        if body is None:
            return "Không tìm thấy hồ sơ"
        return list(body.get("TaiLieuNop", []))

    def snapshot(self) -> dict[str, Any]:
        return {
            "pushed": sorted(self.pushed),
            "reports": {code: list(items) for code, items in self.reports.items()},
            "out_of_order": list(self.out_of_order),
            "repeats": self.repeats,
        }


def hosted_body(index: int, rng: random.Random, start: datetime) -> dict[str, Any]:
    """A promotion-notice dossier as the portal pushes it (spec dvcqg §2.4)."""
    code = f"000.00.00.H56-{start:%y%m%d}-9{index:05d}"  # MaHoSo digits: the input rule
    filed = start + timedelta(minutes=index)
    return {
        "MaHoSo": code,
        "MaTTHC": "1.001234",
        "MaDonVi": "000.00.00.H56",
        "SoVanBan": f"{index}/{start:%Y}/TB-KM",
        "NgayNopHoSo": filed.strftime(DATE),
        "TenThuongNhan": rng.choice(["Công ty TNHH Ánh Dương", "Công ty CP Sông Mã"]),
        "DiaChiDoanhNghiep": {
            "MaTinh": "38",
            "MaHuyen": "380",
            "MaXa": "14758",
            "DiaChiChiTiet": f"{index} Lê Lợi",
        },
        "DienThoai": f"0237{rng.randrange(10**6):06d}",
        "Email": "lienhe@example.vn",
        "MaSoThue": f"28{rng.randrange(10**8):08d}",
        "NguoiLienHe": "Lê Thị Hoa",
        "TenChuongTrinhKhuyenMai": f"Khuyến mại số {index}",
        "TenTepDonDangKy": "don-dang-ky.pdf",
        "TepDonDangKy": base64.b64encode(PDF).decode("ascii"),
        "TaiLieuNop": [
            {
                "TenTepDinhKem": "the-le.pdf",
                "Base64": base64.b64encode(PDF + code.encode()).decode("ascii"),
            }
        ],
    }


def broken_body(index: int) -> dict[str, Any]:
    """A body the gateway must refuse: a ``.pdf`` whose bytes are not a PDF."""
    return {
        "MaHoSo": f"G22.38-BROKEN-{index:05d}",
        "MaTTHC": "1.001234",
        "TenThuongNhan": "Công ty TNHH Lỗi",
        "TaiLieuNop": [
            {"TenTepDinhKem": "virus.pdf", "Base64": base64.b64encode(b"MZ...").decode()}
        ],
    }


@dataclass
class PushReport:
    """What the push saw, answer by answer."""

    created: list[str] = field(default_factory=list)
    duplicate: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    resent: int = 0
    """Sends repeated after a fault (no answer, a 5xx, a lost answer)."""


async def push_dossiers(
    url: str,
    token: str,
    book: HostedBook,
    *,
    count: int,
    seed: int = 1,
    start: datetime | None = None,
    duplicate_every: int = 10,
    lose_answer_every: int = 17,
    broken: int = 3,
    concurrency: int = 8,
    timeout_s: float = 30.0,
    on_answer: Callable[[str, int], None] = lambda code, answer: None,
) -> PushReport:
    """Push ``count`` dossiers (and repeats and broken ones) until each is answered; a fault
    (no answer, a 5xx, a lost answer) is resent with a growing pause for up to ``timeout_s``.
    ``on_answer(MaHoSo, error_code)`` is called as answers come."""
    rng = random.Random(seed)  # noqa: S311 - test data
    start = start or datetime(2026, 11, 27, 8, 0)
    report = PushReport()
    bodies = [hosted_body(i, rng, start) for i in range(1, count + 1)]
    for body in bodies:
        book.pushed[body["MaHoSo"]] = body
    slots = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:

        async def one(body: dict[str, Any], lose: bool) -> None:
            async with slots:
                code = await _until_answered(http, url, body, lose, timeout_s, report)
                _note(report, body["MaHoSo"], code)
                on_answer(body["MaHoSo"], code)

        losing = [i % lose_answer_every == 0 for i in range(1, len(bodies) + 1)]
        await asyncio.gather(*(one(b, lose) for b, lose in zip(bodies, losing, strict=True)))
        repeats = bodies[::duplicate_every]
        await asyncio.gather(*(one(b, False) for b in repeats))
        for index in range(broken):
            code = await _until_answered(http, url, broken_body(index), False, timeout_s, report)
            _note(report, f"broken-{index}", code)
    return report


def _note(report: PushReport, code: str, answer: int) -> None:
    {0: report.created, 1: report.duplicate}.get(answer, report.refused).append(code)


async def _until_answered(
    http: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    lose_answer: bool,
    timeout_s: float,
    report: PushReport,
) -> int:
    """Send until the gateway gives an answer that is not "try later"; return its error_code.
    ``lose_answer`` drops the connection once right after sending (the gateway may have
    stored it: the resend must then answer 1)."""
    delay = 0.05
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            if lose_answer:
                lose_answer = False
                await _send_and_hang_up(http, url, body)
                raise aiohttp.ClientError("answer lost on purpose")
            async with http.post(url, json=body) as response:
                answer = await response.json(content_type=None)
                if response.status < 500 and isinstance(answer, dict):
                    return int(answer["error_code"])
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError):
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"the gateway did not answer for {body['MaHoSo']}")
        report.resent += 1
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


async def _send_and_hang_up(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> None:
    """Send the whole request, wait for the answer's first bytes, and close without reading."""
    async with http.post(url, json=body) as response:
        response.close()
