"""The audit writer's fast paths say the same as the slow ones: one encoding of a detail
gives the bytes the verifier hashes, an audit copy of a request body already masked is not
masked twice (and leaks nothing), a savepoint rolled back rewinds the writer."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from gateway.audit.attempts import SentRequest, describe_request
from gateway.audit.chain import (
    AuditEntry,
    AuditPolicy,
    ChainHead,
    ChainWriter,
    canonical_bytes,
    canonical_bytes_of,
    detail_text,
    verify_chain,
)
from gateway.audit.keys import Checkpoint
from gateway.audit.masking import MaskedText, mask_text, mask_value
from gateway.encoders.dvcqg_json import PERSONAL_FIELDS

json_leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(
    seq=st.integers(min_value=1, max_value=2**53),
    at=st.floats(min_value=0, max_value=4e9, allow_nan=False),
    event=st.text(),
    record_id=st.none() | st.integers(min_value=0, max_value=2**53),
    dossier_code=st.text(),
    detail=st.dictionaries(st.text(), json_values, max_size=6),
)
def test_one_encoding_of_the_detail_gives_the_canonical_bytes(
    seq: int,
    at: float,
    event: str,
    record_id: int | None,
    dossier_code: str,
    detail: dict[str, object],
) -> None:
    once = canonical_bytes_of(seq, at, event, record_id, dossier_code, detail_text(detail))
    assert once == canonical_bytes(seq, at, event, record_id, dossier_code, detail)
    assert json.loads(detail_text(detail)) == json.loads(json.dumps(detail))


class ListSink:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    def write_entry(self, entry: AuditEntry) -> None:
        self.entries.append(entry)

    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        pass


def test_written_entries_verify_and_a_rewound_writer_chains_to_the_mark() -> None:
    sink = ListSink()
    writer = ChainWriter(sink, AuditPolicy(), ChainHead())
    writer.append(1.5, "queued", 1, "H56-1", {"phone": "0912345678", "n": 2})
    mark = writer.mark()
    writer.append(2.0, "leased", 1, "H56-1", {"owner": "w"})
    writer.rewind(mark)  # as if that entry's savepoint was rolled back
    del sink.entries[1:]
    writer.append(2.5, "leased", 1, "H56-1", {"owner": "w", "text": "Trần Văn Bình"})
    assert [e.seq for e in sink.entries] == [1, 2]
    assert verify_chain(sink.entries) is None
    stored = [json.loads(e.detail_json) for e in sink.entries]
    assert stored == [dict(e.detail) for e in sink.entries]
    assert "0912345678" not in sink.entries[0].detail_json


def test_a_request_body_is_masked_once_and_keeps_nothing_personal() -> None:
    item = {
        "MaHoSo": "H56-1",
        "ChuHoSo": "Nguyễn Thị Ánh Tuyết",
        "GhiChu": "gọi 0912 345 678 hoặc tuyet@example.vn",
        "NgayTiepNhan": "20261102080000",
        "SoTien": 123456789,
        "SoLuong": 3,
    }
    body = json.dumps({"service": "X", "data": [item]}, ensure_ascii=False).encode()
    described = describe_request(SentRequest("t", body, frozenset(PERSONAL_FIELDS)))
    text = described.body_for(1, "H56-1", 65536)
    assert isinstance(text, MaskedText)
    for value in ("Nguyễn Thị Ánh Tuyết", "0912 345 678", "tuyet@example.vn", "123456789"):
        assert value not in text
    assert "20261102080000" in text
    assert '"SoLuong": 3' in text
    assert mask_value({"request_body": text})["request_body"] is text  # not masked again
    assert mask_text(str(text)) == text  # and masking it again would change nothing


def test_digit_runs_alone_are_masked_only_at_id_and_phone_lengths() -> None:
    assert mask_text("20261102080000") == "20261102080000"
    assert mask_text("12345678") == "12345678"
    for number in ("123456789", "0912345678", "84912345678", "038190012345"):
        assert mask_text(number) != number
