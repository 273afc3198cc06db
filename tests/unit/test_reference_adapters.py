"""What the OpenCPS and legacy-CSV adapters do with real-looking records, and the registry's
checks."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from adapters import registry
from adapters.legacy_csv import LegacyCsvAdapter
from adapters.opencps import OpenCpsAdapter
from gateway.errors import ConfigError, TranslationError
from gateway.model import PORTAL_TZ, Channel, DeliveryForm, Dossier, DossierStatus, ProgressStep
from tests.unit.test_adapter_conformance import LEGACY_OPTIONS

FIXTURES = Path(__file__).parents[1] / "fixtures" / "adapters"
SAMPLES = json.loads((FIXTURES / "opencps-samples.json").read_text(encoding="utf-8"))
OPTIONS: dict[str, Any] = {
    "file_url_base": "https://motcua.thanhhoa.gov.vn/",
    "agency_codes": {"UBND_TH": "000.00.00.H56"},
    "procedure_codes": {"TP-HT-01": "1.001193"},
}


def opencps(**options: Any) -> OpenCpsAdapter:
    return OpenCpsAdapter({**OPTIONS, **options})


def test_opencps_dossier_maps_codes_dates_channel_and_files() -> None:
    record = opencps().translate(SAMPLES[0])
    assert isinstance(record, Dossier)
    assert record.agency_code == "000.00.00.H56"
    assert record.procedure_code == "1.001193"
    assert record.status is DossierStatus.PROCESSING
    assert record.received_at == datetime(2026, 11, 27, 8, 15, tzinfo=PORTAL_TZ)
    assert record.channel is Channel.ONLINE
    assert record.owner_name == "Nguyễn Thị Ánh Tuyết"
    assert [d.file_name for d in record.documents] == ["Tờ khai đăng ký khai sinh.pdf"]
    assert record.documents[0].download_url == (
        "https://motcua.thanhhoa.gov.vn/o/rest/v2/dossiers/50123/files/a1b2c3"
    )
    assert record.owner_identifiers[0].number == "038190012345"


def test_opencps_finished_dossier_by_post_with_epoch_dates_and_result_document() -> None:
    record = opencps().translate(SAMPLES[1])
    assert isinstance(record, Dossier)
    assert record.status is DossierStatus.RETURNED
    assert record.delivery_form is DeliveryForm.BY_POST
    assert record.channel is Channel.AT_DESK
    assert record.returned_at is not None
    assert record.returned_at.timestamp() == 1795943700
    assert [d.name for d in record.result_documents] == ["Giấy chứng nhận kết hôn.pdf"]


def test_opencps_action_with_a_literal_z_is_local_time() -> None:
    record = opencps().translate(SAMPLES[3])
    assert isinstance(record, ProgressStep)
    assert record.handled_at == datetime(2026, 11, 27, 10, 30, tzinfo=PORTAL_TZ)
    assert record.action == "Thẩm định hồ sơ"
    first = opencps().translate(SAMPLES[2])
    assert isinstance(first, ProgressStep)
    assert first.action == "Chuyển xử lý - Hồ sơ đầy đủ, chuyển phòng Tư pháp thẩm định"


def test_opencps_sub_status_wins_over_status_and_unsent_statuses_are_rejected() -> None:
    raw = {**SAMPLES[0], "dossierStatus": "releasing", "dossierSubStatus": "releasing_0"}
    record = opencps(status_map={"releasing": 9, "releasing_0": 10}).translate(raw)
    assert record.status is DossierStatus.RETURNED
    with pytest.raises(TranslationError, match="'interoperating' is not sent to DVCQG"):
        opencps().translate({**SAMPLES[0], "dossierStatus": "interoperating"})
    with pytest.raises(TranslationError, match=r"\$\.dossierStatus: 'archived' is not in"):
        opencps().translate({**SAMPLES[0], "dossierStatus": "archived"})


def test_opencps_refuses_derived_copies_and_rolled_back_actions() -> None:
    with pytest.raises(TranslationError, match="originDossierNo"):
        opencps().translate({**SAMPLES[0], "originDossierNo": "H56-000123"})
    with pytest.raises(TranslationError, match="rolled-back"):
        opencps().translate({**SAMPLES[2], "state": 2})


def test_opencps_lists_every_problem_of_a_record() -> None:
    raw = copy.deepcopy(SAMPLES[0])
    raw["receiveDate"] = "31/02/2026 08:00:00"
    del raw["serviceCode"]
    with pytest.raises(TranslationError) as caught:
        opencps().translate(raw)
    paths = {p.path for p in caught.value.problems}
    assert paths == {"$.receiveDate", "$.serviceCode"}


def test_opencps_options_are_checked_with_paths_through_the_registry() -> None:
    with pytest.raises(ConfigError) as caught:
        registry.create(
            "opencps", {"status_map": {"done": 11}, "file_url_base": "ftp://x"}, "sources.a"
        )
    assert [str(p) for p in caught.value.problems] == [
        "sources.a.options.status_map.done: adapter 'opencps': must be 0 (not sent) or a "
        "DVCQG status 1-10",
        "sources.a.options.file_url_base: adapter 'opencps': must start with http:// or https://",
    ]


def test_legacy_csv_names_the_csv_header_in_errors() -> None:
    adapter = LegacyCsvAdapter(LEGACY_OPTIONS)
    row = json.loads((FIXTURES / "legacy-csv-samples.json").read_text(encoding="utf-8"))[0]
    with pytest.raises(TranslationError) as caught:
        adapter.translate({**row, "Tình trạng": "Lưu trữ", "Ngày tiếp nhận": "hôm qua"})
    reasons = {p.path: p.reason for p in caught.value.problems}
    assert set(reasons) == {"$.Tình trạng", "$.Ngày tiếp nhận"}
    assert "not in the mapping table" in reasons["$.Tình trạng"]
    record = adapter.translate({**row, "Hạn trả": ""})
    assert isinstance(record, Dossier)
    assert record.due_at is None


def test_legacy_csv_checks_its_mapping_against_the_model() -> None:
    with pytest.raises(ConfigError) as caught:
        LegacyCsvAdapter({"columns": {"dossier_code": "A", "documents": "B", "colour": "C"}})
    reasons = [str(p) for p in caught.value.problems]
    assert "columns.documents: not a mappable field of a dossier" in reasons
    assert "columns.colour: not a mappable field of a dossier" in reasons
    assert any("required field 'owner_name'" in r for r in reasons)


def test_registry_names_the_adapter_in_every_error() -> None:
    with pytest.raises(ConfigError, match="adapter 'nope' is not installed"):
        registry.create("nope", {}, "intake.sources.x")
    with pytest.raises(ConfigError) as caught:
        registry.create("canonical", {"x": 1}, "intake.sources.x")
    assert str(caught.value.problems[0]).startswith(
        "intake.sources.x.options.x: adapter 'canonical'"
    )


def test_error_messages_mask_id_numbers_phones_and_e_mail() -> None:
    adapter = OpenCpsAdapter(OPTIONS)
    raw = {**SAMPLES[0], "receiveDate": "038190012345", "dueDate": "tuyet.nguyen@example.vn"}
    with pytest.raises(TranslationError) as caught:
        adapter.translate(raw)
    text = str(caught.value)
    assert "038190012345" not in text
    assert "tuyet.nguyen" not in text
    # the field and the rule, never the value (not even part of it)
    assert "$.receiveDate: a string of 12 characters is not a date" in text
    assert "$.dueDate: a string of 23 characters is not a date" in text
