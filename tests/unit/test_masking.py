"""The one masking point: ID numbers, phones and e-mails never pass it unmasked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.audit import masking
from gateway.audit.masking import keyed_hash, mask_text, mask_value


@pytest.fixture(autouse=True)
def no_key() -> Iterator[None]:
    masking.set_hash_key(None)
    yield
    masking.set_hash_key(None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CCCD 038190012345 đã cấp", "CCCD <cccd> đã cấp"),
        ("CMND:123456789.", "CMND:<cmnd>."),
        ("gọi 0912345678 nhé", "gọi <phone> nhé"),
        ("gọi 0912 345 678 nhé", "gọi <phone> nhé"),
        ("gọi 091.234.5678", "gọi <phone>"),
        ("+84 912 345 678", "<phone>"),
        ("84912345678", "<phone>"),
        ("thư tuyet.nguyen@example.vn,", "thư <email>,"),
        ("a@b.c và b.d+x@sub.example.gov.vn", "<email> và <email>"),
    ],
)
def test_masks_personal_data(text: str, expected: str) -> None:
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "000.00.00.H56-261102-00001",  # MaHoSo
        "20261102080500",  # ThoiDiemXuLy
        "1.001193",  # MaTTHC
        "HTTP 503 after 1250.5 ms",
        "1764230000.123456",  # epoch seconds
        "attempt 12345678",  # 8 digits: not an ID
        "head 1a2b3c038190012345000000000000000000000000000000000000000000ffff",  # a digest
    ],
)
def test_leaves_codes_and_times_alone(text: str) -> None:
    assert mask_text(text) == text


def test_ids_next_to_a_digest_are_still_masked() -> None:
    digest = "ab" * 32
    assert mask_text(f"{digest} 038190012345 {digest}") == f"{digest} <cccd> {digest}"


def test_keyed_hash_is_a_join_key_without_digits() -> None:
    masking.set_hash_key(b"k1")
    one = mask_text("0912345678")
    assert one == mask_text("+84 912 345 678") == mask_text("091.234.5678")
    assert one != mask_text("0912345679")
    assert not any(c.isdigit() for c in one)
    assert mask_text(one) == one  # masking is idempotent
    assert keyed_hash("x", b"k1") != keyed_hash("x", b"k2")


def test_values_masked_by_key_and_secrets_redacted() -> None:
    body = {
        "session": "abc",
        "token": 17,  # a lease's fencing number, not a secret
        "madonvi": "000.00.00.H56",
        "data": [
            {"SoDienThoai": "12-34", "Email": "bad address", "TrichYeu": "gọi 0987654321"},
            {"DinhDanhCHS": [{"LoaiDinhDanh": "1", "SoDinhDanh": "038190012345"}]},
        ],
        "raw_digest": "a" + "1" * 12 + "b",
    }
    masked = mask_value(body)
    assert masked["session"] == "<redacted>"
    assert masked["token"] == 17
    assert masked["madonvi"] == "000.00.00.H56"
    assert masked["data"][0] == {
        "SoDienThoai": "<personal>",
        "Email": "<personal>",
        "TrichYeu": "gọi <phone>",
    }
    assert masked["data"][1] == {"DinhDanhCHS": "<personal>"}
    assert masked["raw_digest"] == body["raw_digest"]


@settings(deadline=None)  # no timing in tests: the machine may be busy
@given(st.text(alphabet="0123456789 .+@-abcxyzĐđ", max_size=60))
def test_the_quick_pre_check_never_skips_something_to_mask(text: str) -> None:
    from gateway.audit.masking import _mask_plain

    assert mask_text(text) == _mask_plain(text)


def test_configured_fields_are_masked_whole() -> None:
    assert mask_value({"ChuHoSo": "Nguyễn Thị Ánh Tuyết"}) == {"ChuHoSo": "<personal>"}
    masking.set_personal_fields(("DiaChi",))
    try:
        masked = mask_value({"ChuHoSo": "Lê Hoa", "DiaChi": "12 Lê Lợi"})
        assert masked == {"ChuHoSo": "Lê Hoa", "DiaChi": "<personal>"}
    finally:
        masking.set_personal_fields(masking.DEFAULT_PERSONAL_FIELDS)


def test_key_ids_and_digests_are_never_taken_for_id_numbers() -> None:
    """A checkpoint key id is 16 hex digits; one in about ten holds a run of 9 decimal
    digits, which the CMND rule would mask, corrupting the id an auditor checks against."""
    detail = {
        "signing_key_id": "97a049041711c1f8",
        "key_id": "97a049041711c1f8",
        "config_digest": "0" * 12 + "ab" * 26,
        "head": "123456789012" + "f" * 52,
        "note": "thẻ 049041711",
    }
    masked = mask_value(detail)
    assert {k: masked[k] for k in detail if k != "note"} == {
        k: v for k, v in detail.items() if k != "note"
    }
    assert "049041711" not in masked["note"]  # free text is still masked
