"""``dvc-gateway translate``: the wire messages a vendor's records become, per route."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.canonical import record_to_json
from gateway.cli import main
from gateway.encoders.wsdl import SOAP_ENV, parse_xml
from gateway.model import DossierStatus, Result
from gateway.simulator.contracts import body_schema
from tests.factories import T0, dossier, result_document, step
from tests.processes import track

EXAMPLE = Path(__file__).parents[2] / "config" / "gateway.example.yaml"


@pytest.fixture
def records(tmp_path: Path) -> Path:
    result = Result(
        dossier_code=dossier().dossier_code, agency_code=dossier().agency_code,
        status=DossierStatus.FINISHED, finished_at=T0.replace(hour=16), handler="Lê Văn Cường",
        result_documents=(result_document(),),
    )  # fmt: skip
    path = tmp_path / "in.json"
    items = [record_to_json(r) for r in (dossier(), step(), result)]
    path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    return path


def translate(path: Path, *extra: str) -> int:
    args = ["translate", "--config", str(EXAMPLE), "--adapter", "canonical", "--input", str(path)]
    return main([*args, *extra])


@pytest.mark.parametrize(
    ("route", "url"),
    [
        ("dvcqg-rest", "POST http://127.0.0.1:8765/mapi/g"),
        ("xroad-rest", "POST http://127.0.0.1:8765/XrdAdapter/RestService/forward/mapi/g"),
        ("lgsp", "POST http://127.0.0.1:8765/lgsp/dvcqg/mapi/g"),
        ("xroad-soap", "POST http://127.0.0.1:8765/xroad"),
    ],
)
def test_every_route_prints_its_wire_messages(
    records: Path, route: str, url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert translate(records, "--route", route) == 0
    out = capsys.readouterr().out
    assert out.count(url) == 4  # dossier, step, the result's update and closing step
    assert "Nguyễn Thị Ánh Tuyết" in out  # no escapes, no mojibake
    if route != "xroad-soap":
        assert '"isUpdating": "True"' in out
        assert '"session": "<session>"' in out


def test_soap_output_is_an_envelope_the_independent_validator_accepts(
    records: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert translate(records, "--route", "xroad-soap") == 0
    out = capsys.readouterr().out
    envelopes = [chunk.split("\n\n", 1)[1].strip() for chunk in out.split("# record")[1:]]
    first = parse_xml(envelopes[0].encode("utf-8"))
    body = first.find(f"{{{SOAP_ENV}}}Body")
    assert body is not None
    body_schema().validate(body[0])


def test_a_record_the_portal_would_refuse_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    bad = {**record_to_json(dossier()), "summary": ""}
    path.write_text(json.dumps([bad, {"kind": "nope"}]), encoding="utf-8")
    assert translate(path) == 1
    out = capsys.readouterr().out
    assert "# record 0: quarantined or rejected: $.TrichYeuHoSo" in out
    assert "# record 1: quarantined or rejected: $.kind" in out


def test_an_unconfigured_route_is_a_configuration_error(
    tmp_path: Path, records: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("portal: {base_url: 'http://x', username: u, password: p}\n")
    args = ["translate", "--config", str(config), "--adapter", "canonical"]
    assert main([*args, "--input", str(records), "--route", "xroad-soap"]) == 2
    assert "routes.xroad_soap.security_server_url" in capsys.readouterr().err


def test_a_reader_that_stops_early_ends_it_quietly(tmp_path: Path) -> None:
    """``translate ... | head -1``: no traceback, the exit status of a writer cut by SIGPIPE."""
    many = tmp_path / "many.json"  # far more output than a pipe buffer holds
    items = [record_to_json(dossier(f"000.00.00.H56-261102-{i:05d}")) for i in range(300)]
    many.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    args = ["translate", "--config", str(EXAMPLE), "--adapter", "canonical", "--input"]
    with subprocess.Popen(
        [sys.executable, "-m", "gateway", *args, str(many)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        track(proc.pid)  # killed after the test if it is still running (tests/processes.py)
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.readline()
        proc.stdout.close()  # the reader goes away after one line
        errors = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 141
    assert "Traceback" not in errors, errors


SOURCES_CONFIG = """\
portal: {base_url: "http://127.0.0.1:8765", username: u, password: p}
sources:
  file_drop:
    legacy-exports:
      adapter: legacy-csv
      path: %(drop)s
      formats: [csv]
      csv_delimiter: ";"
      options:
        columns: {dossier_code: "Số hồ sơ", procedure_code: "Mã thủ tục", status: "Tình trạng",
                  owner_name: "Người nộp", received_at: "Ngày tiếp nhận", due_at: "Hạn trả",
                  summary: "Trích yếu", procedure_name: "Tên thủ tục"}
        constants: {agency_code: 000.00.00.H56, field_code: G15-TP07, field_name: "Hộ tịch",
                    handling_agency_name: "UBND xã Quảng Phú"}
        status_map: {"Đang xử lý": 4}
  sql_poll:
    opencps-db:
      adapter: opencps
      engine: sqlite
      dsn: %(db)s
      query: >-
        SELECT * FROM d WHERE (m, i) > (:after_ts, :after_id) ORDER BY m, i LIMIT :limit
      timestamp_column: m
      id_column: i
      options: {naive_timezone: UTC}
