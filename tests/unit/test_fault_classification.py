"""Table-driven: what each kind of portal answer means for the record."""

from __future__ import annotations

import json

import pytest

from gateway.config.schema import PortalConfig
from gateway.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RetryableDeliveryError,
    SessionExpiredError,
)
from gateway.routes.dvcqg_rest import classify_response, parse_error_code, parse_retry_after

CONFIG = PortalConfig(base_url="http://portal", username="u", password="p")
JSON = "application/json"


def body(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


@pytest.mark.parametrize(
    ("status", "ctype", "raw", "expected"),
    [
        (200, JSON, body({"error_code": 0, "message": "Thành công"}), None),
        (200, JSON, body({"error_code": "0", "message": "ok"}), None),
        (200, JSON, body({"error_code": "00", "message": "ok"}), None),
        (200, JSON, body({"error_code": -1, "message": "Thiếu MaTTHC"}), PermanentDeliveryError),
        (
            200,
            JSON,
            body({"error_code": "-3", "message": "Hồ sơ X đã tồn tại"}),
            PermanentDeliveryError,
        ),
        (
            200,
            JSON,
            body({"error_code": 401, "message": "Phiên làm việc hết hạn"}),
            SessionExpiredError,
        ),
        (
            200,
            JSON,
            body({"error_code": 99, "message": "Phiên làm việc đã hết hạn"}),
            SessionExpiredError,
        ),
        (401, JSON, b"{}", SessionExpiredError),
        (200, JSON, body({"message": "no code"}), RetryableDeliveryError),
        (200, JSON, body({"error_code": "abc"}), RetryableDeliveryError),
        (200, "text/html", b"<html><body>502 Bad Gateway</body></html>", RetryableDeliveryError),
        (200, JSON, b'{"error_code": 0, "mess', RetryableDeliveryError),
        (500, JSON, body({"error_code": -1}), RetryableDeliveryError),
        (503, "text/html", b"<h1>Service Unavailable</h1>", RetryableDeliveryError),
        (429, JSON, b"{}", RetryableDeliveryError),
        (400, JSON, body({"error_code": -1, "message": "JSON sai"}), PermanentDeliveryError),
        (200, JSON, b"\xff\xfe", RetryableDeliveryError),
    ],
)
def test_answers_are_classified(
    status: int, ctype: str, raw: bytes, expected: type[DeliveryError] | None
) -> None:
    if expected is None:
        http_status, code, _, _ = classify_response(status, ctype, None, raw, CONFIG)
        assert (http_status, code) == (status, "0")
        return
    with pytest.raises(expected) as caught:
        classify_response(status, ctype, None, raw, CONFIG)
    assert type(caught.value) is expected


def test_portal_code_and_message_are_kept_for_the_dead_letter() -> None:
    with pytest.raises(PermanentDeliveryError) as caught:
        classify_response(200, JSON, None, body({"error_code": -1, "message": "Sai ngày"}), CONFIG)
    assert caught.value.code == "-1"
    assert caught.value.message == "Sai ngày"


def test_retry_after_is_passed_on() -> None:
    with pytest.raises(RetryableDeliveryError) as caught:
        classify_response(429, JSON, "12", b"", CONFIG)
    assert caught.value.retry_after_s == 12


@pytest.mark.parametrize(
    ("value", "expected"), [(0, 0), ("0", 0), ("00", 0), (" -3 ", -3), (True, None), (None, None)]
)
def test_error_code_parsing_is_lenient(value: object, expected: int | None) -> None:
    assert parse_error_code(value) == expected


def test_retry_after_forms() -> None:
    assert parse_retry_after("120") == 120
    assert parse_retry_after("999999") == 3600
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
