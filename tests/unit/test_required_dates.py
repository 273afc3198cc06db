"""The dates spec §4.1 requires, with and without the contract's inference [I]."""

from __future__ import annotations

import pytest

from contracts.fields import missing_dates
from gateway.delivery.outcomes import waits_for_next_snapshot
from gateway.errors import PermanentDeliveryError
from gateway.model import DossierStatus
from tests.factories import dossier, step


@pytest.mark.parametrize(
    ("status", "relaxed", "missing"),
    [
        ("1", True, []),
        ("3", True, ["NgayTiepNhan"]),
        ("2", True, ["NgayTiepNhan", "NgayHenTra"]),
        ("1", False, ["NgayTiepNhan", "NgayHenTra"]),
        ("3", False, ["NgayTiepNhan", "NgayHenTra"]),
    ],
)
def test_missing_dates(status: str, relaxed: bool, missing: list[str]) -> None:
    item: dict[str, object] = {"TrangThaiHoSo": status, "NgayTiepNhan": "", "NgayHenTra": ""}
    assert missing_dates(item, relaxed=relaxed) == missing
    full = {**item, "NgayTiepNhan": "20261102080000", "NgayHenTra": "20261103080000"}
    assert missing_dates(full, relaxed=relaxed) == []


def test_only_a_refusal_for_a_date_the_snapshot_lacks_waits() -> None:
    refusal = PermanentDeliveryError("data[0].NgayTiepNhan: bắt buộc (§4.1)")
    submitted = dossier(status=DossierStatus.SUBMITTED, received_at=None, due_at=None)
    assert waits_for_next_snapshot(submitted, refusal)
    assert not waits_for_next_snapshot(dossier(), refusal)  # it has the date: its own fault
    other = PermanentDeliveryError("data[0].MaTTHC: không có trong danh mục")
    assert not waits_for_next_snapshot(submitted, other)
    assert not waits_for_next_snapshot(step(), refusal)
