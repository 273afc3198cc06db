"""Bodies of ``createdossierfromdvcqg`` as the portal sends them (spec dvcqg §2.4)."""

from __future__ import annotations

import base64
from typing import Any

PDF = b"%PDF-1.7\n" + b"x" * 200 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def portal_body(code: str = "G22.99-261127-0001", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "MaHoSo": code,
        "MaTTHC": "1.001234",
        "SoVanBan": "12/2026/TB-KM",
        "NgayNopHoSo": "20261127081500",
        "TenThuongNhan": "Công ty TNHH Ánh Dương",
        "DiaChiDoanhNghiep": {
            "MaTinh": "38",
            "MaHuyen": "380",
            "MaXa": "14758",
            "DiaChiChiTiet": "12 Lê Lợi, phường Điện Biên",
        },
        "DienThoai": "0237385123",
        "Fax": "",
        "Email": "lienhe@anhduong.vn",
        "MaSoThue": "2801234567",
        "NguoiLienHe": "Lê Thị Hoa",
        "SoDienThoaiNguoiLienHe": "0912345678",
        "TenChuongTrinhKhuyenMai": "Mừng xuân 2027",
        "TenTepDonDangKy": "don-dang-ky.pdf",
        "TepDonDangKy": b64(PDF),
        "TaiLieuNop": [{"TenTepDinhKem": "mau-phieu.png", "Base64": b64(PNG)}],
    }
    body.update(changes)
    return body
