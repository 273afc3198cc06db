"""Our reference adapters pass the same conformance suite a vendor's adapter runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from adapters.canonical import CanonicalAdapter
from adapters.conformance import AdapterConformance
from adapters.legacy_csv import LegacyCsvAdapter
from adapters.opencps import OpenCpsAdapter
from gateway.canonical import record_to_json
from tests.factories import dossier, step

FIXTURES = Path(__file__).parents[1] / "fixtures" / "adapters"

LEGACY_OPTIONS: dict[str, Any] = {
    "kind": "dossier",
    "columns": {
        "dossier_code": "Số hồ sơ",
        "procedure_code": "Mã thủ tục",
        "procedure_name": "Tên thủ tục",
        "field_code": "Mã lĩnh vực",
        "field_name": "Lĩnh vực",
        "status": "Tình trạng",
        "channel": "Hình thức nộp",
        "received_at": "Ngày tiếp nhận",
        "due_at": "Hạn trả",
        "owner_name": "Người nộp",
        "summary": "Trích yếu",
        "handling_agency_name": "Đơn vị xử lý",
        "phone": "Điện thoại",
    },
    "constants": {"agency_code": "000.00.00.H56"},
    "status_map": {"Đã tiếp nhận": 2, "Đang xử lý": 4, "Đã trả kết quả": 10},
    "channel_map": {"Trực tiếp": 1, "Trực tuyến": 2, "Bưu chính": 3},
    "date_formats": ["%d/%m/%Y %H:%M", "%d/%m/%Y"],
}


class TestCanonicalConformance(AdapterConformance):
    factory = CanonicalAdapter
    samples: ClassVar[list[Any]] = [record_to_json(dossier()), record_to_json(step())]
    required_fields = ("dossier_code", "agency_code", "status", "kind")
    entry_point = "canonical"


class TestOpenCpsConformance(AdapterConformance):
    factory = OpenCpsAdapter
    options: ClassVar[dict[str, Any]] = {
        "file_url_base": "https://motcua.thanhhoa.gov.vn",
        "agency_codes": {"UBND_TH": "000.00.00.H56"},
        "procedure_codes": {"TP-HT-01": "1.001193"},
    }
    samples = json.loads((FIXTURES / "opencps-samples.json").read_text(encoding="utf-8"))
    required_fields = ("dossierNo", "govAgencyCode", "dossierStatus", "createDate", "actionUser")
    entry_point = "opencps"


class TestLegacyCsvConformance(AdapterConformance):
    factory = LegacyCsvAdapter
    options = LEGACY_OPTIONS
    samples = json.loads((FIXTURES / "legacy-csv-samples.json").read_text(encoding="utf-8"))
    required_fields = ("Số hồ sơ", "Người nộp", "Tình trạng")
    entry_point = "legacy-csv"
