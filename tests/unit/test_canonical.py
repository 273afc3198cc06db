from __future__ import annotations

import pytest

from gateway.canonical import record_from_json, record_to_json
from gateway.errors import TranslationError
from gateway.model import PORTAL_TZ, Dossier, DossierStatus
from tests.factories import dossier, step


def test_round_trip_keeps_every_field() -> None:
    for record in (dossier(), step()):
        assert record_from_json(record_to_json(record)) == record


def test_naive_timestamp_is_vietnam_local_time() -> None:
    raw = record_to_json(dossier())
    raw["received_at"] = "2026-11-02T08:00:00"
    parsed = record_from_json(raw)
    assert isinstance(parsed, Dossier)
    assert parsed.received_at is not None
    assert parsed.received_at.tzinfo == PORTAL_TZ
    assert parsed.received_at.hour == 8


def test_numeric_strings_are_accepted_for_enumerations() -> None:
    raw = record_to_json(dossier())
    raw["status"] = "4"
    parsed = record_from_json(raw)
    assert isinstance(parsed, Dossier)
    assert parsed.status is DossierStatus.PROCESSING


def test_every_problem_is_reported_with_its_path() -> None:
    raw = record_to_json(dossier())
    raw["status"] = 11
    raw["received_at"] = "27/11/2026"
    raw["documents"][0]["download_url"] = 5
    del raw["owner_name"]
    raw["ownername"] = "typo"
    with pytest.raises(TranslationError) as caught:
        record_from_json(raw)
    paths = {p.path for p in caught.value.problems}
    assert paths == {
        "$.status",
        "$.received_at",
        "$.documents[0].download_url",
        "$.owner_name",
        "$.ownername",
    }


@pytest.mark.parametrize("value", [None, [], "dossier", 3])
def test_non_object_or_unknown_kind_is_a_translation_error(value: object) -> None:
    with pytest.raises(TranslationError):
        record_from_json(value)
