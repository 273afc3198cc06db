"""Small canonical records for tests (realistic, Vietnamese, valid for the portal)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from gateway.model import (
    PORTAL_TZ,
    Channel,
    Dossier,
    DossierStatus,
    IdentifierKind,
    OwnerIdentifier,
    ProgressStep,
    ResultDocument,
    SubmittedDocument,
)

AGENCY = "000.00.00.H56"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=PORTAL_TZ)


def dossier(code: str = "000.00.00.H56-261102-00001", **changes: Any) -> Dossier:
    base = Dossier(
        dossier_code=code,
        agency_code=AGENCY,
        procedure_code="1.001193",
        procedure_name="Thủ tục đăng ký khai sinh",
        field_code="G15-TP07",
        field_name="Hộ tịch",
        status=DossierStatus.RECEIVED,
        received_at=T0,
        due_at=T0 + timedelta(days=1),
        owner_name="Nguyễn Thị Ánh Tuyết",
        channel=Channel.ONLINE,
        email="tuyet.nguyen@example.vn",
        phone="0912345678",
        summary="Đăng ký khai sinh cho cháu Nguyễn Minh Khôi",
        handling_agency_name="UBND tỉnh Thanh Hóa",
        owner_id_number="038190012345",
        owner_identifiers=(OwnerIdentifier(IdentifierKind.CCCD, "038190012345"),),
        documents=(
            SubmittedDocument(
                file_id="f1",
                file_name="Tờ khai đăng ký khai sinh.pdf",
                download_url="https://motcua.example.gov.vn/files/f1.pdf",
            ),
        ),
    )
    return replace(base, **changes)


def step(
    code: str = "000.00.00.H56-261102-00001",
    minutes: int = 10,
    status: DossierStatus = DossierStatus.PROCESSING,
    **changes: Any,
) -> ProgressStep:
    base = ProgressStep(
        dossier_code=code,
        agency_code=AGENCY,
        handler="Trần Văn Bình",
        handled_at=T0 + timedelta(minutes=minutes),
        action="Chuyển xử lý hồ sơ",
        status=status,
        title="Chuyên viên",
        department="Bộ phận Một cửa",
    )
    return replace(base, **changes)


def result_document() -> ResultDocument:
    return ResultDocument(
        name="Giấy khai sinh",
        document_id="kq1",
        download_url="https://motcua.example.gov.vn/ketqua/kq1.pdf",
        result_code="KQ-1.001193",
    )
