"""Intake applies the published canonical schema: a record the schema refuses is rejected
with the same path and rule; receipts are UTF-8 as is, in the configured language; the
audit log keeps the reason in both languages."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.app import Gateway, running
from tests.contract.test_canonical_contract import BROKEN, FIXTURES, expected_problems
from tests.integration.test_end_to_end import (  # noqa: F401
    Portal,
    drained,
    gateway_config,
    portal,
)


async def post(gw: Gateway, records: list[Any]) -> tuple[bytes, dict[str, Any]]:
    url = f"http://127.0.0.1:{gw.port}/api/v1/intake/canonical"
    async with aiohttp.ClientSession() as http, http.post(url, json=records) as response:
        assert response.status == 200, await response.text()
        body = await response.read()
    return body, json.loads(body)


async def test_every_record_the_schema_refuses_is_rejected_with_its_paths_and_rules(
    tmp_path: Path,
    portal: Portal,  # noqa: F811
) -> None:
    raws = [raw for _why, raw in BROKEN]
    async with running(gateway_config(tmp_path, portal.url)) as gw:
        _body, answer = await post(gw, raws)
    assert answer["rejected"] == len(raws)
    for (why, raw), result in zip(BROKEN, answer["results"], strict=True):
        assert result["status"] == "rejected", why
        got = {(e["path"], e["rule"]) for e in result["errors"]}
        assert got == expected_problems(raw), why


@pytest.mark.parametrize("language", ["vi", "en"])
async def test_reasons_come_in_the_configured_language_and_the_audit_keeps_both(
    tmp_path: Path,
    portal: Portal,  # noqa: F811
    language: str,
) -> None:
    missing = {k: v for k, v in FIXTURES[0].items() if k != "owner_name"}
    other_agency = {**FIXTURES[0], "agency_code": "000.00.00.H49"}
    no_summary = {**FIXTURES[0], "dossier_code": "000.00.00.H56-261102-00777", "summary": ""}
    config = gateway_config(tmp_path, portal.url, language=language)
    async with running(config) as gw:
        body, answer = await post(gw, [missing, other_agency, no_summary])
    statuses = [r["status"] for r in answer["results"]]
    assert statuses == ["rejected", "rejected", "quarantined"]
    (error,) = answer["results"][0]["errors"]
    (prefix,) = answer["results"][1]["errors"]
    quarantined = answer["results"][2]["reason"]
    assert (error["path"], error["rule"]) == ("$.owner_name", "required")
    assert (prefix["path"], prefix["rule"]) == ("$.agency_code", "agency-prefix")
    assert b"\\u" not in body  # Vietnamese as it is, never escaped
    if language == "vi":
        assert error["reason"].startswith("thiếu trường bắt buộc")
        assert "tiền tố '000.00.00.H56'" in prefix["reason"]
        assert "Cổng DVCQG yêu cầu" in quarantined
        assert "thiếu".encode() in body
    else:
        assert error["reason"].startswith("required field is missing")
        assert "required by DVCQG and empty" in quarantined
    with sqlite3.connect(tmp_path / "gw.db") as db:
        rows = db.execute(
            "SELECT event, detail FROM audit WHERE event IN ('intake_rejected', 'quarantined')"
        ).fetchall()
    details = {event: [json.loads(d) for e, d in rows if e == event] for event, _ in rows}
    assert len(details["intake_rejected"]) == 2
    for detail in details["intake_rejected"] + details["quarantined"]:
        assert detail["reason"] != detail["reason_vi"]
    assert "required field is missing" in details["intake_rejected"][0]["reason"]
    assert "thiếu trường bắt buộc" in details["intake_rejected"][0]["reason_vi"]
    assert "Cổng DVCQG yêu cầu" in details["quarantined"][0]["reason_vi"]


async def test_the_documented_rules_tying_steps_and_results_to_their_dossier(
    tmp_path: Path,
    portal: Portal,  # noqa: F811
) -> None:
    """docs/canonical-input.md, "Rules that tie records together"."""
    code = "000.00.00.H56-261102-00042"
    snapshot = {**dossier_json(code), "status": 4}
    step = {"kind": "progress", "dossier_code": code, "agency_code": "000.00.00.H56",
            "handler": "Lê Văn Cường", "handled_at": "2026-11-02T09:00:00+07:00",
            "action": "Thẩm định hồ sơ", "status": 4}  # fmt: skip
    orphan = {"kind": "result", "dossier_code": "000.00.00.H56-261102-00043",
              "agency_code": "000.00.00.H56", "status": 10,
              "finished_at": "2026-11-03T08:00:00+07:00", "handler": "Lê Văn Cường"}  # fmt: skip
    returned = {**snapshot, "status": 10, "returned_at": "2026-11-03T08:00:00+07:00",
                "processing_finished_at": "2026-11-03T07:00:00+07:00"}  # fmt: skip
    async with running(gateway_config(tmp_path, portal.url)) as gw:
        _body, first = await post(gw, [step, orphan])
        await gw.worker.run_once()
        assert portal.state.progress == {}  # the step waits for its dossier
        _body, second = await post(gw, [snapshot])
        counts = await drained(gw)
        assert counts["delivered"] == 2
        _body, third = await post(gw, [returned])
        counts = await drained(gw)
    assert [r["status"] for r in first["results"]] == ["accepted", "quarantined"]
    assert "no dossier snapshot with this code" in first["results"][1]["reason"]
    assert second["accepted"] == third["accepted"] == 1
    assert [s["NoiDungXuLy"] for s in portal.state.progress[code]] == ["Thẩm định hồ sơ"]
    # a status-10 snapshot replaces the whole dossier and makes no closing step
    assert portal.state.dossiers[code]["item"]["TrangThaiHoSo"] == "10"
    assert counts["delivered"] == 3


def dossier_json(code: str) -> dict[str, Any]:
    return {**FIXTURES[0], "dossier_code": code}
