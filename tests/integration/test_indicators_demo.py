"""The 766 preview of a demo run, against the same figures worked out here from what the
portal simulator holds (its wire data, read independently of the gateway's model)."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from gateway.demo import DEMO_PERIOD, demo_report
from gateway.model import PORTAL_TZ

PERIOD_START = datetime(2026, 11, 1, tzinfo=PORTAL_TZ)
PERIOD_END = datetime(2026, 12, 1, tzinfo=PORTAL_TZ)
END_ORDER = ("9", "10", "8", "7")


def wire_time(text: str) -> datetime | None:
    return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=PORTAL_TZ) if text else None


def in_period(moment: datetime | None) -> bool:
    return moment is not None and PERIOD_START <= moment < PERIOD_END


def supplement_time(rounds: list[dict[str, Any]]) -> timedelta:
    total = timedelta()
    for item in rounds:
        asked, back = wire_time(item["NgayBoSung"]), wire_time(item.get("NgayTiepNhanBoSung", ""))
        if asked is not None and back is not None and back > asked:
            total += back - asked
    return total


def digitised(item: dict[str, Any]) -> bool:
    return any(
        doc.get("DuongDanTaiTepTin") and doc.get("IsDeleted") != "True"
        for doc in item.get("TaiLieuNop", [])
    )


def on_time(item: dict[str, Any], steps: list[dict[str, Any]], as_of: datetime) -> bool | None:
    """F766 rule 2.1 on the portal's wire data."""
    statuses = [(s["TrangThai"], wire_time(s["ThoiDiemXuLy"])) for s in steps]
    requests = [t for status, t in statuses if status == "5"]
    rounds = item.get("DanhSachHoSoBoSung") or []
    if max(len(requests), len(rounds)) > 1:
        return False
    end = None
    for wanted in END_ORDER:
        times = [t for status, t in statuses if status == wanted and t is not None]
        if times:
            end = min(times)
            break
    if end is None and item["TrangThaiHoSo"] in ("9", "10"):
        end = wire_time(item.get("NgayKetThucXuLy", "")) or wire_time(item.get("NgayTra", ""))
    if end is None and len(requests) == 1:
        end = requests[0]
    if end is None:
        end = min(PERIOD_END, as_of)
    waited = supplement_time(rounds)
    due = wire_time(item.get("NgayHenTra", ""))
    if due is None:
        return None
    return end - waited <= due


def test_the_demo_preview_matches_the_portal_state(tmp_path: Path) -> None:
    console = Console(file=io.StringIO(), width=120)
    report = asyncio.run(demo_report(tmp_path, 600, 23, console, "dvcqg-rest"))
    assert report.ok
    assert report.indicators_as_of is not None
    as_of = report.indicators_as_of
    [section] = report.indicators
    table = {i.code: i for i in section.indicators}

    # What the one-stop system received in the period: the latest snapshot of every dossier the
    # gateway stored (quarantined ones too: received, but not on the portal).
    with sqlite3.connect(tmp_path / "gateway.db") as db:
        rows = db.execute(
            "SELECT dossier_code, payload FROM records WHERE kind = 'dossier' ORDER BY id"
        )
        latest = {code: json.loads(payload) for code, payload in rows}
    received = {
        code
        for code, payload in latest.items()
        if payload.get("received_at") and in_period(datetime.fromisoformat(payload["received_at"]))
    }

    held = report.portal_state["dossiers"]
    progress = report.portal_state["progress"]
    synced = {
        code: entry["item"]
        for code, entry in held.items()
        if in_period(wire_time(entry["item"].get("NgayTiepNhan", "")))
    }
    assert (table["1.4"].numerator, table["1.4"].denominator) == (
        len(set(synced) & received),
        len(received),
    )
    assert table["1.4"].denominator > table["1.4"].numerator  # the quarantined ones
    judged = [
        on_time(item, progress.get(code, []), as_of)
        for code, item in synced.items()
        if item["TrangThaiHoSo"] not in ("1", "3")
    ]
    verdicts = [v for v in judged if v is not None]
    assert (table["2.1"].numerator, table["2.1"].denominator) == (
        sum(1 for v in verdicts if v),
        len(verdicts),
    )
    assert 0 < table["2.1"].numerator < table["2.1"].denominator
    online = [item for item in synced.values() if item.get("KenhThucHien") == "2"]
    assert table["3.3"].denominator == len(synced)
    sync_ratio = len(set(synced) & received) / len(received)
    assert abs(table["3.3"].numerator - round(len(online) * sync_ratio, 4)) < 1e-3
    digitised = [
        item
        for item in synced.values()
        if any(
            d.get("DuongDanTaiTepTin") and d.get("IsDeleted") != "True"
            for d in item.get("TaiLieuNop", [])
        )
    ]
    assert table["4.2"].numerator == len(digitised)
    fee_bearing = [
        item
        for item in synced.values()
        if any(int(f.get("Gia", 0) or 0) > 0 for f in item.get("DanhSachLePhi", []))
    ]
    assert table["3.6"].denominator == len(fee_bearing)
    assert table["3.6"].numerator == sum(
        1 for item in fee_bearing if item.get("DuocThanhToanTrucTuyen") in ("1", "2")
    )
    # The demo prints the table.
    assert report.indicator_lines[0].startswith(f"Decision 766 preview, period {DEMO_PERIOD}")
