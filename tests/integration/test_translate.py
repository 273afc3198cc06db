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