"""
CSV = (
    "Số hồ sơ;Mã thủ tục;Tên thủ tục;Tình trạng;Người nộp;Ngày tiếp nhận;Hạn trả;Trích yếu\n"
    "000.00.00.H56-261127-00031;1.001193;Thủ tục đăng ký khai sinh;Đang xử lý;Đỗ Thị Ngọc Ánh;"
    "27/11/2026 08:15;28/11/2026 08:15;Đăng ký khai sinh cho cháu Đỗ Gia Bảo\n"
)


@pytest.fixture
def sources_config(tmp_path: Path) -> Path:
    path = tmp_path / "sources.yaml"
    text = SOURCES_CONFIG % {"drop": tmp_path / "drop", "db": tmp_path / "v.db"}
    path.write_text(text, encoding="utf-8")
    return path


def test_source_uses_a_file_drop_sources_adapter_options_and_file_settings(
    tmp_path: Path, sources_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "export.csv"
    export.write_text(CSV, encoding="utf-8")
    args = ["translate", "--config", str(sources_config), "--input", str(export)]
    assert main([*args, "--source", "legacy-exports", "--explain"]) == 0
    out = capsys.readouterr().out
    assert '"TrangThaiHoSo": "4"' in out  # the source's status_map
    assert '"madonvi": "000.00.00.H56"' in out  # its constants
    assert '"NgayTiepNhan": "20261127081500"' in out  # its columns, the ";" delimiter
    explained = {line.split("<-")[0].strip(): line for line in out.splitlines() if "<-" in line}
    assert explained["HoSo.MaHoSo"].split("<-")[2].strip() == "$.Số hồ sơ"
    assert explained["HoSo.NgayTiepNhan"].split("<-")[2].strip() == "$.Ngày tiếp nhận"
    assert "(adapter: an option, a constant or a code table)" in explained["envelope.madonvi"]
    assert "read through a code table (every change refused): $.Tình trạng" in out
    # --adapter alone knows nothing of the file-drop source's options
    assert main([*args, "--adapter", "legacy-csv"]) == 2


def test_source_uses_a_sql_poll_sources_adapter(
    tmp_path: Path, sources_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = json.loads(
        (Path(__file__).parents[1] / "fixtures/adapters/opencps-samples.json").read_text("utf-8")
    )
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(rows[:1], ensure_ascii=False), encoding="utf-8")
    args = ["translate", "--config", str(sources_config), "--input", str(path)]
    main([*args, "--source", "opencps-db", "--explain"])
    out = capsys.readouterr().out
    assert "-> route dvcqg-rest" in out
    assert "HoSo.MaHoSo" in out
    assert "<- $.dossierNo" in out
    assert main([*args, "--source", "nope"]) == 2
    assert (
        "no source 'nope' (configured: canonical, legacy-exports, opencps-db)"
        in capsys.readouterr().err
    )


def test_explain_names_the_canonical_input_field_of_each_wire_field(
    records: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert translate(records, "--explain") == 0
    out = capsys.readouterr().out
    lines = [line.split("<-") for line in out.splitlines() if "<-" in line]
    table = {(w.strip(), c.strip()): i.strip() for w, c, i in lines}
    assert table[("HoSo.MaHoSo", "dossier_code")] == "$.dossier_code"
    assert table[("TienDo.NguoiXuLy", "handler")] == "$.handler"
    assert table[("HoSo.TaiLieuNop[0].TenTepDinhKem", "documents[0].file_name")] == (
        "$.documents[0].file_name"
    )
    assert table[("HoSo.DanhSachGiayToKetQua[0].TenGiayTo", "result_documents[0].name")] == (
        "$.result_documents[0].name"
    )
