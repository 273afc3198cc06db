"""``DongBoTrangThaiHoSo``: the status of a dossier filed on the portal, sent back by the local
one-stop system (spec dvcqg §2.3, ``type`` "2"; seen in one vendor's code [C1]).

``data`` is **one object**, not a list: ``TrangThai``, ``MaHoSo``, ``MaHoSoDonVi`` (the local
receipt number), ``MaDoiTuong``, ``NoiDung``, ``NgayXuLy`` (``yyyyMMddHHmmss``, Vietnam time),
``TaiLieuXuLy[{TepDinhKemId, TenTepDinhKem, IsDeleted, MaThanhPhanHoSo, DuongDanTaiTepTin}]``.
The one vendor seen sends 11 for a refusal on one service; its meaning is not documented, so
the gateway sends the ``TrangThaiHoSo`` code it has (3) [?].

No JSON Schema contract exists for it yet: :func:`encode_status_report` checks the few rules
itself and raises :class:`TranslationError` naming the path. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gateway.errors import Problem, TranslationError, code_shown
from gateway.model import PORTAL_TZ

STATUS_SERVICE = "DongBoTrangThaiHoSo"
STATUS_TYPE = "2"
DATE_FORMAT = "%Y%m%d%H%M%S"
STATUS_CODES = frozenset(range(1, 11))


def encode_status_report(report: Mapping[str, Any]) -> dict[str, Any]:
    """The ``data`` object of a canonical status report (:mod:`gateway.inbound.reports`)."""
    problems: list[Problem] = []
    if not str(report.get("dossier_code") or "").strip():
        problems.append(Problem("$.data.MaHoSo", "is required", "required"))
    status = report.get("status")
    if status not in STATUS_CODES:
        problems.append(Problem("$.data.TrangThai", f"must be 1-10, got {code_shown(status)}"))
    try:
        handled = datetime.fromisoformat(str(report.get("handled_at")))
    except ValueError:
        problems.append(Problem("$.data.NgayXuLy", "is not a timestamp", "format"))
        handled = None
    if problems or handled is None:
        raise TranslationError(problems)
    if handled.tzinfo is None:
        handled = handled.replace(tzinfo=PORTAL_TZ)
    return {
        "TrangThai": str(status),
        "MaHoSo": report["dossier_code"],
        "MaHoSoDonVi": report.get("local_code", ""),
        "MaDoiTuong": report.get("owner_account_id", ""),
        "NoiDung": report.get("content", ""),
        "NgayXuLy": handled.astimezone(PORTAL_TZ).strftime(DATE_FORMAT),
        "TaiLieuXuLy": [
            {
                "TepDinhKemId": d["file_id"],
                "TenTepDinhKem": d["file_name"],
                "IsDeleted": "True" if d.get("deleted") else "False",
                "MaThanhPhanHoSo": d.get("component_code", ""),
                "DuongDanTaiTepTin": d["download_url"],
            }
            for d in report.get("documents") or ()
        ],
    }


def status_envelope(*, session: str, agency_code: str, data: dict[str, Any]) -> dict[str, Any]:
    """``{session, madonvi, service, type, data}``."""
    return {
        "session": session,
        "madonvi": agency_code,
        "service": STATUS_SERVICE,
        "type": STATUS_TYPE,
        "data": data,
    }
